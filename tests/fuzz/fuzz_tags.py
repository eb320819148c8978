"""Coverage-guided fuzz target for rcdm's identity scan (rcdm/dicom/_tags.c), differential.

    python tests/fuzz/fuzz_tags.py [TAGS_MODULE.so] -- [libFuzzer options] CORPUS_DIR [SEED_DIR ...]

Each input is a header window's bytes. The compiled ``scan`` (with AVX2 where the CPU has it, and with SSE2:
the two vector widths), ``pixel_data_at`` and ``find_all`` must give what their pure-Python twins in
``rcdm.dicom.identity`` and ``rcdm.dicom.reader`` give; anything else (a crash, a sanitizer report, a
disagreement) is a finding. With a module path, that build of ``_tags`` is loaded in place of the installed one:
tests/test_dicom_fuzz.py builds it with clang's libFuzzer coverage and AddressSanitizer/UBSan (which watch every
vector load) and runs this under atheris for a bounded time.
"""

from __future__ import annotations

import importlib.util
import sys

import atheris

args = sys.argv[1:]
if args and args[0].endswith(".so"):
    spec = importlib.util.spec_from_file_location("rcdm.dicom._tags", args.pop(0))
    tags = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tags)
    sys.modules["rcdm.dicom._tags"] = tags
if args and args[0] == "--":
    args.pop(0)

# Not instrumented: libFuzzer's guide is the C code's edge coverage.
from rcdm.dicom import _tags, identity, reader  # noqa: E402


def test_one_input(data: bytes) -> None:
    expected = identity._scan_py(data)
    for avx2 in (True, False):
        _tags._vector_width(avx2)
        found = _tags.scan(data)
        if found != expected:
            raise AssertionError(f"scan (avx2={avx2}) and its Python twin disagree: {found!r} != {expected!r}")
    if _tags.pixel_data_at(data) != reader._pixel_data_at_py(data):
        raise AssertionError("pixel_data_at and its Python twin disagree")
    stops = len(data) % 3
    if _tags.find_all(data, identity._PATTERNS, stops) != identity._find_all_py(data, identity._PATTERNS, stops):
        raise AssertionError("find_all and its Python twin disagree")


if __name__ == "__main__":
    atheris.Setup([sys.argv[0], *args], test_one_input)
    atheris.Fuzz()
