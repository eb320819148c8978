"""Pure helpers for the R wrapper package (extras/RadiologyCDM): DataFrames shaped so reticulate gives R plain,
exact columns.

* 63-bit keyed-hash ids (``radiology_occurrence_id``, ``radiology_series_id``, ``radiology_image_id``, and any
  other integer ``*_id`` column holding a value beyond 2^53) become strings: an R double cannot hold them.
* pandas nullable extension columns (``Int64``, ``Float64``, ``boolean``) become float64 with NaN, which R
  reads as a numeric vector with NA.
* object columns get ``None`` for every missing value (NaN, NaT, pd.NA), which the R side turns into NA.
* an empty frame's untyped (object) columns get a type from their name: ``*_date``/``*_datetime`` datetimes,
  the hashed ids strings, known counts and other ``*_id`` columns (not ``*_concept_id``) numbers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Ids that are keyed hashes (up to 2^63): always returned to R as character.
HASHED_ID_COLUMNS = frozenset({"radiology_occurrence_id", "radiology_series_id", "radiology_image_id"})

#: Numeric columns that an empty result still types as numbers.
NUMERIC_COLUMNS = frozenset({
    "days_from_anchor", "protocol_concept_id", "ct_slice_thickness", "series_serial_number",
    "series_total_number", "instance_number", "image_resolution_rows", "image_resolution_columns",
    "studies", "images", "files", "rows", "source_frequency",
})

_EXACT = 2 ** 53


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _big_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and abs(int(value)) > _EXACT


def _id_to_str(value: Any) -> Any:
    if _is_missing(value):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _empty_column(name: str) -> pd.Series:
    if name.endswith("_date") or name.endswith("_datetime"):
        return pd.Series([], dtype="datetime64[ns]")
    if name in HASHED_ID_COLUMNS:
        return pd.Series([], dtype=object)
    if name in NUMERIC_COLUMNS or (name.endswith("_id") and not name.endswith("_concept_id")):
        return pd.Series([], dtype="float64")
    return pd.Series([], dtype=object)


def _column_for_r(name: str, column: pd.Series) -> pd.Series:
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_extension_array_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        if pd.api.types.is_integer_dtype(dtype) and name.endswith("_id") and (
                name in HASHED_ID_COLUMNS or bool((column.dropna().abs() > _EXACT).any())):
            return pd.Series([_id_to_str(v) for v in column], index=column.index, dtype=object)
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            return column.astype("float64")  # pd.NA -> NaN
        return pd.Series([None if _is_missing(v) else v for v in column], index=column.index, dtype=object)
    if pd.api.types.is_integer_dtype(dtype):
        if name.endswith("_id") and (name in HASHED_ID_COLUMNS or bool((column.abs() > _EXACT).any())):
            return column.map(lambda v: str(int(v))).astype(object)
        return column
    if dtype == object:
        values = list(column)
        if name.endswith("_id") and (name in HASHED_ID_COLUMNS or any(_big_int(v) for v in values)):
            values = [_id_to_str(v) for v in values]
        else:
            values = [None if _is_missing(v) else v for v in values]
        return pd.Series(values, index=column.index, dtype=object)
    return column


def frame_for_r(frame: Any) -> Any:
    """A copy of ``frame`` that reticulate converts to plain, exact R columns (see the module docstring).

    Anything that is not a DataFrame is returned unchanged; a dict's DataFrame values are converted.
    """
    if isinstance(frame, dict):
        return {key: frame_for_r(value) for key, value in frame.items()}
    if not isinstance(frame, pd.DataFrame):
        return frame
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for name in frame.columns:
        column = frame[name].reset_index(drop=True)
        if len(frame) == 0 and column.dtype == object:
            out[name] = _empty_column(str(name))
        else:
            out[name] = _column_for_r(str(name), column)
    return out


def rows_for_r(rows: Any) -> pd.DataFrame:
    """A list of dicts (e.g. create_tables' rows) as a DataFrame for R, via :func:`frame_for_r`."""
    return frame_for_r(pd.DataFrame(list(rows)))


def missing_database_file(target: Any) -> str | None:
    """The path of the DuckDB/SQLite file ``target`` names when that file does not exist, else None.

    Servers, in-memory databases and anything that is not a path or URL string give None.
    """
    if not isinstance(target, (str, Path)):
        return None
    from rcdm.db import database_file

    try:
        path = database_file(target)
    except Exception:  # not a target rcdm.db understands: let connect() report it
        return None
    if path is not None and not path.exists():
        return str(path)
    return None


# --------------------------------------------------------------------------------------------------------------
# R data.frames in (RadiologyCDM's insertRcdmTable)

#: The kinds of column ``table_from_r`` reads, as the R side names them.
R_COLUMN_KINDS = ("integer", "double", "logical", "character", "date", "datetime", "integer64")

_INT64_NA = np.iinfo(np.int64).min  # bit64's NA_integer64_


def _r_mask(missing: Any, size: int) -> np.ndarray:
    mask = np.asarray(missing, dtype=bool).reshape(-1)
    if mask.shape[0] != size:
        raise ValueError(f"missing-value mask has {mask.shape[0]} entries for {size} values")
    return mask


def _hashed_ids(name: str, column: "pa.Array") -> "pa.Array":
    """A text ``*_id`` column holding whole numbers, the way :func:`frame_for_r` hands 63-bit ids to R, back as
    int64 (a hashed id column, or one with a value beyond 2^53); any other text column unchanged."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not name.endswith("_id") or column.null_count == len(column):
        return column
    if not pc.all(pc.match_substring_regex(column.drop_null(), r"^-?[0-9]{1,19}$")).as_py():
        return column
    try:
        numbers = column.cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # beyond int64: leave it text
        return column
    if name in HASHED_ID_COLUMNS or pc.any(pc.greater(pc.abs(numbers), _EXACT)).as_py():
        return numbers
    return column


def _array_from_r(name: str, kind: str, values: Any, missing: Any) -> "pa.Array":
    import pyarrow as pa

    if kind == "integer64":  # the 8-byte patterns of a bit64::integer64 vector; NA is INT64_MIN
        numbers = np.frombuffer(bytes(values), dtype=np.int64)
        return pa.array(numbers, mask=numbers == _INT64_NA, type=pa.int64())
    if kind == "character":
        strings = np.asarray(values, dtype=object).reshape(-1)
        return _hashed_ids(name, pa.array(strings, mask=_r_mask(missing, len(strings)), type=pa.string()))
    numbers = np.asarray(values).reshape(-1)
    mask = _r_mask(missing, len(numbers))
    if kind == "integer":
        return pa.array(numbers.astype(np.int32, copy=False), mask=mask, type=pa.int32())
    if kind == "double":
        return pa.array(numbers.astype(np.float64, copy=False), mask=mask, type=pa.float64())
    if kind == "logical":
        return pa.array(numbers.astype(bool, copy=False), mask=mask, type=pa.bool_())
    if kind == "date":  # R Date: days since 1970-01-01
        days = np.floor(numbers.astype(np.float64, copy=False))
        return pa.array(days.astype(np.int32), mask=mask, type=pa.date32())
    if kind == "datetime":  # R POSIXct: seconds since 1970-01-01 UTC; stored as UTC wall-clock time
        micros = np.round(numbers.astype(np.float64, copy=False) * 1e6)
        return pa.array(micros.astype(np.int64), mask=mask, type=pa.timestamp("us"))
    from rcdm.errors import UsageError

    raise UsageError(f"Column {name!r}: unknown R column kind {kind!r} (one of {', '.join(R_COLUMN_KINDS)}).")


def table_from_r(names: Any, kinds: Any, values: Any, missing: Any) -> Any:
    """A pyarrow Table from the columns of an R data.frame, as RadiologyCDM's ``insertRcdmTable`` sends them.

    reticulate 1.28 turns R's ``NA`` into ``True`` (logical) and ``-2147483648`` (integer) before Python sees
    it, so R never sends NA: each column comes as its kind (one of ``R_COLUMN_KINDS``), its values with every
    NA replaced by a placeholder, and a boolean mask that is True where R had NA (the mask makes those
    NULL). ``integer64`` columns come as the vector's raw bytes instead, with NA as INT64_MIN. Text ``*_id``
    columns of whole numbers become int64 when they are hashed ids or exceed 2^53 (the inverse of
    :func:`frame_for_r`), so ids R received as character are stored as the BIGINTs they were.
    """
    import pyarrow as pa

    names, kinds = [str(n) for n in names], [str(k) for k in kinds]
    values, missing = list(values), list(missing)
    if not len(names) == len(kinds) == len(values) == len(missing):
        raise ValueError("table_from_r needs one kind, value vector and mask per column name")
    arrays = [_array_from_r(n, k, v, m) for n, k, v, m in zip(names, kinds, values, missing)]
    return pa.Table.from_arrays(arrays, names=names)
