"""Shared fixtures: real databases (DuckDB, SQLite files, a PostgreSQL server started for the session)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pg_server import start_server  # noqa: E402

TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def test_data() -> Path:
    """``tests/data``: the copies of Eunomia, the OMOP/MI-CDM specs and SqlRender's cases (see its README)."""
    return TEST_DATA


@pytest.fixture(scope="session")
def postgres_url():
    """SQLAlchemy URL of a real PostgreSQL server: RCDM_TEST_POSTGRES_URL, or one started for this session."""
    given = os.environ.get("RCDM_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    try:
        server = start_server()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {exc}")
        pytest.skip(f"no PostgreSQL server here: {exc}")
    yield server.url
    server.stop()


@pytest.fixture
def duckdb_path(tmp_path) -> Path:
    return tmp_path / "test.duckdb"


@pytest.fixture
def sqlite_path(tmp_path) -> Path:
    return tmp_path / "test.db"
