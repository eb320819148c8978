"""The viewer's core: every number a page shows, from OHDSI SQL templates, as plain JSON-able Python values.

Routes in ``rcdm.viewer.app`` only parse the request and call these functions. The aggregate queries are OHDSI
SQL templates under ``inst/sql/sql_server/`` (``QualityReport*.sql`` through ``rcdm.report`` for the overview,
``ViewerProtocols.sql``, ``ViewerCombinations.sql``, ``ViewerSearch.sql``), rendered and translated to the
connection's dialect by ``rcdm.db.query_sql``. Request text never becomes SQL text: search filter values are
validated (``parse_filters``) and then bound by the driver (``bind=``); the only values rendered into SQL are
TRUE/FALSE switches, integers this module produced, and schema/table names checked as identifiers at startup.
Sorting and filtering of the combinations table happen in Python, on the aggregate's rows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import pandas as pd

from rcdm.csv_safe import escape_frame
from rcdm.db import execute_sql, exists_table, insert_table, query_sql
from rcdm.errors import UsageError
from rcdm.extract import write_manifest
from rcdm.identifiers import check_identifier, check_schema
from rcdm.report import _plain, quality_report, report_to_dict
from rcdm.resources import read_template

PLANES: dict[str, str | None] = {"axial": "RID10579", "coronal": "RID10570", "sagittal": "RID10574",
                                 "oblique": None}
"""Search plane values → the RadLex id that means the same when the source value is missing (as in
GetCohortImages.sql)."""

CONTRAST_PHASES: dict[str, str | None] = {"pre": "RID28833", "post": None}
"""Search contrast phase values → the RadLex id that means the same when the source value is missing."""

COMBINATION_COLUMNS: tuple[str, ...] = ("modality", "body_part", "anatomical_plane", "contrast_phase",
                                        "protocol_concept_id", "studies", "series", "images")
"""Columns of the combinations table; ``sort`` must be one of them."""

MANIFEST_COLUMNS: tuple[str, ...] = (
    "person_id", "radiology_occurrence_id", "radiology_occurrence_date", "radiology_occurrence_datetime",
    "study_modality", "protocol_concept_id", "protocol_source_value", "radiology_series_id", "radiology_image_id",
    "file_path", "relative_path", "modality", "body_part_source_value", "anatomical_plane", "contrast_phase",
    "laterality", "anatomical_plane_concept_id", "series_type_concept_id", "laterality_concept_id",
    "ct_slice_thickness", "series_serial_number", "series_total_number", "instance_number", "image_resolution_rows",
    "image_resolution_columns")
"""Columns of the search's manifest CSV: ``rcdm.extract.write_manifest``'s manifest of ``get_cohort_images``
rows (with ``relative_path``, where ``rcdm extract`` would put each file), without the cohort columns (a search
need not name a cohort)."""

PAGE_SIZES: tuple[int, ...] = (10, 25, 50, 100)
MAX_MANIFEST_ROWS = 1_000_000
"""The manifest export stops here; the CSV's last line says so when it does."""

_FREE_TEXT = re.compile(r"^[\w .,:;/+()&\-]{1,64}$", re.UNICODE)
"""Modality and body part values: printable, short. They are bound anyway; this only bounds the input."""


