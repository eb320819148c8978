"""Query results as Arrow tables typed from the database's result types, and as pandas DataFrames.

``rcdm.db.query_sql`` fetches through here. Each column's type comes from what the database says about the
result, never from the column's name:

* DuckDB hands its result over as an Arrow table (``to_arrow_table`` / ``fetch_arrow_table``): no Python
  objects at all on the way.
* PostgreSQL (psycopg) describes each column by its type OID: the values fetched in batches become Arrow
  arrays of that type (BIGINT stays int64 and exact, DATE stays date, NUMERIC with no scale an integer).
* Any other driver (SQLite, SQL Server, Oracle, ...) is fetched in batches and each column typed from the
  values the driver returns (ints, floats, ``date``, ``datetime``, ``Decimal``, text). SQLite has no date
  type: a text column whose every value is an ISO date (``YYYY-MM-DD``) or date-time becomes a date or a
  timestamp, which is what rcdm and SqlRender store there (``CAST(x AS DATE)`` is ``DATE(x)``,
  ``CAST(x AS TIMESTAMP)`` is ``DATETIME(x)``). Dates that DatabaseConnector stored as numbers (seconds since
  1970) carry no type at all; a numeric column named ``*_date`` / ``*_datetime`` is read as such on SQLite only.

:func:`arrow_to_frame` turns the table into plain pandas columns: integers int64 (``Int64`` when a value is
NULL), floats float64, booleans bool (``boolean`` with NULLs), DATE ``datetime.date`` objects, timestamps
datetime64, text object columns with None for NULL, DECIMAL integers when their scale is 0 and the values fit
int64, else float64.
"""

from __future__ import annotations

import gc
import re
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rcdm.db.backend import VALUE_TYPING, ResultTyping

#: Rows fetched from a DB-API cursor at a time.
BATCH_ROWS = 65_536

_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$"


def fetch_arrow(cursor: Any, names: Sequence[str], typing: ResultTyping = VALUE_TYPING) -> pa.Table:
    """All rows of an executed DB-API ``cursor`` as an Arrow table with columns ``names``."""
    if typing.arrow_cursor:
        fetch = getattr(cursor, "to_arrow_table", None) or cursor.fetch_arrow_table
        with warnings.catch_warnings():  # "an extra copy of the rows": a columnar copy, measured in the benchmark
            warnings.simplefilter("ignore", UserWarning)
            table = fetch()
        return pa.Table.from_arrays(table.columns, names=list(names))
    declared = _declared_types(typing, cursor.description, len(names))
    batches: list[list[pa.Array]] = []
    collecting = gc.isenabled()
    gc.disable()  # millions of row tuples, none cyclic: the cyclic collector would rescan them again and again
    try:
        while True:
            rows = cursor.fetchmany(BATCH_ROWS)
            if not rows:
                break
            columns = list(zip(*rows))
            del rows
            batches.append([_array(values, kind) for values, kind in zip(columns, declared)])
    finally:
        if collecting:
            gc.enable()
    columns = [_chunked([batch[i] for batch in batches], declared[i]) for i in range(len(names))]
    if typing.text_dates:
        columns = [_sqlite_column(name, column) for name, column in zip(names, columns)]
    return pa.Table.from_arrays(columns, names=list(names))


def _declared_types(typing: ResultTyping, description: Any, width: int) -> list[pa.DataType | None]:
    """Each column's Arrow type where the driver describes it (psycopg's type OIDs), else None (from values)."""
    if typing.type_codes and description:
        return [typing.type_codes.get(getattr(d, "type_code", d[1])) for d in description]
    return [None] * width


