"""Fill the OHDSI Medical Imaging CDM (MI-CDM) ``image_occurrence`` table from the loaded R-CDM tables.

One row per series (``inst/sql/sql_server/PopulateMicdm.sql`` says exactly how each column is filled):
``image_occurrence_id`` = ``radiology_series_id``; study and series "UIDs" are rcdm's keyed hashes, never real
UIDs; ``procedure_occurrence_id`` = 0, because MI-CDM requires a value and rcdm links no ``procedure_occurrence``
row (a site that has one can update the column afterwards); ``modality_concept_id`` and
``anatomic_site_concept_id`` come from the site's ``source_to_concept_map`` (``RCDM_MODALITY`` /
``RCDM_BODY_PART`` rows keyed on the DICOM value, e.g. to a SNOMED concept), else from a ``DICOM`` vocabulary
concept whose ``concept_code`` is the DICOM value, else 0. Re-running replaces the rows it made.
"""

from __future__ import annotations

from typing import Any

from rcdm.db import execute_sql, exists_table, query_sql, transaction
from rcdm.ddl import create_tables
from rcdm.identifiers import check_schema
from rcdm.protocols.store import require_rcdm_tables
from rcdm.resources import read_template

MODALITY_VOCABULARY = "RCDM_MODALITY"
BODY_PART_VOCABULARY = "RCDM_BODY_PART"


def populate_micdm(conn: Any, cdm_database_schema: str,
                   vocabulary_database_schema: str | None = None) -> dict[str, int]:
    """Create ``image_occurrence`` if missing and (re)fill it from the R-CDM tables, in one transaction.

    Returns ``{"series", "image_occurrence", "skipped", "modality_mapped", "anatomic_site_mapped"}``: series
    in ``radiology_image``, rows written, series skipped (no study date or hashed Study UID), and rows whose
    concepts are not 0.
    """
    check_schema(cdm_database_schema, "cdm_database_schema")
    vocabulary = vocabulary_database_schema or cdm_database_schema
    check_schema(vocabulary, "vocabulary_database_schema")
    require_rcdm_tables(conn, cdm_database_schema)
    create_tables(conn, cdm_database_schema, model="micdm")
    has_concept = exists_table(conn, vocabulary, "concept")
    has_stcm = exists_table(conn, cdm_database_schema, "source_to_concept_map")
    s = cdm_database_schema
    with transaction(conn):
        execute_sql(conn, read_template("PopulateMicdm.sql"), cdm_database_schema=s,
                    vocabulary_database_schema=vocabulary, has_concept=has_concept, has_stcm=has_stcm)
        counts = query_sql(conn, """
            SELECT (SELECT COUNT(DISTINCT radiology_series_id) FROM @s.radiology_image) AS series,
              COUNT(*) AS image_occurrence,
              SUM(CASE WHEN modality_concept_id <> 0 THEN 1 ELSE 0 END) AS modality_mapped,
              SUM(CASE WHEN anatomic_site_concept_id <> 0 THEN 1 ELSE 0 END) AS anatomic_site_mapped
            FROM @s.image_occurrence
            WHERE image_occurrence_id IN (SELECT radiology_series_id FROM @s.radiology_image);""", s=s)
    row = {k: int(v) if v == v and v is not None else 0 for k, v in counts.iloc[0].to_dict().items()}
    row["skipped"] = row["series"] - row["image_occurrence"]
    return row


__all__ = ["BODY_PART_VOCABULARY", "MODALITY_VOCABULARY", "populate_micdm"]
