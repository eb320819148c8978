"""DuckDB, the embedded default, through duckdb-engine: Arrow tables read in place for bulk loads and the ETL's
key lists; a file is ATTACHed as ``rcdm_database`` inside a named in-memory instance."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from rcdm.db import bulk
from rcdm.db.backend import Backend, LoadSetting, ResultTyping
from rcdm.sql.dialects import duckdb as target

if TYPE_CHECKING:
    from rcdm.db.connection import Connection

DUCKDB_CATALOG = "rcdm_database"
"""The name a DuckDB file is attached under, so a schema named like the file (``cdm`` in ``cdm.duckdb``) works."""

CHECKPOINT_THRESHOLD = "128MB"
"""DuckDB's ``checkpoint_threshold`` while ETL batches load (default 16 MB). With batches of 5,000 files (a WAL
of ~2.5 MB each) a checkpoint every ~6 batches cost ~40 % of the commit time (``bench_load.py``); at 128 MB it
runs every ~50 (a batch above 122,880 rows writes most of its rows to the database file directly). Bounded:
the WAL never exceeds ~128 MB (replayed in seconds after a crash), and the rows not yet checkpointed stay in
DuckDB's buffer manager under its ``memory_limit``."""


def instance_url(url: URL, path: Path | None, read_only: bool) -> URL:
    """A named in-memory DuckDB instance per file, shared by every connection to that file in this process.

    DuckDB names a file's catalog after its stem, so ``cdm.duckdb`` holding a schema ``cdm`` makes ``cdm.person``
    ambiguous. rcdm therefore ATTACHes the file as ``DUCKDB_CATALOG`` (and USEs it) inside this instance; a
    read-only connection gets its own instance (the file ATTACHed ``READ_ONLY``).
    """
    if path is None:
        return url
    name = ":memory:rcdm_" + hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:16]
    return url.set(database=name + ("_ro" if read_only else ""))


def attach_file(conn: Connection) -> None:
    """ATTACH the database file (read-only if asked) on every new driver connection, and USE it."""
    if conn.database_path is None:
        return
    path = str(conn.database_path).replace("'", "''")
    mode = " (READ_ONLY)" if conn.read_only else ""

    def attach(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"ATTACH IF NOT EXISTS '{path}' AS {DUCKDB_CATALOG}{mode}")
        dbapi_connection.execute(f"USE {DUCKDB_CATALOG}")

    sa.event.listen(conn.engine, "connect", attach)


def begin(sa_conn: sa.Connection) -> None:
    """DuckDB commits each statement unless told BEGIN; duckdb-engine's ``do_begin`` says it for SQLAlchemy."""
    sa_conn.begin()


def indexes_and_constraints(conn: Connection, schema: str, table: str) -> list[str]:
    """From ``duckdb_indexes()`` and ``duckdb_constraints()`` (SQLAlchemy's inspector does not list them), read
    on the driver connection: a few names, not a typed frame (a quarter of the CPU; a run lists 6 tables)."""
    database, _, name = schema.rpartition(".")
    where = ("database_name = " + ("?" if database else "current_database()") +
             " AND lower(schema_name) = ? AND lower(table_name) = ?")
    sql = (f"SELECT index_name AS name FROM duckdb_indexes() WHERE {where} "
           f"UNION ALL SELECT constraint_name FROM duckdb_constraints() WHERE {where} "
           "AND constraint_name IS NOT NULL")
    params = [*([database] if database else []), name.lower(), table.lower()] * 2
    return [str(row[0]) for row in conn.driver_connection().execute(sql, params).fetchall()]


BACKEND = Backend(
    dialect=target.NAME,
    label="DuckDB",
    driver="duckdb-engine",
    driver_module="duckdb_engine",
    extra=None,
    url_schemes=("duckdb",),
    url_from_fields=lambda fields: URL.create("duckdb", database=fields.server),
    bulk_load=bulk.load_duckdb,
    prepare_url=instance_url,
    on_open=attach_file,
    begin=begin,
    indexes_and_constraints=indexes_and_constraints,
    load_setting=LoadSetting("checkpoint_threshold", CHECKPOINT_THRESHOLD),
    deferred_indexes=True,
    arrow_views=True,
    ddl_in_one_transaction=True,
    result_typing=ResultTyping(arrow_cursor=True),
)

__all__ = ["BACKEND", "CHECKPOINT_THRESHOLD", "DUCKDB_CATALOG"]
