"""Date transforms where a target reads dates differently from SQL Server (issue 17; SqlRender wraps the same cases).

- A string built from parts (``CAST(CONCAT(year_of_birth, '0101') AS DATE)``, ``CAST(x + '0701' AS DATE)``) is SQL
  Server's unseparated 'YYYYMMDD' form: Oracle (NLS-dependent CAST), BigQuery (CAST needs 'YYYY-MM-DD'), Snowflake
  (a digit string is read as epoch seconds) and Spark (CAST gives NULL) need the format spelled out.
- BigQuery's DATE_ADD / DATE_DIFF take DATE values only: a DATETIME, TIMESTAMP or ISO string operand is cast to DATE
  (whole days, as DATEDIFF(day) counts in SQL Server; the PostgreSQL and DuckDB translations return DATEs too).
- EOMONTH on Oracle: LAST_DAY keeps the time of day of its argument, so it is truncated to the day.

Each function is a plain tree -> tree rewrite (``rcdm.sql.transforms.Transform``), registered per target in
``rcdm.sql.dialects``.
"""

from __future__ import annotations

from sqlglot import exp

from rcdm.sql.transforms import Context, _find_all, _replace, _set, indexed

_PARSE_YYYYMMDD: dict[str, tuple[str, str, bool]] = {
    # sqlglot dialect: (function, format, format first)
    "oracle": ("TO_DATE", "YYYYMMDD", False),
    "snowflake": ("TO_DATE", "YYYYMMDD", False),
    "spark": ("TO_DATE", "yyyyMMdd", False),
    "bigquery": ("PARSE_DATE", "%Y%m%d", True),
}
_DATE_UNITS = {"DAY", "MONTH", "YEAR", "QUARTER", "WEEK"}


def _strip(node: exp.Expression) -> exp.Expression:
    """The operand without the TimeStrToTime / TsOrDsToDate wrappers sqlglot's T-SQL reader adds."""
    while isinstance(node, (exp.TimeStrToTime, exp.TsOrDsToDate)):
        node = node.this
    return node


def _built_string(node: exp.Expression) -> bool:
    """Whether ``node`` is a string put together from parts (CONCAT or ||): SQL Server reads it as 'YYYYMMDD'."""
    node = _strip(node)
    while isinstance(node, exp.Paren):
        node = node.this
    return isinstance(node, (exp.DPipe, exp.Concat))


def _parse_yyyymmdd(node: exp.Expression, dialect: str) -> exp.Expression:
    function, fmt, format_first = _PARSE_YYYYMMDD[dialect]
    args = [exp.Literal.string(fmt), node] if format_first else [node, exp.Literal.string(fmt)]
    return exp.Anonymous(this=function, expressions=args)


@indexed(exp.Cast)
def yyyymmdd_strings(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Read CAST(<string built with CONCAT or +> AS DATE) as 'YYYYMMDD' with the target's parse function
    (TO_DATE(s, 'YYYYMMDD'), PARSE_DATE('%Y%m%d', s), Spark's TO_DATE(s, 'yyyyMMdd')), as SqlRender does."""
    dialect = ctx.target.sqlglot
    for cast in _find_all(tree, ctx, exp.Cast):
        if cast.to.is_type(exp.DataType.Type.DATE) and _built_string(cast.this):
            new = _parse_yyyymmdd(_strip(cast.this), dialect)
            if cast is tree:
                return _replace(tree, ctx, cast, new)
            tree = _replace(tree, ctx, cast, new)
    return tree


def _bigquery_date(node: exp.Expression) -> exp.Expression:
    node = _strip(node)
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DATE):
        return node
    if isinstance(node, exp.Anonymous) and node.name.upper() == "PARSE_DATE":
        return node
    if _built_string(node):
        return _parse_yyyymmdd(node, "bigquery")
    return exp.cast(node, exp.DataType.Type.DATE)


def _unit_name(node: exp.Expression) -> str:
    unit = node.args.get("unit")
    return unit.name.upper() if unit is not None else "DAY"


@indexed(exp.DateAdd, exp.DateDiff)
def date_operands_bigquery(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """BigQuery: DATE_ADD / DATE_DIFF by days, weeks, months, quarters or years get DATE operands (a DATETIME or
    TIMESTAMP column, an ISO string); DATE_DIFF is written as BigQuery's own DATE_DIFF(end, start, UNIT) so that
    sqlglot does not cast the dates back to DATETIME."""
    nodes: list[exp.Expression] = _find_all(tree, ctx, exp.DateAdd, exp.DateDiff)
    for node in nodes:
        unit = _unit_name(node)
        if unit not in _DATE_UNITS:
            continue
        if isinstance(node, exp.DateAdd):
            _set(ctx, node, "this", _bigquery_date(node.this))
            continue
        new = exp.Anonymous(
            this="DATE_DIFF",
            expressions=[_bigquery_date(node.this), _bigquery_date(node.expression), exp.var(unit)],
        )
        if node is tree:
            return _replace(tree, ctx, node, new)
        tree = _replace(tree, ctx, node, new)
    return tree


@indexed(exp.LastDay)
def eomonth_oracle(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Oracle: EOMONTH(d) as TRUNC(LAST_DAY(d)) (a DATE at midnight, as SQL Server's EOMONTH returns a date)."""
    for node in _find_all(tree, ctx, exp.LastDay):
        if isinstance(node.parent, exp.Anonymous) and node.parent.name.upper() == "TRUNC":
            continue
        trunc = exp.Anonymous(this="TRUNC", expressions=[exp.Anonymous(this="LAST_DAY", expressions=[node.this])])
        if node is tree:
            return _replace(tree, ctx, node, trunc)
        tree = _replace(tree, ctx, node, trunc)
    return tree
