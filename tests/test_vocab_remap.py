"""remap, map_studies and the Usagi export on R-CDM rows inserted directly, on DuckDB, SQLite and PostgreSQL:
expected concepts (the R-CDM paper's example), idempotence, site mappings that win, and the Usagi round trip."""

from __future__ import annotations

import csv
import datetime as dt

import pandas as pd
import pytest
from vocab_helpers import CT_HEAD_TEST_CONCEPT, EXTRA_CONCEPTS, FIX, athena_folder, open_conn, write_stcm

from rcdm import create_tables, export_unmapped, map_studies, remap
from rcdm.db import insert_table, query_sql
from rcdm.errors import UsageError
from rcdm.protocols import store
from rcdm.protocols.matcher import ProtocolMatcher
from rcdm.protocols.source_value import (
    PROTOCOL_VOCABULARY,
    protocol_code,
    readable_name,
    split_protocol_source_value,
    study_from_source_value,
)
from rcdm.protocols.unmapped import COLUMNS

VOCAB, CDM = "vocab_r", "cdm_r"
PAPER = "CT|HEAD|CT HEAD W CONTRAST IV|AXIAL 5MM|HEAD ROUTINE"  # the R-CDM paper's example → 3002086
LONG = "MR|KNEE|MRI KNEE LEFT WITHOUT CONTRAST ROUTINE PROTOCOL|SAG PD FS 3MM|KNEE ROUTINE 3T SITE A"

# study id: (protocol_source_value, images: [(series, contrast phase, laterality)])
STUDIES = {
    1: (PAPER, [(11, None, None)] * 3),
    2: (PAPER, [(21, None, None)]),
    3: ("CT|HEAD|CT HEAD||", [(31, "post:contrast_bolus_agent", None)] * 2),  # images say W → 24727-0
    4: ("CT|HEAD|CT HEAD||", [(41, None, None)]),                            # plain CT Head → test concept
    5: ("US|PROSTATE|TRUS PROSTATE BX||", [(51, None, None)]),               # the fixture STCM's description
    6: ("XR|CHEST|ZZZ UNKNOWN EXAM||", [(61, None, None)] * 4),               # unmapped: 2 studies, 5 images
    7: ("XR|CHEST|ZZZ UNKNOWN EXAM||", [(71, None, None)]),
    8: ("NM||WEIRD STUFF||", [(81, None, None)] * 9),                         # unmapped: 1 study, 9 images
    9: (LONG, [(91, None, None)] * 2),                                       # unmapped, longer than 50
    10: (None, [(101, None, None)]),                                        # nothing to map
    11: ("CT|HEAD|CT HEAD W CONTRAST IV||", []),                            # no images yet
}


def _rows():
    occ, img = [], []
    image_id = 0
    for sid, (psv, images) in STUDIES.items():
        occ.append({"radiology_occurrence_id": sid, "person_id": 100 + sid % 3,
                    "radiology_occurrence_date": dt.date(2021, 1, sid), "modality": (psv or "|").split("|")[0] or None,
                    "protocol_concept_id": 0 if sid % 2 else None, "protocol_source_value": psv,
                    "count_of_images": len(images), "radiology_occurrence_source_value": f"study-hash-{sid}"})
        for series, phase, side in images:
            image_id += 1
            img.append({"radiology_image_id": image_id, "radiology_occurrence_id": sid, "radiology_series_id": series,
                        "file_path": f"f/{image_id}.dcm", "series_type_source_value": phase,
                        "laterality_source_value": side, "modality": (psv or "CT|").split("|")[0],
                        "body_part_source_value": (psv or "||").split("|")[1] or None,
                        "radiology_series_source_value": f"series-hash-{series}",
                        "radiology_image_source_value": f"image-hash-{image_id}"})
    occ = pd.DataFrame(occ)
    occ["protocol_concept_id"] = occ["protocol_concept_id"].astype("Int64")
    return occ, pd.DataFrame(img)


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def db(request, tmp_path):
    conn = open_conn(request.param, tmp_path, request, (VOCAB, CDM))
    store.load_athena(conn, VOCAB, athena_folder(tmp_path, EXTRA_CONCEPTS))
    store.load_playbook(conn, CDM, FIX / "LoincRsnaRadiologyPlaybook.csv")
    store.load_stcm(conn, CDM, FIX / "source_to_concept_map.csv")
    create_tables(conn, CDM)
    occ, img = _rows()
    insert_table(conn, CDM, "radiology_occurrence", occ)
    insert_table(conn, CDM, "radiology_image", img)
    yield conn
    conn.close()


