"""Write a tree with sqlglot's generator for a target, leaving out the SELECT rewrites the statement cannot need.

sqlglot's Snowflake, BigQuery, Spark and Redshift generators rewrite every SELECT before writing it (UNNEST, EXPLODE,
ANY and GENERATE_DATE_ARRAY forms of other dialects), and each rewrite walks the SELECT's whole subtree (several
build a scope): on a cohort of 1,150 UNION ALL branches that is half of Snowflake's translation time. Those rewrites
change only trees holding nodes of a few types (``_TRIGGERS``); when the statement's node index shows none of them,
the generator runs with a SELECT handler without them. Rewrites not listed always run. The output is the same
(tests/test_translation_record.py; tests/test_generate.py compares with sqlglot's own generator).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp, transforms
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel
from sqlglot.generator import Generator

from rcdm.sql.nodes import NodeIndex

Rewrite = Callable[[exp.Expr], exp.Expr]
Handler = Callable[..., str]
Kind = Any  # a node type (type[exp.Expr]), as Any: mypy does not see sqlglot's node classes as hashable

@dataclass(frozen=True)
class _Skippable:
    """sqlglot rewrites (by function name) run before a node of type ``kind`` is written, that change nothing unless
    the tree holds a node of one of ``triggers``; left out all together or not at all."""

    kind: Kind
    names: frozenset[str]
    triggers: tuple[type, ...]


_SKIPPABLE = (
    # UNNEST, EXPLODE (POSEXPLODE... are subclasses), ANY, GENERATE_DATE_ARRAY or GENERATE_SERIES; one rewrite can make
    # the nodes a later one acts on (BigQuery: EXPLODE -> UNNEST, then unqualify_unnest), hence one group.
    _Skippable(
        exp.Select,
        frozenset({
            "_qualify_unnested_columns",  # Snowflake
            "_eliminate_dot_variant_lookup",  # Snowflake
            "_transform_generate_date_array",  # Snowflake
            "_explode_projection_to_unnest",  # Snowflake, BigQuery
            "unqualify_unnest",  # BigQuery, Redshift
            "unnest_generate_date_array_using_recursive_cte",  # Redshift, SQL Server
            "any_to_exists",  # Spark
        }),
        (exp.Unnest, exp.Explode, exp.Any, exp.GenerateDateArray, exp.GenerateSeries),
    ),
    # Spark's CREATE: each walks the whole statement (a CTAS holds the cohort's query) for nodes OHDSI SQL lacks.
    _Skippable(exp.Create, frozenset({"remove_unique_constraints"}), (exp.UniqueColumnConstraint,)),
    _Skippable(exp.Create, frozenset({"move_partitioned_by_to_schema_columns"}), (exp.PartitionedByProperty,)),
)
_KINDS = tuple(dict.fromkeys(group.kind for group in _SKIPPABLE))


def _name(rewrite: object) -> str:
    return getattr(rewrite, "__name__", "")


@functools.cache
def rewrites(dialect: str, kind: Kind) -> tuple[Rewrite, ...]:
    """The rewrites sqlglot's ``dialect`` generator runs on every node of type ``kind`` before writing it (its
    ``transforms.preprocess`` list), or () when its handler for ``kind`` is something else (then never replaced)."""
    handler = Dialect.get_or_raise(dialect).generator()._dispatch.get(kind)
    code = getattr(handler, "__code__", None)
    closure = getattr(handler, "__closure__", None) or ()
    if code is None or getattr(handler, "__qualname__", "") != "preprocess.<locals>._to_sql":
        return ()
    free = dict(zip(code.co_freevars, (cell.cell_contents for cell in closure)))
    found = free.get("transforms")
    if free.get("generator") is not None or not isinstance(found, list):
        return ()
    return tuple(found)


def needed_rewrites(dialect: str, kind: Kind, nodes: NodeIndex) -> tuple[Rewrite, ...]:
    """The rewrites of ``dialect`` before a ``kind`` node that may change the tree ``nodes`` indexes."""
    left_out: set[str] = set()
    for group in _SKIPPABLE:
        if group.kind is kind and not nodes.has(*group.triggers):
            left_out |= group.names
    return tuple(rewrite for rewrite in rewrites(dialect, kind) if _name(rewrite) not in left_out)


# SQLite's cast_sql asks ``is_type("date")``, ``is_type("datetime", ...)``, ``is_type("time")``, each a parse of the
# type's name (five per CAST; 12,000 on a 300-branch cohort, 40% of its generation): the same test on the parsed types,
# once. A cast to another type is written as SQLite's cast_sql writes it then (sqlglot's base cast_sql).
_SQLITE_CAST_FUNCTIONS = {
    exp.DataType.build(name).this: function
    for names, function in ((("time",), "TIME"), (("datetime", "timestamp", "timestampntz"), "DATETIME"),
                            (("date",), "DATE"))
    for name in names
}


def _sqlite_cast_sql(self: Generator, expression: exp.Cast) -> str:
    to = expression.to
    function = _SQLITE_CAST_FUNCTIONS.get(to.this) if isinstance(to, exp.DataType) else None
    if function is None:  # what SQLite's cast_sql does then
        return Generator.cast_sql(self, expression)  # SQLiteGenerator's base class (tests/test_generate.py)
    return self.func(function, expression.this)


_HANDLERS: dict[str, dict[type[exp.Expr], Handler]] = {"sqlite": {exp.Cast: _sqlite_cast_sql}}


@functools.lru_cache(maxsize=64)
def _dispatch(dialect: str, replaced: tuple[tuple[Kind, tuple[Rewrite, ...]], ...]) -> dict[type[exp.Expr], Handler]:
    """The generator's handlers by node type, with the handlers of the ``replaced`` types running only their given
    rewrites."""
    generator = Dialect.get_or_raise(dialect).generator()
    dispatch = dict(generator._dispatch)
    dispatch.update(_HANDLERS.get(dialect, {}))
    for kind, kept in replaced:
        method: Handler = getattr(type(generator), f"{kind.key}_sql")
        dispatch[kind] = transforms.preprocess(list(kept)) if kept else method
    return dispatch


def generate(tree: exp.Expr, dialect: str, nodes: NodeIndex | None = None) -> str:
    """``Dialect.generate(tree, copy=False, unsupported_level=RAISE)`` for sqlglot dialect ``dialect``; with the index
    of a tree holding ``tree``, without the rewrites that cannot change it."""
    generator: Generator = Dialect.get_or_raise(dialect).generator(unsupported_level=ErrorLevel.RAISE)
    if nodes is not None and _inside(tree, nodes.root):
        replaced = []
        for kind in _KINDS:
            kept = needed_rewrites(dialect, kind, nodes)
            if len(kept) < len(rewrites(dialect, kind)):
                replaced.append((kind, kept))
        if replaced or dialect in _HANDLERS:
            generator._dispatch = _dispatch(dialect, tuple(replaced))
    return generator.generate(tree, copy=False)


def _inside(node: Any, root: exp.Expr) -> bool:
    while node is not None:
        if node is root:
            return True
        node = node.parent
    return False
