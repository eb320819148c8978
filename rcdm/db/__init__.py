"""The database layer: connect, execute, query and bulk-insert, mirroring R's DatabaseConnector.

``connect`` takes a SQLAlchemy URL, a file path, or DatabaseConnector's ``createConnectionDetails`` fields
(``dbms``, ``server``, ``user``, ``password``, ``port``, ``extraSettings``, ``connectionString``) and returns a
:class:`Connection` that knows its SqlRender dialect. ``execute_sql`` and ``query_sql`` render and translate
OHDSI SQL to that dialect before running it; ``insert_table`` uses each backend's bulk path (see
``rcdm.db.bulk``). Schema and table names are checked before any SQL runs; values are always bound, never spliced.

Decisions worth knowing:

* No argument means the embedded DuckDB database: ``$RCDM_DATABASE`` if set, else ``rcdm.duckdb`` in the
  current folder. A DuckDB file is ATTACHed as catalog ``rcdm_database`` (DuckDB would name it after the
  file, and ``cdm.duckdb`` with a schema ``cdm`` would make ``cdm.person`` ambiguous).
* ``query_sql`` returns lower-case column names on every backend (Oracle and Snowflake fold unquoted names to
  upper case, the others to lower case; one spelling keeps callers portable).
* SQLite has no schemas: ``main`` and ``temp`` are its own; any other schema is a database file
  ``<main file stem>.<schema>.db`` next to the main file, ATTACHed as ``<schema>`` by ``create_schema`` and
  again automatically on every later ``connect`` (an in-memory main database attaches in-memory schemas).
  SQLite has no date type: ``insert_table`` stores dates and timestamps the way rcdm's SQLite translation
  declares them (ISO 8601 text, or REAL seconds since 1970 as SqlRender does), and ``query_sql`` turns
  columns named ``*_date`` / ``*_datetime`` back into dates and timestamps, as DatabaseConnector does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from rcdm.db import bulk
from rcdm.errors import DatabaseError, IdentifierError, MissingDriverError, UnsupportedDialectError, UsageError
from rcdm.identifiers import check_identifier, check_schema

DEFAULT_DATABASE = "rcdm.duckdb"
"""File name of the embedded DuckDB database used when ``connect`` gets no argument and $RCDM_DATABASE is unset."""

DUCKDB_CATALOG = "rcdm_database"
"""The name a DuckDB file is attached under, so a schema named like the file (``cdm`` in ``cdm.duckdb``) works."""

STATEMENT_PREVIEW = 300
"""How many characters of a failing statement an error message shows."""


# --------------------------------------------------------------------------------------------------------------
# Backends: SqlRender dialect ↔ SQLAlchemy backend, driver module and pip extra.


@dataclass(frozen=True)
class Backend:
    """One database platform: how people name it, the driver it needs and the rcdm extra that installs it."""

    label: str
    driver: str
    extra: str | None

    def missing_driver(self, cause: BaseException | None = None) -> MissingDriverError:
        hint = f"pip install 'rcdm[{self.extra}]'" if self.extra else f"pip install {self.driver}"
        detail = f" ({cause})" if cause else ""
        return MissingDriverError(f"{self.label} needs the {self.driver} driver: {hint}{detail}")


BACKENDS: dict[str, Backend] = {
    "duckdb": Backend("DuckDB", "duckdb-engine", None),
    "sqlite": Backend("SQLite", "sqlite3", None),
    "postgresql": Backend("PostgreSQL", "psycopg", "postgresql"),
    "redshift": Backend("Redshift", "psycopg", "postgresql"),
    "sql server": Backend("SQL Server", "pyodbc", "sqlserver"),
    "synapse": Backend("Azure Synapse", "pyodbc", "sqlserver"),
    "oracle": Backend("Oracle", "oracledb", "oracle"),
    "bigquery": Backend("BigQuery", "sqlalchemy-bigquery", "bigquery"),
    "snowflake": Backend("Snowflake", "snowflake-sqlalchemy", "snowflake"),
    "spark": Backend("Spark/Databricks", "databricks-sql-connector", "spark"),
}
"""Every SqlRender dialect rcdm can connect to."""

_DIALECT_BY_URL_BACKEND = {
    "duckdb": "duckdb",
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "redshift": "redshift",
    "mssql": "sql server",
    "oracle": "oracle",
    "bigquery": "bigquery",
    "snowflake": "snowflake",
    "databricks": "spark",
    "sc": "spark",
}
"""SQLAlchemy URL backend name (the part before ``+``) → SqlRender dialect."""

sa.dialects.registry.register("sc", "rcdm.spark_connect", "SparkConnectDialect")
"""``sc://host:port``: Apache Spark through Spark Connect (rcdm.spark_connect, needs ``pyspark[connect]``)."""

_DEFAULT_DRIVER = {"postgresql": "psycopg", "postgres": "psycopg", "oracle": "oracledb", "mssql": "pyodbc"}
"""Driver used when a URL names only the backend (``postgresql://`` means psycopg 3 here, not psycopg2)."""