@dataclass(frozen=True)
class ViewerSource:
    """Where the viewer reads: the CDM schema, the vocabulary (for concept names) and the cohort table."""

    cdm_schema: str
    vocabulary_schema: str | None = None
    cohort_schema: str | None = None
    cohort_table: str = "cohort"
    has_vocabulary: bool = False
    has_cohort: bool = False
    results_schema: str | None = None
    has_summary: bool = False
    """Whether ``build_summary`` tables exist in ``results_schema`` (then pages read them)."""

    @classmethod
    def detect(cls, conn: Any, cdm_schema: str, vocabulary_schema: str | None = None,
               cohort_schema: str | None = None, cohort_table: str = "cohort",
               results_schema: str | None = None) -> ViewerSource:
        """Check the names (IdentifierError before any SQL) and find out which optional tables exist."""
        check_schema(cdm_schema, "cdm schema")
        vocabulary_schema = vocabulary_schema or cdm_schema
        cohort_schema = cohort_schema or cdm_schema
        check_schema(vocabulary_schema, "vocabulary schema")
        check_schema(cohort_schema, "cohort schema")
        check_identifier(cohort_table, "cohort table")
        results_schema = results_schema or cdm_schema
        check_schema(results_schema, "results schema")
        for table in ("radiology_occurrence", "radiology_image"):
            if not exists_table(conn, cdm_schema, table):
                raise UsageError(f"Table {cdm_schema}.{table} does not exist: create and load the R-CDM tables "
                                 f"first (rcdm ddl create --schema {cdm_schema}; rcdm etl ...).")
        return cls(cdm_schema, vocabulary_schema, cohort_schema, cohort_table,
                   has_vocabulary=exists_table(conn, vocabulary_schema, "concept"),
                   has_cohort=exists_table(conn, cohort_schema, cohort_table), results_schema=results_schema,
                   has_summary=all(exists_table(conn, results_schema, t) for t in SUMMARY_TABLES))


# --------------------------------------------------------------------------------------------------------------
# Plain values


