"""Emulated temp tables on Snowflake as SqlRender writes them (issue 17): TEMPORARY tables in the emulation schema.

Snowflake has session-scoped temporary tables (Snowflake documentation, "Working with Temporary and Transient
Tables"): ``CREATE TEMPORARY TABLE <temp_emulation_schema>.<session prefix>t`` lives until the session ends, is not
seen by other sessions, keeps no Fail-safe copy, and is dropped even after a crash, so no old session's table can
be in the way (the reason BigQuery's emulation, which has no such tables outside scripts, replaces instead).
"""

from __future__ import annotations

from sqlglot import exp

from rcdm.sql.transforms import Context, _append, _set, indexed


@indexed(exp.Create)
def temporary_emulated_snowflake(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Create emulated temp tables (<schema>.<prefix>t, after ``temp_tables_emulated``) as TEMPORARY tables."""
    if not isinstance(tree, exp.Create) or str(tree.args.get("kind")).upper() != "TABLE":
        return tree
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    if not isinstance(target, exp.Table) or not ctx.temp_emulation_schema:
        return tree
    if target.db != ctx.temp_emulation_schema or not target.name.startswith(ctx.temp_prefix):
        return tree
    properties = tree.args.get("properties")
    if properties is None:
        _set(ctx, tree, "properties", exp.Properties(expressions=[exp.TemporaryProperty()]))
    elif not any(isinstance(p, exp.TemporaryProperty) for p in properties.expressions):
        _append(ctx, properties, "expressions", exp.TemporaryProperty())
    return tree
