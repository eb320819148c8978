"""Cohorts without ATLAS: ATLAS-style cohort SQL on Eunomia GiBleed, on DuckDB and PostgreSQL, checked with pandas."""

from __future__ import annotations

import datetime as dt
import uuid
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from rcdm.cdm_csv import load_cdm_csv
from rcdm.cli import main
from rcdm.cohort import generate_cohort
from rcdm.db import connect, execute_sql, exists_table, query_sql
from rcdm.errors import IdentifierError, UsageError
from rcdm.resources import read_template
from rcdm.sql import list_supported_dialects, render, translate

REPO = Path(__file__).resolve().parents[1]
GIBLEED = REPO / "tests" / "data" / "eunomia" / "GiBleed_5.3_csv.zip"
COHORTS = REPO / "extras" / "cohorts"
CDM_TABLES = ["person", "observation_period", "condition_occurrence", "drug_exposure", "concept", "concept_ancestor"]
GI_BLEED = 192671
CELECOXIB = 1118084


def read_csv(table: str, **kwargs) -> pd.DataFrame:
    with zipfile.ZipFile(GIBLEED) as z, z.open(f"{table}.csv") as f:
        return pd.read_csv(f, **kwargs)


def _dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    frame = frame.copy()
    for c in columns:
        frame[c] = pd.to_datetime(frame[c]).dt.date
    return frame


def codeset(ancestor: int) -> set[int]:
    """ATLAS's concept set with descendants: the concept itself plus valid descendants found in concept."""
    concept = read_csv("concept", usecols=["concept_id", "invalid_reason"])
    ca = read_csv("concept_ancestor", usecols=["ancestor_concept_id", "descendant_concept_id"])
    valid = set(concept.loc[concept["invalid_reason"].isna(), "concept_id"])
    ids = set(concept.loc[concept["concept_id"] == ancestor, "concept_id"])
    return ids | (set(ca.loc[ca["ancestor_concept_id"] == ancestor, "descendant_concept_id"]) & valid)


def observation_periods() -> pd.DataFrame:
    op = read_csv("observation_period", usecols=["person_id", "observation_period_start_date",
                                                 "observation_period_end_date"])
    return _dates(op, "observation_period_start_date", "observation_period_end_date")


def gi_bleed_conditions() -> pd.DataFrame:
    """condition_occurrence rows of the GI bleed codeset, with dates."""
    co = read_csv("condition_occurrence", usecols=["condition_occurrence_id", "person_id", "condition_concept_id",
                                                   "condition_start_date"])
    return _dates(co[co["condition_concept_id"].isin(codeset(GI_BLEED))], "condition_start_date")


def first_inside_observation(events: pd.DataFrame, date_column: str, id_column: str) -> pd.DataFrame:
    """Each person's first event (earliest date, then lowest id), kept when an observation period holds it."""
    first = events.sort_values(["person_id", date_column, id_column]).groupby("person_id").head(1)
    merged = first.merge(observation_periods(), on="person_id")
    return merged[(merged["observation_period_start_date"] <= merged[date_column])
                  & (merged[date_column] <= merged["observation_period_end_date"])]


def gibleed_reference() -> pd.DataFrame:
    """First GI bleed per person inside an observation period; exit at the period's end (pandas, by hand)."""
    inside = first_inside_observation(gi_bleed_conditions(), "condition_start_date", "condition_occurrence_id")
    return pd.DataFrame({"subject_id": inside["person_id"], "cohort_start_date": inside["condition_start_date"],
                         "cohort_end_date": inside["observation_period_end_date"]})


