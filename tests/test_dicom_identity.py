"""One read per file: the reader hands back the header bytes it read, and the identity scan of those bytes
(rcdm.dicom.identity) finds what a scan of the file itself finds; the compiled one-pass tag search agrees
with its pure-Python twin."""

from __future__ import annotations

import copy
import os
import random
import signal
import warnings

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file

from rcdm.dicom import identity, reader
from rcdm.dicom.reader import DicomQuarantine, DicomSkip, read_header, read_header_and_head
from rcdm.dicom.sample import template_path
from rcdm.etl.transform import BatchContext, FileEntry, file_key, process_batch

try:  # an optional build (CI builds it)
    from rcdm.dicom import _tags
except ImportError:  # pragma: no cover - depends on the build
    _tags = None

SECRET = b"i" * 32


def _bundled() -> list[str]:
    names = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "emri_small_big_endian.dcm",
             "MR_small_implicit.dcm", "liver.dcm", "eCT_Supplemental.dcm", "no_meta.dcm")
    paths = [get_testdata_file(n) for n in names]
    return [p for p in paths if p] + get_charset_files("chr*.dcm")


def _accession_in_request_attributes(target):
    """A CT whose accession number also sits in a nested item (RequestAttributesSequence), and in big endian."""
    ds = copy.deepcopy(pydicom.dcmread(template_path("CT")))
    ds.PatientName, ds.PatientBirthDate, ds.AccessionNumber = "Roe^Richard", "19700101", "ACC123456"
    item = pydicom.Dataset()
    item.AccessionNumber = "NESTED98765"
    ds.RequestAttributesSequence = [item]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(target)
    return str(target)


@pytest.mark.parametrize("pick", range(12))
def test_the_bytes_the_reader_read_give_the_facts_of_the_file(pick, tmp_path):
    paths = _bundled() + [_accession_in_request_attributes(tmp_path / "nested.dcm")]
    assert len(paths) >= 12  # each of the 12 slices holds a file or more (27 today)
    for path in paths[pick::12]:
        try:
            record, head = read_header_and_head(path)
        except (DicomSkip, DicomQuarantine):
            continue
        assert record == read_header(path)
        with open(path, "rb") as f:
            start = f.read(identity.WINDOW)
        assert start.startswith(head) and (len(head) == len(start) or reader.pixel_data_at(head) >= 0)
        assert identity.window_facts(head, SECRET) == identity.header_facts(path, SECRET)


def test_nested_and_top_level_accession_numbers_are_both_found(tmp_path):
    record, head = read_header_and_head(_accession_in_request_attributes(tmp_path / "nested.dcm"))
    facts = identity.window_facts(head, SECRET)
    assert {"ACC123456", "NESTED98765"} <= set(facts.accessions)
    assert {"roe", "richard"} <= set(facts.names) and "1970-01-01" in facts.birth_dates


def test_the_compiled_tag_search_agrees_with_its_python_twin():
    if identity._find_all_c is None and not os.environ.get("CI"):  # CI builds it: there the test must run
        pytest.skip("rcdm.dicom._tags is not built")
    rng = random.Random(7)
    alphabet = bytes(set(b"".join(identity._PATTERNS))) + b"\x01\x20"
    for _ in range(4000):
        buf = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        stops = rng.randint(0, 3)
        assert identity._find_all_c(buf, identity._PATTERNS, stops) == identity._find_all_py(buf, identity._PATTERNS,
                                                                                            stops)
    for path in _bundled():
        with open(path, "rb") as f:
            buf = f.read(identity.WINDOW)
        assert identity._find_all_c(buf, identity._PATTERNS, 2) == identity._find_all_py(buf, identity._PATTERNS, 2)
    with pytest.raises(ValueError):
        identity._find_all_c(b"abcd", (b"abc",), 0)
    with pytest.raises(ValueError):
        identity._find_all_c(b"abcd", (b"abcd",) * 25, 0)


