"""A cohort-like OHDSI script, translated and run for real on DuckDB, SQLite and PostgreSQL: same rows everywhere.

Uses the idioms OHDSI packages rely on: temp tables, SELECT ... INTO #t, IF OBJECT_ID(...) DROP/CREATE, DATEADD,
DATEDIFF, DATEFROMPARTS, EOMONTH, YEAR/MONTH, TOP, CASE, ISNULL, COUNT_BIG, string +, UPDATE STATISTICS.
"""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3

import duckdb
import pytest

from rcdm.sql.split import split_sql
from rcdm.sql.translate import get_temp_table_prefix, translate

SETUP = [
    "CREATE TABLE person (person_id INT, gender VARCHAR(1))",
    "INSERT INTO person VALUES (1, 'F'), (2, 'M'), (3, 'F')",
    "CREATE TABLE observation_period (person_id INT, observation_period_start_date DATE, observation_period_end_date DATE)",
    "INSERT INTO observation_period VALUES (1, '2019-01-01', '2020-12-31'), (2, '2021-01-01', NULL), "
    "(3, '2020-05-01', '2021-01-01')",
    "CREATE TABLE condition_occurrence (person_id INT, condition_concept_id INT, condition_start_date DATE)",
    "INSERT INTO condition_occurrence VALUES (1, 201826, '2020-01-31'), (1, 1, '2020-03-01'), "
    "(2, 201826, '2021-02-15'), (3, 201826, '2020-05-05')",
]

SCRIPT = """
IF OBJECT_ID('tempdb..#first_dx', 'U') IS NOT NULL DROP TABLE #first_dx;
SELECT person_id, MIN(condition_start_date) AS index_date
INTO #first_dx
FROM condition_occurrence
WHERE condition_concept_id = 201826
GROUP BY person_id;

IF OBJECT_ID('cohort_out', 'U') IS NULL
CREATE TABLE cohort_out (person_id BIGINT NOT NULL, label VARCHAR(100), index_date DATE, end_date DATE,
  days_observed INT, eom DATE, y INT, m INT, first_of_year DATE, n BIGINT);

WITH qualified AS (
  SELECT d.person_id, d.index_date, op.observation_period_end_date
  FROM #first_dx d
  JOIN observation_period op ON op.person_id = d.person_id
  WHERE DATEADD(day, 30, op.observation_period_start_date) <= d.index_date
)
SELECT TOP 100 q.person_id,
  'P' + CAST(q.person_id AS VARCHAR) + CASE WHEN p.gender = 'F' THEN '-F' ELSE '-M' END AS label,
  q.index_date,
  DATEADD(month, 1, q.index_date) AS end_date,
  DATEDIFF(day, q.index_date, ISNULL(q.observation_period_end_date, DATEFROMPARTS(2030, 1, 1))) AS days_observed,
  EOMONTH(q.index_date) AS eom,
  YEAR(q.index_date) AS y,
  MONTH(q.index_date) AS m,
  DATEFROMPARTS(YEAR(q.index_date), 1, 1) AS first_of_year,
  (SELECT COUNT_BIG(*) FROM condition_occurrence c WHERE c.person_id = q.person_id) AS n
INTO #cohort
FROM qualified q
JOIN person p ON p.person_id = q.person_id
ORDER BY q.person_id;

INSERT INTO cohort_out SELECT * FROM #cohort;
UPDATE STATISTICS cohort_out;
IF OBJECT_ID('tempdb..#cohort', 'U') IS NOT NULL DROP TABLE #cohort;
IF OBJECT_ID('tempdb..#first_dx', 'U') IS NOT NULL DROP TABLE #first_dx;
"""

QUERY = "SELECT person_id, label, index_date, end_date, days_observed, eom, y, m, first_of_year, n FROM cohort_out ORDER BY person_id;"

EXPECTED = [
    (1, "P1-F", "2020-01-31", "2020-02-29", 335, "2020-01-31", 2020, 1, "2020-01-01", 2),
    (2, "P2-M", "2021-02-15", "2021-03-15", (dt.date(2030, 1, 1) - dt.date(2021, 2, 15)).days,
     "2021-02-28", 2021, 2, "2021-01-01", 1),
]


def _normalize(rows) -> list[tuple]:
    def value(v):
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()[:10]
        if isinstance(v, (decimal.Decimal, float)):
            return int(v)
        return v

    return [tuple(value(v) for v in row) for row in rows]


def _run(execute, dialect: str) -> list[tuple]:
    for statement in SETUP:
        execute(statement)
    for attempt in range(2):  # twice: the DROP/CREATE idioms make the script re-runnable
        if attempt:
            execute("DELETE FROM cohort_out")
        for statement in split_sql(translate(SCRIPT, dialect)):
            execute(statement)
    return _normalize(execute(split_sql(translate(QUERY, dialect))[0]))


