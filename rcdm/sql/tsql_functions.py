"""SQL Server functions and types that need a per-target form (issue 17): ISNUMERIC, HASHBYTES, CONVERT to
VARBINARY, UNIQUEIDENTIFIER and CONCAT of non-strings.

- ISNUMERIC(s) is 1 for an optionally signed decimal number (SqlRender's pattern on PostgreSQL), written with the
  target's regular-expression test. ``[.]`` instead of ``\\.``: BigQuery, Snowflake and Spark read backslashes in
  string literals as escapes.
- HASHBYTES('MD5', s) is the hexadecimal MD5 text everywhere (MD5() on PostgreSQL, DuckDB, Redshift, Snowflake,
  Spark); Oracle has no MD5() but STANDARD_HASH (Oracle 12c+), which returns RAW.
- CONVERT(VARBINARY, s) is the string's bytes: Oracle casts no VARCHAR2 to BLOB (UTL_RAW.CAST_TO_RAW), Snowflake
  reads a string cast to BINARY as hexadecimal digits (TO_BINARY(s, 'UTF-8')).
- UNIQUEIDENTIFIER (sqlglot: UUID) exists on PostgreSQL and DuckDB only: CHAR(36) on Oracle, Redshift (as
  SqlRender) and Snowflake, TEXT on SQLite (a type named UUID gets NUMERIC affinity there).
- TRY_CAST does not exist on Oracle: CAST(x AS T DEFAULT NULL ON CONVERSION ERROR) (Oracle 12.2+), the clause
  Oracle allows for casts to numbers and datetimes; to text a plain CAST.
- USE schema has no Oracle form: ALTER SESSION SET CURRENT_SCHEMA = schema (as SqlRender writes).
- CONCAT treats NULL as empty (sqlglot writes COALESCE(x, '')); BigQuery and Snowflake need strings inside, and
  Oracle's CONCAT takes two arguments only, while its ``||`` already treats NULL as empty.

Plain tree -> tree rewrites, registered per target in ``rcdm.sql.dialects``.
"""

from __future__ import annotations

import typing

import sqlglot
from sqlglot import exp

from rcdm.sql.transforms import Context, _find_all, _replace, _set, indexed

ISNUMERIC_PATTERN = "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)$"
_STRING = {"bigquery": "STRING", "spark": "STRING"}


def _as_text(node: exp.Expression, dialect: str) -> exp.Expression:
    if isinstance(node, exp.Literal) and node.is_string:
        return node
    if dialect == "oracle":
        return exp.Anonymous(this="TO_CHAR", expressions=[node])
    return exp.cast(node, _STRING.get(dialect, "VARCHAR"))