def test_the_compiled_pixel_data_search_agrees_with_its_python_twin():
    if reader._pixel_data_at_c is None and not os.environ.get("CI"):  # CI builds it: there the test must run
        pytest.skip("rcdm.dicom._tags is not built")
    rng = random.Random(23)
    alphabet = b"\xe0\x7f\x10\x00\x01"  # the two tags' bytes: partial and overlapping matches everywhere
    found = 0
    for _ in range(20000):
        buf = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        expected = reader._pixel_data_at_py(buf)
        assert reader._pixel_data_at_c(buf) == expected, buf
        assert reader.pixel_data_at(memoryview(buf)) == expected
        found += expected >= 0
    assert found > 500
    for buf in (b"", b"\x7f", b"\xe0\x7f\x10", b"\x7f\xe0\x00", b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10",
                b"\xe0\x7f\xe0\x00\x10", b"x" * 70000 + b"\x7f\xe0\x00\x10" + b"\xe0\x7f\x10\x00"):
        assert reader._pixel_data_at_c(buf) == reader._pixel_data_at_py(buf)
    for path in _bundled():
        with open(path, "rb") as f:
            buf = f.read(identity.WINDOW)
        assert reader._pixel_data_at_c(buf) == reader._pixel_data_at_py(buf), path
    with pytest.raises(TypeError):
        reader._pixel_data_at_c("not bytes")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_among_the_files_neither_hangs_nor_gets_a_checksum(tmp_path):
    """A skipped file gets the checksum of its header window: a FIFO has none (opened without blocking)."""
    os.mkfifo(tmp_path / "pipe")
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("blocked on the FIFO"))
    signal.alarm(20)
    try:
        with pytest.raises(OSError):
            identity.header_window(str(tmp_path / "pipe"))
        assert identity.header_facts(str(tmp_path / "pipe"), SECRET) == identity.HeaderFacts()
        entries = [FileEntry(str(tmp_path / "pipe"), "pipe", file_key("pipe", SECRET), None, None),
                   FileEntry(str(tmp_path), "dir", file_key("dir", SECRET), None, None)]
        rows = process_batch(entries, BatchContext(SECRET)).to_pylist()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert [(r["status"], r["reason"], r["header_checksum"]) for r in rows] == [("skipped", "not_a_file", None)] * 2


def test_process_batch_opens_each_file_once(tmp_path, monkeypatch):
    paths = [get_testdata_file("CT_small.dcm"), get_testdata_file("MR_small_implicit.dcm")]
    opened: list[str] = []
    real_open = reader._open
    monkeypatch.setattr(reader, "_open", lambda path: opened.append(path) or real_open(path))
    monkeypatch.setattr(identity, "header_window", lambda path: pytest.fail("a second read of " + path))
    entries = [FileEntry(p, f"f{i}.dcm", file_key(f"f{i}.dcm", SECRET), 1, 1) for i, p in enumerate(paths)]
    table = process_batch(entries, BatchContext(SECRET))
    assert table.column("status").to_pylist() == ["loaded", "loaded"]
    assert opened == paths
    monkeypatch.undo()
    assert table.column("header_checksum").to_pylist() == [identity.header_facts(p, SECRET).checksum for p in paths]


