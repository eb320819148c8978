"""Issue 17's per-target classes, run where the target runs here (DuckDB, SQLite, PostgreSQL) and compared with
SqlRender (duckcdm) where it does not (Redshift's SELECT ... INTO as CTAS with a distribution style).

The translation matrix (tests/test_translate.py) holds the exact text per target; these tests check meaning.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from rcdm.errors import TranslationError
from rcdm.sql import split_sql
from rcdm.sql.translate import translate

ISNUMERIC_VALUES = {"12": 1, "-1.5": 1, "+3": 1, ".5": 1, "7.": 1, "abc": 0, "1.2.3": 0, "": 0, "-": 0}


def _pg(url: object):  # noqa: ANN202 - a psycopg connection
    psycopg = pytest.importorskip("psycopg")
    return psycopg.connect(str(url).replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _duck(sql: str) -> tuple:
    return duckdb.connect().execute(sql).fetchone()


def _isnumeric_sql(dialect: str) -> str:
    return translate("SELECT v, ISNUMERIC(v) AS n FROM t;", dialect)


def test_isnumeric_on_duckdb() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (v VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in ISNUMERIC_VALUES])
    got = dict(con.execute(_isnumeric_sql("duckdb")).fetchall())
    assert got == ISNUMERIC_VALUES


def test_isnumeric_on_postgresql(postgres_url: str) -> None:
    with _pg(postgres_url) as con:
        con.execute("CREATE TEMPORARY TABLE t (v VARCHAR)")
        with con.cursor() as cur:
            cur.executemany("INSERT INTO t VALUES (%s)", [[v] for v in ISNUMERIC_VALUES])
        got = dict(con.execute(_isnumeric_sql("postgresql")).fetchall())
    assert got == ISNUMERIC_VALUES


def test_uniqueidentifier_is_text_on_sqlite(tmp_path: Path) -> None:
    """A column typed UNIQUEIDENTIFIER keeps the UUID text on SQLite (TEXT affinity, not UUID's NUMERIC)."""
    con = sqlite3.connect(tmp_path / "u.sqlite")
    con.execute(translate("CREATE TABLE u (id UNIQUEIDENTIFIER, n INT);", "sqlite"))
    con.execute("INSERT INTO u VALUES ('00000000-0000-0000-0000-000000000001', 1), ('12345', 2)")
    assert con.execute("SELECT typeof(id) FROM u ORDER BY n").fetchall() == [("text",), ("text",)]


def test_uniqueidentifier_on_duckdb_and_postgresql_is_uuid(postgres_url: str) -> None:
    value = "6f1b8c3e-8d3f-4c8e-9a57-1b2c3d4e5f60"
    sql = translate(f"SELECT CAST('{value}' AS UNIQUEIDENTIFIER) AS u;", "duckdb")
    assert str(_duck(sql)[0]) == value
    with _pg(postgres_url) as con:
        sql = translate(f"SELECT CAST('{value}' AS UNIQUEIDENTIFIER) AS u;", "postgresql")
        assert str(con.execute(sql).fetchone()[0]) == value


def test_varbinary_is_the_strings_bytes_on_duckdb_and_postgresql(postgres_url: str) -> None:
    sql = "SELECT CONVERT(VARBINARY, person_source_value) AS b FROM (SELECT 'ab' AS person_source_value) p;"
    assert bytes(_duck(translate(sql, "duckdb"))[0]) == b"ab"
    with _pg(postgres_url) as con:
        assert bytes(con.execute(translate(sql, "postgresql")).fetchone()[0]) == b"ab"


# Redshift does not run here: SqlRender's translation is the reference (canonical sqlglot trees in Redshift's dialect).
REDSHIFT_CTAS = [
    "SELECT person_id, condition_start_date INTO scratch.events FROM cdm.condition_occurrence;",
    "SELECT subject_id AS sid, cohort_start_date INTO scratch.c FROM results.cohort;",
    "SELECT analysis_id, count_value INTO scratch.r FROM results.achilles_results;",
    "SELECT 1011 AS analysis_id, COUNT_BIG(*) AS count_value INTO scratch.a FROM cdm.condition_era;",  # Achilles' form
    "SELECT concept_id, concept_name INTO scratch.concepts FROM cdm.concept;",
    "WITH x AS (SELECT person_id FROM cdm.person) SELECT person_id INTO scratch.p FROM x;",
    "--HINT DISTRIBUTE_ON_KEY(person_id)\nSELECT person_id, concept_id INTO scratch.pc FROM cdm.observation;",
    "CREATE TABLE scratch.cohort (subject_id BIGINT, cohort_start_date DATE);",
    "CREATE TABLE scratch.names (concept_id INT, concept_name VARCHAR(255));",
]


@pytest.mark.parametrize("sql", REDSHIFT_CTAS)
def test_redshift_tables_get_sqlrenders_distribution(sql: str) -> None:
    sqlrender = pytest.importorskip("duckcdm.sqlrender")
    from sqlrender_differential import canonical

    ours = translate(sql, "redshift")
    theirs = sqlrender.translate(sql, "redshift").replace("--HINT DISTRIBUTE_ON_KEY(person_id)", "").strip()
    assert canonical(ours, "redshift") == canonical(theirs, "redshift"), (ours, theirs)
    assert "DISTKEY(" in ours or "DISTSTYLE ALL" in ours


def test_redshift_distkey_is_a_column_of_the_table() -> None:
    """SqlRender matches person_id anywhere in the select list; ours only a selected column (DISTKEY must name one)."""
    ours = translate("SELECT COUNT(DISTINCT person_id) AS n INTO scratch.n FROM cdm.person;", "redshift")
    assert "DISTSTYLE ALL" in ours and "DISTKEY" not in ours


def test_redshift_reserved_names_are_quoted() -> None:
    ours = translate("SELECT note_nlp_id, offset, snippet AS tag INTO scratch.n FROM cdm.note_nlp;", "redshift")
    assert '"offset"' in ours and 'AS "tag"' in ours


def test_concat_arguments_are_strings_on_bigquery_and_joined_on_oracle() -> None:
    """BigQuery's CONCAT takes STRINGs only (a number literal too is cast); Oracle's CONCAT takes two arguments."""
    sql = "SELECT CONCAT(year_of_birth, 1, '0101') AS s FROM cdm.person;"
    assert translate(sql, "bigquery") == (
        "SELECT CONCAT(COALESCE(CAST(year_of_birth AS STRING), ''), COALESCE(CAST(1 AS STRING), ''), '0101') AS s "
        "FROM cdm.person;")
    assert translate(sql, "oracle") == "SELECT (year_of_birth || 1 || '0101') AS s FROM cdm.person;"


def test_oracle_has_no_try_cast() -> None:
    """Oracle has no TRY_CAST: numbers and dates get DEFAULT NULL ON CONVERSION ERROR, text a plain CAST."""
    sql = translate("SELECT TRY_CAST(a AS INT), TRY_CAST(b AS DATE), TRY_CAST(c AS VARCHAR(20)), "
                    "CONVERT(VARCHAR, d, 112) FROM t", "oracle")
    assert "TRY_CAST" not in sql.upper()
    assert "CAST(a AS INT DEFAULT NULL ON CONVERSION ERROR)" in sql
    assert "CAST(b AS DATE DEFAULT NULL ON CONVERSION ERROR)" in sql
    assert "CAST(c AS VARCHAR2(20))" in sql and "CAST(TO_CHAR(d, 'YYYYMMDD') AS VARCHAR2(4000))" in sql


@pytest.mark.parametrize("dialect", ["oracle", "bigquery", "snowflake", "redshift"])
def test_cte_before_insert_moves_inside_the_query(dialect: str) -> None:
    sql = translate("WITH x AS (SELECT a FROM b) INSERT INTO c (d) WITH y AS (SELECT a FROM x) SELECT a FROM y",
                    dialect)
    assert sql.startswith("INSERT INTO c (d) WITH x AS (SELECT a FROM b"), sql
    assert "y AS (SELECT a FROM x)" in sql


def test_moved_cte_inserts_the_same_rows_on_duckdb() -> None:
    """Redshift's form (INSERT INTO t WITH ... SELECT) is also DuckDB's: run it and check the rows."""
    con = duckdb.connect()
    con.execute("CREATE TABLE b (a INT); INSERT INTO b VALUES (1), (2), (2); CREATE TABLE c (d INT)")
    con.execute(translate("WITH x AS (SELECT DISTINCT a FROM b) INSERT INTO c (d) SELECT a FROM x", "redshift"))
    assert sorted(con.execute("SELECT d FROM c").fetchall()) == [(1,), (2,)]


def test_use_on_oracle_sets_the_current_schema() -> None:
    assert translate("USE vocabulary", "oracle").rstrip(";") == "ALTER SESSION SET CURRENT_SCHEMA = vocabulary"


def test_temp_tables_made_by_select_into_are_analyzed_on_postgresql(postgres_url: str) -> None:
    """Autovacuum cannot analyze temporary tables, so SqlRender follows SELECT ... INTO #t with ANALYZE t on
    PostgreSQL (found by the Circe cohort SQL of the differential corpus); a permanent table is left to autovacuum."""
    sql = "SELECT n INTO #t FROM (SELECT 1 AS n UNION ALL SELECT 2) x; SELECT n INTO #u FROM #t;"
    translated = translate(sql, "postgresql")
    assert translated.count("ANALYZE") == 2 and "ANALYZE t;" in translated and "ANALYZE u;" in translated
    assert "ANALYZE" not in translate("SELECT 1 AS n INTO scratch.t;", "postgresql")
    with _pg(postgres_url) as con:
        for statement in split_sql(translated):
            con.execute(statement)
        tuples = "SELECT reltuples FROM pg_class WHERE relname = 'u' AND relpersistence = 't'"
        assert con.execute(tuples).fetchone()[0] == 2
        assert con.execute("SELECT COUNT(*) FROM u").fetchone()[0] == 2


def test_rand_is_a_fraction_on_sqlite() -> None:
    """SQL Server's RAND() is a float in [0, 1); SQLite's RANDOM() an integer: ours writes SqlRender's scaling."""
    con = sqlite3.connect(":memory:")
    values = [con.execute(translate("SELECT RAND() AS r", "sqlite")).fetchone()[0] for _ in range(200)]
    assert all(0 <= v <= 1 for v in values) and len(set(values)) > 100


def test_global_temp_tables_are_temporary_elsewhere(tmp_path: Path) -> None:
    """SQL Server's ##t (WebAPI's concept-set table, found by the real OHDSI corpus) is a temporary table on the other
    targets too, as #t is and as SqlRender makes it on PostgreSQL and DuckDB: no permanent table is left behind."""
    sql = "CREATE TABLE ##cs (a INT); INSERT INTO ##cs VALUES (1); SELECT a INTO ##u FROM ##cs;"
    path = tmp_path / "global.duckdb"
    con = duckdb.connect(str(path))
    for statement in split_sql(translate(sql, "duckdb")):
        con.execute(statement)
    assert con.execute("SELECT a FROM u").fetchall() == [(1,)]
    con.close()
    con = duckdb.connect(str(path))
    tables = "SELECT COUNT(*) FROM information_schema.tables WHERE table_name IN ('cs', 'u')"
    assert con.execute(tables).fetchone() == (0,)
    assert "CREATE TABLE temp.cs" in translate(sql, "sqlite")
    assert "scratch." in translate(sql, "spark", temp_emulation_schema="scratch")


def test_concat_runs_on_sqlite_without_concat() -> None:
    """SQLite before 3.44 has no CONCAT (WebAPI's treemap queries failed there, found by the real OHDSI corpus): ours
    writes ||, reading NULL as the empty string as SQL Server's CONCAT does."""
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (a TEXT, b TEXT, n INTEGER)")
    con.execute("INSERT INTO t VALUES ('x', NULL, 7)")
    sql = translate("SELECT CONCAT(a, '||', b, '|', n) AS path FROM t", "sqlite")
    assert "CONCAT" not in sql.upper()
    assert con.execute(sql).fetchall() == [("x|||7",)]


def test_stdev_and_var_run_on_sqlite() -> None:
    """SQLite has no STDEV or VAR (Achilles' distribution analyses use STDEV, found by the real OHDSI corpus): ours
    writes the sample statistics with SUM and COUNT, NULL for one row as on SQL Server."""
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (g INTEGER, x INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(1, 1), (1, 2), (1, 4), (1, 7), (1, None), (2, 5)])
    sql = translate("SELECT g, STDEV(x) AS s, VAR(x) AS v FROM t GROUP BY g ORDER BY g", "sqlite")
    (g1, s1, v1), (g2, s2, v2) = con.execute(sql).fetchall()
    assert (g1, round(s1 * s1, 9), round(v1, 9)) == (1, 7.0, 7.0) and (g2, s2, v2) == (2, None, None)
    with pytest.raises(TranslationError, match="window"):
        translate("SELECT STDEV(x) OVER (PARTITION BY g) AS s FROM t", "sqlite")


def test_bigquery_integer_power_stays_integer() -> None:
    """Circe's bit mask SUM(POWER(2, rule)) goes into an INT64 column and through &: BigQuery's POWER is FLOAT64, so
    ours casts it back to INT64 (SQL Server's POWER has its base's integer type), as SqlRender does."""
    ours = translate("SELECT SUM(COALESCE(POWER(2, i.inclusion_rule_id), 0)) AS mask, POWER(x, 2) AS p FROM t i;",
                     "bigquery")
    assert "COALESCE(CAST(POWER(2, i.inclusion_rule_id) AS INT64), 0)" in ours and "POWER(x, 2) AS p" in ours
    assert translate("SELECT CAST(POWER(2, 3) AS BIGINT) AS c;", "bigquery").count("CAST(") == 1
    circe = translate("SELECT SUM(COALESCE(POWER(CAST(2 AS BIGINT), r), 0)) AS mask FROM t;", "bigquery")
    assert "CAST(POWER(CAST(2 AS INT64), r) AS INT64)" in circe
