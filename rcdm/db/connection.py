"""``connect`` and the :class:`Connection` it returns: one open SQLAlchemy connection that knows its Backend.

What differs by platform (URL building, engine options, session set-up, the ping) comes from the Backend of
the connection's dialect (``rcdm.db.backends``); this module only chooses it and opens the connection.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from rcdm.db.backend import Backend
from rcdm.db.backends import BACKENDS, backend_for_jdbc, backend_for_url
from rcdm.db.messages import driver_errors, error_message, scrub
from rcdm.db.urls import (
    FILE_DIALECTS,
    ConnectionDetails,
    DetailsFields,
    Fields,
    Target,
    database_path,
    target_text,
    url_from_target,
)
from rcdm.errors import DatabaseError, UnsupportedDialectError, UsageError
from rcdm.identifiers import check_schema

if TYPE_CHECKING:
    from typing_extensions import Unpack


class Connection:
    """An open database connection that knows its SqlRender dialect; a context manager.

    It wraps a SQLAlchemy Engine and keeps one SQLAlchemy connection open (``sqlalchemy_connection``), like a
    DatabaseConnector connection; ``driver_connection()`` gives the driver's own connection for bulk paths.
    """

    def __init__(self, engine: sa.Engine, dialect: str, temp_emulation_schema: str | None = None,
                 database_path: Path | None = None) -> None:
        self.engine = engine
        self.dialect = dialect
        self.temp_emulation_schema = temp_emulation_schema
        self.database_path = database_path
        """The main database file (DuckDB, SQLite); None for servers and in-memory databases."""
        self.sqlite_schemas: dict[str, str] = {}
        """SQLite only: schema name → file ATTACHed under that name (``:memory:`` for in-memory ones)."""
        self.transaction_depth = 0
        """How many ``transaction(conn)`` blocks are open; while > 0 nothing commits on its own."""
        self.read_only = False
        """Opened with ``connect(read_only=True)``: the database refuses writes where the driver allows it."""
        self._sa: sa.Connection | None = None

    @property
    def backend(self) -> Backend:
        """The platform's Backend (``rcdm.db.backends.BACKENDS[dialect]``)."""
        return BACKENDS[self.dialect]

    # -- lifecycle
    def open(self) -> Connection:
        """Open (and so test) the connection; raises DatabaseError without the password when it fails."""
        backend = self.backend
        if backend.on_open is not None:
            backend.on_open(self)
        if self.read_only and backend.read_only_session is not None:
            sa.event.listen(self.engine, "connect", backend.read_only_session)
        failures: tuple[type[BaseException], ...] = (sa.exc.DBAPIError, *driver_errors(self.engine))
        try:
            self._sa = self.engine.connect()
            self._sa.exec_driver_sql(backend.ping).fetchall()
            self._sa.commit()
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            self.engine.dispose()
            raise backend.missing_driver(exc) from None
        except failures as exc:
            self.engine.dispose()
            raise DatabaseError(
                f"Could not connect to {backend.label} at {self.display_url}: "
                f"{scrub(error_message(exc), self.engine.url.password)}"
            ) from None
        return self

    def close(self) -> None:
        """Close the connection and release the engine (idempotent)."""
        if self._sa is not None:
            try:
                self._sa.close()
            finally:
                self._sa = None
                self.engine.dispose()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._sa is not None else "closed"
        return f"<rcdm.Connection {self.dialect} {self.display_url} ({state})>"

    @property
    def display_url(self) -> str:
        """The URL without its password, for messages and the CLI."""
        if self.backend.prepare_url is not None and self.database_path is not None:
            return f"{self.dialect}:///{self.database_path}"
        return self.engine.url.render_as_string(hide_password=True)

    # -- access
    @property
    def sqlalchemy_connection(self) -> sa.Connection:
        """The open SQLAlchemy connection every statement runs on."""
        if self._sa is None:
            raise UsageError("The connection is closed.")
        return self._sa

    def driver_connection(self) -> Any:
        """The driver's own connection (psycopg, sqlite3, duckdb, pyodbc, ...), with no transaction pending.

        Any transaction SQLAlchemy has open is committed first, so work done on the driver connection and
        committed there is seen by later statements.
        """
        sa_conn = self.sqlalchemy_connection
        if sa_conn.in_transaction() and not self.transaction_depth:
            sa_conn.commit()
        return sa_conn.connection.driver_connection

    @property
    def in_transaction(self) -> bool:
        """Whether a ``transaction(conn)`` block is open (statements and bulk loads then do not commit)."""
        return self.transaction_depth > 0

    def commit_unless_in_transaction(self) -> None:
        """Commit the open SQLAlchemy transaction, unless a ``transaction(conn)`` block will commit it later."""
        if not self.transaction_depth:
            self.sqlalchemy_connection.commit()

    # -- schemas kept as files (SQLite)
    def has_schema(self, schema: str) -> bool:
        """Whether the schema can hold tables now: always, except a SQLite schema file not ATTACHed yet."""
        name = schema.lower()
        return not self.backend.schema_files or name in ("main", "temp") or name in self.sqlite_schemas

    def sqlite_schema_path(self, schema: str) -> str:
        """The file a SQLite schema lives in: ``<main stem>.<schema>.db`` beside the main file."""
        if self.database_path is None:
            return ":memory:"
        return str(self.database_path.with_name(f"{self.database_path.stem}.{schema}.db"))


