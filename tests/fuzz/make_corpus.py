"""Build the header reader's fuzzing seeds and its arbiter corpus (both kept in the repository).

    python tests/fuzz/make_corpus.py        # rewrites tests/fuzz/seeds/ and tests/fuzz/arbiter_corpus.tar.xz

Seeds (tests/fuzz/seeds/): small copies of files bundled with pydicom (MIT licence; see tests/fuzz/README.md)
in each encoding and shape the fast walk handles: explicit VR little endian CT, implicit VR little endian MR,
explicit VR big endian MR, an enhanced multi-frame CT with its functional groups in explicit VR and again in
implicit VR with every sequence and item of undefined length, a file with a private UN sequence of
undefined length, and the enhanced CT again with undefined lengths and 4x4 frames, so that its 64 bytes of pixel
data are what the header says (the pixel data probe after the first frame's groups). Pixel data is cut to 64
bytes (the reader never looks at it; the files stay small).

Arbiter corpus (tests/fuzz/arbiter_corpus.tar.xz): deterministic damaged copies of the seeds, made to hit
what issue 13 found the fast walk got wrong: a tag corrupted to one above (5200,9230), an item or delimiter
tag (FFFE,E000/E00D/E0DD) at the top level, odd VRs, two elements swapped, plus bit flips, odd lengths and
cuts. tests/test_dicom_reader.py requires that the reader quarantines a file only where pydicom fails too.
"""

from __future__ import annotations

import io
import random
import struct
import tarfile
import warnings
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.sequence import Sequence

HERE = Path(__file__).resolve().parent
SEEDS = HERE / "seeds"
CORPUS = HERE / "arbiter_corpus.tar.xz"
_LONG = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"}


def _small(name: str, implicit: bool | None = None, little: bool | None = None, undefined: bool = False,
           size: int | None = None) -> bytes:
    """``name`` with 64 bytes of pixel data (``size``: Rows = Columns = size, so that the header says how long
    the pixel data is), in the encoding asked for, every sequence and item of undefined length if asked."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file(name))
        if size is not None:
            ds.Rows = ds.Columns = size
        if "PixelData" in ds:
            ds.PixelData = bytes(64)
            ds["PixelData"].VR = "OB" if ds["PixelData"].VR == "OB or OW" else ds["PixelData"].VR
        if undefined:
            for elem in ds.iterall():
                if elem.VR == "SQ":
                    elem.is_undefined_length = True
                    for item in elem.value:
                        item.is_undefined_length_sequence_item = True
        kwargs = {}
        if implicit is not None:
            kwargs = {"implicit_vr": implicit, "little_endian": little}
            ds.file_meta.TransferSyntaxUID = ("1.2.840.10008.1.2" if implicit else
                                              "1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True, **kwargs)
    return out.getvalue()


def _with_private_un_sequence() -> bytes:
    """CT_small with a private sequence (0029,1010) stored as UN of undefined length, as a PACS may send it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.PixelData = bytes(64)
        inner = pydicom.Dataset()
        inner.add_new(0x00291001, "LO", "inner text")
        ds.add_new(0x00290010, "LO", "RCDM FUZZ")
        ds.add_new(0x00291010, "SQ", Sequence([inner, inner]))
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
    data = out.getvalue()
    at = data.find(b"\x29\x00\x10\x10SQ")
    assert at > 0
    # the same bytes with VR UN and undefined length: items are then implicit VR little endian, delimited
    length = struct.unpack_from("<L", data, at + 8)[0]
    body = data[at + 12 : at + 12 + length]
    items = b""
    pos = 0
    while pos < len(body):
        item_len = struct.unpack_from("<L", body, pos + 4)[0]
        items += b"\xfe\xff\x00\xe0" + struct.pack("<L", 0xFFFFFFFF) + _implicit(body[pos + 8 : pos + 8 + item_len])
        items += b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
        pos += 8 + item_len
    seq = b"\x29\x00\x10\x10UN\x00\x00\xff\xff\xff\xff" + items + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return data[:at] + seq + data[at + 12 + length :]


def _implicit(explicit: bytes) -> bytes:
    """Short explicit VR little endian elements rewritten as implicit VR little endian."""
    out, pos = b"", 0
    while pos < len(explicit):
        tag, vr = explicit[pos : pos + 4], explicit[pos + 4 : pos + 6].decode()
        if vr in _LONG:
            length, hdr = struct.unpack_from("<L", explicit, pos + 8)[0], 12
        else:
            length, hdr = struct.unpack_from("<H", explicit, pos + 6)[0], 8
        out += tag + struct.pack("<L", length) + explicit[pos + hdr : pos + hdr + length]
        pos += hdr + length
    return out