def plain(value: Any) -> Any:
    """A cell as a JSON-able value: NaN/NA → None, numpy scalars → int/float, Decimal → int/float, dates → ISO."""
    value = _plain(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain values; columns named ``*_date`` hold ISO dates (drivers may give timestamps)."""
    dates = {str(c) for c in frame.columns if str(c).endswith("_date")}
    return [{str(k): _date_only(v) if k in dates else plain(v) for k, v in zip(frame.columns, row)}
            for row in frame.itertuples(index=False)]


def _date_only(value: Any) -> Any:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    value = plain(value) if not isinstance(value, (dt.date, dt.datetime)) else value
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _count(value: Any) -> int:
    value = plain(value)
    return 0 if value is None else int(value)


# --------------------------------------------------------------------------------------------------------------
# Overview


def overview(conn: Any, source: ViewerSource) -> dict[str, Any]:
    """Persons, studies, series, images; studies and images by year and by modality; the quality report."""
    report = report_to_dict(quality_report(conn, source.cdm_schema), orient="records")
    tables = {table: [r for r in report["columns"] if r["table"] == table]
              for table in ("radiology_occurrence", "radiology_image")}
    return {"summary": report["summary"], "by_year": report["by_year"], "by_modality": report["by_modality"],
            "quality": tables, "files": report["files"], "quarantine": report["quarantine"]}


# --------------------------------------------------------------------------------------------------------------
# Protocols


def protocols(conn: Any, source: ViewerSource, top_n: int | None = 50) -> dict[str, Any]:
    """The most frequent protocol concepts (with names) and the most frequent unmapped source values."""
    frame = query_sql(conn, read_template("ViewerProtocols.sql"), cdm_database_schema=source.cdm_schema,
                      vocabulary_database_schema=source.vocabulary_schema,
                      use_vocabulary="TRUE" if source.has_vocabulary else "FALSE")
    concepts: dict[int, dict[str, Any]] = {}
    unmapped: dict[str | None, dict[str, Any]] = {}
    for row in records(frame):
        concept_id = row["protocol_concept_id"]
        if concept_id in (None, 0):
            entry = unmapped.setdefault(row["protocol_source_value"], {
                "protocol_source_value": row["protocol_source_value"], "protocol_concept_id": concept_id,
                "studies": 0, "images": 0})
        else:
            entry = concepts.setdefault(int(concept_id), {
                "protocol_concept_id": int(concept_id), "concept_name": row["concept_name"],
                "vocabulary_id": row["vocabulary_id"], "source_values": 0, "studies": 0, "images": 0})
            entry["source_values"] += 1
        entry["studies"] += _count(row["studies"])
        entry["images"] += _count(row["images"])
    order = lambda e: (-e["studies"], -e["images"], str(e.get("protocol_concept_id") or e.get("protocol_source_value")))  # noqa: E731
    top = sorted(concepts.values(), key=order)
    missing = sorted(unmapped.values(), key=lambda e: (-e["studies"], -e["images"], e["protocol_source_value"] is None,
                                                       str(e["protocol_source_value"] or "")))
    total = sum(e["studies"] for e in top) + sum(e["studies"] for e in missing)
    mapped = sum(e["studies"] for e in top)
    return {
        "studies": total,
        "mapped_studies": mapped,
        "mapped_pct": round(100.0 * mapped / total, 2) if total else None,
        "concepts": len(top),
        "vocabulary": source.has_vocabulary,
        "protocols": top[:top_n] if top_n else top,
        "unmapped": missing[:top_n] if top_n else missing,
        "unmapped_source_values": len(missing),
    }


def concept_names(protocol_data: Mapping[str, Any]) -> dict[int, str | None]:
    """protocol_concept_id → concept name, from ``protocols()``'s result (for the search page's study list)."""
    return {p["protocol_concept_id"]: p["concept_name"] for p in protocol_data.get("protocols", [])}


# --------------------------------------------------------------------------------------------------------------
# Combinations


def combinations(conn: Any, source: ViewerSource, top_n: int = 5000) -> list[dict[str, Any]]:
    """Counts per modality × body part × plane × contrast phase × protocol concept (the ``top_n`` largest)."""
    top_n = _positive_int(top_n, "top_n", 1_000_000)
    frame = query_sql(conn, read_template("ViewerCombinations.sql"), cdm_database_schema=source.cdm_schema,
                      top_n=str(top_n))
    return [{c: r.get(c) for c in COMBINATION_COLUMNS} for r in records(frame)]


def filter_combinations(rows: Iterable[Mapping[str, Any]], q: str = "", sort: str = "images",
                        order: str = "desc", **equals: str) -> list[dict[str, Any]]:
    """Rows whose values contain ``q`` (case-insensitive) and equal each ``column=value`` given, sorted.

    Works on the aggregate's rows in Python: nothing of the request reaches SQL. Missing values sort last.
    """
    if sort not in COMBINATION_COLUMNS:
        raise UsageError(f"Unknown sort column {sort!r}: use one of {', '.join(COMBINATION_COLUMNS)}.")
    if order not in ("asc", "desc"):
        raise UsageError(f"Unknown order {order!r}: use asc or desc.")
    for column in equals:
        if column not in COMBINATION_COLUMNS:
            raise UsageError(f"Unknown filter column {column!r}: use one of {', '.join(COMBINATION_COLUMNS)}.")
    needle = (q or "").strip().lower()
    out = []
    for row in rows:
        if needle and not any(needle in str(v).lower() for v in row.values() if v is not None):
            continue
        if any(value != "" and str(row.get(col)) != value for col, value in equals.items()):
            continue
        out.append(dict(row))
    present = [r for r in out if r.get(sort) is not None]
    absent = [r for r in out if r.get(sort) is None]
    present.sort(key=lambda r: (r[sort] if isinstance(r[sort], (int, float)) else str(r[sort]).lower()),
                 reverse=order == "desc")
    return present + absent


def filter_options(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The distinct modalities, body parts and protocol concepts of the combinations, for the search form."""
    rows = list(rows)
    out: dict[str, list[Any]] = {}
    for column in ("modality", "body_part", "protocol_concept_id"):
        values = {r[column] for r in rows if r.get(column) not in (None, "")}
        out[column] = sorted(values, key=lambda v: (isinstance(v, str), v))
    return out


# --------------------------------------------------------------------------------------------------------------
# Summary tables (rcdm viewer build-summary)

