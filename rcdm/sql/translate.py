"""Translate OHDSI SQL (SqlRender's SQL Server source dialect) to each target, through sqlglot's syntax tree.

Per statement: take out what sqlglot cannot parse (``--HINT`` comments, ``IF OBJECT_ID(...) ... DROP/CREATE``,
``UPDATE STATISTICS``), parse as T-SQL, run the target's transforms (``rcdm.sql.dialects``), and write it
with the target's sqlglot dialect. Statement results are cached, so a template seen before costs little.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import re
import secrets
import string
from collections.abc import Iterator
from typing import Optional

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from rcdm.errors import StatementError as _StatementError
from rcdm.errors import TranslationError, UnsupportedDialectError
from rcdm.sql.dialects import TARGETS, Target
from rcdm.sql.generate import generate
from rcdm.sql.nodes import NodeIndex
from rcdm.sql.split import split_sql, split_sql_with_offsets
from rcdm.sql.transforms import Context, apply_transforms

_SUPPORTED = list(TARGETS)

_LEADING_COMMENTS = re.compile(r"\A(?:\s*(?:--[^\n]*(?:\n|\Z)|/\*.*?\*/))*\s*", re.DOTALL)
_HINT_DISTRIBUTE = re.compile(r"--\s*HINT\s+DISTRIBUTE_ON_KEY\s*\(\s*([\w]+)\s*\)", re.IGNORECASE)
_OBJECT_ID = r"IF\s+OBJECT_ID\s*\(\s*N?'(?P<name>[^']+)'\s*(?:,\s*N?'U'\s*)?\)\s+IS\s+"
_IF_EXISTS_DROP = re.compile(
    _OBJECT_ID + r"NOT\s+NULL\s+(?:BEGIN\s+)?DROP\s+TABLE\s+(?P<table>[^\s;]+)\s*;?\s*(?:END\s*;?)?\s*\Z",
    re.IGNORECASE | re.DOTALL,
)
_IF_NOT_EXISTS_CREATE = re.compile(_OBJECT_ID + r"NULL\s+(?P<create>CREATE\s+TABLE\s.*)\Z", re.IGNORECASE | re.DOTALL)
_UPDATE_STATISTICS = re.compile(r"\AUPDATE\s+STATISTICS\s+(?P<table>[^\s;]+)\s*\Z", re.IGNORECASE)
_CLUSTERED = re.compile(r"\b(PRIMARY\s+KEY|UNIQUE)\s+(?:NON)?CLUSTERED\b", re.IGNORECASE)
_CLUSTERED_INDEX = re.compile(r"\b(CREATE\s+(?:UNIQUE\s+)?)(?:NON)?CLUSTERED\s+(INDEX)\b", re.IGNORECASE)
# T-SQL functions sqlglot's reader passes through by name: on another target they would be untranslated.
_TSQL_ONLY_FUNCTIONS = {"ISNUMERIC", "HASHBYTES", "OBJECT_ID", "DATENAME", "SCOPE_IDENTITY", "NEWSEQUENTIALID", "SYSDATETIME"}


def list_supported_dialects() -> list[str]:
    """SqlRender's names of the targets rcdm translates to."""
    return list(_SUPPORTED)


def sqlglot_dialect(dialect: str) -> str:
    """The sqlglot dialect that reads what ``translate`` writes for ``dialect`` (e.g. 'postgresql' -> 'postgres')."""
    return _target(dialect).sqlglot


def _random_prefix() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return secrets.choice(string.ascii_lowercase) + "".join(secrets.choice(alphabet) for _ in range(7))


_TEMP_PREFIX = _random_prefix()


def get_temp_table_prefix() -> str:
    """The 8-character session prefix of emulated temp tables: starts with a letter, fixed for this process."""
    return _TEMP_PREFIX


