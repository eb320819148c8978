"""LOINC's own code table (Loinc.csv + LoincPartLink) as the matcher's term source: loading, filtering, parsing
of the axes, errors, and agreement with the playbook-built matcher."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from rcdm.errors import UsageError
from rcdm.protocols import ProtocolMatcher
from rcdm.protocols import playbook as pb
from rcdm.protocols.loinc_table import load_loinc_table, term_from_axes
from rcdm.protocols.vocab_data import fixtures_dir

FIX = fixtures_dir()


def test_loads_radiology_terms_only():
    terms = load_loinc_table(FIX / "Loinc.csv")
    assert len(terms) == 82
    assert "2345-7" not in terms  # CLASS CHEM
    assert "24610-8" not in terms  # DEPRECATED
    assert "24610-8" in load_loinc_table(FIX / "Loinc.csv", statuses=("ACTIVE", "DEPRECATED"))


def test_part_links_win_over_axes():
    terms = load_loinc_table(FIX / "Loinc.csv", [FIX / "LoincPartLink_Supplementary.csv"])
    t = terms["24531-6"]
    assert {p.part_number for ps in t.parts.values() for p in ps} >= {"LP207608-3", "LP199943-4"}
    assert load_loinc_table(FIX / "Loinc.csv")["24531-6"].values(pb.IMAGING_FOCUS) == ["Retroperitoneum"]


@pytest.mark.parametrize("axes,expect", [
    (("Multisection^WO & W contrast IV", "Head>Brain", "MR"),
     {pb.MODALITY_TYPE: ["MR"], pb.REGION_IMAGED: ["Head"], pb.IMAGING_FOCUS: ["Brain"], pb.TIMING: ["WO", "W"],
      pb.ROUTE: ["IV"]}),
    (("Views 2", "Knee - left", "XR"), {pb.LATERALITY: ["Left"], pb.REGION_IMAGED: ["Knee"],
                                        pb.VIEW_AGGREGATION: ["2 Views"]}),
    (("View", "Chest", "XR"), {pb.VIEW_AGGREGATION: ["Single view"]}),
    (("Views PA + lateral + Waters", "Sinuses", "XR"), {pb.VIEW_AGGREGATION: ["3 Views"],
                                                         pb.VIEW_TYPE: ["PA", "lateral", "Waters"]}),
    (("Views^W contrast IS", "Knee", "MR"), {pb.ROUTE: ["IS"], pb.VIEW_AGGREGATION: ["Views"]}),
    (("Multisection^W contrast IV", "Chest+Abdomen+Pelvis", "CT.angio"),
     {pb.MODALITY_SUBTYPE: ["angio"], pb.REGION_IMAGED: ["Chest", "Abdomen", "Pelvis"], pb.SUBSTANCE: ["contrast"]}),
    (("Guidance for biopsy", "Prostate", "US"), {pb.GUIDANCE_PREFIX + "action": ["biopsy"]}),
    (("Views^during surgery", "Chest", "XR"), {pb.MODALITY_SUBTYPE: ["during surgery"]}),
])
def test_axes_to_parts(axes, expect):
    comp, system, method = axes
    t = term_from_axes({"LOINC_NUM": "1-1", "LONG_COMMON_NAME": "x", "COMPONENT": comp, "SYSTEM": system,
                        "METHOD_TYP": method})
    for type_name, names in expect.items():
        assert t.values(type_name) == names, (type_name, t.parts)


def test_loinc_table_matcher_agrees_with_playbook():
    by_playbook = ProtocolMatcher.from_files(playbook=FIX / "LoincRsnaRadiologyPlaybook.csv",
                                             concepts=FIX / "CONCEPT.csv")
    by_loinc = ProtocolMatcher.from_files(loinc_table=FIX / "Loinc.csv", concepts=FIX / "CONCEPT.csv",
                                          part_links=[FIX / "LoincPartLink_Supplementary.csv"])
    m = by_loinc.match({"modality": "CT", "study_description": "CT head W contrast IV"})
    assert (m.loinc, m.concept_id) == ("24727-0", 3002086)
    with open(FIX / "labelled_studies.tsv", encoding="utf-8") as fh:
        rows = list(csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t"))
    for r in rows:
        study = {"modality": r["modality"], "study_description": r["study_description"], "body_part": r["body_part"]}
        assert by_loinc.match(study).loinc == by_playbook.match(study).loinc, r


def test_missing_files(tmp_path: Path):
    with pytest.raises(UsageError, match="No such Loinc.csv"):
        load_loinc_table(tmp_path / "nope.csv")
    with pytest.raises(UsageError, match="Give a playbook"):
        ProtocolMatcher.from_files()


@pytest.mark.parametrize("text,message", [
    ("LOINC_NUM\tCOMPONENT\n1-1\tx\n", "wrong delimiter"),
    ('"LOINC_NUM","COMPONENT"\n"24627-2","x"\n', "missing column"),
    ((FIX / "Loinc.csv").read_text().replace('"24627-2"', '"24627-3"'), "line .*24627-3"),
], ids=["tabs", "missing_column", "bad_line"])
def test_bad_files(tmp_path: Path, text: str, message: str):
    bad = tmp_path / "Loinc.csv"
    bad.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_loinc_table(bad)


@pytest.mark.slow
def test_cli_with_only_the_loinc_release(tmp_path: Path, capsys):
    """A site with only LOINC's release: explain from Loinc.csv, and load it into rcdm_playbook for remap."""
    import datetime as dt

    import pandas as pd

    from rcdm import connect, create_tables
    from rcdm.cli import main
    from rcdm.db import insert_table, query_sql

    links = str(FIX / "LoincPartLink_Supplementary.csv")
    assert main(["vocab", "explain", "PET/CT FDG WHOLE BODY", "--modality", "CT",
                 "--loinc-table", str(FIX / "Loinc.csv"), "--part-link", links]) == 0
    out = capsys.readouterr().out
    assert "loinc=44139-4" in out and "hybrid" in out and "runner-up:" in out
    db = str(tmp_path / "l.duckdb")
    with connect(db) as conn:
        create_tables(conn, "cdm")
        insert_table(conn, "cdm", "radiology_occurrence", pd.DataFrame({
            "radiology_occurrence_id": [1], "person_id": [1], "radiology_occurrence_date": [dt.date(2020, 1, 1)],
            "protocol_concept_id": [0], "protocol_source_value": ["CT|HEAD|CT HEAD W CONTRAST IV||"],
            "radiology_occurrence_source_value": ["h1"]}))
    base = ["--db", db, "--schema", "cdm"]
    assert main(["vocab", "load-playbook", "--loinc-table", str(FIX / "Loinc.csv"), "--part-link", links, *base]) == 0
    with connect(db) as conn:
        terms = query_sql(conn, "SELECT DISTINCT loinc_number FROM cdm.rcdm_playbook;")
    assert len(terms) == 82
    assert main(["vocab", "load-playbook", *base]) == 2  # neither file: a usage error
    assert "Loinc.csv" in capsys.readouterr().err


