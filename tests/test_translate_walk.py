"""The shared walk of the translator: the node index stays exact while transforms rewrite the tree, transforms
written the plain way (each walking the tree) still work beside indexed ones, and skipped transforms are only those
whose node types are absent. (That every output is unchanged is tests/test_translation_record.py.)"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from translation_record import corpus

from rcdm.sql import transforms as t
from rcdm.sql.dialects import TARGETS
from rcdm.sql.nodes import NodeIndex
from rcdm.sql.split import split_sql
from rcdm.sql.transforms import Context, apply_transforms, indexed, triggered_by
from rcdm.sql.translate import get_temp_table_prefix

KINDS = (exp.Identifier, exp.Literal, exp.Column, exp.Cast, exp.DataType, exp.Func, exp.Select, exp.Table, exp.Paren)


def _context(dialect: str) -> Context:
    return Context(target=TARGETS[dialect], temp_emulation_schema="scratch", temp_prefix=get_temp_table_prefix())


def _statements() -> list[str]:
    cases = [c for c in corpus() if c.id.startswith(("cohorts/", "idioms/", "inst/"))]
    return [s for c in cases for s in split_sql(c.sql)]


def _parse(sql: str) -> exp.Expression | None:
    try:
        return sqlglot.parse_one(sql, read="tsql")
    except sqlglot.errors.SqlglotError:
        return None  # the idioms sqlglot cannot read are turned into trees by translate's own parser


def test_index_equals_a_fresh_walk_after_every_target_s_transforms():
    checked = 0
    for dialect in ("postgresql", "oracle", "bigquery", "sqlite", "spark", "redshift", "duckdb", "snowflake"):
        ctx = _context(dialect)
        for sql in _statements():
            tree = _parse(sql)
            if tree is None or tree.find(exp.Command):
                continue
            try:
                states = apply_transforms(tree, TARGETS[dialect].transforms, ctx, NodeIndex(tree))
            except Exception:  # noqa: BLE001 - a refused statement has no tree to check
                continue
            for result, nodes in states:
                if nodes is None:
                    continue
                assert nodes.root is result
                for kind in KINDS:
                    walked = list(result.find_all(kind))
                    assert {id(n) for n in nodes.nodes(kind)} == {id(n) for n in walked}, (dialect, sql[:200], kind)
                    assert len(nodes.nodes(kind)) == len(walked)
                checked += 1
    assert checked > 500


def test_index_keeps_breadth_first_order_and_follows_rewrites():
    tree = sqlglot.parse_one("SELECT a + 1, f(b, 'x') FROM s.t WHERE c = DATEADD(day, 1, d)", read="tsql")
    nodes = NodeIndex(tree)
    assert nodes.nodes(exp.Column) == list(tree.find_all(exp.Column))
    assert nodes.nodes(exp.Column, exp.Literal) == list(tree.find_all(exp.Column, exp.Literal))
    assert nodes.innermost_first(exp.Expression) == list(reversed(list(tree.walk())))

    dateadd = nodes.first(exp.DateAdd)
    column_d = dateadd.this
    replacement = exp.Anonymous(this="ADD_DAYS", expressions=[column_d, exp.Literal.number(1)])  # d moves into it
    nodes.replace(dateadd, replacement)
    assert not nodes.has(exp.DateAdd)
    assert column_d in nodes.nodes(exp.Column)
    assert {id(n) for n in nodes.nodes(exp.Literal)} == {id(n) for n in tree.find_all(exp.Literal)}

    select = tree
    nodes.set(select, "where", None)
    assert {n.name for n in nodes.nodes(exp.Column)} == {"a", "b"}
    nodes.append(select, "expressions", exp.column("e"))
    assert [n.name for n in nodes.nodes(exp.Column)][-1] == "e"
    nodes.pop(nodes.nodes(exp.Column)[0])
    assert {id(n) for n in nodes.nodes(exp.Column)} == {id(n) for n in tree.find_all(exp.Column)}

    create = exp.Create(this=exp.to_table("x"), kind="TABLE", expression=tree)
    nodes.set_root(create)
    assert nodes.root is create and nodes.first(exp.Create) is create
    assert {id(n) for n in nodes.nodes(exp.Table)} == {id(n) for n in create.find_all(exp.Table)}


def _to_datetime(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """A transform written the plain way: it walks the tree itself and adds nodes the index has not seen."""
    for column in list(tree.find_all(exp.Column)):
        if column.name == "d":
            column.replace(exp.cast(column.copy(), "DATETIME"))
    return tree


def test_plain_transforms_work_between_indexed_ones():
    """standard_types (indexed) runs after a plain transform: it must see the DATETIME casts that one made."""
    ctx = _context("postgresql")
    tree = sqlglot.parse_one("SELECT d, CAST(e AS DATETIME) FROM t", read="tsql")
    states = apply_transforms(tree, (t.normalize_date_units, _to_datetime, t.standard_types), ctx, NodeIndex(tree))
    [(result, _)] = states
    assert result.sql("postgres") == "SELECT CAST(d AS TIMESTAMP), CAST(e AS TIMESTAMP) FROM t"


def test_transforms_are_skipped_only_when_their_node_types_are_absent():
    calls: list[str] = []

    @triggered_by(exp.Values)
    def plain(tree: exp.Expression, ctx: Context) -> exp.Expression:
        calls.append("plain")
        return tree

    @indexed(exp.Uuid)
    def aware(tree: exp.Expression, ctx: Context) -> exp.Expression:
        calls.append("aware")
        assert ctx.nodes is not None and ctx.nodes.root is tree
        return tree

    ctx = _context("postgresql")
    apply_transforms(sqlglot.parse_one("SELECT a FROM t", read="tsql"), (plain, aware), ctx)
    assert calls == []
    apply_transforms(sqlglot.parse_one("SELECT NEWID() FROM (VALUES (1)) AS v(a)", read="tsql"), (plain, aware), ctx)
    assert calls == ["plain", "aware"]


def test_indexed_transforms_work_without_an_index():
    """Called directly (ctx.nodes None), an indexed transform walks the tree, with the same result."""
    sql = "SELECT DATEADD(day, 1, DATEADD(month, 2, d)), DATEDIFF(year, a, b) FROM t"
    ctx = _context("postgresql")
    direct = sqlglot.parse_one(sql, read="tsql")
    for transform in (t.normalize_date_units, t.dateadd_postgres, t.datediff_postgres, t.standard_types):
        direct = transform(direct, ctx)
    tree = sqlglot.parse_one(sql, read="tsql")
    [(through_index, _)] = apply_transforms(
        tree, (t.normalize_date_units, t.dateadd_postgres, t.datediff_postgres, t.standard_types), ctx, NodeIndex(tree)
    )
    assert through_index.sql("postgres") == direct.sql("postgres")


def test_a_rewrite_inside_a_part_cut_from_the_tree_indexes_nothing():
    tree = sqlglot.parse_one("SELECT CAST(CAST(a AS INT) AS VARCHAR) FROM t", read="tsql")
    nodes = NodeIndex(tree)
    outer, inner = nodes.nodes(exp.Cast)
    nodes.replace(outer, exp.column("b"))  # the inner cast leaves the tree with the outer one
    nodes.replace(inner, exp.Anonymous(this="F", expressions=[exp.column("c")]))
    nodes.set(inner, "to", exp.DataType.build("TEXT"))
    assert not nodes.has(exp.Cast) and not nodes.has(exp.Anonymous)
    assert [c.name for c in nodes.nodes(exp.Column)] == [c.name for c in tree.find_all(exp.Column)] == ["b"]