def _target(dialect: str) -> Target:
    name = (dialect or "").strip().lower() if isinstance(dialect, str) else ""
    if name in TARGETS:
        return TARGETS[name]
    close = difflib.get_close_matches(name, _SUPPORTED, n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    supported = ", ".join(f"'{d}'" for d in _SUPPORTED)
    raise UnsupportedDialectError(f"Unknown dialect {dialect!r}.{hint} Supported dialects: {supported}.")


def translate(sql: str, target_dialect: str, temp_emulation_schema: Optional[str] = None) -> str:
    """Translate an OHDSI SQL script to ``target_dialect`` (SqlRender's ``translate``)."""
    target = _target(target_dialect)
    pieces = split_sql_with_offsets(sql)
    out: list[str] = []
    for offset, statement in pieces:
        first_line = sql.count("\n", 0, offset) + 1
        try:
            out.extend(_translate_statement(statement, target.name, temp_emulation_schema))
        except _StatementError as error:
            line = first_line + error.line - 1
            excerpt = statement if len(statement) <= 200 else statement[:200] + " ..."
            raise TranslationError(
                f"Cannot translate the statement at line {line} to '{target.name}': {error}\n"
                f"Statement: {excerpt}"
            ) from None
    if not out:
        return ""
    text = "\n".join(s if s.endswith("END;") else s + ";" for s in out)
    last_offset, last = pieces[-1]
    ends_with_semicolon = sql[last_offset + len(last):].lstrip().startswith(";") or last.endswith(";")
    if len(out) == 1 and not ends_with_semicolon and not text.endswith("END;"):
        text = text[:-1]
    return text


def translate_single_statement(sql: str, target_dialect: str, temp_emulation_schema: Optional[str] = None) -> str:
    """Translate one statement and return it without its trailing ``;``; fail if it becomes several."""
    parts = split_sql(translate(sql, target_dialect, temp_emulation_schema=temp_emulation_schema))
    if len(parts) > 1:
        raise TranslationError(
            f"Expected one statement but the translation to '{target_dialect}' has {len(parts)}: {parts}"
        )
    return parts[0] if parts else ""


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while one statement is translated: parsing a 3.5 MB cohort makes half a
    million nodes, and each full collection meanwhile walks all of them again (40% of the time). The statement's
    garbage is collected when it is done. A collector the caller disabled stays disabled."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@functools.lru_cache(maxsize=8192)
def _translate_statement(statement: str, dialect: str, temp_emulation_schema: Optional[str]) -> tuple[str, ...]:
    with _gc_paused():
        return _translate_paused(statement, dialect, temp_emulation_schema)


def _translate_paused(statement: str, dialect: str, temp_emulation_schema: Optional[str]) -> tuple[str, ...]:
    target = TARGETS[dialect]
    hint = _HINT_DISTRIBUTE.search(statement)
    leading = _LEADING_COMMENTS.match(statement)
    lead = leading.end() if leading else 0
    body = statement[lead:]
    body_line = statement.count("\n", 0, lead) + 1
    ctx = Context(
        target=target,
        temp_emulation_schema=temp_emulation_schema,
        temp_prefix=get_temp_table_prefix(),
        distribute_on_key=hint.group(1) if hint else None,
    )
    try:
        parsed = _parse(body, body_line)
        if parsed is None:  # UPDATE STATISTICS where the target has no ANALYZE
            return ()
        tree, nodes = parsed
        if isinstance(tree, exp.Analyze) and not target.analyze and target.sqlglot != "tsql":
            return ()
        states = apply_transforms(tree, target.transforms, ctx, nodes)
        indexed = [(tree, nodes if nodes is not None else NodeIndex(tree)) for tree, nodes in states]
        for _, nodes in indexed:
            _check_translated(nodes, target)
        return tuple(_write(tree, ctx, nodes) for tree, nodes in indexed)
    except TranslationError as error:
        raise _StatementError(str(error), body_line) from None
    except SqlglotError as error:
        raise _StatementError(f"{type(error).__name__}: {error}", body_line) from None


def _parse(body: str, body_line: int) -> Optional[tuple[exp.Expression, Optional[NodeIndex]]]:
    """Parse one OHDSI statement as T-SQL, first turning the idioms sqlglot cannot read into trees; with the tree,
    its node index when one was made."""
    match = _IF_EXISTS_DROP.match(body)
    if match:
        return _parse_tsql(f"DROP TABLE IF EXISTS {match.group('table')}", body_line)
    match = _IF_NOT_EXISTS_CREATE.match(body)
    if match:
        create, nodes = _parse_tsql(match.group("create"), body_line)
        create.set("exists", True)
        return create, nodes
    match = _UPDATE_STATISTICS.match(body)
    if match:
        table = sqlglot.parse_one(match.group("table"), into=exp.Table, read="tsql")
        return exp.Analyze(tables=[table]), None
    return _parse_tsql(body, body_line)


def _parse_tsql(body: str, body_line: int) -> tuple[exp.Expression, NodeIndex]:
    if "CLUSTERED" in body.upper():  # a test 50 times cheaper than the two substitutions on a 3.5 MB cohort
        body = _CLUSTERED_INDEX.sub(r"\1\2", _CLUSTERED.sub(r"\1", body))
    try:
        tree = sqlglot.parse_one(body, read="tsql")
    except ParseError as error:
        detail = error.errors[0] if error.errors else {}
        line = body_line + int(detail.get("line") or 1) - 1
        around = (
            f"{detail.get('start_context', '')}>>>{detail.get('highlight', '')}<<<{detail.get('end_context', '')}"
            if detail
            else str(error)
        )
        raise _StatementError(f"{detail.get('description', 'cannot parse')} near: {around}", line) from None
    if not isinstance(tree, exp.Expression):
        raise _StatementError("empty statement", body_line)
    if isinstance(tree, exp.Alias):  # "DBCC CHECKDB" reads as the expression DBCC AS CHECKDB
        raise _StatementError(f"not a SQL statement sqlglot understands: {body[:120]}", body_line)
    nodes = NodeIndex(tree)  # the one walk of the tree: transforms and checks read it
    command = nodes.first(exp.Command)
    if command is not None:
        raise _StatementError(
            f"OHDSI SQL not supported by rcdm's translator (sqlglot cannot parse it): {command.sql('tsql')[:120]}",
            body_line,
        )
    return tree, nodes


def _check_translated(nodes: NodeIndex, target: Target) -> None:
    """Refuse a result that would still hold T-SQL-only functions on another target."""
    if target.sqlglot == "tsql":
        return
    if isinstance(nodes.root, exp.Execute):
        raise TranslationError(f"EXEC of a SQL Server procedure has no translation to '{target.name}'")
    if nodes.has(exp.ObjectId):
        raise TranslationError(f"OBJECT_ID() has no translation to '{target.name}' outside IF OBJECT_ID(...) DROP/CREATE")
    for node in nodes.nodes(exp.Anonymous):
        if node.name.upper() in _TSQL_ONLY_FUNCTIONS:
            raise TranslationError(f"{node.name.upper()}() has no translation to '{target.name}'")


_EXCEPT_OUTSIDE_QUOTES = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|\bEXCEPT\b""")


def _sql(tree: exp.Expression, target: Target, nodes: Optional[NodeIndex] = None) -> str:
    """The target's SQL for ``tree`` (whose index ``nodes`` may be given), generated in place (``copy=False``: the
    tree is not used again, and copying a 3 MB cohort's tree costs as much as generating it). Oracle before 21c has
    no EXCEPT: it is written MINUS, as SqlRender does (on the text, since sqlglot's compiled generator classes cannot
    be subclassed)."""
    if target.sqlglot != "oracle":
        has_except = False
    elif nodes is not None and nodes.root is tree:
        has_except = nodes.has(exp.Except)
    else:
        has_except = tree.find(exp.Except) is not None
    sql = generate(tree, target.sqlglot, nodes)
    if has_except:
        sql = _EXCEPT_OUTSIDE_QUOTES.sub(lambda m: m.group(1) or "MINUS", sql)
    return sql


def _object_id_name(table: exp.Table, target: Target) -> str:
    text = _sql(table, target)
    return f"tempdb..{text}" if text.startswith("#") else text


def _plsql_ignoring(statements: list[str], sqlcode: int) -> str:
    """An Oracle block running ``statements`` and ignoring error ``sqlcode`` (-942 no table, -955 exists)."""
    body = "".join(f"  EXECUTE IMMEDIATE '{s.replace(chr(39), chr(39) * 2)}';\n" for s in statements)
    return (
        f"BEGIN\n{body}EXCEPTION\n  WHEN OTHERS THEN\n    IF SQLCODE != {sqlcode} THEN\n      RAISE;\n"
        "    END IF;\nEND;"
    )


def _write(tree: exp.Expression, ctx: Context, nodes: Optional[NodeIndex] = None) -> str:
    """Generate the target's SQL, with the forms sqlglot does not write (OBJECT_ID tests, PL/SQL, WITH DISTRIBUTION)."""
    target = ctx.target
    if isinstance(tree, exp.Analyze) and target.sqlglot == "tsql":
        return f"UPDATE STATISTICS {_sql(tree.args['tables'][0], target)}"
    if isinstance(tree, exp.Drop) and tree.args.get("exists") and str(tree.args.get("kind")).upper() == "TABLE":
        if target.if_exists == "object_id":
            table = (tree.args.get("tables") or [tree.this])[0]
            tree.set("exists", False)
            return f"IF OBJECT_ID('{_object_id_name(table, target)}', 'U') IS NOT NULL {_sql(tree, target, nodes)}"
        if target.if_exists == "plsql":
            tree.set("exists", False)
            name = _sql(tree, target, nodes)[len("DROP TABLE "):]
            return _plsql_ignoring([f"TRUNCATE TABLE {name}", f"DROP TABLE {name}"], -942)
    if isinstance(tree, exp.Create) and tree.args.get("exists") and str(tree.args.get("kind")).upper() == "TABLE":
        if target.if_exists == "object_id":
            tree.set("exists", False)
            table = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            return f"IF OBJECT_ID('{_object_id_name(table, target)}', 'U') IS NULL {_write(tree, ctx, nodes)}"
        if target.if_exists == "plsql":
            tree.set("exists", False)
            return _plsql_ignoring([_sql(tree, target, nodes)], -955)
    if target.distribution == "synapse" and isinstance(tree, exp.Create) and str(tree.args.get("kind")).upper() == "TABLE":
        key = ctx.distribute_on_key
        distribution = f"HASH({key})" if key else "ROUND_ROBIN"
        if tree.expression is not None:
            table = _sql(tree.this, target)
            return f"CREATE TABLE {table} WITH (DISTRIBUTION = {distribution}) AS {_sql(tree.expression, target, nodes)}"
        if key:
            return f"{_sql(tree, target)} WITH (DISTRIBUTION = {distribution})"
    return _sql(tree, target, nodes)
