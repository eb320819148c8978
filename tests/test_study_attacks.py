"""Network studies against an attacker (issue 12): every attack must fail to get through.

A study author who runs code at a site through the spec; a site whose small groups come back by subtraction across
the files of one zip or across two releases; quantiles that are one person's value; a spec that lowers the minimum
cell count; and a hostile zip handed to ``rcdm study merge``. The sites are real DuckDB files (and one PostgreSQL
server for the cohort SQL check), built with the helpers of test_study.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tracemalloc
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from test_study import ATLAS_SQL, EXAMPLE_SPEC, build_site, load_site, site_files

from rcdm import study_privacy as privacy
from rcdm.cli import main
from rcdm.study import merge_results, run_study
from rcdm.study_archive import ZipLimits, csv_bytes, escape_cell, read_zip_members
from rcdm.study_cohort_sql import CohortSqlError
from rcdm.study_releases import StudyReleaseError
from rcdm.study_spec import BINS, SiteSettings, StudySpecError, load_site_settings, load_study

REPO = Path(__file__).resolve().parents[1]


def small_site(ct_persons: int = 30, mr_only: int = 3, first: int = 4_400_001, days: list[int] | None = None
               ) -> dict[str, pd.DataFrame]:
    """``ct_persons`` persons with one head CT (slice thickness 1 mm) and ``mr_only`` with only an MR study;
    person i's study is ``days[i]`` days after their index date (default i % 20)."""
    persons = []
    for i in range(ct_persons + mr_only):
        modality = "CT" if i < ct_persons else "MR"
        persons.append((first + 13 * i, dt.date(2021, 1, 4) + dt.timedelta(days=3 * i),
                        [(modality, days[i] if days is not None else i % 20, [("axial", 4)])]))
    return build_site(persons, 90_000_000_000, 80_000_000, cohort_days=30)


def add_vocabulary(conn, schema: str, data: dict[str, pd.DataFrame]) -> None:
    """A concept and a person table, the targets of the attacks (create_tables makes only the R-CDM tables)."""
    from rcdm.db import execute_sql

    persons = ", ".join(f"({p}, 1970)" for p in data["cohort"]["subject_id"])
    execute_sql(conn, "CREATE TABLE @s.concept (concept_id INT); INSERT INTO @s.concept VALUES (1), (2);"
                      "CREATE TABLE @s.person (person_id BIGINT, year_of_birth INT);"
                      f"INSERT INTO @s.person VALUES {persons};", s=schema)


def make_db(path: Path, data: dict[str, pd.DataFrame]) -> Path:
    from rcdm.db import connect

    with connect(path) as conn:
        load_site(conn, "cdm", data, cohort_schema="cdm")
        add_vocabulary(conn, "cdm", data)
    return path


def table(files: dict[str, bytes], name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(files[f"{name}.csv"]), dtype=str, keep_default_na=False)


def run(db: Path, tmp: Path, spec=EXAMPLE_SPEC, name: str = "site.zip", log: str = "log.jsonl", **options):
    from rcdm.db import connect

    site = options.pop("site", None) or SiteSettings(audit_log=tmp / log)
    with connect(db) as conn:
        return run_study(spec, conn, "cdm", out=tmp / name, site_name="Site", site=site, **options)


# --------------------------------------------------------------------------------------------------------------
# 1. A spec runs no code the site has not seen and approved


