"""The ``rcdm vocab`` verbs end to end on a DuckDB file: load, remap, export for Usagi, load the answer, explain,
MI-CDM; a malformed file exits with a usage error and changes nothing."""

from __future__ import annotations

import csv
import datetime as dt

import pandas as pd
import pytest
from vocab_helpers import EXTRA_CONCEPTS, FIX, athena_folder, write_stcm

from rcdm import connect, create_tables
from rcdm.cli import main
from rcdm.db import insert_table, query_sql

PAPER = "CT|HEAD|CT HEAD W CONTRAST IV||"


@pytest.mark.slow
def test_vocab_workflow(tmp_path, capsys):
    db = str(tmp_path / "cli.duckdb")
    with connect(db) as conn:
        create_tables(conn, "cdm")
        insert_table(conn, "cdm", "radiology_occurrence", pd.DataFrame({
            "radiology_occurrence_id": [1, 2], "person_id": [1, 2],
            "radiology_occurrence_date": [dt.date(2020, 1, 1)] * 2, "protocol_concept_id": [0, 0],
            "protocol_source_value": [PAPER, "MR|SPINE|ZZZ SPINE THING||"],
            "radiology_occurrence_source_value": ["h1", "h2"]}))
        insert_table(conn, "cdm", "radiology_image", pd.DataFrame({
            "radiology_image_id": [1, 2], "radiology_occurrence_id": [1, 2], "radiology_series_id": [10, 20],
            "file_path": ["a", "b"], "modality": ["CT", "MR"], "radiology_series_source_value": ["s1", "s2"]}))
    base = ["--db", db, "--schema", "cdm"]
    assert main(["vocab", "load-athena", str(athena_folder(tmp_path, EXTRA_CONCEPTS)), *base]) == 0
    assert "concept 5 rows" in capsys.readouterr().out
    assert main(["vocab", "load-playbook", str(FIX / "LoincRsnaRadiologyPlaybook.csv"), *base]) == 0
    assert main(["vocab", "remap", *base]) == 0
    assert "mapped 0 → 1, 1 changed" in capsys.readouterr().out
    out = tmp_path / "unmapped.csv"
    assert main(["vocab", "unmapped", *base, "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["source_code"] for r in rows] == ["MR|SPINE|ZZZ SPINE THING||"]
    answer = write_stcm(tmp_path / "usagi.csv", [{"source_code": rows[0]["source_code"],
                                                  "source_code_description": rows[0]["source_name"],
                                                  "target_concept_id": 3051673}])
    assert main(["vocab", "load-stcm", str(answer), *base]) == 0
    assert main(["vocab", "remap", *base]) == 0
    assert "mapped 1 → 2, 1 changed" in capsys.readouterr().out
    assert main(["vocab", "explain", "MR|SPINE|ZZZ SPINE THING||", "--db", db]) == 0
    assert "SITE MAPPING WINS: concept 3051673" in capsys.readouterr().out
    assert main(["vocab", "micdm", *base, "--quiet"]) == 0
    with connect(db) as conn:
        assert len(query_sql(conn, "SELECT * FROM cdm.image_occurrence;")) == 2

    bad = tmp_path / "bad.csv"
    bad.write_text("LoincNumber\tLongCommonName\n", encoding="utf-8")
    before = None
    with connect(db) as conn:
        before = len(query_sql(conn, "SELECT * FROM cdm.rcdm_playbook;"))
    assert main(["vocab", "load-playbook", str(bad), *base]) == 2
    assert "wrong delimiter" in capsys.readouterr().err
    with connect(db) as conn:
        assert len(query_sql(conn, "SELECT * FROM cdm.rcdm_playbook;")) == before


def test_explain_with_the_bundled_fixtures(capsys):
    assert main(["vocab", "explain", "CT", "HEAD", "W", "CONTRAST", "IV", "--modality", "CT"]) == 0
    out = capsys.readouterr().out
    assert "result: loinc=24727-0 concept_id=3002086" in out and "rank" in out
    assert main(["vocab", "explain", PAPER, "--top", "1"]) == 0
    assert "loinc=24727-0" in capsys.readouterr().out
