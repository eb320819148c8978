"""Coverage-guided fuzz target for rcdm's compiled header walk (rcdm/dicom/_scan.c), differential.

    python tests/fuzz/fuzz_scan.py [SCAN_MODULE.so] -- [libFuzzer options] CORPUS_DIR [SEED_DIR ...]

Each input is a file's bytes. The fast path (``reader._fast_read`` then ``_convert_fast``, from an in-memory
file) reads it with the compiled walk and again with its pure-Python twin; the two must end the same way
(same values, or the same refusal: pydicom's turn, a cut file, not DICOM). And as ``read_header`` reads it
(``_compiled_read``: one ``FileWalk`` call where it can): the same values, or the record they make. Anything
else (a crash, a sanitizer report, an exception the reader does not expect, the walks disagreeing) is a
finding: libFuzzer stops and writes the input as ``crash-*``.

With a module path, that build of ``_scan`` is loaded in place of the installed one: tests/test_dicom_fuzz.py
builds it with clang ``-fsanitize=fuzzer-no-link,address,undefined`` (so libFuzzer sees the C code's edge
coverage, and AddressSanitizer/UBSan watch every read) and runs this under atheris for a bounded time.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys

import atheris


def _load_scan(path: str) -> None:
    spec = importlib.util.spec_from_file_location("rcdm.dicom._scan", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["rcdm.dicom._scan"] = module


args = sys.argv[1:]
if args and args[0].endswith(".so"):
    _load_scan(args.pop(0))
if args and args[0] == "--":
    args.pop(0)

# Not instrumented: libFuzzer's guide is the C code's edge coverage (Python tracing would cost 100x the
# run time of a walk and find nothing C does not already branch on).
from rcdm.dicom import reader  # noqa: E402

assert reader.ACCELERATED, "the compiled scanner is not loaded"
_FD = os.memfd_create("rcdm-fuzz")
_EXPECTED = (reader._Unusual, reader._Truncated, reader.DicomSkip, ValueError, IndexError, LookupError,
             RecursionError, struct.error)


def _fast(data: bytes, mode: str):
    """What the fast path makes of ``data``: ("values", converted, ts, media class) or the name of the exception it
    raised; mode "file": read as ``read_header`` does (``_compiled_read``: one FileWalk, which may give the record
    itself: ("record", repr of it)), "compiled": ``_fast_read`` with the compiled scans, "python": its twin."""
    saved = reader._TOP_SCANNER, reader._META_SCANNER
    if mode == "python":
        reader._TOP_SCANNER = reader._META_SCANNER = None
    try:
        os.lseek(_FD, 0, os.SEEK_SET)
        src = reader._Source(_FD, len(data))
        found = reader._compiled_read(src) if mode == "file" else reader._fast_read(src)
        if found.__class__ is reader.HeaderRecord:
            return "record", repr(found)
        values, decoded, little, ts, media = found
        return "values", reader._convert_fast(values, little, decoded=decoded), ts, media
    except _EXPECTED as exc:
        return type(exc).__name__
    finally:
        reader._TOP_SCANNER, reader._META_SCANNER = saved


def _as_record(outcome):
    """The record ``read_header`` makes of the values of an outcome (as a repr, or what stops it), else the outcome."""
    if outcome[0] != "values":
        return outcome
    _, values, ts, media = outcome
    if media == reader._DICOMDIR_CLASS or str(values.get("SOPClassUID") or "") == reader._DICOMDIR_CLASS:
        return "dicomdir"
    try:
        return "record", repr(reader._assemble(values, ts))
    except _EXPECTED as exc:
        return type(exc).__name__


def test_one_input(data: bytes) -> None:
    if not data:
        return
    os.ftruncate(_FD, 0)
    os.pwrite(_FD, data, 0)
    compiled, python, file = _fast(data, "compiled"), _fast(data, "python"), _fast(data, "file")
    if compiled != python:
        raise AssertionError(f"compiled and Python walks disagree: {compiled!r} != {python!r}")
    if file != (_as_record(python) if file[0] == "record" else python):  # the record, or what the walks give
        raise AssertionError(f"the one-call read and the Python walk disagree: {file!r} != {python!r}")


if __name__ == "__main__":
    atheris.Setup([sys.argv[0], *args], test_one_input)
    atheris.Fuzz()
