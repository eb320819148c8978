"""`rcdm demo` tells the whole story on Eunomia GiBleed: cohort images, protocol coverage and MI-CDM rows are
all non-zero, every file it names exists, and nothing identifying reaches the database or the outputs."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from rcdm.cli import main
from rcdm.db import connect, query_sql
from rcdm.demo import demo_data_dir

pytestmark = pytest.mark.slow  # builds and loads whole example CDMs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "rcdm-demo"
    return out, main(["demo", "--out", str(out), "--workers", "1"])


def test_demo_summary_shows_the_whole_story(demo, capsys):
    out, code = demo
    assert code == 0
    from rcdm.demo import run_demo

    summary = run_demo(str(out), workers=1, quiet=True)  # a second run: same result, nothing loaded twice
    assert summary["cdm_persons"] == 2694 and summary["cohort_persons"] == 479  # Eunomia GiBleed's cohort
    assert summary["cohort_images"] > 0 and summary["cohort_image_persons"] > 0
    assert summary["protocol_studies_mapped"] > 0
    assert summary["micdm_rows"] > 0
    assert summary["studies"] == 36 and summary["persons_with_images"] == 12
    for key in ("report", "manifest", "study_results", "database"):
        assert Path(summary[key]).is_file(), key
    assert "<html" in Path(summary["report"]).read_text(encoding="utf-8").lower()
    with zipfile.ZipFile(summary["study_results"]) as z:
        assert z.namelist()


def test_demo_images_lie_in_observation_periods_and_near_the_bleed(demo):
    out, _ = demo
    with connect(str(out / "demo.duckdb")) as conn:
        outside = query_sql(conn, """SELECT COUNT(*) AS n FROM cdm.radiology_occurrence r WHERE NOT EXISTS (
            SELECT 1 FROM cdm.observation_period op WHERE op.person_id = r.person_id
              AND r.radiology_occurrence_date BETWEEN op.observation_period_start_date
                                                 AND op.observation_period_end_date);""")
        near = query_sql(conn, """SELECT COUNT(DISTINCT r.person_id) AS n FROM cdm.radiology_occurrence r
            JOIN cdm.cohort c ON c.subject_id = r.person_id AND c.cohort_definition_id = 1
            WHERE r.radiology_occurrence_date BETWEEN c.cohort_start_date AND c.cohort_start_date + INTERVAL 2 DAY;""")
        names = query_sql(conn, "SELECT COUNT(*) AS n FROM cdm.radiology_occurrence "
                                "WHERE radiology_occurrence_source_value LIKE '%PERSON%' "
                                "OR protocol_source_value LIKE '%DEMO^%';")
    assert outside["n"][0] == 0
    assert near["n"][0] == 8  # every cohort member with imaging has a study at the bleed
    assert names["n"][0] == 0


def test_demo_prints_what_to_open_next(tmp_path, capsys):
    from rcdm.demo import format_summary

    text = format_summary({"database": "d.duckdb", "cdm_persons": 2694, "cohort_persons": 479,
                           "persons_with_images": 12, "studies": 36, "images": 105, "protocol_studies": 36,
                           "protocol_studies_mapped": 12, "micdm_rows": 47, "cohort_images": 40,
                           "cohort_image_persons": 8, "suppressed_cells": 3, "report": "r.html",
                           "manifest": "m.csv", "study_results": "s.zip"})
    assert "12 of 36 studies (33%)" in text and "rcdm viewer --db d.duckdb" in text and "r.html" in text


def test_the_bundled_cohort_sql_is_the_one_in_extras():
    """extras/cohorts/GiBleed.sql links to the package's copy (the one installed with rcdm, from a wheel too)."""
    extras = REPO / "extras" / "cohorts" / "GiBleed.sql"
    assert extras.resolve() == (REPO / "rcdm" / "demo_data" / "GiBleed.sql").resolve()
    assert extras.read_bytes() == (demo_data_dir() / "GiBleed.sql").read_bytes()