SUMMARY_TABLES: tuple[str, ...] = ("rcdm_viewer_summary", "rcdm_viewer_series")
"""``rcdm_viewer_summary`` (name, built_at, payload: the overview, protocols and combinations as JSON) and
``rcdm_viewer_series`` (ViewerBuildSummary.sql: the searchable attributes per series, with image counts)."""

SUMMARY_PAGES: tuple[str, ...] = ("overview", "protocols", "combinations")


def build_summary(conn: Any, cdm_schema: str, results_schema: str | None = None,
                  vocabulary_schema: str | None = None) -> dict[str, Any]:
    """Compute the viewer's aggregates once and store them in ``results_schema`` (default: the CDM schema).

    Needs write access (the viewer itself never writes). The viewer then answers the overview, protocols and
    combinations pages from ``rcdm_viewer_summary`` and counts search matches per series from
    ``rcdm_viewer_series``. The summary is a snapshot: rebuild it after each ETL load (pages show its time).
    Returns ``{"built_at", "series_rows", "pages"}``.
    """

    results_schema = results_schema or cdm_schema
    source = ViewerSource.detect(conn, cdm_schema, vocabulary_schema, results_schema=results_schema)
    source = ViewerSource(**{**asdict(source), "has_summary": False})
    payloads = {"overview": overview(conn, source), "protocols": protocols(conn, source, top_n=None),
                "combinations": combinations(conn, source, top_n=1_000_000),
                "search_totals": _counts(_search_query(conn, source, SearchFilters(), "counts"))}
    built_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    execute_sql(conn, read_template("ViewerBuildSummary.sql"), cdm_database_schema=cdm_schema,
                results_database_schema=results_schema)
    insert_table(conn, results_schema, "rcdm_viewer_summary", pd.DataFrame({
        "name": list(payloads), "built_at": [built_at] * len(payloads),
        "payload": [json.dumps(payloads[k], allow_nan=False) for k in payloads]}), drop_table_if_exists=True)
    rows = query_sql(conn, "SELECT COUNT(*) AS n FROM @s.rcdm_viewer_series;", s=results_schema)["n"][0]
    return {"built_at": built_at.isoformat(), "series_rows": int(rows), "pages": list(payloads)}


def read_summary(conn: Any, source: ViewerSource) -> dict[str, Any]:
    """The stored page aggregates: ``{"built_at": ISO time, "overview": ..., "protocols": ..., ...}``."""

    frame = query_sql(conn, "SELECT name, built_at, payload FROM @s.rcdm_viewer_summary;", s=source.results_schema)
    out: dict[str, Any] = {"built_at": None}
    for name, built_at, payload in frame.itertuples(index=False):
        out[str(name)] = json.loads(payload)
        out["built_at"] = plain(built_at)
    missing = [p for p in SUMMARY_PAGES if p not in out]
    if missing:
        raise UsageError(f"The viewer summary in {source.results_schema} lacks {', '.join(missing)}: rebuild it "
                         "(rcdm viewer build-summary).")
    return out


# --------------------------------------------------------------------------------------------------------------
# Search


@dataclass(frozen=True)
class SearchFilters:
    """Validated search filters; None = not filtered. Built by ``parse_filters`` from request parameters."""

    modality: str | None = None
    protocol_concept_id: int | None = None
    body_part: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    plane: str | None = None
    contrast: str | None = None
    cohort_id: int | None = None

    def query_string(self) -> str:
        """The filters as URL query parameters (for paging links and the manifest link)."""
        return urlencode({k: v for k, v in self.as_dict().items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        """Every filter by name, dates as ISO text (None = not filtered)."""
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()}

    @property
    def active(self) -> bool:
        return any(v is not None for v in asdict(self).values())


FILTER_NAMES: tuple[str, ...] = tuple(SearchFilters.__dataclass_fields__)


def _text(value: str, name: str, upper: bool = False) -> str:
    value = value.strip()
    if not _FREE_TEXT.match(value):
        raise UsageError(f"Invalid {name}: up to 64 letters, digits, spaces and . , : ; / + ( ) & - _")
    return value.upper() if upper else value


def _positive_int(value: Any, name: str, maximum: int = 2 ** 63 - 1, allow_zero: bool = False) -> int:
    text = str(value).strip()
    if not re.fullmatch(r"\d{1,19}", text):
        raise UsageError(f"Invalid {name} {str(value)[:40]!r}: give a whole number.")
    number = int(text)
    if number > maximum or (number == 0 and not allow_zero):
        raise UsageError(f"Invalid {name} {number}: give a number between {0 if allow_zero else 1} and {maximum}.")
    return number


def _choice(value: str, choices: Mapping[str, Any], name: str) -> str:
    """``value`` in lower case when it is one of ``choices``; UsageError naming them otherwise."""
    value = value.lower()
    if value not in choices:
        raise UsageError(f"Invalid {name}: use one of {', '.join(choices)}.")
    return value


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"Invalid {name} {value[:40]!r}: give a date as YYYY-MM-DD.") from None