def test_ties_between_loinc_terms_follow_the_stated_policy():
    """Terms as Loinc.csv describes them (made-up codes): view types, surgery, lung
    parenchyma vs chest. A term must be supported in full; among supported ones the more general wins."""
    def term(code, name, comp, system, method):
        return term_from_axes({"LOINC_NUM": code, "LONG_COMMON_NAME": name, "COMPONENT": comp, "SYSTEM": system,
                               "METHOD_TYP": method})

    rows = [("90001-1", "XR Chest Single view", "View", "Chest", "XR"),
            ("90002-9", "XR Chest 2 Views", "Views 2", "Chest", "XR"),
            ("90003-7", "XR Chest PA and Lateral", "Views PA + lateral", "Chest", "XR"),
            ("90004-5", "XR Chest Single view during surgery", "View^during surgery", "Chest", "XR"),
            ("90005-2", "XR Chest AP", "View AP", "Chest", "XR")]
    m = ProtocolMatcher.from_data({r[0]: term(*r) for r in rows})
    got = lambda text: m.match({"modality": "DX", "study_description": text}).loinc  # noqa: E731
    assert got("XR CHEST 1 VIEW") == "90001-1"  # not the surgery term, not AP
    assert got("CXR AP") == "90001-1"  # AP term supported too, the more general single view wins the tie
    assert got("CHEST PA AND LATERAL") == "90002-9"  # 2 views and PA+lateral tie: the general 2 Views
    assert got("XR CHEST 1 VIEW INTRAOP") == "90004-5"
    assert "ties at" in m.explain({"modality": "DX", "study_description": "CXR AP"})
