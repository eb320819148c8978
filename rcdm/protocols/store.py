"""Load the OMOP vocabulary, the LOINC/RSNA playbook and the site's mappings into the database, and build the
protocol matcher back from it.

Every loader validates while it streams and writes inside one transaction (``rcdm.db.transaction``): a wrong
file (delimiter, missing column, bad row anywhere, even after a million good ones) raises UsageError naming
the file and line, and the tables are left exactly as they were.

Where the tables live (``inst/ddl/vocabulary_ddl.sql``):

* ``concept``, ``concept_relationship``, ``concept_ancestor``: ``vocabulary_database_schema`` (Athena's files;
  a site whose CDM already holds the vocabulary loads nothing, rcdm only reads ``concept``);
* ``source_to_concept_map`` and ``rcdm_playbook``: ``cdm_database_schema``, beside the R-CDM tables (the site
  owns them; the vocabulary schema is often shared and read-only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from rcdm.db import create_schema, execute_sql, exists_table, insert_table, query_sql, transaction
from rcdm.ddl import _describe
from rcdm.errors import UsageError
from rcdm.fetch import is_missing
from rcdm.identifiers import check_schema
from rcdm.protocols import athena
from rcdm.protocols import playbook as pb
from rcdm.protocols.loinc_table import load_loinc_table, merge_terms
from rcdm.protocols.matcher import ProtocolMatcher
from rcdm.protocols.stcm import COLUMNS as STCM_COLUMNS
from rcdm.protocols.stcm import SiteMapping, read_stcm
from rcdm.resources import read_template
from rcdm.sql import render, split_sql

CHUNK_ROWS = 100_000
"""Rows of an Athena file validated and bulk-inserted at a time (memory stays flat on gigabyte files)."""

ATHENA_FILES: dict[str, tuple[str, Any, bool]] = {
    "concept": ("CONCEPT.csv", athena.read_concepts, True),
    "concept_relationship": ("CONCEPT_RELATIONSHIP.csv", athena.read_concept_relationships, False),
    "concept_ancestor": ("CONCEPT_ANCESTOR.csv", athena.read_concept_ancestors, False),
}
"""Table → (Athena file name, streaming reader, required). Optional files that are absent leave their table
as it is."""

_INT, _TEXT, _DATE = pa.int64(), pa.string(), pa.date32()
ARROW_TYPES: dict[str, dict[str, pa.DataType]] = {
    "concept": {"concept_id": _INT, "concept_name": _TEXT, "domain_id": _TEXT, "vocabulary_id": _TEXT,
                "concept_class_id": _TEXT, "standard_concept": _TEXT, "concept_code": _TEXT,
                "valid_start_date": _DATE, "valid_end_date": _DATE, "invalid_reason": _TEXT},
    "concept_relationship": {"concept_id_1": _INT, "concept_id_2": _INT, "relationship_id": _TEXT,
                             "valid_start_date": _DATE, "valid_end_date": _DATE, "invalid_reason": _TEXT},
    "concept_ancestor": {"ancestor_concept_id": _INT, "descendant_concept_id": _INT,
                         "min_levels_of_separation": _INT, "max_levels_of_separation": _INT},
    "source_to_concept_map": {"source_code": _TEXT, "source_concept_id": _INT, "source_vocabulary_id": _TEXT,
                              "source_code_description": _TEXT, "target_concept_id": _INT,
                              "target_vocabulary_id": _TEXT, "valid_start_date": _DATE, "valid_end_date": _DATE,
                              "invalid_reason": _TEXT},
    "rcdm_playbook": {"loinc_number": _TEXT, "long_common_name": _TEXT, "rpid": _TEXT, "rpid_long_name": _TEXT,
                      "part_number": _TEXT, "part_type_name": _TEXT, "part_name": _TEXT,
                      "part_sequence_order": _TEXT, "rid": _TEXT, "preferred_name": _TEXT},
}
"""Column types of each table as rcdm bulk-inserts it (same order as the DDL)."""

_STCM_LIMITS = {"source_code": 50, "source_vocabulary_id": 20, "source_code_description": 255,
                "target_vocabulary_id": 20, "invalid_reason": 1}


# --------------------------------------------------------------------------------------------------------------
# DDL


def vocabulary_table_sql(table: str, cdm_database_schema: str, vocabulary_database_schema: str | None = None) -> str:
    """The OHDSI SQL ``CREATE TABLE`` (if missing) of one table of ``inst/ddl/vocabulary_ddl.sql``."""
    sql = render(read_template("ddl/vocabulary_ddl.sql"), cdm_database_schema=cdm_database_schema,
                 vocabulary_database_schema=vocabulary_database_schema or cdm_database_schema)
    for statement in split_sql(sql):
        described = _describe(statement)
        if described.table == table:
            return described.sql
    raise UsageError(f"No table {table!r} in inst/ddl/vocabulary_ddl.sql")


def _schema_of(table: str, cdm_database_schema: str, vocabulary_database_schema: str | None) -> str:
    return (vocabulary_database_schema or cdm_database_schema) if table in ATHENA_FILES else cdm_database_schema


def create_vocabulary_tables(conn: Any, tables: Sequence[str], cdm_database_schema: str,
                             vocabulary_database_schema: str | None = None) -> list[str]:
    """Create the named tables (and their schemas) where missing; returns the tables created."""
    created = []
    for table in tables:
        schema = _schema_of(table, cdm_database_schema, vocabulary_database_schema)
        create_schema(conn, schema)
        if not exists_table(conn, schema, table):
            execute_sql(conn, vocabulary_table_sql(table, cdm_database_schema, vocabulary_database_schema))
            created.append(table)
    return created


def _arrow(table: str, rows: list[dict[str, Any]]) -> pa.Table:
    types = ARROW_TYPES[table]
    return pa.table({c: pa.array([r.get(c) for r in rows], type=t) for c, t in types.items()})


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _unchanged(exc: UsageError, what: str) -> UsageError:
    return UsageError(f"{exc}\nNothing was loaded: {what} unchanged.")


# --------------------------------------------------------------------------------------------------------------
# Athena


def _find_file(folder: Path, name: str) -> Path | None:
    exact = folder / name
    if exact.is_file():
        return exact
    for candidate in folder.iterdir():
        if candidate.name.lower() == name.lower() and candidate.is_file():
            return candidate
    return None


def load_athena(conn: Any, vocabulary_database_schema: str, folder: str | Path,
                chunk_rows: int = CHUNK_ROWS, progress: bool = False) -> dict[str, int]:
    """Load Athena's ``CONCEPT.csv`` (required), ``CONCEPT_RELATIONSHIP.csv`` and ``CONCEPT_ANCESTOR.csv``
    (when present) from ``folder`` into ``vocabulary_database_schema``; returns rows loaded per table.

    Each table present in the folder is replaced whole. Files are streamed ``chunk_rows`` rows at a time,
    validated by ``rcdm.protocols.athena`` and bulk-inserted, all in one transaction: a malformed file fails
    with its name and line and leaves every table as it was.
    """
    check_schema(vocabulary_database_schema, "vocabulary_database_schema")
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"No such Athena folder: {folder} (unzip the Athena download and give its folder)")
    files = {t: _find_file(folder, name) for t, (name, _, _) in ATHENA_FILES.items()}
    missing = [ATHENA_FILES[t][0] for t, (_, _, required) in ATHENA_FILES.items() if required and files[t] is None]
    if missing:
        raise UsageError(f"{folder}: no {', '.join(missing)}; is this the folder of an Athena vocabulary download?")
    counts: dict[str, int] = {}
    try:
        with transaction(conn):
            create_vocabulary_tables(conn, list(ATHENA_FILES), vocabulary_database_schema, vocabulary_database_schema)
            for table, path in files.items():
                if path is None:
                    continue
                reader = ATHENA_FILES[table][1]
                execute_sql(conn, f"DELETE FROM {vocabulary_database_schema}.{table};")
                counts[table] = 0
                for chunk in _chunks(reader(path), chunk_rows):
                    counts[table] += insert_table(conn, vocabulary_database_schema, table, _arrow(table, chunk),
                                                  progress=progress)
    except UsageError as exc:
        raise _unchanged(exc, "the vocabulary tables are") from None
    return counts


# --------------------------------------------------------------------------------------------------------------
# Playbook


def playbook_rows(terms: dict[str, pb.PlaybookTerm]) -> list[dict[str, Any]]:
    """One ``rcdm_playbook`` row per part of every term, with the term's own attributes repeated."""
    rows = []
    for loinc, term in sorted(terms.items()):
        for parts in term.parts.values():
            for part in parts:
                rows.append({
                    "loinc_number": loinc, "long_common_name": term.long_common_name or None,
                    "rpid": term.rpid or None, "rpid_long_name": term.rpid_long_name or None,
                    "part_number": part.part_number or None, "part_type_name": part.type_name,
                    "part_name": part.name, "part_sequence_order": part.sequence or None,
                    "rid": part.rid or None, "preferred_name": part.preferred_name or None,
                })
    return rows


