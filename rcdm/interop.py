"""Pure helpers for the R wrapper package (extras/RadiologyCDM): DataFrames shaped so reticulate gives R plain,
exact columns.

* 63-bit keyed-hash ids (``radiology_occurrence_id``, ``radiology_series_id``, ``radiology_image_id``, and any
  other integer ``*_id`` column holding a value beyond 2^53) become strings: an R double cannot hold them.
* pandas nullable extension columns (``Int64``, ``Float64``, ``boolean``) become float64 with NaN, which R
  reads as a numeric vector with NA.
* object columns get ``None`` for every missing value (NaN, NaT, pd.NA), which the R side turns into NA.
* an empty frame's untyped (object) columns get a type from their name: ``*_date``/``*_datetime`` datetimes,
  the hashed ids strings, known counts and other ``*_id`` columns (not ``*_concept_id``) numbers.

No numpy array crosses reticulate in either direction (Debian 12's reticulate 1.28 cannot read numpy 2's):
:func:`columns_for_r` sends such a frame as raw bytes, one joined string per text column and byte NA masks,
and :func:`table_from_r` reads R's columns in the same forms.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rcdm.db import database_file
from rcdm.errors import UsageError

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
    if dtype == object:  # noqa: E721 - numpy dtype equality (object columns), not a class check
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


# --------------------------------------------------------------------------------------------------------------
# Columns out to R without numpy (reticulate 1.28)

#: The kinds :func:`columns_for_r` sends, as the R side (``.columnsToFrame``) reads them.
R_OUT_KINDS = ("double", "logical", "character", "characters", "date", "datetime")

#: Separator of the one string a text column crosses as (R splits it); a column holding it goes as a list.
_SEP = "\x1f"


def _packed(values: np.ndarray) -> bytearray:
    """Little-endian float64 bytes (reticulate turns a bytearray into an R raw vector: one copy, no numpy)."""
    return bytearray(np.ascontiguousarray(values, dtype="<f8").tobytes())


def _mask(missing: np.ndarray) -> bytearray | None:
    return bytearray(missing.astype(np.uint8).tobytes()) if missing.any() else None


def _utc_seconds(value: dt.datetime) -> float:
    """Seconds since 1970 of a date-time; a naive one is taken as UTC wall-clock time."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return (stamp - pd.Timestamp(0)).total_seconds()


def _object_kind(present: list) -> str:
    kinds = {type(v) for v in present}
    if kinds and all(issubclass(k, dt.datetime) for k in kinds):
        return "datetime"
    if kinds and all(issubclass(k, dt.date) and not issubclass(k, dt.datetime) for k in kinds):
        return "date"
    if kinds and all(issubclass(k, (bool, np.bool_)) for k in kinds):
        return "logical"
    if kinds and all(issubclass(k, (int, float, np.integer, np.floating)) and not issubclass(k, (bool, np.bool_))
                     for k in kinds):
        return "double"
    return "character"