def _concepts(conn) -> dict[int, int | None]:
    frame = query_sql(conn, "SELECT radiology_occurrence_id, protocol_concept_id FROM @s.radiology_occurrence;", s=CDM)
    return {int(i): (None if pd.isna(c) else int(c)) for i, c in zip(frame["radiology_occurrence_id"],
                                                                       frame["protocol_concept_id"])}


EXPECTED = {1: 3002086, 2: 3002086, 3: 3002086, 4: CT_HEAD_TEST_CONCEPT, 5: 3051673, 6: 0, 7: 0, 8: 0, 9: 0, 10: 0,
            11: 3002086}


def test_remap_maps_expected_concepts_and_is_idempotent(db):
    first = remap(db, CDM, VOCAB)
    assert _concepts(db) == EXPECTED
    assert first["studies"] == 11 and first["mapped_before"] == 0 and first["mapped_after"] == 6
    assert first["changed"] == 9  # the 5 NULLs, and 0 → a concept for studies 1, 3, 5, 11
    assert first["keys"] == 9 and first["keys_by_source"] == {"site": 1, "auto": 4, "none": 4}
    second = remap(db, CDM, VOCAB)
    assert second["changed"] == 0 and second["mapped_before"] == second["mapped_after"] == 6
    assert _concepts(db) == EXPECTED
    for table in ("rcdm_remap_study", "rcdm_remap_key"):
        from rcdm.db import exists_table
        assert not exists_table(db, CDM, table)


@pytest.mark.slow
def test_site_mapping_added_later_wins_on_the_next_remap(db, tmp_path):
    remap(db, CDM, VOCAB)
    stcm = write_stcm(tmp_path / "usagi.csv", [
        {"source_code": protocol_code(PAPER), "source_code_description": "CT HEAD W CONTRAST IV",
         "target_concept_id": CT_HEAD_TEST_CONCEPT},                            # overrides the matcher
        {"source_code": "XR|CHEST|ZZZ UNKNOWN EXAM||", "source_code_description": "ZZZ UNKNOWN EXAM",
         "target_concept_id": 3051673}])
    store.load_stcm(db, CDM, stcm)
    result = remap(db, CDM, VOCAB)
    assert result["changed"] == 4  # studies 1, 2 (overridden) and 6, 7 (newly mapped)
    got = _concepts(db)
    assert got[1] == got[2] == CT_HEAD_TEST_CONCEPT and got[6] == got[7] == 3051673
    assert got[11] == 3002086  # same description, other protocol source value: the row keys on the whole value
    assert remap(db, CDM, VOCAB)["changed"] == 0


