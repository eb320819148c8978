"""SqlRender's own translate cases (postgresql, duckdb, sqlite): ours translates, runs, and agrees with SqlRender's.

Each case runs twice on a fresh real database holding the same small fixture tables: once with our translation
and once with SqlRender's ``expected`` SQL; where both run, the result rows must be equal. The fixture has no
table named ``table`` (reserved in PostgreSQL), so ``FROM table`` reads ``FROM tbl`` on both sides; expression
fragments run as ``SELECT <expr> AS v FROM tbl``. On SQLite, SqlRender stores dates as epoch seconds and rcdm
as ISO text, so each side gets its own representation of the same dates, and epoch results are read back as dates.

The id sets below say explicitly what happens to each case: EXECUTED (both sides ran and agree), OURS_ONLY (our
translation ran; SqlRender's output does not run on these fixtures), PARSE_CHECKED (neither runs against the
fixtures, e.g. unknown tables or columns named ``column``; our output is parsed back by sqlglot), REFUSED (the
input is not valid SQL — SqlRender's regex rewriting passes it through, rcdm raises TranslationError).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import sqlite3
from pathlib import Path

import duckdb
import pytest
import sqlglot

from rcdm.errors import TranslationError
from rcdm.sql.split import split_sql
from rcdm.sql.translate import get_temp_table_prefix, translate

DIALECTS = ("postgresql", "duckdb", "sqlite")
CONFORMANCE = Path(__file__).resolve().parent / "data" / "sqlrender" / "conformance.jsonl"

REFUSED = {
    "duckdb:test-translate-duckdb.R:137",  # CASE without END
    "postgresql:test-translate-postgresql.R:184",  # CASE without END
    "sqlite:test-translate-sqlite.R:129",  # CASE without END
    "postgresql:test-translate-postgresql.R:123",  # unbalanced parentheses
    "postgresql:test-translate-postgresql.R:133",  # OVER CONVERT(...) without parentheses
}

_DATES = {"d1": dt.date(2020, 1, 15), "d2": dt.date(2020, 3, 20)}
_TIMES = (dt.datetime(2020, 1, 1, 8, 0, 0), dt.datetime(2020, 1, 1, 10, 0, 0))
_STATEMENT = re.compile(r"^\s*(SELECT|WITH|CREATE|DROP|INSERT|ALTER|UPDATE|ANALYZE|SET|USE|DELETE|TRUNCATE)\b", re.I)


def _cases() -> list[dict]:
    rows = [json.loads(line) for line in CONFORMANCE.read_text().splitlines()]
    return [r for r in rows if r["kind"] == "translate" and r["dialect"] in DIALECTS]


def _id(case: dict) -> str:
    return f"{case['dialect']}:{case['source'].split('/')[-1]}"


def _prepare(sql: str) -> str:
    sql = re.sub(r'(?i)\bFROM\s+(table\b|"table")', "FROM tbl", sql).strip()
    if not _STATEMENT.match(sql):
        sql = f"SELECT {sql.rstrip(';')} AS v FROM tbl"
    return sql


def _setup_statements(date_value) -> list[tuple[str, tuple]]:
    d1, d2 = date_value(_DATES["d1"]), date_value(_DATES["d2"])
    return [
        ("CREATE TABLE tbl (a VARCHAR(20), b VARCHAR(20), x INT, start_date DATE, date1 DATE, date2 DATE, "
         "col1 INT, col2 INT, number FLOAT, base FLOAT, name VARCHAR(20), speed FLOAT)", ()),
        ("INSERT INTO tbl VALUES ('12', '7', 1, ?, ?, ?, 1, 2, 8.0, 2.0, 'n', 1.5)", (d1, d1, d2)),
        ("INSERT INTO tbl VALUES ('x1', '3', 2, ?, ?, ?, 3, 4, 100.0, 10.0, 'm', 2.5)", (d2, d2, d1)),
        ("CREATE TABLE my_table (name VARCHAR(20), a INT, b INT)", ()),
        ("INSERT INTO my_table VALUES ('one', 1, 1), ('two', 1, 2), ('three', 3, 3)", ()),
        ("CREATE TABLE drug_era (drug_era_start_date DATE, drug_era_end_date DATE)", ()),
        ("INSERT INTO drug_era VALUES (?, ?)", (d1, d2)),
        ("CREATE TABLE drug_exposure (drug_exposure_start_datetime TIMESTAMP, drug_exposure_end_datetime TIMESTAMP)", ()),
        ("INSERT INTO drug_exposure VALUES (?, ?)", tuple(date_value(t) for t in _TIMES)),
        ("CREATE TABLE a (a INT)", ()),
        ("INSERT INTO a VALUES (1), (2)", ()),
        ("CREATE TABLE b (a INT)", ()),
        ("INSERT INTO b VALUES (2), (3)", ()),
        ("CREATE TABLE x (y INT)", ()),
        ("INSERT INTO x VALUES (1), (5)", ()),
        ("CREATE TABLE z (y INT)", ()),
        ("INSERT INTO z VALUES (9)", ()),
        ("CREATE TABLE person (person_id INT)", ()),
        ("CREATE TEMP TABLE my_temp (name VARCHAR(20))", ()),
        ("INSERT INTO my_temp VALUES ('t')", ()),
        ("CREATE TEMP TABLE tmp (name VARCHAR(20))", ()),
        ("INSERT INTO tmp VALUES ('u')", ()),
    ]


def _normalize(value):
    if isinstance(value, decimal.Decimal):
        return round(float(value), 6)
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10] if not isinstance(value, dt.datetime) or value.time() == dt.time() else value.isoformat()
    if value is not None and hasattr(value, "hex") and not isinstance(value, (int, str)):
        return "uuid"
    return value


def _rows(rows) -> list[tuple]:
    return sorted((tuple(_normalize(v) for v in row) for row in rows), key=repr)


def _run_duckdb(sql: str, date_value=lambda d: d):
    con = duckdb.connect()
    for statement, params in _setup_statements(date_value):
        con.execute(statement, list(params))
    result = []
    for statement in split_sql(sql):
        cursor = con.execute(statement)
        result = cursor.fetchall() if cursor.description else []
    return _rows(result)


def _run_sqlite(sql: str, epoch: bool):
    def date_value(d):
        if epoch:
            moment = d if isinstance(d, dt.datetime) else dt.datetime(d.year, d.month, d.day)
            return float(moment.replace(tzinfo=dt.timezone.utc).timestamp())
        return d.isoformat(sep=" ") if isinstance(d, dt.datetime) else d.isoformat()

    con = sqlite3.connect(":memory:")
    for statement, params in _setup_statements(date_value):
        con.execute(statement, params)
    result = []
    for statement in split_sql(sql):
        cursor = con.execute(statement)
        result = cursor.fetchall() if cursor.description else []
    if epoch:  # SqlRender's SQLite dates are epoch seconds: read them back as dates to compare
        result = [
            tuple(dt.datetime.fromtimestamp(v, dt.timezone.utc).date() if isinstance(v, float) and v > 1e8 else v for v in row)
            for row in result
        ]
    return _rows(result)


def _run_postgres(url, sql: str):
    import psycopg

    con = psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True)
    try:
        schema = f"c_{get_temp_table_prefix()}_{abs(hash(sql)) % 10**8}"
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"SET search_path TO {schema}")
        for statement, params in _setup_statements(lambda d: d):
            con.execute(statement.replace("?", "%s"), params)
        result = []
        for statement in split_sql(sql):
            cursor = con.execute(statement)
            result = cursor.fetchall() if cursor.description else []
        con.execute(f"DROP SCHEMA {schema} CASCADE")
        return _rows(result)
    finally:
        con.close()


def _run(dialect: str, sql: str, ours: bool, pg_url):
    if dialect == "duckdb":
        return _run_duckdb(sql)
    if dialect == "sqlite":
        return _run_sqlite(sql, epoch=not ours)
    return _run_postgres(pg_url, sql)


@pytest.fixture(scope="module")
def pg_url(postgres_url):
    from sqlalchemy.engine import make_url

    return make_url(postgres_url)


# SQLite cases where SqlRender's epoch-seconds dates and rcdm's ISO dates must differ: ours is checked by hand.
BY_HAND = {
    "sqlite:test-translate-sqlite.R:101": lambda: [("20200115",), ("20200320",)],
    "sqlite:test-translate-sqlite.R:152": lambda: [(dt.date.today().isoformat(),)] * 2,
}


def _outcome(case: dict, pg_url) -> str:
    """How one case ends: "refused", "ours-only", "executed" (same rows both ways) or "parse-checked"; raises
    AssertionError when ours fails where SqlRender's SQL runs, or the rows differ."""
    case_id = _id(case)
    if case_id in REFUSED:
        with pytest.raises(TranslationError):
            translate(case["sql"], case["dialect"])
        return "refused"
    ours = translate(case["sql"], case["dialect"])
    for statement in split_sql(ours):
        sqlglot.parse_one(statement, read={"postgresql": "postgres"}.get(case["dialect"], case["dialect"]))
    reference = case["expected"]
    if case["uses_session_id"]:
        reference = reference.replace("%session_id%", get_temp_table_prefix())
    if not ours:  # dropped on this target (e.g. ALTER COLUMN on SQLite): nothing to run
        return "ours-only"
    if case_id in BY_HAND:
        assert _run(case["dialect"], _prepare(ours), True, pg_url) == BY_HAND[case_id](), case_id
        return "executed"
    try:
        got = _run(case["dialect"], _prepare(ours), True, pg_url)
    except Exception as error:  # noqa: BLE001 - classified below
        got = error
    try:
        want = _run(case["dialect"], _prepare(reference or ""), False, pg_url) if reference else None
    except Exception as error:  # noqa: BLE001
        want = error
    if isinstance(got, Exception):
        assert want is None or isinstance(want, Exception), \
            f"{case_id}: SqlRender's SQL runs but ours fails: {got}\nours: {ours}"
        return "parse-checked"
    if want is None or isinstance(want, Exception):
        return "ours-only"
    same = len(got) == len(want) if any(w in case["sql"].upper() for w in ("NEWID", "RAND(")) else got == want
    assert same, f"{case_id}: ours {got} != SqlRender {want}\nours: {ours}\nreference: {reference}"
    return "executed"