def _r_column(column: pd.Series) -> tuple[str, Any, bytearray | None]:
    """(kind, values, NA mask) of one column of a :func:`frame_for_r` frame."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "logical", bytearray(column.to_numpy(dtype=np.uint8).tobytes()), None
    if pd.api.types.is_numeric_dtype(dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return "double", _packed(values), _mask(np.isnan(values))
    if pd.api.types.is_datetime64_any_dtype(dtype):
        stamps = column.dt.tz_convert("UTC").dt.tz_localize(None) if isinstance(dtype, pd.DatetimeTZDtype) else column
        missing = stamps.isna().to_numpy()
        seconds = ((stamps - pd.Timestamp(0)) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64, na_value=np.nan)
        return "datetime", _packed(seconds), _mask(missing)
    values = column.tolist()
    missing = np.array([_is_missing(v) for v in values], dtype=bool)
    present = [v for v, m in zip(values, missing) if not m]
    kind = _object_kind(present)
    fill: list[Any]
    if kind == "datetime":
        fill = [0.0 if m else _utc_seconds(v) for v, m in zip(values, missing)]
        return kind, _packed(np.array(fill, dtype=np.float64)), _mask(missing)
    if kind == "date":
        epoch = dt.date(1970, 1, 1)
        fill = [0.0 if m else float((v - epoch).days) for v, m in zip(values, missing)]
        return kind, _packed(np.array(fill, dtype=np.float64)), _mask(missing)
    if kind == "logical":
        return kind, bytearray(bytes(0 if m else int(bool(v)) for v, m in zip(values, missing))), _mask(missing)
    if kind == "double":
        fill = [np.nan if m else float(v) for v, m in zip(values, missing)]
        return kind, _packed(np.array(fill, dtype=np.float64)), _mask(missing)
    text = ["" if m else (v if isinstance(v, str) else str(v)) for v, m in zip(values, missing)]
    if any(_SEP in t for t in text):
        return "characters", text, _mask(missing)
    return "character", _SEP.join(text) + _SEP + ".", _mask(missing)


def columns_for_r(frame: Any) -> Any:
    """A DataFrame as plain Python values that reticulate 1.28 converts without numpy (numpy 2 safe).

    Returns ``{"rcdm_columns": True, "rows": n, "names": [...], "kinds": [...], "values": [...],
    "missing": [...]}`` after :func:`frame_for_r` (exact ids as text): numbers, dates (days since 1970),
    date-times (seconds since 1970, UTC) and logicals as little-endian bytes (a ``bytearray``, which R gets as
    a raw vector and reads with ``readBin``), text as one string joined by ``\\x1f`` plus a final ``\\x1f.``
    (kind ``character``; a list, kind ``characters``, when a value holds that byte), and per column a byte
    mask (1 = NA) or None. A dict's DataFrame values are converted; anything else is returned unchanged.
    The R side is RadiologyCDM's ``.columnsToFrame``.
    """
    if isinstance(frame, dict):
        return {key: columns_for_r(value) for key, value in frame.items()}
    if not isinstance(frame, pd.DataFrame):
        return frame
    plain = frame_for_r(frame)
    names, kinds, values, missing = [], [], [], []
    for i, name in enumerate(plain.columns):
        kind, data, mask = _r_column(plain.iloc[:, i])
        names.append(str(name))
        kinds.append(kind)
        values.append(data)
        missing.append(mask)
    return {"rcdm_columns": True, "rows": int(len(plain)), "names": names, "kinds": kinds, "values": values,
            "missing": missing}


def rows_for_r(rows: Any) -> pd.DataFrame:
    """A list of dicts (e.g. create_tables' rows) as a DataFrame for R, via :func:`frame_for_r`."""
    return frame_for_r(pd.DataFrame(list(rows)))


def missing_database_file(target: Any) -> str | None:
    """The path of the DuckDB/SQLite file ``target`` names when that file does not exist, else None.

    Servers, in-memory databases and anything that is not a path or URL string give None.
    """
    if not isinstance(target, (str, Path)):
        return None
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


def _r_mask(missing: Any, size: int | None = None) -> np.ndarray:
    """The NA mask of a column from R: raw bytes (1 = NA) or a sequence of booleans."""
    if isinstance(missing, (bytes, bytearray, memoryview)):
        mask = np.frombuffer(missing, dtype=np.uint8).astype(bool)
    else:
        mask = np.asarray(missing, dtype=bool).reshape(-1)
    if size is not None and mask.shape[0] != size:
        raise ValueError(f"missing-value mask has {mask.shape[0]} entries for {size} values")
    return mask


def _r_numbers(values: Any, dtype: str) -> np.ndarray:
    """A numeric column from R: little-endian raw bytes of ``dtype`` (what RadiologyCDM sends), or a sequence."""
    if isinstance(values, (bytes, bytearray, memoryview)):
        return np.frombuffer(values, dtype=np.dtype(dtype).newbyteorder("<"))
    return np.asarray(values).reshape(-1)


def _r_strings(values: Any, size: int) -> np.ndarray:
    """A text column from R: one string joined by \\x1f, or a sequence of strings."""
    if isinstance(values, str):
        return np.array(values.split(_SEP) if size else [], dtype=object)
    return np.asarray(values, dtype=object).reshape(-1)


def _hashed_ids(name: str, column: pa.Array) -> pa.Array:
    """A text ``*_id`` column holding whole numbers, the way :func:`frame_for_r` hands 63-bit ids to R, back as
    int64 (a hashed id column, or one with a value beyond 2^53); any other text column unchanged."""
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


def _array_from_r(name: str, kind: str, values: Any, missing: Any) -> pa.Array:
    if kind not in R_COLUMN_KINDS:
        raise UsageError(f"Column {name!r}: unknown R column kind {kind!r} (one of {', '.join(R_COLUMN_KINDS)}).")
    if kind == "integer64":  # the 8-byte patterns of a bit64::integer64 vector; NA is INT64_MIN
        numbers = np.frombuffer(bytes(values), dtype=np.int64)
        return pa.array(numbers, mask=numbers == _INT64_NA, type=pa.int64())
    if kind == "character":
        mask = _r_mask(missing)
        strings = _r_strings(values, len(mask))
        return _hashed_ids(name, pa.array(strings, mask=_r_mask(missing, len(strings)), type=pa.string()))
    sizes = {"integer": "i4", "logical": "u1"}
    numbers = _r_numbers(values, sizes.get(kind, "f8"))
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
    micros = np.round(numbers.astype(np.float64, copy=False) * 1e6)  # datetime: R POSIXct, seconds since
    return pa.array(micros.astype(np.int64), mask=mask, type=pa.timestamp("us"))  # 1970 UTC; stored as UTC


def table_from_r(names: Any, kinds: Any, values: Any, missing: Any) -> Any:
    """A pyarrow Table from the columns of an R data.frame, as RadiologyCDM's ``insertRcdmTable`` sends them.

    reticulate 1.28 turns R's ``NA`` into ``True`` (logical) and ``-2147483648`` (integer) before Python sees
    it, so R never sends NA: each column comes as its kind (one of ``R_COLUMN_KINDS``), its values with every
    NA replaced by a placeholder, and a mask that is 1/True where R had NA (the mask makes those NULL). No
    numpy array crosses (reticulate 1.28 reads only numpy 1.x's): numbers come as little-endian raw bytes
    (int32, float64, or one byte a logical), text as one string joined by ``\\x1f`` (or a list), the mask as
    one byte a row; sequences of values and booleans are taken too. ``integer64`` columns come as the vector's
    raw bytes, with NA as INT64_MIN. Text ``*_id``
    columns of whole numbers become int64 when they are hashed ids or exceed 2^53 (the inverse of
    :func:`frame_for_r`), so ids R received as character are stored as the BIGINTs they were.
    """
    names, kinds = [str(n) for n in names], [str(k) for k in kinds]
    values, missing = list(values), list(missing)
    if not len(names) == len(kinds) == len(values) == len(missing):
        raise ValueError("table_from_r needs one kind, value vector and mask per column name")
    arrays = [_array_from_r(n, k, v, m) for n, k, v, m in zip(names, kinds, values, missing)]
    return pa.Table.from_arrays(arrays, names=names)
