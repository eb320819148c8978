"""The R-CDM and MI-CDM DDL: runs for real on DuckDB, SQLite and PostgreSQL; golden files for the other targets."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
import sqlglot

from rcdm import connect, create_tables, drop_tables, exists_table, get_ddl, query_sql
from rcdm.db import execute_sql
from rcdm.ddl import TABLES, ddl_statements
from rcdm.errors import IdentifierError, UsageError
from rcdm.sql import list_supported_dialects, split_sql
from rcdm.sql.translate import sqlglot_dialect

GOLDEN = Path(__file__).parent / "golden" / "ddl"
ALL_TABLES = [t for model in ("rcdm", "micdm") for t in TABLES[model]]


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def conn(request, tmp_path):
    if request.param == "duckdb":
        c = connect(str(tmp_path / "ddl.duckdb"))
    elif request.param == "sqlite":
        c = connect(f"sqlite:///{tmp_path / 'ddl.db'}")
    else:
        c = connect(request.getfixturevalue("postgres_url"))
        execute_sql(c, "DROP SCHEMA IF EXISTS ddl_test CASCADE;")
    yield c
    c.close()


ROWS = {
    "radiology_occurrence": "INSERT INTO ddl_test.radiology_occurrence (radiology_occurrence_id, person_id, "
    "radiology_occurrence_date, radiology_occurrence_datetime, modality, count_of_series, count_of_images, "
    "radiology_note) VALUES (1, 10, DATEFROMPARTS(2021, 3, 4), CAST('2021-03-04 10:11:12' AS DATETIME), 'CT', 2, "
    "120, 'long note');",
    "radiology_image": "INSERT INTO ddl_test.radiology_image (radiology_image_id, radiology_occurrence_id, "
    "radiology_series_id, file_path, anatomical_plane_source_value, ct_slice_thickness) "
    "VALUES (9007199254740993, 1, 4611686018427387904, 'p/1.dcm', 'axial', 2.5);",
    "image_occurrence": "INSERT INTO ddl_test.image_occurrence (image_occurrence_id, person_id, "
    "procedure_occurrence_id, image_occurrence_date, image_study_uid, image_series_uid, modality_concept_id) "
    "VALUES (1, 10, 5, DATEFROMPARTS(2021, 3, 4), 'h1', 'h2', 0);",
    "image_feature": "INSERT INTO ddl_test.image_feature (image_feature_id, person_id, image_occurrence_id, "
    "image_feature_concept_id, image_feature_type_concept_id) VALUES (1, 10, 1, 0, 0);",
}


def test_create_insert_query_recreate_drop(conn):
    created = create_tables(conn, "ddl_test", model="all")
    assert {r["object"] for r in created if r["type"] == "table"} == set(ALL_TABLES)
    assert all(r["status"] == "created" for r in created)
    for table in ALL_TABLES:
        assert exists_table(conn, "ddl_test", table)
        execute_sql(conn, ROWS[table])
    occ = query_sql(conn, "SELECT * FROM ddl_test.radiology_occurrence;")
    assert occ.loc[0, "person_id"] == 10 and occ.loc[0, "radiology_note"] == "long note"
    assert str(occ.loc[0, "radiology_occurrence_date"])[:10] == "2021-03-04"
    img = query_sql(conn, "SELECT radiology_image_id, radiology_series_id, ct_slice_thickness "
                          "FROM ddl_test.radiology_image;")
    # 64-bit ids survive (hash-derived ids use all 63 bits)
    assert int(img.loc[0, "radiology_image_id"]) == 9007199254740993
    assert int(img.loc[0, "radiology_series_id"]) == 4611686018427387904
    assert float(img.loc[0, "ct_slice_thickness"]) == 2.5

    again = create_tables(conn, "ddl_test", model="all")
    assert {r["status"] for r in again} == {"exists"}
    assert len(again) == len(created)
    assert len(query_sql(conn, "SELECT * FROM ddl_test.radiology_image;")) == 1

    assert drop_tables(conn, "ddl_test", model="all") == list(reversed(ALL_TABLES))
    assert not any(exists_table(conn, "ddl_test", t) for t in ALL_TABLES)
    assert drop_tables(conn, "ddl_test", model="all") == []


def test_primary_key_refuses_duplicates(conn):
    create_tables(conn, "ddl_test")
    execute_sql(conn, ROWS["radiology_occurrence"])
    with pytest.raises(Exception):
        execute_sql(conn, ROWS["radiology_occurrence"])


def test_bad_schema_refused_before_any_sql(tmp_path):
    path = tmp_path / "bad.duckdb"
    with connect(str(path)) as c:
        with pytest.raises(IdentifierError, match="cdm; DROP TABLE person"):
            create_tables(c, "cdm; DROP TABLE person")
        assert query_sql(c, "SELECT COUNT(*) AS n FROM information_schema.tables "
                            "WHERE table_schema <> 'information_schema';").loc[0, "n"] == 0


def test_unknown_model_is_a_usage_error():
    with pytest.raises(UsageError, match="rcdm, micdm, all"):
        ddl_statements(model="omop")


def test_indexes_and_foreign_keys_are_listed():
    kinds = {(s.kind, s.name) for s in ddl_statements(model="all", foreign_keys=True)}
    assert ("index", "idx_radiology_occurrence_person_id") in kinds
    assert ("foreign_key", "fpk_image_feature_occurrence") in kinds
    assert not any(k == "foreign_key" for k, _ in {(s.kind, s.name) for s in ddl_statements(model="all")})


def test_foreign_keys_on_postgresql(postgres_url):
    with connect(postgres_url) as c:
        execute_sql(c, "DROP SCHEMA IF EXISTS fk_test CASCADE; CREATE SCHEMA fk_test; "
                       "CREATE TABLE fk_test.person (person_id BIGINT PRIMARY KEY); "
                       "CREATE TABLE fk_test.procedure_occurrence (procedure_occurrence_id BIGINT PRIMARY KEY);")
        rows = create_tables(c, "fk_test", model="all", foreign_keys=True)
        assert sum(r["type"] == "foreign_key" for r in rows) == 6
        with pytest.raises(Exception):
            execute_sql(c, ROWS["radiology_occurrence"].replace("ddl_test", "fk_test"))  # person 10 missing
        again = create_tables(c, "fk_test", model="all", foreign_keys=True)
        assert {r["status"] for r in again} == {"exists"}


@pytest.mark.parametrize("dialect", list_supported_dialects())
def test_ddl_golden_and_parses(dialect):
    """The translated DDL of every target is reviewed in tests/golden/ddl/ and parses in that dialect."""
    ddl = get_ddl(dialect, "cdm", model="all", foreign_keys=True, temp_emulation_schema="scratch")
    golden = GOLDEN / f"{dialect.replace(' ', '_')}.sql"
    if os.environ.get("RCDM_UPDATE_GOLDEN"):
        golden.write_text(ddl, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden}; run with RCDM_UPDATE_GOLDEN=1 and review it"
    assert ddl == golden.read_text(encoding="utf-8")
    read = sqlglot_dialect(dialect)
    for statement in _parseable_parts(ddl):
        assert sqlglot.parse_one(statement, read=read) is not None


def _parseable_parts(script: str) -> list[str]:
    """The statements of a script, with Oracle's PL/SQL blocks replaced by the SQL they EXECUTE IMMEDIATE."""
    parts = []
    for statement in split_sql(script):
        if statement.upper().startswith("BEGIN"):
            inner = re.findall(r"EXECUTE IMMEDIATE '((?:[^']|'')*)'", statement)
            assert inner, statement
            parts += [s.replace("''", "'") for s in inner]
        else:
            parts.append(statement)
    return parts