def parse_filters(params: Mapping[str, str]) -> SearchFilters:
    """Validate search parameters (strict whitelists and types); raise UsageError naming the first bad one.

    Empty values mean "no filter". Unknown parameters are ignored (paging, sorting belong to the caller).
    """
    values: dict[str, Any] = {}
    get = lambda name: (params.get(name) or "").strip()  # noqa: E731
    if get("modality"):
        values["modality"] = _text(get("modality"), "modality", upper=True)
    if get("protocol_concept_id"):
        values["protocol_concept_id"] = _positive_int(get("protocol_concept_id"), "protocol concept id",
                                                      2 ** 31 - 1, allow_zero=True)
    if get("body_part"):
        values["body_part"] = _text(get("body_part"), "body part", upper=True)
    if get("date_from"):
        values["date_from"] = _date(get("date_from"), "start date")
    if get("date_to"):
        values["date_to"] = _date(get("date_to"), "end date")
    if get("plane"):
        values["plane"] = _choice(get("plane"), PLANES, "plane")
    if get("contrast"):
        values["contrast"] = _choice(get("contrast"), CONTRAST_PHASES, "contrast phase")
    if get("cohort_id"):
        values["cohort_id"] = _positive_int(get("cohort_id"), "cohort id", 2 ** 63 - 1, allow_zero=True)
    filters = SearchFilters(**values)
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise UsageError("Invalid date range: the start date is after the end date.")
    return filters


def _search_parameters(source: ViewerSource, filters: SearchFilters) -> tuple[dict[str, str], dict[str, Any]]:
    """Template switches (TRUE/FALSE only) and the bound values for ``filters``."""
    if filters.cohort_id is not None and not source.has_cohort:
        raise UsageError(f"No cohort table {source.cohort_schema}.{source.cohort_table}: the cohort filter needs "
                         "one (rcdm viewer --cohort-schema).")
    bind: dict[str, Any] = {}
    switches: dict[str, str] = {}
    for name, key in (("modality", "modality"), ("protocol", "protocol_concept_id"), ("body_part", "body_part"),
                      ("date_from", "date_from"), ("date_to", "date_to"), ("plane", "plane"),
                      ("contrast", "contrast"), ("cohort", "cohort_id")):
        value = getattr(filters, key)
        switches[f"filter_{name}"] = "FALSE" if value is None else "TRUE"
        if value is not None:
            bind["cohort_definition_id" if key == "cohort_id" else key] = value
    return switches, bind


def _search_query(conn: Any, source: ViewerSource, filters: SearchFilters, output: str, offset: int = 0,
                  page_size: int = 25) -> pd.DataFrame:
    switches, bind = _search_parameters(source, filters)
    return query_sql(conn, read_template("ViewerSearch.sql"), cdm_database_schema=source.cdm_schema,
                     results_database_schema=source.results_schema or source.cdm_schema,
                     use_summary="TRUE" if source.has_summary else "FALSE",
                     cohort_database_schema=source.cohort_schema, cohort_table=source.cohort_table,
                     output=output, offset=str(int(offset)), page_size=str(int(page_size)), bind=bind, **switches)


