"""Bulk loaders, one small function per backend with the same contract, chosen from ``LOADERS`` by dialect.

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
other          SQLAlchemy ``executemany`` of one bound INSERT (redshift, spark)
=============  ====================================================================================

This module imports nothing from ``rcdm.db`` (it gets the connection object), so there is no import cycle.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from rcdm.errors import DriverError

if TYPE_CHECKING:
    from rcdm.db import Connection

CHUNK_ROWS = 10_000
"""Rows sent per driver call where the driver takes batches (and per progress-bar step)."""


def driver_errors(conn: "Connection") -> tuple[type[BaseException], ...]:
    """The driver's DB-API ``Error`` class, so rcdm.db can turn driver failures into DatabaseError."""
    dbapi = getattr(conn.engine.dialect, "loaded_dbapi", None)
    error = getattr(dbapi, "Error", None)
    return (error,) if isinstance(error, type) else ()


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
def _committed(conn: "Connection", connection: Any) -> Iterator[None]:
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


def _rows(batch: pa.RecordBatch) -> list[tuple]:
    """Python tuples of a batch (None for nulls; dates, datetimes, Decimals as Python objects)."""
    return list(zip(*(column.to_pylist() for column in batch.columns)))


@functools.lru_cache(maxsize=1)
def sqlite_dates_as_seconds() -> bool:
    """Whether rcdm's SQLite translation stores DATE/DATETIME as REAL seconds (SqlRender's way) or ISO text.

    SQLite has no date type; the translator decides the representation its date functions expect, and the
    loader must write the same one. Asked once, from how the translator writes a DATE column.
    """
    from rcdm.sql import translate

    return "REAL" in translate("CREATE TABLE x (d DATE);", "sqlite").upper()


def _sqlite_values(table: pa.Table) -> pa.Table:
    """Dates and timestamps the way the SQLite translation reads them; decimals as floats (sqlite3 can't bind
    Decimal). Seconds are since 1970-01-01 UTC; text is ISO 8601 (``2020-01-31``, ``2020-01-31 12:00:00``)."""
    as_seconds = sqlite_dates_as_seconds()
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


def load_duckdb(conn: "Connection", target: str, table: pa.Table, progress: bool) -> None:
    """DuckDB reads the Arrow table in place (zero-copy scan of a registered view); one statement, no bar."""
    raw = conn.driver_connection()
    view = f"rcdm_arrow_{uuid.uuid4().hex}"
    raw.register(view, table)
    try:
        cols = _columns(table, quoted=True)
        raw.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {view}")
    finally:
        raw.unregister(view)


def _csv_copyable(schema: pa.Schema) -> bool:
    """Whether Arrow's CSV writer renders every column as PostgreSQL's CSV COPY reads it back unchanged:
    numbers (shortest round-trip text), strings (always quoted, so ``""`` is the empty string and an unquoted
    empty field is NULL), booleans, ISO dates and timestamps. Other types (binary, lists, ...) go row by row."""
    return all(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t)
               or pa.types.is_large_string(t) or pa.types.is_boolean(t) or pa.types.is_date(t)
               or pa.types.is_timestamp(t) or pa.types.is_decimal(t) for t in schema.types)


def load_postgresql(conn: "Connection", target: str, table: pa.Table, progress: bool) -> None:
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


def load_sqlite(conn: "Connection", target: str, table: pa.Table, progress: bool) -> None:
    """SQLite ``executemany`` inside one transaction (one fsync for the whole load)."""
    table = _sqlite_values(table)
    raw = conn.driver_connection()
    sql = _insert_sql(target, table, ["?"] * table.num_columns, quoted=True)
    with _committed(conn, raw):
        for batch in _batches(table, progress, f"Inserting into {target}"):
            raw.executemany(sql, _rows(batch))


def load_sqlserver(conn: "Connection", target: str, table: pa.Table, progress: bool) -> None:
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


def load_oracle(conn: "Connection", target: str, table: pa.Table, progress: bool) -> None:
    """oracledb ``Cursor.executemany`` with array binds (``:1, :2, ...``), one commit at the end."""
    raw = conn.driver_connection()
    sql = _insert_sql(target, table, [f":{i}" for i in range(1, table.num_columns + 1)])
    with _committed(conn, raw):
        with raw.cursor() as cursor:
            for batch in _batches(table, progress, f"Inserting into {target}"):
                cursor.executemany(sql, _rows(batch))


def load_bigquery(conn: "Connection", target: str, table: pa.Table, progress: bool) -> None:
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


def load_snowflake(conn: "Connection", target: str, table: pa.Table, progress: bool) -> None:
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


def load_generic(conn: "Connection", target: str, table: pa.Table, progress: bool) -> None:
    """Any other backend: SQLAlchemy ``executemany`` of one INSERT with bound values, chunk by chunk."""
    sa_conn = conn.sqlalchemy_connection
    keys = [f"p{i}" for i in range(table.num_columns)]
    statement = sa.text(_insert_sql(target, table, [":" + k for k in keys]))
    with _committed(conn, sa_conn):
        for batch in _batches(table, progress, f"Inserting into {target}"):
            sa_conn.execute(statement, [dict(zip(keys, row)) for row in _rows(batch)])


Loader = Callable[["Connection", str, pa.Table, bool], None]

LOADERS: dict[str, Loader] = {
    "duckdb": load_duckdb,
    "postgresql": load_postgresql,
    "sqlite": load_sqlite,
    "sql server": load_sqlserver,
    "synapse": load_sqlserver,
    "oracle": load_oracle,
    "bigquery": load_bigquery,
    "snowflake": load_snowflake,
    "redshift": load_generic,  # Redshift has no COPY FROM STDIN; its bulk COPY reads from S3 only
    "spark": load_generic,
}
"""SqlRender dialect → bulk loader; a dialect missing here uses ``load_generic``."""