def load_playbook(conn: Any, cdm_database_schema: str, file: str | Path | None = None, *,
                  loinc_table: str | Path | None = None, part_links: Sequence[str | Path] = ()) -> int:
    """Replace ``rcdm_playbook`` with the parts of ``LoincRsnaRadiologyPlaybook.csv`` and/or of every radiology
    term of LOINC's ``Loinc.csv`` (+ ``LoincPartLink_*.csv``; the playbook's term wins where both have one);
    returns the rows loaded.

    Every file is validated first (``rcdm.protocols.playbook``, ``rcdm.protocols.loinc_table``); a malformed
    file changes nothing.
    """
    check_schema(cdm_database_schema, "cdm_database_schema")
    if file is None and loinc_table is None:
        raise UsageError("Give LoincRsnaRadiologyPlaybook.csv, LOINC's Loinc.csv (loinc_table), or both")
    try:
        terms = merge_terms(pb.load_playbook(file) if file else {},
                            load_loinc_table(loinc_table, part_links) if loinc_table else {})
    except UsageError as exc:
        raise _unchanged(exc, f"{cdm_database_schema}.rcdm_playbook is") from None
    rows = playbook_rows(terms)
    with transaction(conn):
        create_vocabulary_tables(conn, ["rcdm_playbook"], cdm_database_schema)
        execute_sql(conn, f"DELETE FROM {cdm_database_schema}.rcdm_playbook;")
        insert_table(conn, cdm_database_schema, "rcdm_playbook", _arrow("rcdm_playbook", rows))
    return len(rows)


