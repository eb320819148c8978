"""Read the few DICOM header attributes R-CDM needs, fast, without ever touching pixel data.

Two paths give the same record:

* a fast path reads the first 8 KiB of the file (more, by doubling, when the header is longer), walks the
  element headers and keeps the raw bytes of the ~30 wanted elements only (sequences only for the
  enhanced multi-frame functional groups), then converts them exactly as pydicom does, using pydicom's
  own decoder for any non-ASCII or ISO 2022 text. After the last wanted element it skips on to Pixel
  Data with one 12-byte read per element, to tell a complete file from a truncated one;
* anything the fast path does not expect (deflated data, a file meta group that is not explicit VR little
  endian, an unknown VR, elements out of order, a transfer syntax it does not know) falls back to
  ``pydicom.dcmread(stop_before_pixels=True, specific_tags=...)``, and pydicom decides.

A file without the DICM marker is parsed only if it starts like a data set (group 0008 with a valid VR,
or a plausible implicit VR length); anything else is "not_dicom", so pydicom's ``force=True`` is never a
blind fallback. pydicom is the arbiter: the tests read every file bundled with pydicom and pydicom-data
both ways and require the same record. Files that are not DICOM are skipped; files that are DICOM but
unusable are quarantined; each with a short stable reason code (``SKIP_REASONS``, ``QUARANTINE_REASONS``).

Quiet: pydicom reports odd values with ``warnings.warn`` *and* its ``pydicom`` logger, and such a message
quotes the value (``Invalid value for VR DA: '19610412X'``), which may be a patient's. Every call into
pydicom (the fallback read, character set decoding) therefore runs inside ``quiet_pydicom()``: warnings
ignored, the ``pydicom`` logger disabled, both restored afterwards. Nothing here logs or warns a value of
the file (tests/test_dicom_reader.py reads every test file with warnings turned into errors).

Absent and empty: a text field is ``None`` when the element is absent and ``""`` when it is present with
an empty value; numeric and tuple fields are ``None`` for both (an empty ImageType gives ``()``).

Speed (extras/benchmarks/bench_header_reader.py; figures in the README): the element walk of every
encoding we read (explicit and implicit VR little endian, explicit VR big endian, sequences of undefined
length, the functional groups) and the decoding of plain ASCII text and integer values run in C
(``rcdm.dicom._scan``, built at install time where a C compiler exists; ``ACCELERATED`` tells). A clean
file leaves no raw value to Python, and a large unwanted value (Siemens CSA data) is jumped over without
reading it. A plain file is read in one compiled call (``_compiled_read``: ``_scan.FileWalk`` does the file
meta, the walk, the check up to Pixel Data and the record's values, and asks for bytes as the walk needs
them), so what is left in Python per file is opening it and a few calls; anything else is handed over to
the same Python code as before, at the point where it has a say. The pure-Python twin walks ~0.25 us an
element (a CT header has ~200, private groups included).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import multiprocessing
import operator
import os
import stat
import struct
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from struct import Struct
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pydicom is imported only when a file needs it (the fast path never does)
    from multiprocessing.pool import AsyncResult

    from pydicom.dataset import Dataset

from rcdm.errors import DicomQuarantine as DicomQuarantine  # re-exported: rcdm.dicom's public names
from rcdm.errors import DicomSkip as DicomSkip
from rcdm.errors import TruncatedHeader as _Truncated
from rcdm.errors import UnusualHeader as _Unusual

_SCAN_API = 2
"""The interface of ``_scan`` this module calls (``SCAN_API`` in _scan.c): changed with it, in one commit."""


def _usable_build(module: Any) -> Any:
    """``module`` (the compiled ``_scan``) when it was built from the sources this reader was written against,
    else None, with one log warning: a build left from older sources (an editable checkout updated without
    rebuilding) would fail or misread; the Python walk reads the same records, slower."""
    if getattr(module, "API", None) == _SCAN_API:
        return module
    logging.getLogger(__name__).warning(
        "rcdm.dicom._scan was built from other sources (interface %s, this reader needs %s): headers are read "
        "by the Python walk until it is rebuilt (pip install -e . or python setup.py build_ext --inplace)",
        getattr(module, "API", "none"), _SCAN_API)
    return None


try:  # the compiled hot loop (rcdm/dicom/_scan.c, an optional build); None: the pure-Python twin walks
    from rcdm.dicom import _scan
except ImportError:  # pragma: no cover - depends on the build
    _scan = None  # type: ignore[assignment]  # the module's API is typed (_scan.pyi); None means not built
_scan = _usable_build(_scan) if _scan is not None else None

#: Whether the compiled scanner is in use (it is built at install time where a C compiler exists).
ACCELERATED = _scan is not None
if _scan is not None:  # what stopped a compiled walk (the rest: STEP_UNUSUAL)
    _STEP_DONE, _STEP_NEED, _STEP_GENERAL, _STEP_ORDER, _STEP_FRAMES = (
        _scan.STEP_DONE, _scan.STEP_NEED, _scan.STEP_GENERAL, _scan.STEP_ORDER, _scan.STEP_FRAMES)

#: Why a file was skipped (it is not a DICOM image instance: nothing to load, nothing wrong).
SKIP_REASONS = {
    "not_dicom": "not a DICOM file (no DICM marker and no plausible DICOM data set at the start)",
    "dicomdir": "a DICOMDIR (Media Storage Directory), an index of other files, not an image",
    "empty_file": "the file is empty",
    "not_a_file": "a directory or other non-regular file",
}
#: Why a file was quarantined (it looks like DICOM but cannot be loaded as it is).
QUARANTINE_REASONS = {
    "missing_uid": "StudyInstanceUID, SeriesInstanceUID or SOPInstanceUID is absent or empty",
    "truncated": "an element (or the pixel data) is declared longer than the file",
    "permission_denied": "the file cannot be opened: permission denied",
    "broken_symlink": "a symbolic link whose target does not exist",
    "unreadable": "the operating system reported an error reading the file",
    "parse_error": "pydicom could not parse the header",
}

_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_LE = "1.2.840.10008.1.2.1"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")
_FIRST_CHUNK = 8192
_SPARSE_GAP = 16384
_UNDEFINED = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Rejected:
    """What ``read_headers`` yields for a file it did not read: skipped or quarantined, with the reason."""

    action: Literal["skip", "quarantine"]
    reason: str
    detail: str = ""


@dataclass(slots=True)
class HeaderRecord:
    """The header values of one DICOM instance, as plain picklable Python values (a value record: treat it
    as read-only; not frozen because a frozen dataclass takes 7x longer to build, 4 us of a ~25 us read).

    Text fields: ``None`` = element absent, ``""`` = present but empty. Multi-valued text in a single-valued
    field is joined with a backslash, as stored in DICOM. Dates and times are the raw DICOM strings (see
    ``rcdm.dicom.derive.study_datetime`` for validated values).

    Enhanced multi-frame objects: ``slice_thickness``, ``image_orientation`` and ``image_type`` fall back
    to the SharedFunctionalGroupsSequence and then to the first item of PerFrameFunctionalGroupsSequence
    (PixelMeasures, PlaneOrientation, <modality>ImageFrameType → FrameType); ``functional_groups`` says
    that at least one of them came from there. ``contrast_agent`` falls back to the CodeMeaning of the first
    ContrastBolusAgentSequence item; ``contrast_administered`` is ContrastBolusAgentAdministered from the
    functional groups' ContrastBolusUsageSequence ("YES" if any item says YES, else the first value).
    """

    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    sop_class_uid: str | None = None
    patient_id: str | None = None
    modality: str | None = None
    manufacturer: str | None = None
    study_date: str | None = None
    study_time: str | None = None
    series_date: str | None = None
    series_time: str | None = None
    acquisition_date: str | None = None
    acquisition_time: str | None = None
    content_date: str | None = None
    content_time: str | None = None
    study_description: str | None = None
    series_description: str | None = None
    protocol_name: str | None = None
    body_part_examined: str | None = None
    laterality: str | None = None
    image_laterality: str | None = None
    image_type: tuple[str, ...] | None = None
    contrast_agent: str | None = None
    contrast_route: str | None = None
    contrast_administered: str | None = None
    image_orientation: tuple[float, ...] | None = None
    instance_number: int | None = None
    slice_thickness: float | None = None
    rows: int | None = None
    columns: int | None = None
    number_of_frames: int | None = None
    specific_character_set: tuple[str, ...] | None = None
    transfer_syntax_uid: str | None = None
    functional_groups: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The record as a plain dict (field name → value)."""
        return {name: getattr(self, name) for name in _RECORD_FIELDS}

    def __reduce__(self) -> tuple[type[HeaderRecord], tuple[Any, ...]]:
        # a plain tuple of values: 4x smaller and faster to pickle than the default
        return (HeaderRecord, _record_values(self))


