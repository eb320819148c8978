"""The R wrapper package (extras/RadiologyCDM): installed into a temporary library and its testthat suite run
with real R and reticulate, against DuckDB and this session's PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "extras" / "RadiologyCDM"


@pytest.fixture(scope="module")
def r_library(tmp_path_factory):
    """The package installed with R CMD INSTALL into a fresh library folder."""
    if not shutil.which("Rscript"):
        if os.environ.get("CI"):
            pytest.fail("CI must run the R tests: install r-base-core r-cran-reticulate r-cran-testthat")
        pytest.skip("R is not installed (Debian: r-base-core r-cran-reticulate r-cran-testthat)")
    library = tmp_path_factory.mktemp("rlib")
    result = subprocess.run(["R", "CMD", "INSTALL", f"--library={library}", "--no-test-load", str(PACKAGE)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return library


def test_testthat_suite(r_library, postgres_url, tmp_path):
    env = {
        **os.environ,
        "R_LIBS": f"{r_library}{os.pathsep}{os.environ.get('R_LIBS', '')}",
        "RETICULATE_PYTHON": sys.executable,
        "RCDM_TEST_POSTGRES_URL": postgres_url,
        "HOME": os.environ.get("HOME", str(tmp_path)),
    }
    script = (
        "library(testthat); library(RadiologyCDM); "
        f"res <- as.data.frame(test_dir('{PACKAGE / 'tests' / 'testthat'}', reporter = 'summary', "
        "stop_on_failure = FALSE, package = 'RadiologyCDM', load_package = 'installed')); "
        "cat('\\nR-TESTS', sum(res$failed), sum(res$error), sum(res$skipped), sum(res$nb), '\\n'); "
        "quit(status = if (sum(res$failed) + sum(res$error) > 0) 1 else 0)"
    )
    result = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    counts = next(line.split()[1:] for line in output.splitlines() if line.startswith("R-TESTS"))
    failed, errors, skipped, expectations = map(int, counts)
    # the only skips allowed: raw reticulate data.frame conversion, which reticulate 1.28 does only with numpy 1.x
    numpy_skips = output.count("Reason: reticulate converts data.frames to pandas only with numpy 1.x")
    assert (failed, errors, skipped - numpy_skips) == (0, 0, 0), output
    assert expectations > 20, output
