"""The protocol-mapping SQL templates are plain OHDSI SQL that translates to every dialect."""

from __future__ import annotations

import re

import pytest

from rcdm.protocols.store import vocabulary_table_sql
from rcdm.resources import read_template
from rcdm.sql import render, split_sql, translate

TEMPLATES = ("GetProtocolConcepts.sql", "RemapPrepare.sql", "RemapKeys.sql", "RemapCount.sql", "RemapAssign.sql",
             "RemapApply.sql", "GetUnmappedProtocols.sql", "PopulateMicdm.sql", "QualityReportProtocol.sql",
             "ddl/vocabulary_ddl.sql")
DIALECTS = ["sql server", "postgresql", "oracle", "bigquery", "snowflake", "spark", "redshift", "duckdb", "sqlite",
            "synapse"]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("flags", [True, False])
def test_templates_translate(dialect, flags):
    for name in TEMPLATES:
        sql = render(read_template(name), cdm_database_schema="cdm", vocabulary_database_schema="vocab",
                     has_stcm=flags, has_concept=flags, with_changes=flags, warn_on_missing_parameters=False)
        translated = translate(sql, dialect, temp_emulation_schema="scratch")
        assert split_sql(translated), name
        assert "@" not in translated, name


def test_templates_are_plain_ohdsi_sql():
    for name in TEMPLATES:
        code = "\n".join(line for line in read_template(name).splitlines() if not line.startswith("--"))
        assert "{DEFAULT @cdm_database_schema = cdm}" in code or "{DEFAULT @vocabulary_database_schema" in code
        assert not re.search(r"\b(LENGTH|STRFTIME|EXTRACT|NVL|IFNULL|DATE_PART|LIMIT|ILIKE)\b|::", code), name


def test_vocabulary_ddl_follows_omop_5_4_types():
    concept = vocabulary_table_sql("concept", "cdm", "vocab")
    assert "vocab.concept" in concept and "concept_code VARCHAR(50) NOT NULL" in concept
    assert "standard_concept VARCHAR(1) NULL" in concept and "valid_start_date DATE NOT NULL" in concept
    stcm = vocabulary_table_sql("source_to_concept_map", "cdm", "vocab")
    assert "cdm.source_to_concept_map" in stcm and "source_code VARCHAR(50) NOT NULL" in stcm
    assert "source_code_description VARCHAR(255) NULL" in stcm


@pytest.mark.parametrize("table", ["concept", "concept_relationship", "concept_ancestor", "source_to_concept_map"])
def test_vocabulary_ddl_matches_the_omop_field_level_spec(table, test_data):
    import csv

    spec = test_data / "omop" / "OMOP_CDMv5.4_Field_Level.csv"
    with spec.open(encoding="utf-8-sig", newline="") as fh:
        fields = [r for r in csv.DictReader(fh) if r["cdmTableName"].lower() == table]
    sql = vocabulary_table_sql(table, "cdm", "vocab")
    columns = re.findall(r"^\s+(\w+) (\w+(?:\(\d+\))?) (NOT NULL|NULL),?$", sql, re.M)
    assert [c[0] for c in columns] == [f["cdmFieldName"].lower() for f in fields]
    for (name, kind, null), f in zip(columns, fields):
        assert kind.lower() == f["cdmDatatype"].lower(), name
        assert (null == "NOT NULL") == (f["isRequired"] == "Yes"), name
