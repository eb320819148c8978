"""Shared helpers of the tests/test_vocab_*.py files: database connections and real-format vocabulary files."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
from conftest import connect_backend

from rcdm.db import exists_table, query_sql
from rcdm.protocols.vocab_data import fixtures_dir

FIX = fixtures_dir()
CONCEPT_HEADER = ("concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\tstandard_concept\t"
                  "concept_code\tvalid_start_date\tvalid_end_date\tinvalid_reason")
STCM_HEADER = ("source_code,source_concept_id,source_vocabulary_id,source_code_description,target_concept_id,"
               "target_vocabulary_id,valid_start_date,valid_end_date,invalid_reason")

# Test-only concepts (ids in the 2-billion range OMOP leaves to local concepts, so they can never be mistaken
# for real Athena ids): LOINC 24725-4 "CT Head" and DICOM Modality / BodyPartExamined codes.
CT_HEAD_TEST_CONCEPT = 2_000_000_101
DICOM_CT_TEST_CONCEPT = 2_000_000_201
DICOM_HEAD_TEST_CONCEPT = 2_000_000_202
EXTRA_CONCEPTS = [
    f"{CT_HEAD_TEST_CONCEPT}\tCT Head\tProcedure\tLOINC\tClinical Observation\tS\t24725-4\t19700101\t20991231\t",
    f"{DICOM_CT_TEST_CONCEPT}\tComputed Tomography\tMeas Value\tDICOM\tQualifier Value\t\tCT\t20240101\t20991231\t",
    f"{DICOM_HEAD_TEST_CONCEPT}\tHead\tSpec Anatomic Site\tDICOM\tQualifier Value\t\tHEAD\t20240101\t20991231\t",
]


def open_conn(kind: str, tmp_path: Path, request, schemas: tuple[str, ...] = ()):
    """A connection to DuckDB, SQLite or the session's PostgreSQL server (its schemas dropped first)."""
    return connect_backend(kind, tmp_path, request, drop_schemas=schemas, name="vocab")


def athena_folder(tmp_path: Path, extra_concepts: list[str] = (), relationships: bool = True) -> Path:
    """An Athena-format folder: the fixture CONCEPT.csv (plus test rows), small CONCEPT_RELATIONSHIP and
    CONCEPT_ANCESTOR files in Athena's real layout (tab-separated, dates YYYYMMDD)."""
    folder = tmp_path / "athena"
    folder.mkdir(parents=True, exist_ok=True)
    text = (FIX / "CONCEPT.csv").read_text(encoding="utf-8").rstrip("\n")
    (folder / "CONCEPT.csv").write_text(text + "".join("\n" + r for r in extra_concepts) + "\n", encoding="utf-8")
    if relationships:
        (folder / "CONCEPT_RELATIONSHIP.csv").write_text(
            "concept_id_1\tconcept_id_2\trelationship_id\tvalid_start_date\tvalid_end_date\tinvalid_reason\n"
            "3002086\t3002086\tMaps to\t19700101\t20991231\t\n"
            "3051673\t3051673\tMaps to\t20060728\t20991231\t\n", encoding="utf-8")
        (folder / "CONCEPT_ANCESTOR.csv").write_text(
            "ancestor_concept_id\tdescendant_concept_id\tmin_levels_of_separation\tmax_levels_of_separation\n"
            "3002086\t3002086\t0\t0\n3051673\t3051673\t0\t0\n", encoding="utf-8")
    return folder


def big_concept_file(folder: Path, rows: int, bad_line: int | None = None) -> Path:
    """A CONCEPT.csv of ``rows`` generated concepts; line ``bad_line`` (1 = header) has a bad date."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "CONCEPT.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(CONCEPT_HEADER + "\n")
        for i in range(rows):
            line = i + 2
            start = "2020-01-01" if line == bad_line else "20200101"
            fh.write(f"{1_000_000 + i}\tConcept {i}\tProcedure\tLOINC\tClinical Observation\tS\tX{i}\t{start}\t"
                     "20991231\t\n")
    return path


def table_rows(conn, schema: str, table: str) -> list[tuple] | None:
    """Every row of a table, sorted (None when the table does not exist): to compare "before" and "after"."""
    if not exists_table(conn, schema, table):
        return None
    frame = query_sql(conn, f"SELECT * FROM {schema}.{table};")
    frame = frame.astype(object).where(pd.notna(frame), None)
    return sorted(tuple(str(v) for v in row) for row in frame.itertuples(index=False, name=None))


def write_stcm(path: Path, rows: list[dict]) -> Path:
    """A source_to_concept_map CSV as Usagi exports it (comma-separated, ISO dates, empty invalid_reason)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(STCM_HEADER.split(","))
        for r in rows:
            writer.writerow([r["source_code"], 0, r.get("source_vocabulary_id", "RCDM_PROTOCOL"),
                             r.get("source_code_description", ""), r["target_concept_id"],
                             r.get("target_vocabulary_id", "LOINC"), "1970-01-01", "2099-12-31",
                             r.get("invalid_reason", "")])
    return path


def copy_fixture(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copy(FIX / name, target)
    return target


TODAY = dt.date.today()
