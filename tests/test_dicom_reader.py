"""The header reader against pydicom (the arbiter) on every file bundled with pydicom and pydicom-data."""

from __future__ import annotations

import gzip
import logging
import os
import pickle
import struct
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_files
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence

from rcdm.dicom import reader
from rcdm.dicom.reader import (
    QUARANTINE_REASONS,
    SKIP_REASONS,
    DicomQuarantine,
    DicomSkip,
    HeaderRecord,
    Rejected,
    read_header,
    read_headers,
    record_from_dataset,
)

ALL_FILES = sorted({p for p in get_testdata_files() + get_charset_files() if os.path.isfile(p)})
BY_NAME = {}
FUZZ = Path(__file__).resolve().parent / "fuzz"  # seeds and the arbiter corpus (tests/fuzz/make_corpus.py)
for _p in ALL_FILES:
    BY_NAME.setdefault(os.path.basename(_p), _p)


def _name(path: str) -> str:
    norm = path.replace(os.sep, "/")
    for marker in ("/test_files/", "/charset_files/", "/data_store/data/"):
        if marker in norm:
            return norm.split(marker, 1)[1]
    return os.path.basename(path)


def _outcome(path: str) -> tuple[str, HeaderRecord | None]:
    try:
        return "read", read_header(path)
    except DicomSkip as exc:
        assert exc.reason in SKIP_REASONS
        return f"skip:{exc.reason}", None
    except DicomQuarantine as exc:
        assert exc.reason in QUARANTINE_REASONS
        return f"quarantine:{exc.reason}", None