def celecoxib_reference() -> pd.DataFrame:
    """New users of celecoxib, >= 365 days prior observation, no GI bleed before in the period, 365-day exit."""
    de = read_csv("drug_exposure", usecols=["drug_exposure_id", "person_id", "drug_concept_id",
                                            "drug_exposure_start_date"])
    de = _dates(de[de["drug_concept_id"].isin(codeset(CELECOXIB))], "drug_exposure_start_date")
    m = first_inside_observation(de, "drug_exposure_start_date", "drug_exposure_id")
    m = m[m["observation_period_start_date"] + dt.timedelta(days=365) <= m["drug_exposure_start_date"]]
    co = gi_bleed_conditions()
    prior = m.merge(co, on="person_id")
    prior = prior[(prior["condition_start_date"] >= prior["observation_period_start_date"])
                  & (prior["condition_start_date"] <= prior["drug_exposure_start_date"])]
    m = m[~m["person_id"].isin(set(prior["person_id"]))]
    end = (m["drug_exposure_start_date"] + dt.timedelta(days=365)).where(
        m["drug_exposure_start_date"] + dt.timedelta(days=365) <= m["observation_period_end_date"],
        m["observation_period_end_date"])
    return pd.DataFrame({"subject_id": m["person_id"], "cohort_start_date": m["drug_exposure_start_date"],
                         "cohort_end_date": end})


def cohort_rows(conn, schema: str, cohort_id: int, table: str = "cohort") -> pd.DataFrame:
    frame = query_sql(conn, f"SELECT subject_id, cohort_start_date, cohort_end_date FROM {schema}.{table} "
                            f"WHERE cohort_definition_id = {cohort_id};")
    frame = _dates(frame, "cohort_start_date", "cohort_end_date")
    return frame.sort_values("subject_id").reset_index(drop=True)


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    key = ["subject_id", "cohort_start_date", "cohort_end_date"]
    a = a[key].astype({"subject_id": "int64"}).sort_values(key).reset_index(drop=True)
    b = b[key].astype({"subject_id": "int64"}).sort_values(key).reset_index(drop=True)
    return a.equals(b)


