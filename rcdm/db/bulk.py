"""``insert_table`` and the bulk loaders: one small function per driver with the same contract, named by each
Backend's ``bulk_load`` (``rcdm.db.backends``).

Contract: ``load(conn, target, table, progress) -> None`` inserts every row of the Arrow ``table`` into the
existing table ``target`` (a checked, unquoted ``schema.table`` name in the connection's dialect), matching
columns by name, and commits. Values are always bound or streamed, never spliced into SQL text. Each
loader follows its driver's documented bulk API:

=============  ====================================================================================
duckdb         register the Arrow table as a view, then ``INSERT INTO t (cols) SELECT cols FROM view``
postgresql     ``COPY t (cols) FROM STDIN (FORMAT csv)`` through psycopg 3's ``cursor.copy``, CSV by Arrow
sqlite         ``executemany`` in one transaction (dates as the SQLite translation stores them)
sql server     pyodbc ``executemany`` with ``fast_executemany`` (parameter arrays); synapse too
oracle         oracledb ``executemany`` (array binds)
bigquery       a load job: ``google.cloud.bigquery.Client.load_table_from_dataframe``
snowflake      ``snowflake.connector.pandas_tools.write_pandas`` (stage + COPY INTO)
other          SQLAlchemy ``executemany`` of one bound INSERT (redshift, databricks; Spark Connect sends Arrow)
=============  ====================================================================================
"""

from __future__ import annotations

import contextlib
import inspect
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from rcdm.db.execute import execute_sql, execute_statements, rollback_quietly
from rcdm.db.messages import driver_errors, error_message, scrub
from rcdm.db.schemas import exists_table
from rcdm.errors import DatabaseError, DriverError, UsageError
from rcdm.identifiers import check_identifier, check_schema
from rcdm.sql import translate
from rcdm.sql.transforms import POSTGRES_RESERVED

if TYPE_CHECKING:
    from rcdm.db.connection import Connection

CHUNK_ROWS = 10_000
"""Rows sent per driver call where the driver takes batches (and per progress-bar step)."""




# ------------------------------------------------------------------------------------------------------------
# Shared helpers


def _columns(table: pa.Table, quoted: bool = False) -> str:
    """The column list; ``quoted`` for databases whose quoted names still match case-insensitively (DuckDB,
    SQLite), so that reserved words (``at``, ``order``) work as column names."""
    return ", ".join(f'"{name}"' if quoted else name for name in table.column_names)


def _batches(table: pa.Table, progress: bool, what: str) -> Iterator[pa.RecordBatch]:
    """The table in batches of CHUNK_ROWS, with a tqdm bar when ``progress``."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=table.num_rows, desc=what, unit="row")
    try:
        for batch in table.to_batches(max_chunksize=CHUNK_ROWS):
            yield batch
            if bar is not None:
                bar.update(batch.num_rows)
    finally:
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def _committed(conn: Connection, connection: Any) -> Iterator[None]:
    """Commit ``connection`` after the block, unless the load runs inside ``rcdm.db.transaction`` (which commits
    everything at its end); roll it back on any failure, interrupts included, and re-raise."""
    try:
        yield
        if not getattr(conn, "in_transaction", False):
            connection.commit()
    except BaseException:
        connection.rollback()
        raise


def _insert_sql(target: str, table: pa.Table, marks: list[str], quoted: bool = False) -> str:
    """``INSERT INTO target (cols) VALUES (marks)``: one bind marker per column, in the table's column order."""
    return f"INSERT INTO {target} ({_columns(table, quoted)}) VALUES ({', '.join(marks)})"


def _rows(batch: pa.RecordBatch) -> list[tuple[Any, ...]]:
    """Python tuples of a batch (None for nulls; dates, datetimes, Decimals as Python objects)."""
    return list(zip(*(column.to_pylist() for column in batch.columns)))


