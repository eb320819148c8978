"""DATEDIFF and DATEADD by month and year mean one thing on every engine that runs here (issue 17).

A matrix of date pairs around month ends, leap days, year ends and negative spans goes through one OHDSI SQL
query, translated by rcdm and by SqlRender (duckcdm) and executed on DuckDB, SQLite, PostgreSQL and Spark:

- DATEDIFF(month, a, b) counts whole months, toward zero either way (PostgreSQL's AGE; SqlRender's meaning on
  every target it translates it for; SQL Server, Synapse, Redshift and Snowflake run their own DATEDIFF, which
  counts month boundaries, as SqlRender leaves it there);
- DATEDIFF(year, a, b) counts year boundaries crossed (SQL Server's meaning, SqlRender's EXTRACT(YEAR) difference
  on every target but Spark, where it passes DATEDIFF(year) through and Spark counts whole years);
- DATEADD(month|year, n, d) clamps to the month's last day as SQL Server does (Jan 31 + 1 month = Feb 29 in 2020,
  Feb 29 + 1 year = Feb 28).

Both translations run on the same rows; where SqlRender's Spark or SQLite translation means something else, the test
says so by the pairs on which it differs.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import sqlglot
from duckcdm import sqlrender

from rcdm.db import connect, query_statement
from rcdm.sql.translate import translate

D = dt.date
PAIRS = [  # (a, b)
    (D(2020, 1, 31), D(2020, 2, 29)),  # month end to a shorter month's end (leap year)
    (D(2021, 1, 31), D(2021, 2, 28)),
    (D(2020, 1, 30), D(2020, 2, 29)),
    (D(2020, 1, 31), D(2020, 3, 1)),
    (D(2020, 2, 29), D(2020, 3, 31)),
    (D(2020, 2, 29), D(2020, 3, 29)),
    (D(2020, 2, 29), D(2021, 2, 28)),  # leap day to the next year's Feb 28
    (D(2019, 2, 28), D(2020, 2, 29)),
    (D(2020, 3, 31), D(2020, 4, 30)),
    (D(2020, 1, 15), D(2020, 2, 15)),
    (D(2020, 1, 15), D(2020, 2, 14)),
    (D(2019, 12, 31), D(2020, 1, 1)),  # a year boundary, one day apart
    (D(2019, 1, 1), D(2020, 12, 31)),
    (D(2020, 5, 17), D(2020, 5, 17)),
    (D(2020, 2, 29), D(2020, 1, 31)),  # negative spans
    (D(2020, 3, 1), D(2020, 1, 31)),
    (D(2020, 2, 15), D(2020, 1, 1)),
    (D(2020, 3, 31), D(2020, 2, 29)),
    (D(2021, 1, 1), D(2020, 12, 31)),
    (D(2021, 2, 28), D(2020, 2, 29)),
]


def whole_months(a: dt.date, b: dt.date) -> int:
    """Whole months from a to b, toward zero (PostgreSQL's AGE)."""
    n = (b.year * 12 + b.month) - (a.year * 12 + a.month)
    if b >= a:
        return n - (b.day < a.day)
    return n + (b.day > a.day)


def add_months(d: dt.date, n: int) -> dt.date:
    """SQL Server's DATEADD(month, n, d): the same day, clamped to the last day of the month."""
    month = d.year * 12 + d.month - 1 + n
    year, month = divmod(month, 12)
    for day in range(d.day, 27, -1):
        try:
            return D(year, month + 1, day)
        except ValueError:
            continue
    return D(year, month + 1, d.day)


EXPECTED = [
    (i, whole_months(a, b), b.year - a.year, add_months(a, 1), add_months(a, 12), add_months(a, -1))
    for i, (a, b) in enumerate(PAIRS, start=1)
]


def _query() -> str:
    rows = " UNION ALL ".join(
        f"SELECT {i} AS id, CAST('{a:%Y%m%d}' AS DATE) AS a, CAST('{b:%Y%m%d}' AS DATE) AS b"
        for i, (a, b) in enumerate(PAIRS, start=1)
    )
    return (
        "SELECT id, DATEDIFF(month, a, b) AS m, DATEDIFF(year, a, b) AS y, DATEADD(month, 1, a) AS next_month, "
        f"DATEADD(year, 1, a) AS next_year, DATEADD(month, -1, a) AS last_month FROM ({rows}) pairs ORDER BY id;"
    )


def _rows(conn, sql: str) -> list[tuple]:
    frame = query_statement(conn, sql.strip().rstrip(";"))
    out = []
    for row in frame.itertuples(index=False):
        out.append(tuple(v if isinstance(v, dt.date) and not isinstance(v, dt.datetime)
                         else v.date() if isinstance(v, dt.datetime)
                         else D.fromisoformat(v[:10]) if isinstance(v, str)
                         else int(v) for v in row))
    return out


def _differing(rows: list[tuple], column: int) -> set[int]:
    return {r[0] for r, e in zip(rows, EXPECTED) if r[column] != e[column]}


def test_reference_is_postgres_age_and_sql_server_dateadd():
    """The Python reference: Jan 31 -> Feb 29 is 0 months, Feb 15 -> Jan 1 is -1; Jan 31 + 1 month is Feb 29."""
    assert whole_months(D(2020, 1, 31), D(2020, 2, 29)) == 0
    assert whole_months(D(2020, 2, 15), D(2020, 1, 1)) == -1
    assert add_months(D(2020, 1, 31), 1) == D(2020, 2, 29)
    assert add_months(D(2020, 2, 29), 12) == D(2021, 2, 28)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def test_month_and_year_arithmetic_on_each_engine(kind, tmp_path, request):
    url = {"duckdb": str(tmp_path / "d.duckdb"), "sqlite": f"sqlite:///{tmp_path / 'd.db'}"}.get(kind)
    conn = connect(url or request.getfixturevalue("postgres_url"))
    try:
        ours = _rows(conn, translate(_query(), kind))
        assert ours == EXPECTED
        if kind != "sqlite":  # SqlRender's SQLite keeps dates as epoch seconds: its DATEADD returns a number
            theirs = _rows(conn, sqlrender.translate(_query(), kind))
            assert theirs == EXPECTED
    finally:
        conn.close()


@pytest.mark.slow
def test_month_and_year_arithmetic_on_spark(spark_url):
    conn = connect(spark_url)
    try:
        ours = _rows(conn, translate(_query(), "spark"))
        assert ours == EXPECTED
        theirs = _rows(conn, sqlrender.translate(_query(), "spark"))
        # SqlRender's Spark DATEDIFF(month) (Spark's TIMESTAMPDIFF) counts whole months as ours does; its
        # DATEDIFF(year) counts whole years elapsed, not year boundaries: Dec 31 -> Jan 1 is 0 there, 1 elsewhere
        assert [r[:2] for r in theirs] == [e[:2] for e in EXPECTED]
        assert _differing(theirs, 2) == {7, 12, 19, 20}
        assert [r[3:] for r in theirs] == [e[3:] for e in EXPECTED]
    finally:
        conn.close()


def _through_sqlglot(sql: str, dialect: str) -> list[tuple]:
    """Run a translation for a target that cannot run here on DuckDB, read back by sqlglot, which models the target's
    functions (Oracle's ADD_MONTHS moves a month's last day to the result month's last day; MONTHS_BETWEEN is
    fractional): a check of the arithmetic, not of the target's parser."""
    con = duckdb.connect()
    con.execute("CREATE TABLE dual (dummy VARCHAR)")
    con.execute("INSERT INTO dual VALUES ('X')")
    duck = sqlglot.transpile(sql.strip().rstrip(";"), read=dialect, write="duckdb")[0]
    duck = duck.replace("DATE_TRUNC('DD',", "DATE_TRUNC('DAY',").replace("DATE_TRUNC('MM',", "DATE_TRUNC('MONTH',")
    return [tuple(v.date() if isinstance(v, dt.datetime) else v for v in row) for row in con.execute(duck).fetchall()]


@pytest.mark.parametrize("dialect", ["oracle", "bigquery"])
def test_oracle_and_bigquery_forms_mean_the_same(dialect):
    assert _through_sqlglot(translate(_query(), dialect), dialect) == EXPECTED


def test_sqlrender_oracle_months_differ_at_month_ends():
    """SqlRender's Oracle: MONTHS_BETWEEN is fractional (Jan 15 -> Feb 14 is 0.97, not 0), and ADD_MONTHS gives
    Mar 31 for Feb 29 + 1 month (SQL Server and ours: Mar 29)."""
    theirs = _through_sqlglot(sqlrender.translate(_query(), "oracle"), "oracle")
    assert theirs[10][1] != 0 and 0 < theirs[10][1] < 1  # Jan 15 -> Feb 14
    assert theirs[4][3] == D(2020, 3, 31) and EXPECTED[4][3] == D(2020, 3, 29)  # Feb 29 + 1 month


@pytest.mark.parametrize("dialect", ["snowflake", "redshift"])
def test_snowflake_and_redshift_keep_their_native_month_boundaries(dialect):
    """Snowflake and Redshift run DATEDIFF(month) natively, as SqlRender leaves it: month boundaries crossed, SQL
    Server's meaning (2020-01-31 -> 2020-02-29 is 1); years and DATEADD as everywhere else."""
    rows = _through_sqlglot(translate(_query(), dialect), dialect)
    assert [r[1] for r in rows] == [(b.year * 12 + b.month) - (a.year * 12 + a.month) for a, b in PAIRS]
    assert [r[2:] for r in rows] == [e[2:] for e in EXPECTED]