def _arbiter(path: str):
    """pydicom's own reading of the file; force=True only for files pydicom refuses without it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path)
        except InvalidDicomError:
            ds = pydicom.dcmread(path, force=True)
        if len(ds) == 0:  # e.g. compressed pixel data cut short: the full read returns nothing
            ds = pydicom.dcmread(path, stop_before_pixels=True)
    return ds


# Files whose outcome is known (name relative to pydicom's data folders).
EXPECTED = {
    "CT_small.dcm": "read",
    "MR_small_bigendian.dcm": "read",
    "MR_small_implicit.dcm": "read",
    "image_dfl.dcm": "read",  # deflated: through pydicom
    "ExplVR_LitEndNoMeta.dcm": "read",  # no preamble, no meta, explicit VR little endian
    "ExplVR_BigEndNoMeta.dcm": "read",
    "rtstruct.dcm": "read",  # no preamble, implicit VR
    "badVR.dcm": "read",
    "emri_small_jpeg_2k_lossless_too_short.dcm": "read",  # header intact, compressed pixels cut short
    "MR_truncated.dcm": "quarantine:truncated",
    "rtplan_truncated.dcm": "quarantine:truncated",  # ends inside a value
    "no_meta.dcm": "skip:not_dicom",  # starts one byte off: garbage
    "zipMR.gz": "skip:not_dicom",
    "README.txt": "skip:not_dicom",
    "test1.json": "skip:not_dicom",
    "rtplan.dump": "skip:not_dicom",
    "crayons.icc": "skip:not_dicom",
    "dicomdirtests/DICOMDIR": "skip:dicomdir",
    "dicomdirtests/DICOMDIR-bigEnd": "skip:dicomdir",
    "dicomdirtests/DICOMDIR-implicit": "skip:dicomdir",
    "dicomdirtests/DICOMDIR-empty.dcm": "skip:dicomdir",
    "chrSQEncoding.dcm": "quarantine:missing_uid",
}


@pytest.fixture(params=["compiled", "python"])
def walk(request, monkeypatch) -> str:
    """Run a test with the compiled scanner (rcdm/dicom/_scan.c) and again with its pure-Python twin."""
    if request.param == "python":
        monkeypatch.setattr(reader, "_TOP_SCANNER", None)
        monkeypatch.setattr(reader, "_META_SCANNER", None)
    elif not reader.ACCELERATED:
        if os.environ.get("CI"):
            pytest.fail("CI must build the compiled scanner rcdm.dicom._scan (pip install -e . with gcc)")
        pytest.skip("the compiled scanner rcdm.dicom._scan is not built here")
    return request.param


@pytest.mark.parametrize("path", ALL_FILES, ids=_name)
def test_every_bundled_file_agrees_with_pydicom(path: str, walk: str) -> None:
    outcome, record = _outcome(path)
    name = _name(path)
    if name in EXPECTED:
        assert outcome == EXPECTED[name]
    if record is None:
        return
    assert isinstance(record, HeaderRecord)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = record_from_dataset(_arbiter(path))
    assert expected is not None, "pydicom finds no UIDs where the reader did"
    mismatches = {
        field: (value, getattr(expected, field))
        for field, value in record.as_dict().items()
        if getattr(expected, field) != value
    }
    assert not mismatches


def test_the_fast_path_reads_nearly_every_file() -> None:
    """The arbiter test above must exercise the fast path, not only the pydicom fallback."""
    fast, dicom = 0, 0
    for path in ALL_FILES:
        if _outcome(path)[0] != "read":
            continue
        dicom += 1
        with open(path, "rb") as f:
            src = reader._Source(f.fileno(), os.path.getsize(path))
            try:
                reader._fast_read(src)
                fast += 1
            except reader._Unusual:
                pass
    assert dicom > 200
    assert fast >= dicom - 5


def test_the_fast_path_handles_each_encoding() -> None:
    for name in ("CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "explicit_VR-UN.dcm",
                 "chrKoreanMulti.dcm", "liver_1frame.dcm", "rtstruct.dcm", "ExplVR_BigEndNoMeta.dcm"):
        if name not in BY_NAME:  # explicit_VR-UN.dcm comes with pydicom-data
            continue
        path = BY_NAME[name]
        with open(path, "rb") as f:
            values, decoded, *_ = reader._fast_read(reader._Source(f.fileno(), os.path.getsize(path)))
        assert "SOPInstanceUID" in values or "SOPInstanceUID" in decoded, name


def test_absent_and_empty_are_kept_apart(walk: str) -> None:
    record = read_header(BY_NAME["CT_small.dcm"])
    assert record.laterality == ""  # present, empty
    assert record.body_part_examined is None  # absent
    assert record.modality == "CT"
    assert record.rows == 128 and record.columns == 128
    assert record.image_orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert record.image_type == ("ORIGINAL", "PRIMARY", "AXIAL")


def test_enhanced_multiframe_values_come_from_the_functional_groups(walk: str) -> None:
    checked = 0
    for name in ("liver_1frame.dcm", "eCT_Supplemental.dcm", "emri_small.dcm", "liver.dcm"):
        if name not in BY_NAME:
            continue
        record = read_header(BY_NAME[name])
        ds = pydicom.dcmread(BY_NAME[name], stop_before_pixels=True)
        if "SharedFunctionalGroupsSequence" not in ds:  # emri_small.dcm: groups stripped
            continue
        assert "ImageOrientationPatient" not in ds
        assert record.functional_groups
        groups = [ds[k].value[0] for k in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence")
                  if k in ds and len(ds[k].value)]
        orientation = next(
            (tuple(float(v) for v in g.PlaneOrientationSequence[0].ImageOrientationPatient)
             for g in groups if "PlaneOrientationSequence" in g),
            None,
        )
        thickness = next(
            (float(g.PixelMeasuresSequence[0].SliceThickness) for g in groups
             if "PixelMeasuresSequence" in g and "SliceThickness" in g.PixelMeasuresSequence[0]),
            None,
        )
        assert record.image_orientation == orientation
        assert record.slice_thickness == thickness
        checked += 1
    assert checked >= 2


CHARSET_CASES = [
    ("chrKoreanMulti.dcm", None),
    ("chrI2.dcm", None),
    ("chrH31.dcm", None),
    ("chrH32.dcm", None),
    ("chrJapMulti.dcm", None),
    ("chrX2.dcm", None),  # GB18030
    ("chrArab.dcm", None),
    ("chrHbrw.dcm", None),
    ("chrGreek.dcm", None),
    ("chrRuss.dcm", None),
    ("chrX1.dcm", None),  # UTF-8
    ("chrFrenMulti.dcm", None),
]


@pytest.mark.parametrize("name", [c[0] for c in CHARSET_CASES])
def test_text_in_each_character_set_decodes_like_pydicom(name: str, tmp_path: Path, walk: str) -> None:
    """Put the file's own (non-ASCII) patient name into the LO fields we read, in the file's charset."""
    ds = pydicom.dcmread(BY_NAME[name])
    text = str(ds.PatientName).replace("\\", "/")
    assert not text.isascii()
    ds.StudyDescription = text
    ds.SeriesDescription = text[:10]
    ds.ProtocolName = text + "  "
    path = tmp_path / name
    ds.save_as(path)
    record = read_header(path)
    arbiter = pydicom.dcmread(path)
    assert record.study_description == arbiter.StudyDescription == text
    assert record.series_description == arbiter.SeriesDescription
    assert record.protocol_name == arbiter.ProtocolName
    charset = ds.SpecificCharacterSet
    assert record.specific_character_set == ((charset,) if isinstance(charset, str) else tuple(charset))


def test_korean_utf8_and_gb18030_written_by_pydicom(tmp_path: Path, walk: str) -> None:
    for charset, text in (("ISO_IR 192", "뇌 CT 조영 증강"), ("GB18030", "头部CT增强"),
                          (["", "ISO 2022 IR 149"], "흉부 조영"), ("ISO_IR 127", "تصوير مقطعي")):
        ds = pydicom.dcmread(BY_NAME["MR_small.dcm"])
        ds.SpecificCharacterSet = charset
        ds.StudyDescription = text
        path = tmp_path / "x.dcm"
        ds.save_as(path)
        assert read_header(path).study_description == text == pydicom.dcmread(path).StudyDescription


# --- files that are not images, or broken -----------------------------------------------------------

def _expect(path, outcome: str) -> None:
    assert _outcome(str(path))[0] == outcome


def test_empty_file_directory_and_text(tmp_path: Path) -> None:
    (tmp_path / "empty.dcm").write_bytes(b"")
    _expect(tmp_path / "empty.dcm", "skip:empty_file")
    _expect(tmp_path, "skip:not_a_file")
    (tmp_path / "notes.txt").write_text("hello\n" * 100)
    _expect(tmp_path / "notes.txt", "skip:not_dicom")
    (tmp_path / "tiny").write_bytes(b"\x08\x00")
    _expect(tmp_path / "tiny", "skip:not_dicom")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    _expect(tmp_path / "pipe", "skip:not_a_file")


def test_gzip_of_a_dicom_file_is_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "ct.dcm.gz"
    path.write_bytes(gzip.compress(Path(BY_NAME["CT_small.dcm"]).read_bytes()))
    _expect(path, "skip:not_dicom")


def test_random_bytes_never_parse(tmp_path: Path, walk: str) -> None:
    import random

    rng = random.Random(7)
    for i in range(50):
        path = tmp_path / f"r{i}.dcm"
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))
        outcome, _ = _outcome(str(path))
        assert outcome.startswith(("skip:", "quarantine:"))


def test_truncated_copies_never_crash(tmp_path: Path, walk: str) -> None:
    data = Path(BY_NAME["CT_small.dcm"]).read_bytes()
    PIXEL_DATA_END = data.find(b"\xe0\x7f\x10\x00OW") + 12 + 128 * 128 * 2
    outcomes = set()
    for cut in list(range(1, 200, 7)) + list(range(200, len(data), 997)):
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(data[:cut])
        outcome, _ = _outcome(str(path))
        outcomes.add(outcome)
        if 140 < cut <= PIXEL_DATA_END:  # after that only trailing padding (FFFC,FFFC) is cut
            assert outcome in ("quarantine:truncated", "quarantine:missing_uid"), (cut, outcome)
    assert "quarantine:truncated" in outcomes


def _with_walk(mode: str, fn, *args):
    """fn(*args) with the compiled scanner (mode "compiled": one FileWalk call a read where it can), its scans
    driven from Python ("stepwise": no FileWalk) or without it ("python")."""
    if mode == "compiled":
        return fn(*args)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reader, "_FILE_SPEC", None)
        if mode == "python":
            patch.setattr(reader, "_TOP_SCANNER", None)
            patch.setattr(reader, "_META_SCANNER", None)
        return fn(*args)


def _mutations(data: bytes, rng, n: int):
    """n damaged copies of a file: flipped bytes, overwritten lengths and tags, cuts, in its header."""
    header_end = min(len(data), max(data.find(b"\xe0\x7f\x10\x00"), 400))
    for _ in range(n):
        copy = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            if min(header_end, len(copy)) <= 129:
                break
            at = rng.randrange(128, min(header_end, len(copy)))
            kind = rng.randrange(4)
            if kind == 0:
                copy[at] ^= 1 << rng.randrange(8)
            elif kind == 1:  # a huge or odd 16/32-bit length or tag
                copy[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\xfe\xff\x00\xe0", b"\x00\x00\x00\x80",
                                                bytes(rng.randrange(256) for _ in range(4))])
            elif kind == 2:
                copy[at : at + 2] = rng.choice([b"SQ", b"UN", b"OB", b"XX", b"UT", b"\x00\x00"])
            else:
                del copy[rng.randrange(at, len(copy)) :]
        yield bytes(copy)


#: Seeds (tests/fuzz/seeds, built by tests/fuzz/make_corpus.py) of the paths the compiled walk took over.
SEEDS_OF_EACH_PATH = ("mr_implicit_le.dcm", "mr_explicit_be.dcm", "enhanced_ct_implicit_undefined.dcm",
                      "enhanced_mr_undefined.dcm", "ct_private_un_sequence.dcm", "enhanced_ct_undefined_probe.dcm")

#: The files damaged by test_compiled_and_python_walks_agree_on_damaged_files (150 copies each).
DAMAGED_SOURCES = (("CT_small.dcm", "MR_small.dcm", "liver_1frame.dcm", "chrX1.dcm", "rtplan.dcm", "JPEG2000.dcm")
                   + tuple(f"seeds/{name}" for name in SEEDS_OF_EACH_PATH))


@pytest.mark.slow
@pytest.mark.skipif(not reader.ACCELERATED and not os.environ.get("CI"), reason="the compiled scanner is not built")
@pytest.mark.parametrize("source", DAMAGED_SOURCES)
def test_compiled_and_python_walks_agree_on_damaged_files(source: str, tmp_path: Path) -> None:
    """Memory-safety and parity of the C walk: 150 damaged headers of each source, same outcome and record both
    ways (seeded per source: a failure reproduces alone)."""
    import random

    assert reader.ACCELERATED, "CI must build rcdm.dicom._scan"
    rng = random.Random(f"2026:{source}")
    data = Path(str(FUZZ / source) if source.startswith("seeds/") else BY_NAME[source]).read_bytes()
    compared = 0
    for i, damaged in enumerate(_mutations(data, rng, 150)):
        path = tmp_path / f"{i}.dcm"
        path.write_bytes(damaged)
        compiled = _with_walk("compiled", _outcome, str(path))
        assert compiled == _with_walk("python", _outcome, str(path)), (source, i)
        assert compiled == _with_walk("stepwise", _outcome, str(path)), (source, i)
        compared += 1
    assert compared == 150


#: Values of the fields FileWalk converts itself (rcdm/dicom/_scan.c, assemble), plain and odd: each must give
#: the record the Python conversion gives, or be left to it.
_ODD_VALUES = {
    "SliceThickness": ["abc", "1\\2", " 1.5 ", "1_0", "nan", "-inf", "", "5", "0x10", "1e400", "\\"],
    "InstanceNumber": ["1.0", " 7 ", "1_000", "x", "", "-0", "99999999999999999999", "2\\3", "+4"],
    "NumberOfFrames": ["0", "3.5", "", "1e2", " 12"],
    "ImageOrientationPatient": ["1\\0\\0\\0\\1\\0", "1\\x", "", "2", "1\\\\0", " 1 \\ 0 "],
    "ImageType": ["", "ORIGINAL", "A\\B\\", "\\"],
    "SpecificCharacterSet": ["", "ISO_IR 100", "\\ISO 2022 IR 87", "ISO_IR 192"],
    "ContrastBolusAgent": ["", "OMNIPAQUE"],
    "SOPClassUID": ["1.2.840.10008.1.3.10", ""],
    "StudyInstanceUID": [""],
    "Modality": ["CT\\MR", ""],
}


#: A plain image's elements (tag: VR, value), into which _ODD_VALUES go one at a time.
_PLAIN_IMAGE = {
    0x00080005: ("CS", b"ISO_IR 100"), 0x00080008: ("CS", b"ORIGINAL\\PRIMARY"), 0x00080016: ("UI", b"1.2.840.10008.5.1.4.1.1.2"),
    0x00080018: ("UI", b"1.2.3.4.5.6"), 0x00080020: ("DA", b"20240102"), 0x00080060: ("CS", b"CT"),
    0x00100020: ("LO", b"PAT01"), 0x00180050: ("DS", b"2.5"), 0x0020000D: ("UI", b"1.2.3.4"),
    0x0020000E: ("UI", b"1.2.3.4.5"), 0x00200013: ("IS", b"3"), 0x00200037: ("DS", b"1\\0\\0\\0\\1\\0"),
    0x00280010: ("US", b"\x02\x00"), 0x00280011: ("US", b"\x02\x00"), 0x7FE00010: ("OW", b"\x00" * 8),
}
_TAGS = {"SliceThickness": 0x00180050, "InstanceNumber": 0x00200013, "NumberOfFrames": 0x00280008,
         "ImageOrientationPatient": 0x00200037, "ImageType": 0x00080008, "SpecificCharacterSet": 0x00080005,
         "ContrastBolusAgent": 0x00180010, "SOPClassUID": 0x00080016, "StudyInstanceUID": 0x0020000D,
         "Modality": 0x00080060, "Rows": 0x00280010}
_VRS = {"SliceThickness": "DS", "InstanceNumber": "IS", "NumberOfFrames": "IS", "ImageOrientationPatient": "DS",
        "ImageType": "CS", "SpecificCharacterSet": "CS", "ContrastBolusAgent": "LO", "SOPClassUID": "UI",
        "StudyInstanceUID": "UI", "Modality": "CS", "Rows": "US"}


def _dicom_file(elements: dict[int, tuple[str, bytes]], ts: str) -> bytes:
    """A file of ``elements`` (tag: (VR, value), values padded to an even length) in transfer syntax ``ts``."""
    implicit, little = ts == "1.2.840.10008.1.2", ts != "1.2.840.10008.1.2.2"
    order = "<" if little else ">"

    def element(tag: int, vr: str, value: bytes, implicit: bool, order: str) -> bytes:
        value += b"\x00" if len(value) % 2 and vr in ("UI", "OB", "OW") else b" " * (len(value) % 2)
        head = struct.pack(order + "HH", tag >> 16, tag & 0xFFFF)
        if implicit:
            return head + struct.pack(order + "L", len(value)) + value
        if vr in ("OB", "OW", "SQ", "UN", "UT", "UC", "UR"):
            return head + vr.encode() + b"\x00\x00" + struct.pack(order + "L", len(value)) + value
        return head + vr.encode() + struct.pack(order + "H", len(value)) + value

    meta = b"".join(element(tag, vr, value, False, "<") for tag, vr, value in (
        (0x00020001, "OB", b"\x00\x01"), (0x00020002, "UI", elements.get(0x00080016, ("UI", b"1.2"))[1]),
        (0x00020003, "UI", elements[0x00080018][1]), (0x00020010, "UI", ts.encode())))
    meta = element(0x00020000, "UL", struct.pack("<L", len(meta)), False, "<") + meta
    body = b"".join(element(tag, vr, value, implicit, order) for tag, (vr, value) in sorted(elements.items()))
    return b"\x00" * 128 + b"DICM" + meta + body


@pytest.mark.skipif(not reader.ACCELERATED and not os.environ.get("CI"), reason="the compiled scanner is not built")
def test_the_one_call_read_gives_what_the_stepwise_read_gives(tmp_path: Path) -> None:
    """FileWalk (one C call: file meta, walk, the check up to Pixel Data and the record) against the scans
    driven from Python and the pure-Python twin, on odd values of every field it converts itself, in each
    encoding it reads; and it is the way plain files are read."""
    read_at_once = 0
    cases = [(keyword, value.encode()) for keyword, values in _ODD_VALUES.items() for value in values]
    cases += [(keyword, None) for keyword in _TAGS] + [("Rows", b"\x01\x00\x02\x00"), ("Rows", b"\x01")]
    for ts in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.50"):
        for i, (keyword, value) in enumerate(cases):
            elements = dict(_PLAIN_IMAGE)
            if ts == "1.2.840.10008.1.2.2":
                elements.update({0x00280010: ("US", b"\x00\x02"), 0x00280011: ("US", b"\x00\x02")})
            if value is None:
                elements.pop(_TAGS[keyword], None)
            else:
                elements[_TAGS[keyword]] = (_VRS[keyword], value)
            path = tmp_path / f"{ts}_{i}.dcm"
            path.write_bytes(_dicom_file(elements, ts))
            outcomes = [repr(_with_walk(mode, _outcome, str(path))) for mode in ("compiled", "stepwise", "python")]
            assert outcomes[0] == outcomes[1] == outcomes[2], (ts, keyword, value)  # repr: nan equals nan
            with open(path, "rb") as f:
                found = reader._compiled_read(reader._Source(f.fileno(), os.path.getsize(path)))
            read_at_once += found.__class__ is HeaderRecord
    assert read_at_once > 150


def test_implicit_big_endian_and_undefined_lengths_stay_in_the_compiled_walk(monkeypatch) -> None:
    """The compiled walk reads these whole, functional groups included: neither the Python twin nor the
    general (sequence) walker takes over; the record equals pydicom's."""
    if not reader.ACCELERATED and not os.environ.get("CI"):  # CI builds it: there the test must run
        pytest.skip("the compiled scanner is not built")

    def no_twin(*args):
        raise AssertionError("the pure-Python top-level walk took over")

    monkeypatch.setattr(reader._Walker, "_walk_top_py", no_twin)
    monkeypatch.setattr(reader._Walker, "walk", no_twin)
    monkeypatch.setattr(reader._Walker, "_items", no_twin)
    for name in SEEDS_OF_EACH_PATH:
        path = str(FUZZ / "seeds" / name)
        with open(path, "rb") as f:
            values, decoded, *_ = reader._fast_read(reader._Source(f.fileno(), os.path.getsize(path)))
        assert "SOPInstanceUID" in decoded, name
        assert set(values) <= {"SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence",
                               "ContrastBolusAgentSequence", "Rows", "Columns", "BitsAllocated",
                               "SamplesPerPixel"}, (name, set(values))
        assert read_header(path) == record_from_dataset(pydicom.dcmread(path, stop_before_pixels=True)), name


