"""The R wrapper package (extras/RadiologyCDM), with real R, reticulate, DuckDB and this session's PostgreSQL.

``R CMD build`` runs the vignette (the R-CDM workflow on Eunomia's GiBleed); ``R CMD check --no-manual`` then
runs the examples and the testthat suite twice: with a Python that has rcdm (every test runs, PostgreSQL
included) and with one that has not (the tests that need rcdm skip with a clear message). Both checks must end
with 0 errors, 0 warnings and no note except the ones about being offline. The README's "From R" snippets run
as written on a fresh DuckDB database.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "extras" / "RadiologyCDM"
OFFLINE_NOTES = ("unable to verify current time", "internet", "CRAN incoming", "URL")
"""Notes R CMD check may give on a machine without internet access; any other note fails the check."""

pytestmark = [pytest.mark.r, pytest.mark.skipif(
    not shutil.which("Rscript") and not os.environ.get("CI"),
    reason="R is not installed (Debian: r-base-core r-cran-reticulate r-cran-testthat r-cran-roxygen2 "
           "r-cran-knitr r-cran-rmarkdown pandoc)",
)]


def _python_without_rcdm() -> str:
    """A Python that cannot import rcdm (the system one, run outside the repository)."""
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if candidate and subprocess.run([candidate, "-c", "import rcdm"], cwd="/", capture_output=True).returncode:
            return candidate
    pytest.fail("no Python without rcdm found for the R CMD check without rcdm")


def _env(tmp: Path, python: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "R_LIBS", "R_LIBS_USER")}
    env.update(RETICULATE_PYTHON=python, HOME=str(tmp), _R_CHECK_SYSTEM_CLOCK_="0", LANG="C.UTF-8", **extra)
    return env


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """The source package built with R CMD build, which knits the vignette with rcdm (so it must run)."""
    if not shutil.which("Rscript"):
        pytest.fail("CI must run the R tests: install r-base-core r-cran-reticulate r-cran-testthat "
                    "r-cran-roxygen2 r-cran-knitr r-cran-rmarkdown pandoc")
    out = tmp_path_factory.mktemp("rbuild")
    result = subprocess.run(["R", "CMD", "build", "--no-manual", str(PACKAGE)], cwd=out, capture_output=True,
                            text=True, env=_env(out, sys.executable), timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return next(out.glob("RadiologyCDM_*.tar.gz"))


def _check(tarball: Path, tmp: Path, env: dict[str, str], *options: str) -> tuple[str, str]:
    """R CMD check; returns (00check.log, tests/testthat.Rout). Fails on any error, warning or non-offline note."""
    result = subprocess.run(["R", "CMD", "check", "--no-manual", *options, str(tarball)], cwd=tmp,
                            capture_output=True, text=True, env=env, timeout=1800)
    checkdir = tmp / "RadiologyCDM.Rcheck"
    log = (checkdir / "00check.log").read_text(encoding="utf-8", errors="replace")
    tests = next((p.read_text(encoding="utf-8", errors="replace") for p in
                  (checkdir / "tests" / "testthat.Rout", checkdir / "tests" / "testthat.Rout.fail") if p.exists()), "")
    assert result.returncode == 0, log + "\n" + tests[-6000:]
    problems = [line for line in log.splitlines() if re.search(r"\.\.\. (ERROR|WARNING)$", line)]
    assert not problems, log
    notes = re.findall(r"^\* checking .*\.\.\. NOTE\n((?:(?!\* ).*\n)*)", log, flags=re.MULTILINE)
    for note in notes:
        assert any(word in note for word in OFFLINE_NOTES), "a NOTE that is not about being offline:\n" + log
    assert re.search(r"^Status: (OK|\d+ NOTEs?)$", log, flags=re.MULTILINE), log
    return log, tests


def _counts(tests: str) -> dict[str, int]:
    found = re.findall(r"\[ FAIL (\d+) \| WARN (\d+) \| SKIP (\d+) \| PASS (\d+) \]", tests)
    assert found, tests[-4000:]
    return dict(zip(("fail", "warn", "skip", "pass"), map(int, found[-1])))


def test_check_with_rcdm(tarball, postgres_url, tmp_path):
    """Examples and every test run (DuckDB and PostgreSQL); the vignette ran in R CMD build."""
    env = _env(tmp_path, sys.executable, RCDM_TEST_POSTGRES_URL=postgres_url)
    log, tests = _check(tarball, tmp_path, env, "--no-build-vignettes")
    counts = _counts(tests)
    # the only skips allowed: raw reticulate data.frame conversion, which reticulate 1.28 does only with numpy 1.x
    assert counts["fail"] == 0, tests[-6000:]
    assert counts["skip"] == 0 or (counts["skip"] <= 2 and "only with numpy 1.x" in tests), tests[-6000:]
    assert counts["pass"] > 200, counts
    assert "checking examples ... OK" in log, log


def test_check_without_rcdm(tarball, tmp_path):
    """Without rcdm the check is clean too: examples are skipped, tests that need rcdm skip and say why."""
    python = _python_without_rcdm()
    log, tests = _check(tarball, tmp_path, _env(tmp_path, python))
    counts = _counts(tests)
    assert counts["fail"] == 0 and counts["skip"] > 20, tests[-6000:]
    assert counts["pass"] > 20, counts  # the argument checks run without Python's rcdm
    assert "the Python package rcdm is not available to reticulate" in tests, tests[-6000:]


def _readme_r_snippets() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### From R", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```r\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "README's From R section has no R snippet"
    return "\n".join(blocks)


def test_readme_r_snippets_run_as_written(tarball, tmp_path):
    """Every R snippet of README's "From R" section, as written, on a fresh DuckDB database."""
    library = tmp_path / "lib"
    library.mkdir()
    env = _env(tmp_path, sys.executable)
    result = subprocess.run(["R", "CMD", "INSTALL", f"--library={library}", str(tarball)], capture_output=True,
                            text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    work = tmp_path / "work"
    work.mkdir()
    script = work / "readme.R"
    script.write_text(_readme_r_snippets() + "\n" + "\n".join([
        "stopifnot(nrow(images) > 0, all(images$modality == 'CT'), is.character(images$radiology_image_id))",
        "stopifnot(is.data.frame(report$columns), n$n > 0)",
        "cat('README snippets ran\\n')",
    ]) + "\n", encoding="utf-8")
    env["R_LIBS"] = str(library)
    result = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, env=env, cwd=work,
                            timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "README snippets ran" in result.stdout, result.stdout + result.stderr


def test_help_pages_are_roxygen2s_output(tmp_path):
    """man/ and NAMESPACE are what roxygen2 generates from the R sources (no hand edits, none stale)."""
    copy = tmp_path / "RadiologyCDM"
    shutil.copytree(PACKAGE, copy)
    result = subprocess.run(["Rscript", "-e", "roxygen2::roxygenise(roclets = c('rd', 'namespace'))"], cwd=copy,
                            capture_output=True, text=True, env=_env(tmp_path, sys.executable))
    assert result.returncode == 0, result.stdout + result.stderr
    for generated in [copy / "NAMESPACE", *sorted((copy / "man").glob("*.Rd"))]:
        committed = PACKAGE / generated.relative_to(copy)
        assert committed.exists(), f"{committed} is missing: run roxygen2::roxygenise() in extras/RadiologyCDM"
        assert committed.read_text() == generated.read_text(), f"{committed} is stale: run roxygen2::roxygenise()"
    assert sorted(p.name for p in (PACKAGE / "man").glob("*.Rd")) == sorted(p.name for p in (copy / "man").glob("*.Rd"))


def test_bundled_cohort_sql_is_the_repositorys():
    """The package's copy of GiBleed.sql (an R package cannot reach outside its folder) is not allowed to drift."""
    copy = PACKAGE / "inst" / "cohorts" / "GiBleed.sql"
    assert copy.read_bytes() == (REPO / "extras" / "cohorts" / "GiBleed.sql").read_bytes()
