"""Shared fixtures: real databases (DuckDB, SQLite files, a PostgreSQL server started for the session), the
connection per backend that many files open; and the markers of engine tests.

Markers (registered in setup.cfg): a test that needs a server or an outside program carries its engine's marker
(``postgres``, ``spark``, ``orthanc``, ``r``, ``chromium``), given here from the fixtures it uses or by the
file's ``pytestmark``; every engine test is also ``slow``. ``pytest -m "not slow"`` is the fast subset.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pg_server import start_server  # noqa: E402

from rcdm.db import connect, execute_sql  # noqa: E402

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


# --- markers -------------------------------------------------------------------------------------------------

ENGINES = ("postgres", "spark", "orthanc", "r", "chromium")
ENGINE_FIXTURES = {"postgres_url": "postgres", "spark_url": "spark", "orthanc": "orthanc"}
"""A test using one of these fixtures needs that engine."""


def pytest_collection_modifyitems(config, items):
    """Engine markers from the fixtures a test uses (and from a ``postgresql`` backend parameter, for fixtures
    that open the server with ``request.getfixturevalue``); every engine test is slow."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        engines = {marker for fixture, marker in ENGINE_FIXTURES.items() if fixture in names}
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(isinstance(value, str) and value == "postgresql" for value in params.values()):
            engines.add("postgres")
        for marker in sorted(engines):
            item.add_marker(marker)
        if engines or any(item.get_closest_marker(engine) for engine in ENGINES):
            item.add_marker("slow")


# --- a connection per backend --------------------------------------------------------------------------------

BACKENDS = ("duckdb", "sqlite", "postgresql")


def backend_params(*kinds: str) -> list:
    """Parameters of a fixture over backends (all of BACKENDS by default); PostgreSQL's carries its marker."""
    return [pytest.param(kind, marks=pytest.mark.postgres) if kind == "postgresql" else kind
            for kind in (kinds or BACKENDS)]


def connect_backend(kind: str, folder: Path, request, drop_schemas: tuple[str, ...] = (), name: str = "test"):
    """A connection: a new DuckDB or SQLite file ``name`` in ``folder``, or the session's PostgreSQL server
    (``drop_schemas`` dropped first, for a fresh start)."""
    if kind == "duckdb":
        return connect(str(folder / f"{name}.duckdb"))
    if kind == "sqlite":
        return connect(f"sqlite:///{folder / f'{name}.db'}")
    conn = connect(request.getfixturevalue("postgres_url"))
    for schema in drop_schemas:
        execute_sql(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")
    return conn

