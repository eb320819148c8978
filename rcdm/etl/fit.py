"""Fit staged values to the target columns before a load, so that one odd file cannot make a database refuse a
whole group (a 3.6 KB path in ``file_path VARCHAR(1024)`` did on PostgreSQL while DuckDB took it silently).

The limits are read from the DDL templates (``inst/ddl/rcdm_ddl.sql``, ``etl_ddl.sql``): every ``VARCHAR(n)``
of the tables a load writes. Text is cut to at most ``n`` bytes of UTF-8 (the strictest reading of every
target: some count bytes, not characters) at a character boundary, a path ending in ``…`` (its real path
stays in the site's path index); NUL characters, which PostgreSQL refuses in text, are dropped. What the
database still refuses is isolated by ``rcdm.etl.run`` (the group is retried without the row).
"""

from __future__ import annotations

import functools
import re

import pyarrow as pa
import pyarrow.compute as pc

from rcdm.resources import read_template

_TABLES = ("radiology_image", "radiology_occurrence", "rcdm_etl_file")
_CREATE = re.compile(r"CREATE TABLE @cdm_database_schema\.(\w+) \((.*?)\n\);", re.S)
_VARCHAR = re.compile(r"^\s*(\w+) VARCHAR\((\d+)\)", re.M)
ELLIPSIS = "…"


@functools.lru_cache(maxsize=1)
def column_limits() -> dict[str, int]:
    """Staged column name → the smallest ``VARCHAR`` size it is written to (bytes)."""
    limits: dict[str, int] = {}
    for template in ("ddl/rcdm_ddl.sql", "ddl/etl_ddl.sql"):
        for table, body in _CREATE.findall(read_template(template)):
            if table in _TABLES:
                for column, size in _VARCHAR.findall(body):
                    limits[column] = min(int(size), limits.get(column, int(size)))
    return limits


def _cut(text: str, limit: int, marker: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(marker.encode("utf-8"))
    return data[:room].decode("utf-8", "ignore") + marker


def fit_batch(table: pa.Table) -> tuple[pa.Table, int]:
    """``table`` with every text value fitted to its column (see the module docstring); and how many were."""
    fitted = 0
    for name, limit in column_limits().items():
        if name not in table.column_names or not pa.types.is_string(table.schema.field(name).type):
            continue
        column = table.column(name)
        longest = pc.max(pc.binary_length(column)).as_py() or 0
        if longest <= limit and not pc.any(pc.match_substring(column, "\x00")).as_py():
            continue  # the usual column: two scans, no mask built
        too_long = pc.greater(pc.binary_length(column), limit)
        has_nul = pc.match_substring(column, "\x00")
        bad = pc.fill_null(pc.or_(too_long, has_nul), False)
        count = pc.sum(bad).as_py() or 0
        if not count:
            continue
        marker = ELLIPSIS if name == "file_path" else ""
        values = column.to_pylist()
        for i, flag in enumerate(bad.to_pylist()):
            if flag:
                values[i] = _cut(values[i].replace("\x00", ""), limit, marker)
        table = table.set_column(table.schema.get_field_index(name), table.schema.field(name), pa.array(values, pa.string()))
        fitted += count
    return table, fitted