@pytest.mark.slow
def test_unmapped_export_ranks_and_round_trips_through_usagi(db, tmp_path):
    remap(db, CDM, VOCAB)
    out = tmp_path / "unmapped.csv"
    frame = export_unmapped(db, CDM, out)
    assert tuple(frame.columns) == COLUMNS
    # ranked by images (issue 14: the images a mapping labels), then studies
    assert list(frame["protocol_source_value"]) == ["NM||WEIRD STUFF||", "XR|CHEST|ZZZ UNKNOWN EXAM||", LONG]
    assert list(frame["studies"]) == [1, 2, 1] and list(frame["images"]) == [9, 5, 2]
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rows = [rows[1], rows[0], rows[2]]  # the rest of the round trip below is written for this order
    assert list(rows[0])[:3] == ["source_code", "source_name", "source_frequency"]
    top = rows[0]
    assert (top["source_code"], top["source_name"], top["source_frequency"], top["modality"], top["body_part"]) == (
        "XR|CHEST|ZZZ UNKNOWN EXAM||", "ZZZ UNKNOWN EXAM", "2", "XR", "CHEST")
    long_row = rows[2]
    assert len(long_row["source_code"]) == 50 and long_row["source_code"] == protocol_code(LONG)
    assert long_row["source_code"].startswith(LONG[:37] + "#")
    # Usagi: the reviewer picks a concept for every row; "Export source_to_concept_map" with vocabulary RCDM_PROTOCOL
    usagi = write_stcm(tmp_path / "usagi_stcm.csv", [
        {"source_code": r["source_code"], "source_code_description": r["source_name"],
         "target_concept_id": 3051673 if i == 0 else (CT_HEAD_TEST_CONCEPT if i == 2 else 0),
         "target_vocabulary_id": "None" if i == 1 else "LOINC"} for i, r in enumerate(rows)])
    store.load_stcm(db, CDM, usagi)
    result = remap(db, CDM, VOCAB)
    got = _concepts(db)
    assert got[6] == got[7] == 3051673 and got[9] == CT_HEAD_TEST_CONCEPT and got[8] == 0
    assert result["changed"] == 3
    # what a site mapping decided (even "never map", target 0) is not asked again
    assert export_unmapped(db, CDM, tmp_path / "again.csv").empty


def test_remap_with_a_given_matcher_and_errors(db, tmp_path):
    matcher = ProtocolMatcher.from_files(FIX / "LoincRsnaRadiologyPlaybook.csv", FIX / "CONCEPT.csv")
    remap(db, CDM, matcher=matcher)
    assert _concepts(db)[4] == 0  # no test concept in this matcher's CONCEPT file
    # no site file either, but the matcher reads BX as biopsy: a TRUS prostate biopsy is the playbook's
    # "US Guidance for needle biopsy of Prostate" (46288-7 → 3051673) on its own
    assert _concepts(db)[5] == 3051673
    with pytest.raises(UsageError, match="does not exist"):
        remap(db, "nowhere_schema", VOCAB)


def test_map_studies_is_pure_and_matches_remap():
    matcher = ProtocolMatcher.from_files(FIX / "LoincRsnaRadiologyPlaybook.csv", FIX / "CONCEPT.csv",
                                         FIX / "source_to_concept_map.csv")
    rows = [{"protocol_source_value": PAPER}, {"protocol_source_value": "CT|HEAD|CT HEAD||", "contrast": "post"},
            {"protocol_source_value": "CT|HEAD|CT HEAD||", "contrast": "-"}, {"protocol_source_value": None},
            {"protocol_source_value": "US|PROSTATE|TRUS PROSTATE BX||"}]
    assert map_studies(matcher, rows) == [3002086, 3002086, 0, 0, 3051673]

    class Row:
        protocol_source_value = PAPER
    assert map_studies(matcher, [Row()]) == [3002086]


def test_source_value_convention():
    assert protocol_code("CT|HEAD|X||") == "CT|HEAD|X||"
    assert protocol_code(LONG) == protocol_code(LONG) and len(protocol_code(LONG)) == 50
    assert protocol_code(LONG) != protocol_code(LONG + "2")
    assert split_protocol_source_value("CT|HEAD") == {"modality": "CT", "body_part": "HEAD", "study_description": "",
                                                      "series_description": "", "protocol_name": ""}
    study = study_from_source_value(PAPER, "post", "L")
    assert study["series_descriptions"] == ["AXIAL 5MM"] and study["protocol_name"] == "HEAD ROUTINE"
    assert (study["contrast"], study["laterality"], study["protocol_source_value"]) == ("post", "L", PAPER)
    assert readable_name("CT|HEAD|||HEAD ROUTINE") == "HEAD ROUTINE" and readable_name("CT|HEAD|||") == "CT HEAD"
    assert PROTOCOL_VOCABULARY == "RCDM_PROTOCOL"