def test_duckdb() -> None:
    con = duckdb.connect()

    def execute(sql):
        cursor = con.execute(sql)
        return cursor.fetchall() if cursor.description else []

    assert _run(execute, "duckdb") == EXPECTED


def test_sqlite() -> None:
    con = sqlite3.connect(":memory:")

    def execute(sql):
        cursor = con.execute(sql)
        return cursor.fetchall() if cursor.description else []

    assert _run(execute, "sqlite") == EXPECTED


def test_postgresql(postgres_url) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    con = psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True)
    schema = f"idioms_{get_temp_table_prefix()}"
    try:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")
        con.execute(f"SET search_path TO {schema}")

        def execute(sql):
            cursor = con.execute(sql)
            return cursor.fetchall() if cursor.description else []

        assert _run(execute, "postgresql") == EXPECTED
    finally:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.close()


@pytest.mark.parametrize("dialect", ["oracle", "bigquery", "spark", "snowflake"])
def test_temp_emulation(dialect: str) -> None:
    prefix = get_temp_table_prefix()
    sql = translate(SCRIPT, dialect, temp_emulation_schema="scratch")
    assert "#" not in sql
    assert f"scratch.{prefix}first_dx" in sql
    assert f"scratch.{prefix}cohort" in sql
    # Snowflake's emulated tables are session TEMPORARY tables in the emulation schema, as SqlRender writes them
    assert ("TEMPORARY" in sql.upper()) == (dialect == "snowflake")


RESERVED_SCRIPT = (
    "CREATE TABLE {s}.t (offset VARCHAR(10), id INT); INSERT INTO {s}.t (offset, id) VALUES ('a', 1); "
    "SELECT offset FROM {s}.t;"
)
YYYYMMDD_SCRIPT = (
    "CREATE TABLE {s}.co (id INT, d DATE); "
    "INSERT INTO {s}.co (id, d) VALUES (1, '2009-12-31'), (2, '2010-01-01'), (3, '2010-06-15'), (4, '2011-02-01'); "
    "SELECT COUNT(*) AS n FROM {s}.co WHERE d >= '20100101' AND '20110101' > d AND d <> '20100615' "
    "OR d BETWEEN '20110101' AND '20110201';"
)
DATEDIFF_MONTH = (
    "SELECT DATEDIFF(month, '2020-03-01', '2020-01-31') AS a, DATEDIFF(month, '2020-01-31', '2020-03-01') AS b, "
    "DATEDIFF(month, '2020-03-31', '2020-01-31') AS c, DATEDIFF(month, '2020-03-15', '2020-01-16') AS d, "
    "DATEDIFF(month, '2020-03-15', '2020-01-15') AS e;"
)
# (rows of RESERVED_SCRIPT, rows of YYYYMMDD_SCRIPT, rows of DATEDIFF_MONTH) as PostgreSQL gives them
CHECKS = ([("a",)], [(2,)], [(-1, 1, -2, -1, -2)])


def _run_checks(execute, dialect: str, schema: str) -> tuple:
    results = []
    for script in (RESERVED_SCRIPT, YYYYMMDD_SCRIPT, DATEDIFF_MONTH):
        rows = []
        for statement in split_sql(translate(script.format(s=schema), dialect)):
            rows = execute(statement)
        results.append([tuple(int(v) if isinstance(v, (decimal.Decimal, float)) else v for v in r) for r in rows])
    return tuple(results)


def test_reserved_names_yyyymmdd_and_month_diff_duckdb() -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA s")

    def execute(sql):
        cursor = con.execute(sql)
        return cursor.fetchall() if cursor.description else []

    assert _run_checks(execute, "duckdb", "s") == CHECKS


def test_reserved_names_yyyymmdd_and_month_diff_sqlite() -> None:
    con = sqlite3.connect(":memory:")
    con.execute("ATTACH DATABASE ':memory:' AS s")

    def execute(sql):
        cursor = con.execute(sql)
        return cursor.fetchall() if cursor.description else []

    assert _run_checks(execute, "sqlite", "s") == CHECKS


def test_reserved_names_yyyymmdd_and_month_diff_postgresql(postgres_url) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    con = psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True)
    schema = f"reserved_{get_temp_table_prefix()}"
    try:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")

        def execute(sql):
            cursor = con.execute(sql)
            return cursor.fetchall() if cursor.description else []

        assert _run_checks(execute, "postgresql", schema) == CHECKS
    finally:
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.close()