def test_the_dictionary_vrs_of_the_compiled_implicit_walk_are_pydicoms() -> None:
    from pydicom.datadict import dictionary_VR

    plain = {tag for tag, spec in reader._WANTED.items() if isinstance(spec, str)}
    assert set(reader._DICTIONARY_VRS) == plain
    assert all(dictionary_VR(tag) == vr for tag, vr in reader._DICTIONARY_VRS.items())
    in_items = {tag for spec in reader._WANTED.values() if isinstance(spec, tuple)
                for tag in reader._flatten_tags(spec[1]) if not isinstance(_spec_of(tag, spec[1]), tuple)}
    assert set(reader._ITEM_DICTIONARY_VRS) == in_items
    assert all(dictionary_VR(tag) == vr for tag, vr in reader._ITEM_DICTIONARY_VRS.items())


def _spec_of(tag: int, tree: dict) -> object:
    """The spec of ``tag`` anywhere in a wanted tree (a keyword, or a (keyword, subtree) sequence spec)."""
    for key, spec in tree.items():
        if key == tag:
            return spec
        if isinstance(spec, tuple) and (found := _spec_of(tag, spec[1])) is not None:
            return found
    return None


#: A value of each sort the compiled decoder must treat exactly as Python does (or leave to Python).
_PLAIN = [b" ", b" ", b"\\", b"\x00", b"A", b"z", b"1", b".", b"-", b"^"]
_ODD = [b"\t", b"\x1f", b"\x7f", b"\xe9", b"\x1b", b"\x85", b"\xa0"]  # whitespace to str.strip(), non-ASCII, ESC