def _array(values: Sequence[Any], kind: pa.DataType | None) -> pa.Array:
    """One batch of one column: of the declared type, else the type pyarrow infers from the values."""
    if kind is not None:
        try:
            return pa.array(values, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # mixed kinds (SQLite): keep them as text
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _common_type(types: list[pa.DataType]) -> pa.DataType:
    """The type every batch of a column fits (batches typed from their values can differ: all-NULL, int/float)."""
    kinds = [t for t in types if not pa.types.is_null(t)]
    if not kinds:
        return pa.null()
    if all(t == kinds[0] for t in kinds):
        return kinds[0]
    if all(pa.types.is_integer(t) for t in kinds):
        return pa.int64()
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) for t in kinds):
        if all(pa.types.is_decimal(t) or pa.types.is_integer(t) for t in kinds):
            scale = max(getattr(t, "scale", 0) for t in kinds)
            return pa.decimal128(38, scale)
        return pa.float64()
    if all(pa.types.is_timestamp(t) or pa.types.is_date(t) for t in kinds):
        return pa.timestamp("us")
    return pa.string()


def _chunked(arrays: list[pa.Array], declared: pa.DataType | None) -> pa.ChunkedArray:
    """A column's batches as one chunked array of their common type."""
    if not arrays:
        return pa.chunked_array([], type=declared or pa.null())
    kind = _common_type([a.type for a in arrays])
    return pa.chunked_array([a if a.type == kind else a.cast(kind) for a in arrays], type=kind)


def _sqlite_column(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """SQLite's dates: ISO text to date / timestamp; numbers in a ``*_date(time)`` column as Unix seconds."""
    present = column.drop_null()
    if len(present) == 0:
        return column
    if pa.types.is_string(column.type):
        if pc.all(pc.match_substring_regex(present, _ISO_DATE)).as_py():
            return column.cast(pa.date32())
        if pc.all(pc.match_substring_regex(present, _ISO_DATETIME)).as_py():
            return column.cast(pa.timestamp("us"))
        return column
    if (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)) and re.search(
            r"_date(time)?$", name):
        micros = pc.round(pc.multiply(column.cast(pa.float64()), 1e6)).cast(pa.int64())
        stamps = micros.cast(pa.timestamp("us"))
        return stamps.cast(pa.date32()) if name.endswith("_date") else stamps
    return column


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """DECIMAL as int64 (scale 0, values that fit) or float64; unsigned and narrow ints as int64; float32 as float64."""
    kind = column.type
    if pa.types.is_decimal(kind):
        if kind.scale == 0:  # e.g. DuckDB's HUGEINT sums, PostgreSQL's NUMERIC counts
            try:
                return column.cast(pa.int64())
            except pa.ArrowInvalid:  # beyond int64
                pass
        return column.cast(pa.float64())
    if pa.types.is_integer(kind) and kind != pa.int64():
        if kind == pa.uint64() and (pc.max(column).as_py() or 0) >= 2 ** 63:
            return column  # beyond int64: pandas uint64
        return column.cast(pa.int64())
    if pa.types.is_floating(kind) and kind != pa.float64():
        return column.cast(pa.float64())
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return column.cast(pa.string())
    return column


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """A DataFrame of plain columns from a query's Arrow table (see the module docstring)."""
    data = {}
    for i, _name in enumerate(table.column_names):
        column = _plain(table.column(i))
        kind = column.type
        if pa.types.is_integer(kind):
            series = column.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get) if column.null_count \
                else column.to_pandas()
        elif pa.types.is_boolean(kind) and column.null_count:
            series = column.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
        elif pa.types.is_null(kind):
            series = pd.Series([None] * len(column), dtype=object)
        elif pa.types.is_string(kind) or pa.types.is_binary(kind):  # object with None on pandas 2 and 3 alike
            series = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
        else:
            series = column.to_pandas()
        data[i] = series
    frame = pd.DataFrame(data, index=pd.RangeIndex(table.num_rows))
    frame.columns = list(table.column_names)
    return frame


__all__ = ["BATCH_ROWS", "arrow_to_frame", "fetch_arrow"]


def is_missing(value: Any) -> bool:
    """Whether one value of a ``query_sql`` frame is missing: None, NaN, ``pd.NA`` or ``pd.NaT`` (nullable
    integer, boolean and date columns hold ``pd.NA``, on which ``==``, ``!=`` and ``bool()`` do not work)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array: not one missing value
        return False