_RECORD_FIELDS = tuple(f.name for f in fields(HeaderRecord))
_new_record: Callable[..., HeaderRecord] = HeaderRecord  # built by position from a list (see _assemble)
_record_values = operator.attrgetter(*_RECORD_FIELDS)  # record → tuple of its values, in C (IPC is per record)


# --- what to read: DICOM tag → keyword, or keyword + the wanted elements inside its items -------------

_FRAME_ITEM: dict[int, Any] = {
    0x00289110: ("PixelMeasuresSequence", {0x00180050: "SliceThickness"}),
    0x00209116: ("PlaneOrientationSequence", {0x00200037: "ImageOrientationPatient"}),
    0x00189341: ("ContrastBolusUsageSequence", {0x00189342: "ContrastBolusAgentAdministered"}),
}
_FRAME_TYPE_SEQUENCES = {
    0x00189226: "MRImageFrameTypeSequence",
    0x00189329: "CTImageFrameTypeSequence",
    0x00189751: "PETFrameTypeSequence",
    0x00189504: "XRay3DFrameTypeSequence",
    0x00409092: "ParametricMapFrameTypeSequence",
    0x00189227: "MRSpectroscopyFrameTypeSequence",
}
for _tag, _kw in _FRAME_TYPE_SEQUENCES.items():
    _FRAME_ITEM[_tag] = (_kw, {0x00089007: "FrameType"})

_WANTED: dict[int, Any] = {
    0x00080005: "SpecificCharacterSet",
    0x00080008: "ImageType",
    0x00080016: "SOPClassUID",
    0x00080018: "SOPInstanceUID",
    0x00080020: "StudyDate",
    0x00080021: "SeriesDate",
    0x00080022: "AcquisitionDate",
    0x00080023: "ContentDate",
    0x00080030: "StudyTime",
    0x00080031: "SeriesTime",
    0x00080032: "AcquisitionTime",
    0x00080033: "ContentTime",
    0x00080060: "Modality",
    0x00080070: "Manufacturer",
    0x00081030: "StudyDescription",
    0x0008103E: "SeriesDescription",
    0x00100020: "PatientID",
    0x00180010: "ContrastBolusAgent",
    0x00180012: ("ContrastBolusAgentSequence", {0x00080104: "CodeMeaning"}),
    0x00180015: "BodyPartExamined",
    0x00180050: "SliceThickness",
    0x00181030: "ProtocolName",
    0x00181040: "ContrastBolusRoute",
    0x0020000D: "StudyInstanceUID",
    0x0020000E: "SeriesInstanceUID",
    0x00200013: "InstanceNumber",
    0x00200037: "ImageOrientationPatient",
    0x00200060: "Laterality",
    0x00200062: "ImageLaterality",
    0x00280002: "SamplesPerPixel",  # these two: the size of native pixel data (see _Walker._frames_end)
    0x00280008: "NumberOfFrames",
    0x00280010: "Rows",
    0x00280011: "Columns",
    0x00280100: "BitsAllocated",
    0x52009229: ("SharedFunctionalGroupsSequence", _FRAME_ITEM),
    0x52009230: ("PerFrameFunctionalGroupsSequence", _FRAME_ITEM),
}
_PER_FRAME = 0x52009230
_LAST_WANTED = _PER_FRAME
_PIXEL_DATA = 0x7FE00010
_PIXEL_TAGS = frozenset((0x7FE00008, 0x7FE00009, _PIXEL_DATA))  # Float, Double Float, Pixel Data
_META_WANTED = {0x00020002: "sop_class", 0x00020010: "ts"}  # MediaStorageSOPClassUID, TransferSyntaxUID
#: The data dictionary's VR of each plain top-level value (implicit VR files do not say; a test holds this
#: equal to pydicom's dictionary). The compiled scanner decodes implicit VR values by it.
_DICTIONARY_VRS: dict[int, str] = {
    0x00080005: "CS", 0x00080008: "CS", 0x00080016: "UI", 0x00080018: "UI", 0x00080020: "DA", 0x00080021: "DA",
    0x00080022: "DA", 0x00080023: "DA", 0x00080030: "TM", 0x00080031: "TM", 0x00080032: "TM", 0x00080033: "TM",
    0x00080060: "CS", 0x00080070: "LO", 0x00081030: "LO", 0x0008103E: "LO", 0x00100020: "LO", 0x00180010: "LO",
    0x00180015: "CS", 0x00180050: "DS", 0x00181030: "LO", 0x00181040: "LO", 0x0020000D: "UI", 0x0020000E: "UI",
    0x00200013: "IS", 0x00200037: "DS", 0x00200060: "CS", 0x00200062: "CS", 0x00280008: "IS", 0x00280010: "US",
    0x00280002: "US", 0x00280100: "US",
    0x00280011: "US",
}


#: The same for the plain values inside the sequences' items (implicit VR items: C decodes them by it).
_ITEM_DICTIONARY_VRS: dict[int, str] = {
    0x00080104: "LO", 0x00089007: "CS", 0x00180050: "DS", 0x00189342: "CS", 0x00200037: "DS",
}


def _compiled_tree(tree: dict[int, Any]) -> dict[int, Any]:
    """The wanted tags for the compiled walk: a sequence's spec becomes (keyword, a Scanner of its items'
    wanted tags, whether only its first item is walked: the per-frame groups)."""
    return {tag: spec if isinstance(spec, str) else
            (spec[0], _scan.Scanner(_compiled_tree(spec[1]), 0, 0xFFFFFFFF, vrs=_ITEM_DICTIONARY_VRS),
             tag == _PER_FRAME)
            for tag, spec in tree.items()}


#: The compiled top-level walk per encoding (implicit VR, little endian), or None: the pure-Python twin walks.
_TOP_SCANNER: dict[tuple[bool, bool], Any] | None = {
    (implicit, little): _scan.Scanner(_compiled_tree(_WANTED), 0, _LAST_WANTED, implicit, little, _DICTIONARY_VRS)
    for implicit, little in ((False, True), (True, True), (False, False))
} if _scan else None
_META_SCANNER = _scan.Scanner(_META_WANTED, 0x00020000, 0x0002FFFF, sequences=False) if _scan else None


def _flatten_tags(tree: dict[int, Any]) -> list[int]:
    out: list[int] = []
    for tag, spec in tree.items():
        out.append(tag)
        if isinstance(spec, tuple):
            out.extend(_flatten_tags(spec[1]))
    return out


#: Every tag the reader looks at (top level and inside the sequences); used for pydicom's specific_tags.
WANTED_TAGS: tuple[int, ...] = tuple(sorted(set(_flatten_tags(_WANTED))))

_KEYWORD_VR: dict[str, str] = {}  # filled lazily from pydicom.datadict (implicit VR and UN need it)


def _dictionary_vr(keyword: str) -> str:
    vr = _KEYWORD_VR.get(keyword)
    if vr is None:
        from pydicom.datadict import dictionary_VR, tag_for_keyword

        tag = tag_for_keyword(keyword)
        if tag is None:  # never for the keywords we read; pydicom decides if it happens
            raise _Unusual(f"{keyword} is not in the data dictionary")
        vr = _KEYWORD_VR[keyword] = dictionary_VR(tag)
    return vr


# --- the fast path ----------------------------------------------------------------------------------

_VALID_VRS = frozenset(
    vr.encode()
    for vr in (
        "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV"
    ).split()
)
_LONG_VRS = frozenset(vr.encode() for vr in "OB OD OF OL OV OW SQ UC UN UR UT SV UV".split())
_TEXT_VRS = frozenset("SH LO UC ST LT UT".split())
_SINGLE_TEXT_VRS = frozenset("ST LT UT".split())
_LE_TAG, _BE_TAG = Struct("<HH"), Struct(">HH")
_LE_EXPL, _BE_EXPL = Struct("<HH2sH"), Struct(">HH2sH")
_LE_U32, _BE_U32 = Struct("<L"), Struct(">L")
_LE_TAGLEN, _BE_TAGLEN = Struct("<HHL"), Struct(">HHL")
_LE_HEAD = Struct("<HHHH")  # group, element, VR as a little-endian integer, 16-bit length
_BE_HEAD = Struct(">HH2sH")
_VR_NAMES = {int.from_bytes(vr, "little"): (None if vr == b"UN" else vr.decode()) for vr in _VALID_VRS}
_LONG_VR_CODES = frozenset(int.from_bytes(vr, "little") for vr in _LONG_VRS)
_SHORT_VR_CODES = frozenset(int.from_bytes(vr, "little") for vr in _VALID_VRS - _LONG_VRS)


