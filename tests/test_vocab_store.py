"""Loading the OMOP vocabulary, the playbook and site mappings into DuckDB, SQLite and PostgreSQL: real formats,
streaming in chunks, one transaction, and malformed files that fail clearly and change nothing."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from vocab_helpers import (
    CT_HEAD_TEST_CONCEPT,
    EXTRA_CONCEPTS,
    FIX,
    athena_folder,
    big_concept_file,
    open_conn,
    table_rows,
    write_stcm,
)

from rcdm.db import exists_table, query_sql
from rcdm.errors import UsageError
from rcdm.protocols import store
from rcdm.protocols.matcher import ProtocolMatcher
from rcdm.protocols.source_value import PROTOCOL_VOCABULARY, protocol_code

VOCAB, CDM = "vocab_t", "cdm_t"
ATHENA_TABLES = ("concept", "concept_relationship", "concept_ancestor")


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def conn(request, tmp_path):
    c = open_conn(request.param, tmp_path, request, (VOCAB, CDM))
    yield c
    c.close()


def _snapshot(conn):
    return {t: table_rows(conn, VOCAB, t) for t in ATHENA_TABLES}


# --------------------------------------------------------------------------------------------------------------
# Athena


def test_load_athena_fixture_and_small_relationship_files(conn, tmp_path):
    counts = store.load_athena(conn, VOCAB, athena_folder(tmp_path, EXTRA_CONCEPTS))
    assert counts == {"concept": 2 + len(EXTRA_CONCEPTS), "concept_relationship": 2, "concept_ancestor": 2}
    row = query_sql(conn, "SELECT * FROM @v.concept WHERE concept_id = 3002086;", v=VOCAB).iloc[0]
    assert (row["concept_name"], row["vocabulary_id"], row["concept_code"]) == (
        "CT Head W contrast IV", "LOINC", "24727-0")
    assert str(row["valid_end_date"])[:10] == "2099-12-31"
    assert row["invalid_reason"] is None
    rel = query_sql(conn, "SELECT relationship_id FROM @v.concept_relationship WHERE concept_id_1 = 3051673;", v=VOCAB)
    assert list(rel["relationship_id"]) == ["Maps to"]
    # a second load replaces, it does not append
    assert store.load_athena(conn, VOCAB, athena_folder(tmp_path, EXTRA_CONCEPTS))["concept"] == 5
    assert len(table_rows(conn, VOCAB, "concept")) == 5


def test_optional_files_absent_leave_their_tables(conn, tmp_path):
    store.load_athena(conn, VOCAB, athena_folder(tmp_path))
    relationships = table_rows(conn, VOCAB, "concept_relationship")
    only_concepts = tmp_path / "only"
    only_concepts.mkdir()
    (only_concepts / "CONCEPT.csv").write_text((FIX / "CONCEPT.csv").read_text())
    assert store.load_athena(conn, VOCAB, only_concepts) == {"concept": 2}
    assert table_rows(conn, VOCAB, "concept_relationship") == relationships


def _failing_load(conn, folder, match, chunk_rows=store.CHUNK_ROWS):
    with pytest.raises(UsageError, match=match) as info:
        store.load_athena(conn, VOCAB, folder, chunk_rows=chunk_rows)
    assert "Nothing was loaded" in str(info.value)


def test_malformed_athena_files_change_nothing(conn, tmp_path):
    store.load_athena(conn, VOCAB, athena_folder(tmp_path, EXTRA_CONCEPTS))
    before = _snapshot(conn)
    assert before["concept"] and len(before["concept"]) == 5

    comma = tmp_path / "comma"
    comma.mkdir()
    (comma / "CONCEPT.csv").write_text((FIX / "CONCEPT.csv").read_text().replace("\t", ","))
    _failing_load(conn, comma, r"CONCEPT\.csv: line 1: wrong delimiter")
    assert _snapshot(conn) == before

    missing = tmp_path / "missing"
    missing.mkdir()
    lines = (FIX / "CONCEPT.csv").read_text().splitlines()
    (missing / "CONCEPT.csv").write_text("\n".join("\t".join(ln.split("\t")[:6] + ln.split("\t")[7:]) for ln in lines))
    _failing_load(conn, missing, r"missing column\(s\) concept_code")
    assert _snapshot(conn) == before

    # a bad row deep inside a file bigger than several chunks: chunks before it were already inserted
    big = tmp_path / "big"
    big_concept_file(big, 5_000, bad_line=3_502)
    _failing_load(conn, big, r"CONCEPT\.csv: line 3502: bad valid_start_date '2020-01-01'", chunk_rows=1_000)
    assert _snapshot(conn) == before

    # a good CONCEPT.csv but a broken CONCEPT_ANCESTOR.csv: CONCEPT is not replaced either
    mixed = athena_folder(tmp_path / "mixed")
    (mixed / "CONCEPT_ANCESTOR.csv").write_text("ancestor_concept_id\tdescendant_concept_id\n1\t2\n")
    _failing_load(conn, mixed, "CONCEPT_ANCESTOR.csv: line 1: missing column")
    assert _snapshot(conn) == before


def test_failed_first_load_creates_no_tables(conn, tmp_path):
    big = tmp_path / "big"
    big_concept_file(big, 300, bad_line=250)
    _failing_load(conn, big, "line 250", chunk_rows=100)
    assert not any(exists_table(conn, VOCAB, t) for t in ATHENA_TABLES)


def test_big_file_streams_in_chunks(conn, tmp_path):
    big = tmp_path / "big"
    big_concept_file(big, 2_500)
    assert store.load_athena(conn, VOCAB, big, chunk_rows=1_000) == {"concept": 2_500}
    got = query_sql(conn, "SELECT COUNT(*) AS n, MAX(concept_id) AS top FROM @v.concept;", v=VOCAB).iloc[0]
    assert (int(got["n"]), int(got["top"])) == (2_500, 1_002_499)


def test_athena_folder_errors(tmp_path, conn):
    with pytest.raises(UsageError, match="No such Athena folder"):
        store.load_athena(conn, VOCAB, tmp_path / "nope")
    with pytest.raises(UsageError, match="no CONCEPT.csv"):
        store.load_athena(conn, VOCAB, tmp_path)


# --------------------------------------------------------------------------------------------------------------
# Playbook and site mappings


@pytest.mark.slow
def test_playbook_round_trips_and_matcher_from_database_agrees_with_files(conn, tmp_path):
    store.load_athena(conn, VOCAB, athena_folder(tmp_path, EXTRA_CONCEPTS))
    rows = store.load_playbook(conn, CDM, FIX / "LoincRsnaRadiologyPlaybook.csv")
    assert rows == sum(1 for _ in csv.reader((FIX / "LoincRsnaRadiologyPlaybook.csv").open())) - 1
    store.load_stcm(conn, CDM, FIX / "source_to_concept_map.csv")
    from_db = store.matcher_from_database(conn, CDM, VOCAB)
    from_files = ProtocolMatcher.from_files(FIX / "LoincRsnaRadiologyPlaybook.csv", tmp_path / "athena" / "CONCEPT.csv",
                                            FIX / "source_to_concept_map.csv")
    with (FIX / "labelled_studies.tsv").open(encoding="utf-8") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    studies = list(csv.DictReader(lines, delimiter="\t"))
    assert len(studies) > 300
    for s in studies:
        study = {k: v for k, v in s.items() if k != "expected" and v}
        if "series_descriptions" in study:
            study["series_descriptions"] = study["series_descriptions"].split("|")
        a, b = from_db.match(study), from_files.match(study)
        assert (a.loinc, a.concept_id, a.source, a.confidence) == (b.loinc, b.concept_id, b.source, b.confidence), s
    assert from_db.match({"modality": "CT", "study_description": "CT HEAD"}).concept_id == CT_HEAD_TEST_CONCEPT


def test_malformed_playbook_changes_nothing(conn, tmp_path):
    store.load_playbook(conn, CDM, FIX / "LoincRsnaRadiologyPlaybook.csv")
    before = table_rows(conn, CDM, "rcdm_playbook")
    lines = (FIX / "LoincRsnaRadiologyPlaybook.csv").read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.csv"
    lines[200] = lines[200].replace('"', "", 2).replace(",", '","', 1)
    lines[200] = '"12345-6",' + lines[200].split(",", 1)[1]  # wrong check digit in the middle of the file
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UsageError, match="line 201: '12345-6' is not a valid LOINC number") as info:
        store.load_playbook(conn, CDM, bad)
    assert "Nothing was loaded" in str(info.value)
    tabs = tmp_path / "tabs.csv"
    tabs.write_text("\n".join(ln.replace(",", "\t") for ln in lines), encoding="utf-8")
    with pytest.raises(UsageError, match="wrong delimiter"):
        store.load_playbook(conn, CDM, tabs)
    assert table_rows(conn, CDM, "rcdm_playbook") == before


def test_matcher_from_database_needs_the_tables(conn, tmp_path):
    with pytest.raises(UsageError, match="load-playbook"):
        store.matcher_from_database(conn, CDM, VOCAB)
    store.load_playbook(conn, CDM, FIX / "LoincRsnaRadiologyPlaybook.csv")
    with pytest.raises(UsageError, match="load-athena"):
        store.matcher_from_database(conn, CDM, VOCAB)


def test_load_stcm_replaces_rows_of_the_same_source_vocabulary(conn, tmp_path):
    assert store.load_stcm(conn, CDM, FIX / "source_to_concept_map.csv") == {"SITE_RAD_PROC": 4}
    psv = "CT|HEAD|CT HEAD ROUTINE||"
    first = write_stcm(tmp_path / "a.csv", [{"source_code": protocol_code(psv), "target_concept_id": 3002086,
                                             "source_code_description": "CT HEAD ROUTINE"}])
    assert store.load_stcm(conn, CDM, first) == {PROTOCOL_VOCABULARY: 1}
    second = write_stcm(tmp_path / "b.csv", [
        {"source_code": protocol_code(psv), "target_concept_id": 3051673},
        {"source_code": "MR|BRAIN|MRI BRAIN||", "target_concept_id": 0, "target_vocabulary_id": "None"}])
    store.load_stcm(conn, CDM, second)
    rows = query_sql(conn, "SELECT source_vocabulary_id, source_code, target_concept_id, valid_start_date "
                           "FROM @s.source_to_concept_map ORDER BY source_vocabulary_id, source_code;", s=CDM)
    assert list(rows["source_vocabulary_id"]).count("SITE_RAD_PROC") == 4
    protocol = rows[rows["source_vocabulary_id"] == PROTOCOL_VOCABULARY]
    assert list(zip(protocol["source_code"], protocol["target_concept_id"])) == [
        ("CT|HEAD|CT HEAD ROUTINE||", 3051673), ("MR|BRAIN|MRI BRAIN||", 0)]
    assert str(protocol["valid_start_date"].iloc[0])[:10] == "1970-01-01"
    mappings = store.read_site_mappings(conn, CDM, [PROTOCOL_VOCABULARY])
    assert {m.source_code for m in mappings} == {"CT|HEAD|CT HEAD ROUTINE||", "MR|BRAIN|MRI BRAIN||"}
    assert all(isinstance(m.valid_end_date, dt.date) and m.is_valid() for m in mappings)


def test_malformed_stcm_changes_nothing(conn, tmp_path):
    store.load_stcm(conn, CDM, FIX / "source_to_concept_map.csv")
    before = table_rows(conn, CDM, "source_to_concept_map")
    no_target = tmp_path / "no_target.csv"
    text = (FIX / "source_to_concept_map.csv").read_text().splitlines()
    no_target.write_text("\n".join(ln.rsplit(",", 5)[0] + "," + ln.rsplit(",", 3)[1] for ln in text) + "\n")
    with pytest.raises(UsageError, match=r"missing column\(s\)") as info:
        store.load_stcm(conn, CDM, no_target)
    assert "Nothing was loaded" in str(info.value)
    bad_id = tmp_path / "bad_id.csv"
    bad_id.write_text("\n".join(text[:3] + [text[3].replace(",0,None,", ",zero,None,")] + text[4:]) + "\n")
    with pytest.raises(UsageError, match="line 4"):
        store.load_stcm(conn, CDM, bad_id)
    too_long = write_stcm(tmp_path / "long.csv", [{"source_code": "X" * 51, "target_concept_id": 1}])
    with pytest.raises(UsageError, match="longer than OMOP's 50 characters"):
        store.load_stcm(conn, CDM, too_long)
    assert table_rows(conn, CDM, "source_to_concept_map") == before
