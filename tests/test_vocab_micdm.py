"""MI-CDM image_occurrence filled from the R-CDM tables, and the report's protocol coverage (DuckDB, SQLite,
PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from vocab_helpers import (
    CT_HEAD_TEST_CONCEPT,
    DICOM_CT_TEST_CONCEPT,
    DICOM_HEAD_TEST_CONCEPT,
    EXTRA_CONCEPTS,
    FIX,
    athena_folder,
    open_conn,
    write_stcm,
)

from rcdm import create_tables, populate_micdm, remap
from rcdm.db import insert_table, query_sql
from rcdm.protocols import store
from rcdm.report import format_report, quality_report

VOCAB, CDM = "vocab_m", "cdm_m"
SNOMED_TEST_CONCEPT = 2_000_000_301  # a site's own mapping of BodyPartExamined CHEST (test-only id)

OCCURRENCE = pd.DataFrame({
    "radiology_occurrence_id": [1, 2, 3],
    "person_id": [7, 7, 8],
    "visit_occurrence_id": pd.array([70, None, None], dtype="Int64"),
    "radiology_occurrence_date": [dt.date(2022, 5, 1), dt.date(2022, 6, 1), None],
    "modality": ["CT", "CR", "CT"],
    "protocol_concept_id": [0, 0, 0],
    "protocol_source_value": ["CT|HEAD|CT HEAD W CONTRAST IV||", "CR|CHEST|ZZZ CHEST THING||", "CT|HEAD|CT HEAD||"],
    "radiology_occurrence_source_value": ["study-1", "study-2", "study-3"],
})
IMAGE = pd.DataFrame({
    "radiology_image_id": range(1, 8),
    "radiology_occurrence_id": [1, 1, 1, 2, 2, 2, 3],
    "radiology_series_id": [101, 101, 102, 201, 201, 201, 301],
    "file_path": [f"p/{i}" for i in range(1, 8)],
    "modality": ["CT", "CT", "CT", "CR", "CR", "CR", "CT"],
    "body_part_source_value": ["HEAD", "HEAD", "HEAD", "CHEST", "CHEST", "CHEST", "HEAD"],
    "radiology_series_source_value": ["s101", "s101", "s102", "s201", "s201", "s201", "s301"],
})


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def db(request, tmp_path):
    conn = open_conn(request.param, tmp_path, request, (VOCAB, CDM))
    create_tables(conn, CDM)
    insert_table(conn, CDM, "radiology_occurrence", OCCURRENCE)
    insert_table(conn, CDM, "radiology_image", IMAGE)
    yield conn
    conn.close()


def _occurrences(conn) -> dict[int, tuple]:
    frame = query_sql(conn, "SELECT * FROM @s.image_occurrence ORDER BY image_occurrence_id;", s=CDM)
    return {int(r["image_occurrence_id"]): (int(r["person_id"]), int(r["procedure_occurrence_id"]),
                                            str(r["image_occurrence_date"])[:10], r["image_study_uid"],
                                            r["image_series_uid"], int(r["modality_concept_id"]),
                                            int(r["anatomic_site_concept_id"]))
            for r in frame.to_dict("records")}


def test_populate_micdm_looks_concepts_up_and_is_idempotent(db, tmp_path):
    store.load_athena(db, VOCAB, athena_folder(tmp_path, EXTRA_CONCEPTS))
    store.load_stcm(db, CDM, write_stcm(tmp_path / "sites.csv", [
        {"source_code": "CHEST", "source_vocabulary_id": "RCDM_BODY_PART", "target_concept_id": SNOMED_TEST_CONCEPT,
         "target_vocabulary_id": "SNOMED"}]))
    result = populate_micdm(db, CDM, VOCAB)
    assert result == {"series": 4, "image_occurrence": 3, "modality_mapped": 2, "anatomic_site_mapped": 3,
                      "skipped": 1}
    expected = {
        101: (7, 0, "2022-05-01", "study-1", "s101", DICOM_CT_TEST_CONCEPT, DICOM_HEAD_TEST_CONCEPT),
        102: (7, 0, "2022-05-01", "study-1", "s102", DICOM_CT_TEST_CONCEPT, DICOM_HEAD_TEST_CONCEPT),
        201: (7, 0, "2022-06-01", "study-2", "s201", 0, SNOMED_TEST_CONCEPT),  # no DICOM 'CR' concept; site map
    }
    assert _occurrences(db) == expected  # 301: its study has no date (NOT NULL in MI-CDM), skipped
    visit = query_sql(db, "SELECT visit_occurrence_id FROM @s.image_occurrence WHERE image_occurrence_id = 101;", s=CDM)
    assert int(visit.iloc[0, 0]) == 70
    assert populate_micdm(db, CDM, VOCAB) == result
    assert _occurrences(db) == expected


def test_populate_micdm_without_vocabulary_gives_zero_concepts(db):
    result = populate_micdm(db, CDM)
    assert result["image_occurrence"] == 3 and result["modality_mapped"] == result["anatomic_site_mapped"] == 0


@pytest.mark.slow
def test_report_protocol_coverage_by_studies_and_images(db, tmp_path):
    report = quality_report(db, CDM)
    coverage = report["protocol_coverage"].set_index("unit")
    assert coverage.loc["studies", "total"] == 3 and coverage.loc["studies", "mapped"] == 0
    store.load_athena(db, VOCAB, athena_folder(tmp_path, EXTRA_CONCEPTS))
    store.load_playbook(db, CDM, FIX / "LoincRsnaRadiologyPlaybook.csv")
    remap(db, CDM, VOCAB)  # study 1 → 3002086, study 3 → the CT Head test concept, study 2 unmapped
    coverage = quality_report(db, CDM)["protocol_coverage"]
    rows = {r["unit"]: r for r in coverage.to_dict("records")}
    assert (rows["studies"]["total"], rows["studies"]["mapped"], rows["studies"]["unmapped"]) == (3, 2, 1)
    assert rows["studies"]["mapped_pct"] == 66.67
    assert (rows["images"]["total"], rows["images"]["mapped"], rows["images"]["mapped_pct"]) == (7, 4, 57.14)
    text = format_report(quality_report(db, CDM))
    assert "Protocol coverage" in text
    assert any(line.split() == ["studies", "3", "2", "1", "66.67"] for line in text.splitlines())
    assert any(line.split() == ["images", "7", "4", "3", "57.14"] for line in text.splitlines())
    assert 'class="protocol-coverage"' in format_report(quality_report(db, CDM), "html")
    assert query_sql(db, "SELECT protocol_concept_id FROM @s.radiology_occurrence WHERE radiology_occurrence_id = 3;",
                     s=CDM).iloc[0, 0] == CT_HEAD_TEST_CONCEPT