def _sqlite_values(table: pa.Table, as_seconds: bool) -> pa.Table:
    """Dates and timestamps the way the SQLite translation reads them (the backend's ``date_storage``: REAL
    seconds since 1970-01-01 UTC, SqlRender's way, or ISO 8601 text, ``2020-01-31``, ``2020-01-31 12:00:00``);
    decimals as floats (sqlite3 can't bind Decimal)."""
    for i, field in enumerate(table.schema):
        column = table.column(i)
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            column = column.cast(pa.timestamp(field.type.unit))  # the UTC wall clock
        if pa.types.is_date(field.type):
            if as_seconds:
                days = column.cast(pa.date32()).cast(pa.int32()).cast(pa.float64())
                column = pc.multiply(days, 86400.0)
            else:
                column = pc.strftime(column, format="%Y-%m-%d")
        elif pa.types.is_timestamp(field.type):
            if as_seconds:
                per_second = {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[field.type.unit]
                column = pc.divide(column.cast(pa.int64()).cast(pa.float64()), per_second)
            else:
                try:
                    column = column.cast(pa.timestamp("s"))  # whole seconds: no ".000000"
                except pa.ArrowInvalid:
                    pass
                column = pc.strftime(column, format="%Y-%m-%d %H:%M:%S")
        elif pa.types.is_decimal(field.type):
            column = column.cast(pa.float64())
        else:
            continue
        table = table.set_column(i, field.name, column)
    return table


# ------------------------------------------------------------------------------------------------------------
# Loaders


def load_duckdb(conn: Connection, target: str, table: pa.Table, progress: bool) -> None:
    """DuckDB reads the Arrow table in place (zero-copy scan of a registered view); one statement, no bar."""
    raw = conn.driver_connection()
    view = f"rcdm_arrow_{uuid.uuid4().hex}"
    raw.register(view, table)
    try:
        cols = _columns(table, quoted=True)
        raw.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {view}")
    except Exception:
        # a refused statement aborts DuckDB's transaction, and until it is rolled back (as insert_table does next)
        # the unregister below would fail and hide the database's own message
        with contextlib.suppress(Exception):
            raw.rollback()
        raise
    finally:
        raw.unregister(view)


def _csv_copyable(schema: pa.Schema) -> bool:
    """Whether Arrow's CSV writer renders every column as PostgreSQL's CSV COPY reads it back unchanged:
    numbers (shortest round-trip text), strings (always quoted, so ``""`` is the empty string and an unquoted
    empty field is NULL), booleans, ISO dates and timestamps. Other types (binary, lists, ...) go row by row."""
    return all(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t)
               or pa.types.is_large_string(t) or pa.types.is_boolean(t) or pa.types.is_date(t)
               or pa.types.is_timestamp(t) or pa.types.is_decimal(t) for t in schema.types)


def load_postgresql(conn: Connection, target: str, table: pa.Table, progress: bool) -> None:
    """PostgreSQL ``COPY FROM STDIN`` through psycopg 3's ``Cursor.copy``: the Arrow table written as CSV by
    Arrow's C++ writer (``Copy.write`` of each chunk; several times faster than converting every value to
    Python for ``Copy.write_row``, which remains the path for the column types CSV cannot carry)."""
    raw = conn.driver_connection()
    # quoted lower case: reserved words (OMOP's note_nlp has a column "offset") work, and other names are
    # the ones PostgreSQL folded them to when the table was created unquoted
    columns = ", ".join(f'"{name.lower()}"' for name in table.column_names)
    with _committed(conn, raw):
        with raw.cursor() as cursor:
            if _csv_copyable(table.schema):
                from pyarrow import csv

                options = csv.WriteOptions(include_header=False, quoting_style="needed")
                with cursor.copy(f"COPY {target} ({columns}) FROM STDIN (FORMAT csv, ENCODING 'UTF8')") as copy:
                    for batch in _batches(table, progress, f"COPY into {target}"):
                        sink = pa.BufferOutputStream()
                        csv.write_csv(batch, sink, options)
                        copy.write(memoryview(sink.getvalue()))
                return
            with cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
                for batch in _batches(table, progress, f"COPY into {target}"):
                    for row in _rows(batch):
                        copy.write_row(row)


def load_sqlite(conn: Connection, target: str, table: pa.Table, progress: bool) -> None:
    """SQLite ``executemany`` inside one transaction (one fsync for the whole load)."""
    table = _sqlite_values(table, conn.backend.date_storage == "epoch_seconds")
    raw = conn.driver_connection()
    sql = _insert_sql(target, table, ["?"] * table.num_columns, quoted=True)
    with _committed(conn, raw):
        for batch in _batches(table, progress, f"Inserting into {target}"):
            raw.executemany(sql, _rows(batch))


def load_sqlserver(conn: Connection, target: str, table: pa.Table, progress: bool) -> None:
    """pyodbc ``executemany`` with ``fast_executemany`` (ODBC parameter arrays), one commit at the end."""
    raw = conn.driver_connection()
    sql = _insert_sql(target, table, ["?"] * table.num_columns)
    cursor = raw.cursor()
    try:
        with _committed(conn, raw):
            cursor.fast_executemany = True
            for batch in _batches(table, progress, f"Inserting into {target}"):
                cursor.executemany(sql, _rows(batch))
    finally:
        cursor.close()


