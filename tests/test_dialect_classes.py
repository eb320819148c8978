"""Classes of translation decided per target (issue 17): three-part ``db.dbo.t`` names, ALTER TABLE with several
ADD columns, Oracle's (VALUES ...) derived tables, GETDATE(), and the DDL's distribution keys on Redshift/Synapse.

Each is checked against SqlRender (duckcdm) where ours agrees, and run on the engines here where it runs.
"""

from __future__ import annotations

import pytest
from duckcdm import sqlrender

from rcdm.db import connect, execute_sql, query_sql, query_statement
from rcdm.ddl import get_ddl
from rcdm.sql import list_supported_dialects
from rcdm.sql.translate import translate

THREE_PART = "SELECT COUNT(*) AS n FROM cdm.dbo.person;"
KEEPS_DBO = ("sql server", "synapse", "bigquery")


@pytest.mark.parametrize("dialect", list_supported_dialects())
def test_dbo_three_part_names_as_sqlrender(dialect):
    ours = translate(THREE_PART, dialect)
    assert ("cdm.dbo.person" in ours) == (dialect in KEEPS_DBO)
    assert ("cdm.dbo.person" in sqlrender.translate(THREE_PART, dialect)) == (dialect in KEEPS_DBO)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_dbo_three_part_name_runs(kind, tmp_path, request):
    conn = connect(str(tmp_path / "t.duckdb") if kind == "duckdb" else request.getfixturevalue("postgres_url"))
    try:
        execute_sql(conn, "DROP TABLE IF EXISTS s13dbo.person; CREATE SCHEMA IF NOT EXISTS s13dbo; "
                          "CREATE TABLE s13dbo.person (person_id BIGINT); INSERT INTO s13dbo.person VALUES (1), (2);")
        assert query_sql(conn, "SELECT COUNT(*) AS n FROM s13dbo.dbo.person;")["n"].tolist() == [2]
        execute_sql(conn, "DROP TABLE s13dbo.person;")
    finally:
        conn.close()


ALTER = "ALTER TABLE s13alter ADD c1 INT, c2 VARCHAR(10);"


@pytest.mark.parametrize("dialect, statements", [
    ("redshift", ["ALTER TABLE s13alter ADD COLUMN c1 INTEGER;", "ALTER TABLE s13alter ADD COLUMN c2 VARCHAR(10);"]),
    ("spark", ["ALTER TABLE s13alter ADD COLUMN c1 INT;", "ALTER TABLE s13alter ADD COLUMN c2 VARCHAR(10);"]),
    ("oracle", ["ALTER TABLE s13alter ADD c1 INT;", "ALTER TABLE s13alter ADD c2 VARCHAR2(10);"]),
    ("snowflake", ["ALTER TABLE s13alter ADD c1 INT, c2 VARCHAR(10);"]),  # Snowflake takes a list after ADD
    ("postgresql", ["ALTER TABLE s13alter ADD COLUMN c1 INT, ADD COLUMN c2 VARCHAR(10);"]),
])
def test_alter_table_adds_one_column_per_statement_where_the_target_requires(dialect, statements):
    assert translate(ALTER, dialect).strip().splitlines() == statements


@pytest.mark.slow
def test_alter_table_with_several_columns_runs_on_spark(spark_url):
    conn = connect(spark_url)
    try:
        execute_sql(conn, "DROP TABLE IF EXISTS s13alter; CREATE TABLE s13alter (a INT);")
        execute_sql(conn, ALTER)
        frame = query_statement(conn, "DESCRIBE s13alter")
        assert frame["col_name"].tolist()[:3] == ["a", "c1", "c2"]
        execute_sql(conn, "DROP TABLE s13alter;")
    finally:
        conn.close()


def test_oracle_values_derived_table_is_a_union_from_dual():
    sql = "SELECT a FROM (VALUES (1, 'x'), (2, 'y')) AS v(a, b);"
    assert translate(sql, "oracle").strip() == (
        "SELECT a FROM (SELECT 1 AS a, 'x' AS b FROM DUAL UNION ALL SELECT 2, 'y' FROM DUAL) v;")


@pytest.mark.parametrize("dialect, now", [
    ("oracle", "SYSDATE"), ("postgresql", "CURRENT_DATE"), ("redshift", "CURRENT_DATE"), ("snowflake", "CURRENT_DATE"),
    ("spark", "CURRENT_DATE"), ("duckdb", "CURRENT_DATE"), ("bigquery", "CURRENT_DATE"), ("sql server", "GETDATE()"),
])
def test_getdate_per_target_as_sqlrender(dialect, now):
    ours = translate("SELECT GETDATE() AS now FROM t;", dialect)
    assert f"SELECT {now} AS now" in ours
    theirs = sqlrender.translate("SELECT GETDATE() AS now FROM t;", dialect)
    assert now.rstrip("()").lower() in theirs.lower()


@pytest.mark.parametrize("model, keys", [
    ("all", {"radiology_occurrence": "person_id", "radiology_image": "radiology_occurrence_id",
             "image_occurrence": "person_id", "image_feature": "person_id"}),
    ("etl", {"rcdm_etl_file": "file_key", "rcdm_etl_person": "person_id", "rcdm_etl_run": None}),
])
def test_ddl_distribution_keys_on_redshift_and_synapse(model, keys):
    """The big tables are distributed on their person-like key (OHDSI's CDM DDL hints person_id); radiology_image has
    no person_id and goes with its study (radiology_occurrence_id), the ETL's file list with its lookup key."""
    for dialect, form, none in (("redshift", "DISTKEY({})", "DISTSTYLE ALL"), ("synapse", "HASH({})", None)):
        creates = [line for line in get_ddl(dialect, "cdm", model=model).splitlines() if "CREATE TABLE" in line]
        for table, key in keys.items():
            line = next(c for c in creates if f"cdm.{table} (" in c)
            if key:
                assert form.format(key) in line, (dialect, table)
            elif none:
                assert none in line, (dialect, table)


def test_redshift_logarithms_of_double_precision():
    """LN of a DECIMAL column (OMOP's value_as_number) is an error on a Redshift user table (LN function docs)."""
    sql = "SELECT LN(value_as_number) AS l, LOG(value_as_number, 10) AS b, LN(2.5) AS c FROM cdm.measurement;"
    assert translate(sql, "redshift").strip() == (
        "SELECT LN(CAST(value_as_number AS DOUBLE PRECISION)) AS l, LOG(10, CAST(value_as_number AS DOUBLE PRECISION))"
        " AS b, LN(2.5) AS c FROM cdm.measurement;")


def test_snowflake_try_cast_reads_a_string():
    """Snowflake's TRY_CAST takes a string: a column is cast to VARCHAR first, so a bad value gives NULL, not an
    error (sqlglot would write a plain CAST)."""
    ours = translate("SELECT TRY_CAST(x AS INT) AS a, TRY_CAST('1' AS INT) AS b FROM t;", "snowflake").strip()
    assert ours == "SELECT TRY_CAST(CAST(x AS VARCHAR) AS INT) AS a, TRY_CAST('1' AS INT) AS b FROM t;"