def read_playbook_terms(conn: Any, cdm_database_schema: str) -> dict[str, pb.PlaybookTerm]:
    """The playbook terms stored in ``rcdm_playbook``, as ``playbook.load_playbook`` returns them from the file."""
    check_schema(cdm_database_schema, "cdm_database_schema")
    if not exists_table(conn, cdm_database_schema, "rcdm_playbook"):
        raise UsageError(f"{cdm_database_schema}.rcdm_playbook does not exist: load the LOINC/RSNA Radiology "
                         f"Playbook first (rcdm vocab load-playbook FILE --schema {cdm_database_schema}).")
    frame = query_sql(conn, "SELECT * FROM @s.rcdm_playbook ORDER BY loinc_number, part_type_name, "
                            "part_sequence_order, part_name;", s=cdm_database_schema)
    terms: dict[str, pb.PlaybookTerm] = {}
    for r in frame.to_dict("records"):
        r = {k: (None if _missing(v) else v) for k, v in r.items()}
        term = terms.get(r["loinc_number"])
        if term is None:
            term = terms[r["loinc_number"]] = pb.PlaybookTerm(r["loinc_number"], r["long_common_name"] or "",
                                                              r["rpid"] or "", r["rpid_long_name"] or "")
        part = pb.PlaybookPart(r["part_number"] or "", r["part_type_name"], r["part_name"],
                               r["part_sequence_order"] or "A", r["rid"] or "", r["preferred_name"] or "")
        term.parts.setdefault(r["part_type_name"].lower(), []).append(part)
    if not terms:
        raise UsageError(f"{cdm_database_schema}.rcdm_playbook is empty: rcdm vocab load-playbook FILE")
    return terms


