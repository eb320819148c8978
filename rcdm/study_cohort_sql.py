"""Cohort SQL of a study spec: listed for the site, checked by parsing, run only after the site's approval.

A spec's cohort SQL (ATLAS-exported OHDSI SQL files declared in ``cohorts[].sql``; their SHA-256 is part of the
spec's hash) runs at a site only when the site passes the spec's hash as approval (``rcdm study show`` lists the
files and their text first; ``rcdm study run --approve-cohort-sql HASH``). Before anything runs, every statement,
rendered and translated exactly as it will run, is parsed with sqlglot and must be one of what a cohort
definition needs (:func:`check_cohort_statements`):

* ``CREATE TEMP TABLE`` (also ``... AS SELECT``), ``CREATE INDEX`` on one, and ``INSERT``, ``UPDATE``, ``DELETE``,
  ``TRUNCATE``, ``DROP`` or ``ANALYZE`` of a temp table the script created before and has not dropped since (once
  dropped, its name may mean a real table on the search path: only a new ``CREATE TEMP TABLE`` makes it a temp
  table again);
* ``INSERT INTO <cohort schema>.<cohort table>`` whose ``cohort_definition_id`` is the literal id of this cohort,
  and ``DELETE`` from it ``WHERE cohort_definition_id = <this id>``;
* ``SELECT``.

Every table read must be one of the script's temp tables or a plain table of the cdm, vocabulary or cohort
schema; no table function (``read_csv``, ``FROM 'file.csv'``). Functions are an allow-list, not a deny-list: only
what ATLAS/Circe cohort SQL uses as SqlRender translates it for each target (aggregates, windows, CASE, casts,
date and string functions), compared on the unquoted, case-folded name, so ``"PG_READ_FILE"(...)`` is
``pg_read_file`` and refused like ``query_to_xml``, ``set_config`` or ``lo_import``; a schema-qualified call
(``pg_catalog.f(...)``) is refused; cast and column types are an allow-list too (no ``regclass``, ``xml``, ...).
No other statement (DDL or DML on other tables, COPY, ATTACH, SET, PRAGMA, CALL, GRANT, transactions). Anything
else is refused with the statement's number and the reason (naming the function or type).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from rcdm.errors import CohortSqlError
from rcdm.sql import render, split_sql, translate
from rcdm.sql.dialects import TARGETS
from rcdm.sql.translate import get_temp_table_prefix, sqlglot_dialect

# The functions cohort SQL may call: what ATLAS/Circe cohort definitions and OHDSI SQL use, in the form sqlglot
# parses them after SqlRender translated them for each target (extras/cohorts/ and the study tests on 8 targets,
# plus Circe's date, window and aggregate idioms). An allow-list: a function not named here is refused, whatever
# it is called on the site's database (pg_read_file, set_config, lo_import, query_to_xml, read_csv, dblink, ...).
# Typed functions are sqlglot's expression classes (lower case); others ("Anonymous") their unquoted, case-folded
# name, so "PG_READ_FILE"(...) is pg_read_file. A schema-qualified call (pg_catalog.f(...), "s"."f"(...)) is refused.
_ALLOWED_FUNCTION_CLASSES = frozenset({
    # logic and conditionals
    "and", "or", "not", "case", "if", "coalesce", "nullif", "greatest", "least",
    # casts
    "cast", "trycast",
    # aggregates and windows
    "count", "min", "max", "sum", "avg", "stddev", "stddevsamp", "stddevpop", "rownumber", "rank", "denserank",
    "lead", "lag", "firstvalue", "lastvalue",
    # arithmetic
    "abs", "floor", "ceil", "round", "pow", "sqrt", "exp", "ln", "log",
    # dates (DATEADD, DATEDIFF, YEAR, MONTH, DAY, DATEFROMPARTS, EOMONTH, GETDATE as translated per target)
    "dateadd", "datediff", "datefromparts", "year", "month", "day", "extract", "lastday", "addmonths",
    "todays", "tsordsadd", "tsordsdiff", "tsordstodate", "tsordstotimestamp", "strtodate", "strtotime",
    "timestrtotime", "timetostr", "timestamptrunc", "datetrunc", "date", "currentdate", "currenttimestamp",
    # strings
    "concat", "length", "lower", "upper", "left", "right", "substring", "trim", "replace", "strposition",
})
_ALLOWED_FUNCTION_NAMES = frozenset({
    "make_date", "to_months", "to_days", "to_years",  # PostgreSQL/Spark DATEFROMPARTS, DuckDB DATEADD
    "date", "julianday", "printf", "strftime",  # SQLite dates
    "count_big", "eomonth", "datefromparts", "dateadd", "datediff", "isnull",  # T-SQL names sqlglot may not type
})
# The column and cast types cohort SQL uses on the targets (sqlglot's DataType.Type names); not regclass, oid,
# xml, lo or a user-defined or schema-qualified type, whose input functions look things up on the server.
_ALLOWED_TYPES = frozenset({
    "BIGINT", "INT", "SMALLINT", "TINYINT", "BIT", "BOOLEAN", "DECIMAL", "DOUBLE", "FLOAT", "DATE", "DATETIME",
    "DATETIME2", "TIMESTAMP", "TEXT", "VARCHAR", "NVARCHAR", "CHAR", "NCHAR",
})
_IDENTIFIER = re.compile(r"^#{0,2}[A-Za-z_][A-Za-z0-9_$]{0,127}$")


def _name(node: Any) -> str:
    return (node.name if hasattr(node, "name") else str(node)).lower()


def _table_key(table: Any) -> tuple[str, str, str]:
    """(catalog, schema, name) of an exp.Table, lower-case; raises CohortSqlError for anything but identifiers."""
    if not isinstance(table.this, exp.Identifier) or not _IDENTIFIER.match(table.this.name):
        raise CohortSqlError(f"reads or writes {table.sql()!r}, which is not a plain table name")
    name = ("#" if table.this.args.get("temporary") else "") + table.name.lower()  # T-SQL's #temp
    parts = []
    for part in (table.args.get("catalog"), table.args.get("db")):
        if part is not None and (not isinstance(part, exp.Identifier) or not _IDENTIFIER.match(part.name)):
            raise CohortSqlError(f"uses {table.sql()!r}, which is not a plain schema.table name")
        parts.append(part.name.lower() if part is not None else "")
    return parts[0], parts[1], name


def _check_functions(tree: Any) -> None:
    """Refuse functions and types not on the allow-lists, schema-qualified calls, table functions and statements
    nested in a statement."""
    for func in tree.find_all(exp.Func):
        if isinstance(func, exp.Anonymous):
            name = (func.this.name if isinstance(func.this, exp.Identifier) else str(func.this)).lower()
            allowed = name in _ALLOWED_FUNCTION_NAMES
        else:
            name = func.sql_name().lower() if hasattr(func, "sql_name") else type(func).__name__.lower()
            allowed = type(func).__name__.lower() in _ALLOWED_FUNCTION_CLASSES
        if isinstance(func.parent, exp.Dot):
            raise CohortSqlError(f"calls {func.parent.sql()[:80]!r}, a schema-qualified function")
        if not allowed:
            raise CohortSqlError(f"calls {name}(), which is not a function cohort definitions use")
    for data_type in tree.find_all(exp.DataType):
        kind = data_type.this
        if not isinstance(kind, exp.DataType.Type) or kind.name not in _ALLOWED_TYPES:
            raise CohortSqlError(f"uses the type {data_type.sql()[:40]}, which is not a type cohort definitions use")
    for node in tree.find_all(exp.Table):
        if not isinstance(node.this, exp.Identifier):
            raise CohortSqlError(f"reads from {node.sql()[:80]!r}, which is not a table")
    nested = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Command, exp.Into,
              exp.TruncateTable, exp.Copy)
    for node in tree.find_all(*nested):
        # a data-modifying CTE, SELECT INTO, a statement inside a statement
        if node is not tree and not (isinstance(node, exp.Into) and node.parent is tree):
            raise CohortSqlError(f"holds a {type(node).__name__.upper()} inside another statement")


def _literal_int(node: Any) -> int | None:
    while isinstance(node, (exp.Alias, exp.Cast, exp.Paren)):
        node = node.this
    if isinstance(node, exp.Literal) and not node.is_string and re.fullmatch(r"\d+", node.this):
        return int(node.this)
    return None


def _insert_cohort_ids(insert: Any) -> list[int | None]:
    """The cohort_definition_id each row source of an INSERT into the cohort table writes (None: not a literal)."""
    target = insert.this
    columns = [c.name.lower() for c in target.expressions] if isinstance(target, exp.Schema) else []
    position = columns.index("cohort_definition_id") if columns else 0
    if columns and "cohort_definition_id" not in columns:
        return [None]
    source = insert.expression
    while isinstance(source, exp.Subquery):
        source = source.this
    if isinstance(source, exp.Values):
        return [_literal_int(row.expressions[position]) if len(row.expressions) > position else None
                for row in source.expressions]
    if isinstance(source, exp.SetOperation):
        return [i for part in (source.this, source.expression) for i in _insert_cohort_ids(
            exp.Insert(this=insert.this, expression=part))]
    if isinstance(source, exp.Select):
        if len(source.expressions) <= position or any(isinstance(e, exp.Star) for e in source.expressions):
            return [None]
        return [_literal_int(source.expressions[position])]
    return [None]


def _where_is_own_id(where: Any, cohort_id: int) -> bool:
    condition = where.this if where is not None else None
    conjuncts = list(condition.flatten()) if isinstance(condition, exp.And) else [condition]
    for c in conjuncts:
        if isinstance(c, exp.EQ) and isinstance(c.this, exp.Column) and c.this.name.lower() == \
                "cohort_definition_id" and _literal_int(c.expression) == cohort_id:
            return True
    return False


def check_cohort_statements(statements: Sequence[str], dialect: str, cohort_id: int, cohort_schema: str,
                            cohort_table: str, readable_schemas: Iterable[str],
                            temp_emulation_schema: str | None = None) -> None:
    """Refuse (CohortSqlError) statements that do more than define cohort ``cohort_id`` (see the module doc).

    ``statements`` are in the target ``dialect`` (SqlRender's name), as they will run. Temp tables are what the
    translator makes of OHDSI's ``#name``: ``CREATE TEMP TABLE``, T-SQL's ``#name``, SQLite's ``temp.name``, or
    ``<temp_emulation_schema>.<rcdm's temp prefix>name`` where temp tables are emulated.
    """

    readable = {s.lower() for s in readable_schemas} | {cohort_schema.lower()}
    cohort_key = ("", cohort_schema.lower(), cohort_table.lower())
    temps: set[tuple[str, str, str]] = set()
    emulation, prefix = (temp_emulation_schema or "").lower(), get_temp_table_prefix().lower()
    translation = TARGETS.get(dialect)
    temp_schema = "temp" if translation is not None and translation.temp_tables == "sqlite" else None  # SQLite: temp.t

    def implicit_temp(key: tuple[str, str, str]) -> bool:
        """A name that is a temp table by its form, whether or not created yet."""
        catalog, db, name = key
        return not catalog and ((not db and name.startswith("#")) or (temp_schema is not None and db == temp_schema) or
                                (bool(emulation) and db == emulation and name.startswith(prefix)))

    def is_temp(key: tuple[str, str, str]) -> bool:
        return key in temps or (temp_schema is not None and key[:2] == ("", "") and ("", temp_schema, key[2]) in temps)

    for number, statement in enumerate(statements, start=1):
        def refuse(reason: str) -> CohortSqlError:
            return CohortSqlError(f"Cohort {cohort_id} SQL statement {number} is refused: {reason}. "  # noqa: B023 - called within this iteration
                                  f"Statement: {statement.strip()[:200]!r}")  # noqa: B023 - called within this iteration
        try:
            trees = [t for t in sqlglot.parse(statement, read=sqlglot_dialect(dialect)) if t is not None]
        except SqlglotError as exc:
            raise refuse(f"it cannot be parsed and checked ({str(exc).splitlines()[0][:120]})") from None
        if len(trees) != 1:
            raise refuse("it is not exactly one statement")
        tree = trees[0]
        try:
            _check_functions(tree)
            written: tuple[str, str, str] | None = None
            if isinstance(tree, exp.Create):
                kind = str(tree.args.get("kind") or "").upper()
                target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
                if kind == "TABLE":
                    properties = tree.args.get("properties")
                    temporary = properties is not None and any(isinstance(p, exp.TemporaryProperty)
                                                               for p in properties.expressions)
                    key = _table_key(target)
                    if not ((temporary and key[:2] == ("", "")) or implicit_temp(key)):
                        raise refuse("it creates a table that is not a temp table")
                    temps.add(key)
                elif kind == "INDEX":
                    table = tree.find(exp.Table)
                    if table is None or not is_temp(_table_key(table)):
                        raise refuse("it creates an index on a table that is not one of its temp tables")
                else:
                    raise refuse(f"CREATE {kind or '?'} is not part of a cohort definition")
            elif isinstance(tree, (exp.Insert, exp.Update, exp.Delete)):
                target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
                if not isinstance(target, exp.Table):
                    raise refuse("it writes to something that is not a table")
                written = _table_key(target)
                if written == cohort_key:
                    if isinstance(tree, exp.Insert):
                        ids = _insert_cohort_ids(tree)
                        if any(i != cohort_id for i in ids):
                            raise refuse(f"it inserts into {cohort_schema}.{cohort_table} rows whose "
                                         f"cohort_definition_id is not the literal {cohort_id}")
                    elif isinstance(tree, exp.Delete):
                        if not _where_is_own_id(tree.args.get("where"), cohort_id):
                            raise refuse(f"it deletes from {cohort_schema}.{cohort_table} without "
                                         f"WHERE cohort_definition_id = {cohort_id}")
                    else:
                        raise refuse(f"it updates {cohort_schema}.{cohort_table}")
                elif not is_temp(written):
                    raise refuse(f"it writes to {target.sql()}, which is neither its own temp table nor the "
                                 "cohort table")
            elif isinstance(tree, (exp.TruncateTable, exp.Drop)):
                if isinstance(tree, exp.Drop) and str(tree.args.get("kind") or "").upper() != "TABLE":
                    raise refuse("it drops something that is not a table")
                keys = [_table_key(table) for table in tree.find_all(exp.Table)]
                for table, key in zip(tree.find_all(exp.Table), keys):
                    if not is_temp(key) and not (implicit_temp(key) and tree.args.get("exists")):
                        raise refuse(f"it drops or truncates {table.sql()}, which is not one of its temp tables")
                if isinstance(tree, exp.Drop):  # dropped: the name is no temp table any more (it may now
                    for key in keys:             # name a real table on the search path)
                        temps.difference_update({key, ("", "temp", key[2]) if key[:2] == ("", "") else key,
                                                 ("", "", key[2]) if key[:2] == ("", "temp") else key})
                continue
            elif isinstance(tree, exp.Command) and str(tree.this).upper() in ("ANALYZE", "UPDATE STATISTICS"):
                target = tree.expression.name if isinstance(tree.expression, exp.Literal) else str(tree.expression)
                parts = target.strip().strip(";").lower().split(".")
                if len(parts) > 2 or not is_temp(("", *([""] * (2 - len(parts))), *parts)):
                    raise refuse("it analyzes a table that is not one of its temp tables")
                continue
            elif isinstance(tree, getattr(exp, "Analyze", ())):
                table = tree.find(exp.Table)
                if table is None or not is_temp(_table_key(table)):
                    raise refuse("it analyzes a table that is not one of its temp tables")
                continue
            elif isinstance(tree, exp.Select) and tree.args.get("into") is not None:  # T-SQL SELECT ... INTO #t
                into = tree.args["into"].find(exp.Table)
                if into is None or not implicit_temp(_table_key(into)):
                    raise refuse("it selects into a table that is not a temp table")
                written = _table_key(into)
                temps.add(written)
            elif not isinstance(tree, (exp.Select, exp.SetOperation)):
                raise refuse(f"{type(tree).__name__.upper()} statements are not part of a cohort definition")
            ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
            for table in tree.find_all(exp.Table):
                key = _table_key(table)
                if key == written or is_temp(key) or (key[:2] == ("", "") and key[2] in ctes):
                    continue
                if key[0] or key[1] not in readable:
                    raise refuse(f"it reads {table.sql()}, outside the cdm, vocabulary and cohort schemas")
        except CohortSqlError as exc:
            if str(exc).startswith(f"Cohort {cohort_id} SQL statement"):
                raise
            raise refuse(str(exc)) from None


def render_cohort_sql(conn: Any, text: str, cohort_id: int, cdm_schema: str, cohort_schema: str,
                      cohort_table: str, vocabulary_schema: str) -> list[str]:
    """The statements of a cohort SQL file as they would run on ``conn`` (rendered as rcdm.cohort renders them,
    translated, split)."""
    rendered = render(text, warn_on_missing_parameters=False, parameters={
        "cdm_database_schema": cdm_schema, "vocabulary_database_schema": vocabulary_schema,
        "target_database_schema": cohort_schema, "target_cohort_table": cohort_table,
        "target_cohort_id": cohort_id, "results_database_schema": cohort_schema})
    translated = translate(rendered, conn.dialect, temp_emulation_schema=conn.temp_emulation_schema)
    return [s for s in split_sql(translated) if s.strip()]


def describe_cohort_sql(spec: Mapping[str, Any], spec_hash: str, texts: Mapping[int, str]) -> str:
    """What a site reviews before approving: each declared cohort SQL file, its SHA-256 and its full text."""
    cohorts = [c for c in spec["cohorts"] if "sql" in c]
    if not cohorts:
        return "This study runs no cohort SQL: its cohorts must already be in the site's cohort table.\n"
    lines = [f"This study runs {len(cohorts)} cohort SQL file(s) at the site. Review them; to approve, run with "
             f"--approve-cohort-sql {spec_hash}\n"]
    for c in cohorts:
        lines.append(f"--- cohort {c['id']} ({c['name']}): {c['sql']}  sha256 {c['sql_sha256']}")
        lines.append(texts.get(c["id"], "(text not available)").rstrip())
        lines.append(f"--- end of {c['sql']}\n")
    return "\n".join(lines) + "\n"


__all__ = ["CohortSqlError", "check_cohort_statements", "describe_cohort_sql", "render_cohort_sql"]
