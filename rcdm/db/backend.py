"""What one database platform is to rcdm: the frozen :class:`Backend` each module of ``rcdm.db.backends`` exports.

A Backend gathers in one value everything that differs between platforms (so no other module keeps a table keyed
by dialect): the SqlRender dialect it runs (the translator target of the same name), the driver and the rcdm
extra that installs it, how DatabaseConnector's fields and JDBC strings become a SQLAlchemy URL, how a
transaction begins, the bulk loader, the ETL's session settings and lock, how dates are stored and how query
results are typed (:class:`ResultTyping`, read by ``rcdm.fetch``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL

from rcdm.db.urls import Fields
from rcdm.errors import MissingDriverError

if TYPE_CHECKING:
    from rcdm.db.connection import Connection

Loader = Callable[["Connection", str, pa.Table, bool], None]
"""``load(conn, target, table, progress)``: insert every row of an Arrow table into an existing table."""


@dataclass(frozen=True)
class LoadSetting:
    """A session setting the ETL holds while batches load (restored afterwards); ``commit`` ends the transaction
    the driver opens with ``SET`` (psycopg does, DuckDB does not)."""

    name: str
    value: str
    commit: bool = False


def begin_implicitly(sa_conn: sa.Connection) -> None:
    """psycopg, pyodbc, oracledb (autocommit off) open a transaction with the first statement."""


def create_schema_if_not_exists(schema: str) -> str:
    """The statement that creates a missing schema where SQL has ``CREATE SCHEMA IF NOT EXISTS``."""
    return f"CREATE SCHEMA IF NOT EXISTS {schema}"


@dataclass(frozen=True)
class ResultTyping:
    """How a driver's result rows become typed Arrow columns (each backend's ``result_typing``)."""

    arrow_cursor: bool = False  # the cursor hands over an Arrow table itself (DuckDB)
    type_codes: Mapping[Any, pa.DataType] = field(default_factory=dict)  # cursor.description type code -> type
    text_dates: bool = False  # ISO text, and numbers in *_date(time) columns, become dates (SQLite)


VALUE_TYPING = ResultTyping()
"""Every column typed from the values the driver returns (drivers that describe no types)."""


@dataclass(frozen=True)
class Backend:
    """One database platform: its dialect, driver, URLs, transactions, bulk path and ETL needs.

    ``dialect`` is SqlRender's name and the translator target's name (each backend module reads it from its
    ``rcdm.sql.dialects`` module). ``driver_module`` is imported only to tell whether the driver is installed;
    the drivers themselves load when SQLAlchemy creates the engine, inside ``connect``.
    """

    dialect: str
    label: str
    driver: str  # the pip package of the driver, for messages
    driver_module: str  # the module that must import for the driver to work
    extra: str | None  # the rcdm extra that installs the driver (None: installed with rcdm)
    url_schemes: tuple[str, ...]  # SQLAlchemy backend names (before "+") that mean this dialect
    url_from_fields: Callable[[Fields], URL]  # DatabaseConnector's server/user/password/port/extraSettings
    bulk_load: Loader
    jdbc_schemes: tuple[str, ...] = ()  # the word after "jdbc:" that means this dialect
    url_from_jdbc: Callable[[str, Fields], URL] | None = None  # the JDBC body (after "jdbc:"), user, password
    default_driver: str | None = None  # SQLAlchemy driver when a URL names only the backend
    engine_options: Mapping[str, Any] = field(default_factory=dict)
    ping: str = "SELECT 1"
    begin: Callable[[sa.Connection], None] = begin_implicitly
    prepare_url: Callable[[URL, Path | None, bool], URL] | None = None  # the URL the engine opens (file, read-only)
    on_open: Callable[[Connection], None] | None = None  # engine events to add before the first connection
    read_only_session: Callable[[Any, Any], None] | None = None  # makes a new driver connection refuse writes
    create_schema: Callable[[Connection, str], None] | None = None  # None: run ``create_schema_sql``
    create_schema_sql: Callable[[str], str] = create_schema_if_not_exists
    indexes_and_constraints: Callable[[Connection, str, str], list[str]] | None = None  # None: SQLAlchemy's
    schema_files: bool = False  # a schema is a database file ATTACHed by name (SQLite); others always exist
    case_sensitive_schemas: bool = False  # schema names are given to SQLAlchemy's inspector as written
    date_storage: str = "native"  # "native" DATE/TIMESTAMP types, "iso_text" or "epoch_seconds" (SQLite)
    load_setting: LoadSetting | None = None  # the ETL's session setting while batches load
    lock: str = "run_row"  # the ETL lock: "advisory" (pg_try_advisory_lock) or "run_row" (rcdm_etl_run row)
    deferred_indexes: bool = False  # the ETL builds secondary indexes after loading an empty schema
    arrow_views: bool = False  # the driver reads a registered Arrow table in place (no rows written)
    # the ETL makes its tables in one transaction (one commit, not one a statement): safe only where one process
    # owns the database (DuckDB's file); two runs starting at once on a new PostgreSQL or SQLite schema would both
    # find a table missing, and the second's CREATE TABLE would fail when the first commits
    ddl_in_one_transaction: bool = False
    result_typing: ResultTyping = VALUE_TYPING  # how query results become typed Arrow columns (rcdm.fetch)

    def is_available(self) -> bool:
        """Whether the driver is installed (without importing it)."""
        try:
            return importlib.util.find_spec(self.driver_module) is not None
        except (ImportError, ValueError):
            return False

    def missing_driver(self, cause: BaseException | None = None) -> MissingDriverError:
        """The error for a driver that is not installed, naming what to install (exit code 4)."""
        return missing_driver(self.label, self.driver, self.extra, cause)


def missing_driver(label: str, driver: str, extra: str | None,
                   cause: BaseException | None = None) -> MissingDriverError:
    """``<label> needs the <driver> driver: pip install 'rcdm[<extra>]'`` (with the import error, if any)."""
    hint = f"pip install 'rcdm[{extra}]'" if extra else f"pip install {driver}"
    detail = f" ({cause})" if cause else ""
    return MissingDriverError(f"{label} needs the {driver} driver: {hint}{detail}")
