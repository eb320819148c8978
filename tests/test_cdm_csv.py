"""Loading an OMOP CDM from CSV (Eunomia GiBleed): row counts, types, streaming, folders, refusals, the CLI."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from pathlib import Path

import pytest

from rcdm import cdm_csv
from rcdm.cdm_csv import load_cdm_csv, omop_type
from rcdm.cli import main
from rcdm.db import connect, execute_sql, query_sql
from rcdm.errors import IdentifierError, UsageError

GIBLEED = Path(__file__).resolve().parent / "data" / "eunomia" / "GiBleed_5.3_csv.zip"
TABLES = ["person", "observation_period", "concept", "cohort"]


def schema_rows() -> dict[str, int]:
    """Row counts per table, as Eunomia's _schema.tsv states them."""
    with zipfile.ZipFile(GIBLEED) as z:
        text = z.read("_schema.tsv").decode("utf-8")
    return {r["table"]: int(r["rows"]) for r in csv.DictReader(io.StringIO(text), delimiter="\t")}


def column_types(conn, schema: str, table: str) -> dict[str, str]:
    frame = query_sql(conn, "SELECT column_name, data_type FROM information_schema.columns "
                            "WHERE table_schema = :s AND table_name = :t;", bind={"s": schema, "t": table})
    return dict(zip(frame["column_name"], frame["data_type"].str.lower()))


@pytest.fixture(params=["duckdb", "postgresql"])
def db(request, tmp_path):
    if request.param == "duckdb":
        conn = connect(tmp_path / "cdm.duckdb")
        schema = "cdm"
    else:
        conn = connect(request.getfixturevalue("postgres_url"))
        schema = f"csv_{uuid.uuid4().hex[:10]}"
    yield conn, schema
    if request.param == "postgresql":
        execute_sql(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")
    conn.close()


def test_load_gibleed_tables_with_declared_types(db):
    conn, schema = db
    loaded = load_cdm_csv(conn, schema, GIBLEED, tables=TABLES)
    expected = schema_rows()
    assert loaded == {t: expected[t] for t in TABLES}
    assert loaded["person"] == 2694
    for table in TABLES:
        assert int(query_sql(conn, f"SELECT COUNT(*) AS n FROM {schema}.{table};")["n"][0]) == expected[table]
    person = column_types(conn, schema, "person")
    assert person["person_id"] == "bigint" and person["year_of_birth"] == "bigint"
    assert person["location_id"] == "bigint"  # all empty: exported as BOOLEAN, typed by its name
    assert "timestamp" in person["birth_datetime"]
    assert column_types(conn, schema, "observation_period")["observation_period_start_date"] == "date"
    concept = column_types(conn, schema, "concept")
    assert concept["invalid_reason"] in ("character varying", "varchar")
    cohort = column_types(conn, schema, "cohort")  # empty table exported as VARCHAR: the OMOP types instead
    assert cohort["subject_id"] == "bigint" and cohort["cohort_start_date"] == "date"
    row = query_sql(conn, f"SELECT * FROM {schema}.observation_period WHERE observation_period_id = 6;")
    assert str(row["observation_period_start_date"][0])[:10] == "1963-12-31"
    assert str(row["observation_period_end_date"][0])[:10] == "2007-02-06"


def test_existing_tables_refused_unless_overwrite(db):
    conn, schema = db
    load_cdm_csv(conn, schema, GIBLEED, tables="person")
    with pytest.raises(UsageError, match="overwrite"):
        load_cdm_csv(conn, schema, GIBLEED, tables="person")
    assert load_cdm_csv(conn, schema, GIBLEED, tables="person", overwrite=True) == {"person": 2694}
    assert int(query_sql(conn, f"SELECT COUNT(*) AS n FROM {schema}.person;")["n"][0]) == 2694


def test_streams_in_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(cdm_csv, "BLOCK_SIZE", 1 << 15)  # ~7 blocks for observation_period
    with connect(tmp_path / "s.duckdb") as conn:
        assert load_cdm_csv(conn, "cdm", GIBLEED, tables=["observation_period"]) == {"observation_period": 5343}
        frame = query_sql(conn, "SELECT COUNT(DISTINCT observation_period_id) AS n, MAX(person_id) AS p "
                                "FROM cdm.observation_period;")
        assert int(frame["n"][0]) == 5343 and int(frame["p"][0]) > 0


def test_folder_without_schema_file_infers_types(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    with zipfile.ZipFile(GIBLEED) as z:
        for table in ("person", "observation_period", "cohort"):
            (folder / f"{table}.csv").write_bytes(z.read(f"{table}.csv"))
    with connect(tmp_path / "f.duckdb") as conn:
        loaded = load_cdm_csv(conn, "cdm", folder)
        assert loaded == {"cohort": 0, "observation_period": 5343, "person": 2694}
        person = column_types(conn, "cdm", "person")
        assert person["person_id"] == "bigint" and person["care_site_id"] == "bigint"
        assert person["gender_source_value"] == "varchar"
        assert column_types(conn, "cdm", "observation_period")["observation_period_end_date"] == "date"
        assert column_types(conn, "cdm", "cohort")["cohort_end_date"] == "date"


def test_refusals(tmp_path):
    with connect(tmp_path / "r.duckdb") as conn:
        with pytest.raises(UsageError, match="no CSV for table"):
            load_cdm_csv(conn, "cdm", GIBLEED, tables=["person", "no_such_table"])
        with pytest.raises(UsageError, match="No such CSV source"):
            load_cdm_csv(conn, "cdm", tmp_path / "missing")
        (tmp_path / "not.zip").write_text("person_id\n1\n")
        with pytest.raises(UsageError, match="neither a folder nor a zip"):
            load_cdm_csv(conn, "cdm", tmp_path / "not.zip")
        with pytest.raises(IdentifierError):
            load_cdm_csv(conn, "cdm; DROP", GIBLEED, tables="person")
        with pytest.raises(UsageError, match="empty"):
            load_cdm_csv(conn, "cdm", GIBLEED, tables=" , ")


def test_omop_type_by_name():
    import pyarrow as pa

    assert omop_type("visit_occurrence_id") == pa.int64()
    assert omop_type("condition_start_date") == pa.date32()
    assert omop_type("drug_exposure_start_datetime") == pa.timestamp("us")
    assert omop_type("value_as_number") == pa.float64()
    assert omop_type("stop_reason") == pa.string()
    assert omop_type("vocabulary_id") == pa.string()


def test_cli_load_csv(tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    assert main(["cdm", "load-csv", str(GIBLEED), "--db", str(db), "--schema", "cdm",
                 "--tables", "person,observation_period", "--quiet"]) == 0
    assert main(["cdm", "load-csv", str(GIBLEED), "--db", str(db), "--schema", "cdm", "--tables", "person"]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert main(["cdm", "load-csv", str(GIBLEED), "--db", str(db), "--schema", "cdm", "--tables", "person",
                 "--overwrite"]) == 0
    assert "2694" in capsys.readouterr().out


def test_reserved_column_name_note_nlp_offset(db):
    """note_nlp has a column named offset, a reserved word on PostgreSQL: the CREATE TABLE quotes it."""
    conn, schema = db
    assert load_cdm_csv(conn, schema, GIBLEED, tables=["note_nlp"]) == {"note_nlp": 0}
    assert "offset" in column_types(conn, schema, "note_nlp")
    assert query_sql(conn, f"SELECT COUNT(offset) AS n FROM {schema}.note_nlp;")["n"].tolist() == [0]
