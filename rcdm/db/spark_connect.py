"""Apache Spark through Spark Connect (``sc://host:port``): a small DB-API 2.0 driver and SQLAlchemy dialect.

``rcdm.connect("sc://127.0.0.1:15002")`` opens a Spark Connect session (``pyspark``'s client) and wraps it so
that everything rcdm runs through SQLAlchemy works on it: statements run with ``spark.sql``, results come back
as Arrow, ``:name`` placeholders are bound by Spark's own named parameters (never spliced into SQL), and
``insert_table`` sends an Arrow table as one DataFrame (``load_arrow``). Spark has no transactions: commit and
rollback do nothing, as on Databricks. DELETE ... WHERE and UPDATE, which only Delta tables support, are emulated
on the Parquet tables of open-source Spark (every kept or updated row written again; not atomic).
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import sqlglot
from sqlalchemy import types
from sqlalchemy.engine import default
from sqlglot import exp

from rcdm.errors import (
    SparkConnectDatabaseError,
    SparkConnectError,
    SparkConnectInterfaceError,
    SparkConnectOperationalError,
    SparkConnectProgrammingError,
)

apilevel = "2.0"
threadsafety = 1
paramstyle = "named"


# DB-API's exception classes, defined with rcdm's other errors (under rcdm.errors.DatabaseError: exit code 5)
Error = SparkConnectError
DatabaseError = SparkConnectDatabaseError
OperationalError = SparkConnectOperationalError
ProgrammingError = SparkConnectProgrammingError
InterfaceError = SparkConnectInterfaceError


Warning = Exception  # noqa: A001 - DB-API name
DataError = IntegrityError = InternalError = NotSupportedError = DatabaseError


def _session(url: str) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - reported as a missing driver by rcdm.db
        raise ImportError("Spark Connect needs pyspark with its connect extra: "
                          f"pip install 'pyspark[connect]' ({exc})") from exc
    try:
        return SparkSession.builder.remote(url).create()
    except Exception as exc:  # noqa: BLE001 - pyspark raises its own classes
        raise OperationalError(str(exc)) from None


def connect(url: str) -> Connection:
    return Connection(_session(url))


class Connection:
    """A Spark Connect session as a DB-API connection."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def cursor(self) -> Cursor:
        return Cursor(self)

    def commit(self) -> None:
        """Spark has no transactions: every statement is final when it returns."""

    def rollback(self) -> None:
        """Nothing to roll back (see ``commit``)."""

    def close(self) -> None:
        try:
            self.session.stop()
        except Exception:  # noqa: BLE001 - closing a session whose server went away
            pass

    def load_arrow(self, target: str, table: pa.Table) -> None:
        """INSERT the rows of ``table`` into ``target``, matching columns by name, as one DataFrame."""
        view = f"rcdm_load_{id(table):x}"
        frame = self.session.createDataFrame(table)
        frame.createOrReplaceTempView(view)
        columns = ", ".join(f"`{c}`" for c in table.column_names)
        try:
            _run(self.session, f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {view}")
        finally:
            _run(self.session, f"DROP VIEW IF EXISTS {view}")


def _run(session: Any, sql: str, args: dict[str, Any] | None = None) -> pa.Table:
    try:
        return session.sql(sql, args=args or None).toArrow()
    except Exception as exc:  # noqa: BLE001 - pyspark's errors carry Spark's message
        message = str(exc).strip()
        raise ProgrammingError(message.split("\n\nJVM stacktrace")[0]) from None


def _python(value: Any) -> Any:
    """Timestamps come back UTC-aware from Arrow; OHDSI timestamps are naive."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Cursor:
    """Runs one statement at a time; rows are fetched from the Arrow result."""

    arraysize = 1000

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.description: list[tuple[Any, ...]] | None = None
        self.rowcount = -1
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, parameters: dict[str, Any] | Sequence[Any] | None = None) -> Cursor:
        args = dict(parameters) if isinstance(parameters, dict) else None
        if args:
            used = set(_PLACEHOLDER.findall(sql))
            args = {k: _spark_value(v) for k, v in args.items() if k in used}
        sql = sql.strip().rstrip(";")
        try:
            table = _run(self.connection.session, sql, args)
        except ProgrammingError as error:
            delete = _DELETE.match(sql)
            if delete and "does not support DELETE" in str(error):
                table = _emulate_delete(self.connection.session, delete["table"], delete["where"], args)
            elif _UPDATE.match(sql) and _UPDATE_REFUSED.search(str(error)):
                table = _emulate_update(self.connection.session, sql, args)
            else:
                raise
        if table.num_columns:
            self.description = [(name, None, None, None, None, None, None) for name in table.column_names]
            self._rows = [tuple(_python(v) for v in row.values()) for row in table.to_pylist()]
            self.rowcount = len(self._rows)
        else:
            self.description, self._rows, self.rowcount = None, [], -1
        return self

    def executemany(self, sql: str, seq_of_parameters: Sequence[dict[str, Any]]) -> None:
        rows = list(seq_of_parameters)
        if not rows:
            return
        m = re.match(r"\s*INSERT\s+INTO\s+(\S+)\s*\(([^)]*)\)\s*VALUES\s*\(([^)]*)\)\s*$", sql, re.I | re.S)
        if not m:
            for row in rows:
                self.execute(sql, row)
            return
        columns = [c.strip().strip('`"') for c in m[2].split(",")]
        keys = [k.strip().lstrip(":") for k in m[3].split(",")]
        table = pa.table({c: pa.array([row[k] for row in rows]) for c, k in zip(columns, keys)})
        self.connection.load_arrow(m[1], table)

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def close(self) -> None:
        self._rows = []


_DELETE = re.compile(r"\ADELETE\s+FROM\s+(?P<table>[\w.`]+)(?:\s+WHERE\s+(?P<where>.*))?\Z", re.I | re.S)


def _emulate_delete(session: Any, table: str, where: str | None, args: dict[str, Any] | None) -> pa.Table:
    """DELETE on a table that does not support it (Parquet tables of open-source Spark; Delta tables do):
    keep the rows the condition does not select (FALSE or NULL) in a scratch table, then overwrite the table
    with them. Not atomic: a failure between the two steps leaves the rows in ``<table>_rcdm_keep``."""
    if where is None:
        return _run(session, f"TRUNCATE TABLE {table}")
    keep = f"{table.rstrip('`')}_rcdm_keep"
    _run(session, f"DROP TABLE IF EXISTS {keep}")
    _run(session, f"CREATE TABLE {keep} AS SELECT * FROM {table} WHERE NOT COALESCE(({where}), FALSE)", args)
    _run(session, f"INSERT OVERWRITE TABLE {table} SELECT * FROM {keep}")
    return _run(session, f"DROP TABLE {keep}")


_UPDATE = re.compile(r"\AUPDATE\s", re.I)
_UPDATE_REFUSED = re.compile(
    r"does not support UPDATE|UPDATE TABLE is not supported|UNSUPPORTED_FEATURE\.TABLE_OPERATION", re.I)


def _emulate_update(session: Any, sql: str, args: dict[str, Any] | None) -> pa.Table:
    """UPDATE t SET c = v, ... [WHERE w] on a table that does not support it (Parquet tables of open-source Spark;
    Delta tables do): every row is written again, with CASE WHEN w THEN v ELSE c END for the columns set, through
    ``<table>_rcdm_keep`` (Spark cannot overwrite a table it reads). SET values may be correlated subqueries on the
    table's name, as in rcdm's ETL. Not atomic: a failure between the two steps leaves the rows in the keep table."""
    tree = sqlglot.parse_one(sql, read="spark")
    if not isinstance(tree, exp.Update) or not isinstance(tree.this, exp.Table) or tree.args.get("from_"):
        raise ProgrammingError(f"cannot emulate this UPDATE on a table without UPDATE support: {sql[:200]}")
    target = tree.this.copy()
    alias = target.alias
    target.set("alias", None)
    name = target.sql("spark")
    columns = _run(session, f"SELECT * FROM {name} LIMIT 0").column_names
    sets = {eq.this.name.lower(): eq.expression for eq in tree.expressions if isinstance(eq, exp.EQ)}
    where = tree.args.get("where")
    condition = f"COALESCE(({where.this.sql('spark')}), FALSE)" if where is not None else None
    select = []
    for column in columns:
        value = sets.get(column.lower())
        if value is None:
            select.append(f"`{column}`")
            continue
        new = value.sql("spark")
        select.append(f"CASE WHEN {condition} THEN {new} ELSE `{column}` END AS `{column}`" if condition
                      else f"{new} AS `{column}`")
    keep = f"{name.rstrip('`')}_rcdm_keep"
    source = f"{name} AS {alias}" if alias else name
    _run(session, f"DROP TABLE IF EXISTS {keep}")
    _run(session, f"CREATE TABLE {keep} AS SELECT {', '.join(select)} FROM {source}", args)
    _run(session, f"INSERT OVERWRITE TABLE {name} SELECT * FROM {keep}")
    return _run(session, f"DROP TABLE {keep}")


def _spark_value(value: Any) -> Any:
    return value


class SparkConnectDialect(default.DefaultDialect):
    """SQLAlchemy dialect ``sc://host:port`` over this driver (only what rcdm uses: statements and table names)."""

    name = "sc"
    driver = "pyspark"
    paramstyle = "named"
    supports_statement_cache = True
    supports_native_boolean = True
    supports_sane_rowcount = False
    supports_sane_multi_rowcount = False
    default_schema_name = "default"

    @classmethod
    def import_dbapi(cls) -> Any:
        return sys.modules[__name__]

    def create_connect_args(self, url: Any) -> Any:
        port = url.port or 15002
        params = "".join(f";{k}={v}" for k, v in url.query.items())
        return [f"sc://{url.host or '127.0.0.1'}:{port}{params}"], {}

    def do_rollback(self, dbapi_connection: Any) -> None:
        pass

    def do_commit(self, dbapi_connection: Any) -> None:
        pass

    def do_ping(self, dbapi_connection: Any) -> bool:
        dbapi_connection.cursor().execute("SELECT 1")
        return True

    def _get_server_version_info(self, connection: Any) -> Any:
        return None

    def _get_default_schema_name(self, connection: Any) -> Any:
        return "default"

    def get_table_names(self, connection: Any, schema: Any = None, **kw: Any) -> Any:
        rows = connection.exec_driver_sql(f"SHOW TABLES IN {schema or 'default'}").fetchall()
        return [row[1] for row in rows if not row[2]]

    def has_table(self, connection: Any, table_name: Any, schema: Any = None, **kw: Any) -> Any:
        return table_name.lower() in {n.lower() for n in self.get_table_names(connection, schema)}

    def get_indexes(self, connection: Any, table_name: Any, schema: Any = None, **kw: Any) -> Any:
        return []

    def get_foreign_keys(self, connection: Any, table_name: Any, schema: Any = None, **kw: Any) -> Any:
        return []

    def get_unique_constraints(self, connection: Any, table_name: Any, schema: Any = None, **kw: Any) -> Any:
        return []

    def get_pk_constraint(self, connection: Any, table_name: Any, schema: Any = None, **kw: Any) -> Any:
        return {"constrained_columns": [], "name": None}

    def get_columns(self, connection: Any, table_name: Any, schema: Any = None, **kw: Any) -> Any:
        rows = connection.exec_driver_sql(f"DESCRIBE TABLE {schema + '.' if schema else ''}{table_name}").fetchall()
        return [{"name": r[0], "type": types.NullType(), "nullable": True, "default": None}
                for r in rows if r[0] and not r[0].startswith("#")]
