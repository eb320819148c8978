"""The compiled scanner under AddressSanitizer and UndefinedBehaviorSanitizer.

rcdm/dicom/_scan.c reads untrusted bytes. This builds it with ``-fsanitize=address,undefined`` into a
temporary folder and runs the reader's parity tests (every bundled file, 1,650 damaged headers of every
encoding, random values for the decoder; not the arbiter corpus, which exercises pydicom more than C) in a
child Python that loads that build in place of the installed one. Any out-of-bounds read, use after free or
undefined behaviour aborts the child, and the test fails with the sanitizer's report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a long run of one tool over a corpus

ROOT = Path(__file__).resolve().parents[1]

_RUNNER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("rcdm.dicom._scan", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules["rcdm.dicom._scan"] = module
import pytest
import rcdm.dicom.reader as reader
assert reader._scan is module, "the sanitized build was not the one loaded"
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[2], "-k", "compiled and not pydicom_fails"]))
"""


def _runtime(name: str) -> str | None:
    found = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return found if os.path.isabs(found) and os.path.exists(found) else None


def test_scanner_is_clean_under_address_and_ub_sanitizers(tmp_path: Path) -> None:
    libs = [_runtime("libasan.so"), _runtime("libubsan.so")] if shutil.which("gcc") else [None]
    if None in libs:
        if os.environ.get("CI"):
            pytest.fail("CI must run the sanitizer build of rcdm/dicom/_scan.c (gcc with libasan/libubsan)")
        pytest.skip("gcc with AddressSanitizer/UBSan runtimes is not available here")
    module = tmp_path / ("_scan" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=undefined", f"-I{sysconfig.get_paths()['include']}", str(ROOT / "rcdm/dicom/_scan.c"),
         "-o", str(module)],
        check=True,
    )
    env = dict(os.environ, LD_PRELOAD=" ".join(libs), PYTHONMALLOC="malloc", ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    env.pop("CI", None)  # the child's skips are not this test's business; it only runs the "compiled" cases
    done = subprocess.run([sys.executable, "-c", _RUNNER, str(module), str(ROOT / "tests/test_dicom_reader.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    report = done.stderr.find("ERROR: ")  # the sanitizer's report, ahead of Python's fatal-error trace
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[max(report, 0) :][:4000]
    assert " passed" in done.stdout, done.stdout[-2000:]
    print(done.stdout.strip().splitlines()[-1])