@pytest.mark.skipif(not reader.ACCELERATED and not os.environ.get("CI"), reason="the compiled scanner is not built")
def test_compiled_decoding_equals_the_python_decoders() -> None:
    import random

    from rcdm.dicom import _scan

    rng = random.Random(11)
    scanner = _scan.Scanner({0x00080060: "Modality"}, 0, 0xFFFFFFFF)
    decoded_by_c = 0
    for vr in ("AE", "AS", "CS", "DA", "DT", "TM", "UR", "DS", "IS", "UI", "SH", "LO", "UC", "ST", "LT", "UT",
               "PN", "US"):
        for _ in range(400):
            raw = b"".join(rng.choice(_ODD if rng.random() < 0.03 else _PLAIN) for _ in range(rng.randrange(0, 14)))
            if vr in ("UC", "UR", "UT"):
                element = b"\x08\x00\x60\x00" + vr.encode() + b"\x00\x00" + struct.pack("<L", len(raw)) + raw
            else:
                element = b"\x08\x00\x60\x00" + vr.encode() + struct.pack("<H", len(raw)) + raw
            out, done = {}, {}
            step, *_ = scanner.scan(element + b"\x09\x00\x10\x00LO\x04\x00ABCD", 0, -1, out, done)
            assert step == 1  # walked to the end of the buffer
            try:
                expected = reader._convert_fast({"Modality": (vr, raw)}, True)["Modality"]
            except reader._Unusual:  # PN: pydicom reads the file
                expected = "unusual"
            if "Modality" in done:
                decoded_by_c += 1
                assert done["Modality"] == expected, (vr, raw)
            else:
                assert out["Modality"] == (vr, raw)
                assert vr in ("PN", "US") or any(b < 0x20 and b != 0 or b > 0x7E for b in raw), (vr, raw)
    assert decoded_by_c > 2000


