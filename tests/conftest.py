"""Shared fixtures: real databases (DuckDB, SQLite files, a PostgreSQL server started for the session)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pg_server import start_server  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The project's ``../shared`` folder (specs and test data); tests read it in place."""
    assert SHARED.is_dir(), f"{SHARED} not found: tests expect ../shared beside the checkout"
    return SHARED


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