def _hostile_header(rng: random.Random) -> bytes:
    """Bytes made of the scan's patterns, VRs, short lengths and noise: tags at odd and even offsets, values
    that fit and values that run past the end or into a Pixel Data tag."""
    pieces = identity._PATTERNS + tuple(identity._STORED_TEXT_PATTERNS)
    parts = []
    for _ in range(rng.randint(0, 14)):
        r = rng.random()
        if r < 0.15:  # an element: explicit VR (either byte order) or implicit VR, maybe cut short
            tag, value = rng.choice(pieces), bytes(rng.randrange(32, 127) for _ in range(rng.randint(0, 12)))
            order = "big" if tag[0] == 0 and rng.random() < 0.7 else "little"
            head = (rng.choice((b"CS", b"PN", b"DA", b"SH")) + len(value).to_bytes(2, order) if rng.random() < 0.6
                    else len(value).to_bytes(4, "little"))
            parts.append((tag + head + value)[:rng.choice((None, None, None, rng.randint(0, 8)))])
        elif r < 0.4:
            parts.append(rng.choice(pieces))
        elif r < 0.6:
            parts.append(rng.choice((b"CS", b"PN", b"DA", b"SH", b"SQ\0\0", b"UN\0\0", b"\xff" * 4)))
        elif r < 0.8:
            parts.append(bytes((rng.randint(0, 12), 0)))
        else:
            parts.append(bytes(rng.randrange(256) for _ in range(rng.randint(0, 8))))
    return b"".join(parts)


@pytest.fixture(params=["avx2", "sse2"])
def vector_width(request):
    """scan() with AVX2 (where the CPU has it) and without: each width agrees with the twin."""
    if _tags is None and not os.environ.get("CI"):  # CI builds it: there the test must run
        pytest.skip("rcdm.dicom._tags is not built")
    width = _tags._vector_width(request.param == "avx2")
    assert width in ((32, 16) if request.param == "avx2" else (16, 3))  # 3: not x86-64, or not GCC/clang
    yield width
    _tags._vector_width(True)


def test_the_compiled_identity_scan_agrees_with_its_python_twin(vector_width):
    rng = random.Random(19)
    with_values = 0
    for _ in range(20000):
        buf = _hostile_header(rng)
        expected = identity._scan_py(buf)
        assert identity._scan_c(buf) == expected, buf
        with_values += any(expected[1:5])
    assert with_values > 1000  # the values were read, not only the offsets found
    for path in _bundled():
        with open(path, "rb") as f:
            buf = f.read(identity.WINDOW)
        for start in (0, 1, 2, 3):  # every alignment: the compiled scan looks at three offsets a step
            assert identity._scan_c(buf[start:]) == identity._scan_py(buf[start:]), path
    crowded = (b"\x10\x00\x10\x00" * 16384, b"\x10\x00\x10\x00PN\x03\x00abc" * 5000,
               b"\x08\x00\x60\x00SQ\x00\x00" * 8000,
               b"\x00\x10\x00\x10PN\x00\x02ab" * 6000 + b"\xe0\x7f\x10\x00" + b"\x10\x00\x10\x00PN\x02\x00xy" * 10)
    for buf in crowded:  # thousands of hits in a 64 KiB window (the compiled scan's hit list grows)
        assert identity._scan_c(buf) == identity._scan_py(buf)
    with pytest.raises(TypeError):
        identity._scan_c("not bytes")


def _nested_text(target):
    """A CT whose StudyDescription and BodyPartExamined hold a sequence (a nested dataset, not text)."""
    ds = copy.deepcopy(pydicom.dcmread(template_path("CT")))
    item = pydicom.Dataset()
    item.CodeMeaning = "chest"
    ds.add_new((0x0008, 0x1030), "SQ", [item])
    ds.add_new((0x0018, 0x0015), "SQ", [item])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(target)
    return str(target)


def test_window_facts_are_the_same_with_the_python_scan(monkeypatch, tmp_path):
    paths = _bundled() + [_accession_in_request_attributes(tmp_path / "nested.dcm"), _nested_text(tmp_path / "sq.dcm")]
    compiled = [identity.header_facts(p, SECRET) for p in paths]
    monkeypatch.setattr(identity, "_scan_c", None)
    monkeypatch.setattr(identity, "_find_all_c", None)
    assert [identity.header_facts(p, SECRET) for p in paths] == compiled
    assert any(f.names for f in compiled) and any(f.accessions for f in compiled) and any(f.non_text for f in compiled)