def _expected_outcome(case_id: str) -> str | None:
    kinds = {"refused": REFUSED, "executed": EXECUTED_IDS, "ours-only": OURS_ONLY_IDS,
             "parse-checked": PARSE_CHECKED_IDS}
    found = [kind for kind, ids in kinds.items() if case_id in ids]
    return found[0] if len(found) == 1 else None


def test_every_case_has_one_expected_outcome() -> None:
    ids = {_id(case) for case in _cases()}
    assert len(ids) == len(_cases()) == 115
    assert ids == REFUSED | EXECUTED_IDS | OURS_ONLY_IDS | PARSE_CHECKED_IDS
    assert all(_expected_outcome(i) is not None for i in ids)


@pytest.mark.parametrize("case", _cases(), ids=_id)
def test_conformance_translate_case(case: dict, pg_url) -> None:
    assert _outcome(case, pg_url) == _expected_outcome(_id(case))


# Both sides ran on the fixtures and gave the same rows (or, for BY_HAND, ours gave the rows written there).
EXECUTED_IDS = {
    'duckdb:test-translate-duckdb.R:101',
    'duckdb:test-translate-duckdb.R:109',
    'duckdb:test-translate-duckdb.R:114',
    'duckdb:test-translate-duckdb.R:122',
    'duckdb:test-translate-duckdb.R:130',
    'duckdb:test-translate-duckdb.R:142',
    'duckdb:test-translate-duckdb.R:160',
    'duckdb:test-translate-duckdb.R:165',
    'duckdb:test-translate-duckdb.R:170',
    'duckdb:test-translate-duckdb.R:186',
    'duckdb:test-translate-duckdb.R:202',
    'duckdb:test-translate-duckdb.R:21',
    'duckdb:test-translate-duckdb.R:218',
    'duckdb:test-translate-duckdb.R:223',
    'duckdb:test-translate-duckdb.R:240',
    'duckdb:test-translate-duckdb.R:245',
    'duckdb:test-translate-duckdb.R:26',
    'duckdb:test-translate-duckdb.R:74',
    'duckdb:test-translate-duckdb.R:89',
    'duckdb:test-translate-duckdb.R:94',
    'postgresql:test-translate-postgresql.R:106',
    'postgresql:test-translate-postgresql.R:141',
    'postgresql:test-translate-postgresql.R:158',
    'postgresql:test-translate-postgresql.R:164',
    'postgresql:test-translate-postgresql.R:169',
    'postgresql:test-translate-postgresql.R:174',
    'postgresql:test-translate-postgresql.R:189',
    'postgresql:test-translate-postgresql.R:194',
    'postgresql:test-translate-postgresql.R:204',
    'postgresql:test-translate-postgresql.R:21',
    'postgresql:test-translate-postgresql.R:224',
    'postgresql:test-translate-postgresql.R:287',
    'postgresql:test-translate-postgresql.R:31',
    'postgresql:test-translate-postgresql.R:36',
    'postgresql:test-translate-postgresql.R:49',
    'postgresql:test-translate-postgresql.R:56',
    'postgresql:test-translate-postgresql.R:61',
    'postgresql:test-translate-postgresql.R:66',
    'sqlite:test-translate-sqlite.R:101',
    'sqlite:test-translate-sqlite.R:106',
    'sqlite:test-translate-sqlite.R:114',
    'sqlite:test-translate-sqlite.R:122',
    'sqlite:test-translate-sqlite.R:134',
    'sqlite:test-translate-sqlite.R:152',
    'sqlite:test-translate-sqlite.R:157',
    'sqlite:test-translate-sqlite.R:162',
    'sqlite:test-translate-sqlite.R:178',
    'sqlite:test-translate-sqlite.R:194',
    'sqlite:test-translate-sqlite.R:21',
    'sqlite:test-translate-sqlite.R:210',
    'sqlite:test-translate-sqlite.R:215',
    'sqlite:test-translate-sqlite.R:220',
    'sqlite:test-translate-sqlite.R:225',
    'sqlite:test-translate-sqlite.R:230',
    'sqlite:test-translate-sqlite.R:235',
    'sqlite:test-translate-sqlite.R:249',
    'sqlite:test-translate-sqlite.R:257',
    'sqlite:test-translate-sqlite.R:26',
    'sqlite:test-translate-sqlite.R:66',
    'sqlite:test-translate-sqlite.R:81',
    'sqlite:test-translate-sqlite.R:86',
    'sqlite:test-translate-sqlite.R:93',
}
# Ours ran (or is dropped on purpose); SqlRender's reference has nothing to compare (a warning-only case, SELECT 0).
OURS_ONLY_IDS = {
    'postgresql:test-translateSql.R:4',
    'sqlite:test-translate-sqlite.R:278',
}
# Neither side runs on these fixtures (unknown tables/columns/functions, a column named "column", ...): parsed only.
PARSE_CHECKED_IDS = {
    'duckdb:test-translate-duckdb.R:150',
    'duckdb:test-translate-duckdb.R:155',
    'duckdb:test-translate-duckdb.R:16',
    'duckdb:test-translate-duckdb.R:178',
    'duckdb:test-translate-duckdb.R:194',
    'duckdb:test-translate-duckdb.R:210',
    'duckdb:test-translate-duckdb.R:228',
    'duckdb:test-translate-duckdb.R:233',
    'duckdb:test-translate-duckdb.R:31',
    'duckdb:test-translate-duckdb.R:39',
    'duckdb:test-translate-duckdb.R:49',
    'duckdb:test-translate-duckdb.R:57',
    'duckdb:test-translate-duckdb.R:64',
    'duckdb:test-translate-duckdb.R:81',
    'postgresql:test-translate-postgresql.R:113',
    'postgresql:test-translate-postgresql.R:148',
    'postgresql:test-translate-postgresql.R:214',
    'postgresql:test-translate-postgresql.R:219',
    'postgresql:test-translate-postgresql.R:240',
    'postgresql:test-translate-postgresql.R:256',
    'postgresql:test-translate-postgresql.R:26',
    'postgresql:test-translate-postgresql.R:261',
    'postgresql:test-translate-postgresql.R:266',
    'postgresql:test-translate-postgresql.R:271',
    'postgresql:test-translate-postgresql.R:277',
    'postgresql:test-translate-postgresql.R:282',
    'postgresql:test-translate-postgresql.R:42',
    'postgresql:test-translate-postgresql.R:73',
    'postgresql:test-translate-postgresql.R:80',
    'postgresql:test-translate-postgresql.R:88',
    'postgresql:test-translate-postgresql.R:96',
    'sqlite:test-translate-sqlite.R:142',
    'sqlite:test-translate-sqlite.R:147',
    'sqlite:test-translate-sqlite.R:16',
    'sqlite:test-translate-sqlite.R:170',
    'sqlite:test-translate-sqlite.R:186',
    'sqlite:test-translate-sqlite.R:202',
    'sqlite:test-translate-sqlite.R:241',
    'sqlite:test-translate-sqlite.R:262',
    'sqlite:test-translate-sqlite.R:267',
    'sqlite:test-translate-sqlite.R:273',
    'sqlite:test-translate-sqlite.R:31',
    'sqlite:test-translate-sqlite.R:41',
    'sqlite:test-translate-sqlite.R:49',
    'sqlite:test-translate-sqlite.R:56',
    'sqlite:test-translate-sqlite.R:73',
}
