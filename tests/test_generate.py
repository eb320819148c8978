"""Generation without the SELECT rewrites a statement cannot need (rcdm.sql.generate) writes what sqlglot's own
generator writes: on the OHDSI corpus for every target, and on trees holding the nodes those rewrites act on
(UNNEST, EXPLODE, ANY, GENERATE_DATE_ARRAY, read from other dialects), where they must still run."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, SqlglotError
from translation_record import corpus

from rcdm.sql import generate as g
from rcdm.sql.dialects import TARGETS
from rcdm.sql.nodes import NodeIndex
from rcdm.sql.split import split_sql

DIALECTS = sorted({target.sqlglot for target in TARGETS.values()})
# Queries whose SELECT rewrites do change the tree on some target (read as the dialect named first).
REWRITTEN = (
    ("bigquery", "SELECT x, y FROM t, UNNEST(t.arr) AS x WITH OFFSET AS y"),
    ("bigquery", "SELECT d FROM UNNEST(GENERATE_DATE_ARRAY('2020-01-01', '2020-02-01', INTERVAL 1 DAY)) AS d"),
    ("bigquery", "SELECT a.col FROM t, UNNEST(t.arr) AS a WHERE a.col > 1"),
    ("spark", "SELECT EXPLODE(arr) AS e, POSEXPLODE(other) FROM t"),
    ("postgres", "SELECT * FROM t WHERE 5 > ANY(t.col)"),
    ("duckdb", "SELECT UNNEST([1, 2, 3]) AS v"),
    ("tsql", "CREATE TABLE x (a INT UNIQUE, b INT)"),
    ("hive", "CREATE TABLE x (a INT) PARTITIONED BY (b STRING)"),
    ("tsql", "SELECT CAST(a AS DATE), CAST(b AS DATETIME), CAST(c AS DATETIME2), CAST(d AS TIME), CAST(e AS CHAR(9)),"
             " CAST(f AS FLOAT), CAST(g AS my_type), TRY_CAST(h AS DATE) FROM t"),
)


def _sqlglot(tree: exp.Expr, dialect: str) -> str:
    return Dialect.get_or_raise(dialect).generate(tree, copy=False, unsupported_level=ErrorLevel.RAISE)


def _both(tree: exp.Expr, dialect: str) -> tuple[str | Exception, str | Exception]:
    """(ours, sqlglot's) on two copies of ``tree``; an error counts as a result."""
    results: list[str | Exception] = []
    for write in (lambda t: g.generate(t, dialect, NodeIndex(t)), lambda t: _sqlglot(t, dialect)):
        try:
            results.append(write(tree.copy()))
        except (SqlglotError, ValueError) as error:
            results.append(error)
    ours, theirs = results
    return ours, theirs


def _same(ours: str | Exception, theirs: str | Exception) -> bool:
    if isinstance(ours, Exception) or isinstance(theirs, Exception):
        return type(ours) is type(theirs) and str(ours) == str(theirs)
    return ours == theirs


def test_the_trigger_table_names_rewrites_sqlglot_has():
    """A renamed sqlglot rewrite would silently always run (slower, still right): notice it here."""
    for group in g._SKIPPABLE:
        names = {g._name(r) for dialect in DIALECTS for r in g.rewrites(dialect, group.kind)}
        assert group.names <= names, group
    assert any(r.__name__ == "_qualify_unnested_columns" for r in g.rewrites("snowflake", exp.Select))


def test_rewrites_are_left_out_only_without_their_node_types():
    plain = sqlglot.parse_one("SELECT a FROM t WHERE b IN (SELECT c FROM u)", read="tsql")
    skippable = g._SKIPPABLE[0].names
    needed = {g._name(r) for r in g.needed_rewrites("snowflake", exp.Select, NodeIndex(plain))}
    assert not needed & skippable
    assert needed  # the rewrites not in the table still run
    unnest = sqlglot.parse_one(REWRITTEN[0][1], read="bigquery")
    needed = {g._name(r) for r in g.needed_rewrites("snowflake", exp.Select, NodeIndex(unnest))}
    assert needed == {g._name(r) for r in g.rewrites("snowflake", exp.Select)}
    create = sqlglot.parse_one("CREATE TABLE x (a INT UNIQUE) AS SELECT 1 AS a", read="tsql")
    needed = {g._name(r) for r in g.needed_rewrites("spark", exp.Create, NodeIndex(create))}
    assert "remove_unique_constraints" in needed and "move_partitioned_by_to_schema_columns" not in needed


@pytest.mark.parametrize("dialect", DIALECTS)
def test_same_output_as_sqlglot_on_the_corpus(dialect):
    compared = 0
    for case in corpus():
        if not case.id.startswith(("cohorts/", "idioms/", "inst/")):
            continue
        for sql in split_sql(case.sql):
            try:
                tree = sqlglot.parse_one(sql, read="tsql")
            except SqlglotError:
                continue
            if tree is None:
                continue
            ours, theirs = _both(tree, dialect)
            assert _same(ours, theirs), (dialect, sql[:200])
            compared += 1
    assert compared > 200


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("read", "sql"), REWRITTEN)
def test_same_output_as_sqlglot_where_the_rewrites_act(dialect, read, sql):
    ours, theirs = _both(sqlglot.parse_one(sql, read=read), dialect)
    assert _same(ours, theirs)


def test_sqlite_cast_falls_back_to_the_base_class_of_sqlite_s_generator():
    from sqlglot.generators.sqlite import SQLiteGenerator

    assert SQLiteGenerator.__mro__[1] is g.Generator


def test_a_subtree_of_the_indexed_tree_is_written_with_its_index():
    tree = sqlglot.parse_one("CREATE TABLE x AS SELECT a FROM t", read="tsql")
    nodes = NodeIndex(tree)
    assert g.generate(tree.expression, "snowflake", nodes) == _sqlglot(tree.expression.copy(), "snowflake")
    other = sqlglot.parse_one("SELECT b FROM u")
    assert g.generate(other, "snowflake", nodes) == "SELECT b FROM u"  # not inside: sqlglot's full generator