@pytest.fixture(scope="module", params=["duckdb", "sqlite", "postgresql"])
def cdm(request, tmp_path_factory):
    """GiBleed's clinical tables and vocabulary in schema ``cdm`` (DuckDB, SQLite) or a fresh schema (PostgreSQL)."""
    if request.param == "duckdb":
        conn = connect(tmp_path_factory.mktemp("cohort") / "gibleed.duckdb")
        schema, results = "cdm", "results"
    elif request.param == "sqlite":
        conn = connect(f"sqlite:///{tmp_path_factory.mktemp('cohort') / 'gibleed.sqlite'}")
        schema, results = "cdm", "results"
    else:
        conn = connect(request.getfixturevalue("postgres_url"))
        tag = uuid.uuid4().hex[:8]
        schema, results = f"gib_{tag}", f"res_{tag}"
    load_cdm_csv(conn, schema, GIBLEED, tables=CDM_TABLES)
    yield conn, schema, results
    if request.param == "postgresql":
        execute_sql(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {results} CASCADE;")
    conn.close()


@pytest.mark.slow
def test_gibleed_cohort_has_479_persons_and_matches_pandas(cdm):
    conn, schema, results = cdm
    result = generate_cohort(conn, COHORTS / "GiBleed.sql", 1, schema, results)
    assert (result["persons"], result["entries"]) == (479, 479)
    assert result["cohort_table"] == f"{results}.cohort"
    reference = gibleed_reference()
    assert len(reference) == 479
    assert same_rows(cohort_rows(conn, results, 1), reference)


@pytest.mark.slow
def test_regenerating_replaces_rows_and_keeps_other_cohorts(cdm):
    conn, schema, results = cdm
    generate_cohort(conn, COHORTS / "GiBleed.sql", 11, schema, results)
    generate_cohort(conn, str(COHORTS / "GiBleed.sql"), 12, schema, results)
    again = generate_cohort(conn, (COHORTS / "GiBleed.sql").read_text(), 11.0, schema, results)  # R double
    assert (again["persons"], again["entries"], again["created_table"]) == (479, 479, False)
    counts = query_sql(conn, f"SELECT cohort_definition_id AS id, COUNT(*) AS n FROM {results}.cohort "
                             "WHERE cohort_definition_id IN (11, 12) GROUP BY cohort_definition_id ORDER BY 1;")
    assert counts["n"].tolist() == [479, 479]


@pytest.mark.slow
def test_celecoxib_new_users_match_pandas(cdm):
    conn, schema, results = cdm
    reference = celecoxib_reference()
    result = generate_cohort(conn, COHORTS / "CelecoxibNewUsers.sql", 2, schema, results,
                             target_cohort_table="study_cohort", vocabulary_database_schema=schema)
    assert result["created_table"] is True and exists_table(conn, results, "study_cohort")
    assert result["persons"] == len(reference) == result["entries"]
    assert 1000 < len(reference) < 1844  # the inclusion rule and prior observation remove some new users
    assert same_rows(cohort_rows(conn, results, 2, "study_cohort"), reference)


@pytest.mark.slow
def test_refusals_before_sql(cdm):
    conn, schema, results = cdm
    sql = COHORTS / "GiBleed.sql"
    with pytest.raises(IdentifierError):
        generate_cohort(conn, sql, 1, "cdm; DROP TABLE x", results)
    with pytest.raises(IdentifierError):
        generate_cohort(conn, sql, 1, schema, results, target_cohort_table="cohort x")
    with pytest.raises(UsageError, match="whole number"):
        generate_cohort(conn, sql, 1.5, schema, results)
    with pytest.raises(UsageError, match="@my_custom_schema"):
        generate_cohort(conn, "SELECT * FROM @my_custom_schema.person;\nSELECT 1;", 3, schema, results)
    with pytest.raises(UsageError, match="No such cohort SQL file"):
        generate_cohort(conn, "no_such_cohort.sql", 3, schema, results)


@pytest.mark.slow
def test_cli_cohort_generate(tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    with connect(db) as conn:
        load_cdm_csv(conn, "cdm", GIBLEED, tables=CDM_TABLES)
    argv = ["cohort", "generate", "--sql", str(COHORTS / "GiBleed.sql"), "--cohort-id", "5", "--db", str(db),
            "--schema", "cdm", "--cohort-schema", "results"]
    assert main(argv) == 0
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("479 persons, 479 entries") == 2
    assert main(["cohort", "generate", "--sql", str(tmp_path / "none.sql"), "--cohort-id", "5", "--db", str(db)]) == 2


COHORT_PARAMETERS = dict(cdm_database_schema="cdm", vocabulary_database_schema="vocab",
                         target_database_schema="results", target_cohort_table="cohort", target_cohort_id=1,
                         results_database_schema="results")


@pytest.mark.parametrize("dialect", list_supported_dialects())
def test_templates_render_and_translate_to_every_dialect(dialect):
    from rcdm.extract import image_query_parameters

    every_filter = image_query_parameters(
        1, "cdm", "results", "cohort", modalities=["CT", "MR"], protocol_concept_ids=[3004287, 3002086.0],
        include_descendants=True, vocabulary_database_schema="vocab", body_parts="HEAD", contrast="pre",
        planes="axial", lateralities="L", min_slice_thickness=0.5, max_slice_thickness=5, window_start_days=-30,
        window_end_days=30, window_anchor="end", first_study_only=True)
    rendered = [
        render(read_template("CreateCohortTable.sql")),
        render(read_template("GetCohortImages.sql")),
        render(read_template("GetCohortImages.sql"), counts_only=True),
        render(read_template("GetCohortImages.sql"), parameters=every_filter),
        render(read_template("GetCohortImages.sql"), parameters={**every_filter, "counts_only": "TRUE"}),
    ] + [render(f.read_text(), warn_on_missing_parameters=False, **COHORT_PARAMETERS)
         for f in sorted(COHORTS.glob("*.sql"))]
    for sql in rendered:
        assert "@" not in sql.replace("@@", "")
        assert translate(sql, dialect, temp_emulation_schema="scratch").strip()
