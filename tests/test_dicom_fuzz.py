"""Coverage-guided fuzzing of the compiled header walk, bounded, under AddressSanitizer and UBSan.

Builds rcdm/dicom/_scan.c with clang ``-fsanitize=fuzzer-no-link,address,undefined`` (libFuzzer's edge
coverage of the C code, and sanitizers on every read) and runs tests/fuzz/fuzz_scan.py under atheris (its
libFuzzer and ASan runtime preloaded) from the seeds in tests/fuzz/seeds for RCDM_FUZZ_SECONDS (60 by
default); the same for the identity scan rcdm/dicom/_tags.c and tests/fuzz/fuzz_tags.py (20 s by default).
Each input is read by the compiled code and by its pure-Python twin, which must agree. The test
fails on any finding (crash, sanitizer report, unexpected exception, disagreement) and shows the input.
CI installs clang (extras/dev.sh) and atheris (the ``test`` extra); elsewhere the test skips without them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a long run of one tool over a corpus

ROOT = Path(__file__).resolve().parents[1]
FUZZ = ROOT / "tests" / "fuzz"


def _clang() -> str | None:
    for name in ("clang", *(f"clang-{v}" for v in range(20, 13, -1))):
        if shutil.which(name):
            return name
    return None


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the fuzz target: {what} (extras/dev.sh setup installs it)")
    pytest.skip(what)


@pytest.mark.parametrize(("name", "target", "seconds"), [("_scan", "fuzz_scan.py", 60), ("_tags", "fuzz_tags.py", 20)])
def test_fuzzing_the_compiled_walk_finds_nothing(tmp_path: Path, name: str, target: str, seconds: int) -> None:
    """The header walk (``_scan``) and the identity scan (``_tags``), each against its Python twin."""
    try:
        import atheris
    except ImportError:
        _missing("atheris is not installed (pip install -e .[test] on Linux x86_64)")
    clang = _clang()
    if clang is None:
        _missing("clang is not installed (Debian: clang)")
    runtime = Path(atheris.path()) / "asan_with_fuzzer.so"
    assert runtime.exists(), runtime
    # compile with the sanitizers, link without their runtimes: the preloaded one provides them
    obj, module = tmp_path / f"{name}.o", tmp_path / (name + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run([clang, "-c", "-fPIC", "-O1", "-g", "-fno-omit-frame-pointer",
                    "-fsanitize=fuzzer-no-link,address,undefined", "-fno-sanitize-recover=undefined",
                    f"-I{sysconfig.get_paths()['include']}", str(ROOT / f"rcdm/dicom/{name}.c"), "-o", str(obj)],
                   check=True)
    subprocess.run([clang, "-shared", str(obj), "-o", str(module)], check=True)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seconds = int(os.environ.get("RCDM_FUZZ_SECONDS", seconds))
    env = dict(os.environ, LD_PRELOAD=str(runtime), PYTHONMALLOC="malloc",
               ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:quarantine_size_mb=64",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    done = subprocess.run(
        [sys.executable, str(FUZZ / target), str(module), "--", f"-max_total_time={seconds}",
         "-timeout=30", "-rss_limit_mb=3072", "-print_final_stats=1", f"-artifact_prefix={tmp_path}/",
         str(corpus), str(FUZZ / "seeds")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=seconds + 300)
    findings = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "leak-", "timeout-", "oom-")))
    report = done.stderr[-6000:]
    assert done.returncode == 0 and not findings, f"{findings}\n{report}"
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", done.stderr)
    coverage = re.findall(r"cov: (\d+)", done.stderr)
    assert runs and int(runs.group(1)) > 0, report
    print(f"{runs.group(1)} inputs in {seconds} s, {coverage[-1] if coverage else '?'} edges covered, "
          f"{len(list(corpus.iterdir()))} new corpus entries, no finding")
