"""CSV cells a spreadsheet would run as formulas (OWASP "CSV injection"), escaped in every CSV rcdm writes.

A text cell starting with ``= + - @``, a tab or a carriage return gets a leading ``'`` unless it is a plain
number (``-5`` stays a number). Text columns are found by dtype, object and pandas' string dtype alike
(pandas 3 stores text as ``str``, not ``object``: a test of ``dtype == object`` alone misses every column).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

_FORMULA = re.compile(r"^[=+\-@\t\r]")
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^-?inf$")


def escape_cell(value: Any) -> Any:
    """``value``, with a ``'`` in front when it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and _FORMULA.match(value) and not _NUMBER.match(value):
        return "'" + value
    return value


def is_text(series: pd.Series) -> bool:
    """Whether a column may hold text: object or string dtype (pandas 2's and pandas 3's)."""
    return pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every formula-like text cell and column name escaped."""
    out = frame.copy()
    out.columns = [escape_cell(str(c)) for c in out.columns]
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if is_text(column):
            out.isetitem(position, column.map(escape_cell))
    return out


__all__ = ["escape_cell", "escape_frame", "is_text"]