def test_reading_never_warns_or_logs(caplog) -> None:
    """pydicom's warnings and log records quote values (a patient's, maybe): none may escape a read."""
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in ALL_FILES:
            _outcome(path)
    assert not [r for r in caplog.records if r.name.startswith("pydicom")]


def test_missing_uids_are_quarantined(tmp_path: Path) -> None:
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        ds = pydicom.dcmread(BY_NAME["MR_small.dcm"])
        delattr(ds, keyword)
        path = tmp_path / f"no_{keyword}.dcm"
        ds.save_as(path)
        _expect(path, "quarantine:missing_uid")
    ds = pydicom.dcmread(BY_NAME["MR_small.dcm"])
    ds.SOPInstanceUID = ""
    ds.save_as(tmp_path / "empty_uid.dcm")
    _expect(tmp_path / "empty_uid.dcm", "quarantine:missing_uid")


def test_symlinks_are_followed_and_broken_ones_quarantined(tmp_path: Path) -> None:
    link = tmp_path / "link.dcm"
    link.symlink_to(BY_NAME["MR_small.dcm"])
    assert read_header(link) == read_header(BY_NAME["MR_small.dcm"])
    broken = tmp_path / "broken.dcm"
    broken.symlink_to(tmp_path / "nowhere.dcm")
    _expect(broken, "quarantine:broken_symlink")
    loop = tmp_path / "loop.dcm"
    loop.symlink_to(loop)
    _expect(loop, "quarantine:broken_symlink")