def _missing(value: Any) -> bool:
    return is_missing(value)


# --------------------------------------------------------------------------------------------------------------
# Site mappings (source_to_concept_map)


def _stcm_row(m: SiteMapping) -> dict[str, Any]:
    return {"source_code": m.source_code, "source_concept_id": m.source_concept_id,
            "source_vocabulary_id": m.source_vocabulary_id,
            "source_code_description": m.source_code_description or None,
            "target_concept_id": m.target_concept_id, "target_vocabulary_id": m.target_vocabulary_id,
            "valid_start_date": m.valid_start_date, "valid_end_date": m.valid_end_date,
            "invalid_reason": m.invalid_reason}


def load_stcm(conn: Any, cdm_database_schema: str, file: str | Path) -> dict[str, int]:
    """Load a ``source_to_concept_map`` file (comma- or tab-separated, e.g. Usagi's export) into
    ``cdm_database_schema.source_to_concept_map`` (created if missing), replacing the rows of every
    ``source_vocabulary_id`` the file contains; returns rows loaded per source_vocabulary_id.

    The whole file is validated first, including OMOP's column lengths; a malformed file changes nothing.
    """
    check_schema(cdm_database_schema, "cdm_database_schema")
    try:
        mappings = list(read_stcm(file))
        if not mappings:
            raise UsageError(f"{file}: no source_to_concept_map rows after the header")
        for number, m in enumerate(mappings, start=2):
            for column, limit in _STCM_LIMITS.items():
                value = getattr(m, column) or ""
                if len(value) > limit:
                    raise UsageError(f"{file}: row {number}: {column} {value[:60]!r} is longer than OMOP's "
                                     f"{limit} characters")
            if not m.source_vocabulary_id or not m.target_vocabulary_id:
                raise UsageError(f"{file}: row {number}: empty source_vocabulary_id or target_vocabulary_id")
    except UsageError as exc:
        raise _unchanged(exc, f"{cdm_database_schema}.source_to_concept_map is") from None
    counts: dict[str, int] = {}
    for m in mappings:
        counts[m.source_vocabulary_id] = counts.get(m.source_vocabulary_id, 0) + 1
    with transaction(conn):
        create_vocabulary_tables(conn, ["source_to_concept_map"], cdm_database_schema)
        for vocabulary in sorted(counts):
            execute_sql(conn, f"DELETE FROM {cdm_database_schema}.source_to_concept_map "
                              "WHERE source_vocabulary_id = :v;", bind={"v": vocabulary})
        insert_table(conn, cdm_database_schema, "source_to_concept_map",
                     _arrow("source_to_concept_map", [_stcm_row(m) for m in mappings]))
    return counts


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "date"):  # pandas Timestamp
        return value.date()
    text = str(value).replace("-", "")[:8]
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def read_site_mappings(conn: Any, cdm_database_schema: str,
                       source_vocabularies: Sequence[str] | None = None) -> list[SiteMapping]:
    """Rows of ``cdm_database_schema.source_to_concept_map`` (all, or those of ``source_vocabularies``);
    [] when the table does not exist."""
    if not exists_table(conn, cdm_database_schema, "source_to_concept_map"):
        return []
    sql = "SELECT " + ", ".join(STCM_COLUMNS) + " FROM @s.source_to_concept_map"
    if source_vocabularies is None:
        frames = [query_sql(conn, sql + ";", s=cdm_database_schema)]
    else:
        frames = [query_sql(conn, sql + " WHERE source_vocabulary_id = :v;", s=cdm_database_schema,
                            bind={"v": v}) for v in source_vocabularies]
    out = []
    for frame in frames:
        for r in frame.to_dict("records"):
            r = {k: (None if _missing(v) else v) for k, v in r.items()}
            out.append(SiteMapping(str(r["source_code"]), int(r["source_concept_id"] or 0),
                                   str(r["source_vocabulary_id"]), str(r["source_code_description"] or ""),
                                   int(r["target_concept_id"]), str(r["target_vocabulary_id"] or ""),
                                   _date(r["valid_start_date"]), _date(r["valid_end_date"]),
                                   r["invalid_reason"] or None))
    return out


