"""SQLite through Python's sqlite3: schemas emulated as files, dates stored as ISO 8601 text.

SQLite has no schemas: ``main`` and ``temp`` are its own; any other schema is a database file
``<main file stem>.<schema>.db`` next to the main file, ATTACHed as ``<schema>`` by ``create_schema`` and again
automatically on every later ``connect`` (an in-memory main database attaches in-memory schemas). SQLite has no
date type either: ``insert_table`` writes dates the way rcdm's SQLite translation reads them (``date_storage``;
``tests/test_backends.py`` checks the two agree), and ``query_sql`` turns ``*_date`` / ``*_datetime`` columns back
into dates and timestamps, as DatabaseConnector does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from rcdm.db import bulk
from rcdm.db.backend import Backend, ResultTyping
from rcdm.errors import DatabaseError, IdentifierError
from rcdm.identifiers import check_identifier
from rcdm.sql.dialects import sqlite as target

if TYPE_CHECKING:
    from rcdm.db.connection import Connection


def discover_schemas(conn: Connection) -> None:
    """Find the schema files beside the main file, and ATTACH them on every new driver connection."""
    if conn.database_path is not None:
        prefix = f"{conn.database_path.stem}."
        for file in sorted(conn.database_path.parent.glob(f"{conn.database_path.stem}.*.db")):
            name = file.name[len(prefix):-len(".db")]
            try:
                check_identifier(name, "schema name")
            except IdentifierError:
                continue
            conn.sqlite_schemas[name.lower()] = str(file)

    def attach(dbapi_connection: Any, _record: Any) -> None:
        for name, file in conn.sqlite_schemas.items():
            dbapi_connection.execute(f"ATTACH DATABASE ? AS {name}", (file,))

    sa.event.listen(conn.engine, "connect", attach)


def attach_schema(conn: Connection, schema: str) -> None:
    """``create_schema``: ATTACH the schema's file (creating it) unless it is ``main``, ``temp`` or attached."""
    if "." in schema:
        raise IdentifierError(f"SQLite has no 'database.schema' names: use a plain schema name, not {schema!r}.")
    name = schema.lower()
    if not conn.has_schema(name):
        file = conn.sqlite_schema_path(name)
        raw = conn.driver_connection()
        try:
            raw.execute(f"ATTACH DATABASE ? AS {name}", (file,))
        except Exception as exc:  # sqlite3.Error
            raise DatabaseError(f"Could not attach SQLite schema {schema!r} from {file}: {exc}") from None
        conn.sqlite_schemas[name] = file


def begin(sa_conn: sa.Connection) -> None:
    """Python's sqlite3 opens transactions only before DML; an explicit BEGIN also covers DDL."""
    raw = sa_conn.connection.driver_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN")


def read_only_session(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only = ON")


BACKEND = Backend(
    dialect=target.NAME,
    label="SQLite",
    driver="sqlite3",
    driver_module="sqlite3",
    extra=None,
    url_schemes=("sqlite",),
    url_from_fields=lambda fields: URL.create("sqlite", database=fields.server),
    bulk_load=bulk.load_sqlite,
    on_open=discover_schemas,
    begin=begin,
    read_only_session=read_only_session,
    create_schema=attach_schema,
    schema_files=True,
    date_storage="iso_text",
    result_typing=ResultTyping(text_dates=True),
)