def test_permission_denied_is_quarantined(tmp_path: Path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(reader, "_open", refuse)
    _expect(BY_NAME["MR_small.dcm"], "quarantine:permission_denied")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read a mode-000 file")
def test_permission_denied_on_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "locked.dcm"
    path.write_bytes(Path(BY_NAME["MR_small.dcm"]).read_bytes())
    path.chmod(0)
    _expect(path, "quarantine:permission_denied")


def test_header_record_is_picklable_and_plain() -> None:
    record = read_header(BY_NAME["CT_small.dcm"])
    assert pickle.loads(pickle.dumps(record)) == record
    for value in record.as_dict().values():
        assert value is None or type(value) in (str, int, float, bool, tuple)
        if type(value) is tuple:
            assert all(type(v) in (str, float) for v in value)


def test_read_headers_in_order_with_one_and_two_processes(tmp_path: Path) -> None:
    (tmp_path / "junk.txt").write_text("not dicom")
    paths = [BY_NAME["CT_small.dcm"], str(tmp_path / "junk.txt"), BY_NAME["MR_truncated.dcm"],
             BY_NAME["MR_small.dcm"]] * 5
    one = list(read_headers(paths))
    two = list(read_headers(iter(paths), workers=2, chunksize=3))
    assert one == two
    assert [p for p, _ in one] == paths
    assert one[1][1] == Rejected("skip", "not_dicom", one[1][1].detail)
    assert one[2][1].action == "quarantine" and one[2][1].reason == "truncated"
    assert isinstance(one[3][1], HeaderRecord)


# --- pydicom is the arbiter: quarantine only where pydicom fails too (issue 13) ---------------------

def _pydicom_verdict(path: str) -> tuple[str, HeaderRecord | None, bool]:
    """What pydicom alone makes of a file: its header read ("read" with the record, "no_uid" or "fails"), and
    whether its full read fails or finds a value shorter than declared (pydicom reads a cut value short)."""
    from pydicom.dataelem import RawDataElement

    with open(path, "rb") as f:
        force = f.read(132)[128:132] != b"DICM"
    with reader.quiet_pydicom():
        try:
            record = record_from_dataset(pydicom.dcmread(path, stop_before_pixels=True, force=force))
            header = "read" if record is not None else "no_uid"
        except Exception:
            header, record = "fails", None
        try:
            ds = pydicom.dcmread(path, force=force)
            cut = any(isinstance(raw, RawDataElement) and raw.value is not None and raw.length != 0xFFFFFFFF
                      and len(raw.value) < raw.length for raw in ds._dict.values())
        except Exception:
            cut = True
    return header, record, cut


def _arbiter_names() -> list[str]:
    """The arbiter corpus (tests/fuzz/arbiter_corpus.tar.xz, 512 damaged files) and the fuzz seeds, by name."""
    import tarfile

    with tarfile.open(FUZZ / "arbiter_corpus.tar.xz") as tar:
        names = sorted(tar.getnames())
    return names + sorted(f"seeds/{p.name}" for p in (FUZZ / "seeds").iterdir())


@pytest.fixture(scope="module")
def arbiter_folder(tmp_path_factory) -> Path:
    import tarfile

    folder = tmp_path_factory.mktemp("arbiter")
    with tarfile.open(FUZZ / "arbiter_corpus.tar.xz") as tar:
        tar.extractall(folder, filter="data")
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("name", _arbiter_names())
def test_quarantine_only_where_pydicom_fails_too(arbiter_folder: Path, name: str, walk: str) -> None:
    """Over damaged files (tags corrupted above (5200,9230), top-level item tags, odd VRs, swapped elements,
    flips, odd lengths, cuts): a file pydicom reads whole is read, with pydicom's values; a quarantine is
    backed by pydicom failing, finding no UID, or finding a value cut short."""
    path = str(FUZZ / name if name.startswith("seeds/") else arbiter_folder / name)
    outcome, record = _outcome(path)
    header, expected, cut = _pydicom_verdict(path)
    if outcome == "read":
        assert header == "read" and record == expected
    elif outcome == "quarantine:truncated":
        assert cut
    elif outcome in ("quarantine:missing_uid", "quarantine:parse_error"):
        assert header in ("no_uid", "fails"), (outcome, header)
    else:
        assert outcome == "skip:not_dicom" and header in ("no_uid", "fails"), (outcome, header)


def test_most_of_the_arbiter_corpus_is_read(arbiter_folder: Path) -> None:
    """The damage leaves most files readable (the corpus tests reading, not only refusing)."""
    names = _arbiter_names()
    read = sum(_outcome(str(FUZZ / n if n.startswith("seeds/") else arbiter_folder / n))[0] == "read" for n in names)
    assert read > len(names) // 2, read


@pytest.mark.parametrize("case", ["corrupted_tag_above_last_wanted", "item_tag_at_top_level", "odd_vr"])
def test_the_cases_of_issue_13_follow_pydicom(case: str, tmp_path: Path, walk: str) -> None:
    """Each damage issue 13 saw end a fast read early (loading NULLs or quarantining as missing_uid): the
    reader now does what pydicom does. pydicom reads past a corrupted tag and a top-level item tag; it reads
    an unknown VR as the start of implicit VR and finds no UIDs after it, so the reader quarantines that."""
    data = bytearray(Path(BY_NAME["CT_small.dcm"]).read_bytes())
    at = data.find(b"\x18\x00\x50\x00DS")  # SliceThickness, before the UIDs of group 0020 and Rows/Columns
    if case == "corrupted_tag_above_last_wanted":
        data[at : at + 2] = b"\xff\xff"
    elif case == "item_tag_at_top_level":
        data[at:at] = b"\xfe\xff\x00\xe0\x00\x00\x00\x00"
    else:
        data[at + 4 : at + 6] = b"ds"
    path = tmp_path / f"{case}.dcm"
    path.write_bytes(bytes(data))
    outcome, record = _outcome(str(path))
    header, expected, _ = _pydicom_verdict(str(path))
    if case == "odd_vr":
        assert (outcome, header) == ("quarantine:missing_uid", "no_uid")
        return
    assert (outcome, header) == ("read", "read") and record == expected
    assert record.rows == 128 and record.instance_number is not None and record.image_orientation


def _enhanced_undefined(tmp_path: Path) -> Path:
    """eCT_Supplemental.dcm (2 frames) with every sequence of undefined length and 64x64 native pixel data."""
    ds = pydicom.dcmread(BY_NAME["eCT_Supplemental.dcm"])
    ds.Rows = ds.Columns = 64
    ds.PixelData = bytes(64 * 64 * 2 * int(ds.NumberOfFrames))
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
    path = tmp_path / "enhanced.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_undefined_length_frames_are_passed_by_the_pixel_data_probe(tmp_path: Path, walk: str) -> None:
    """After the first frame's groups the walk resumes at Pixel Data found where the header says it must be
    (the other frames are never read); a file cut inside the frames is still quarantined, as pydicom fails."""
    path = _enhanced_undefined(tmp_path)
    data = path.read_bytes()
    record = read_header(path)
    assert record == record_from_dataset(pydicom.dcmread(path, stop_before_pixels=True))
    assert record.functional_groups and record.slice_thickness is not None
    pixel_data = data.rfind(b"\xe0\x7f\x10\x00OB") if b"\xe0\x7f\x10\x00OB" in data else data.rfind(b"\xe0\x7f\x10\x00OW")
    calls: list[int] = []
    checks: list[int] = []
    original, check = reader._Walker._skip_items, reader._check_pixel_data
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reader._Walker, "_skip_items", lambda self, *a: calls.append(1) or original(self, *a))
        patch.setattr(reader, "_check_pixel_data", lambda *a: checks.append(1) or check(*a))
        assert read_header(path) == record
        # the probe found the pixel data ending the file: nothing skipped, nothing left to check after it
        assert not calls and not checks
        cut = tmp_path / "cut.dcm"
        cut.write_bytes(data[: pixel_data - 30])  # inside the last frame's groups
        assert _outcome(str(cut))[0] == "quarantine:truncated" and calls  # probe fails: skipped, cut found
        longer = tmp_path / "longer.dcm"  # pixel data one byte short of the file's end: no probe, the walk decides
        longer.write_bytes(data + b"\0")
        assert _outcome(str(longer)) == _with_walk("python", _outcome, str(longer))
    assert _pydicom_verdict(str(cut))[2]