COUNT_KEYS: tuple[str, ...] = ("persons", "studies", "series", "images")
"""What a search counts (``search()["counts"]``, the summary's ``search_totals``)."""


def _counts(frame: pd.DataFrame) -> dict[str, int]:
    row = records(frame)[0]
    return {k: _count(row.get(k)) for k in COUNT_KEYS}


def search(conn: Any, source: ViewerSource, filters: SearchFilters, page: int = 1, page_size: int = 25,
           names: Mapping[int, str | None] | None = None, totals: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Counts of the matching persons, studies, series and images, and one page of studies (newest first).

    Studies show person_id only, never patient identifiers. ``names`` adds protocol concept names. ``totals``
    (the summary's counts with no filter) answers the counts of a search without filters.
    """
    if page_size not in PAGE_SIZES:
        raise UsageError(f"Invalid page size {page_size}: use one of {', '.join(map(str, PAGE_SIZES))}.")
    page = _positive_int(page, "page", 10_000_000)
    if totals and not filters.active:
        counts = {k: int(totals[k]) for k in COUNT_KEYS}
    else:
        counts = _counts(_search_query(conn, source, filters, "counts"))
    pages = max(1, math.ceil(counts["studies"] / page_size))
    page = min(page, pages)
    studies = records(_search_query(conn, source, filters, "studies", (page - 1) * page_size, page_size))
    for study in studies:
        study["concept_name"] = (names or {}).get(study["protocol_concept_id"])
    return {"filters": filters.as_dict(), "counts": counts, "page": page, "pages": pages, "page_size": page_size,
            "studies": studies}


def manifest_frame(conn: Any, source: ViewerSource, filters: SearchFilters,
                   max_rows: int = MAX_MANIFEST_ROWS) -> pd.DataFrame:
    """The matching images, one row each (``MANIFEST_COLUMNS``), at most ``max_rows`` + 1 (to tell truncation)."""
    max_rows = _positive_int(max_rows, "max rows", 100_000_000)
    return _search_query(conn, source, filters, "images", 0, max_rows + 1)


def manifest_csv(frame: pd.DataFrame, max_rows: int = MAX_MANIFEST_ROWS) -> str:
    """The manifest as CSV text, written by ``rcdm.extract.write_manifest`` (header ``MANIFEST_COLUMNS``);
    a final ``# truncated`` line when there were more than ``max_rows`` rows. Text cells that a spreadsheet
    would run as a formula (DICOM-derived text such as body parts and protocol names, file paths) get a
    leading ``'`` (``rcdm.csv_safe``)."""

    truncated = len(frame) > max_rows
    manifest = frame.head(max_rows).copy()
    with tempfile.TemporaryDirectory(prefix="rcdm-viewer-manifest-") as folder:
        written = write_manifest(manifest, folder)  # where rcdm extract puts each file: its relative_path
        relative = pd.read_parquet(written["parquet"], columns=["relative_path"])["relative_path"].to_numpy()
    manifest.insert(manifest.columns.get_loc("file_path") + 1, "relative_path", relative)
    text = escape_frame(manifest).to_csv(index=False, lineterminator="\r\n")  # CRLF: a CR inside a cell gets quoted
    if truncated:
        text += f"# truncated at {max_rows} rows: narrow the search\n"
    return text


__all__ = [
    "COMBINATION_COLUMNS",
    "SUMMARY_TABLES",
    "build_summary",
    "read_summary",
    "CONTRAST_PHASES",
    "MANIFEST_COLUMNS",
    "PAGE_SIZES",
    "PLANES",
    "SearchFilters",
    "ViewerSource",
    "combinations",
    "concept_names",
    "filter_combinations",
    "filter_options",
    "manifest_csv",
    "manifest_frame",
    "overview",
    "parse_filters",
    "protocols",
    "search",
]
