"""PostgreSQL through psycopg 3: COPY for bulk loads, an advisory lock for the ETL, read-only sessions."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pyarrow as pa
from sqlalchemy.engine import URL

from rcdm.db import bulk
from rcdm.db.backend import Backend, LoadSetting, ResultTyping
from rcdm.db.urls import Fields, host_database, jdbc_match, parse_port, settings
from rcdm.sql.dialects import postgresql as target

#: psycopg type OIDs (pg_type) -> Arrow types; anything else is typed from its values.
PG_TYPE_CODES: Mapping[int, pa.DataType] = MappingProxyType({
    16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(), 26: pa.int64(),
    700: pa.float32(), 701: pa.float64(), 1082: pa.date32(), 1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"), 25: pa.string(), 1042: pa.string(), 1043: pa.string(), 19: pa.string(),
    17: pa.binary(),
})


def psycopg_url(fields: Fields, dbms: str, default_port: int) -> URL:
    """PostgreSQL and Redshift: server is ``host/database``; both are reached through psycopg 3."""
    host, database = host_database(fields, dbms)
    return URL.create("postgresql+psycopg", fields.user, fields.password, host, fields.port or default_port,
                      database, settings(fields.extra_settings))


def psycopg_jdbc(body: str, fields: Fields, dbms: str, default_port: int) -> URL:
    """``jdbc:postgresql://host:port/db?key=value`` (Redshift's too) → the fields above."""
    scheme = body.split(":", 1)[0]
    m = jdbc_match(r"^[a-z0-9]+://([^/:?;]+)(?::(\d+))?/([^?;]+)[?;]?(.*)$", body,
                   f"Cannot read {dbms} JDBC connection string: expected jdbc:{scheme}://host:port/db.")
    return psycopg_url(Fields(f"{m[1]}/{m[3]}", fields.user, fields.password, parse_port(m[2]), m[4] or None),
                       dbms, default_port)


def read_only_session(dbapi_connection: Any, _record: Any) -> None:
    """New sessions default to read-only transactions."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    dbapi_connection.commit()


SYNCHRONOUS_COMMIT = LoadSetting("synchronous_commit", "off", commit=True)
"""While batches load, ``synchronous_commit = off`` lets a COMMIT return before its WAL is flushed (the WAL
writer flushes it within ~3 x ``wal_writer_delay``, 600 ms by default). A crash of the server can lose the last
commits, never half of one and never corrupting anything: the database comes back as it was after an earlier
commit, which is exactly the state a kill -9 of the run leaves. A lost batch's files have no ``rcdm_etl_file``
row, so the next run reads and loads them again; a lost ``finalize`` leaves ``rcdm_etl_pending`` filled, so the
next run's opening finalize redoes it. The run's own status row is written after the settings are restored,
durably, which flushes the WAL of every commit before it too. Session-level (``SET``), this connection only;
``commit`` ends the transaction psycopg opens with the SET."""

BACKEND = Backend(
    dialect=target.NAME,
    label="PostgreSQL",
    driver="psycopg",
    driver_module="psycopg",
    extra="postgresql",
    url_schemes=("postgresql", "postgres"),
    default_driver="psycopg",
    url_from_fields=lambda fields: psycopg_url(fields, "postgresql", 5432),
    jdbc_schemes=("postgresql",),
    url_from_jdbc=lambda body, fields: psycopg_jdbc(body, fields, "postgresql", 5432),
    bulk_load=bulk.load_postgresql,
    read_only_session=read_only_session,
    load_setting=SYNCHRONOUS_COMMIT,
    lock="advisory",
    deferred_indexes=True,
    result_typing=ResultTyping(type_codes=PG_TYPE_CODES),
)