class _Str(str):
    """A str the pixel data probe's fast path does not take (it checks the exact class): the general path."""


class _Int(int):
    pass


@pytest.mark.parametrize("frames", ["176", "0", "007", "\u0661\u0667", " 176", "17.0", "", "-1", "2\\3", 3, None])
@pytest.mark.parametrize("rows,samples,bits", [(64, 1, 16), (0, 1, 16), (64, None, 1), (64, 3, 8), (5, 1, 12)])
def test_the_pixel_length_fast_path_equals_the_general_one(frames, rows, samples, bits) -> None:
    """What the probe expects (Rows x Columns x frames x samples x bits, even) from the values as the compiled
    walk decodes them, by the fast path, equals the general path's (the same values as subclasses)."""
    def walker(exact: bool) -> reader._Walker:
        values = {"Rows": rows, "Columns": 64, "NumberOfFrames": frames, "SamplesPerPixel": samples,
                  "BitsAllocated": bits}
        if not exact:
            values = {k: _Str(v) if isinstance(v, str) else _Int(v) if isinstance(v, int) else v
                      for k, v in values.items()}
        found = reader._Walker(reader._Source.__new__(reader._Source), False, True)
        found.found = ({}, {k: v for k, v in values.items() if v is not None})
        return found

    fast, general = walker(True)._pixel_length(), walker(False)._pixel_length()
    assert fast == general
    if frames == "176" and rows and samples:
        length = (rows * 64 * 176 * samples * bits + 7) // 8
        assert fast == length + length % 2


def _group(**sequences: list[dict]) -> dict:
    return dict(sequences)


@pytest.mark.parametrize("shared,per_frame,expected", [
    # the shared groups first; a sequence whose first item lacks the value: the next item, then the next group
    ([_group(PixelMeasuresSequence=[{}, {"SliceThickness": "2"}])], [_group(PixelMeasuresSequence=[
        {"SliceThickness": "3"}])], (2.0, None, None, None, True)),
    ([_group(PixelMeasuresSequence=[{}])], [_group(PixelMeasuresSequence=[{"SliceThickness": "3"}])],
     (3.0, None, None, None, True)),
    ([], [_group(PlaneOrientationSequence=[{"ImageOrientationPatient": ["1", "0", "0", "0", "1", "0"]}])],
     (None, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), None, None, True)),
    ([_group()], [_group(PixelMeasuresSequence=[])], (None, None, None, None, False)),  # found nothing
    ([_group(MRImageFrameTypeSequence=[{"FrameType": ["ORIGINAL", "PRIMARY"]}],
             CTImageFrameTypeSequence=[{"FrameType": "DERIVED"}])], [],
     (None, None, ("ORIGINAL", "PRIMARY"), None, True)),  # the reader's order of frame type sequences: MR first
    ([_group(ContrastBolusUsageSequence=[{"ContrastBolusAgentAdministered": "NO"},
                                         {"ContrastBolusAgentAdministered": "YES"}])],
     [_group(ContrastBolusUsageSequence=[{"ContrastBolusAgentAdministered": "NO"}])],
     (None, None, None, "YES", True)),
    ([{}], [_group(PixelMeasuresSequence=[{"SliceThickness": "x"}])], (None, None, None, None, True)),
])
def test_functional_group_values_come_from_the_first_item_that_has_them(shared, per_frame, expected) -> None:
    values = {"SharedFunctionalGroupsSequence": shared, "PerFrameFunctionalGroupsSequence": per_frame}
    assert reader._functional_groups(values, None, None, None) == expected
    values["SliceThickness"] = values["ImageType"] = "5"  # present at the top level: kept, whatever the groups say
    thickness, _, image_type, *_ = reader._functional_groups(values, 5.0, None, ("A",))
    assert (thickness, image_type) == (5.0, ("A",))


