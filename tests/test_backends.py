"""The backend registry agrees with everything that reads it: the translator's targets, the DDL, the ETL's
loader and lock, the extras rcdm declares, and how the translator stores dates."""

from __future__ import annotations

import configparser
import dataclasses
import pkgutil
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

import rcdm.db.backends
from rcdm.db import BACKENDS, Backend, connect, create_schema, execute_sql, insert_table, query_sql
from rcdm.db.backend import LoadSetting
from rcdm.db.backends import backend_for_jdbc, backend_for_url
from rcdm.db.urls import Fields
from rcdm.ddl import MODELS, TABLES, get_ddl
from rcdm.errors import DatabaseError, MissingDriverError, UnsupportedDialectError
from rcdm.sql import list_supported_dialects, translate
from rcdm.sql.dialects import TARGETS

SETUP_CFG = Path(__file__).resolve().parents[1] / "setup.cfg"


def _extras() -> set[str]:
    config = configparser.ConfigParser()
    config.read(SETUP_CFG, encoding="utf-8")
    return set(config["options.extras_require"])


def test_every_backend_has_a_translator_target_and_vice_versa():
    assert list(BACKENDS) == list(TARGETS) == list_supported_dialects()
    modules = {m.name for m in pkgutil.iter_modules(rcdm.db.backends.__path__)}
    assert modules == {name.replace(" ", "_") for name in TARGETS}
    for name, backend in BACKENDS.items():
        assert isinstance(backend, Backend) and backend.dialect == name


@pytest.mark.parametrize("dialect", list(BACKENDS))
@pytest.mark.parametrize("model", [m for m in MODELS if m != "all"])
def test_ddl_renders_for_each_backend(dialect, model):
    script = get_ddl(dialect, "cdm", model=model, foreign_keys=model != "etl").lower()
    for table in TABLES[model]:
        assert re.search(rf"create table (if not exists )?cdm\.{table}\b", script), table


@pytest.mark.parametrize("dialect", list(BACKENDS))
def test_each_backend_has_what_the_etl_reads(dialect):
    backend = BACKENDS[dialect]
    assert backend.lock in ("advisory", "run_row")
    assert backend.load_setting is None or isinstance(backend.load_setting, LoadSetting)
    assert backend.date_storage in ("native", "iso_text", "epoch_seconds")
    assert callable(backend.bulk_load) and callable(backend.begin) and callable(backend.url_from_fields)
    assert backend.extra is None or backend.extra in _extras()


def test_the_etl_settings_are_the_measured_ones():
    assert [d for d, b in BACKENDS.items() if b.lock == "advisory"] == ["postgresql"]
    assert {d: (b.load_setting.name, b.load_setting.value) for d, b in BACKENDS.items() if b.load_setting} == {
        "postgresql": ("synchronous_commit", "off"), "duckdb": ("checkpoint_threshold", "128MB")}
    assert [d for d, b in BACKENDS.items() if b.deferred_indexes] == ["postgresql", "duckdb"]
    assert [d for d, b in BACKENDS.items() if b.arrow_views] == ["duckdb"]


@pytest.mark.parametrize("dialect", list(BACKENDS))
def test_date_storage_is_what_the_translator_writes(dialect):
    """A DATE column keeps a date type unless the backend stores dates otherwise (SQLite: ISO text, or REAL
    seconds as SqlRender does): the bulk loader must write what the translated SQL reads."""
    column = translate("CREATE TABLE x (d DATE);", dialect).upper()
    storage = BACKENDS[dialect].date_storage
    assert ("REAL" in column) == (storage == "epoch_seconds"), column