def seeds() -> dict[str, bytes]:
    return {
        "ct_explicit_le.dcm": _small("CT_small.dcm"),
        "mr_implicit_le.dcm": _small("MR_small_implicit.dcm"),
        "mr_explicit_be.dcm": _small("MR_small_bigendian.dcm"),
        "enhanced_ct_explicit.dcm": _small("eCT_Supplemental.dcm"),
        "enhanced_ct_implicit_undefined.dcm": _small("eCT_Supplemental.dcm", True, True, undefined=True),
        "enhanced_mr_undefined.dcm": _small("liver_1frame.dcm", undefined=True),
        "ct_private_un_sequence.dcm": _with_private_un_sequence(),
        # 2 frames of 4x4 16-bit pixels: 64 bytes, as the header says, so that the walk after the first frame's
        # groups takes the pixel data probe (reader._Walker._frames_end), not the skip of the other frames
        "enhanced_ct_undefined_probe.dcm": _small("eCT_Supplemental.dcm", undefined=True, size=4),
    }


def _boundaries(data: bytes) -> list[tuple[int, int]]:
    """(offset, header length) of each top-level element after the file meta, as pydicom reads them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(io.BytesIO(data), defer_size=None)
    implicit = ds.original_encoding[0]
    out = []
    for raw in ds._dict.values():
        if isinstance(raw, RawDataElement):
            hdr = 8 if implicit or raw.VR not in _LONG else 12
            out.append((raw.value_tell - hdr, hdr))
    return sorted(out)


def mutants(name: str, data: bytes, rng: random.Random, n: int) -> list[bytes]:
    little = b"1.2.840.10008.1.2.2\x00" not in data[:600]
    order = "<" if little else ">"
    elements = _boundaries(data)
    out = []
    for i in range(n):
        copy = bytearray(data)
        at, hdr = rng.choice(elements)
        kind = i % 8
        if kind == 0:  # a tag corrupted to one above (5200,9230)
            group = rng.choice([0x5400, 0x6000, 0x7FE0, 0x7FE1, 0xFFFA, 0xFFFC, 0xFFFF, 0x8000])
            copy[at : at + 2] = struct.pack(order + "H", group)
        elif kind == 1:  # an item or delimiter tag at the top level, inserted before an element
            elem = rng.choice([0xE000, 0xE00D, 0xE0DD])
            length = rng.choice([0, 0xFFFFFFFF, 4])
            copy[at:at] = struct.pack(order + "HHL", 0xFFFE, elem, length) + (b"\0" * 4 if length == 4 else b"")
        elif kind == 2 and hdr == 12 or kind == 2 and b"DICM" in data[128:132] and little and hdr == 8:
            copy[at + 4 : at + 6] = rng.choice([b"XX", b"\x00\x00", b"ui", b"  ", b"OX"])  # odd VR
        elif kind == 3:  # two adjacent elements swapped
            j = elements.index((at, hdr))
            if j + 2 < len(elements):
                a, b, c = elements[j][0], elements[j + 1][0], elements[j + 2][0]
                copy[a:c] = copy[b:c] + copy[a:b]
        elif kind == 4:
            copy[rng.randrange(132, len(copy))] ^= 1 << rng.randrange(8)
        elif kind == 5:  # an odd length
            off = at + (8 if hdr == 12 else 6)
            width = 4 if hdr == 12 else 2
            copy[off : off + width] = rng.choice([b"\xff" * width, b"\x01" + b"\0" * (width - 1),
                                                  bytes(rng.randrange(256) for _ in range(width))])
        elif kind == 6:
            del copy[rng.randrange(at, len(copy)) :]
        else:  # the tag of a wanted element changed to a neighbour
            copy[at + 2] ^= 1 << rng.randrange(3)
        out.append(bytes(copy))
    return out


def main() -> None:
    SEEDS.mkdir(exist_ok=True)
    rng = random.Random(13)
    all_seeds = seeds()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for name, data in all_seeds.items():
            (SEEDS / name).write_bytes(data)
            for i, damaged in enumerate(mutants(name, data, rng, 64)):
                info = tarfile.TarInfo(f"{Path(name).stem}_{i:03d}.dcm")
                info.size, info.mtime = len(damaged), 0
                tar.addfile(info, io.BytesIO(damaged))
    CORPUS.write_bytes(buffer.getvalue())
    print(f"{len(all_seeds)} seeds, {len(all_seeds) * 64} damaged copies, {CORPUS.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