def test_a_large_unwanted_value_is_skipped_without_reading_it(tmp_path: Path, walk: str) -> None:
    """Siemens MR headers carry ~92 KB of private CSA data between the wanted elements and the pixel data: the
    compiled walk jumps over it (the bytes are never read: the buffer starts after them); the record is
    pydicom's."""
    ds = pydicom.dcmread(BY_NAME["MR_small_implicit.dcm"])
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(0x00291010, "OB", b"\x01" * 92_000)
    path = tmp_path / "csa.dcm"
    ds.save_as(path, implicit_vr=True, little_endian=True)
    with open(path, "rb") as f:
        src = reader._Source(f.fileno(), os.path.getsize(path))
        values, decoded, *_ = reader._fast_read(src)
    csa = path.read_bytes().find(b"\x01" * 64)
    if walk == "compiled":
        assert src.base > csa + 16384 and b"\x01" * 64 not in src.buf
    else:
        assert src.base == 0 and src.buf[csa + 8192 : csa + 16384] == b"\x01" * 8192
    assert read_header(path) == record_from_dataset(pydicom.dcmread(path, stop_before_pixels=True))


def test_after_a_skip_the_python_walkers_see_the_whole_file(tmp_path: Path, walk: str) -> None:
    """Irregular data after a skipped CSA value reaches a Python walker, which indexes the buffer by file
    offset: the skipped bytes are read then (Source.flat), and the outcome is the one pydicom gives."""
    ds = pydicom.dcmread(BY_NAME["CT_small.dcm"])
    ds.add_new(0x00290010, "LO", "SIEMENS CSA HEADER")
    ds.add_new(0x00291010, "OB", b"\x01" * 92_000)
    inner = Dataset()
    for _ in range(40):  # nested deeper than C walks (MAX_DEPTH): Python walks it
        outer = Dataset()
        outer.ReferencedImageSequence = Sequence([inner])
        inner.is_undefined_length_sequence_item = True
        inner = outer
    group = Dataset()
    group.PixelMeasuresSequence = Sequence([Dataset()])
    group.PixelMeasuresSequence[0].SliceThickness = "2.5"
    group.ReferencedImageSequence = inner.ReferencedImageSequence
    for item in [group, *_nested(group)]:
        item["ReferencedImageSequence"].is_undefined_length = True
    ds.SharedFunctionalGroupsSequence = Sequence([group])
    irregular = tmp_path / "irregular.dcm"
    ds.save_as(irregular, implicit_vr=False, little_endian=True)
    del ds.SharedFunctionalGroupsSequence
    ds.add_new(0x00291020, "OB", b"\x02" * 4000)
    whole = tmp_path / "whole.dcm"
    ds.save_as(whole, implicit_vr=False, little_endian=True)
    cut = tmp_path / "cut.dcm"
    data = whole.read_bytes()
    cut.write_bytes(data[: data.find(b"\x02" * 64) + 100])
    flattened: list[int] = []
    original = reader._Source.flat
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reader._Source, "flat", lambda self: flattened.append(self.base) or original(self))
        assert _outcome(str(irregular)) == ("read", record_from_dataset(pydicom.dcmread(irregular,
                                                                                         stop_before_pixels=True)))
        assert _outcome(str(cut))[0] == "quarantine:truncated" and _pydicom_verdict(str(cut))[2]
    if walk == "compiled":
        assert len(flattened) == 2 and all(base > 92_000 for base in flattened)


def _nested(item: Dataset) -> list[Dataset]:
    """The items of ReferencedImageSequence nested in ``item`` that hold one themselves."""
    found = []
    while "ReferencedImageSequence" in item and "ReferencedImageSequence" in item.ReferencedImageSequence[0]:
        item = item.ReferencedImageSequence[0]
        found.append(item)
    return found


def test_assemble_puts_every_value_in_its_field() -> None:
    """_assemble builds the record by position: each keyword's value must land in its own field."""
    values = {keyword: f"v{i}" for i, (_, keyword) in enumerate(reader._TEXT_FIELDS)}
    values.update(SOPInstanceUID="1.1", SeriesInstanceUID="1.2", StudyInstanceUID="1.3", ImageType=["A", "B"],
                  ContrastBolusAgent="agent", ImageOrientationPatient=["1", "0", "0", "0", "1", "0"],
                  InstanceNumber="7", SliceThickness="2.5", Rows=512, Columns=256, NumberOfFrames="3",
                  SpecificCharacterSet="ISO_IR 100")
    record = reader._assemble(values, "1.2.840.10008.1.2.1")
    assert record is not None
    assert {field: getattr(record, field) for field, _ in reader._TEXT_FIELDS} == {
        field: values[keyword] for field, keyword in reader._TEXT_FIELDS}
    assert (record.sop_instance_uid, record.series_instance_uid, record.study_instance_uid) == ("1.1", "1.2", "1.3")
    assert record.image_type == ("A", "B") and record.contrast_agent == "agent"
    assert record.image_orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0) and record.instance_number == 7
    assert (record.slice_thickness, record.rows, record.columns, record.number_of_frames) == (2.5, 512, 256, 3)
    assert record.specific_character_set == ("ISO_IR 100",)
    assert record.transfer_syntax_uid == "1.2.840.10008.1.2.1" and record.functional_groups is False
    assert record.contrast_administered is None


def test_a_compiled_walk_built_from_other_sources_is_not_used(caplog):
    """An editable checkout updated without rebuilding keeps an older ``_scan``: the reader refuses it (one
    warning, the Python walk reads) instead of failing on a missing name or misreading with changed semantics."""
    import types

    if reader._scan is not None:
        assert reader._scan.API == reader._SCAN_API
        assert reader._usable_build(reader._scan) is reader._scan
    with caplog.at_level("WARNING", logger="rcdm.dicom.reader"):
        assert reader._usable_build(types.SimpleNamespace(Scanner=object)) is None
        assert reader._usable_build(types.SimpleNamespace(API=reader._SCAN_API - 1)) is None
    found = [r.getMessage().split(":")[0] for r in caplog.records]
    assert found == [f"rcdm.dicom._scan was built from other sources (interface {was}, this reader needs "
                     f"{reader._SCAN_API})" for was in ("none", reader._SCAN_API - 1)]