def connect(
    url_or_path: Target = None,
    *,
    temp_emulation_schema: str | None = None,
    read_only: bool = False,
    **details: Unpack[DetailsFields],
) -> Connection:
    """Open a connection from a SQLAlchemy URL, a file path, or DatabaseConnector's connection fields.

    * ``connect()`` → the embedded DuckDB file (``$RCDM_DATABASE``, else ``./rcdm.duckdb``);
    * ``connect("cdm.duckdb")`` / ``connect("cdm.db")`` (``.db``, ``.sqlite``, ``.sqlite3`` → SQLite);
    * ``connect("postgresql://user@host/db")`` (psycopg 3), ``"mssql+pyodbc://..."``, ``"bigquery://project/ds"``...;
    * ``connect(dbms="postgresql", server="host/database", user=..., password=..., port=5432)`` as
      ``DatabaseConnector::createConnectionDetails`` spells them (``port`` may be a float from R), or
      ``connection_string=`` a JDBC string (``jdbc:postgresql://...``) or a SQLAlchemy URL
      (the keywords of :class:`rcdm.db.urls.ConnectionDetails`).

    ``dbms`` given with a URL sets the SqlRender dialect (e.g. ``"synapse"`` over a ``mssql+pyodbc`` URL).
    The connection is tested before it is returned: an unreachable database raises DatabaseError, a driver
    that is not installed raises MissingDriverError naming the rcdm extra to install.

    ``read_only=True`` (the viewer) opens the database so that it refuses writes where the driver allows: a
    DuckDB file is ATTACHed ``(READ_ONLY)`` in its own instance, SQLite gets ``PRAGMA query_only``, PostgreSQL
    and Redshift sessions default to read-only transactions. Other servers: connect as a read-only account.
    """
    given = ConnectionDetails(**details)
    dbms = given.dbms.strip().lower() if given.dbms is not None else None
    if dbms is not None and dbms not in BACKENDS:
        raise UnsupportedDialectError(f"Unknown dbms {dbms!r}: use one of {', '.join(repr(d) for d in BACKENDS)}.")
    if temp_emulation_schema is not None:
        check_schema(temp_emulation_schema, "temp emulation schema")
    url = _url(url_or_path, dataclasses.replace(given, dbms=dbms))
    backend = BACKENDS[dbms] if dbms is not None else backend_for_url(url)
    path = database_path(url, backend.dialect)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    if backend.prepare_url is not None:
        url = backend.prepare_url(url, path, read_only)
    try:
        engine = sa.create_engine(url, **backend.engine_options)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise backend.missing_driver(exc) from None
    conn = Connection(engine, backend.dialect, temp_emulation_schema, path)
    conn.read_only = read_only
    return conn.open()


def _url(target: Target, given: ConnectionDetails) -> URL:
    """The SQLAlchemy URL ``connect``'s arguments name (one of: a target, a connection string, the fields)."""
    dbms, fields = given.dbms, given.fields()
    if target is not None and (given.server is not None or given.connection_string is not None):
        raise UsageError("Give either a URL/path or DatabaseConnector's server/connection_string, not both.")
    if target is None and given.connection_string is not None:
        return url_from_connection_string(given.connection_string, dbms, given.user, given.password)
    if target is None and given.server is not None:
        if dbms is None:
            raise UsageError("connect(server=...) needs dbms= (e.g. dbms='postgresql').")
        return BACKENDS[dbms].url_from_fields(fields)
    if target is None and dbms is not None and dbms not in FILE_DIALECTS:
        raise UsageError(f"connect(dbms={dbms!r}) needs server= or connection_string=.")
    text = target_text(target)
    if text is not None and text.startswith("jdbc:"):
        return url_from_connection_string(text, dbms, None, None)
    return normalise_url(url_from_target(target, dbms))


def normalise_url(url: URL) -> URL:
    """A URL that names only the backend gets rcdm's driver (``postgresql://`` means psycopg 3, not psycopg2)."""
    backend_name, _, driver = url.drivername.partition("+")
    if driver:
        return url
    try:
        default = backend_for_url(url).default_driver
    except UnsupportedDialectError:
        return url  # reported when the dialect is asked for
    return url.set(drivername=f"{backend_name}+{default}") if default else url


def url_from_connection_string(text: str, dbms: str | None, user: str | None, password: str | None) -> URL:
    """A SQLAlchemy URL as is, or a DatabaseConnector JDBC string read by its backend into the same fields."""
    if not text.startswith("jdbc:"):
        url = normalise_url(make_url(text))
        if user is not None:
            url = url.set(username=user)
        if password is not None:
            url = url.set(password=password)
        return url
    body = text[len("jdbc:"):]
    scheme = body.split(":", 1)[0].lower()
    backend = BACKENDS[dbms] if dbms is not None else backend_for_jdbc(scheme)
    if backend is None:
        raise UsageError(f"Cannot read JDBC connection string {text.split('?')[0]!r}: give dbms=.")
    if backend.url_from_jdbc is None:
        raise UsageError(f"JDBC connection strings are not read for dbms {backend.dialect!r}: give a SQLAlchemy "
                         "URL instead.")
    return backend.url_from_jdbc(body, Fields("", user, password, None, None))


def dialect_of(url: URL) -> str:
    """The SqlRender dialect of a SQLAlchemy URL (``mssql+pyodbc://`` → ``sql server``)."""
    return backend_for_url(url).dialect


__all__ = ["Connection", "connect", "dialect_of", "normalise_url", "url_from_connection_string"]
