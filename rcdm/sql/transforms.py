"""Tree -> tree rewrites that turn OHDSI SQL (parsed as T-SQL) into each target's meaning.

Each function takes the statement's tree and the translation ``Context`` and returns the new tree, or
``None`` when the statement has no equivalent on the target and is dropped (an index on BigQuery).
Which functions run for which target is data, in ``rcdm.sql.dialects.<target>.TRANSFORMS``; they run in
that order from one place, ``rcdm.sql.translate``. sqlglot's own generators already get most of the
syntax right (TOP, ISNULL, COUNT_BIG, IIF, LEN, CHARINDEX, NEWID ...); these cover what it does not.

Dates on SQLite are ISO ``YYYY-MM-DD`` text (what ``DATE()`` returns and what rcdm's database layer
stores), so DATEADD, DATEDIFF, DATEFROMPARTS, EOMONTH, YEAR/MONTH/DAY and CAST(... AS DATE) all read and
write that form. SqlRender's SQLite translation uses epoch seconds instead; ours differs on purpose.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, TypeVar

import sqlglot
from sqlglot import exp

from rcdm.errors import TranslationError
from rcdm.sql.nodes import NodeIndex

if TYPE_CHECKING:  # pragma: no cover
    from rcdm.sql.dialects import Target

MAX_EMULATED_NAME_LENGTH = 63


@dataclass(frozen=True)
class Context:
    """What a transform may need besides the tree: the target, temp emulation schema and session prefix."""

    target: "Target"
    temp_emulation_schema: Optional[str]
    temp_prefix: str
    distribute_on_key: Optional[str] = None
    nodes: Optional[NodeIndex] = dataclasses.field(default=None, compare=False)  # the tree's index, for @indexed


TransformResult = exp.Expression | list[exp.Expression] | None
Transform = Callable[[exp.Expression, Context], TransformResult]
F = TypeVar("F", bound=Callable[..., Any])

# --- running transforms -----------------------------------------------------------------------------
#
# A transform is any function (tree, ctx) -> tree | [trees] | None. Written that way it walks the tree itself; it
# always runs, and the node index is rebuilt after it. Two markers make a transform cheap on big statements:
#   @triggered_by(exp.X, ...)  it does nothing unless the tree holds an X: skipped when none is there;
#   @indexed(exp.X, ...)       the same, and it finds its nodes with _find_all / _replace_all (from the index, not a
#                              walk) and changes the tree only through _replace / _set / _append / _pop / _new_root,
#                              which keep the index exact. With no types it always runs.
# Every indexed transform also works without an index (ctx.nodes None): the helpers then walk the tree.


def triggered_by(*kinds: type) -> Callable[[F], F]:
    """Mark a tree-walking transform as doing nothing when the tree holds none of ``kinds`` (it is then skipped)."""

    def mark(transform: F) -> F:
        transform.triggers = kinds  # type: ignore[attr-defined]
        return transform

    return mark


def indexed(*kinds: type) -> Callable[[F], F]:
    """Mark a transform that uses the node index (see above); skipped when the tree holds none of ``kinds``."""

    def mark(transform: F) -> F:
        transform.triggers = kinds  # type: ignore[attr-defined]
        transform.indexed = True  # type: ignore[attr-defined]
        return transform

    return mark


def apply_transforms(tree: exp.Expression, transforms: "tuple[Transform, ...]", ctx: Context,
                     index: Optional[NodeIndex] = None) -> list[tuple[exp.Expression, Optional[NodeIndex]]]:
    """Run ``transforms`` in order on ``tree`` (each on every tree the previous ones left), one node index per
    tree shared by the indexed transforms; returns the trees left (none when the statement is dropped), each
    with its index when it is still exact."""
    states: list[tuple[exp.Expression, Optional[NodeIndex]]] = [(tree, index)]
    scoped = ctx  # ctx with the current tree's index
    for transform in transforms:
        triggers: tuple[type, ...] = getattr(transform, "triggers", ())
        aware: bool = getattr(transform, "indexed", False)
        following: list[tuple[exp.Expression, Optional[NodeIndex]]] = []
        for current, nodes in states:
            if triggers or aware:
                if nodes is None or nodes.root is not current:
                    nodes = NodeIndex(current)
                if triggers and not nodes.has(*triggers):
                    following.append((current, nodes))
                    continue
            if aware:
                if scoped.nodes is not nodes:
                    scoped = dataclasses.replace(ctx, nodes=nodes)
                result = transform(current, scoped)
            else:
                result, nodes = transform(current, ctx), None  # it walked and changed the tree on its own
            for new in result if isinstance(result, list) else [] if result is None else [result]:
                following.append((new, nodes if nodes is not None and nodes.root is new else None))
        states = following
    return states


def _find_all(tree: exp.Expression, ctx: Context, *kinds: type) -> list[Any]:
    """``list(tree.find_all(*kinds))``, from the index when there is one."""
    return ctx.nodes.nodes(*kinds) if ctx.nodes is not None else list(tree.find_all(*kinds))


def _find(tree: exp.Expression, ctx: Context, *kinds: type) -> Optional[Any]:
    """``tree.find(*kinds)``, from the index when there is one."""
    return ctx.nodes.first(*kinds) if ctx.nodes is not None else tree.find(*kinds)


def _replace(tree: exp.Expression, ctx: Context, old: exp.Expression, new: exp.Expression) -> exp.Expression:
    """``old.replace(new)``; returns the tree (``new`` when ``old`` was the tree)."""
    if ctx.nodes is not None:
        return _expression(ctx.nodes.replace(old, new))
    if old is new:
        return tree
    if old is tree:
        return new
    old.replace(new)
    return tree


def _expression(node: exp.Expr) -> exp.Expression:
    """``node`` typed as the Expression it is (sqlglot's parser and builders are typed with the base class Expr)."""
    if not isinstance(node, exp.Expression):
        raise TypeError(f"not an sqlglot Expression: {node!r}")
    return node


def _set(ctx: Context, node: exp.Expression, key: str, value: object) -> None:
    """``node.set(key, value)`` for a value holding nodes."""
    if ctx.nodes is not None:
        ctx.nodes.set(node, key, value)
    else:
        node.set(key, value)


def _append(ctx: Context, node: exp.Expression, key: str, value: exp.Expression) -> None:
    if ctx.nodes is not None:
        ctx.nodes.append(node, key, value)
    else:
        node.append(key, value)


def _pop(ctx: Context, node: exp.Expression) -> None:
    if ctx.nodes is not None:
        ctx.nodes.pop(node)
    else:
        node.pop()


def _new_root(ctx: Context, tree: exp.Expression) -> exp.Expression:
    """Return ``tree`` as the statement's new tree (it may hold the old one)."""
    if ctx.nodes is not None:
        ctx.nodes.set_root(tree)
    return tree

_STRING_TYPES = {
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.NVARCHAR,
    exp.DataType.Type.CHAR,
    exp.DataType.Type.NCHAR,
    exp.DataType.Type.TEXT,
}
_STRING_FUNCTIONS = (
    exp.DPipe,
    exp.Concat,
    exp.Upper,
    exp.Lower,
    exp.Substring,
    exp.Trim,
    exp.Left,
    exp.Right,
)
_YYYYMMDD = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


@functools.lru_cache(maxsize=None)
def _parsed_template(sql: str, dialect: str) -> tuple[exp.Expression, tuple[tuple[str, str], ...]]:
    """The parsed snippet, a placeholder used more than once renamed ``name__2``, ``name__3``..., with those
    (new name, name) pairs: each use gets its own copy of the value, so the result is a tree (no node in two places,
    which later transforms would see twice or half-rewrite)."""
    tree = _expression(sqlglot.parse_one(sql, read=dialect))
    uses: dict[str, int] = {}
    repeated: list[tuple[str, str]] = []
    for placeholder in tree.find_all(exp.Placeholder):
        if placeholder.this:
            name = placeholder.name
            uses[name] = uses.get(name, 0) + 1
            if uses[name] > 1:
                placeholder.set("this", f"{name}__{uses[name]}")
                repeated.append((f"{name}__{uses[name]}", name))
    return tree, tuple(repeated)


def _template(sql: str, dialect: str, **values: exp.Expression) -> exp.Expression:
    """Parse a snippet with ``:name`` placeholders (cached; filled in a copy) and fill them with ``values``, which
    move there (they are parts of the node the result replaces); a second use of a name gets a copy."""
    tree, repeated = _parsed_template(sql, dialect)
    for name, original in repeated:
        if original in values:
            values[name] = values[original].copy()
    return _expression(exp.replace_placeholders(tree, **values))


# SQL Server's date-part names and abbreviations (DATEADD, DATEDIFF), by the part they name.
DATE_PART_ALIASES = {
    **dict.fromkeys(("YEAR", "YY", "YYYY"), "YEAR"),
    **dict.fromkeys(("QUARTER", "QQ", "Q"), "QUARTER"),
    **dict.fromkeys(("MONTH", "MM", "M"), "MONTH"),
    **dict.fromkeys(("DAYOFYEAR", "DY", "Y"), "DAYOFYEAR"),
    **dict.fromkeys(("DAY", "DD", "D"), "DAY"),
    **dict.fromkeys(("WEEK", "WK", "WW"), "WEEK"),
    **dict.fromkeys(("HOUR", "HH"), "HOUR"),
    **dict.fromkeys(("MINUTE", "MI", "N"), "MINUTE"),
    **dict.fromkeys(("SECOND", "SS", "S"), "SECOND"),
    **dict.fromkeys(("MILLISECOND", "MS"), "MILLISECOND"),
    **dict.fromkeys(("MICROSECOND", "MCS"), "MICROSECOND"),
    **dict.fromkeys(("NANOSECOND", "NS"), "NANOSECOND"),
}
_SUB_DAY = ("HOUR", "MINUTE", "SECOND")


def _unit(node: exp.Expression) -> str:
    unit = node.args.get("unit")
    name = unit.name.upper() if unit is not None else "DAY"
    return DATE_PART_ALIASES.get(name, name)


@indexed(exp.DateAdd, exp.DateDiff)
def normalize_date_units(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Spell DATEADD/DATEDIFF date parts by their full names (``hh`` -> HOUR, ``mcs`` -> MICROSECOND): other
    targets do not know SQL Server's abbreviations, and sqlglot writes an unknown unit through unchanged."""
    for node in _find_all(tree, ctx, exp.DateAdd, exp.DateDiff):
        if node.args.get("unit") is not None:
            _set(ctx, node, "unit", exp.var(_unit(node)))
    return tree


def _unwrap(node: exp.Expression) -> exp.Expression:
    """Strip the TimeStrToTime / TsOrDsToDate wrappers sqlglot's T-SQL reader puts around date arguments."""
    while isinstance(node, (exp.TimeStrToTime, exp.TsOrDsToDate)):
        node = node.this
    return node


def _as_date(node: exp.Expression) -> exp.Expression:
    node = _unwrap(node)
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DATE):
        return node
    return exp.cast(node, exp.DataType.Type.DATE)


def _replace_all(tree: exp.Expression, kind: type | tuple[type, ...], fn: Callable[[Any], exp.Expression],
                 ctx: Optional[Context] = None) -> exp.Expression:
    """Replace every node of ``kind``, innermost first, with ``fn(node)`` (through the index when ``ctx`` has one)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    found: Iterator[Any]
    if ctx is None or ctx.nodes is None:
        found = reversed(list(tree.find_all(*kinds)))
    else:
        found = iter(ctx.nodes.innermost_first(*kinds))
    for node in found:
        new = fn(node)
        if new is not node:
            if ctx is not None:
                tree = _replace(tree, ctx, node, new)
            elif node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


# --- statements -------------------------------------------------------------------------------------


@indexed(exp.Into)
def select_into_to_ctas(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert SELECT ... INTO t FROM ... (also after a WITH) to CREATE TABLE t AS SELECT ..."""
    select = tree
    while isinstance(select, exp.SetOperation):
        select = select.this
    if not isinstance(select, exp.Select) or not select.args.get("into"):
        return tree
    into = select.args["into"]
    _set(ctx, select, "into", None)
    properties = None
    if into.args.get("temporary"):
        properties = exp.Properties(expressions=[exp.TemporaryProperty()])
    return _new_root(ctx, exp.Create(this=into.this, kind="TABLE", expression=tree, properties=properties))


def _is_temp(identifier: Optional[exp.Expression]) -> bool:
    """#t, or ##t (SQL Server's global temporary table: elsewhere a temporary table too, as SqlRender makes it on
    PostgreSQL and DuckDB, rather than a permanent table left behind)."""
    return isinstance(identifier, exp.Identifier) and bool(
        identifier.args.get("temporary") or identifier.args.get("global_"))


def _untemp(identifier: exp.Identifier) -> None:
    identifier.set("temporary", None)
    identifier.set("global_", None)


def _created_table(tree: exp.Expression) -> Optional[exp.Table]:
    if isinstance(tree, exp.Create):
        target = tree.this
        return target.this if isinstance(target, exp.Schema) else target if isinstance(target, exp.Table) else None
    return None


def _drop_temporary_property(tree: exp.Expression, ctx: Context) -> None:
    if isinstance(tree, exp.Create) and tree.args.get("properties"):
        for prop in list(tree.args["properties"].expressions):
            if isinstance(prop, exp.TemporaryProperty):
                _pop(ctx, prop)
        if not tree.args["properties"].expressions:
            _set(ctx, tree, "properties", None)


@indexed(exp.Identifier)
def temp_tables_native(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert #t to a real temporary table t (CREATE TEMPORARY TABLE t, references to t)."""
    table = _created_table(tree)
    if table is not None and _is_temp(table.this):
        props = tree.args.get("properties")
        if props is None:
            _set(ctx, tree, "properties", exp.Properties(expressions=[exp.TemporaryProperty()]))
        elif not any(isinstance(p, exp.TemporaryProperty) for p in props.expressions):
            _append(ctx, props, "expressions", exp.TemporaryProperty())
    for identifier in _find_all(tree, ctx, exp.Identifier):
        if _is_temp(identifier):
            _untemp(identifier)
    return tree


@indexed(exp.Identifier)
def temp_tables_sqlite(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert #t to temp.t, SQLite's schema of temporary tables."""
    _drop_temporary_property(tree, ctx)
    for table in _find_all(tree, ctx, exp.Table):
        if _is_temp(table.this):
            _set(ctx, table, "db", exp.to_identifier("temp"))
    for identifier in _find_all(tree, ctx, exp.Identifier):
        if _is_temp(identifier):
            _untemp(identifier)
    return tree


@indexed(exp.Identifier)
def temp_tables_emulated(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert #t to a real table <temp_emulation_schema>.<session prefix>t, as SqlRender emulates them."""
    temps = [i for i in _find_all(tree, ctx, exp.Identifier) if _is_temp(i)]
    if not temps:
        return tree
    if not ctx.temp_emulation_schema:
        raise TranslationError(
            f"'{ctx.target.name}' has no temporary tables: SqlRender emulates #{temps[0].name} with a real "
            "table, so pass temp_emulation_schema (a schema where rcdm may create and drop tables)"
        )
    _drop_temporary_property(tree, ctx)
    for identifier in temps:
        name = f"{ctx.temp_prefix}{identifier.name}"
        if len(name) > MAX_EMULATED_NAME_LENGTH:
            warnings.warn(
                f"Emulated temp table name '{name}' is {len(name)} characters, longer than the "
                f"{MAX_EMULATED_NAME_LENGTH} many databases allow; use a shorter name than #{identifier.name}",
                stacklevel=2,
            )
        identifier.set("this", name)
        _untemp(identifier)
        parent = identifier.parent
        if isinstance(parent, exp.Table) and identifier.arg_key == "this":
            _set(ctx, parent, "db", exp.to_identifier(ctx.temp_emulation_schema))
    return tree


@indexed(exp.Create)
def analyze_temp_ctas(tree: exp.Expression, ctx: Context) -> TransformResult:
    """ANALYZE a temporary table made by CREATE TEMPORARY TABLE t AS SELECT (SELECT ... INTO #t), as SqlRender does
    on PostgreSQL: autovacuum cannot analyze temporary tables (PostgreSQL documentation, CREATE TABLE, 'Temporary
    Tables'), so without it the planner joins the cohort's temp tables on default estimates."""
    table = _created_table(tree)
    props = tree.args.get("properties")
    if table is None or not isinstance(tree.expression, exp.Query) or props is None:
        return tree
    if not any(isinstance(p, exp.TemporaryProperty) for p in props.expressions):
        return tree
    return [tree, exp.Analyze(tables=[exp.Table(this=table.this.copy())])]


@indexed(exp.Create)
def create_or_replace_emulated(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Create emulated temp tables with CREATE OR REPLACE, since an old session's table may remain."""
    table = _created_table(tree)
    if table is not None and table.name.startswith(ctx.temp_prefix) and ctx.temp_emulation_schema:
        if table.db == ctx.temp_emulation_schema and not tree.args.get("exists"):
            tree.set("replace", True)
    return tree


@indexed(exp.Create)
def drop_before_create_emulated(tree: exp.Expression, ctx: Context) -> TransformResult:
    """Drop an emulated temp table before creating it (DROP TABLE IF EXISTS; on Oracle the PL/SQL block), so a
    rerun after a crash does not fail on the old session's table ("name is already used by an existing object")."""
    table = _created_table(tree)
    if table is not None and table.name.startswith(ctx.temp_prefix) and ctx.temp_emulation_schema:
        if table.db == ctx.temp_emulation_schema and not tree.args.get("exists") and not tree.args.get("replace"):
            drop = exp.Drop(tables=[table.copy()], kind="TABLE", exists=True)
            return [drop, tree]
    return tree


@indexed(exp.Create)
def drop_indexes(tree: exp.Expression, ctx: Context) -> Optional[exp.Expression]:
    """Drop CREATE INDEX statements on targets without indexes (BigQuery, Spark, Snowflake, Redshift)."""
    if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "INDEX":
        return None
    return tree


@triggered_by(exp.Index, exp.PrimaryKey, exp.UniqueColumnConstraint)
def plain_key_columns(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Write key and index columns as plain names (no NULLS FIRST), CLUSTERED dropped from indexes."""
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index):
        tree.set("clustered", None)
    for holder in list(tree.find_all(exp.Index, exp.PrimaryKey, exp.UniqueColumnConstraint)):
        for ordered in list(holder.find_all(exp.Ordered)):
            if not ordered.args.get("desc"):
                ordered.replace(ordered.this)
    return tree


@triggered_by(exp.Index)
def sqlite_index_schema(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Move the schema from the table to the index name: SQLite writes CREATE INDEX s.i ON t (a)."""
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index):
        index = tree.this
        table = index.args.get("table")
        if isinstance(table, exp.Table) and table.args.get("db"):
            schema = table.args["db"]
            table.set("db", None)
            index.set("this", exp.Table(this=index.this.copy(), db=schema.copy()))
    return tree


@triggered_by(exp.Alter, exp.PrimaryKey, exp.PrimaryKeyColumnConstraint, exp.ForeignKey, exp.UniqueColumnConstraint,
              exp.Reference)
def drop_key_constraints(tree: exp.Expression, ctx: Context) -> Optional[exp.Expression]:
    """Drop PRIMARY KEY / FOREIGN KEY / UNIQUE constraints the target cannot declare (BigQuery, Spark)."""
    if isinstance(tree, exp.Alter) and all(isinstance(a, exp.AddConstraint) for a in tree.args.get("actions", [])):
        return None
    keys = (exp.PrimaryKey, exp.PrimaryKeyColumnConstraint, exp.ForeignKey, exp.UniqueColumnConstraint, exp.Reference)
    for node in list(tree.find_all(*keys)):
        holder = node.parent
        if isinstance(holder, (exp.ColumnConstraint, exp.Constraint)):
            holder.pop()
        elif isinstance(node, exp.PrimaryKey) or isinstance(node, exp.ForeignKey):
            node.pop()
    return tree


@triggered_by(exp.Alter)
def drop_alter_constraints(tree: exp.Expression, ctx: Context) -> Optional[exp.Expression]:
    """Drop ALTER TABLE ... ADD CONSTRAINT, which the target cannot run (SQLite, DuckDB)."""
    if isinstance(tree, exp.Alter) and tree.args.get("actions") and all(
        isinstance(a, exp.AddConstraint) for a in tree.args["actions"]
    ):
        return None
    return tree


@triggered_by(exp.TruncateTable)
def truncate_to_delete(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert TRUNCATE TABLE t to DELETE FROM t (SQLite) or DELETE FROM t WHERE TRUE (BigQuery needs a WHERE)."""
    if isinstance(tree, exp.TruncateTable) and len(tree.expressions) == 1:
        where = exp.Where(this=exp.true()) if ctx.target.sqlglot == "bigquery" else None
        return exp.Delete(this=tree.expressions[0], where=where)
    return tree


@triggered_by(exp.Delete)
def delete_all_to_truncate(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Write DELETE FROM t without WHERE as TRUNCATE TABLE t: plain Spark tables (Parquet, not Delta) support
    TRUNCATE but no DELETE; on Delta both empty the table."""
    if isinstance(tree, exp.Delete) and not tree.args.get("where") and isinstance(tree.this, exp.Table):
        return exp.TruncateTable(expressions=[tree.this])
    return tree


@indexed(exp.Identifier)
def lower_identifiers(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Lower-case unquoted identifiers (BigQuery names are case-sensitive, OHDSI SQL's are not)."""
    for identifier in _find_all(tree, ctx, exp.Identifier):
        if not identifier.quoted:
            identifier.set("this", identifier.name.lower())
    return tree


@indexed(exp.Select)
def from_dual(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Add FROM DUAL to a SELECT without FROM (Oracle)."""
    for select in _find_all(tree, ctx, exp.Select):
        if not select.args.get("from_"):
            _set(ctx, select, "from_", exp.From(this=exp.to_table("DUAL")))
    return tree


@indexed(exp.Table)
def strip_dbo(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Write ``db.dbo.t`` as ``db.t``, as SqlRender does on every target but SQL Server, Synapse and BigQuery: OHDSI
    SQL names a SQL Server database's default schema ``dbo``, and where a database becomes a schema (PostgreSQL,
    Redshift, Oracle, Spark, Snowflake, DuckDB, SQLite) the three-part name is not valid or names another object."""
    for table in _find_all(tree, ctx, exp.Table):
        catalog = table.args.get("catalog")
        if catalog is not None and table.text("db").lower() == "dbo":
            _set(ctx, table, "catalog", None)
            _set(ctx, table, "db", catalog)
    return tree


@triggered_by(exp.Create)
def distribute_on_key(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Use a --HINT DISTRIBUTE_ON_KEY(col) hint as Redshift's DISTKEY(col)."""
    if ctx.distribute_on_key and isinstance(tree, exp.Create) and str(tree.args.get("kind")).upper() == "TABLE":
        props = tree.args.get("properties") or exp.Properties(expressions=[])
        props.append("expressions", exp.DistKeyProperty(this=exp.to_identifier(ctx.distribute_on_key)))
        tree.set("properties", props)
    return tree


# --- expressions ------------------------------------------------------------------------------------


def _is_string(node: exp.Expression) -> bool:
    if isinstance(node, exp.Literal):
        return node.is_string
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return node.to.this in _STRING_TYPES
    if isinstance(node, exp.Paren):
        return _is_string(node.this)
    return isinstance(node, _STRING_FUNCTIONS)


@indexed(exp.Add)
def string_plus_to_concat(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert + between strings (a string literal, a cast to VARCHAR, a string function) to ||."""

    def convert(node: exp.Expression) -> exp.Expression:
        if _is_string(node.this) or _is_string(node.expression):
            return exp.DPipe(this=node.this, expression=node.expression, safe=True)
        return node

    return _replace_all(tree, exp.Add, convert, ctx)


@indexed(exp.Concat)
def concat_sqlite(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert CONCAT(a, b, ...) to a || b || ...: SQLite has CONCAT only since 3.44 (SQLite documentation, 'Built-In
    Scalar SQL Functions'; Python 3.11 here bundles 3.40), where WebAPI's treemap queries failed on ours. A non-literal
    operand is written COALESCE(x, ''), since CONCAT of SQL Server reads NULL as the empty string and || returns NULL."""

    def operand(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Literal):
            return node
        return exp.Coalesce(this=node, expressions=[exp.Literal.string("")])

    def convert(node: exp.Concat) -> exp.Expression:
        parts = [operand(p) for p in node.expressions]
        out = parts[0]
        for part in parts[1:]:
            out = exp.DPipe(this=out, expression=part, safe=True)
        return exp.Paren(this=out) if len(parts) > 1 else out

    return _replace_all(tree, exp.Concat, convert, ctx)


@indexed(exp.Literal)
def yyyymmdd_date_literals(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Rewrite 'YYYYMMDD' literals used as dates (SQL Server's unseparated form) to ISO 'YYYY-MM-DD'.

    Used as dates means: cast to a date type, a DATEADD/DATEDIFF argument, or (when a valid date) compared with
    =, <>, <, <=, >, >= or BETWEEN to a non-literal (``condition_start_date >= '20100101'``); Oracle gets
    CAST('YYYY-MM-DD' AS DATE) there, which ``cast_date_oracle`` makes TO_DATE.
    """
    date_contexts = (exp.Cast, exp.TimeStrToTime, exp.TsOrDsToDate, exp.DateAdd, exp.DateDiff)
    for literal in _find_all(tree, ctx, exp.Literal):
        match = _YYYYMMDD.match(literal.this) if literal.is_string else None
        if match and isinstance(literal.parent, date_contexts):
            if isinstance(literal.parent, exp.Cast) and not literal.parent.to.is_type(*exp.DataType.TEMPORAL_TYPES):
                continue
            tree = _replace(tree, ctx, literal, exp.Literal.string("-".join(match.groups())))
        elif match and _valid_date(match) and _compared_with_non_literal(literal):
            iso = exp.Literal.string("-".join(match.groups()))
            tree = _replace(tree, ctx, literal, exp.cast(iso, exp.DataType.Type.DATE) if ctx.target.sqlglot == "oracle" else iso)
    return tree


_COMPARISONS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
_STRING_COLUMN_WORDS = ("code", "value", "name", "source", "text", "string")


def _valid_date(match: re.Match[str]) -> bool:
    try:
        datetime.date(*(int(g) for g in match.groups()))
    except ValueError:
        return False
    return True


def _compared_with_non_literal(literal: exp.Literal) -> bool:
    """Whether ``literal`` is compared (=, <>, <, <=, >, >=, BETWEEN) with an expression that may be a date:
    not a literal, not a string expression, not a column named like a code or value (concept_code = '20100101')."""
    parent = literal.parent
    if isinstance(parent, _COMPARISONS):
        other = parent.expression if literal is parent.this else parent.this
    elif isinstance(parent, exp.Between) and literal is not parent.this:
        other = parent.this
    else:
        return False
    other = _unwrap(other)
    if isinstance(other, (exp.Literal, exp.Null)) or _is_string(other):
        return False
    if isinstance(other, exp.Column) and any(w in other.name.lower() for w in _STRING_COLUMN_WORDS):
        return False
    return True


def _date_operand(node: exp.Expression) -> exp.Expression:
    node = _unwrap(node)
    if isinstance(node, exp.Literal) and node.is_string:
        return exp.cast(node, exp.DataType.Type.DATE)
    return node


def _add_parts(node: exp.DateAdd) -> tuple[exp.Expression, exp.Expression, str]:
    """(date, amount, unit) with unit DAY, MONTH, HOUR, MINUTE or SECOND: years and quarters become months,
    weeks become days (SQL Server's DATEADD counts them so)."""
    unit = _unit(node)
    amount = node.expression
    factor, unit = {"YEAR": (12, "MONTH"), "QUARTER": (3, "MONTH"), "WEEK": (7, "DAY"), "DAYOFYEAR": (1, "DAY")}.get(
        unit, (1, unit))
    if factor != 1:
        amount = exp.Mul(this=exp.Paren(this=amount), expression=exp.Literal.number(factor))
    if unit not in ("DAY", "MONTH", *_SUB_DAY):
        raise TranslationError(f"DATEADD({unit.lower()}, ...) is not supported; use year, quarter, month, week, day, "
                               "hour, minute or second")
    return _date_operand(node.this), amount, unit


@indexed(exp.DateAdd)
def dateadd_postgres(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert DATEADD(day|month|year, n, d) to CAST(d + n * INTERVAL '1 day' AS DATE) (a DATE stays a DATE)."""

    def convert(node: exp.DateAdd) -> exp.Expression:
        date, amount, unit = _add_parts(node)
        if unit in _SUB_DAY:
            return _template(f"(CAST(:d AS TIMESTAMP) + (:n) * INTERVAL '1 {unit.lower()}')", "postgres", d=date, n=amount)
        sql = f"CAST(:d + (:n) * INTERVAL '1 {unit.lower()}' AS DATE)"
        return _template(sql, "postgres", d=date, n=amount)

    return _replace_all(tree, exp.DateAdd, convert, ctx)


@indexed(exp.DateAdd)
def dateadd_duckdb(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert DATEADD(day|month|year, n, d) to CAST(d + TO_DAYS(CAST(n AS INTEGER)) AS DATE)."""

    def convert(node: exp.DateAdd) -> exp.Expression:
        date, amount, unit = _add_parts(node)
        if unit in _SUB_DAY:
            sql = f"(CAST(:d AS TIMESTAMP) + TO_{unit}S(CAST(:n AS BIGINT)))"
            return _template(sql, "duckdb", d=date, n=amount)
        fn = "TO_DAYS" if unit == "DAY" else "TO_MONTHS"
        return _template(f"CAST(:d + {fn}(CAST(:n AS INTEGER)) AS DATE)", "duckdb", d=date, n=amount)

    return _replace_all(tree, exp.DateAdd, convert, ctx)


@indexed(exp.DateAdd)
def dateadd_sqlite(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert DATEADD to DATE(d, n || ' days'); months clamp to the month's last day as SQL Server does."""

    def convert(node: exp.DateAdd) -> exp.Expression:
        date, amount, unit = _add_parts(node)
        if unit in _SUB_DAY:
            sql = f"DATETIME(:d, CAST(:n AS INTEGER) || ' {unit.lower()}s')"
            return _template(sql, "sqlite", d=date, n=amount)
        if unit == "DAY":
            return _template("DATE(:d, CAST(:n AS INTEGER) || ' days')", "sqlite", d=date, n=amount)
        sql = (
            "MIN(DATE(:d, 'start of month', CAST(:n AS INTEGER) || ' months', '+1 month', '-1 day'), "
            "DATE(:d, 'start of month', CAST(:n AS INTEGER) || ' months', "
            "(CAST(STRFTIME('%d', :d) AS INTEGER) - 1) || ' days'))"
        )
        return _template(sql, "sqlite", d=date, n=amount)

    return _replace_all(tree, exp.DateAdd, convert, ctx)


@indexed(exp.DateAdd)
def dateadd_oracle(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert DATEADD to d + n (days) or months (years: 12 n) as SQL Server adds them: the same day, clamped to the
    last day of a shorter month. Oracle's ADD_MONTHS (SqlRender's form) also moves a month's last day to the last day
    of the result (Feb 29 + 1 month is Mar 31, SQL Server's Mar 29; Oracle SQL Language Reference, ADD_MONTHS), so
    ours takes the lesser of ADD_MONTHS and the same offset from the first of the result month."""

    def convert(node: exp.DateAdd) -> exp.Expression:
        date, amount, unit = _add_parts(node)
        if unit in _SUB_DAY:
            return _template(f"(:d + NUMTODSINTERVAL(:n, '{unit}'))", "oracle", d=date, n=amount)
        if unit == "DAY":
            return exp.Paren(this=exp.Add(this=date, expression=amount))
        return _template("LEAST(ADD_MONTHS(:d, :n), ADD_MONTHS(TRUNC(:d, 'MM'), :n) + (:d - TRUNC(:d, 'MM')))",
                         "oracle", d=date, n=amount)

    return _replace_all(tree, exp.DateAdd, convert, ctx)


def _diff_parts(node: exp.DateDiff) -> tuple[exp.Expression, exp.Expression, str]:
    """(start, end, unit) of DATEDIFF(unit, start, end); sqlglot stores end as ``this``."""
    return _unwrap(node.expression), _unwrap(node.this), _unit(node)


_MONTH_DIFF_AGE = (
    "(EXTRACT(YEAR FROM AGE(CAST(:b AS DATE), CAST(:a AS DATE))) * 12"
    " + EXTRACT(MONTH FROM AGE(CAST(:b AS DATE), CAST(:a AS DATE))))"
)


def _whole_months(field: str, date: str) -> str:
    """DATEDIFF(month, :a, :b) as whole months from calendar fields, counted toward zero either way as PostgreSQL's
    AGE counts them (Jan 31 -> Feb 29 is 0, Feb 15 -> Jan 1 is -1): the meaning SqlRender gives DATEDIFF(month) on
    every target it translates it for. ``field`` spells one field of ``{x}`` ({code}: %Y, %m, %d, read by the
    unit YEAR, MONTH, DAY), ``date`` the operand ``{x}`` as a date (to tell the direction)."""
    units = {"%Y": "YEAR", "%m": "MONTH", "%d": "DAY"}

    def of(code: str, x: str) -> str:
        return field.format(code=code, unit=units[code], x=x)

    return (
        f"(({of('%Y', ':b')} * 12 + {of('%m', ':b')}) - ({of('%Y', ':a')} * 12 + {of('%m', ':a')})"
        f" + (CASE WHEN {date.format(x=':b')} >= {date.format(x=':a')}"
        f" THEN (CASE WHEN {of('%d', ':b')} >= {of('%d', ':a')} THEN 0 ELSE -1 END)"
        f" ELSE (CASE WHEN {of('%d', ':b')} <= {of('%d', ':a')} THEN 0 ELSE 1 END) END))"
    )


def _datediff_with(dialect: str, day: str, month: str, year: str, sub_day: "str | dict[str, str]" = "") -> Transform:
    """DATEDIFF by templates per unit; ``sub_day`` is a template per time unit, or one for hours, minutes and
    seconds with ``{unit}`` (the lower-case unit name) and ``{seconds}`` (seconds in one unit) in it."""
    templates = {"DAY": day, "MONTH": month, "YEAR": year}
    seconds = {"HOUR": 3600, "MINUTE": 60, "SECOND": 1}
    if isinstance(sub_day, dict):
        templates.update(sub_day)
    elif sub_day:
        templates.update({u: sub_day.format(unit=u.lower(), seconds=n) for u, n in seconds.items()})

    @indexed(exp.DateDiff)
    def transform(tree: exp.Expression, ctx: Context) -> exp.Expression:
        def convert(node: exp.DateDiff) -> exp.Expression:
            start, end, unit = _diff_parts(node)
            if unit not in templates:
                raise TranslationError(f"DATEDIFF({unit.lower()}, ...) is not supported on '{ctx.target.name}'; use "
                                       f"{', '.join(u.lower() for u in templates)}")
            return _template(templates[unit], dialect, a=_unwrap(start), b=_unwrap(end))

        return _replace_all(tree, exp.DateDiff, convert, ctx)

    return transform


# Hours, minutes, seconds as SQL Server counts them: unit boundaries crossed, i.e. the difference of truncated times.
_SUB_DAY_EPOCH = (
    "CAST(ROUND((EXTRACT(EPOCH FROM DATE_TRUNC('{unit}', CAST(:b AS TIMESTAMP)))"
    " - EXTRACT(EPOCH FROM DATE_TRUNC('{unit}', CAST(:a AS TIMESTAMP)))) / {seconds}) AS BIGINT)"
)

datediff_postgres = _datediff_with(
    "postgres",
    "(CAST(:b AS DATE) - CAST(:a AS DATE))",
    _MONTH_DIFF_AGE,
    "(EXTRACT(YEAR FROM CAST(:b AS DATE)) - EXTRACT(YEAR FROM CAST(:a AS DATE)))",
    _SUB_DAY_EPOCH,
)
datediff_postgres.__doc__ = "Convert DATEDIFF(day|month|year, a, b) to date arithmetic (b - a in whole days)."

datediff_duckdb = _datediff_with(
    "duckdb",
    "(CAST(:b AS DATE) - CAST(:a AS DATE))",
    _MONTH_DIFF_AGE,
    "(EXTRACT(YEAR FROM CAST(:b AS DATE)) - EXTRACT(YEAR FROM CAST(:a AS DATE)))",
    _SUB_DAY_EPOCH,
)
datediff_duckdb.__doc__ = "Convert DATEDIFF(day|month|year, a, b) to DuckDB date arithmetic."

datediff_sqlite = _datediff_with(
    "sqlite",
    "CAST(JULIANDAY(DATE(:b)) - JULIANDAY(DATE(:a)) AS INTEGER)",
    _whole_months("CAST(STRFTIME('{code}', {x}) AS INTEGER)", "DATE({x})"),
    "(CAST(STRFTIME('%Y', :b) AS INTEGER) - CAST(STRFTIME('%Y', :a) AS INTEGER))",
    "(CAST(STRFTIME('%s', :b) AS INTEGER) / {seconds} - CAST(STRFTIME('%s', :a) AS INTEGER) / {seconds})",
)
datediff_sqlite.__doc__ = (
    "Convert DATEDIFF(day|month|year, a, b) to JULIANDAY / STRFTIME arithmetic on ISO dates; whole months count "
    "toward zero either way, as PostgreSQL's AGE does (DATEDIFF(month, '2020-03-01', '2020-01-31') is -1)."
)

datediff_oracle = _datediff_with(
    "oracle",
    "(TRUNC(CAST(:b AS DATE)) - TRUNC(CAST(:a AS DATE)))",
    _whole_months("EXTRACT({unit} FROM CAST({x} AS DATE))", "TRUNC(CAST({x} AS DATE))"),
    "(EXTRACT(YEAR FROM CAST(:b AS DATE)) - EXTRACT(YEAR FROM CAST(:a AS DATE)))",
    {
        "HOUR": "ROUND((TRUNC(CAST(:b AS DATE), 'HH24') - TRUNC(CAST(:a AS DATE), 'HH24')) * 24)",
        "MINUTE": "ROUND((TRUNC(CAST(:b AS DATE), 'MI') - TRUNC(CAST(:a AS DATE), 'MI')) * 1440)",
        "SECOND": "ROUND((CAST(:b AS DATE) - CAST(:a AS DATE)) * 86400)",
    },
)
datediff_oracle.__doc__ = (
    "Convert DATEDIFF(day|month|year, a, b) to Oracle date subtraction and calendar fields; months are whole months "
    "as on PostgreSQL (MONTHS_BETWEEN, SqlRender's form, is fractional and counts Jan 31 -> Feb 29 as one month)."
)


@indexed(exp.DateAdd, exp.DateDiff)
def date_units_spark(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Spark: DATEADD by unit (DATE_ADD days, ADD_MONTHS months, TIMESTAMPADD for time units; sqlglot's DATE_ADD
    would add hours as days). DATEDIFF(month) is Spark's own DATEDIFF(MONTH, ...) (TIMESTAMPDIFF: whole months) on
    DATEs, the whole months of SqlRender's Spark and PostgreSQL translations; other units on times truncated to the
    unit, so that they count unit boundaries crossed as SQL Server does (for years, as SqlRender does on every other
    target; its Spark passes DATEDIFF(year) through, whole years elapsed)."""

    def add(node: exp.DateAdd) -> exp.Expression:
        date, amount, unit = _add_parts(node)
        if unit in _SUB_DAY:
            return exp.Anonymous(this="TIMESTAMPADD", expressions=[exp.var(unit), amount, date])
        fn = "DATE_ADD" if unit == "DAY" else "ADD_MONTHS"
        return exp.Anonymous(this=fn, expressions=[date, amount])

    def diff(node: exp.DateDiff) -> exp.Expression:
        unit = _unit(node)
        if unit == "DAY":
            return node
        if unit == "MONTH":
            return _template("DATEDIFF(MONTH, CAST(:a AS DATE), CAST(:b AS DATE))", "spark",
                             a=_unwrap(node.expression), b=_unwrap(node.this))
        return _template(f"DATEDIFF({unit}, DATE_TRUNC('{unit}', :a), DATE_TRUNC('{unit}', :b))", "spark",
                         a=_unwrap(node.expression), b=_unwrap(node.this))

    return _replace_all(_replace_all(tree, exp.DateAdd, add, ctx), exp.DateDiff, diff, ctx)


_BIGQUERY_MONTHS = _whole_months("EXTRACT({unit} FROM CAST({x} AS DATE))", "CAST({x} AS DATE)")


@indexed(exp.DateAdd, exp.DateDiff)
def date_units_bigquery(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """BigQuery: time units go through DATETIME_ADD / DATETIME_DIFF (DATE_ADD takes dates only); DATEDIFF(month) is
    whole months from the calendar fields (as SqlRender's BigQuery form, but toward zero for negative spans as its
    PostgreSQL form): BigQuery's DATE_DIFF(..., MONTH) counts month boundaries."""

    def add(node: exp.DateAdd) -> exp.Expression:
        if _unit(node) not in _SUB_DAY:
            return node
        date, amount, unit = _add_parts(node)
        return _template(f"DATETIME_ADD(CAST(:d AS DATETIME), INTERVAL :n {unit})", "bigquery", d=date, n=amount)

    def diff(node: exp.DateDiff) -> exp.Expression:
        unit = _unit(node)
        if unit == "MONTH":
            return _template(_BIGQUERY_MONTHS, "bigquery", a=_unwrap(node.expression), b=_unwrap(node.this))
        if unit not in _SUB_DAY:
            return node
        return _template(f"DATETIME_DIFF(CAST(:b AS DATETIME), CAST(:a AS DATETIME), {unit})", "bigquery",
                         a=_unwrap(node.expression), b=_unwrap(node.this))

    return _replace_all(_replace_all(tree, exp.DateAdd, add, ctx), exp.DateDiff, diff, ctx)


@indexed(exp.Window)
def window_frames_redshift(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Give aggregate window functions with ORDER BY and no frame ``ROWS UNBOUNDED PRECEDING``: Redshift refuses
    them without a frame clause (SqlRender adds the same frame)."""
    for window in _find_all(tree, ctx, exp.Window):
        if window.args.get("order") and not window.args.get("spec") and isinstance(window.this, exp.AggFunc):
            _set(ctx, window, "spec", exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING"))
    return tree


@indexed(exp.DateDiff)
def datediff_on_dates(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Compare DATEDIFF(day, a, b) arguments as DATEs (whole days), not timestamps."""
    for node in _find_all(tree, ctx, exp.DateDiff):
        if _unit(node) == "DAY":
            _set(ctx, node, "this", _as_date(node.this))
            _set(ctx, node, "expression", _as_date(node.expression))
    return tree


def _func_template(kind: type, dialect: str, sql: str, names: tuple[str, ...], doc: str) -> Transform:
    @indexed(kind)
    def transform(tree: exp.Expression, ctx: Context) -> exp.Expression:
        def convert(node: exp.Expression) -> exp.Expression:
            values = {name: _date_operand(node.args[key]) for name, key in zip(("a", "b", "c"), names)}
            return _template(sql, dialect, **values)

        return _replace_all(tree, kind, convert, ctx)

    transform.__doc__ = doc
    return transform


datefromparts_make_date = _func_template(
    exp.DateFromParts, "postgres", "MAKE_DATE(CAST(:a AS INT), CAST(:b AS INT), CAST(:c AS INT))",
    ("year", "month", "day"), "Convert DATEFROMPARTS(y, m, d) to MAKE_DATE(y, m, d) (EXTRACT gives NUMERIC, hence casts).",
)
datefromparts_sqlite = _func_template(
    exp.DateFromParts, "sqlite", "DATE(PRINTF('%04d-%02d-%02d', :a, :b, :c))", ("year", "month", "day"),
    "Convert DATEFROMPARTS(y, m, d) to an ISO date text DATE(PRINTF('%04d-%02d-%02d', y, m, d)).",
)
datefromparts_to_date = _func_template(
    exp.DateFromParts, "oracle", "TO_DATE(TO_CHAR((:a) * 10000 + (:b) * 100 + (:c)), 'YYYYMMDD')",
    ("year", "month", "day"), "Convert DATEFROMPARTS(y, m, d) to TO_DATE(TO_CHAR(y*10000+m*100+d), 'YYYYMMDD').",
)
datefromparts_redshift = _func_template(
    exp.DateFromParts, "redshift", "TO_DATE(CAST((:a) * 10000 + (:b) * 100 + (:c) AS VARCHAR), 'YYYYMMDD')",
    ("year", "month", "day"), "Convert DATEFROMPARTS(y, m, d) to TO_DATE(CAST(y*10000+m*100+d AS VARCHAR), 'YYYYMMDD').",
)
eomonth_sqlite = _func_template(
    exp.LastDay, "sqlite", "DATE(:a, 'start of month', '+1 month', '-1 day')", ("this",),
    "Convert EOMONTH(d) to DATE(d, 'start of month', '+1 month', '-1 day').",
)


@indexed(exp.Year, exp.Month, exp.Day)
def date_parts_sqlite(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert YEAR/MONTH/DAY(d) to CAST(STRFTIME('%Y', d) AS INTEGER)."""
    formats = {exp.Year: "%Y", exp.Month: "%m", exp.Day: "%d"}
    for kind, fmt in formats.items():

        def convert(node: exp.Expression, fmt: str = fmt) -> exp.Expression:
            return _template(f"CAST(STRFTIME('{fmt}', :a) AS INTEGER)", "sqlite", a=_unwrap(node.this))

        tree = _replace_all(tree, kind, convert, ctx)
    return tree


@indexed(exp.Year, exp.Month, exp.Day)
def date_parts_extract(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert YEAR/MONTH/DAY(d) to EXTRACT(YEAR FROM d) (Oracle has no YEAR function)."""
    for kind, part in ((exp.Year, "YEAR"), (exp.Month, "MONTH"), (exp.Day, "DAY")):

        def convert(node: exp.Expression, part: str = part) -> exp.Expression:
            return exp.Extract(this=exp.var(part), expression=_as_date(node.this))

        tree = _replace_all(tree, kind, convert, ctx)
    return tree


@indexed(exp.CurrentTimestamp)
def getdate_to_current_date(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert GETDATE() to CURRENT_DATE, as SqlRender does."""
    return _replace_all(tree, exp.CurrentTimestamp, lambda n: exp.CurrentDate(), ctx)


@indexed(exp.CurrentTimestamp)
def getdate_to_sysdate(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Oracle: GETDATE() as SYSDATE, as SqlRender does: the database server's clock, as SQL Server's GETDATE() is
    (Oracle's CURRENT_DATE is the date and time in the client session's time zone, which differs per client)."""
    return _replace_all(tree, exp.CurrentTimestamp, lambda n: exp.CurrentTimestamp(sysdate=True), ctx)


@indexed(exp.Cast)
def cast_date_oracle(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert CAST('YYYY-MM-DD' AS DATE) to TO_DATE('YYYY-MM-DD', 'YYYY-MM-DD') (independent of NLS settings)."""

    def convert(node: exp.Cast) -> exp.Expression:
        if node.to.is_type(exp.DataType.Type.DATE) and isinstance(node.this, exp.Literal) and node.this.is_string:
            return exp.Anonymous(this="TO_DATE", expressions=[node.this, exp.Literal.string("YYYY-MM-DD")])
        return node

    return _replace_all(tree, exp.Cast, convert, ctx)


def _retype(tree: exp.Expression, ctx: Context, fn: Callable[[exp.DataType], Optional[exp.DataType]]) -> exp.Expression:
    for dtype in _find_all(tree, ctx, exp.DataType):
        new = fn(dtype)
        if new is not None:
            tree = _replace(tree, ctx, dtype, new)
    return tree


def _is_max(dtype: exp.DataType) -> bool:
    return any(isinstance(e, (exp.Var, exp.Column)) and e.name.upper() == "MAX" for e in dtype.find_all(exp.Var, exp.Column))


@indexed(exp.DataType)
def standard_types(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert T-SQL types: VARCHAR(MAX) -> TEXT, DATETIME/DATETIME2 -> TIMESTAMP, FLOAT -> DOUBLE.

    TIMESTAMP, which sqlglot reads as T-SQL's ROWVERSION (binary), is a date-time in OHDSI SQL, as SqlRender
    passes it through: it stays TIMESTAMP (not BYTEA/BLOB).
    """
    T = exp.DataType.Type

    def convert(dtype: exp.DataType) -> Optional[exp.DataType]:
        if dtype.this in (T.VARCHAR, T.NVARCHAR) and _is_max(dtype):
            return exp.DataType.build("TEXT")
        if dtype.this in (T.DATETIME, T.DATETIME2, T.SMALLDATETIME, T.ROWVERSION):
            return exp.DataType.build("TIMESTAMP")
        if dtype.this == T.FLOAT and not dtype.expressions:
            return exp.DataType.build("DOUBLE")
        if dtype.this == T.NVARCHAR:
            return exp.DataType(this=T.VARCHAR, expressions=dtype.expressions)
        return None

    return _retype(tree, ctx, convert)


@indexed(exp.DataType)
def unsized_strings(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Drop the length of string types (BigQuery STRING, DuckDB VARCHAR): VARCHAR(n) -> STRING."""
    T = exp.DataType.Type

    def convert(dtype: exp.DataType) -> Optional[exp.DataType]:
        if dtype.this in (T.VARCHAR, T.NVARCHAR, T.CHAR, T.NCHAR, T.TEXT) and dtype.expressions:
            return exp.DataType.build("TEXT" if ctx.target.name == "bigquery" else "VARCHAR")
        return None

    return _retype(tree, ctx, convert)


@indexed(exp.DataType)
def oracle_types(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert BIGINT to NUMBER(19) and an unsized VARCHAR to VARCHAR2(4000), as Oracle needs a length."""
    T = exp.DataType.Type

    def convert(dtype: exp.DataType) -> Optional[exp.DataType]:
        if dtype.this == T.BIGINT:
            return exp.DataType.build("DECIMAL(19)")
        if dtype.this in (T.VARCHAR, T.NVARCHAR) and not dtype.expressions:
            return exp.DataType.build("VARCHAR(4000)")
        return None

    return _retype(tree, ctx, convert)


@indexed(exp.Variance, exp.Anonymous)
def variance_samp(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert VAR(x) to VAR_SAMP(x) (the sample variance, under the name every target knows)."""

    def convert(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Variance) or (isinstance(node, exp.Anonymous) and node.name.upper() == "VAR"):
            args = node.expressions if isinstance(node, exp.Anonymous) else [node.this]
            return exp.Anonymous(this="VAR_SAMP", expressions=args)
        return node

    return _replace_all(tree, (exp.Variance, exp.Anonymous), convert, ctx)  # the only functions it converts


@indexed(exp.Left, exp.Right)
def left_right_substr(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert LEFT(s, n) / RIGHT(s, n) to SUBSTR (SQLite and Oracle have no LEFT/RIGHT)."""
    tree = _replace_all(
        tree, exp.Left, lambda n: exp.Anonymous(this="SUBSTR", expressions=[n.this, exp.Literal.number(1), n.expression]),
        ctx,
    )
    return _replace_all(
        tree, exp.Right, lambda n: exp.Anonymous(this="SUBSTR", expressions=[n.this, exp.Neg(this=exp.Paren(this=n.expression))]),
        ctx,
    )


@indexed(exp.Uuid)
def uuid_sqlite(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert NEWID() to LOWER(HEX(RANDOMBLOB(16)))."""
    return _replace_all(tree, exp.Uuid, lambda n: _template("LOWER(HEX(RANDOMBLOB(16)))", "sqlite"), ctx)


@indexed(exp.Rand)
def rand_sqlite(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert RAND() (a float in [0, 1) on SQL Server) to SqlRender's ((RANDOM() + 9223372036854775808) /
    18446744073709551615): SQLite's RANDOM() is a signed 64-bit integer (SQLite documentation, 'Built-In Scalar SQL
    Functions', random()), so RAND() < 0.5 or RAND() * n would otherwise mean something else."""
    return _replace_all(
        tree, exp.Rand,
        lambda n: _template("((RANDOM() + 9223372036854775808) / 18446744073709551615)", "sqlite"), ctx)


@indexed(exp.Uuid)
def uuid_oracle(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert NEWID() to SYS_GUID()."""
    return _replace_all(tree, exp.Uuid, lambda n: exp.Anonymous(this="SYS_GUID", expressions=[]), ctx)


@indexed(exp.Anonymous)
def isnumeric_regex(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert ISNUMERIC(a) to a CASE over a regular-expression match, as SqlRender does."""
    pattern = r"'^([0-9]+\.?[0-9]*|\.[0-9]+)$'"

    def convert(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.upper() == "ISNUMERIC" and len(node.expressions) == 1:
            sql = f"CASE WHEN CAST(:a AS VARCHAR) ~ {pattern} THEN 1 ELSE 0 END"
            return _template(sql, "postgres", a=node.expressions[0])
        return node

    return _replace_all(tree, exp.Anonymous, convert, ctx)


@indexed(exp.Anonymous)
def isnumeric_glob(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert ISNUMERIC(a) to SQLite GLOB tests, as SqlRender does."""

    def convert(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and node.name.upper() == "ISNUMERIC" and len(node.expressions) == 1:
            sql = "CASE WHEN :a GLOB '[0-9]*' OR :a GLOB '[0-9]*.[0-9]*' OR :a GLOB '.[0-9]*' THEN 1 ELSE 0 END"
            return _template(sql, "sqlite", a=node.expressions[0])
        return node

    return _replace_all(tree, exp.Anonymous, convert, ctx)


def refuse(kind: type, message: str) -> Transform:
    """A transform that refuses statements using ``kind`` on this target, with ``message``."""

    @indexed(kind)
    def transform(tree: exp.Expression, ctx: Context) -> exp.Expression:
        if _find(tree, ctx, kind):
            raise TranslationError(f"{message} on '{ctx.target.name}'")
        return tree

    transform.__doc__ = f"Refuse {kind.__name__}: {message}."
    return transform


_SQLITE_VARIANCE = "(SUM(:v * :v) - SUM(:v) * SUM(:v) / COUNT(:v)) / (COUNT(:v) - 1)"


@indexed(exp.Stddev, exp.Variance, exp.Anonymous)
def variance_sqlite(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Write STDEV(x) / VAR(x) (sample standard deviation and variance) with SUM and COUNT: SQLite has neither
    aggregate (SqlRender keeps STDEV, which only RSQLite's extension functions provide), and Achilles' distribution
    analyses use STDEV. x is read as REAL; one row gives NULL, as on SQL Server (SQLite's x / 0 is NULL). A window
    STDEV ... OVER or a STDEV(DISTINCT x) is refused."""

    def convert(node: exp.Expression) -> exp.Expression:
        is_var = isinstance(node, exp.Variance) or (
            isinstance(node, exp.Anonymous) and node.name.upper() in ("VAR", "VAR_SAMP"))
        if not (is_var or isinstance(node, exp.Stddev)):
            return node
        arg = node.this if not isinstance(node, exp.Anonymous) else (node.expressions or [None])[0]
        if arg is None or isinstance(arg, exp.Distinct) or isinstance(node.parent, exp.Window):
            raise TranslationError(
                f"{'VAR' if is_var else 'STDEV'} over a window or of DISTINCT values is not available on "
                f"'{ctx.target.name}'")
        value = exp.Cast(this=arg.copy(), to=exp.DataType.build("REAL"))
        variance = _template(_SQLITE_VARIANCE, "sqlite", v=value)
        if is_var:
            return exp.Paren(this=variance)
        return _template("SQRT(MAX(:x, 0))", "sqlite", x=variance)

    return _replace_all(tree, (exp.Stddev, exp.Variance, exp.Anonymous), convert, ctx)


refuse_md5 = refuse(exp.MD5, "HASHBYTES is not available")


@triggered_by(exp.Use)
def use_search_path(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert USE s to SET search_path TO s (PostgreSQL, Redshift)."""
    if isinstance(tree, exp.Use):
        return exp.Command(this="SET", expression=f" search_path TO {tree.this.sql(ctx.target.sqlglot)}")
    return tree


@indexed(exp.Convert)
def convert_to_cast(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert CONVERT(type, x) without a style to CAST(x AS type)."""

    def convert(node: exp.Convert) -> exp.Expression:
        if node.args.get("style") is None and isinstance(node.this, exp.DataType):
            return exp.Cast(this=node.expression, to=node.this)
        return node

    return _replace_all(tree, exp.Convert, convert, ctx)


@indexed(exp.Cast)
def concat_date_yyyymmdd(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Read CAST(<string built with + or CONCAT> AS DATE) as 'YYYYMMDD' text, as SqlRender does."""
    sql = {
        "duckdb": "CAST(STRPTIME(:a, '%Y%m%d') AS DATE)",
        "sqlite": "DATE(SUBSTR(:a, 1, 4) || '-' || SUBSTR(:a, 5, 2) || '-' || SUBSTR(:a, 7, 2))",
    }[ctx.target.sqlglot]

    def convert(node: exp.Cast) -> exp.Expression:
        if node.to.is_type(exp.DataType.Type.DATE) and isinstance(node.this, (exp.DPipe, exp.Concat)):
            return _template(sql, ctx.target.sqlglot, a=node.this)
        return node

    return _replace_all(tree, exp.Cast, convert, ctx)


@indexed(exp.SetOperation)
def unnest_set_operands(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Write (SELECT ...) UNION (SELECT ...) without the parentheses, which SQLite does not accept."""
    for setop in _find_all(tree, ctx, exp.SetOperation):
        for key in ("this", "expression"):
            operand = setop.args.get(key)
            if isinstance(operand, exp.Subquery) and not operand.alias and isinstance(operand.this, exp.Select):
                inner = operand.this
                if not inner.args.get("order") and not inner.args.get("limit"):
                    _set(ctx, setop, key, inner)
    return tree


@triggered_by(exp.Values)
def values_to_union(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Convert (VALUES (...), (...)) AS t(a, b) to (SELECT ... AS a, ... AS b UNION ALL SELECT ...) AS t."""
    for values in list(tree.find_all(exp.Values)):
        alias = values.args.get("alias")
        columns = [c.name for c in alias.columns] if alias else []
        if alias is None or not columns:
            continue
        selects = []
        for i, row in enumerate(values.expressions):
            cells = row.expressions if isinstance(row, exp.Tuple) else [row]
            selects.append(
                exp.select(*[exp.alias_(c.copy(), columns[j]) if i == 0 else c.copy() for j, c in enumerate(cells)])
            )
        union: exp.Query = selects[0]
        for select in selects[1:]:
            union = exp.union(union, select, distinct=False)
        values.replace(exp.Subquery(this=union, alias=exp.TableAlias(this=exp.to_identifier(alias.name))))
    return tree


@triggered_by(exp.Alter)
def split_alter_add(tree: exp.Expression, ctx: Context) -> TransformResult:
    """Split ALTER TABLE t ADD a INT, b INT into one ALTER TABLE per column: SQLite and Redshift add one column per
    ALTER TABLE (Redshift ALTER TABLE: 'ADD [ COLUMN ] column_name', one), Spark's ADD COLUMN takes one list, not
    repeated ADD COLUMN clauses (run here), and Oracle's several columns need ADD (a INT, b INT)."""
    if isinstance(tree, exp.Alter) and len(tree.args.get("actions") or []) > 1:
        if all(isinstance(a, exp.ColumnDef) for a in tree.args["actions"]):
            return [_one_action(tree, a) for a in tree.args["actions"]]
    return tree


def _one_action(tree: exp.Alter, action: exp.Expression) -> exp.Alter:
    single = tree.copy()
    single.set("actions", [action.copy()])
    return single


@triggered_by(exp.Alter)
def drop_alter_column(tree: exp.Expression, ctx: Context) -> Optional[exp.Expression]:
    """Drop ALTER TABLE ... ALTER COLUMN (SQLite columns have no fixed type to change)."""
    if isinstance(tree, exp.Alter) and any(isinstance(a, exp.AlterColumn) for a in tree.args.get("actions") or []):
        return None
    return tree


@indexed(exp.Log)
def log_numeric(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Cast LOG(base, x) arguments to NUMERIC: PostgreSQL has the two-argument LOG for NUMERIC only."""

    def convert(node: exp.Log) -> exp.Expression:
        if node.expression is None:
            return node
        numeric = exp.DataType.Type.DECIMAL
        return exp.Log(this=exp.cast(node.this, numeric), expression=exp.cast(node.expression, numeric))

    return _replace_all(tree, exp.Log, convert, ctx)


def _as_double(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Literal) or (isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DOUBLE)):
        return node
    return exp.cast(node, exp.DataType.Type.DOUBLE)


@indexed(exp.Ln, exp.Log)
def logarithms_double_redshift(tree: exp.Expression, ctx: Context) -> exp.Expression:
    """Redshift: LN and LOG of DOUBLE PRECISION: LN of a DECIMAL/NUMERIC column (OMOP's value_as_number) is an
    error on a user table (Amazon Redshift Database Developer Guide, LN function); SqlRender casts to REAL."""
    for node in _find_all(tree, ctx, exp.Ln, exp.Log):
        for key in ("this", "expression"):
            if node.args.get(key) is not None:
                _set(ctx, node, key, _as_double(node.args[key]))
    return tree


# PostgreSQL's reserved key words (Appendix C, "reserved" and "reserved (can be function or type)"): as a
# column or table name they must be quoted. Quoted names keep their case, so they are written lower-case,
# the case PostgreSQL folds unquoted names to (``offset`` and ``"offset"`` are then the same column).
POSTGRES_RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate
    collation column concurrently constraint create cross current_catalog current_date current_role
    current_schema current_time current_timestamp current_user default deferrable desc distinct do else end
    except false fetch for foreign freeze from full grant group having ilike in initially inner intersect into
    is isnull join lateral leading left like limit localtime localtimestamp natural not notnull null offset on
    only or order outer overlaps placing primary references returning right select session_user similar some
    symmetric system_user table tablesample then to trailing true union unique user using variadic verbose
    when where window with""".split()
)


def _quote_reserved(words: frozenset[str]) -> Transform:
    @indexed(exp.Identifier)
    def transform(tree: exp.Expression, ctx: Context) -> exp.Expression:
        for identifier in _find_all(tree, ctx, exp.Identifier):
            if not identifier.quoted and identifier.name.lower() in words:
                identifier.set("this", identifier.name.lower())
                identifier.set("quoted", True)
        return tree

    return transform


quote_reserved_postgres = _quote_reserved(POSTGRES_RESERVED)
quote_reserved_postgres.__doc__ = (
    "Quote names that are PostgreSQL reserved words (note_nlp.offset), lower-case as PostgreSQL folds them."
)
