"""Readers of the real-format vocabulary files: playbook, Athena CONCEPT, site STCM; malformed files fail clearly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rcdm.errors import UsageError
from rcdm.protocols import athena, playbook, stcm
from rcdm.protocols.vocab_data import fixtures_dir, rules_dir

FIX = fixtures_dir()


def test_playbook_fixture_parses_into_terms():
    terms = playbook.load_playbook(FIX / "LoincRsnaRadiologyPlaybook.csv")
    assert len(terms) >= 60
    t = terms["24727-0"]
    assert t.long_common_name == "CT Head W contrast IV" and t.rpid == "RPID24"
    assert t.values("Rad.Modality.Modality Type") == ["CT"]
    assert t.values("Rad.Anatomic Location.Region Imaged") == ["Head"]
    assert t.values("Rad.Timing") == ["W"]
    # the LOINC sample spells the part type "Modality type": part types compare case-insensitively
    us = terms["24531-6"]
    assert us.values("rad.modality.modality type") == ["US"] and us.rpid == "RPID2142"
    assert us.values(playbook.IMAGING_FOCUS) == ["Retroperitoneum"]
    assert terms["24726-2"].values(playbook.TIMING) == ["WO", "W"]


@pytest.mark.parametrize("code,ok", [("24727-0", True), ("30799-1", True), ("36643-5", True), ("24727-1", False),
                                     ("2472-70", False), ("ABC-1", False)])
def test_loinc_check_digit(code, ok):
    assert playbook.loinc_check_digit_ok(code) is ok


HEADER = '"LoincNumber","LongCommonName","PartNumber","PartTypeName","PartName","PartSequenceOrder","RID",' \
         '"PreferredName","RPID","LongName"\n'


@pytest.mark.parametrize("content,message", [
    ("", "empty"),
    (HEADER.replace(",", "\t"), "wrong delimiter (tab)"),
    (HEADER.replace(",", ";"), "wrong delimiter (semicolon)"),
    ('"LoincNumber","LongCommonName","PartTypeName","PartName"\n', "missing column(s) PartNumber"),
    (HEADER, "no playbook rows"),
    (HEADER + '"24727-1","CT Head W contrast IV","","Rad.Timing","W","A","","","",""\n', "line 2"),
    (HEADER + '"24727-0","CT Head W contrast IV","","Rad.Timing","","A","","","",""\n', "empty PartName"),
    (HEADER + '"24727-0","CT Head W contrast IV","","Rad.Timing","W","A"\n', "6 fields"),
    (HEADER + '"24727-0","CT Head","XX1","Rad.Timing","W","A","","","",""\n', "not a LOINC part number"),
    (HEADER + '"24727-0","CT Head","","COMPONENT","W","A","","","",""\n', "not a radiology part type"),
])
def test_malformed_playbook_fails_clearly(tmp_path: Path, content, message):
    bad = tmp_path / "LoincRsnaRadiologyPlaybook.csv"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError) as exc:
        playbook.load_playbook(bad)
    assert message in str(exc.value) and str(bad) in str(exc.value)


def test_athena_concept_fixture():
    rows = list(athena.read_concepts(FIX / "CONCEPT.csv"))
    assert {r["concept_code"]: r["concept_id"] for r in rows}["24727-0"] == 3002086
    assert rows[0]["valid_start_date"] == dt.date(1970, 1, 1) and rows[0]["invalid_reason"] is None
    assert athena.loinc_concept_index(FIX / "CONCEPT.csv")["46288-7"]["concept_id"] == 3051673


@pytest.mark.parametrize("content,message", [
    ("", "empty"),
    ("concept_id,concept_name,domain_id\n1,a,b\n", "wrong delimiter (comma)"),
    ("concept_id\tconcept_name\n1\ta\n", "missing column(s)"),
    ("\t".join(athena.CONCEPT_COLUMNS) + "\nx\tn\td\tLOINC\tc\tS\t1-1\t19700101\t20991231\t\n", "bad concept_id"),
    ("\t".join(athena.CONCEPT_COLUMNS) + "\n1\tn\td\tLOINC\tc\tS\t1-1\t1970-01-01\t20991231\t\n", "YYYYMMDD"),
    ("\t".join(athena.CONCEPT_COLUMNS) + "\n1\tn\td\tLOINC\n", "4 fields"),
])
def test_malformed_athena_fails_clearly(tmp_path: Path, content, message):
    bad = tmp_path / "CONCEPT.csv"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError) as exc:
        list(athena.read_concepts(bad))
    assert message in str(exc.value) and str(bad) in str(exc.value)


def test_athena_relationship_and_ancestor_readers(tmp_path: Path):
    rel = tmp_path / "CONCEPT_RELATIONSHIP.csv"
    rel.write_text("\t".join(athena.RELATIONSHIP_COLUMNS) + "\n1\t2\tMaps to\t19700101\t20991231\t\n")
    assert list(athena.read_concept_relationships(rel))[0]["relationship_id"] == "Maps to"
    anc = tmp_path / "CONCEPT_ANCESTOR.csv"
    anc.write_text("\t".join(athena.ANCESTOR_COLUMNS) + "\n1\t2\t0\t1\n")
    assert list(athena.read_concept_ancestors(anc))[0]["max_levels_of_separation"] == 1
    with pytest.raises(UsageError, match="missing column"):
        list(athena.read_concept_ancestors(rel))


def test_stcm_fixture_and_errors(tmp_path: Path):
    rows = list(stcm.read_stcm(FIX / "source_to_concept_map.csv"))
    assert rows[0].source_code == "CTHDE" and rows[0].target_concept_id == 3002086 and rows[0].is_valid()
    assert not rows[-1].is_valid()  # invalid_reason D
    bad = tmp_path / "stcm.csv"
    bad.write_text(",".join(stcm.COLUMNS) + "\nX,0,V,d,notanumber,LOINC,2020-01-01,2099-12-31,\n")
    with pytest.raises(UsageError, match="line 2"):
        list(stcm.read_stcm(bad))


def test_rules_files_present():
    for name in ("synonyms.tsv", "body_parts.tsv", "modalities.tsv", "contrast.tsv", "scoring.tsv"):
        assert (rules_dir() / name).is_file()
