"""Map (or re-map) every study's ``protocol_concept_id`` from what the database already holds, no DICOM needed.

``remap`` runs after the vocabulary, the playbook or the site's mappings change, and at the end of an ETL run.
It works per distinct matching key, not per study: the key is the study's ``protocol_source_value``
(``"MODALITY|BODY PART|STUDY DESC|SERIES DESC|PROTOCOL"``) plus what its images say about contrast
(``series_type_source_value`` ``pre:...`` / ``post:...``, when all images with a phase agree) and laterality
(``laterality_source_value``). Steps (OHDSI SQL templates ``inst/sql/sql_server/Remap*.sql``), all in one
transaction:

1. ``RemapPrepare``: a work table with one row per study and its key (set-based, in the database);
2. ``RemapKeys``: the distinct keys come to Python and are matched once each (site mappings win);
3. the key → concept table is bulk-loaded, ``RemapAssign`` gives each study its concept;
4. ``RemapApply``: one UPDATE of the studies whose concept changes (a second remap changes 0 rows); the work
   tables are dropped.

For the ETL: ``map_studies(matcher, rows)`` maps rows in memory (same keys, same matcher) when a batch wants
its concepts before it is written; the simplest correct integration is to call ``remap(conn, schema,
matcher=matcher)`` once after the last batch of a run, which maps what the run loaded from the database's
own image evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

from rcdm.db import execute_sql, insert_table, query_sql, transaction
from rcdm.fetch import is_missing
from rcdm.identifiers import check_schema
from rcdm.protocols.matcher import ProtocolMatcher
from rcdm.protocols.source_value import study_from_source_value
from rcdm.protocols.store import matcher_from_database, require_rcdm_tables
from rcdm.resources import read_template

NONE = "-"
"""Stands for "no value" in the work tables' key columns (kept NOT NULL so joins are plain equalities)."""


def _value(row: Any, key: str) -> Any:
    if isinstance(row, Mapping):
        value = row.get(key)
    else:
        value = getattr(row, key, None)
    if is_missing(value) or value == NONE:
        return None
    return value


def map_studies(matcher: ProtocolMatcher, rows: Iterable[Any]) -> list[int]:
    """The protocol concept id of each row (0 = unmapped), in order.

    A row is a mapping or an object with ``protocol_source_value`` and, optionally, ``contrast`` (``"pre"`` /
    ``"post"``: the contrast phase all the study's images agree on) and ``laterality`` (``"L"``/``"R"``/``"B"``).
    Pure: no database. Identical keys are matched once (the matcher memoises).
    """
    out = []
    for row in rows:
        study = study_from_source_value(_value(row, "protocol_source_value"), _value(row, "contrast"),
                                        _value(row, "laterality"))
        out.append(int(matcher.match(study).concept_id))
    return out


def _count(frame: pd.DataFrame, column: str) -> int:
    value = frame[column].iloc[0] if len(frame) else 0
    return 0 if is_missing(value) else int(value)


def remap(conn: Any, cdm_database_schema: str, vocabulary_database_schema: str | None = None,
          matcher: ProtocolMatcher | None = None, source_vocabularies: list[str] | None = None) -> dict[str, Any]:
    """Re-map ``radiology_occurrence.protocol_concept_id`` of every study; returns the counts.

    ``matcher`` defaults to ``matcher_from_database(conn, cdm_database_schema, vocabulary_database_schema,
    source_vocabularies)``. Returns ``{"studies", "mapped_before", "mapped_after", "changed", "keys",
    "keys_by_source": {"site": n, "auto": n, "none": n}}``: ``changed`` counts studies whose concept changed
    (0 on a second run), ``keys`` the distinct matching keys, by what decided each.
    """
    check_schema(cdm_database_schema, "cdm_database_schema")
    require_rcdm_tables(conn, cdm_database_schema)
    if matcher is None:
        matcher = matcher_from_database(conn, cdm_database_schema, vocabulary_database_schema, source_vocabularies)
    s = cdm_database_schema
    with transaction(conn):
        before = query_sql(conn, read_template("RemapCount.sql"), cdm_database_schema=s, with_changes=False)
        execute_sql(conn, read_template("RemapPrepare.sql"), cdm_database_schema=s)
        keys = query_sql(conn, read_template("RemapKeys.sql"), cdm_database_schema=s)
        by_source = {"site": 0, "auto": 0, "none": 0}
        concepts = []
        for psv, contrast, laterality in zip(keys["protocol_source_value"], keys["contrast"], keys["laterality"]):
            study = study_from_source_value(None if psv == NONE else psv, None if contrast == NONE else contrast,
                                            None if laterality == NONE else laterality)
            match = matcher.match(study)
            by_source[match.source if match.concept_id or match.source == "site" else "none"] += 1
            concepts.append(int(match.concept_id))
        table = pa.table({
            "protocol_source_value": pa.array([str(v) for v in keys["protocol_source_value"]], pa.string()),
            "contrast": pa.array([str(v) for v in keys["contrast"]], pa.string()),
            "laterality": pa.array([str(v) for v in keys["laterality"]], pa.string()),
            "concept_id": pa.array(concepts, pa.int64()),
        })
        insert_table(conn, s, "rcdm_remap_key", table)
        execute_sql(conn, read_template("RemapAssign.sql"), cdm_database_schema=s)
        changes = query_sql(conn, read_template("RemapCount.sql"), cdm_database_schema=s, with_changes=True)
        execute_sql(conn, read_template("RemapApply.sql"), cdm_database_schema=s)
        after = query_sql(conn, read_template("RemapCount.sql"), cdm_database_schema=s, with_changes=False)
    return {
        "studies": _count(after, "studies"),
        "mapped_before": _count(before, "mapped"),
        "mapped_after": _count(after, "mapped"),
        "changed": _count(changes, "changed"),
        "keys": len(concepts),
        "keys_by_source": by_source,
    }


__all__ = ["map_studies", "remap"]
