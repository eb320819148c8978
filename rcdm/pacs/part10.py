"""DICOM Part 10 files from what a PACS sends: the data set bytes untouched, one file meta group of rcdm's.

WADO-RS sends a stored file (its meta group as the PACS wrote it), C-GET and C-MOVE send only the data set
(each receiver writes its own meta group). So that a retrieved image is the same file whichever way it came,
rcdm keeps the data set bytes as received and writes the file meta group itself, always the same way:
preamble of zeros, ``DICM``, group length, version, SOP Class/Instance UID, Transfer Syntax UID and rcdm's
implementation UID and name. One element is dropped: a Data Set Trailing Padding (FFFC,FFFC) at the end of
the data set, which has no meaning (PS3.10 7.2) and which DIMSE peers (DCMTK, so Orthanc) do not send. The
rest is what the PACS stored, byte for byte, as long as it does not transcode (WADO-RS asks for
``transfer-syntax=*``; C-GET proposes one presentation context per transfer syntax, C-MOVE accepts all).
"""

from __future__ import annotations

import struct
from io import BytesIO

from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_file_meta_info

from rcdm.errors import Part10Error

IMPLEMENTATION_CLASS_UID = "2.25.122721983535480481234694212358248893561"
"""rcdm's implementation class UID (a UUID-derived 2.25 UID, PS3.5 B.2; the same in every file)."""
IMPLEMENTATION_VERSION = "RCDM_1"

_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
_META_UIDS = {0x0002: "sop_class_uid", 0x0003: "sop_instance_uid", 0x0010: "transfer_syntax_uid"}


def split_part10(data: bytes) -> tuple[dict[str, str], bytes]:
    """(the meta group's SOP Class/Instance and Transfer Syntax UIDs, the data set bytes after the group)."""
    if len(data) < 132 or data[128:132] != b"DICM":
        raise Part10Error("not a DICOM Part 10 file (no DICM marker at byte 128)")
    pos = 132
    meta: dict[str, str] = {}
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4:pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > len(data):
                raise Part10Error("file meta group truncated")
            length = struct.unpack_from("<L", data, pos + 8)[0]
            start = pos + 12
        else:
            length = struct.unpack_from("<H", data, pos + 6)[0]
            start = pos + 8
        end = start + length
        if end > len(data):
            raise Part10Error("file meta group truncated")
        if element in _META_UIDS:
            meta[_META_UIDS[element]] = data[start:end].decode("ascii", "replace").rstrip("\x00 ")
        pos = end
    if "transfer_syntax_uid" not in meta:
        raise Part10Error("the file meta group has no Transfer Syntax UID")
    return meta, data[pos:]


_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"


def without_trailing_padding(dataset: bytes, transfer_syntax_uid: str) -> bytes:
    """``dataset`` without a Data Set Trailing Padding element (FFFC,FFFC) that ends it exactly, else as is."""
    big = transfer_syntax_uid == _EXPLICIT_BE
    tag = b"\xff\xfc\xff\xfc" if big else b"\xfc\xff\xfc\xff"
    at = dataset.rfind(tag)
    while at >= 0:
        if transfer_syntax_uid == _IMPLICIT_LE:
            head, length = 8, struct.unpack_from("<L", dataset, at + 4)[0] if at + 8 <= len(dataset) else -1
        elif dataset[at + 4:at + 6] == b"OB" and at + 12 <= len(dataset):
            head, length = 12, struct.unpack_from(">L" if big else "<L", dataset, at + 8)[0]
        else:
            head, length = 0, -1
        if length >= 0 and at + head + length == len(dataset):
            return dataset[:at]
        at = dataset.rfind(tag, 0, at)
    return dataset


def part10(dataset: bytes, sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str) -> bytes:
    """A Part 10 file: rcdm's file meta group (always written the same way), then ``dataset`` (without a
    trailing padding element)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = transfer_syntax_uid
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    buffer = BytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(DicomFileLike(buffer), meta, enforce_standard=True)
    return buffer.getvalue() + without_trailing_padding(dataset, transfer_syntax_uid)


def canonical_part10(data: bytes) -> bytes:
    """A Part 10 file as the PACS sent it, with its file meta group rewritten by ``part10``."""
    meta, dataset = split_part10(data)
    if "sop_class_uid" not in meta or "sop_instance_uid" not in meta:
        raise Part10Error("the file meta group has no SOP Class or SOP Instance UID")
    return part10(dataset, meta["sop_class_uid"], meta["sop_instance_uid"], meta["transfer_syntax_uid"])


__all__ = ["IMPLEMENTATION_CLASS_UID", "Part10Error", "canonical_part10", "part10", "split_part10",
           "without_trailing_padding"]