def test_url_and_jdbc_schemes_name_one_backend_each():
    schemes = [s for b in BACKENDS.values() for s in b.url_schemes]
    jdbc = [s for b in BACKENDS.values() for s in b.jdbc_schemes]
    assert len(schemes) == len(set(schemes)) and len(jdbc) == len(set(jdbc))
    for backend in BACKENDS.values():
        for scheme in backend.url_schemes:
            assert backend_for_url(make_url(f"{scheme}://h/x")) is backend
        for scheme in backend.jdbc_schemes:
            assert backend_for_jdbc(scheme) is backend
    with pytest.raises(UnsupportedDialectError, match="mysql"):
        backend_for_url(make_url("mysql://h/x"))


def test_embedded_backends_are_available_and_a_missing_driver_names_its_extra():
    assert BACKENDS["duckdb"].is_available() and BACKENDS["sqlite"].is_available()
    missing = dataclasses.replace(BACKENDS["oracle"], driver_module="rcdm_no_such_driver")
    assert not missing.is_available()
    error = missing.missing_driver(ImportError("No module named 'rcdm_no_such_driver'"))
    assert isinstance(error, MissingDriverError) and error.exit_code == 4
    assert "pip install 'rcdm[oracle]'" in str(error)


@pytest.mark.parametrize("dialect", [d for d, b in BACKENDS.items() if b.extra and not b.is_available()])
def test_connect_without_the_driver_raises_missing_driver(dialect):
    """Every server backend whose driver is not installed here says what to install (exit code 4)."""
    backend = BACKENDS[dialect]
    url = backend.url_from_fields(_fields_for(dialect))
    with pytest.raises(MissingDriverError, match=rf"rcdm\[{backend.extra}\]"):
        connect(url, dbms=dialect)


def _fields_for(dialect: str) -> Fields:
    server = {"postgresql": "127.0.0.1/cdm", "redshift": "127.0.0.1/cdm", "oracle": "127.0.0.1/xe",
              "bigquery": "project/cdm", "snowflake": "account/db/cdm"}.get(dialect, "127.0.0.1")
    return Fields(server, "u", "pw", 1, None)


def test_connect_takes_databaseconnector_details_as_keywords(tmp_path):
    """``connect``'s DatabaseConnector fields are keywords held by one ConnectionDetails (R passes them so)."""
    with connect(tmp_path / "k.db", dbms=" SQLite", port="") as conn:
        assert conn.dialect == "sqlite"
    with pytest.raises(TypeError, match="no_such_field"):
        connect(tmp_path / "k.db", no_such_field=1)


@pytest.mark.parametrize("kind", ["duckdb", "sqlite", "postgresql"])
def test_read_only_connections_refuse_writes(kind, tmp_path, request):
    """``read_only=True`` as each backend makes it (DuckDB: the file ATTACHed READ_ONLY; SQLite: query_only;
    PostgreSQL: read-only session transactions): reads work, writes raise DatabaseError and change nothing."""
    target = {"duckdb": tmp_path / "ro.duckdb", "sqlite": tmp_path / "ro.db"}.get(kind)
    if target is None:
        target = request.getfixturevalue("postgres_url")
    schema = "main" if kind == "sqlite" else f"ro_{uuid.uuid4().hex[:8]}"
    with connect(target) as conn:
        if kind != "sqlite":
            create_schema(conn, schema)
        insert_table(conn, schema, "t", {"a": [1, 2]}, create_table=True)
    try:
        with connect(target, read_only=True) as conn:
            assert conn.backend.read_only_session is not None or kind == "duckdb"
            assert query_sql(conn, f"SELECT COUNT(*) AS n FROM {schema}.t;")["n"].tolist() == [2]
            with pytest.raises(DatabaseError):
                execute_sql(conn, f"INSERT INTO {schema}.t (a) VALUES (3);")
        with connect(target) as conn:
            assert query_sql(conn, f"SELECT COUNT(*) AS n FROM {schema}.t;")["n"].tolist() == [2]
    finally:
        if kind == "postgresql":
            with connect(target) as conn:
                execute_sql(conn, f"DROP SCHEMA {schema} CASCADE;")