class _Source:
    """Bytes of an open file descriptor from offset ``base`` (0 but after a skip), grown on demand.

    Plain ``os.read`` on the descriptor: a Python file object costs more than reading 8 KiB from the cache.
    ``buf`` holds the file's bytes [base, base + len(buf)). Only the compiled walk moves ``base`` (it jumps
    over large unwanted values, such as 92 KB of Siemens CSA data, without reading them); the Python walkers
    index ``buf`` by file offset and call ``flat()`` first.
    """

    __slots__ = ("fd", "buf", "size", "base", "probe")

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.size, self.base = fd, size, 0
        self.probe: tuple[int, int, bytes] = (-1, 0, b"")  # the last read outside the buffer: (pos, n, bytes)
        self.buf = _read_upto(fd, min(_FIRST_CHUNK, size))

    def need(self, end: int, skipped_to: int = 0) -> bytes:
        """Make sure the buffer holds the bytes up to ``end``; raise _Truncated past the end of the file.

        ``skipped_to``: the caller never looks at the bytes before this offset that the buffer lacks (it
        skipped them). A gap of more than 16 KiB is then not read: the buffer becomes the bytes from
        ``skipped_to`` on (``base``). Without it (or a small gap) the buffer grows, from ``base``.
        """
        if end > self.size:
            raise _Truncated(f"needs {end} bytes, file has {self.size}")
        have = self.base + len(self.buf)
        if end > have:
            if skipped_to - have > _SPARSE_GAP:
                window = min(max(end - skipped_to, _FIRST_CHUNK), self.size - skipped_to)
                self.buf, self.base = _read_upto(self.fd, window, skipped_to), skipped_to
            else:
                self.buf += _read_upto(self.fd, min(max(end - have, len(self.buf)), self.size - have), have)
        return self.buf

    def flat(self) -> None:
        """Make ``buf`` start at offset 0 again (the Python walkers index it by file offset): the bytes a
        skip left out are read now (rare: only irregular files reach a Python walker after a skip)."""
        if self.base:
            head = os.pread(self.fd, self.base, 0)
            if len(head) != self.base:
                raise _Truncated("the file shrank while it was read")
            self.buf, self.base = head + self.buf, 0

    def restart(self) -> None:
        """Make ``buf`` the file's first read again (what ``_fast_read`` starts from, whatever was read since)."""
        first = min(_FIRST_CHUNK, self.size)
        if self.base == 0 and len(self.buf) >= first:
            self.buf = self.buf[:first]
        else:
            self.buf, self.base = _read_upto(self.fd, first, 0), 0

    def at(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes at offset ``pos`` (fewer at the end of the file), from the buffer if it has them."""
        start = pos - self.base
        if start >= 0 and start + n <= len(self.buf):
            return self.buf[start : start + n]
        if self.probe[0] == pos and self.probe[1] == n:  # the pixel data probe, then its check: one read
            return self.probe[2]
        data = os.pread(self.fd, n, pos)
        self.probe = (pos, n, data)
        return data


def _read_upto(fd: int, n: int, pos: int | None = None) -> bytes:
    """Read ``n`` bytes from ``fd`` (at offset ``pos``: one pread, no seek), fewer only at the end of the file
    (a read may return less than asked)."""
    data = os.read(fd, n) if pos is None else os.pread(fd, n, pos)
    while len(data) < n:
        more = os.read(fd, n - len(data)) if pos is None else os.pread(fd, n - len(data), pos + len(data))
        if not more:
            break
        data += more
    return data


_PIXEL_SIZE_KEYWORDS = (("Rows", None), ("Columns", None), ("NumberOfFrames", 1), ("SamplesPerPixel", 1),
                        ("BitsAllocated", None))
_PIXEL_SIZE_NAMES = tuple(keyword for keyword, _ in _PIXEL_SIZE_KEYWORDS)


class _Walker:
    """Walks DICOM elements in one encoding and collects the raw bytes of the wanted ones."""

    __slots__ = ("src", "implicit", "little", "expl_s", "u32_s", "taglen_s", "resume", "found")

    def __init__(self, src: _Source, implicit: bool, little: bool) -> None:
        self.src, self.implicit, self.little = src, implicit, little
        # where the top-level walk stopped early (None: at the end of the file, unknown, or the pixel data found
        # whole by the per-frame groups' probe, _frames_end)
        self.resume: int | None = None
        self.found: tuple[dict[str, Any], dict[str, Any]] = ({}, {})  # the top level's raw and decoded values
        self.expl_s = _LE_EXPL if little else _BE_EXPL
        self.u32_s = _LE_U32 if little else _BE_U32
        self.taglen_s = _LE_TAGLEN if little else _BE_TAGLEN

    def walk(self, pos: int, end: int | None, wanted: dict[int, Any], out: dict[str, Any], single: bool = False) -> int:
        """Read the elements of an item from ``pos`` to ``end`` (or to its item delimiter when ``end`` is None),
        or (``single``) the one top-level element at ``pos`` that the top-level walk hands over: a sequence,
        an undefined length. Returns the position after the last element read; after the first item of
        PerFrameFunctionalGroupsSequence (``single``) it sets ``resume`` to where the walk goes on (None: the
        pixel data probe found the file whole, ``_frames_end``).
        """
        src = self.src
        buf = src.buf
        size = src.size
        implicit = self.implicit
        u32 = self.u32_s.unpack_from
        expl = self.expl_s.unpack_from
        taglen = self.taglen_s.unpack_from
        first = True
        while True:
            if single and not first:
                return pos
            first = False
            if end is not None and pos >= end:
                if pos > end:
                    raise _Unusual("element runs past the end of its item")
                return pos
            if pos + 12 > len(buf):
                if pos + 8 > size:
                    raise _Truncated("element header cut short")
                buf = src.need(min(pos + 12, size))
            if implicit:
                group, elem, length = taglen(buf, pos)
                vr = None
                hdr = 8
            else:
                group, elem, vr, length = expl(buf, pos)
                if group == 0xFFFE:
                    length = u32(buf, pos + 4)[0]
                    vr = None
                    hdr = 8
                elif vr in _LONG_VRS:
                    length = u32(buf, pos + 8)[0]
                    hdr = 12
                elif vr in _VALID_VRS:
                    hdr = 8
                else:
                    raise _Unusual(f"unknown VR {vr!r} at offset {pos}")
            tag = group << 16 | elem
            if group == 0xFFFE:
                if tag == 0xFFFEE00D and end is None:
                    return pos + 8
                raise _Unusual(f"unexpected delimiter ({group:04X},{elem:04X}) at offset {pos}")
            pos += hdr
            spec = wanted.get(tag)
            is_seq = vr == b"SQ" or (length == _UNDEFINED and (vr is None or vr == b"UN"))
            if spec is None:
                if length == _UNDEFINED:
                    if not is_seq:
                        raise _Unusual(f"undefined length for VR {vr!r}")
                    pos = self._items(pos, None, vr == b"UN", None, 0)
                else:
                    pos += length
                continue
            if isinstance(spec, tuple):
                keyword, subtree = spec
                if not is_seq and not (length != _UNDEFINED and vr in (None, b"UN")):
                    raise _Unusual(f"{keyword} is not a sequence (VR {vr!r})")
                items: list[dict[str, Any]] = []
                seq_end = None if length == _UNDEFINED else pos + length
                first_only = single and tag == _PER_FRAME
                pos = self._items(pos, seq_end, vr == b"UN", (subtree, items), 1 if first_only else 0)
                out[keyword] = items
                if first_only:  # the rest of the frames are not needed: resume after them
                    self.resume = seq_end if seq_end is not None else self._frames_end(pos, vr == b"UN")
                    return pos
                continue
            if length == _UNDEFINED:
                raise _Unusual(f"undefined length for {spec}")
            stop = pos + length
            if stop > len(buf):
                buf = src.need(stop)
            out[spec] = (vr.decode() if vr is not None and vr != b"UN" else None, buf[pos:stop])
            pos = stop

    def walk_top(self, pos: int, out: dict[str, Any], decoded: dict[str, Any]) -> int:
        """The top-level loop (most time is spent here), in any of the three encodings.

        With the compiled scanner (``ACCELERATED``) C walks the elements held in the buffer, skipping
        unwanted undefined-length sequences, and hands back what it does not do: a wanted sequence or
        anything irregular (``walk``, one element), more bytes (the buffer grows; near the end of the file
        the Python loop takes over, to end or fail exactly as it does), a stop. C also decodes the plain
        ASCII values of string VRs into ``decoded`` (what ``_convert_fast`` would make of them). Without it,
        ``_walk_top_py`` walks and every value stays raw in ``out``; both give the same records and errors.
        """
        self.found = (out, decoded)
        if _TOP_SCANNER is None:
            return self._walk_top_py(pos, out, -1)
        src = self.src
        scan = _TOP_SCANNER[self.implicit, self.little].scan
        return self.walk_top_from(scan, *scan(src.buf, pos, -1, out, decoded, src.base))

    def walk_top_from(self, scan: Callable[..., tuple[int, int, int, int]], step: int, pos: int, last_tag: int,
                      need: int) -> int:
        """The compiled top-level walk (``scan``, the scanner's of this encoding) from where a scan stopped
        (``step``, ``pos``, ``last_tag``, ``need``: what ``Scanner.scan`` returned) into ``found``'s dicts, to its
        end: what ``walk_top`` does after each scan."""
        src = self.src
        out, decoded = self.found
        while True:
            if step == _STEP_DONE:
                self.resume = pos
                return pos
            if step == _STEP_NEED:
                if need > src.size:
                    src.flat()
                    return self._walk_top_py(pos, out, last_tag)
                src.need(need, pos)  # the walk goes on at pos: bytes skipped before it need no reading
            elif step == _STEP_GENERAL:
                src.flat()
                pos = self.walk(pos, None, _WANTED, out, single=True)
                if last_tag == _PER_FRAME:
                    return pos
            elif step == _STEP_FRAMES:
                self.resume = self._frames_end(pos, bool(need))
                return pos
            elif step == _STEP_ORDER:
                raise _Unusual("elements out of order")
            else:
                raise _Unusual(f"unknown VR or item tag at offset {pos}")
            step, pos, last_tag, need = scan(src.buf, pos, last_tag, out, decoded, src.base)

    def _walk_top_py(self, pos: int, out: dict[str, Any], last_tag: int) -> int:
        """The pure-Python top-level loop, kept tight (the reference for C, check for check).

        The VR is read as an integer (no bytes object, cheap set lookups); implicit VR values keep VR None
        (the data dictionary's, looked up when decoded). Sequences and anything irregular are handed to
        ``walk`` one element at a time. ``last_tag`` is the tag read before ``pos``.
        """
        src = self.src
        buf = src.buf
        nbuf = len(buf)
        size = src.size
        implicit, little = self.implicit, self.little
        u32 = self.u32_s.unpack_from
        head = (_LE_HEAD if little else _BE_HEAD).unpack_from
        wanted = _WANTED
        long_vrs, short_vrs, vr_names = _LONG_VR_CODES, _SHORT_VR_CODES, _VR_NAMES
        last_wanted, undefined = _LAST_WANTED, _UNDEFINED
        while True:
            if pos + 12 > nbuf:
                if pos >= size:
                    if pos > size:
                        raise _Truncated("the last element runs past the end of the file")
                    return pos
                if pos + 8 > size:
                    raise _Truncated("element header cut short")
                buf = src.need(min(pos + 12, size))
                nbuf = len(buf)
            group, elem, vr, length = head(buf, pos)
            if not little:
                vr = int.from_bytes(vr, "little")
            tag = group << 16 | elem
            if group == 0xFFFE:
                raise _Unusual(f"item or delimiter tag at the top level, offset {pos}")
            if tag <= last_tag:
                raise _Unusual("elements out of order")
            if tag > last_wanted:
                self.resume = pos
                return pos
            last_tag = tag
            if implicit:
                length = u32(buf, pos + 4)[0]
                hdr = 8
            elif vr in long_vrs:
                length = u32(buf, pos + 8)[0]
                hdr = 12
            elif vr in short_vrs:
                hdr = 8
            else:
                raise _Unusual(f"unknown VR at offset {pos}")
            spec = wanted.get(tag)
            if spec is None:
                if length != undefined:
                    pos += hdr + length
                    continue
            elif spec.__class__ is str and length != undefined:
                pos += hdr
                stop = pos + length
                if stop > nbuf:
                    buf = src.need(stop)
                    nbuf = len(buf)
                out[spec] = (None if implicit else vr_names[vr], buf[pos:stop])
                pos = stop
                continue
            # sequences (wanted or not) and undefined lengths: the general walker, one element
            pos = self.walk(pos, None, wanted, out, single=True)
            if tag == _PER_FRAME:
                return pos
            buf = src.buf
            nbuf = len(buf)

    def _frames_end(self, pos: int, as_implicit_le: bool) -> int | None:
        """Where the top-level walk goes on after the first item of a per-frame sequence of undefined length,
        or None when it need not: Pixel Data was found ending exactly at the end of the file.

        The other frames' groups can be megabytes (176 frames of a Philips MR: 400 KB). When the header
        says how long native pixel data is (Rows x Columns x frames x samples x bits) and the element
        ``size - header - that length`` bytes into the file is Pixel Data of exactly that length, the file is
        whole up to its last byte (one small read), which is all ``_check_pixel_data`` would find from there:
        nothing is left to check. Else the rest of the sequence is skipped item by item.
        """
        expected = self._pixel_length()
        if expected is not None:
            src = self.src
            hdr = 8 if self.implicit else 12
            at = src.size - hdr - expected
            if at >= pos:
                head = src.at(at, hdr)
                if len(head) == hdr:
                    group, elem, length = self.taglen_s.unpack_from(head)
                    if not self.implicit:
                        length = self.u32_s.unpack_from(head, 8)[0] if head[4:6] in (b"OB", b"OW") else -1
                    if length == expected and (group << 16 | elem) == _PIXEL_DATA:
                        return None
        return self._skip_items(pos, as_implicit_le)

    def _pixel_length(self) -> int | None:
        """The length of native pixel data as the header describes it (even), or None when unknown."""
        raw, decoded = self.found
        # per enhanced file, so the common case takes no call: the compiled walk decoded the four US values to
        # int and NumberOfFrames (IS) to a string of digits
        rows, columns, frames, samples, bits = map(decoded.get, _PIXEL_SIZE_NAMES)
        if (rows.__class__ is int and columns.__class__ is int and samples.__class__ is int
                and bits.__class__ is int and frames.__class__ is str and frames.isdigit() and frames.isascii()):
            bits *= rows * columns * int(frames) * samples  # none negative: 0 when any of them is 0
            length = (bits + 7) // 8
            return length + (length & 1) if bits else None
        numbers = []
        for keyword, default in _PIXEL_SIZE_KEYWORDS:
            value = decoded.get(keyword)
            if value is None and keyword in raw:
                try:
                    vr, data = raw[keyword]
                    value = _decode_raw(keyword, vr, data, self.little, ())
                except _Unusual:
                    return None
            number: int | None
            if value.__class__ is int:
                number = value
            elif value.__class__ is str and value.isascii() and value.isdigit():
                number = int(value)
            else:
                number = _int(value) if value is not None else default
            if not number or number < 0:
                return None
            numbers.append(number)
        rows, columns, frames, samples, bits = numbers
        length = (rows * columns * frames * samples * bits + 7) // 8
        return length + (length & 1)

    def _skip_items(self, pos: int, as_implicit_le: bool) -> int:
        """Skip the rest of an undefined-length sequence (the frames after the first), in C where built,
        so that the walk can go on to tell a complete file from a cut one; returns the offset after it."""
        if _TOP_SCANNER is not None:
            implicit, little = (True, True) if as_implicit_le else (self.implicit, self.little)
            while True:
                after, need = _scan.skip_items(self.src.buf, pos, implicit, little, self.src.base)
                if after >= 0:
                    return after
                if after != -1 or need > self.src.size:
                    break  # irregular, or cut short: the Python walk fails the same way
                self.src.need(need)
        self.src.flat()
        return self._items(pos, None, as_implicit_le, None, 0)

    def _items(self, pos: int, end: int | None, as_implicit_le: bool,
               collect: tuple[dict[int, Any], list[dict[str, Any]]] | None, max_items: int) -> int:
        """Walk the items of a sequence; collect the wanted elements of each when ``collect`` is given."""
        if as_implicit_le and (not self.implicit or not self.little):
            return _Walker(self.src, True, True)._items(pos, end, False, collect, max_items)
        src = self.src
        taglen = self.taglen_s.unpack_from
        count = 0
        while end is None or pos < end:
            if pos + 8 > len(src.buf):
                src.need(pos + 8)
            group, elem, length = taglen(src.buf, pos)
            pos += 8
            if group != 0xFFFE:
                raise _Unusual("sequence item expected")
            if elem == 0xE0DD:
                return pos
            if elem != 0xE000:
                raise _Unusual("sequence item expected")
            item_end = None if length == _UNDEFINED else pos + length
            if collect is None:
                pos = item_end if item_end is not None else self.walk(pos, None, {}, {})
            else:
                item: dict[str, Any] = {}
                pos = self.walk(pos, item_end, collect[0], item)
                collect[1].append(item)
            count += 1
            if max_items and count >= max_items:
                return pos
        if pos != end:
            raise _Unusual("sequence runs past its declared length")
        return pos


def _read_meta(src: _Source) -> tuple[int, dict[str, str]]:
    """Parse the file meta group (explicit VR little endian) after the preamble; return (end, values).

    The compiled scanner walks the group while the buffer holds it; the Python loop reads anything else
    (the end of the file, an undefined length, an odd VR), so both end or fail the same way.
    """
    pos = 132
    raw: dict[str, Any] = {}
    while _META_SCANNER is not None:
        step, pos, _, need = _META_SCANNER.scan(src.buf, pos, -1, raw, None)
        if step == _STEP_DONE:
            break
        if step != _STEP_NEED or need > src.size:
            pos = _read_meta_py(src, pos, raw)
            break
        src.need(need)
    else:
        pos = _read_meta_py(src, pos, raw)
    return pos, {name: value.decode("latin-1").rstrip("\0 ") for name, (_, value) in raw.items()}


def _read_meta_py(src: _Source, pos: int, raw: dict[str, tuple[str, bytes]]) -> int:
    """The file meta elements from ``pos`` to the first element of another group; wanted values into ``raw``."""
    buf = src.buf
    while True:
        if pos + 12 > len(buf):
            if pos >= src.size:
                if pos > src.size:
                    raise _Truncated("file meta cut short")
                break
            if pos + 8 > src.size:
                raise _Truncated("file meta cut short")
            buf = src.need(min(pos + 12, src.size))
        group, elem, vr, length = _LE_EXPL.unpack_from(buf, pos)
        if group != 2:
            break
        if vr in _LONG_VRS:
            length = _LE_U32.unpack_from(buf, pos + 8)[0]
            pos += 12
        elif vr in _VALID_VRS:
            pos += 8
        else:
            raise _Unusual("file meta is not explicit VR little endian")
        name = _META_WANTED.get(0x00020000 | elem)
        if name is not None:
            buf = src.need(pos + length)
            raw[name] = (vr.decode(), buf[pos : pos + length])
        pos += length
    return pos


def _sniff_no_meta(buf: bytes) -> tuple[bool, bool] | None:
    """Whether a file without the DICM marker starts like a DICOM data set: (implicit, little) or None.

    Accepts only a first element in group 0x0008 (or the meta group 0x0002) with a plausible VR or length,
    so that text files, gzip files and other garbage are never parsed as DICOM.
    """
    if len(buf) < 12:
        return None
    g_le, e_le = _LE_TAG.unpack_from(buf, 0)
    g_be, _ = _BE_TAG.unpack_from(buf, 0)
    vr = buf[4:6]
    if g_le in (0x0002, 0x0008) and e_le < 0x1000:
        if vr in _VALID_VRS:
            return (False, True)
        length = _LE_U32.unpack_from(buf, 4)[0]
        if length < 1024 and e_le <= 0x0100:
            return (True, True)
        return None
    if g_be == 0x0008 and vr in _VALID_VRS:
        return (False, False)
    return None


def _check_pixel_data(src: _Source, pos: int, implicit: bool, little: bool) -> None:
    """Skip the top-level elements after the wanted ones up to Pixel Data, one small read each.

    Raises _Truncated when an element, or Pixel Data with a defined length, runs past the end of the
    file, and _Unusual (pydicom reads the file) when the tags go backwards or an item tag or unknown VR
    appears (a corrupt tag made the walk stop too early, and wanted elements may follow it). Stops without
    a verdict at an undefined length (a sequence, encapsulated pixel data), and after Pixel Data: trailing
    elements (DataSetTrailingPadding) are not needed, and looking at them would cost a second disk read
    per file on a cold cache. A tag above Pixel Data that is not one of the three pixel data tags does not
    end the walk: the element after it must still ascend, which tells a corrupted tag from a real one.
    """
    size = src.size
    last_tag = -1
    taglen = _LE_TAGLEN if little else _BE_TAGLEN
    expl = _LE_EXPL if little else _BE_EXPL
    u32 = _LE_U32 if little else _BE_U32
    while pos < size:
        head = src.at(pos, 12)
        if len(head) < 8:
            raise _Truncated("element header cut short")
        if implicit:
            group, elem, length = taglen.unpack_from(head)
            hdr = 8
        else:
            group, elem, vr, length = expl.unpack_from(head)
            hdr = 8
            if vr in _LONG_VRS:
                if len(head) < 12:
                    raise _Truncated("element header cut short")
                length, hdr = u32.unpack_from(head, 8)[0], 12
            elif vr not in _VALID_VRS and group != 0xFFFE:
                raise _Unusual("unknown VR after the wanted elements")
        tag = group << 16 | elem
        if tag <= last_tag or group == 0xFFFE:  # the early stop may have missed elements; let pydicom read
            raise _Unusual("elements out of order, or an item tag at the top level")
        last_tag = tag
        if length == _UNDEFINED:
            return
        pos += hdr + length
        if pos > size:
            raise _Truncated("pixel data is shorter than declared" if tag == _PIXEL_DATA else "element cut short")
        if tag in _PIXEL_TAGS:  # what follows the pixel data (trailing padding) is never needed
            return


def _fast_read(src: _Source) -> tuple[dict[str, Any], dict[str, Any], bool, str | None, str | None]:
    """Fast path: (raw values, values the scanner decoded, little endian, transfer syntax, media storage SOP class).

    Raises _Unusual for anything pydicom should decide, _Truncated, or DicomSkip("not_dicom").
    """
    buf = src.buf
    meta: dict[str, str] = {}
    if len(buf) >= 132 and buf[128:132] == b"DICM":
        pos, meta = _read_meta(src)
        ts = meta.get("ts")
        if ts is None or ts in _DEFLATED:
            raise _Unusual("deflated or no transfer syntax")
        if ts == _IMPLICIT_LE:
            implicit, little = True, True
        elif ts == _EXPLICIT_BE:
            implicit, little = False, False
        elif ts == _EXPLICIT_LE or ts.startswith(("1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.5")):
            implicit, little = False, True
        else:
            raise _Unusual(f"transfer syntax {ts}")
        buf = src.buf
        if pos + 6 <= len(buf):  # pydicom checks the first element's VR against the transfer syntax
            looks_explicit = buf[pos + 4 : pos + 6] in _VALID_VRS
            if looks_explicit == implicit:
                raise _Unusual("transfer syntax does not match the data set encoding")
    else:
        sniffed = _sniff_no_meta(buf)
        if sniffed is None:
            raise DicomSkip("", "not_dicom")
        implicit, little = sniffed
        pos, ts = 0, None
        if buf[:2] == b"\x02\x00":
            raise _Unusual("meta group without preamble")
    out: dict[str, Any] = {}
    decoded: dict[str, Any] = {}
    walker = _Walker(src, implicit, little)
    walker.walk_top(pos, out, decoded)
    if walker.resume is not None:
        _check_pixel_data(src, walker.resume, implicit, little)
    return out, decoded, little, ts, meta.get("sop_class")


def _compiled_read(src: _Source) -> HeaderRecord | tuple[dict[str, Any], dict[str, Any], bool, str | None, str | None]:
    """``_fast_read``, most files in one compiled call a read (``_scan.FileWalk``: the file meta, the top-level
    walk, the check up to Pixel Data and, when every value is plain, the record itself, which is returned).

    FileWalk asks for more bytes as the walk does (``Source.need``, the same reads) and hands over where the
    Python code has a say: the rest of the walk at a sequence it does not walk or anything irregular
    (``walk_top_from``), the check up to Pixel Data beyond what it can judge (``_check_pixel_data``), values
    that are not plain (``_convert_fast`` and ``_assemble``, by the caller); a file meta it does not read at
    once goes to ``_fast_read`` from the start. Raises as ``_fast_read`` does."""
    if _FILE_SPEC is None or _TOP_SCANNER is None or _META_SCANNER is None:  # not built, or the twin forced
        return _fast_read(src)
    walk = _scan.FileWalk(_FILE_SPEC)
    while True:
        kind, found, skip = walk.step(src.buf, src.base, src.size)
        if kind != _FILE_NEED:
            break
        src.need(found, skip)
        if src.base + len(src.buf) < found:  # the file shrank while it was read: from the start
            kind = _FILE_FALLBACK
            break
    if kind == _FILE_RECORD:
        return _new_record(*found)
    if kind == _FILE_FALLBACK:
        src.restart()
        return _fast_read(src)
    stage, step, pos, last_tag, need, out, decoded, implicit, little, ts, media_class = found
    resume = pos if stage == 2 else None
    if stage == 1:
        walker = _Walker(src, implicit, little)
        walker.found = (out, decoded)
        walker.walk_top_from(_TOP_SCANNER[implicit, little].scan, step, pos, last_tag, need)
        resume = walker.resume
    if resume is not None:
        _check_pixel_data(src, resume, implicit, little)
    return out, decoded, little, ts, media_class


@functools.lru_cache(maxsize=64)
def _python_encodings(charset: tuple[str, ...]) -> list[str]:
    from pydicom.charset import convert_encodings

    with quiet_pydicom():  # pydicom warns about unknown character sets
        return convert_encodings(list(charset) if charset else None)


def _latin1_values(raw: bytes) -> str | list[str]:
    """CS, DA, TM, AS, AE, DT, UR: pydicom's ``multi_string`` (trailing spaces/NULs off, split on '\\')."""
    text = raw.decode("latin-1").rstrip(" \x00")
    return text.split("\\") if "\\" in text else text


def _number_strings(raw: bytes) -> str | list[str]:
    """DS and IS: pydicom strips the whole string first, then splits."""
    text = raw.decode("latin-1").strip().rstrip(" \x00")
    return text.split("\\") if "\\" in text else text


def _uid_values(raw: bytes) -> str | list[str]:
    """UI: like CS, and each UID is stripped of surrounding whitespace (pydicom's UID class)."""
    items = [item.strip() for item in raw.decode("latin-1").rstrip(" \x00").split("\\")]
    return items[0] if len(items) == 1 else items


_LATIN1_DECODERS = {vr: _latin1_values for vr in ("AE", "AS", "CS", "DA", "DT", "TM", "UR")}
_LATIN1_DECODERS.update({"DS": _number_strings, "IS": _number_strings, "UI": _uid_values})
_INT_FORMATS = {"US": ("H", 2), "SS": ("h", 2), "UL": ("L", 4), "SL": ("l", 4)}


def _decode_raw(
    keyword: str, vr: str | None, raw: bytes, little: bool, charset: tuple[str, ...]
) -> Any:
    """Convert one raw value the way pydicom does (same stripping and splitting), to str/list/int."""
    if vr is None:
        vr = _dictionary_vr(keyword)
    decoder = _LATIN1_DECODERS.get(vr)
    if decoder is not None:
        return decoder(raw) if raw else ""
    if vr in _TEXT_VRS:
        if not raw:
            return ""
        if raw.isascii() and b"\x1b" not in raw:
            text = raw.decode("ascii")
        else:
            from pydicom.charset import TEXT_VR_DELIMS, decode_bytes

            with quiet_pydicom():  # pydicom's warnings about undecodable bytes quote the value
                text = decode_bytes(raw, _python_encodings(charset), TEXT_VR_DELIMS)
        if vr in _SINGLE_TEXT_VRS:
            return text.rstrip("\0 ")
        if "\\" not in text:
            return text.rstrip("\0 ")
        return [v.rstrip("\0 ") for v in text.split("\\")]
    if vr in _INT_FORMATS:
        if not raw:
            return None
        fmt, width = _INT_FORMATS[vr]
        n = len(raw) // width
        values = list(Struct(("<" if little else ">") + fmt * n).unpack_from(raw))
        return values[0] if n == 1 else values
    raise _Unusual(f"{keyword} has VR {vr}")


def _convert_fast(
    values: dict[str, Any], little: bool, charset: tuple[str, ...] = (), decoded: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Decode the raw values of the fast path (recursively for sequence items), joined to those already
    ``decoded`` by the compiled scanner (returned as they are when nothing is left raw).

    A raw value is a (VR, bytes) pair; a sequence a list of item dicts. In the items the compiled walk
    puts the values it decoded (str, list of str) beside the raw pairs; they are kept as they are.
    """
    if not values and decoded is not None:
        return decoded
    out: dict[str, Any] = dict(decoded) if decoded else {}
    cs = out.get("SpecificCharacterSet")
    if "SpecificCharacterSet" in values:
        value = values["SpecificCharacterSet"]
        cs = _decode_raw("SpecificCharacterSet", value[0], value[1], little, ()) if value.__class__ is tuple else value
    if cs is not None:
        charset = tuple(cs) if isinstance(cs, list) else ((cs,) if cs else ())
    latin1 = _LATIN1_DECODERS
    for keyword, value in values.items():
        if value.__class__ is not tuple:
            if value.__class__ is list and value and value[0].__class__ is dict:
                out[keyword] = [_convert_fast(item, little, charset) for item in value]
            else:  # decoded by the compiled walk (an empty list: a sequence without items)
                out[keyword] = value
            continue
        vr, raw = value
        decoder = latin1.get(vr) if raw else None  # most values: one call, not two
        out[keyword] = decoder(raw) if decoder is not None else _decode_raw(keyword, vr, raw, little, charset)
    return out


# --- the pydicom path -------------------------------------------------------------------------------

def _values_from_dataset(ds: Dataset, tree: dict[int, Any] = _WANTED) -> dict[str, Any]:
    """The wanted values of a pydicom Dataset in the fast path's form (str / list / int / items)."""
    out: dict[str, Any] = {}
    for tag, spec in tree.items():
        if tag not in ds:
            continue
        value = ds[tag].value
        if isinstance(spec, tuple):
            out[spec[0]] = [_values_from_dataset(item, spec[1]) for item in (value or [])]
            continue
        out[spec] = _plain_value(ds[tag].VR, value)
    return out


def _plain_value(vr: str, value: Any) -> Any:
    """A wanted element's value as the fast path gives it, or None (absent) when it is not plain: a sequence
    (SQ, or UN of undefined length, which pydicom reads as one), bytes, or a list holding any of them.
    Printing such a value would copy a whole nested dataset (PatientID, address...) into a text column."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    nested = (bytes, bytearray, memoryview, Dataset, Sequence)
    if vr == "SQ" or isinstance(value, nested):
        return None
    if value is None or isinstance(value, (str, int, float)):
        return value
    items = list(value)
    return None if any(isinstance(v, nested) for v in items) else items


def _meta_transfer_syntax(ds: Dataset) -> str | None:
    """The TransferSyntaxUID of a pydicom Dataset's file meta, or None without one."""
    meta = getattr(ds, "file_meta", None)
    return str(meta.TransferSyntaxUID) if meta is not None and "TransferSyntaxUID" in meta else None


def record_from_dataset(ds: Dataset, transfer_syntax_uid: str | None = None) -> HeaderRecord | None:
    """Build the record from a pydicom Dataset (the arbiter's view); None when a UID is missing."""
    if transfer_syntax_uid is None:
        transfer_syntax_uid = _meta_transfer_syntax(ds)
    return _assemble(_values_from_dataset(ds), transfer_syntax_uid)


# --- values → record ---------------------------------------------------------------------------------

def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return "\\".join(str(v) for v in value)
    return str(value)


def _texts(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(map(str, value))
    return (str(value),) if str(value) else ()


def _int(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            number = float(str(value))
        except ValueError:
            return None
        return int(number) if number.is_integer() else None


def _floats(value: Any) -> tuple[float, ...] | None:
    if value is None or value == "":
        return None
    items = value if isinstance(value, list) else [value]
    try:
        return tuple(map(float, items))
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    numbers = _floats(value)
    return numbers[0] if numbers else None


_GROUP_SEQUENCES = ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")


def _from_groups(firsts: list[dict[str, Any]], sequence: str, keyword: str) -> tuple[bool, Any]:
    """The first value of ``keyword`` inside the functional groups (``firsts``: the first item of the shared
    groups, then of the per-frame groups)."""
    for group in firsts:
        items = group.get(sequence)
        if items:
            for item in items:
                if keyword in item:
                    return True, item[keyword]
    return False, None


#: Record fields that are the element's text as it is (multiple values joined with a backslash).
_TEXT_FIELDS = (
    ("sop_class_uid", "SOPClassUID"), ("patient_id", "PatientID"), ("modality", "Modality"),
    ("manufacturer", "Manufacturer"), ("study_date", "StudyDate"), ("study_time", "StudyTime"),
    ("series_date", "SeriesDate"), ("series_time", "SeriesTime"), ("acquisition_date", "AcquisitionDate"),
    ("acquisition_time", "AcquisitionTime"), ("content_date", "ContentDate"), ("content_time", "ContentTime"),
    ("study_description", "StudyDescription"), ("series_description", "SeriesDescription"),
    ("protocol_name", "ProtocolName"), ("body_part_examined", "BodyPartExamined"), ("laterality", "Laterality"),
    ("image_laterality", "ImageLaterality"), ("contrast_route", "ContrastBolusRoute"),
)


def _functional_groups(values: dict[str, Any], slice_thickness: float | None,
                       orientation: tuple[float, ...] | None, image_type: tuple[str, ...] | None
                       ) -> tuple[float | None, tuple[float, ...] | None, tuple[str, ...] | None, str | None, bool]:
    """Fill what the top level lacks from the functional groups of an enhanced multi-frame object.

    Returns (slice_thickness, orientation, image_type, contrast administered, whether a value came from
    the groups).
    """
    firsts = []
    for name in _GROUP_SEQUENCES:
        groups = values.get(name)
        if groups:
            firsts.append(groups[0])
    from_groups = False
    if "SliceThickness" not in values:
        from_groups, value = _from_groups(firsts, "PixelMeasuresSequence", "SliceThickness")
        slice_thickness = _float(value)
    if "ImageOrientationPatient" not in values:
        found, value = _from_groups(firsts, "PlaneOrientationSequence", "ImageOrientationPatient")
        orientation, from_groups = _floats(value), from_groups or found
    if "ImageType" not in values:
        for sequence in _FRAME_TYPE_SEQUENCES.values():
            found, value = _from_groups(firsts, sequence, "FrameType")
            if found:
                image_type, from_groups = _texts(value), True
                break
    administered: str | None = None
    for group in firsts:
        for item in group.get("ContrastBolusUsageSequence") or ():
            value = _text(item.get("ContrastBolusAgentAdministered"))
            if value is not None:
                from_groups = True
                administered = value if administered in (None, "NO", "") else administered
        if administered is not None:
            break
    return slice_thickness, orientation, image_type, administered, from_groups


#: The keywords of the record's first 21 fields (the UIDs, then the text fields from sop_class_uid to
#: image_laterality, in the record's field order: ``_assemble`` passes them by position; a test holds the
#: order to the dataclass's), then the contrast agent and route.
_PLAIN_KEYWORDS = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID",
                   *(keyword for _, keyword in _TEXT_FIELDS[:18]), "ContrastBolusAgent", "ContrastBolusRoute")


_PLAIN_TYPES = frozenset((str, type(None)))


def _int_of(value: Any) -> int | None:
    """``_int`` with an IS string (what the compiled walk gives) first: int() strips whitespace as _int does."""
    if value.__class__ is str:
        try:
            return int(value)
        except ValueError:
            pass
    return _int(value)


def _plain_text(value: Any) -> str | None:
    """``_text`` with the common case (a plain str, or absent) first: no call for it."""
    return value if value is None or value.__class__ is str else _text(value)


def _assemble(values: dict[str, Any], transfer_syntax_uid: str | None) -> HeaderRecord | None:
    """The record of converted values, or None when a UID is missing.

    Per file, so kept lean: plain str and int values (all the compiled walk gives) take no call, and the
    record is built by position (34 keyword arguments cost more than the rest of this function).
    """
    get = values.get
    texts = list(map(get, _PLAIN_KEYWORDS))
    if not _PLAIN_TYPES.issuperset(map(type, texts)):  # a list (multiple values) or a pydicom type
        texts = list(map(_plain_text, texts))
    if not (texts[0] and texts[1] and texts[2]):  # the three UIDs
        return None
    value = get("SliceThickness")
    if value.__class__ is str and value:
        try:
            slice_thickness: float | None = float(value)
        except ValueError:
            slice_thickness = None
    else:
        slice_thickness = _float(value)
    orientation = _floats(get("ImageOrientationPatient"))
    image_type = _texts(get("ImageType"))
    administered, from_groups = None, False
    if _GROUP_SEQUENCES[0] in values or _GROUP_SEQUENCES[1] in values:
        slice_thickness, orientation, image_type, administered, from_groups = _functional_groups(
            values, slice_thickness, orientation, image_type)
    agent = texts[21]
    if not agent:
        for item in get("ContrastBolusAgentSequence") or []:
            meaning = _text(item.get("CodeMeaning"))
            if meaning:
                agent = meaning
                break
    instance, rows, columns, frames = (get("InstanceNumber"), get("Rows"), get("Columns"), get("NumberOfFrames"))
    charset = get("SpecificCharacterSet")
    return _new_record(
        *texts[:21],
        image_type, agent, texts[22], administered, orientation,
        instance if instance is None or instance.__class__ is int else _int_of(instance),
        slice_thickness,
        rows if rows is None or rows.__class__ is int else _int(rows),
        columns if columns is None or columns.__class__ is int else _int(columns),
        frames if frames is None or frames.__class__ is int else _int_of(frames),
        None if charset is None else _texts(charset),
        transfer_syntax_uid,
        from_groups,
    )


#: The values ``_scan.FileWalk`` assembles a record of, in its order (rcdm/dicom/_scan.c, ASSEMBLY).
_ASSEMBLY_KEYWORDS = (*_PLAIN_KEYWORDS, "SliceThickness", "ImageOrientationPatient", "ImageType", *_GROUP_SEQUENCES,
                      "ContrastBolusAgentSequence", "InstanceNumber", "Rows", "Columns", "NumberOfFrames",
                      "SpecificCharacterSet")
#: What a FileWalk reads a file with: the file meta's scanner, the top level's in each encoding, the keywords.
_FILE_SPEC = (_META_SCANNER, _TOP_SCANNER[False, True], _TOP_SCANNER[True, True], _TOP_SCANNER[False, False],
              _ASSEMBLY_KEYWORDS, _DICOMDIR_CLASS) if _TOP_SCANNER is not None else None
if _scan is not None:
    _FILE_NEED, _FILE_RECORD, _FILE_FALLBACK = _scan.FILE_NEED, _scan.FILE_RECORD, _scan.FILE_FALLBACK


# --- public API --------------------------------------------------------------------------------------

def _open(path: str) -> int:
    """Open for reading without blocking, so that a FIFO among the files is skipped instead of hanging the
    load (a module function so tests can simulate I/O errors that root cannot provoke)."""
    return os.open(path, _OPEN_FLAGS)


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


@contextlib.contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Ignore warnings and silence the ``pydicom`` logger for the block (both restored afterwards).

    pydicom's messages about odd values quote the value, which can be a patient's name, id or birth date, so
    none may reach stderr or a log. Cheap (a few microseconds) and nestable. Not thread-safe in the way of
    ``warnings.catch_warnings``: concurrent blocks in threads of one process may leave warnings ignored and
    the logger disabled after they end, which errs on the quiet side.
    """
    logger = logging.getLogger("pydicom")
    was_disabled = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.disabled = was_disabled


def _pydicom_read(path: str, force: bool) -> HeaderRecord:
    """The slow, general path: pydicom reads the header (never the pixel data) and decides."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with quiet_pydicom():
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=list(WANTED_TAGS), force=force)
            meta = getattr(ds, "file_meta", None)
            media_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
            ts = _meta_transfer_syntax(ds)
            values = _values_from_dataset(ds)  # pydicom converts values lazily: errors surface here
    except InvalidDicomError as exc:
        raise DicomSkip(path, "not_dicom", str(exc)) from None
    except (EOFError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, EOFError) and exc.errno is not None:
            raise DicomQuarantine(path, "unreadable", str(exc)) from None
        raise DicomQuarantine(path, "truncated", str(exc) or type(exc).__name__) from None
    except Exception as exc:  # pydicom raises many kinds on malformed data
        raise DicomQuarantine(path, "parse_error", f"{type(exc).__name__}: {exc}") from None
    if media_class == _DICOMDIR_CLASS or "DirectoryRecordSequence" in ds:
        raise DicomSkip(path, "dicomdir")
    return _record_or_reject(path, values, ts, without_meta=force)


def _record_or_reject(path: str, values: dict[str, Any], ts: str | None, without_meta: bool) -> HeaderRecord:
    """The record of converted values; DicomSkip for a DICOMDIR or (``without_meta``, the file had no DICM
    marker) a data set with no DICOM identifiers at all; DicomQuarantine when a UID is missing."""
    if str(values.get("SOPClassUID") or "") == _DICOMDIR_CLASS:
        raise DicomSkip(path, "dicomdir")
    record = _assemble(values, ts)
    if record is None:
        if without_meta and not any(k in values for k in ("SOPInstanceUID", "StudyInstanceUID", "Modality")):
            raise DicomSkip(path, "not_dicom", "no DICOM identifiers in the data set")
        raise DicomQuarantine(path, "missing_uid")
    return record


def read_header(path: str | os.PathLike[str]) -> HeaderRecord:
    """Read the header of one file; raise DicomSkip or DicomQuarantine (with ``.reason``) if it is not loadable.

    Symbolic links are followed; a broken link is quarantined. Pixel data is never read. Every call into
    pydicom runs inside ``quiet_pydicom()``: no warning and no pydicom log record (they may quote a patient's
    values); the fast path's own code neither warns nor logs.
    """
    return _read_header(os.fspath(path))


_PIXEL_LE, _PIXEL_BE = b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10"
_pixel_data_at_c: Callable[[bytes | memoryview], int] | None
try:  # memchr speed (rcdm/dicom/_tags.c, an optional build); bytes.find is ~1 GB/s on these two patterns
    from rcdm.dicom._tags import pixel_data_at as _pixel_data_at_c
except ImportError:  # pragma: no cover - depends on the build
    _pixel_data_at_c = None


def pixel_data_at(buf: bytes | memoryview) -> int:
    """The offset of the first Pixel Data tag (7FE0,0010) in ``buf``, little- or big-endian, or -1: where the
    header window ends (``rcdm.dicom.identity``)."""
    if _pixel_data_at_c is not None:
        return _pixel_data_at_c(buf)
    return _pixel_data_at_py(bytes(buf))


def _pixel_data_at_py(buf: bytes) -> int:
    """The pure-Python twin of ``rcdm.dicom._tags.pixel_data_at``."""
    found = [i for i in (buf.find(_PIXEL_LE), buf.find(_PIXEL_BE)) if i >= 0]
    return min(found) if found else -1


HEAD_BYTES = 1 << 16
"""``read_header_and_head`` hands back the file's first 64 KiB (the ETL's header window, ``rcdm.dicom.identity``)."""


def read_header_and_head(path: str | os.PathLike[str], opened: list[tuple[int, int]] | None = None
                         ) -> tuple[HeaderRecord, bytes]:
    """``read_header``, and the file's first ``HEAD_BYTES`` bytes (fewer in a shorter file, or only the first
    8 KiB when a Pixel Data tag is in them) from the same open descriptor: the bytes the ETL scans for the
    identity the record does not keep (PatientName, birth date, accession numbers), so a file is opened once.
    With a list ``opened``, the ``(st_size, st_mtime_ns)`` of the open file is appended to it as soon as it is
    known (before a skip or quarantine is raised for the file's contents): the ETL records them without a
    second ``os.stat`` of the path. Raises as ``read_header`` does."""
    head: list[bytes] = []
    record = _read_header(os.fspath(path), head, opened)
    return record, head[0]


def _head_of(src: _Source) -> bytes:
    """The first ``HEAD_BYTES`` of the file: the walk's first read when a Pixel Data tag is in it (the ETL cuts
    the window there), else one read of the whole window from offset 0, which the source then holds, so the walk
    reads on from it instead of reading its next bytes a second time (on a Siemens MR header the window is all
    header: re-reading 56 KiB after the first 8 and joining the two cost ~3x this one read)."""
    first = src.buf[:_FIRST_CHUNK]
    if src.size <= _FIRST_CHUNK or pixel_data_at(first) >= 0:
        return first
    window = _read_upto(src.fd, min(HEAD_BYTES, src.size), 0)
    if src.base == 0 and len(window) > len(src.buf) and window.startswith(src.buf):
        src.buf = window  # the same bytes from offset 0, more of them: the source's invariant holds
    return window


def _read_header(path: str, head: list[bytes] | None = None, opened: list[tuple[int, int]] | None = None
                 ) -> HeaderRecord:
    try:
        fd = _open(path)
    except PermissionError as exc:
        raise DicomQuarantine(path, "permission_denied", str(exc)) from None
    except FileNotFoundError as exc:
        if os.path.islink(path):
            raise DicomQuarantine(path, "broken_symlink", f"-> {os.readlink(path)}") from None
        raise DicomQuarantine(path, "unreadable", str(exc)) from None
    except IsADirectoryError:
        raise DicomSkip(path, "not_a_file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DicomQuarantine(path, "broken_symlink", "symlink loop") from None
        raise DicomQuarantine(path, "unreadable", str(exc)) from None
    try:
        try:
            st = os.fstat(fd)
            if opened is not None:
                opened.append((st.st_size, st.st_mtime_ns))
            if not stat.S_ISREG(st.st_mode):
                raise DicomSkip(path, "not_a_file")
            size = st.st_size
            if size == 0:
                raise DicomSkip(path, "empty_file")
            src = _Source(fd, size)
            if head is not None:
                head.append(_head_of(src))
            has_dicm = src.buf[128:132] == b"DICM"
            try:
                found = _compiled_read(src)
                if found.__class__ is HeaderRecord:
                    return found
                values, decoded, little, ts, media_class = found  # type: ignore[misc]
            except DicomSkip as skip:
                raise DicomSkip(path, skip.reason, skip.detail) from None
            except (_Truncated, struct.error) as exc:
                return _pydicom_confirms_truncation(path, not has_dicm, str(exc))
            except (_Unusual, ValueError, IndexError, LookupError, RecursionError):
                values = None
        except OSError as exc:
            raise DicomQuarantine(path, "unreadable", str(exc)) from None
    finally:
        os.close(fd)
    if values is None:
        return _pydicom_read(path, force=not has_dicm)
    if media_class == _DICOMDIR_CLASS:
        raise DicomSkip(path, "dicomdir")
    try:
        converted = _convert_fast(values, little, decoded=decoded)
        return _record_or_reject(path, converted, ts, without_meta=ts is None)
    except _Unusual:
        return _pydicom_read(path, force=not has_dicm)
    except DicomQuarantine:  # a UID the fast walk did not find: pydicom looks again, and decides
        return _pydicom_read(path, force=not has_dicm)


def _pydicom_confirms_truncation(path: str, force: bool, detail: str) -> HeaderRecord:
    """The fast walk found an element longer than the file: quarantine the file only if pydicom agrees.

    pydicom reads a cut value short without an error, so the check is on its raw elements: the whole file
    is read (pixel data too: this is the rare path) and a top-level value shorter than its declared length,
    or an error, confirms the cut. A file pydicom reads whole was misread by the fast walk: pydicom's
    header read gives the record.
    """
    import pydicom
    from pydicom.dataelem import RawDataElement

    try:
        with quiet_pydicom():
            ds = pydicom.dcmread(path, force=force)
            cut = any(isinstance(raw, RawDataElement) and raw.value is not None and raw.length != 0xFFFFFFFF
                      and len(raw.value) < raw.length for raw in ds._dict.values())
    except Exception:  # pydicom fails too, in one of its many ways
        cut = True
    if cut:
        raise DicomQuarantine(path, "truncated", detail)
    return _pydicom_read(path, force)


def _read_one(path: str | os.PathLike[str]) -> HeaderRecord | Rejected:
    try:
        return read_header(path)
    except DicomSkip as exc:
        return Rejected("skip", exc.reason, exc.detail)
    except DicomQuarantine as exc:
        return Rejected("quarantine", exc.reason, exc.detail)


def _read_chunk(paths: list[str]) -> list[HeaderRecord | Rejected]:
    """A worker's share: the results only (the parent has the paths; sending them back costs IPC)."""
    return [_read_one(p) for p in paths]


def read_headers(
    paths: Iterable[str | os.PathLike[str]], workers: int = 1, chunksize: int = 256
) -> Iterator[tuple[str, HeaderRecord | Rejected]]:
    """Read many files, in order: yield (path, HeaderRecord) or (path, Rejected(action, reason, detail)).

    ``workers`` > 1 reads in that many processes; the paths are streamed in chunks of ``chunksize``
    with a bounded number in flight, so the input is never materialised as a whole. Never raises for a
    bad file.
    """
    if workers <= 1:
        for p in paths:
            yield os.fspath(p), _read_one(p)
        return

    def chunks() -> Iterator[list[str]]:
        chunk: list[str] = []
        for p in paths:
            chunk.append(os.fspath(p))
            if len(chunk) >= chunksize:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    # At most 4 chunks per worker in flight: order is kept and memory stays bounded for any input
    # (Pool.imap would drain the whole input into its task queue).
    with multiprocessing.get_context().Pool(workers) as pool:
        pending: deque[tuple[list[str], AsyncResult[list[HeaderRecord | Rejected]]]] = deque()
        for chunk in chunks():
            pending.append((chunk, pool.apply_async(_read_chunk, (chunk,))))
            if len(pending) >= 4 * workers:
                done, result = pending.popleft()
                yield from zip(done, result.get())
        while pending:
            done, result = pending.popleft()
            yield from zip(done, result.get())