def write_spec(folder: Path, cohort_sql: str | None, **changes) -> Path:
    spec = json.loads(EXAMPLE_SPEC.read_text())
    if cohort_sql is not None:
        (folder / "cohorts").mkdir(exist_ok=True)
        (folder / "cohorts" / "c.sql").write_text(cohort_sql)
        spec["cohorts"] = [{"id": 7, "name": "from SQL", "sql": "cohorts/c.sql"}]
    spec.update(changes)
    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def db_state(db: Path) -> dict:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = sorted(r[0] + "." + r[1] for r in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables").fetchall())
        cohort = con.execute("SELECT COUNT(*), COALESCE(SUM(cohort_definition_id), 0) FROM cdm.cohort").fetchone()
        concept = con.execute("SELECT COUNT(*) FROM cdm.concept").fetchone()
        births = con.execute("SELECT SUM(year_of_birth) FROM cdm.person").fetchone()
    finally:
        con.close()
    return {"tables": tables, "cohort": cohort, "concept": concept, "births": births}


def test_a_hidden_cohort_sql_key_is_refused_not_run(tmp_path, capsys):
    db = make_db(tmp_path / "s.duckdb", small_site())
    before = db_state(db)
    spec = json.loads(EXAMPLE_SPEC.read_text())
    spec["_cohort_sql"] = {"1": "DROP TABLE @cdm_database_schema.concept; COPY (SELECT * FROM "
                                "@cdm_database_schema.person) TO '" + str(tmp_path / "leak.csv") + "';"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert main(["study", "run", str(tmp_path / "spec.json"), "--db", str(db), "--schema", "cdm",
                 "--audit-log", str(tmp_path / "log"), "--out", str(tmp_path / "r.zip")]) == 2
    assert "_cohort_sql" in capsys.readouterr().err
    assert db_state(db) == before and not (tmp_path / "leak.csv").exists() and not (tmp_path / "r.zip").exists()


def test_comments_are_part_of_the_hash():
    spec = json.loads(EXAMPLE_SPEC.read_text())
    other = dict(spec, _comment=spec["_comment"] + " changed")
    assert load_study(spec).spec_hash != load_study(other).spec_hash


MALICIOUS = {
    "drop": "DROP TABLE @vocabulary_database_schema.concept;",
    "copy_table": "CREATE TABLE @cdm_database_schema.stolen AS SELECT * FROM @cdm_database_schema.person;",
    "copy_to_file": "COPY (SELECT * FROM @cdm_database_schema.person) TO '{leak}';",
    "read_file": "INSERT INTO @target_database_schema.@target_cohort_table SELECT @target_cohort_id, 1, "
                 "CAST('2020-01-01' AS DATE), CAST('2020-01-01' AS DATE) FROM read_csv('/etc/passwd');",
    "file_as_table": "SELECT * FROM '{leak}';",
    "attach": "ATTACH '{leak}' AS other;",
    "other_cohort": "INSERT INTO @target_database_schema.@target_cohort_table (cohort_definition_id, subject_id, "
                    "cohort_start_date, cohort_end_date) SELECT 1, person_id, CAST('2020-01-01' AS DATE), "
                    "CAST('2020-01-01' AS DATE) FROM @cdm_database_schema.person;",
    "delete_all": "DELETE FROM @target_database_schema.@target_cohort_table;",
    "update_cdm": "UPDATE @cdm_database_schema.person SET year_of_birth = 1900;",
    "settings": "SET threads = 1;",
    "outside_schema": "INSERT INTO @target_database_schema.@target_cohort_table SELECT @target_cohort_id, 1, "
                      "CAST('2020-01-01' AS DATE), CAST('2020-01-01' AS DATE) FROM information_schema.tables;",
    "drop_unqualified": "DROP TABLE IF EXISTS cohort;",
    "modifying_cte": "WITH gone AS (DELETE FROM @cdm_database_schema.person RETURNING person_id) SELECT * FROM gone;",
}


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(MALICIOUS))
def test_cohort_sql_that_does_more_than_define_a_cohort_is_refused(attack, tmp_path):
    db = make_db(tmp_path / "s.duckdb", small_site())
    leak = tmp_path / "leak.csv"
    sql = ATLAS_SQL + "\n" + MALICIOUS[attack].format(leak=leak)
    spec = write_spec(tmp_path, sql)
    approval = load_study(spec).spec_hash  # even approved, the check refuses before anything runs
    before = db_state(db)
    with pytest.raises(CohortSqlError, match="refused|cannot be rendered"):
        run(db, tmp_path, spec, approve_cohort_sql=approval)
    assert db_state(db) == before and not leak.exists() and not (tmp_path / "site.zip").exists()


@pytest.mark.slow
def test_cohort_sql_runs_only_with_the_approval_of_this_spec(tmp_path, capsys):
    db = make_db(tmp_path / "s.duckdb", small_site())
    spec = write_spec(tmp_path, ATLAS_SQL)
    spec_hash = load_study(spec).spec_hash
    before = db_state(db)
    args = ["study", "run", str(spec), "--db", str(db), "--schema", "cdm", "--out", str(tmp_path / "r.zip"),
            "--audit-log", str(tmp_path / "log.jsonl")]
    assert main(args) == 2  # no approval: nothing runs, and the site is shown what would
    err = capsys.readouterr().err
    assert "--approve-cohort-sql " + spec_hash in err and "MIN(ro.radiology_occurrence_date)" in err
    assert main([*args, "--approve-cohort-sql", "0" * 64]) == 2  # another spec's approval
    capsys.readouterr()
    assert db_state(db) == before and not (tmp_path / "r.zip").exists()
    assert main(["study", "show", str(spec)]) == 0  # the review: hash, file name, SHA-256 and full text
    shown = capsys.readouterr().out
    assert spec_hash in shown and "cohorts/c.sql" in shown and ATLAS_SQL.strip() in shown
    assert hashlib.sha256(ATLAS_SQL.encode()).hexdigest() in shown
    assert main([*args, "--approve-cohort-sql", spec_hash]) == 0
    assert db_state(db)["cohort"][0] > before["cohort"][0]  # cohort 7 was generated
    # the approval names the SQL's content: one changed byte in the file is another spec
    (tmp_path / "cohorts" / "c.sql").write_text(ATLAS_SQL.replace("'CT'", "'MR'"))
    assert main([*args, "--approve-cohort-sql", spec_hash]) == 2


CIRCE_IDIOMS = """SELECT DATEADD(day, -1, a.d), DATEADD(month, 2, a.d), DATEADD(year, 1, a.d), DATEDIFF(day, a.d, a.e),
 YEAR(a.d), MONTH(a.d), DAY(a.d), DATEFROMPARTS(a.y, 1, 1), EOMONTH(a.d), COUNT_BIG(*), COUNT(DISTINCT a.p),
 MAX(a.d), MIN(a.d), AVG(CAST(a.x AS FLOAT)), SUM(a.x), ABS(a.x), FLOOR(a.x), CEILING(a.x), ROUND(a.x, 2),
 POWER(CAST(2 AS BIGINT), a.x), ISNULL(a.x, 0), COALESCE(a.x, 0), NULLIF(a.x, 0), IIF(a.x = 1, 1, 0),
 CASE WHEN a.x IS NULL THEN 1 ELSE 0 END, LEAD(a.d) OVER (ORDER BY a.d), LAG(a.d) OVER (ORDER BY a.d),
 DENSE_RANK() OVER (ORDER BY a.d), RANK() OVER (ORDER BY a.d), ROW_NUMBER() OVER (PARTITION BY a.p ORDER BY a.d),
 MAX(a.d) OVER (PARTITION BY a.p ORDER BY a.d ROWS UNBOUNDED PRECEDING), GETDATE(), LEN(a.s), LOWER(a.s),
 UPPER(a.s), LEFT(a.s, 1), RIGHT(a.s, 1), SUBSTRING(a.s, 1, 2), CONCAT(a.s, a.t), LTRIM(a.s), RTRIM(a.s),
 CAST(a.d AS DATE), CAST(a.x AS VARCHAR), CAST(a.x AS INT), CAST(a.x AS NUMERIC), SQRT(a.x), LOG(a.x), EXP(a.x),
 CHARINDEX('x', a.s), REPLACE(a.s, 'a', 'b')
FROM @cdm_database_schema.person a;"""


@pytest.mark.parametrize("dialect", ["duckdb", "postgresql", "sqlite", "sql server", "redshift", "snowflake",
                                     "spark", "bigquery"])
def test_the_cohort_sql_check_on_every_target(dialect):
    """ATLAS exports pass as each target runs them (temp tables as the translator writes them there); the same
    attacks are refused on every target. Oracle's PL/SQL blocks cannot be checked and are refused (documented)."""
    from types import SimpleNamespace

    from rcdm.study_cohort_sql import check_cohort_statements, render_cohort_sql

    emulation = "scratch" if dialect in ("snowflake", "spark", "bigquery") else None
    conn = SimpleNamespace(dialect=dialect, temp_emulation_schema=emulation)

    def check(sql: str) -> None:
        statements = render_cohort_sql(conn, sql, 7, "cdm", "results", "cohort", "cdm")
        check_cohort_statements(statements, dialect, 7, "results", "cohort", ["cdm"], emulation)

    for name in ("GiBleed.sql", "CelecoxibNewUsers.sql"):
        check((REPO / "extras" / "cohorts" / name).read_text())
    check(CIRCE_IDIOMS)  # the function allow-list covers Circe's idioms as each target translates them
    for cast in ("regclass", "oid", "xml", "lo", "pg_catalog.int4"):
        with pytest.raises(CohortSqlError, match="not a type cohort definitions use|cannot be parsed"):
            check(f"SELECT CAST('pg_authid' AS {cast}) AS x FROM @cdm_database_schema.person;")
    for attack in ("drop", "copy_table", "other_cohort", "delete_all", "update_cdm", "modifying_cte"):
        with pytest.raises(Exception, match="refused|Cannot translate"):
            check(MALICIOUS[attack])


@pytest.mark.parametrize("name", ["../c.sql", "/etc/c.sql", "link.sql"])
def test_cohort_sql_outside_the_spec_folder_is_refused(name, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    (tmp_path / "c.sql").write_text(ATLAS_SQL)
    (folder / "link.sql").symlink_to(tmp_path / "c.sql")
    spec = json.loads(EXAMPLE_SPEC.read_text())
    spec["cohorts"] = [{"id": 7, "sql": name}]
    (folder / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(StudySpecError, match=r"cohorts\[0\]\.sql"):
        load_study(folder / "spec.json")


def test_cohort_sql_check_on_postgresql(tmp_path, postgres_url):
    import uuid

    from rcdm.db import connect, execute_statements, exists_table

    schema = f"attack_{uuid.uuid4().hex[:8]}"
    spec = write_spec(tmp_path, ATLAS_SQL + "\nSELECT pg_read_file('/etc/passwd');\n"
                                 "COPY (SELECT 1) TO '/tmp/rcdm_leak.csv';")
    with connect(postgres_url) as conn:
        load_site(conn, schema, small_site(), cohort_schema=schema)
        add_vocabulary(conn, schema, small_site())
        try:
            with pytest.raises(CohortSqlError, match="pg_read_file"):
                run_study(spec, conn, schema, out=tmp_path / "r.zip", site=SiteSettings(audit_log=tmp_path / "l"),
                          approve_cohort_sql=load_study(spec).spec_hash)
            good = write_spec(tmp_path, ATLAS_SQL)
            result = run_study(good, conn, schema, out=tmp_path / "ok.zip", site=SiteSettings(audit_log=tmp_path / "l"),
                               approve_cohort_sql=load_study(good).spec_hash)
            assert result["generated_cohorts"] == [7] and exists_table(conn, schema, "concept")
        finally:
            execute_statements(conn, [f"DROP SCHEMA {schema} CASCADE"])
    assert not (tmp_path / "r.zip").exists()


# Bypasses found by review: a function name in quotes or mixed case, a schema-qualified call, functions no
# deny-list named (query_to_xml runs any read-only query), and a dropped temp table whose name then meant a
# real table on the search path. Each must be refused before anything runs, on DuckDB and PostgreSQL.
FUNCTION_BYPASSES = {
    "quoted": "SELECT \"pg_read_file\"('/etc/hostname');",
    "quoted_upper": "SELECT \"PG_READ_FILE\"('/etc/hostname');",
    "mixed_case": "SELECT Pg_Read_File('/etc/hostname');",
    "unquoted": "SELECT pg_read_file('/etc/hostname');",
    "qualified_quoted": "SELECT pg_catalog.\"pg_read_file\"('/etc/hostname');",
    "qualified": "SELECT pg_catalog.pg_read_file('/etc/hostname');",
    "dotted_quoted": "SELECT \"s\".\"f\"(1);",
    "qualified_count": "SELECT pg_catalog.count(*) FROM @cdm_database_schema.person;",
    "set_config": "SELECT \"SET_CONFIG\"('search_path', '@cdm_database_schema', false);",
    "set_config_lower": "SELECT set_config('search_path', '@cdm_database_schema', false);",
    "lo_import": "SELECT \"LO_IMPORT\"('/etc/hostname');",
    "query_to_xml": "SELECT query_to_xml('SELECT rolpassword FROM pg_authid', true, true, '');",
    "table_to_xml": "SELECT table_to_xml('pg_authid', true, true, '');",
    "read_csv_quoted": "SELECT * FROM @cdm_database_schema.person WHERE 1 = (SELECT COUNT(*) FROM "
                       "(SELECT \"READ_CSV\"('/etc/passwd')) x);",
    "getenv": "SELECT \"getenv\"('HOME');",
    "in_insert": "INSERT INTO @target_database_schema.@target_cohort_table SELECT @target_cohort_id, person_id, "
                 "CAST('2020-01-01' AS DATE), CAST('2020-01-01' AS DATE) FROM @cdm_database_schema.person "
                 "LIMIT (SELECT length(pg_catalog.\"pg_read_file\"('/etc/hostname')));",
}
DROPPED_TEMP_BYPASSES = {
    "delete_after_drop": "CREATE TEMP TABLE site_audit AS SELECT 1 AS x;\nDROP TABLE site_audit;\n"
                         "DELETE FROM site_audit;\nDROP TABLE site_audit;",
    "drop_twice": "CREATE TEMP TABLE concept AS SELECT 1 AS x;\nDROP TABLE concept;\nDROP TABLE concept;",
    "read_after_drop": "CREATE TEMP TABLE person AS SELECT 1 AS x;\nDROP TABLE person;\n"
                       "CREATE TEMP TABLE leak AS SELECT * FROM person;",
    "insert_after_drop": "CREATE TEMP TABLE site_audit (x INT);\nDROP TABLE site_audit;\n"
                         "INSERT INTO site_audit VALUES (3);",
    "truncate_after_drop": "CREATE TEMP TABLE site_audit (x INT);\nDROP TABLE site_audit;\n"
                           "TRUNCATE TABLE site_audit;",
}


def check_on(dialect: str, sql: str) -> None:
    from types import SimpleNamespace

    from rcdm.study_cohort_sql import check_cohort_statements, render_cohort_sql

    conn = SimpleNamespace(dialect=dialect, temp_emulation_schema=None)
    statements = render_cohort_sql(conn, sql, 7, "cdm", "results", "cohort", "cdm")
    check_cohort_statements(statements, dialect, 7, "results", "cohort", ["cdm"])


@pytest.mark.parametrize("dialect", ["duckdb", "postgresql"])
@pytest.mark.parametrize("attack", sorted(FUNCTION_BYPASSES))
def test_functions_outside_the_allow_list_are_refused_however_written(attack, dialect):
    with pytest.raises(CohortSqlError) as refused:
        check_on(dialect, ATLAS_SQL + "\n" + FUNCTION_BYPASSES[attack])
    message = str(refused.value)
    assert "is refused" in message and ("schema-qualified function" in message or
                                        "which is not a function cohort definitions use" in message)
    named = {"quoted": "pg_read_file()", "quoted_upper": "pg_read_file()", "mixed_case": "pg_read_file()",
             "set_config": "set_config()", "lo_import": "lo_import()", "query_to_xml": "query_to_xml()",
             "table_to_xml": "table_to_xml()", "getenv": "getenv()"}
    if attack in named:
        assert named[attack] in message


@pytest.mark.parametrize("dialect", ["duckdb", "postgresql"])
@pytest.mark.parametrize("attack", sorted(DROPPED_TEMP_BYPASSES))
def test_a_dropped_temp_table_is_no_temp_table(attack, dialect):
    with pytest.raises(CohortSqlError, match="refused"):
        check_on(dialect, ATLAS_SQL + "\n" + DROPPED_TEMP_BYPASSES[attack])
    # creating it again makes it a temp table again; DROP ... IF EXISTS of a dropped one stays harmless
    check_on(dialect, ATLAS_SQL + "\nCREATE TEMP TABLE site_audit (x INT);\nDROP TABLE site_audit;\n"
                                  "CREATE TEMP TABLE site_audit (x INT);\nINSERT INTO site_audit VALUES (1);\n"
                                  "DROP TABLE site_audit;")


@pytest.mark.slow
def test_the_dropped_temp_table_attack_leaves_the_real_table_on_duckdb(tmp_path):
    """The reviewer's end-to-end reproducer: a real main.site_audit, shadowed by a temp table, dropped."""
    import duckdb

    db = make_db(tmp_path / "s.duckdb", small_site())
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE main.site_audit (x INT); INSERT INTO main.site_audit VALUES (1), (2)")
    con.close()
    before = db_state(db)
    for attack in sorted(DROPPED_TEMP_BYPASSES) + ["quoted", "qualified", "read_csv_quoted"]:
        sql = DROPPED_TEMP_BYPASSES.get(attack) or FUNCTION_BYPASSES[attack]
        spec = write_spec(tmp_path, ATLAS_SQL + "\n" + sql)
        with pytest.raises(CohortSqlError, match="refused"):
            run(db, tmp_path, spec, approve_cohort_sql=load_study(spec).spec_hash)
    assert db_state(db) == before and "main.site_audit" in before["tables"]
    assert not (tmp_path / "site.zip").exists()


def test_the_reviewed_attacks_fail_on_postgresql(tmp_path, postgres_url):
    """The reviewer's PostgreSQL reproducer (a server file's length as the cohort size, then the CDM's concept
    table dropped through a dropped temp table) and every variant: refused, nothing run; the approved ATLAS
    export still runs, with an empty search_path, and the site's search_path is restored."""
    import uuid

    from rcdm.db import execute_statements, exists_table, query_statement

    schema = f"attack_{uuid.uuid4().hex[:8]}"
    with connect_pg(postgres_url) as conn:
        load_site(conn, schema, small_site(), cohort_schema=schema)
        add_vocabulary(conn, schema, small_site())
        execute_statements(conn, [f"SET search_path TO {schema}, public"])  # a site whose path has the CDM
        try:
            reproducer = ("CREATE TEMP TABLE leak AS SELECT length(pg_catalog.\"pg_read_file\"('/etc/hostname'))"
                          " AS n;\n" + ATLAS_SQL + "\nCREATE TEMP TABLE concept AS SELECT 1 AS x;\n"
                          "DROP TABLE concept;\nDROP TABLE concept;")
            attacks = [reproducer, *(ATLAS_SQL + "\n" + a for a in FUNCTION_BYPASSES.values()),
                       *(ATLAS_SQL + "\n" + a for a in DROPPED_TEMP_BYPASSES.values())]
            for _number, sql in enumerate(attacks):
                spec = write_spec(tmp_path, sql)
                with pytest.raises(CohortSqlError, match="refused"):
                    run_study(spec, conn, schema, out=tmp_path / "r.zip",
                              site=SiteSettings(audit_log=tmp_path / "l"),
                              approve_cohort_sql=load_study(spec).spec_hash)
            assert exists_table(conn, schema, "concept") and exists_table(conn, schema, "person")
            assert int(query_statement(conn, f"SELECT COUNT(*) AS n FROM {schema}.cohort "
                                             "WHERE cohort_definition_id = 7").iloc[0, 0]) == 0
            good = write_spec(tmp_path, ATLAS_SQL)
            result = run_study(good, conn, schema, out=tmp_path / "ok.zip",
                               site=SiteSettings(audit_log=tmp_path / "l"),
                               approve_cohort_sql=load_study(good).spec_hash)
            assert result["generated_cohorts"] == [7] and exists_table(conn, schema, "concept")
            path = str(query_statement(conn, "SELECT current_setting('search_path') AS p").iloc[0, 0])
            assert path.replace(" ", "") == f"{schema},public"
        finally:
            execute_statements(conn, ["SET search_path TO DEFAULT", f"DROP SCHEMA {schema} CASCADE"])
    assert not (tmp_path / "r.zip").exists()


def connect_pg(url: str):
    from rcdm.db import connect

    return connect(url)


# --------------------------------------------------------------------------------------------------------------
# 2. The site's own minimum cell count


@pytest.mark.slow
def test_a_spec_can_raise_the_site_minimum_never_lower_it(tmp_path, capsys):
    db = make_db(tmp_path / "s.duckdb", small_site(ct_persons=40, mr_only=8))
    low = write_spec(tmp_path, None, min_cell_count=1)
    result = run(db, tmp_path, low, name="low.zip")
    assert result["min_cell_count"] == 5  # the site's default wins over the spec's 1
    files = site_files(tmp_path / "low.zip")
    assert json.loads(files["manifest.json"])["min_cell_count"] == 5
    assert table(files, "by_modality").set_index("modality").loc["MR", "persons"] == "8"
    (tmp_path / "site.yaml").write_text("min_cell_count: 10\naudit_log: releases.jsonl\n")
    settings = load_site_settings(tmp_path / "site.yaml")
    assert settings.min_cell_count == 10 and settings.audit_log == tmp_path / "releases.jsonl"
    assert main(["study", "run", str(low), "--db", str(db), "--schema", "cdm", "--site-config",
                 str(tmp_path / "site.yaml"), "--out", str(tmp_path / "cfg.zip")]) == 0
    assert "min cell count 10" in capsys.readouterr().out
    files = site_files(tmp_path / "cfg.zip")
    assert json.loads(files["manifest.json"])["min_cell_count"] == 10
    assert table(files, "by_modality").set_index("modality").loc["MR", "persons"] == "-10"
    high = write_spec(tmp_path, None, min_cell_count=12)
    assert run(db, tmp_path, high, name="high.zip", log="other.jsonl")["min_cell_count"] == 12
    (tmp_path / "bad.yaml").write_text("min_cell_count: 5\nspec_may_lower: true\n")
    assert main(["study", "run", str(low), "--db", str(db), "--schema", "cdm", "--site-config",
                 str(tmp_path / "bad.yaml")]) == 2


# --------------------------------------------------------------------------------------------------------------
# 3. Suppression that survives subtraction


@pytest.mark.slow
def test_the_reported_subtraction_no_longer_works(tmp_path):
    """30 persons with CT, 3 with MR only: MR used to be totals 33 - slice thickness 30 = 3."""
    db = make_db(tmp_path / "s.duckdb", small_site(30, 3))
    run(db, tmp_path)
    files = site_files(tmp_path / "site.zip")
    totals = table(files, "totals").iloc[0]
    modality = table(files, "by_modality").set_index("modality")
    thickness = table(files, "slice_thickness")
    every_thickness = thickness[thickness["bin_index"] == "0"].iloc[0]
    assert modality.loc["MR", "persons"] == "-5"
    # the attacker's subtraction needs the totals and the CT persons (from either table): withheld
    assert totals["persons"] == "-5" or (every_thickness["persons"] == "-5" and modality.loc["CT", "persons"] == "-5")
    manifest = json.loads(files["manifest.json"])
    tables = {a["id"]: table(files, a["id"]) for a in manifest["analyses"]}
    assert privacy.audit_suppression(tables, manifest["analyses"], 5) == []  # LP bounds: every hidden cell wide


def test_the_lp_audit_refuses_what_the_simple_rule_lets_through():
    """A zip where no relation has a single suppressed cell, yet MR is pinned by combining three relations."""
    analyses = [{"id": "totals", "type": "totals"}, {"id": "m", "type": "counts", "by": ["modality"]},
                {"id": "p", "type": "counts", "by": ["plane"]}, {"id": "mp", "type": "counts",
                                                                  "by": ["modality", "plane"]}]
    tables = {
        "totals": pd.DataFrame({"cohort_definition_id": [1], "persons": [40], "studies": [40], "images": [100]}),
        "m": pd.DataFrame({"cohort_definition_id": [1, 1], "modality": ["CT", "MR"], "persons": [-5, -5],
                           "studies": [-5, -5], "images": [-5, -5]}),
        "p": pd.DataFrame({"cohort_definition_id": [1, 1], "anatomical_plane": ["axial", "sagittal"],
                           "persons": [-5, -5], "studies": [-5, -5], "images": [-5, -5]}),
        "mp": pd.DataFrame({"cohort_definition_id": [1, 1, 1], "modality": ["CT", "CT", "MR"],
                            "anatomical_plane": ["axial", "sagittal", "sagittal"], "persons": [36, -5, -5],
                            "studies": [36, -5, -5], "images": [90, -5, -5]}),
    }
    problems = privacy.audit_suppression(tables, analyses, 5)
    assert any("narrower than 5" in p for p in problems), problems


@pytest.mark.slow
def test_nested_cohorts_that_differ_by_a_few_persons_are_refused(tmp_path):
    """Cohort 2 is cohort 1 less 3 persons: every cell of 1 minus the same cell of 2 would count those 3."""
    from rcdm.db import connect, insert_table

    data = small_site(ct_persons=40, mr_only=0)
    db = make_db(tmp_path / "s.duckdb", data)
    spec = json.loads(EXAMPLE_SPEC.read_text())
    spec["cohorts"] = [1, 2]
    (tmp_path / "nested.json").write_text(json.dumps(spec))
    nested = data["cohort"].assign(cohort_definition_id=2)
    with connect(db) as conn:
        insert_table(conn, "cdm", "cohort", nested.iloc[3:])  # cohort 2: cohort 1 without 3 persons
    with pytest.raises(privacy.StudyPrivacyError, match="cohorts 1 and 2 differ by 3 person"):
        run(db, tmp_path, tmp_path / "nested.json")
    assert not (tmp_path / "site.zip").exists()
    with connect(db) as conn:  # 10 persons of difference: published
        insert_table(conn, "cdm", "cohort", data["cohort"].assign(cohort_definition_id=3).iloc[10:])
    spec["cohorts"] = [1, 3]
    (tmp_path / "apart.json").write_text(json.dumps(spec))
    run(db, tmp_path, tmp_path / "apart.json", name="apart.zip")


def test_bins_are_fixed_by_the_tool():
    spec = json.loads(EXAMPLE_SPEC.read_text())
    spec["analyses"][5]["bins"] = [0.5, 0.75, 1]
    with pytest.raises(StudySpecError, match=r"analyses\[5\]\.bins.*fixed"):
        load_study(spec)
    assert all(list(edges) == sorted(set(edges)) for edges in BINS.values())


@pytest.mark.slow
def test_quantiles_are_never_one_persons_value(tmp_path):
    for n, offsets in ((5, [3, 17, 45, 120, 300]), (6, [2, 9, 40, 100, 200, 360]),
                       (40, [3] * 10 + [10] * 15 + [40] * 15)):
        db = make_db(tmp_path / f"q{n}.duckdb", small_site(ct_persons=n, mr_only=0, days=offsets))
        run(db, tmp_path, name=f"q{n}.zip", log=f"q{n}.jsonl")
        files = site_files(tmp_path / f"q{n}.zip")
        labels = {label for name in ("time_to_first_study", "slice_thickness", "resolution_rows")
                  for label in table(files, name)["bin"]}
        for name in ("time_to_first_study", "slice_thickness", "resolution_rows"):
            frame = table(files, name)
            assert not {"min_value", "max_value"} & set(frame.columns)
            summary = frame[frame["bin_index"] == "0"]
            for q in privacy.QUANTILE_COLUMNS:
                assert set(summary[q]) <= labels | {""}, (n, name, q)  # a fixed bin, never a value
                if n <= 6:
                    assert set(summary[q]) == {""}, (n, name, q)  # too few persons
        for name in ("time_to_first_study", "slice_thickness", "resolution_rows"):  # values: fixed edges only
            frame = table(files, name)
            edges = {str(e) for e in (*BINS["time_to_first_study"], *BINS["slice_thickness"],
                                      *BINS["resolution_rows"])} | {""}
            assert set(frame["bin_lower"]) | set(frame["bin_upper"]) <= edges, name
    ttfs = table(site_files(tmp_path / "q40.zip"), "time_to_first_study")
    assert ttfs[ttfs["bin_index"] == "0"].iloc[0]["median_bin"] in set(ttfs["bin"])


# --------------------------------------------------------------------------------------------------------------
# The site's release log: no differencing between releases of the same cohort


@pytest.mark.slow
def test_a_release_that_could_be_differenced_with_an_earlier_one_is_refused(tmp_path, capsys):
    data = small_site(ct_persons=40, mr_only=0)
    db = make_db(tmp_path / "s.duckdb", data)
    run(db, tmp_path, name="first.zip")
    run(db, tmp_path, name="again.zip")  # the same release again differs by nothing
    # the same cohort with a shorter window: the 4 persons whose study is on day 18 or 19 drop out
    narrower = write_spec(tmp_path, None, image_criteria={"modalities": ["CT", "MR"], "window_anchor": "start",
                                                          "window_start_days": -30, "window_end_days": 17})
    with pytest.raises(StudyReleaseError, match="differenced"):
        run(db, tmp_path, narrower, name="second.zip")
    assert not (tmp_path / "second.zip").exists()
    assert main(["study", "run", str(narrower), "--db", str(db), "--schema", "cdm", "--out",
                 str(tmp_path / "cli.zip"), "--audit-log", str(tmp_path / "log.jsonl")]) == 1
    assert "cdm.cohort#1|totals||persons: 36 now, 40 in the release of" in capsys.readouterr().err
    # the same spec after 3 more persons joined the cohort: the new release would publish them by difference
    from rcdm.db import connect, insert_table

    grown = small_site(ct_persons=43, mr_only=0)
    old = set(data["cohort"]["subject_id"])
    with connect(db) as conn:
        new_cohort = grown["cohort"][~grown["cohort"]["subject_id"].isin(old)]
        new_occurrences = grown["radiology_occurrence"][~grown["radiology_occurrence"]["person_id"].isin(old)]
        insert_table(conn, "cdm", "cohort", new_cohort)
        insert_table(conn, "cdm", "radiology_occurrence", new_occurrences)
        insert_table(conn, "cdm", "radiology_image", grown["radiology_image"][grown["radiology_image"][
            "radiology_occurrence_id"].isin(new_occurrences["radiology_occurrence_id"])])
    with pytest.raises(StudyReleaseError, match="43 now, 40 in the release"):
        run(db, tmp_path, name="grown.zip")
    # another database (another site's copy, a test database) is another cohort: its releases are independent
    run(make_db(tmp_path / "other.duckdb", grown), tmp_path, name="other.zip")
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(log) == 3 and {e["zip"] for e in log} == {"first.zip", "again.zip", "other.zip"}
    assert all(set(e) == {"time", "spec_hash", "site_name", "min_cell_count", "zip", "cells"} for e in log)
    assert oct(os.stat(tmp_path / "log.jsonl").st_mode & 0o777) == "0o600"
    (tmp_path / "log.jsonl").write_text("not json\n")  # a damaged log stops releases instead of being ignored
    with pytest.raises(StudyReleaseError, match="damaged"):
        run(db, tmp_path, name="third.zip")


# --------------------------------------------------------------------------------------------------------------
# 3. Merge treats every zip as hostile


@pytest.fixture(scope="module")
def good_zip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("merge")
    db = make_db(folder / "s.duckdb", small_site(ct_persons=40, mr_only=8))
    run(db, folder, name="site.zip")
    return folder / "site.zip"


def rezip(path: Path, files: dict[str, bytes], names: list[str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name in names or list(files):
            archive.writestr(name, files[name.split("#")[0]])
    return path


def resigned(files: dict[str, bytes], spec_change=None, manifest_change=None) -> dict[str, bytes]:
    """The files with spec.json and manifest.json edited and the hash recomputed (a consistent forgery)."""
    files = dict(files)
    spec = json.loads(files["spec.json"])
    manifest = json.loads(files["manifest.json"])
    if spec_change:
        spec_change(spec)
    files["spec.json"] = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    manifest["study_spec_hash"] = hashlib.sha256(files["spec.json"]).hexdigest()
    if manifest_change:
        manifest_change(manifest)
    files["manifest.json"] = json.dumps(manifest).encode()
    return files


def merge_cli(paths: list[Path], out: Path, capsys) -> tuple[int, str]:
    code = main(["study", "merge", *map(str, paths), "--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _traversal(spec):
    spec["analyses"][0]["id"] = "../../escaped"


NAME_ATTACKS = {  # what: (the site's files, a folder) -> a hostile zip
    "member_traversal": lambda files, tmp: rezip(tmp / "a.zip", {**files, "../escaped.csv": b"x"}),
    "member_absolute": lambda files, tmp: rezip(tmp / "b.zip", {**files, str(tmp / "abs.csv"): b"x"}),
    "member_folder": lambda files, tmp: rezip(tmp / "c.zip", {**files, "sub/x.csv": b"x"}),
    "analysis_id": lambda files, tmp: rezip(tmp / "d.zip", resigned(files, _traversal)),
    "duplicate_member": lambda files, tmp: rezip(tmp / "e.zip", files, [*files, "totals.csv"]),  # warns; refused
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("what", NAME_ATTACKS)
def test_names_inside_a_zip_never_write_outside_out(good_zip, tmp_path, capsys, what):
    path = NAME_ATTACKS[what](site_files(good_zip), tmp_path)
    before = files_under(tmp_path)
    code, err = merge_cli([path], tmp_path / "out" / what, capsys)
    assert code == 2 and str(path) in err, (what, err)
    assert not (tmp_path / "out" / what).exists(), what
    assert files_under(tmp_path) == before


@pytest.mark.slow
def test_a_zip_bomb_is_refused_while_streaming(good_zip, tmp_path, capsys):
    files = site_files(good_zip)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            if name != "totals.csv":
                archive.writestr(name, data)
        with archive.open("totals.csv", "w") as handle:
            block = b"0" * (1 << 20)
            for _ in range(256):  # 256 MiB of zeros, about 250 KB compressed
                handle.write(block)
    assert bomb.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(Exception, match="expands to more than"):
            read_zip_members(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * ZipLimits().max_member_bytes + (8 << 20)  # the limit, not the claimed 256 MiB
    code, err = merge_cli([bomb], tmp_path / "out", capsys)
    assert code == 2 and "expands to more than" in err and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_formula_values_are_escaped_in_every_csv(good_zip, tmp_path, capsys):
    named = tmp_path / "=HYPERLINK(&quot;http;x&quot;).zip"
    named.write_bytes(good_zip.read_bytes())
    result = merge_results([named], tmp_path / "out")
    sites = (tmp_path / "out" / "sites.csv").read_text()
    assert "'=HYPERLINK" in sites and "\n=HYPERLINK" not in sites and ",=HYPERLINK" not in sites
    for path in Path(result["out_dir"]).glob("*.csv"):
        for line in path.read_text().splitlines():
            for cell in line.split(","):
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), (path.name, cell)
                assert not cell.startswith("-") or cell.lstrip("-").replace(".", "").isdigit() or cell == "-inf"
    # a site name with a formula never gets that far: the manifest is refused
    evil = rezip(tmp_path / "evil.zip", resigned(site_files(good_zip), manifest_change=lambda m: m.update(
        site_name="=cmd|' /C calc'!A0")))
    code, err = merge_cli([evil], tmp_path / "out2", capsys)
    assert code == 2 and "site_name" in err
    assert escape_cell("=1+2") == "'=1+2" and escape_cell("-5") == "-5" and escape_cell("@SUM(A1)") == "'@SUM(A1)"
    assert escape_cell("-inf") == "-inf" and escape_cell("-x") == "'-x" and escape_cell("\tx") == "'\tx"
    assert csv_bytes(pd.DataFrame({"=a": ["+b", "3"]})) == b"'=a\n'+b\n3\n"


def test_the_same_site_restamped_is_a_duplicate(good_zip, tmp_path, capsys):
    restamped = rezip(tmp_path / "restamped.zip", resigned(site_files(good_zip), manifest_change=lambda m: m.update(
        created_utc="2030-01-01T00:00:00Z")))
    code, err = merge_cli([good_zip, restamped], tmp_path / "out", capsys)
    assert code == 2 and "counted twice" in err and not (tmp_path / "out").exists()


def _deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


MALFORMED = {
    "empty_file": lambda f, p: p.write_bytes(b""),
    "not_a_zip": lambda f, p: p.write_bytes(b"PK\x03\x04 this is not a zip at all"),
    "truncated": lambda f, p: p.write_bytes(rezip(p, f).read_bytes()[:300]),
    "no_manifest": lambda f, p: rezip(p, {k: v for k, v in f.items() if k != "manifest.json"}),
    "manifest_not_json": lambda f, p: rezip(p, {**f, "manifest.json": b"{oops"}),
    "manifest_is_a_list": lambda f, p: rezip(p, {**f, "manifest.json": b"[]"}),
    "manifest_min_is_text": lambda f, p: rezip(p, resigned(f, manifest_change=lambda m: m.update(min_cell_count="5"))),
    "manifest_min_lowered": lambda f, p: rezip(p, resigned(f, manifest_change=lambda m: m.update(min_cell_count=1))),
    "manifest_analyses_text": lambda f, p: rezip(p, resigned(f, manifest_change=lambda m: m.update(analyses="x"))),
    "manifest_analyses_items": lambda f, p: rezip(p, resigned(f, manifest_change=lambda m: m.update(
        analyses=[1, None]))),
    "spec_null": lambda f, p: rezip(p, {**f, "spec.json": b"null"}),
    "spec_deep": lambda f, p: rezip(p, {**f, "spec.json": _deep(100_000)}),
    "spec_unknown_key": lambda f, p: rezip(p, resigned(f, lambda s: s.update(run_sql="DROP TABLE x"))),
    "csv_garbage": lambda f, p: rezip(p, {**f, "totals.csv": b"\xff\xfe\x00garbage\n\"unclosed"}),
    "csv_missing_column": lambda f, p: rezip(p, {**f, "totals.csv": b"cohort_definition_id,persons\n1,40\n"}),
    "csv_extra_file": lambda f, p: rezip(p, {**f, "persons.csv": b"person_id\n1\n"}),
    "csv_missing_file": lambda f, p: rezip(p, {k: v for k, v in f.items() if k != "by_year.csv"}),
    "csv_small_count": lambda f, p: rezip(p, {**f, "totals.csv": b"cohort_definition_id,persons,studies,images\n"
                                                                 b"1,3,3,12\n"}),
    "csv_huge": lambda f, p: rezip(p, {**f, "by_year.csv": f["by_year.csv"] + b"1,2020,10,10,10\n" * 30_000}),
    "other_format": lambda f, p: rezip(p, resigned(f, manifest_change=lambda m: m.update(
        format="rcdm-study-results/2"))),
}


@pytest.mark.parametrize("attack", sorted(MALFORMED))
def test_malformed_zips_give_a_clear_error_and_exit_2(attack, good_zip, tmp_path, capsys):
    path = tmp_path / f"{attack}.zip"
    MALFORMED[attack](site_files(good_zip), path)
    code, err = merge_cli([path], tmp_path / "out", capsys)
    assert code == 2, (attack, err)
    assert str(path) in err or path.name in err, (attack, err)
    assert not (tmp_path / "out").exists()
    code, _ = merge_cli([tmp_path / "does_not_exist.zip"], tmp_path / "out", capsys)
    assert code == 2


@pytest.mark.slow
def test_the_bundled_example_publishes_nothing_recoverable_on_a_site_with_small_groups(tmp_path):
    """Small groups everywhere (3 MR persons, 1 person before the index, a 2-person year), audited by LP."""
    data = small_site(ct_persons=12, mr_only=3, days=[-4, *range(1, 12), 2, 3, 40])
    db = make_db(tmp_path / "s.duckdb", data)
    run(db, tmp_path)
    files = site_files(tmp_path / "site.zip")
    manifest = json.loads(files["manifest.json"])
    tables = {a["id"]: table(files, a["id"]) for a in manifest["analyses"]}
    assert privacy.audit_suppression(tables, manifest["analyses"], 5) == []
    from rcdm.study_bounds import cell_bounds, uncertainty

    values = privacy._count_values(tables, privacy._kinds(manifest["analyses"]))
    hidden = {c for c, v in values.items() if v == -5}
    assert hidden  # small groups were there, and are hidden
    relations, _ = privacy.zip_relations(tables, manifest["analyses"])
    bounds = cell_bounds(relations, values, hidden)
    assert all(uncertainty(b) >= 5 for b in bounds.values()), bounds
    for name, frame in tables.items():
        for column in privacy.count_columns(*privacy._kinds(manifest["analyses"])[name]):
            assert not frame[column].astype(int).between(1, 4).any(), (name, column)


@pytest.mark.slow
def test_random_damage_never_ends_in_a_traceback(good_zip, tmp_path, capsys):
    """60 seeded mutations (flipped bytes, cut or repeated slices of a member, or of the zip itself): merge either
    accepts the zip (a change that still passes every check) or exits 2 naming it; never anything else."""
    import random

    rng = random.Random(12)
    files = site_files(good_zip)
    codes = []
    for n in range(60):
        damaged = dict(files)
        name = rng.choice(sorted(damaged))
        data = bytearray(damaged[name])
        how = rng.choice(["flip", "cut", "repeat", "zip"])
        if how == "flip":
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif how == "cut":
            start = rng.randrange(len(data))
            del data[start:start + rng.randint(1, 40)]
        elif how == "repeat":
            start = rng.randrange(len(data))
            data[start:start] = data[start:start + rng.randint(1, 60)] * rng.randint(1, 3)
        damaged[name] = bytes(data)
        path = rezip(tmp_path / f"m{n}.zip", damaged)
        if how == "zip":
            raw = bytearray(good_zip.read_bytes())
            raw[rng.randrange(len(raw))] ^= 0xFF
            path.write_bytes(bytes(raw))
        code, err = merge_cli([path], tmp_path / f"out{n}", capsys)
        assert code in (0, 2), (n, how, name, err)
        assert code == 0 or path.name in err, (n, how, name, err)
        codes.append(code)
    assert codes.count(2) > 40  # most damage is caught