# --------------------------------------------------------------------------------------------------------------
# The matcher, from the database


def read_protocol_concepts(conn: Any, cdm_database_schema: str,
                           vocabulary_database_schema: str | None = None) -> list[dict[str, Any]]:
    """The valid LOINC concepts the playbook (and the site mappings' targets) name, from
    ``@vocabulary_database_schema.concept`` by the ``GetProtocolConcepts.sql`` template."""
    vocabulary = vocabulary_database_schema or cdm_database_schema
    check_schema(vocabulary, "vocabulary_database_schema")
    if not exists_table(conn, vocabulary, "concept"):
        raise UsageError(f"{vocabulary}.concept does not exist: point --vocabulary-schema at the CDM's vocabulary, "
                         f"or load Athena's files (rcdm vocab load-athena DIR --schema {vocabulary}).")
    has_stcm = exists_table(conn, cdm_database_schema, "source_to_concept_map")
    frame = query_sql(conn, read_template("GetProtocolConcepts.sql"), cdm_database_schema=cdm_database_schema,
                      vocabulary_database_schema=vocabulary, has_stcm=has_stcm)
    rows = []
    for r in frame.to_dict("records"):
        r = {k: (None if _missing(v) else v) for k, v in r.items()}
        r["concept_id"] = int(r["concept_id"])
        rows.append(r)
    return rows


def require_rcdm_tables(conn: Any, cdm_database_schema: str) -> None:
    """UsageError unless ``radiology_occurrence`` and ``radiology_image`` exist in ``cdm_database_schema``."""
    for table in ("radiology_occurrence", "radiology_image"):
        if not exists_table(conn, cdm_database_schema, table):
            raise UsageError(f"{cdm_database_schema}.{table} does not exist: create and load the R-CDM tables first.")


def matcher_from_database(conn: Any, cdm_database_schema: str, vocabulary_database_schema: str | None = None,
                          source_vocabularies: Sequence[str] | None = None,
                          rules_dir: str | Path | None = None) -> ProtocolMatcher:
    """A ``ProtocolMatcher`` built from the database: terms from ``cdm_database_schema.rcdm_playbook``, LOINC
    concept ids from ``vocabulary_database_schema.concept`` (default: the CDM schema), and site mappings from
    ``cdm_database_schema.source_to_concept_map`` (all rows, or only ``source_vocabularies``)."""
    check_schema(cdm_database_schema, "cdm_database_schema")
    terms = read_playbook_terms(conn, cdm_database_schema)
    concepts = read_protocol_concepts(conn, cdm_database_schema, vocabulary_database_schema)
    site = read_site_mappings(conn, cdm_database_schema, source_vocabularies)
    return ProtocolMatcher.from_data(terms, concepts, site, rules_dir)


__all__ = [
    "ATHENA_FILES",
    "CHUNK_ROWS",
    "create_vocabulary_tables",
    "load_athena",
    "load_playbook",
    "load_stcm",
    "matcher_from_database",
    "read_playbook_terms",
    "read_protocol_concepts",
    "read_site_mappings",
]
