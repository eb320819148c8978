"""The mapping-quality report: exact counts on real DuckDB, SQLite and PostgreSQL; the four output formats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pandas as pd
import pytest
from conftest import backend_params, connect_backend

from rcdm import connect, create_tables
from rcdm.db import insert_table
from rcdm.errors import IdentifierError, UsageError
from rcdm.report import COLUMN_RULES, TEMPLATES, format_report, quality_report, report_to_dict
from rcdm.resources import inst_dir, read_template

SCHEMA = "report_test"


@pytest.fixture(params=backend_params())
def conn(request, tmp_path):
    c = connect_backend(request.param, tmp_path, request, drop_schemas=(SCHEMA,), name="report")
    yield c
    c.close()


def _ints(values):
    return pd.array(values, dtype="Int64")


# Three studies (CT 2020, CR 2021, CT without a date), ten images in four series; a mix of NULL, empty, blank,
# 0 and real values. The comments give the number of mapped rows each column must report.
OCCURRENCE = pd.DataFrame({
    "radiology_occurrence_id": _ints([1, 2, 3]),                                   # 3
    "person_id": _ints([101, 101, 102]),                                           # 3 (2 persons)
    "radiology_occurrence_date": [dt.date(2020, 3, 1), dt.date(2021, 5, 2), None],  # 2
    "radiology_occurrence_datetime": pd.to_datetime(["2020-03-01 10:00:00", None, None]),  # 1
    "modality": ["CT", "CR", "CT"],                                                # 3
    "manufacturer": ["GE", "", "   "],                                             # 1 (empty, blank)
    "protocol_concept_id": _ints([3004287, 0, None]),                              # 1 (0 = no concept)
    "protocol_source_value": ["CT HEAD", "CHEST PA", None],                        # 2
    "count_of_series": _ints([2, 1, 0]),                                           # 2 (0 is not a count)
    "count_of_images": _ints([6, 3, None]),                                        # 2
    "radiology_note": ["normal", None, ""],                                        # 1
    "visit_occurrence_id": _ints([555, None, None]),                               # 1
    "radiology_occurrence_source_value": ["h1", "h2", "h3"],                       # 3
})

IMAGE = pd.DataFrame({
    "radiology_image_id": _ints(range(1, 11)),                                      # 10
    "radiology_occurrence_id": _ints([1, 1, 1, 1, 1, 1, 2, 2, 2, 3]),              # 10
    "radiology_series_id": _ints([11, 11, 11, 11, 12, 12, 21, 21, 21, 31]),        # 10 (4 series)
    "file_path": [f"p/{i}.dcm" for i in range(1, 10)] + [""],                      # 9
    "body_part_source_value": ["HEAD"] * 5 + ["", "CHEST", "CHEST", None, None],   # 7
    "laterality_concept_id": [None] * 6 + ["RID5824", "0", "", None],              # 1
    "laterality_source_value": [None] * 6 + ["L", "R", "", None],                  # 2
    "anatomical_plane_concept_id": ["RID10579"] * 4 + ["RID10577", "0", None, None, None, ""],  # 5
    "anatomical_plane_source_value": ["axial"] * 4 + ["coronal", "oblique", None, None, None, None],  # 6
    "series_type_concept_id": ["RID28833"] * 4 + ["0", "0"] + [None] * 4,          # 4
    "series_type_source_value": ["no_contrast"] * 4 + ["", ""] + [None] * 4,       # 4
    "series_total_number": _ints([4, 4, 4, 4, 2, 2, 3, 3, 3, 0]),                  # 9
    "series_serial_number": _ints([1, 2, 3, 4, 1, 2, 0, 1, None, 1]),              # 9 (0 is a position)
    "image_resolution_rows": _ints([512] * 6 + [2048, 0, None, 512]),              # 8
    "image_resolution_columns": _ints([512] * 6 + [2500, 2500, 2500, None]),       # 9
    "ct_slice_thickness": [5.0, 5.0, 5.0, 5.0, 0.625, None, None, None, None, 2.5],  # 6; CT images: 5 of 6
    "modality": ["CT"] * 6 + ["CR"] * 3 + [None],                                  # 9 (6 CT images)
    "radiology_series_source_value": ["s11"] * 4 + ["s12"] * 2 + ["s21"] * 3 + [None],  # 9
    "radiology_image_source_value": [f"i{i}" for i in range(1, 10)] + [""],        # 9
})

ETL_FILE = pd.DataFrame({
    "file_key": list(range(1, 16)),
    "file_path": [f"p/{i}" for i in range(15)],
    "status": ["loaded"] * 10 + ["duplicate", "skipped", "skipped", "quarantined", "unmapped_patient"],
    "reason": [None] * 10 + ["duplicate_sop: same as p/3", "not_dicom", "not_dicom: no DICM marker",
                             "truncated: 12 bytes short", None],
    "run_id": _ints([1] * 15),
    "processed_at": pd.to_datetime(["2024-01-02 03:04:05"] * 15),
})

EXPECTED = {  # (table, column): (mapped, rows)
    ("radiology_occurrence", "radiology_occurrence_id"): 3,
    ("radiology_occurrence", "person_id"): 3,
    ("radiology_occurrence", "radiology_occurrence_date"): 2,
    ("radiology_occurrence", "radiology_occurrence_datetime"): 1,
    ("radiology_occurrence", "modality"): 3,
    ("radiology_occurrence", "manufacturer"): 1,
    ("radiology_occurrence", "protocol_concept_id"): 1,
    ("radiology_occurrence", "protocol_source_value"): 2,
    ("radiology_occurrence", "count_of_series"): 2,
    ("radiology_occurrence", "count_of_images"): 2,
    ("radiology_occurrence", "radiology_note"): 1,
    ("radiology_occurrence", "visit_occurrence_id"): 1,
    ("radiology_occurrence", "radiology_occurrence_source_value"): 3,
    ("radiology_image", "radiology_image_id"): 10,
    ("radiology_image", "radiology_occurrence_id"): 10,
    ("radiology_image", "radiology_series_id"): 10,
    ("radiology_image", "file_path"): 9,
    ("radiology_image", "body_part_source_value"): 7,
    ("radiology_image", "laterality_concept_id"): 1,
    ("radiology_image", "laterality_source_value"): 2,
    ("radiology_image", "anatomical_plane_concept_id"): 5,
    ("radiology_image", "anatomical_plane_source_value"): 6,
    ("radiology_image", "series_type_concept_id"): 4,
    ("radiology_image", "series_type_source_value"): 4,
    ("radiology_image", "series_total_number"): 9,
    ("radiology_image", "series_serial_number"): 9,
    ("radiology_image", "image_resolution_rows"): 8,
    ("radiology_image", "image_resolution_columns"): 9,
    ("radiology_image", "ct_slice_thickness"): 6,
    ("radiology_image", "modality"): 9,
    ("radiology_image", "instance_number"): 0,
    ("radiology_image", "radiology_series_source_value"): 9,
    ("radiology_image", "radiology_image_source_value"): 9,
}
ROWS = {"radiology_occurrence": 3, "radiology_image": 10}


def _load(conn, etl: bool = True) -> None:
    create_tables(conn, SCHEMA, model="rcdm")
    insert_table(conn, SCHEMA, "radiology_occurrence", OCCURRENCE)
    insert_table(conn, SCHEMA, "radiology_image", IMAGE)
    if etl:
        create_tables(conn, SCHEMA, model="etl")
        insert_table(conn, SCHEMA, "rcdm_etl_file", ETL_FILE)


@pytest.fixture
def report(conn):
    _load(conn)
    return quality_report(conn, SCHEMA)


# --------------------------------------------------------------------------------------------------------------
# Counts, on every database


def test_columns_exact_counts_and_percentages(report):
    columns = report["columns"]
    assert list(zip(columns["table"], columns["column"])) == list(EXPECTED)
    for row in columns.to_dict("records"):
        mapped, rows = EXPECTED[(row["table"], row["column"])], ROWS[row["table"]]
        assert (row["rows"], row["mapped"], row["unmapped"]) == (rows, mapped, rows - mapped), row["column"]
        assert row["mapped_pct"] == round(100 * mapped / rows, 2), row["column"]
        if row["column"] != "ct_slice_thickness":
            assert row["applies_to"] == "all"
            assert (row["applicable"], row["applicable_mapped"], row["applicable_pct"]) == (
                rows, mapped, row["mapped_pct"])
    ct = columns[columns["column"] == "ct_slice_thickness"].iloc[0]
    assert (ct["applies_to"], ct["applicable"], ct["applicable_mapped"]) == ("CT images", 6, 5)
    assert (ct["mapped_pct"], ct["applicable_pct"]) == (60.0, 83.33)
    manufacturer = columns[columns["column"] == "manufacturer"].iloc[0]
    assert manufacturer["mapped_pct"] == 33.33 and manufacturer["rule"] == "text"


def test_summary_distribution_and_files(report):
    assert report["summary"].to_dict("records") == [{"persons": 2, "studies": 3, "series": 4, "images": 10}]
    assert report["by_modality"].to_dict("records") == [
        {"modality": "CT", "studies": 2, "images": 7},
        {"modality": "CR", "studies": 1, "images": 3},
    ]
    by_year = report_to_dict(report, orient="records")["by_year"]
    assert by_year == [
        {"year": 2020, "studies": 1, "images": 6},
        {"year": 2021, "studies": 1, "images": 3},
        {"year": None, "studies": 1, "images": 1},
    ]
    assert report["files"].to_dict("records") == [
        {"status": "loaded", "files": 10}, {"status": "duplicate", "files": 1}, {"status": "skipped", "files": 2},
        {"status": "quarantined", "files": 1}, {"status": "unmapped_patient", "files": 1},
    ]
    assert report_to_dict(report, orient="records")["quarantine"] == [
        {"status": "duplicate", "reason": "duplicate_sop", "files": 1},
        {"status": "skipped", "reason": "not_dicom", "files": 2},
        {"status": "quarantined", "reason": "truncated", "files": 1},
        {"status": "unmapped_patient", "reason": None, "files": 1},
    ]


def test_empty_tables_and_no_etl_table(conn):
    create_tables(conn, SCHEMA, model="rcdm")
    report = quality_report(conn, SCHEMA)
    columns = report["columns"]
    assert len(columns) == len(COLUMN_RULES)
    assert (columns["rows"] == 0).all() and (columns["mapped"] == 0).all() and (columns["unmapped"] == 0).all()
    assert columns["mapped_pct"].isna().all() and columns["applicable_pct"].isna().all()
    assert report["summary"].to_dict("records") == [{"persons": 0, "studies": 0, "series": 0, "images": 0}]
    for name in ("by_modality", "by_year", "files", "quarantine"):
        assert len(report[name]) == 0, name
    for fmt in ("table", "json", "csv", "html"):
        assert format_report(report, fmt)
    assert json.loads(format_report(report, "json"))["columns"][0]["mapped_pct"] is None
    assert "R-CDM mapping quality" in format_report(report, "html")


def test_missing_tables_are_a_usage_error(conn):
    with pytest.raises(UsageError, match="create the R-CDM tables"):
        quality_report(conn, "no_such_schema_here")


# --------------------------------------------------------------------------------------------------------------
# Refusals before any SQL


class _NoSql:
    """A connection that fails the test if anything touches it."""

    def __getattr__(self, name):
        raise AssertionError(f"SQL ran before the schema name was checked ({name})")


@pytest.mark.parametrize("schema", ["cdm; DROP TABLE x", "1cdm", "", "a.b.c", "cdm--", None])
def test_bad_schema_refused_before_sql(schema):
    with pytest.raises(IdentifierError):
        quality_report(_NoSql(), schema)


def test_unknown_format_refused():
    with pytest.raises(UsageError, match="format"):
        format_report(_fake_report(), "xml")
    with pytest.raises(UsageError, match="orient"):
        report_to_dict(_fake_report(), orient="index")


# --------------------------------------------------------------------------------------------------------------
# Formats (on DuckDB: the formats do not depend on the database)


@pytest.fixture
def duck_report(tmp_path):
    with connect(str(tmp_path / "fmt.duckdb")) as c:
        _load(c)
        yield quality_report(c, SCHEMA)


def _fake_report():
    """A report with a hostile string, to check escaping, without a database."""
    from rcdm.report import _columns_frame, _frame

    counts = {"row_count": 4, "person_count": 1, "series_count": 1, "ct_count": 2,
              "ct_slice_thickness_ct_mapped": 1}
    counts.update({f"{r.column}_mapped": 3 for r in COLUMN_RULES})
    return {
        "summary": _frame("summary", [{"persons": 1, "studies": 4, "series": 1, "images": 4}]),
        "columns": _columns_frame({"radiology_occurrence": counts, "radiology_image": counts}),
        "by_modality": _frame("by_modality", [{"modality": "<script>alert(1)</script>", "studies": 4,
                                               "images": 4}]),
        "by_year": _frame("by_year", []),
        "files": _frame("files", [{"status": "quarantined", "files": 1}]),
        "quarantine": _frame("quarantine", [{"status": "quarantined", "reason": 'a "b", c', "files": 1}]),
    }


def test_table_format(duck_report):
    text = format_report(duck_report)
    lines = text.splitlines()
    assert "persons: 2  studies: 3  series: 4  images: 10" in lines
    assert "radiology_occurrence (3 rows)" in lines and "radiology_image (10 rows)" in lines
    headers = [line for line in lines if line.startswith("column")]
    assert len(headers) == 2 and headers[0] == headers[1]  # both tables aligned alike
    header = headers[0]
    assert re.fullmatch(r"column\s+unmapped cases  mapped cases  mapping %", header)

    def row(column: str, table_heading: str) -> list[str]:
        start = lines.index(table_heading)
        found = next(line for line in lines[start:] if line.split()[:1] == [column])
        return found.split()

    assert row("radiology_occurrence_id", "radiology_occurrence (3 rows)") == ["radiology_occurrence_id", "0", "3",
                                                                              "100.00"]
    assert row("manufacturer", "radiology_occurrence (3 rows)") == ["manufacturer", "2", "1", "33.33"]
    assert row("protocol_concept_id", "radiology_occurrence (3 rows)") == ["protocol_concept_id", "2", "1", "33.33"]
    assert row("body_part_source_value", "radiology_image (10 rows)") == ["body_part_source_value", "3", "7",
                                                                         "70.00"]
    assert row("ct_slice_thickness", "radiology_image (10 rows)") == [
        "ct_slice_thickness", "4", "6", "60.00", "CT", "images:", "5", "of", "6", "(83.33%)"]
    assert row("modality", "radiology_image (10 rows)")[1:4] == ["1", "9", "90.00"]
    # numbers are right-aligned: in every row of a table, "mapping %" ends where its header does
    start = lines.index("radiology_image (10 rows)") + 1
    end = start + 1 + sum(r.table == "radiology_image" for r in COLUMN_RULES)
    for line in lines[start + 1:end]:
        assert re.fullmatch(r"\d+\.\d\d", line[len(header) - 6:len(header)].strip()), line
    assert re.search(r"^CT\s+2\s+7$", text, re.M) and re.search(r"^CR\s+1\s+3$", text, re.M)
    assert re.search(r"^2020\s+1\s+6$", text, re.M) and re.search(r"^\(unknown\)\s+1\s+1$", text, re.M)
    assert re.search(r"^skipped\s+not_dicom\s+2$", text, re.M)
    assert re.search(r"^unmapped_patient\s+-\s+1$", text, re.M)


def test_json_round_trips(duck_report):
    text = format_report(duck_report, "json")
    data = json.loads(text)
    assert set(data) == {"summary", "columns", "protocol_coverage", "by_modality", "by_year", "files", "quarantine"}
    assert data["summary"] == {"persons": 2, "studies": 3, "series": 4, "images": 10}
    ct = next(r for r in data["columns"] if r["column"] == "ct_slice_thickness")
    assert ct == {"table": "radiology_image", "column": "ct_slice_thickness", "rule": "positive", "rows": 10,
                  "unmapped": 4, "mapped": 6, "mapped_pct": 60.0, "applies_to": "CT images", "applicable": 6,
                  "applicable_mapped": 5, "applicable_pct": 83.33}
    assert isinstance(data["columns"][0]["mapped"], int)
    assert data["by_year"][-1] == {"year": None, "studies": 1, "images": 1}
    assert json.loads(json.dumps(data)) == data
    assert "NaN" not in text


def test_csv_parses_as_one_table(duck_report):
    text = format_report(duck_report, "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    header = text.splitlines()[0].split(",")
    assert header[0] == "section" and len(header) == len(set(header))
    assert all(len(r) == len(header) for r in csv.reader(io.StringIO(text)))
    sections = [r["section"] for r in rows]
    assert sections.count("summary") == 1 and sections.count("columns") == len(COLUMN_RULES)
    assert sections.count("by_modality") == 2 and sections.count("by_year") == 3
    assert sections.count("files") == 5 and sections.count("quarantine") == 4
    summary = rows[0]
    assert (summary["persons"], summary["studies"], summary["series"], summary["images"]) == ("2", "3", "4", "10")
    assert summary["column"] == "NA"
    ct = next(r for r in rows if r["section"] == "columns" and r["column"] == "ct_slice_thickness")
    assert (ct["table"], ct["unmapped"], ct["mapped"], ct["mapped_pct"], ct["applicable_pct"]) == (
        "radiology_image", "4", "6", "60.00", "83.33")
    unknown_year = [r for r in rows if r["section"] == "by_year"][-1]
    assert (unknown_year["year"], unknown_year["studies"], unknown_year["images"]) == ("NA", "1", "1")
    years = [r["year"] for r in rows if r["section"] == "by_year"]
    assert years == ["2020", "2021", "NA"]  # integers, never "2020.0"


def test_csv_quotes_awkward_text():
    rows = list(csv.DictReader(io.StringIO(format_report(_fake_report(), "csv"))))
    assert next(r for r in rows if r["section"] == "quarantine")["reason"] == 'a "b", c'


def test_html_self_contained_with_bars(duck_report):
    html = format_report(duck_report, "html")
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert 'class="bar' in html and 'style="width: 60.00%"' in html and 'style="width: 83.33%"' in html
    assert 'style="width: 100.00%"' in html and 'style="width: 33.33%"' in html
    assert "<td><code>ct_slice_thickness</code></td>" in html
    assert "CT images: 5 of 6 (83.33%)" in html
    assert '<table class="by-modality">' in html and '<table class="by-year">' in html
    assert "<td>2020</td>" in html and "<td>(unknown)</td>" in html
    assert not re.search(r"https?://|//[a-z]|<script|<link|@import|url\(", html, re.I)


def test_html_escapes_values():
    html = format_report(_fake_report(), "html")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "a &#34;b&#34;, c" in html


def test_report_to_dict_lists(duck_report):
    data = report_to_dict(duck_report)
    assert data["summary"] == {"persons": [2], "studies": [3], "series": [4], "images": [10]}
    assert data["by_year"]["year"] == [2020, 2021, None]
    assert len(data["columns"]["column"]) == len(COLUMN_RULES)
    assert all(type(v) is int for v in data["columns"]["mapped"])


# --------------------------------------------------------------------------------------------------------------
# The templates, the rules and the DDL agree


def _ddl_columns(table: str) -> list[str]:
    ddl = (inst_dir() / "ddl" / "rcdm_ddl.sql").read_text()
    body = re.search(rf"CREATE TABLE @cdm_database_schema\.{table} \((.*?)\n\);", ddl, re.S)[1]
    return [line.split()[0] for line in body.strip().splitlines() if not line.strip().startswith("CONSTRAINT")]


@pytest.mark.parametrize("table", ["radiology_occurrence", "radiology_image"])
def test_every_ddl_column_reported_and_templates_agree(table):
    rules = [r.column for r in COLUMN_RULES if r.table == table]
    assert rules == _ddl_columns(table)
    sql = read_template(TEMPLATES[table])
    aliases = re.findall(r"\bAS (\w+),?\n", sql)
    extra = {"row_count", "person_count", "series_count", "ct_count", "ct_slice_thickness_ct_mapped"}
    assert [a for a in aliases if a not in extra] == [f"{c}_mapped" for c in rules]
    for rule in (r for r in COLUMN_RULES if r.table == table):
        expression = re.search(rf"SUM\(CASE WHEN (.*?) THEN 1 ELSE 0 END\) AS {rule.column}_mapped\b", sql)[1]
        c = rule.column
        assert expression == {
            "not_null": f"{c} IS NOT NULL",
            "text": f"LEN(RTRIM({c})) > 0",
            "concept": f"{c} <> 0" if table == "radiology_occurrence" else f"LEN(RTRIM({c})) > 0 AND {c} <> '0'",
            "positive": f"{c} > 0",
        }[rule.rule], c


def test_templates_are_plain_ohdsi_sql():
    for name in TEMPLATES.values():
        sql = read_template(name)
        assert "{DEFAULT @cdm_database_schema = cdm}" in sql
        code = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
        assert not re.search(r"\b(LENGTH|STRFTIME|EXTRACT|NVL|IFNULL|DATE_PART|LIMIT|::)\b", code)
        assert code.count(";") == 1


@pytest.mark.parametrize("dialect", ["sql server", "postgresql", "oracle", "bigquery", "snowflake", "spark",
                                     "redshift", "duckdb", "sqlite", "synapse"])
def test_templates_translate_to_every_dialect(dialect):
    from rcdm.sql import render, split_sql, translate

    for name in TEMPLATES.values():
        translated = translate(render(read_template(name), cdm_database_schema="cdm"), dialect)
        assert len(split_sql(translated)) == 1, name
        assert "cdm.radiology_" in translated.lower() or "cdm.rcdm_etl_file" in translated.lower(), name
