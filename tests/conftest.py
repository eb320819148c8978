"""Shared fixtures: real databases (DuckDB, SQLite files, a PostgreSQL server started for the session)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pg_server import start_server  # noqa: E402

TEST_DATA = Path(__file__).resolve().parent / "data"

import rcdm  # noqa: E402

if Path(rcdm.__file__).resolve().parents[1] != Path(__file__).resolve().parents[1]:
    # rcdm is installed (CI tests the built wheel, with ``python -I``): a subprocess ``python -m rcdm`` started
    # from the repository would import the source tree from its working directory instead (where the data
    # packages mapped from inst/ and vocab/ do not exist); Python 3.11+ then leaves the working directory out.
    os.environ["PYTHONSAFEPATH"] = "1"


@pytest.fixture(scope="session")
def test_data() -> Path:
    """``tests/data``: the copies of Eunomia, the OMOP/MI-CDM specs and SqlRender's cases (see its README)."""
    return TEST_DATA


def _server_url(variable: str, start, what: str):
    """The URL in ``$variable``, or that of a server ``start()`` starts for this session (stopped at its end);
    without one, CI fails and a developer's run skips."""
    given = os.environ.get(variable)
    if given:
        yield given
        return
    try:
        server = start()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the {what} tests: {exc}")
        pytest.skip(f"no {what} server here: {exc}")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def postgres_url():
    """SQLAlchemy URL of a real PostgreSQL server: RCDM_TEST_POSTGRES_URL, or one started for this session."""
    yield from _server_url("RCDM_TEST_POSTGRES_URL", start_server, "PostgreSQL")


@pytest.fixture(scope="session")
def spark_url():
    """``sc://`` URL of an Apache Spark Connect server: RCDM_TEST_SPARK_URL, or one started for this session."""
    from spark_server import start_server as start_spark

    yield from _server_url("RCDM_TEST_SPARK_URL", start_spark, "Spark")


@pytest.fixture
def duckdb_path(tmp_path) -> Path:
    return tmp_path / "test.duckdb"


@pytest.fixture
def sqlite_path(tmp_path) -> Path:
    return tmp_path / "test.db"