@indexed(exp.Anonymous)
def isnumeric_regex(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """ISNUMERIC(s) -> CASE WHEN <s matches an optionally signed decimal> THEN 1 ELSE 0 END."""
    for node in _find_all(tree, ctx, exp.Anonymous):
        if node.name.upper() == "ISNUMERIC" and len(node.expressions) == 1:
            test = exp.RegexpLike(
                this=_as_text(node.expressions[0], ctx.target.sqlglot), expression=exp.Literal.string(ISNUMERIC_PATTERN)
            )
            new = exp.Case(ifs=[exp.If(this=test, true=exp.Literal.number(1))], default=exp.Literal.number(0))
            tree = _replace(tree, ctx, node, new)
    return tree


@indexed(exp.Pow)
def integer_power_bigquery(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """BigQuery: POWER(2, n) -> CAST(POWER(2, n) AS INT64) for an integer base (a number, or CAST(2 AS BIGINT) as Circe
    writes it). SQL Server's POWER has the type of its base, an integer for
    Circe's inclusion-rule bit masks (POWER(2, rule) summed and compared with &); BigQuery's POWER returns FLOAT64,
    which an INT64 column does not take on INSERT and bitwise operators refuse, as SqlRender's cast also avoids."""
    for node in _find_all(tree, ctx, exp.Pow):
        base = node.this
        integer = (isinstance(base, exp.Literal) and not base.is_string and base.name.isdigit()) or (
            isinstance(base, exp.Cast) and base.to.this in exp.DataType.INTEGER_TYPES)  # Circe: CAST(2 AS BIGINT)
        if integer and not isinstance(node.parent, exp.Cast):
            power = exp.Pow(this=node.this, expression=node.expression)
            tree = _replace(tree, ctx, node, exp.Cast(this=power, to=exp.DataType.build("BIGINT")))
    return tree


@indexed(exp.MD5)
def md5_oracle(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Oracle: HASHBYTES('MD5', s) -> LOWER(RAWTOHEX(STANDARD_HASH(s, 'MD5'))), the hexadecimal text of the others."""
    for node in _find_all(tree, ctx, exp.MD5):
        digest = exp.Anonymous(this="STANDARD_HASH", expressions=[node.this, exp.Literal.string("MD5")])
        new = exp.Lower(this=exp.Anonymous(this="RAWTOHEX", expressions=[digest]))
        tree = _replace(tree, ctx, node, new)
    return tree


def _binary_cast(node: exp.Expression) -> bool:
    """Whether ``node`` is CAST(x AS VARBINARY) or CONVERT(VARBINARY, x)."""
    to = node.args.get("to") if isinstance(node, exp.Cast) else node.this
    binary = (exp.DataType.Type.VARBINARY, exp.DataType.Type.BINARY)
    return isinstance(node, (exp.Cast, exp.Convert)) and isinstance(to, exp.DataType) and to.this in binary


@indexed(exp.Cast, exp.Convert)
def string_bytes(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """CAST / CONVERT of a value to VARBINARY -> the string's bytes: UTL_RAW.CAST_TO_RAW(s) on Oracle,
    TO_BINARY(s, 'UTF-8') on Snowflake."""
    nodes: list[exp.Expression] = _find_all(tree, ctx, exp.Cast, exp.Convert)
    for node in nodes:
        if not _binary_cast(node):
            continue
        value = node.this if isinstance(node, exp.Cast) else node.expression
        if ctx.target.sqlglot == "oracle":
            new: exp.Expression = exp.Anonymous(this="UTL_RAW.CAST_TO_RAW", expressions=[value])
        else:
            new = exp.Anonymous(this="TO_BINARY", expressions=[value, exp.Literal.string("UTF-8")])
        tree = _replace(tree, ctx, node, new)
    return tree


@indexed(exp.DataType)
def uniqueidentifier_text(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """UNIQUEIDENTIFIER -> CHAR(36) (Oracle, Redshift, Snowflake) or TEXT (SQLite), where there is no UUID type."""
    text = "TEXT" if ctx.target.sqlglot == "sqlite" else "CHAR(36)"
    for dtype in _find_all(tree, ctx, exp.DataType):
        if dtype.this == exp.DataType.Type.UUID:
            tree = _replace(tree, ctx, dtype, exp.DataType.build(text))
    return tree


_CONVERSION_ERROR_TYPES = exp.DataType.NUMERIC_TYPES | exp.DataType.TEMPORAL_TYPES


def try_cast_oracle(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """TRY_CAST(x AS T) -> CAST(x AS T DEFAULT NULL ON CONVERSION ERROR) for numeric and datetime T, plain CAST
    otherwise (Oracle SQL Language Reference, CAST: the clause is allowed for those conversions only). A CONVERT
    with a style, which sqlglot writes as TRY_CAST(TO_CHAR(x, fmt) AS T), is read back as that tree first.
    A plain transform (no index): it walks the tree itself."""
    for convert in [n for n in tree.find_all(exp.Convert) if n.args.get("style") is not None]:
        written = typing.cast(exp.Expression, sqlglot.parse_one(convert.sql("oracle"), read="oracle"))
        tree = _replace(tree, ctx, convert, written)
    for node in [n for n in tree.find_all(exp.Cast) if isinstance(n, exp.TryCast) or n.args.get("safe")]:
        cast = exp.Cast(this=node.this, to=node.to)
        if node.to.this in _CONVERSION_ERROR_TYPES:
            cast.set("default", exp.Null())
        tree = _replace(tree, ctx, node, cast)
    return tree


def try_cast_snowflake(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """TRY_CAST(x AS T) -> TRY_CAST(CAST(x AS VARCHAR) AS T) when x is not a string literal: Snowflake's TRY_CAST
    takes a string only (Snowflake documentation, TRY_CAST), and sqlglot otherwise writes a plain CAST, which fails
    on a value SQL Server's TRY_CAST turns into NULL (SqlRender writes the same inner cast). A plain transform."""
    for node in [n for n in tree.find_all(exp.Cast) if isinstance(n, exp.TryCast) or n.args.get("safe")]:
        operand = node.this
        if isinstance(operand, exp.Literal) and operand.is_string:
            continue
        if isinstance(operand, exp.Cast) and operand.to.is_type(*exp.DataType.TEXT_TYPES):
            continue
        _set(ctx, node, "this", exp.cast(operand, exp.DataType.Type.VARCHAR))
    return tree


def use_schema_oracle(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """USE s -> ALTER SESSION SET CURRENT_SCHEMA = s (Oracle has no USE statement)."""
    del ctx
    if isinstance(tree, exp.Use) and isinstance(tree.this, exp.Table) and not tree.args.get("kind"):
        return exp.Command(this="ALTER", expression=f" SESSION SET CURRENT_SCHEMA = {tree.this.sql('oracle')}")
    return tree


@indexed(exp.Concat)
def concat_strings(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """CONCAT(a, b, ...) with NULL as empty: Oracle a || b || ... ; elsewhere COALESCE(CAST(x AS string), '') per
    argument that is not a string literal (BigQuery's CONCAT takes strings only, not even a number literal)."""
    dialect = ctx.target.sqlglot
    for node in _find_all(tree, ctx, exp.Concat):
        parts = list(node.expressions)
        if dialect == "oracle":
            new: exp.Expression = parts[0]
            for part in parts[1:]:
                new = exp.DPipe(this=new, expression=part)
            tree = _replace(tree, ctx, node, exp.Paren(this=new) if len(parts) > 1 else new)
            continue
        if not node.args.get("coalesce"):
            continue
        empty = exp.Literal.string("")
        wrapped = [
            p if isinstance(p, exp.Literal) and p.is_string
            else exp.Coalesce(this=_as_text(p, dialect), expressions=[empty.copy()])
            for p in parts
        ]
        new_concat = exp.Concat(expressions=wrapped, safe=node.args.get("safe"), coalesce=False)
        tree = _replace(tree, ctx, node, new_concat)
    return tree