# --------------------------------------------------------------------------------------------------------------
# The connection.


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

    # -- lifecycle
    def open(self) -> "Connection":
        """Open (and so test) the connection; raises DatabaseError without the password when it fails."""
        if self.dialect == "sqlite":
            self._discover_sqlite_schemas()
            sa.event.listen(self.engine, "connect", self._attach_sqlite_schemas)
        elif self.dialect == "duckdb" and self.database_path is not None:
            sa.event.listen(self.engine, "connect", self._attach_duckdb_file)
        if self.read_only and self.dialect in _READ_ONLY_SESSION:
            sa.event.listen(self.engine, "connect", _READ_ONLY_SESSION[self.dialect])
        try:
            self._sa = self.engine.connect()
            self._sa.exec_driver_sql(_PING.get(self.dialect, "SELECT 1")).fetchall()
            self._sa.commit()
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            self.engine.dispose()
            raise BACKENDS[self.dialect].missing_driver(exc) from None
        except (sa.exc.DBAPIError, *bulk.driver_errors(self)) as exc:
            self.engine.dispose()
            raise DatabaseError(
                f"Could not connect to {BACKENDS[self.dialect].label} at {self.display_url}: "
                f"{_scrub(_error_message(exc), self.engine.url.password)}"
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

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._sa is not None else "closed"
        return f"<rcdm.Connection {self.dialect} {self.display_url} ({state})>"

    @property
    def display_url(self) -> str:
        """The URL without its password, for messages and the CLI."""
        if self.dialect == "duckdb" and self.database_path is not None:
            return f"duckdb:///{self.database_path}"
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

    # -- SQLite schemas
    def sqlite_schema_path(self, schema: str) -> str:
        """The file a SQLite schema lives in: ``<main stem>.<schema>.db`` beside the main file."""
        if self.database_path is None:
            return ":memory:"
        return str(self.database_path.with_name(f"{self.database_path.stem}.{schema}.db"))

    def _discover_sqlite_schemas(self) -> None:
        if self.database_path is None:
            return
        prefix = f"{self.database_path.stem}."
        for file in sorted(self.database_path.parent.glob(f"{self.database_path.stem}.*.db")):
            name = file.name[len(prefix):-len(".db")]
            try:
                check_identifier(name, "schema name")
            except IdentifierError:
                continue
            self.sqlite_schemas[name.lower()] = str(file)

    def _attach_duckdb_file(self, dbapi_connection: Any, _record: Any) -> None:
        path = str(self.database_path).replace("'", "''")
        mode = " (READ_ONLY)" if self.read_only else ""
        dbapi_connection.execute(f"ATTACH IF NOT EXISTS '{path}' AS {DUCKDB_CATALOG}{mode}")
        dbapi_connection.execute(f"USE {DUCKDB_CATALOG}")

    def _attach_sqlite_schemas(self, dbapi_connection: Any, _record: Any) -> None:
        for name, file in self.sqlite_schemas.items():
            dbapi_connection.execute(f"ATTACH DATABASE ? AS {name}", (file,))


_PING = {"oracle": "SELECT 1 FROM DUAL"}


def _read_only_postgresql(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    dbapi_connection.commit()


def _read_only_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only = ON")


_READ_ONLY_SESSION: dict[str, Callable[[Any, Any], None]] = {
    "postgresql": _read_only_postgresql,
    "redshift": _read_only_postgresql,
    "sqlite": _read_only_sqlite,
}
"""Dialect → what makes a new driver connection refuse writes (DuckDB files: ATTACH ... (READ_ONLY))."""


def _driver_message(exc: sa.exc.DBAPIError) -> str:
    """The driver's own message, without SQLAlchemy's statement echo and background link."""
    return str(exc.orig if exc.orig is not None else exc).strip()


def _error_message(exc: BaseException) -> str:
    """The message of a SQLAlchemy-wrapped or a raw driver / bulk API error."""
    return _driver_message(exc) if isinstance(exc, sa.exc.DBAPIError) else str(exc).strip()


def _scrub(text: str, password: str | None) -> str:
    """``text`` with the password masked where it stands as a word (so a password "p" leaves "port" alone)."""
    if not password:
        return text
    return re.sub(rf"(?<![\w]){re.escape(password)}(?![\w])", "***", text)


# --------------------------------------------------------------------------------------------------------------
# connect


def connect(
    url_or_path: str | os.PathLike | URL | None = None,
    *,
    dbms: str | None = None,
    server: str | None = None,
    user: str | None = None,
    password: str | None = None,
    port: int | float | str | None = None,
    extra_settings: str | None = None,
    connection_string: str | None = None,
    temp_emulation_schema: str | None = None,
    read_only: bool = False,
) -> Connection:
    """Open a connection from a SQLAlchemy URL, a file path, or DatabaseConnector's connection fields.

    * ``connect()`` → the embedded DuckDB file (``$RCDM_DATABASE``, else ``./rcdm.duckdb``);
    * ``connect("cdm.duckdb")`` / ``connect("cdm.db")`` (``.db``, ``.sqlite``, ``.sqlite3`` → SQLite);
    * ``connect("postgresql://user@host/db")`` (psycopg 3), ``"mssql+pyodbc://..."``, ``"bigquery://project/ds"``...;
    * ``connect(dbms="postgresql", server="host/database", user=..., password=..., port=5432)`` as
      ``DatabaseConnector::createConnectionDetails`` spells them (``port`` may be a float from R), or
      ``connection_string=`` a JDBC string (``jdbc:postgresql://...``) or a SQLAlchemy URL.

    ``dbms`` given with a URL sets the SqlRender dialect (e.g. ``"synapse"`` over a ``mssql+pyodbc`` URL).
    The connection is tested before it is returned: an unreachable database raises DatabaseError, a driver
    that is not installed raises MissingDriverError naming the rcdm extra to install.

    ``read_only=True`` (the viewer) opens the database so that it refuses writes where the driver allows: a
    DuckDB file is ATTACHed ``(READ_ONLY)`` in its own instance, SQLite gets ``PRAGMA query_only``, PostgreSQL
    and Redshift sessions default to read-only transactions. Other servers: connect as a read-only account.
    """
    if dbms is not None:
        dbms = dbms.strip().lower()
        if dbms not in BACKENDS:
            raise UnsupportedDialectError(
                f"Unknown dbms {dbms!r}: use one of {', '.join(repr(d) for d in BACKENDS)}."
            )
    if temp_emulation_schema is not None:
        check_schema(temp_emulation_schema, "temp emulation schema")
    port = _port(port)

    if url_or_path is not None and (server is not None or connection_string is not None):
        raise UsageError("Give either a URL/path or DatabaseConnector's server/connection_string, not both.")
    if url_or_path is None and connection_string is not None:
        url = _url_from_connection_string(connection_string, dbms, user, password)
    elif url_or_path is None and server is not None:
        if dbms is None:
            raise UsageError("connect(server=...) needs dbms= (e.g. dbms='postgresql').")
        url = _FIELD_BUILDERS[dbms](_Fields(server, user, password, port, extra_settings))
    elif url_or_path is None and dbms is not None and dbms not in ("duckdb", "sqlite"):
        raise UsageError(f"connect(dbms={dbms!r}) needs server= or connection_string=.")
    else:
        url = _url_from_target(url_or_path, dbms)

    dialect = dbms or _dialect_of(url)
    database_path = _database_path(url, dialect)
    if database_path is not None:
        database_path.parent.mkdir(parents=True, exist_ok=True)
    if dialect == "duckdb" and database_path is not None:
        url = url.set(database=_duckdb_instance(database_path) + ("_ro" if read_only else ""))
    try:
        engine = sa.create_engine(url, **_ENGINE_OPTIONS.get(dialect, {}))
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise BACKENDS[dialect].missing_driver(exc) from None
    if url.drivername == "sc":
        try:
            import pyspark.sql.connect.session  # noqa: F401
        except ImportError as exc:
            raise Backend("Spark Connect", "pyspark", "spark-connect").missing_driver(exc) from None
    conn = Connection(engine, dialect, temp_emulation_schema, database_path)
    conn.read_only = read_only
    return conn.open()


_ENGINE_OPTIONS: dict[str, dict[str, Any]] = {
    "sql server": {"fast_executemany": True},
    "synapse": {"fast_executemany": True},
}


def _duckdb_instance(path: Path) -> str:
    """A named in-memory DuckDB instance per file, shared by every connection to that file in this process.

    DuckDB names a file's catalog after its stem, so ``cdm.duckdb`` holding a schema ``cdm`` makes ``cdm.person``
    ambiguous. rcdm therefore ATTACHes the file as ``DUCKDB_CATALOG`` (and USEs it) inside this instance.
    """
    return ":memory:rcdm_" + hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:16]


def _port(port: int | float | str | None) -> int | None:
    """Accept 5432, 5432.0 (R numbers) and "5432"."""
    if port is None or port == "":
        return None
    try:
        value = float(port)
    except (TypeError, ValueError):
        raise UsageError(f"Invalid port {port!r}: give a number such as 5432.") from None
    if not value.is_integer() or not 0 < value < 65536:
        raise UsageError(f"Invalid port {port!r}: give a whole number between 1 and 65535.")
    return int(value)


def _url_from_target(target: str | os.PathLike | URL | None, dbms: str | None) -> URL:
    """A URL from a URL string, a file path, or nothing (the embedded default)."""
    if isinstance(target, URL):
        return _normalise_url(target)
    if target is None:
        target = os.environ.get("RCDM_DATABASE") or DEFAULT_DATABASE
    text = os.fspath(target)
    if "://" in text:
        try:
            return _normalise_url(make_url(text))
        except sa.exc.ArgumentError as exc:
            raise UsageError(f"Invalid database URL: {exc}") from None
    if text.startswith("jdbc:"):
        return _url_from_connection_string(text, dbms, None, None)
    kind = dbms or ("sqlite" if Path(text).suffix.lower() in (".db", ".sqlite", ".sqlite3") else "duckdb")
    if kind not in ("duckdb", "sqlite"):
        raise UsageError(f"A file path can only be a DuckDB or SQLite database, not {kind!r}: {text!r}.")
    if text == ":memory:":
        return URL.create(kind, database=":memory:")
    return URL.create(kind, database=str(Path(text).expanduser()))


def database_file(target: str | os.PathLike | URL | None) -> Path | None:
    """The local file a DuckDB/SQLite target names (path, URL or the default), or None for servers/memory."""
    url = _url_from_target(target, None)
    if url.get_backend_name() not in ("duckdb", "sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _normalise_url(url: URL) -> URL:
    backend, _, driver = url.drivername.partition("+")
    if not driver and backend in _DEFAULT_DRIVER:
        url = url.set(drivername=f"{backend}+{_DEFAULT_DRIVER[backend]}")
    return url


def _dialect_of(url: URL) -> str:
    backend = url.drivername.partition("+")[0]
    if backend not in _DIALECT_BY_URL_BACKEND:
        raise UnsupportedDialectError(
            f"Unsupported database URL scheme {url.drivername!r}: use one of "
            f"{', '.join(sorted(_DIALECT_BY_URL_BACKEND))} (or say dbms=)."
        )
    return _DIALECT_BY_URL_BACKEND[backend]


def _database_path(url: URL, dialect: str) -> Path | None:
    if dialect not in ("duckdb", "sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser().resolve()


# -- DatabaseConnector's fields → a SQLAlchemy URL, one small builder per dbms (table-driven).


@dataclass(frozen=True)
class _Fields:
    server: str
    user: str | None
    password: str | None
    port: int | None
    extra_settings: str | None


def _settings(text: str | None) -> dict[str, str]:
    """``a=1;b=2`` or ``a=1&b=2`` (JDBC extraSettings) → a dict; keys keep their case."""
    if not text:
        return {}
    pairs = [p for p in re.split(r"[;&]", text.lstrip("?;")) if p.strip()]
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"Invalid extra setting {pair!r}: use key=value pairs separated by ';' or '&'.")
        out[key.strip()] = value.strip()
    return out


def _host_database(fields: _Fields, dbms: str) -> tuple[str, str]:
    host, sep, database = fields.server.partition("/")
    if not sep or not database:
        raise UsageError(f"For {dbms}, give server as '<host>/<database>' (got {fields.server!r}).")
    return host, database


def _psycopg_url(fields: _Fields, dbms: str, default_port: int) -> URL:
    """PostgreSQL and Redshift: server is ``host/database``; both are reached through psycopg 3."""
    host, database = _host_database(fields, dbms)
    return URL.create("postgresql+psycopg", fields.user, fields.password, host, fields.port or default_port,
                      database, _settings(fields.extra_settings))


def _postgresql_url(fields: _Fields) -> URL:
    return _psycopg_url(fields, "postgresql", 5432)


def _redshift_url(fields: _Fields) -> URL:
    return _psycopg_url(fields, "redshift", 5439)


def _sql_server_url(fields: _Fields) -> URL:
    """server is ``host`` or ``host\\instance``, possibly with ``;database=x`` like a JDBC URL; extraSettings
    ``database=cdm;encrypt=yes;driver=ODBC Driver 17 for SQL Server``."""
    host, _, rest = fields.server.partition(";")
    settings = {**_settings(rest), **_settings(fields.extra_settings)}
    lowered = {k.lower(): k for k in settings}
    database = None
    for key in ("database", "databasename"):
        if key in lowered:
            database = settings.pop(lowered[key])
    driver = settings.pop(lowered["driver"], None) if "driver" in lowered else None
    query = {"driver": driver or "ODBC Driver 18 for SQL Server", **settings}
    if not fields.user:
        query.setdefault("Trusted_Connection", "yes")
    port = fields.port or (None if "\\" in host else 1433)  # a named instance finds its own port
    return URL.create("mssql+pyodbc", fields.user, fields.password, host, port, database, query)


def _oracle_url(fields: _Fields) -> URL:
    """server is ``host/sid`` or a bare ``sid`` on 127.0.0.1 (DatabaseConnector's thin-driver reading);
    extraSettings ``service_name=X`` connects by service name instead."""
    host, sep, sid = fields.server.partition("/")
    if not sep:
        host, sid = "127.0.0.1", fields.server
    settings = _settings(fields.extra_settings)
    database = None if "service_name" in settings else sid
    return URL.create("oracle+oracledb", fields.user, fields.password, host, fields.port or 1521, database,
                      settings)


def _bigquery_url(fields: _Fields) -> URL:
    """server is ``project`` or ``project/dataset``; extraSettings e.g. ``credentials_path=/key.json``."""
    project, _, dataset = fields.server.partition("/")
    return URL.create("bigquery", host=project, database=dataset or None, query=_settings(fields.extra_settings))


def _snowflake_url(fields: _Fields) -> URL:
    """server is ``account[/database[/schema]]``; extraSettings e.g. ``warehouse=WH&role=R``."""
    account, _, path = fields.server.partition("/")
    account = account.removesuffix(".snowflakecomputing.com")
    return URL.create("snowflake", fields.user, fields.password, account, None, path or None,
                      _settings(fields.extra_settings))


def _spark_url(fields: _Fields) -> URL:
    """server is the Databricks host; extraSettings ``httpPath=/sql/1.0/warehouses/x;catalog=c;schema=s``;
    password is the access token."""
    settings = {k.lower(): v for k, v in _settings(fields.extra_settings).items()}
    query = {"http_path": settings.get("httppath") or settings.get("http_path", "")}
    for key in ("catalog", "schema"):
        if key in settings:
            query[key] = settings[key]
    return URL.create("databricks", fields.user or "token", fields.password, fields.server.split(":")[0],
                      fields.port or 443, None, query)


def _duckdb_url(fields: _Fields) -> URL:
    return URL.create("duckdb", database=fields.server)


def _sqlite_url(fields: _Fields) -> URL:
    return URL.create("sqlite", database=fields.server)


_FIELD_BUILDERS: dict[str, Callable[[_Fields], URL]] = {
    "postgresql": _postgresql_url,
    "redshift": _redshift_url,
    "sql server": _sql_server_url,
    "synapse": _sql_server_url,
    "oracle": _oracle_url,
    "bigquery": _bigquery_url,
    "snowflake": _snowflake_url,
    "spark": _spark_url,
    "duckdb": _duckdb_url,
    "sqlite": _sqlite_url,
}


def _url_from_connection_string(text: str, dbms: str | None, user: str | None, password: str | None) -> URL:
    """A SQLAlchemy URL as is, or a DatabaseConnector JDBC string read into the same fields as above."""
    if not text.startswith("jdbc:"):
        url = _normalise_url(make_url(text))
        if user is not None:
            url = url.set(username=user)
        if password is not None:
            url = url.set(password=password)
        return url
    body = text[len("jdbc:"):]
    scheme = body.split(":", 1)[0].lower()
    dbms = dbms or _JDBC_SCHEMES.get(scheme)
    if dbms is None:
        raise UsageError(f"Cannot read JDBC connection string {text.split('?')[0]!r}: give dbms=.")
    if dbms in ("postgresql", "redshift"):
        m = re.match(r"^[a-z0-9]+://([^/:?;]+)(?::(\d+))?/([^?;]+)[?;]?(.*)$", body, re.I)
        if not m:
            raise UsageError(f"Cannot read {dbms} JDBC connection string: expected jdbc:{scheme}://host:port/db.")
        return _FIELD_BUILDERS[dbms](_Fields(f"{m[1]}/{m[3]}", user, password, _port(m[2]), m[4] or None))
    if dbms in ("sql server", "synapse"):
        m = re.match(r"^sqlserver://([^;:]+)(?::(\d+))?;?(.*)$", body, re.I)
        if not m:
            raise UsageError("Cannot read SQL Server JDBC connection string: expected jdbc:sqlserver://host;...")
        settings = _settings(m[3])
        user = user or settings.pop("user", None)
        password = password or settings.pop("password", None)
        extra = ";".join(f"{k}={v}" for k, v in settings.items())
        return _sql_server_url(_Fields(m[1], user, password, _port(m[2]), extra or None))
    if dbms == "oracle":
        m = re.match(r"^oracle:thin:@(?://)?([^:/]+)(?::(\d+))?([:/])(.+)$", body, re.I)
        if not m:
            raise UsageError("Cannot read Oracle JDBC connection string: expected jdbc:oracle:thin:@host:port:sid.")
        extra = f"service_name={m[4]}" if m[3] == "/" else None
        return _oracle_url(_Fields(f"{m[1]}/{m[4]}", user, password, _port(m[2]), extra))
    if dbms == "snowflake":
        m = re.match(r"^snowflake://([^/?]+)/?\??(.*)$", body, re.I)
        if not m:
            raise UsageError("Cannot read Snowflake JDBC connection string: expected jdbc:snowflake://account...")
        settings = {k.lower(): v for k, v in _settings(m[2]).items()}
        path = "/".join(p for p in (settings.pop("db", None), settings.pop("schema", None)) if p)
        user = user or settings.pop("user", None)
        password = password or settings.pop("password", None)
        extra = "&".join(f"{k}={v}" for k, v in settings.items())
        return _snowflake_url(_Fields(m[1] + (f"/{path}" if path else ""), user, password, None, extra or None))
    if dbms == "spark":
        m = re.match(r"^[a-z0-9]+://([^:/;]+)(?::(\d+))?[^;]*;?(.*)$", body, re.I)
        if not m:
            raise UsageError("Cannot read Spark JDBC connection string: expected jdbc:databricks://host:443/...")
        settings = {k.lower(): v for k, v in _settings(m[3]).items()}
        password = password or settings.pop("pwd", None)
        user = user or settings.pop("uid", None)
        extra = ";".join(f"{k}={settings[k]}" for k in ("httppath", "catalog", "schema") if k in settings)
        return _spark_url(_Fields(m[1], user, password, _port(m[2]), extra or None))
    if dbms == "bigquery":
        settings = {k.lower(): v for k, v in _settings(body.split(";", 1)[1] if ";" in body else "").items()}
        project = settings.get("projectid")
        if not project:
            raise UsageError("Cannot read BigQuery JDBC connection string: it has no ProjectId=.")
        extra = f"credentials_path={settings['oauthpvtkeypath']}" if "oauthpvtkeypath" in settings else None
        return _bigquery_url(_Fields(f"{project}/{settings.get('defaultdataset', '')}".rstrip("/"), None, None,
                                     None, extra))
    raise UsageError(f"JDBC connection strings are not read for dbms {dbms!r}: give a SQLAlchemy URL instead.")


_JDBC_SCHEMES = {
    "postgresql": "postgresql",
    "redshift": "redshift",
    "sqlserver": "sql server",
    "oracle": "oracle",
    "snowflake": "snowflake",
    "spark": "spark",
    "databricks": "spark",
    "bigquery": "bigquery",
}


# --------------------------------------------------------------------------------------------------------------
# execute_sql, query_sql


def _render_translate(conn: Connection, sql: str, parameters: Mapping[str, Any] | None,
                      kwargs: Mapping[str, Any], bind: Mapping[str, Any] | None = None) -> list[str]:
    """Render the template, translate it to the connection's dialect and split it into statements.

    ``:name`` placeholders of ``bind`` are swapped for plain identifiers while the translator works (sqlglot
    would rewrite them into each driver's own style) and put back afterwards for SQLAlchemy's ``text()``.
    """
    from rcdm.sql import render, split_sql, translate

    rendered = render(sql, parameters=parameters, **kwargs)
    tokens: dict[str, str] = {}
    if bind:
        for i, name in enumerate(bind):
            token = f"rcdmbind{i}z"
            rendered, count = re.subn(rf"(?<![:\w]):{re.escape(name)}\b", token, rendered)
            if count:
                tokens[token] = name
    translated = translate(rendered, conn.dialect, temp_emulation_schema=conn.temp_emulation_schema)
    if tokens:
        translated = re.sub(r"\b(rcdmbind\d+z)\b", lambda m: ":" + tokens.get(m[1].lower(), m[1]), translated,
                            flags=re.IGNORECASE)
    return [s for s in split_sql(translated) if s.strip()]


def _run(conn: Connection, statement: str, bind: Mapping[str, Any] | None = None) -> sa.CursorResult:
    """Run one statement as it is: bound values through ``text()``, otherwise straight to the driver.

    Without ``bind`` the statement goes to the driver with no parameters at all, so a ``%`` in the SQL text
    stays a ``%`` even on psycopg.
    """
    sa_conn = conn.sqlalchemy_connection
    if bind:
        return sa_conn.execute(sa.text(statement), dict(bind))
    return sa_conn.exec_driver_sql(statement, execution_options={"no_parameters": True})


def _fail(conn: Connection, exc: sa.exc.DBAPIError, statement: str, number: int, total: int) -> DatabaseError:
    try:
        conn.sqlalchemy_connection.rollback()
    except sa.exc.DBAPIError:
        pass
    preview = statement.strip()
    if len(preview) > STATEMENT_PREVIEW:
        preview = preview[:STATEMENT_PREVIEW] + " ..."
    return DatabaseError(
        f"Statement {number} of {total} failed on {BACKENDS[conn.dialect].label}: "
        f"{_scrub(_driver_message(exc), conn.engine.url.password)}\nStatement: {preview}"
    )


def execute_sql(
    conn: Connection,
    sql: str,
    parameters: Mapping[str, Any] | None = None,
    progress: bool = False,
    *,
    bind: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Render, translate and run an OHDSI SQL script, committing each statement as it runs.

    ``parameters`` and ``**kwargs`` are the template's ``@name`` parameters (as ``render`` takes them);
    ``bind`` holds values for ``:name`` placeholders, bound by the driver, never spliced into the text.
    A failing statement raises DatabaseError naming its number and its first 300 characters; the
    statements before it stay committed, like DatabaseConnector's ``executeSql``.
    """
    statements = _render_translate(conn, sql, parameters, kwargs, bind)
    execute_statements(conn, statements, progress=progress, bind=bind)


def execute_statements(conn: Connection, statements: Iterable[str], progress: bool = False,
                       bind: Mapping[str, Any] | None = None) -> None:
    """Run statements that are already in the connection's dialect, one commit each."""
    statements = list(statements)
    total = len(statements)
    numbered: Iterable[tuple[int, str]] = enumerate(statements, start=1)
    if progress:
        from tqdm.auto import tqdm

        numbered = tqdm(numbered, total=total, desc="Executing SQL", unit="statement")
    sa_conn = conn.sqlalchemy_connection
    for number, statement in numbered:
        used = _used_binds(statement, bind)
        try:
            _run(conn, statement, used)
            conn.commit_unless_in_transaction()
        except sa.exc.DBAPIError as exc:
            raise _fail(conn, exc, statement, number, total) from None


def _used_binds(statement: str, bind: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The subset of ``bind`` whose ``:name`` placeholders occur in this statement."""
    if not bind:
        return None
    used = {k: v for k, v in bind.items() if re.search(rf"(?<![:\w]):{re.escape(k)}\b", statement)}
    return used or None


def query_sql(
    conn: Connection,
    sql: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    bind: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Render, translate and run one query; return its rows as a DataFrame with lower-case column names.

    ``bind`` gives values for ``:name`` placeholders (``WHERE person_id = :pid``), bound by the driver.
    Each column is typed from the database's result types (:mod:`rcdm.fetch`): DATE columns hold
    ``datetime.date``, integers int64 (``Int64`` with NULLs, 64-bit ids exact), timestamps datetime64.
    """
    statements = _render_translate(conn, sql, parameters, kwargs, bind)
    if len(statements) != 1:
        raise UsageError(f"query_sql runs one statement, got {len(statements)}: use execute_sql for scripts.")
    return query_statement(conn, statements[0], bind=bind)


def query_statement(conn: Connection, statement: str, bind: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run one statement already in the connection's dialect and return a DataFrame (lower-case names).

    Columns are typed from the database's result types (see :mod:`rcdm.fetch`).
    """
    from rcdm.fetch import arrow_to_frame

    return arrow_to_frame(query_arrow_statement(conn, statement, bind))


def query_arrow_statement(conn: Connection, statement: str, bind: Mapping[str, Any] | None = None) -> pa.Table:
    """Run one statement already in the connection's dialect; its rows as an Arrow table (lower-case names).

    DuckDB hands over Arrow itself; other drivers are fetched in batches (:func:`rcdm.fetch.fetch_arrow`).
    """
    from rcdm.fetch import fetch_arrow

    try:
        result = _run(conn, statement, _used_binds(statement, bind))
        try:
            if result.returns_rows:
                names = [str(c).lower() for c in result.keys()]
                table = fetch_arrow(conn.dialect, result.cursor, names)
            else:
                table = pa.table({})
        finally:
            result.close()
        conn.commit_unless_in_transaction()
    except sa.exc.DBAPIError as exc:
        raise _fail(conn, exc, statement, 1, 1) from None
    return table


# --------------------------------------------------------------------------------------------------------------
# exists_table, create_schema


def exists_table(conn: Connection, schema: str | None, table: str) -> bool:
    """Whether ``schema.table`` exists (names compared case-insensitively, like DatabaseConnector)."""
    if schema is not None:
        check_schema(schema)
    check_identifier(table)
    if conn.dialect == "sqlite" and schema is not None and schema.lower() not in ("main", "temp") \
            and schema.lower() not in conn.sqlite_schemas:
        return False
    sa_conn = conn.sqlalchemy_connection
    try:
        names = sa.inspect(sa_conn).get_table_names(schema=_inspector_schema(conn, schema))
    except sa.exc.NoSuchTableError:
        names = []
    except sa.exc.DBAPIError as exc:
        sa_conn.rollback()
        raise DatabaseError(f"Could not list the tables of schema {schema!r}: {_driver_message(exc)}") from None
    conn.commit_unless_in_transaction()
    return table.lower() in {n.lower() for n in names}


def existing_indexes_and_constraints(conn: Connection, schema: str, table: str) -> list[str]:
    """Names of the indexes and constraints (primary key, unique, foreign keys) ``schema.table`` has.

    Lets DDL creation skip what exists on dialects without ``CREATE INDEX IF NOT EXISTS``; [] for a table
    that does not exist.
    """
    check_schema(schema)
    check_identifier(table)
    if not exists_table(conn, schema, table):
        return []
    if conn.dialect == "duckdb":
        return _duckdb_indexes_and_constraints(conn, schema, table)
    sa_conn = conn.sqlalchemy_connection
    inspector = sa.inspect(sa_conn)
    name_schema = _inspector_schema(conn, schema)
    names: list[str] = []
    try:
        for getter in (inspector.get_indexes, inspector.get_foreign_keys, inspector.get_unique_constraints):
            try:
                names += [item["name"] for item in getter(table.lower(), schema=name_schema) if item.get("name")]
            except NotImplementedError:
                continue
        primary = inspector.get_pk_constraint(table.lower(), schema=name_schema)
        if primary and primary.get("name"):
            names.append(primary["name"])
    except sa.exc.DBAPIError as exc:
        sa_conn.rollback()
        raise DatabaseError(f"Could not list the indexes of {schema}.{table}: {_driver_message(exc)}") from None
    conn.commit_unless_in_transaction()
    return names


def _duckdb_indexes_and_constraints(conn: Connection, schema: str, table: str) -> list[str]:
    database, _, name = schema.rpartition(".")
    where = ("database_name = " + (":database" if database else "current_database()") +
             " AND lower(schema_name) = :schema AND lower(table_name) = :table")
    sql = (f"SELECT index_name AS name FROM duckdb_indexes() WHERE {where} "
           f"UNION ALL SELECT constraint_name FROM duckdb_constraints() WHERE {where} "
           "AND constraint_name IS NOT NULL")
    bind = {"schema": name.lower(), "table": table.lower(), **({"database": database} if database else {})}
    return [str(n) for n in query_statement(conn, sql, bind=bind)["name"]]


def _inspector_schema(conn: Connection, schema: str | None) -> str | None:
    """SQLAlchemy spells case-insensitive names in lower case on every dialect (it folds for Oracle and
    Snowflake); BigQuery dataset names are case-sensitive and kept as given."""
    if schema is None or conn.dialect == "bigquery":
        return schema
    return schema.lower()


def _create_schema_sqlserver(schema: str) -> str:
    database, _, name = schema.rpartition(".")
    statement = f"IF SCHEMA_ID('{name}') IS NULL EXEC('CREATE SCHEMA {name}')"
    if database:
        quoted = statement.replace("'", "''")
        return f"EXEC {database}.sys.sp_executesql N'{quoted}'"
    return statement


def _create_schema_if_not_exists(schema: str) -> str:
    return f"CREATE SCHEMA IF NOT EXISTS {schema}"


_CREATE_SCHEMA: dict[str, Callable[[str], str]] = {
    "duckdb": _create_schema_if_not_exists,
    "postgresql": _create_schema_if_not_exists,
    "redshift": _create_schema_if_not_exists,
    "bigquery": _create_schema_if_not_exists,
    "snowflake": _create_schema_if_not_exists,
    "spark": _create_schema_if_not_exists,
    "sql server": _create_schema_sqlserver,
    "synapse": _create_schema_sqlserver,
}
"""Dialect → the statement that creates a schema when it is missing (Oracle and SQLite are handled apart)."""


def create_schema(conn: Connection, schema: str) -> None:
    """Make ``schema`` ready to hold tables: create it if missing.

    SQLite: ``main`` and ``temp`` exist already; any other schema is a file ``<stem>.<schema>.db`` beside
    the main database, ATTACHed now and on every later ``connect``. Oracle: a schema is a user, which rcdm
    does not create; a missing one raises DatabaseError.
    """
    check_schema(schema)
    if conn.dialect == "sqlite":
        _create_sqlite_schema(conn, schema)
    elif conn.dialect == "oracle":
        found = query_statement(conn, "SELECT username FROM all_users WHERE username = :name",
                                bind={"name": schema.upper()})
        if found.empty:
            raise DatabaseError(f"Oracle schema {schema!r} does not exist: on Oracle a schema is a user; "
                                "ask your DBA to create it.")
    else:
        execute_statements(conn, [_CREATE_SCHEMA[conn.dialect](schema)])


def _create_sqlite_schema(conn: Connection, schema: str) -> None:
    if "." in schema:
        raise IdentifierError(f"SQLite has no 'database.schema' names: use a plain schema name, not {schema!r}.")
    name = schema.lower()
    if name in ("main", "temp") or name in conn.sqlite_schemas:
        return
    file = conn.sqlite_schema_path(name)
    raw = conn.driver_connection()
    try:
        raw.execute(f"ATTACH DATABASE ? AS {name}", (file,))
    except Exception as exc:  # sqlite3.Error
        raise DatabaseError(f"Could not attach SQLite schema {schema!r} from {file}: {exc}") from None
    conn.sqlite_schemas[name] = file


# --------------------------------------------------------------------------------------------------------------
# transaction


@contextlib.contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """Run everything inside the block in one database transaction: all of it commits at the end, or none.

    ``execute_sql``, ``query_sql``, ``exists_table`` and ``insert_table`` (including the bulk paths: DuckDB's
    Arrow insert, PostgreSQL's COPY, SQLite's executemany) skip their own commits while the block is open.
    An exception rolls the whole block back and propagates; a process killed inside the block leaves nothing
    behind (the database rolls an uncommitted transaction back). Nested blocks join the outer one.
    DDL inside the block is transactional on DuckDB, SQLite and PostgreSQL, not on Oracle or MySQL-likes.
    """
    if conn.transaction_depth:
        conn.transaction_depth += 1
        try:
            yield conn
        finally:
            conn.transaction_depth -= 1
        return
    sa_conn = conn.sqlalchemy_connection
    if sa_conn.in_transaction():
        sa_conn.commit()
    raw = sa_conn.connection.driver_connection
    _TX_BEGIN.get(conn.dialect, _begin_implicitly)(sa_conn)
    conn.transaction_depth = 1
    try:
        yield conn
    except BaseException:
        conn.transaction_depth = 0
        _rollback_transaction(conn)
        raise
    conn.transaction_depth = 0
    try:
        if sa_conn.in_transaction():
            sa_conn.commit()
        raw.commit()  # the bulk paths ran on the driver connection, which SQLAlchemy may not know is in use
    except sa.exc.DBAPIError as exc:
        _rollback_transaction(conn)
        raise DatabaseError(f"Commit failed on {BACKENDS[conn.dialect].label}: {_driver_message(exc)}") from None
    except bulk.driver_errors(conn) as exc:
        _rollback_transaction(conn)
        raise DatabaseError(f"Commit failed on {BACKENDS[conn.dialect].label}: {exc}") from None


def _begin_implicitly(sa_conn: sa.Connection) -> None:
    """psycopg, pyodbc, oracledb (autocommit off) open a transaction with the first statement."""


def _begin_duckdb(sa_conn: sa.Connection) -> None:
    """DuckDB commits each statement unless told BEGIN; duckdb-engine's ``do_begin`` says it for SQLAlchemy."""
    sa_conn.begin()


def _begin_sqlite(sa_conn: sa.Connection) -> None:
    """Python's sqlite3 opens transactions only before DML; an explicit BEGIN also covers DDL."""
    raw = sa_conn.connection.driver_connection
    if not raw.in_transaction:
        raw.execute("BEGIN")


_TX_BEGIN: dict[str, Callable[[sa.Connection], None]] = {"duckdb": _begin_duckdb, "sqlite": _begin_sqlite}


def _rollback_transaction(conn: Connection) -> None:
    """Roll back both SQLAlchemy's view of the transaction and the driver connection's (best effort)."""
    try:
        conn.sqlalchemy_connection.rollback()
    except Exception:  # noqa: BLE001 - the original error matters more
        pass
    try:
        conn.sqlalchemy_connection.connection.driver_connection.rollback()
    except Exception:  # noqa: BLE001 - DuckDB says "no transaction is active" after SQLAlchemy's rollback
        pass


# --------------------------------------------------------------------------------------------------------------
# insert_table


def insert_table(
    conn: Connection,
    schema: str | None,
    table: str,
    data: Any,
    create_table: bool = False,
    drop_table_if_exists: bool = False,
    temp_table: bool = False,
    progress: bool = False,
) -> int:
    """Insert ``data`` into ``schema.table`` through the backend's bulk path; return the number of rows.

    ``data`` is a pandas DataFrame, a pyarrow Table or RecordBatch, or a dict of column lists. Columns are
    matched by name, so their order need not follow the table's. ``create_table`` creates the table from the
    data's types (OHDSI SQL types, translated to the dialect); ``drop_table_if_exists`` drops an existing
    table first and so implies ``create_table``;
    ``temp_table`` makes a temp table ``#table`` (``schema`` is then ignored and may be None).
    """
    if not temp_table:
        if schema is None:
            raise UsageError("insert_table needs a schema unless temp_table=True.")
        check_schema(schema)
    check_identifier(table)
    arrow = _to_arrow(data)
    for name in arrow.column_names:
        check_identifier(name, "column name")
    create_table = create_table or drop_table_if_exists  # a dropped table is made again from the data

    ohdsi_name = f"#{table}" if temp_table else f"{schema}.{table}"
    target = _target_name(conn, ohdsi_name) if temp_table else ohdsi_name
    if drop_table_if_exists:
        if temp_table:
            execute_sql(conn, f"IF OBJECT_ID('tempdb..{ohdsi_name}', 'U') IS NOT NULL DROP TABLE {ohdsi_name};")
        elif exists_table(conn, schema, table):
            execute_statements(conn, [f"DROP TABLE {target}"])
    if create_table:
        execute_sql(conn, _create_table_sql(ohdsi_name, arrow))
    if arrow.num_rows == 0:
        return 0
    loader = _load_spark_connect if conn.engine.url.drivername == "sc" else bulk.LOADERS.get(conn.dialect,
                                                                                             bulk.load_generic)
    try:
        loader(conn, target, arrow, progress)
    except (sa.exc.DBAPIError, bulk.DriverError, *bulk.driver_errors(conn)) as exc:
        message = _error_message(exc)
        _rollback_quietly(conn)
        raise DatabaseError(
            f"Bulk insert of {arrow.num_rows} rows into {target} ({', '.join(arrow.column_names)}) failed on "
            f"{BACKENDS[conn.dialect].label}: {_scrub(message, conn.engine.url.password)}"
        ) from None
    return arrow.num_rows


def _load_spark_connect(conn: Connection, target: str, arrow: pa.Table, progress: bool) -> None:
    """Spark Connect: the whole Arrow table goes to Spark as one DataFrame, inserted by column name."""
    conn.driver_connection().load_arrow(target, arrow)


def _rollback_quietly(conn: Connection) -> None:
    """Leave the connection usable after a failed load (PostgreSQL refuses everything in an aborted transaction)."""
    try:
        conn.sqlalchemy_connection.rollback()
        conn.sqlalchemy_connection.connection.driver_connection.rollback()
    except Exception:  # noqa: BLE001 - best effort while another error is being reported
        pass


def _target_name(conn: Connection, ohdsi_name: str) -> str:
    """The name a temp table ``#t`` gets on this dialect, as the translator writes it."""
    from rcdm.sql import translate

    translated = translate(f"SELECT * FROM {ohdsi_name};", conn.dialect,
                           temp_emulation_schema=conn.temp_emulation_schema)
    m = re.search(r"\bFROM\s+([^\s;]+)", translated, re.I)
    if not m:
        raise DatabaseError(f"Cannot tell the {conn.dialect} name of temp table {ohdsi_name!r}.")
    return m[1].strip('`"')


def _to_arrow(data: Any) -> pa.Table:
    """A pyarrow Table from a DataFrame, Arrow Table/RecordBatch or dict of columns, with storable types."""
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pd.DataFrame):
        table = pa.Table.from_pandas(data, preserve_index=False)
    elif isinstance(data, Mapping):
        try:
            table = pa.table({str(k): pa.array(v) for k, v in data.items()})
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise UsageError(f"Cannot read the dict as table columns (lists of one type each): {exc}") from None
    else:
        raise UsageError(f"insert_table takes a pandas DataFrame, a pyarrow Table or a dict of lists, "
                         f"not {type(data).__name__}.")
    return _storable(table)


def _storable(table: pa.Table) -> pa.Table:
    """Booleans as 0/1 integers (OHDSI SQL has no boolean type), categoricals decoded to their values."""
    for i, field in enumerate(table.schema):
        if pa.types.is_boolean(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.int8()))
        elif pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table


def _create_table_sql(ohdsi_name: str, arrow: pa.Table) -> str:
    """OHDSI SQL that creates the table; a column named by a reserved word is bracketed (T-SQL quoting), so
    that every target quotes it (``order`` is a syntax error unquoted on SQLite, PostgreSQL, ...)."""
    from rcdm.sql.transforms import POSTGRES_RESERVED

    def name(column: str) -> str:
        return f"[{column}]" if column.lower() in POSTGRES_RESERVED else column

    columns = ",\n  ".join(f"{name(field.name)} {_ohdsi_type(field.name, field.type, arrow.column(field.name))}"
                           for field in arrow.schema)
    return f"CREATE TABLE {ohdsi_name} (\n  {columns}\n);"


def _varchar(column: pa.ChunkedArray) -> str:
    import pyarrow.compute as pc

    longest = pc.max(pc.binary_length(column.cast(pa.large_string()))).as_py() if column.null_count < len(
        column) else 0
    size = max(255, longest or 0)
    return "VARCHAR(MAX)" if size > 4000 else f"VARCHAR({size})"


def _ohdsi_type(name: str, kind: pa.DataType, column: pa.ChunkedArray) -> str:
    """OHDSI SQL (SQL Server) type for an Arrow type; the translator maps it to the dialect."""
    t = pa.types
    if t.is_int8(kind) or t.is_int16(kind) or t.is_int32(kind) or t.is_uint8(kind) or t.is_uint16(kind):
        return "INT"
    if t.is_integer(kind):
        return "BIGINT"
    if t.is_floating(kind):
        return "FLOAT"
    if t.is_decimal(kind):
        return f"NUMERIC({kind.precision},{kind.scale})"
    if t.is_date(kind):
        return "DATE"
    if t.is_timestamp(kind):
        return "DATETIME"
    if t.is_string(kind) or t.is_large_string(kind):
        return _varchar(column)
    if t.is_null(kind):
        return "VARCHAR(255)"
    raise UsageError(f"insert_table cannot store Arrow type {kind} (column {name!r}); convert it to "
                     "a number, string, date or timestamp first.")


__all__ = [
    "BACKENDS",
    "Backend",
    "Connection",
    "DEFAULT_DATABASE",
    "connect",
    "create_schema",
    "execute_sql",
    "execute_statements",
    "existing_indexes_and_constraints",
    "exists_table",
    "insert_table",
    "query_sql",
    "query_statement",
    "transaction",
]