def load_oracle(conn: Connection, target: str, table: pa.Table, progress: bool) -> None:
    """oracledb ``Cursor.executemany`` with array binds (``:1, :2, ...``), one commit at the end."""
    raw = conn.driver_connection()
    sql = _insert_sql(target, table, [f":{i}" for i in range(1, table.num_columns + 1)])
    with _committed(conn, raw):
        with raw.cursor() as cursor:
            for batch in _batches(table, progress, f"Inserting into {target}"):
                cursor.executemany(sql, _rows(batch))


def load_bigquery(conn: Connection, target: str, table: pa.Table, progress: bool) -> None:
    """A BigQuery load job from the DataFrame (Parquet upload, columns matched by name), appended."""
    from google.api_core.exceptions import GoogleAPIError
    from google.cloud import bigquery

    raw = conn.driver_connection()  # google.cloud.bigquery.dbapi.Connection
    client = getattr(raw, "_client", None) or bigquery.Client(project=conn.engine.url.host or None)
    config = bigquery.LoadJobConfig(write_disposition=bigquery.WriteDisposition.WRITE_APPEND)
    try:
        client.load_table_from_dataframe(table.to_pandas(), target, job_config=config).result()
    except GoogleAPIError as exc:
        raise DriverError(str(exc)) from exc


def load_snowflake(conn: Connection, target: str, table: pa.Table, progress: bool) -> None:
    """Snowflake ``write_pandas``: Parquet files put on the table's stage, then COPY INTO."""
    from snowflake.connector.pandas_tools import write_pandas

    raw = conn.driver_connection()  # snowflake.connector.SnowflakeConnection
    parts = target.split(".")
    name = parts[-1]
    schema = parts[-2] if len(parts) >= 2 else None
    database = parts[-3] if len(parts) >= 3 else None
    options: dict[str, Any] = {"quote_identifiers": False, "auto_create_table": False}
    if "use_logical_type" in inspect.signature(write_pandas).parameters:
        options["use_logical_type"] = True  # timestamps keep their type instead of becoming numbers
    success, _chunks, _rows_written, output = write_pandas(
        raw, table.to_pandas(), name, database=database, schema=schema, chunk_size=CHUNK_ROWS * 10, **options
    )
    if not success:
        raise DriverError(f"write_pandas did not load every file: {output}")


def load_generic(conn: Connection, target: str, table: pa.Table, progress: bool) -> None:
    """Any other backend: SQLAlchemy ``executemany`` of one INSERT with bound values, chunk by chunk."""
    sa_conn = conn.sqlalchemy_connection
    keys = [f"p{i}" for i in range(table.num_columns)]
    statement = sa.text(_insert_sql(target, table, [":" + k for k in keys]))
    with _committed(conn, sa_conn):
        for batch in _batches(table, progress, f"Inserting into {target}"):
            sa_conn.execute(statement, [dict(zip(keys, row)) for row in _rows(batch)])


# ------------------------------------------------------------------------------------------------------------
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
    failures: tuple[type[BaseException], ...] = (sa.exc.DBAPIError, DriverError, *driver_errors(conn.engine))
    try:
        conn.backend.bulk_load(conn, target, arrow, progress)
    except failures as exc:
        message = error_message(exc)
        rollback_quietly(conn)
        raise DatabaseError(
            f"Bulk insert of {arrow.num_rows} rows into {target} ({', '.join(arrow.column_names)}) failed on "
            f"{conn.backend.label}: {scrub(message, conn.engine.url.password)}"
        ) from None
    return int(arrow.num_rows)


def _target_name(conn: Connection, ohdsi_name: str) -> str:
    """The name a temp table ``#t`` gets on this dialect, as the translator writes it."""
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


def _column_name(column: str) -> str:
    """A column named by a reserved word bracketed (T-SQL quoting), so that every target quotes it (``order``
    is a syntax error unquoted on SQLite, PostgreSQL, ...)."""
    return f"[{column}]" if column.lower() in POSTGRES_RESERVED else column


def _create_table_sql(ohdsi_name: str, arrow: pa.Table) -> str:
    """OHDSI SQL that creates the table from the data's types."""
    columns = ",\n  ".join(f"{_column_name(field.name)} {_ohdsi_type(field.name, field.type, arrow.column(field.name))}"
                           for field in arrow.schema)
    return f"CREATE TABLE {ohdsi_name} (\n  {columns}\n);"


def _varchar(column: pa.ChunkedArray) -> str:
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
