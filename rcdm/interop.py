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
