"""Criterion (c) of the SqlRender differential: on a target that runs here, both translations execute with the
same results.

For one statement translated by rcdm and by SqlRender, a small schema is made for the tables the two statements
read (every table they name and do not create, with every column name they use, typed by OMOP naming: ``*_id``
BIGINT, ``*_date`` DATE, ``*_datetime`` TIMESTAMP, counts and values numeric, the rest text) and filled with the
same five rows (two share their ids, one has NULLs, one repeats another, one has a leap day, a year-end timestamp
and an empty string). Each side runs on its own fresh copy; they agree when both run and leave the same
result: the rows the statement returns (compared in order when it has an ORDER BY), and every table's columns,
types and rows afterwards. A query that returns no row proves nothing and does
not count. DuckDB (in memory), SQLite (in memory, schemas attached) and PostgreSQL (a server from
``tests/pg_server.py``, one connection per side) run it; Spark would need its server for minutes, so not here.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

SCHEMAS = ("cdm", "results", "scratch", "vocab")
RUNNABLE = ("duckdb", "sqlite", "postgresql")
_READ = {"duckdb": "duckdb", "sqlite": "sqlite", "postgresql": "postgres"}
_NUMERIC = re.compile(r"(_id|_count|count_value|_of_birth|days_supply|quantity|refills|value_as_number|range_low|"
                      r"range_high|_value|^n|^id|^cnt|_number|_ms|_days|_num)$")
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "id", "int", "float", "date", "timestamp", "text"


def _kind(name: str) -> str:
    lower = name.lower()
    if lower.endswith("_datetime") or lower.endswith("_time"):
        return "timestamp"
    if lower.endswith("_date") or lower in ("d", "dt", "date"):
        return "date"
    if lower in ("value_as_number", "range_low", "range_high") or lower.endswith("_ms"):
        return "float"
    if lower.endswith("_id") or lower == "id":
        return "id"
    if _NUMERIC.search(lower) and not lower.endswith("source_value"):
        return "int"
    return "text"


_VALUES = {  # rows 1 and 2 share their ids (one partition, one join key) and row 2 has NULLs, so order matters;
    # row 4 repeats row 3 (duplicates: DISTINCT, COUNT, UNION), row 5 has a leap day, a year-end timestamp and an
    # empty string (date arithmetic across month and year ends, '' vs NULL); its numbers stay positive, as zero or a
    # negative number makes LN, LOG and division fail on both sides, which proves nothing
    "id": (1, 1, 2, 2, 3),
    "int": (3, None, 7, 7, 1),
    "float": (1.5, None, 2.25, 2.25, 0.5),
    "date": (dt.date(2020, 1, 15), None, dt.date(2021, 3, 20), dt.date(2021, 3, 20), dt.date(2020, 2, 29)),
    "timestamp": (dt.datetime(2020, 1, 15, 8, 30), None, dt.datetime(2021, 3, 20, 23, 5),
                  dt.datetime(2021, 3, 20, 23, 5), dt.datetime(2019, 12, 31, 23, 59, 59)),
    "text": ("a1", None, "20200131", "20200131", ""),
}
_TYPES = {
    "duckdb": {"id": "BIGINT", "int": "BIGINT", "float": "DOUBLE", "date": "DATE", "timestamp": "TIMESTAMP",
               "text": "VARCHAR"},
    "postgresql": {"id": "BIGINT", "int": "BIGINT", "float": "DOUBLE PRECISION", "date": "DATE",
                   "timestamp": "TIMESTAMP", "text": "VARCHAR"},
    "sqlite": {"id": "INTEGER", "int": "INTEGER", "float": "REAL", "date": "TEXT", "timestamp": "TEXT", "text": "TEXT"},
}


def _tables(trees: list[exp.Expression]) -> dict[tuple[str, str], list[Column]]:
    """The tables the statements read but do not create, each with every column name the statements use."""
    created: set[tuple[str, str]] = set()
    ctes: set[str] = set()
    names: list[str] = []
    tables: set[tuple[str, str]] = set()
    for tree in trees:
        if isinstance(tree, exp.Create):
            target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
            if isinstance(target, exp.Table):
                created.add((target.db.lower(), target.name.lower()))
        ctes |= {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if table.name:
                tables.add((table.db.lower(), table.name.lower()))
        for column in tree.find_all(exp.Column):
            names.append(column.name.lower())
        for schema in tree.find_all(exp.Schema):
            if isinstance(schema.parent, exp.Insert):
                names.extend(c.name.lower() for c in schema.expressions if isinstance(c, exp.Identifier))
    columns = [Column(n, _kind(n)) for n in dict.fromkeys(n for n in names if n and n != "*")]
    columns = columns or [Column("id", "id")]
    return {t: columns for t in sorted(tables - created) if not (not t[0] and t[1] in ctes)}


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, decimal.Decimal):
        return round(float(value), 6)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def _rows(rows: Any, ordered: bool) -> Rows:
    out = [tuple(_normal(v) for v in row) for row in rows]
    return out if ordered else sorted(out, key=repr)


@dataclass
class _Side:
    """One database, fresh for one side: ``run`` executes a statement (rows or None), ``snapshot`` describes it."""

    run: Callable[[str], Rows | None]
    snapshot: Callable[[], list[Any]]
    close: Callable[[], None]


def _runner(con: Any) -> Callable[[str], Rows | None]:
    """Run one statement on a DB-API-like connection: its rows, or None for a statement without a result."""

    def run(sql: str) -> Rows | None:
        cur = con.execute(sql)
        return cur.fetchall() if cur.description else None

    return run


def _duckdb_side(tables: dict[tuple[str, str], list[Column]]) -> _Side:
    import duckdb

    con = duckdb.connect()
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA {schema}")
    _fill(lambda sql, params=None: con.execute(sql, params) if params else con.execute(sql), tables, "duckdb")

    def snapshot() -> list[Any]:
        listing = con.execute(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog IN ('memory', 'temp') ORDER BY 1, 2, ordinal_position").fetchall()
        return listing + [(s, t, _rows(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall(), False))
                          for s, t in sorted({(r[0], r[1]) for r in listing})]

    return _Side(_runner(con), snapshot, con.close)


def _sqlite_side(tables: dict[tuple[str, str], list[Column]]) -> _Side:
    con = sqlite3.connect(":memory:", detect_types=0)
    for schema in SCHEMAS:
        con.execute(f"ATTACH DATABASE ':memory:' AS {schema}")
    _fill(lambda sql, params=None: con.execute(sql, params or ()), tables, "sqlite")

    def snapshot() -> list[Any]:
        out: list[Any] = []
        for schema in ("main", "temp", *SCHEMAS):
            master = "sqlite_temp_master" if schema == "temp" else f"{schema}.sqlite_master"
            for (name,) in con.execute(f"SELECT name FROM {master} WHERE type = 'table' ORDER BY name").fetchall():
                info = con.execute(f'PRAGMA {schema}.table_info("{name}")').fetchall()
                out.append((schema, name, [(c[1], c[2].upper()) for c in info],
                            _rows(con.execute(f'SELECT * FROM {schema}."{name}"').fetchall(), False)))
        return out

    return _Side(_runner(con), snapshot, con.close)


def _postgres_side(url: str) -> Callable[[dict[tuple[str, str], list[Column]]], _Side]:
    import psycopg

    def make(tables: dict[tuple[str, str], list[Column]]) -> _Side:
        con = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        for schema in (*SCHEMAS, "public"):
            con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            con.execute(f"CREATE SCHEMA {schema}")
        con.execute("SET search_path TO public")
        _fill(lambda sql, params=None: con.execute(sql, params), tables, "postgresql")

        def snapshot() -> list[Any]:
            listing = con.execute(
                "SELECT CASE WHEN table_schema LIKE 'pg_temp%%' THEN 'temp' ELSE table_schema END, table_name, "
                "column_name, data_type FROM information_schema.columns WHERE table_schema IN "
                "('public', 'cdm', 'results', 'scratch', 'vocab') "
                "OR table_schema = pg_my_temp_schema()::regnamespace::text "
                "ORDER BY 1, 2, ordinal_position").fetchall()
            names = sorted({(r[0], r[1]) for r in listing})
            contents = [(s, t, _rows(con.execute(f'SELECT * FROM {"pg_temp" if s == "temp" else s}."{t}"').fetchall(),
                                     False)) for s, t in names]
            return listing + contents

        return _Side(_runner(con), snapshot, con.close)

    return make


def _fill(execute: Callable[..., Any], tables: dict[tuple[str, str], list[Column]], dialect: str) -> None:
    types = _TYPES[dialect]
    mark = "%s" if dialect == "postgresql" else "?"
    for (schema, name), columns in tables.items():
        qualified = f'{schema}."{name}"' if schema else f'"{name}"'
        if schema and schema not in SCHEMAS:
            execute(f"CREATE SCHEMA IF NOT EXISTS {schema}") if dialect != "sqlite" else execute(
                f"ATTACH DATABASE ':memory:' AS {schema}")
        execute(f"CREATE TABLE {qualified} ({', '.join(f'{c.name} {types[c.kind]}' for c in columns)})")
        for row in range(len(_VALUES["id"])):
            values = [_VALUES[c.kind][row] for c in columns]
            if dialect == "sqlite":
                values = [v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat()
                          if isinstance(v, dt.date) else v for v in values]
            execute(f"INSERT INTO {qualified} VALUES ({', '.join([mark] * len(columns))})", values)


def _result(make: Callable[[dict[tuple[str, str], list[Column]]], _Side], tables: dict[tuple[str, str], list[Column]],
            sql: str, ordered: bool) -> tuple[Rows | None, list[Any]] | None:
    try:
        side = make(tables)
    except Exception:  # noqa: BLE001 - a schema this statement's names cannot make: no evidence
        return None
    try:
        rows = side.run(sql)
        return (_rows(rows, ordered) if rows is not None else None), side.snapshot()
    except Exception:  # noqa: BLE001 - the statement does not run here
        return None
    finally:
        side.close()


def same_results(dialect: str, ours: str, theirs: str, postgres_url: str | None = None) -> bool:
    """Whether both statements run on ``dialect`` with the same rows and the same tables afterwards (criterion (c))."""
    if dialect not in RUNNABLE or (dialect == "postgresql" and not postgres_url):
        return False
    read = _READ[dialect]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trees = [sqlglot.parse_one(s.strip().rstrip(";"), read=read) for s in (ours, theirs)]
    except Exception:  # noqa: BLE001 - unreadable: cannot build its schema
        return False
    if any(t is None or isinstance(t, exp.Command) for t in trees):
        return False
    tables = _tables(trees)
    ordered = bool(trees[0].args.get("order"))
    make = {"duckdb": _duckdb_side, "sqlite": _sqlite_side}.get(dialect) or _postgres_side(postgres_url or "")
    mine = _result(make, tables, ours.strip().rstrip(";"), ordered)
    other = _result(make, tables, theirs.strip().rstrip(";"), ordered)
    if mine is None or other is None or mine != other:
        return False
    rows, _ = mine
    return rows is None or len(rows) > 0


def postgres_for_script() -> Iterator[str | None]:
    """A PostgreSQL URL for the rebuild script: $RCDM_TEST_POSTGRES_URL or a server started for the run."""
    import os

    given = os.environ.get("RCDM_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    from pg_server import start_server

    try:
        server = start_server()
    except RuntimeError:
        yield None
        return
    try:
        yield server.url
    finally:
        server.stop()
