"""WITH ... INSERT INTO t SELECT: the CTE moved inside the INSERT's query (INSERT INTO t WITH ... SELECT).

SQL Server and PostgreSQL put the WITH clause before the INSERT; Oracle (SQL Language Reference, INSERT: the WITH
clause belongs to the subquery), BigQuery (INSERT takes a query expression, which may start with WITH), Snowflake
and Redshift (WITH clause: used in INSERT INTO ... SELECT) read it only inside the query, as SqlRender writes it.
A plain tree -> tree rewrite, registered per target in ``rcdm.sql.dialects``.
"""

from __future__ import annotations

from sqlglot import exp

from rcdm.sql.transforms import Context


def cte_inside_insert(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Move an INSERT's leading WITH into its SELECT (merged ahead of a WITH the SELECT already has)."""
    del ctx
    if not isinstance(tree, exp.Insert) or tree.args.get("with_") is None or not isinstance(tree.expression, exp.Query):
        return tree
    outer = tree.args["with_"]
    query = tree.expression
    inner = query.args.get("with_")
    if inner is not None:
        outer.set("expressions", [*outer.expressions, *inner.expressions])
        outer.set("recursive", bool(outer.args.get("recursive") or inner.args.get("recursive")))
    tree.set("with_", None)
    query.set("with_", outer)
    return tree
