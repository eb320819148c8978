"""The mapping-quality report: how well a load filled each R-CDM column, like the paper's Tables 3 and 4.

``quality_report(conn, schema)`` runs four OHDSI SQL templates (``inst/sql/sql_server/QualityReport*.sql``), each
one aggregate query, so each table is read once for all its column counts (the image table twice in all: once
for the column counts, once for images per study), and returns pandas DataFrames:

* ``columns``: one row per column of ``radiology_occurrence`` and ``radiology_image`` (the paper's columns and
  rcdm's extensions): ``table, column, rule, rows, unmapped, mapped, mapped_pct, applies_to, applicable,
  applicable_mapped, applicable_pct``. ``rule`` says what "mapped" means for the column (see ``RULES``).
  ``applies_to`` is ``all``, or the subset of rows the column applies to (``ct_slice_thickness``: CT images,
  i.e. images whose own ``modality`` is ``CT``); ``applicable*`` then count within that subset, otherwise they
  repeat ``rows``/``mapped``/``mapped_pct``. Percentages are rounded to 2 decimals; NaN when there are no rows.
* ``by_modality`` (modality, studies, images) and ``by_year`` (year, studies, images): studies by their
  modality and by the year of ``radiology_occurrence_date``; images counted with their study (images whose
  study is missing are in ``summary`` only). An unknown modality or year is a missing value.
* ``files`` (status, files) and ``quarantine`` (status, reason, files): from ``rcdm_etl_file`` when that table
  exists, else empty. ``quarantine`` holds every file not loaded (duplicate, skipped, quarantined,
  unmapped_patient, ...), grouped by reason code: the reason up to its first ``:`` (the detail after it is
  dropped, so one row per code).
* ``summary``: one row: persons, studies, series, images.
* ``protocol_coverage`` (unit, total, mapped, unmapped, mapped_pct): two rows, ``studies`` (studies with a
  protocol concept, i.e. ``protocol_concept_id`` not NULL and not 0) and ``images`` (images of those studies,
  out of the images that belong to a study).

``format_report`` turns the report into plain text (aligned, like the paper's tables), JSON, CSV or a
self-contained HTML page; ``report_to_dict`` gives plain lists for R users.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jinja2
import pandas as pd

from rcdm._version import __version__
from rcdm.db import exists_table, query_sql
from rcdm.errors import UsageError
from rcdm.identifiers import check_schema
from rcdm.resources import read_template

RULES: dict[str, str] = {
    "not_null": "not NULL",
    "text": "not NULL and not blank",
    "concept": "not NULL, not blank and not 0 (0 = no matching concept)",
    "positive": "greater than 0",
}
"""What "mapped" means, per rule; every column of both tables has one rule."""


@dataclass(frozen=True)
class ColumnRule:
    """One reported column: its table, its name, its rule, and the modality it applies to (None = all rows)."""

    table: str
    column: str
    rule: str
    applies_to_modality: str | None = None


def _rules(table: str, *specs: tuple[str, str] | tuple[str, str, str]) -> tuple[ColumnRule, ...]:
    return tuple(ColumnRule(table, *spec) for spec in specs)


COLUMN_RULES: tuple[ColumnRule, ...] = _rules(
    "radiology_occurrence",
    ("radiology_occurrence_id", "not_null"),
    ("person_id", "not_null"),
    ("radiology_occurrence_date", "not_null"),
    ("radiology_occurrence_datetime", "not_null"),
    ("modality", "text"),
    ("manufacturer", "text"),
    ("protocol_concept_id", "concept"),
    ("protocol_source_value", "text"),
    ("count_of_series", "positive"),
    ("count_of_images", "positive"),
    ("radiology_note", "text"),
    ("visit_occurrence_id", "not_null"),
    ("radiology_occurrence_source_value", "text"),
) + _rules(
    "radiology_image",
    ("radiology_image_id", "not_null"),
    ("radiology_occurrence_id", "not_null"),
    ("radiology_series_id", "not_null"),
    ("file_path", "text"),
    ("body_part_source_value", "text"),
    ("laterality_concept_id", "concept"),
    ("laterality_source_value", "text"),
    ("anatomical_plane_concept_id", "concept"),
    ("anatomical_plane_source_value", "text"),
    ("series_type_concept_id", "concept"),
    ("series_type_source_value", "text"),
    ("series_total_number", "positive"),
    ("series_serial_number", "not_null"),
    ("image_resolution_rows", "positive"),
    ("image_resolution_columns", "positive"),
    ("ct_slice_thickness", "positive", "CT"),
    ("modality", "text"),
    ("instance_number", "not_null"),
    ("radiology_series_source_value", "text"),
    ("radiology_image_source_value", "text"),
)
"""Every column of the two R-CDM tables, in DDL order, with its rule. The SQL templates implement the same
rules (a test checks that templates, this list and the DDL name the same columns)."""

TEMPLATES: dict[str, str] = {
    "radiology_occurrence": "QualityReportOccurrence.sql",
    "radiology_image": "QualityReportImage.sql",
    "distribution": "QualityReportDistribution.sql",
    "etl_files": "QualityReportEtlFiles.sql",
    "protocol": "QualityReportProtocol.sql",
}
"""The OHDSI SQL template behind each part of the report (under ``inst/sql/sql_server/``)."""

SECTIONS: tuple[str, ...] = ("summary", "columns", "protocol_coverage", "by_modality", "by_year", "files",
                             "quarantine")
"""The report's tables, in the order every format writes them."""

FRAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("persons", "studies", "series", "images"),
    "columns": ("table", "column", "rule", "rows", "unmapped", "mapped", "mapped_pct", "applies_to",
                "applicable", "applicable_mapped", "applicable_pct"),
    "protocol_coverage": ("unit", "total", "mapped", "unmapped", "mapped_pct"),
    "by_modality": ("modality", "studies", "images"),
    "by_year": ("year", "studies", "images"),
    "files": ("status", "files"),
    "quarantine": ("status", "reason", "files"),
}
"""The columns of each report table."""

STATUS_ORDER: tuple[str, ...] = ("loaded", "duplicate", "skipped", "quarantined", "unmapped_patient")
"""``rcdm_etl_file`` statuses in report order; any other status follows, alphabetically."""

FORMATS: tuple[str, ...] = ("table", "json", "csv", "html")


# --------------------------------------------------------------------------------------------------------------
# Building the report


def quality_report(conn: Any, cdm_database_schema: str) -> dict[str, pd.DataFrame]:
    """Measure how well ``cdm_database_schema``'s R-CDM tables are filled; return the report's DataFrames.

    The schema name is checked before any SQL runs (IdentifierError). Missing R-CDM tables are a UsageError;
    a missing ``rcdm_etl_file`` only leaves ``files`` and ``quarantine`` empty.
    """
    check_schema(cdm_database_schema, "cdm_database_schema")
    for table in ("radiology_occurrence", "radiology_image"):
        if not exists_table(conn, cdm_database_schema, table):
            raise UsageError(f"Table {cdm_database_schema}.{table} does not exist: create the R-CDM tables first "
                             f"(rcdm ddl create --schema {cdm_database_schema}).")
    occurrence = _query(conn, "radiology_occurrence", cdm_database_schema)
    image = _query(conn, "radiology_image", cdm_database_schema)
    distribution = _query(conn, "distribution", cdm_database_schema)
    protocol = _first_row(_query(conn, "protocol", cdm_database_schema))
    if exists_table(conn, cdm_database_schema, "rcdm_etl_file"):
        etl_files = _query(conn, "etl_files", cdm_database_schema)
    else:
        etl_files = pd.DataFrame(columns=["status", "reason", "files"])

    occurrence_counts = _first_row(occurrence)
    image_counts = _first_row(image)
    return {
        "summary": _frame("summary", [{
            "persons": occurrence_counts["person_count"],
            "studies": occurrence_counts["row_count"],
            "series": image_counts["series_count"],
            "images": image_counts["row_count"],
        }]),
        "columns": _columns_frame({"radiology_occurrence": occurrence_counts, "radiology_image": image_counts}),
        "protocol_coverage": _frame("protocol_coverage", [
            {"unit": unit, "total": protocol[unit], "mapped": protocol[f"{unit}_mapped"],
             "unmapped": protocol[unit] - protocol[f"{unit}_mapped"],
             "mapped_pct": _pct(protocol[f"{unit}_mapped"], protocol[unit])} for unit in ("studies", "images")]),
        "by_modality": _by(distribution, "modality", "modality"),
        "by_year": _by(distribution, "occurrence_year", "year"),
        "files": _files_frame(etl_files),
        "quarantine": _quarantine_frame(etl_files),
    }


def _query(conn: Any, part: str, schema: str) -> pd.DataFrame:
    return query_sql(conn, read_template(TEMPLATES[part]), cdm_database_schema=schema)


def _int(value: Any) -> int:
    """A count as a Python int: SUM over no rows is NULL (0 here); PostgreSQL returns numeric as Decimal."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return 0
    return int(value)


def _first_row(frame: pd.DataFrame) -> dict[str, int]:
    row = frame.iloc[0].to_dict() if len(frame) else {}
    return {str(k).lower(): _int(v) for k, v in row.items()}


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else math.nan


def _frame(section: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FRAME_COLUMNS[section]))


def _columns_frame(counts: dict[str, dict[str, int]]) -> pd.DataFrame:
    rows = []
    for rule in COLUMN_RULES:
        table_counts = counts[rule.table]
        total, mapped = table_counts["row_count"], table_counts[f"{rule.column}_mapped"]
        if rule.applies_to_modality is None:
            applies_to, applicable, applicable_mapped = "all", total, mapped
        else:
            key = rule.applies_to_modality.lower()
            applies_to = f"{rule.applies_to_modality} images"
            applicable = table_counts[f"{key}_count"]
            applicable_mapped = table_counts[f"{rule.column}_{key}_mapped"]
        rows.append({
            "table": rule.table, "column": rule.column, "rule": rule.rule,
            "rows": total, "unmapped": total - mapped, "mapped": mapped, "mapped_pct": _pct(mapped, total),
            "applies_to": applies_to, "applicable": applicable, "applicable_mapped": applicable_mapped,
            "applicable_pct": _pct(applicable_mapped, applicable),
        })
    return _frame("columns", rows)


def _key(value: Any) -> Any:
    """A group key as a plain value: None for NULL, int for years (PostgreSQL gives Decimal, SQLite floats)."""
    value = _plain(value)
    if value is None or isinstance(value, str):
        return value
    return int(value)


def _by(distribution: pd.DataFrame, source: str, name: str) -> pd.DataFrame:
    totals: dict[Any, list[int]] = {}
    for key, studies, images in zip(distribution[source], distribution["studies"], distribution["images"]):
        entry = totals.setdefault(_key(key), [0, 0])
        entry[0] += _int(studies)
        entry[1] += _int(images)
    if name == "year":  # chronological, unknown year last
        order = sorted(totals, key=lambda k: (k is None, k or 0))
    else:  # most studies first, then by name, unknown modality last among equals
        order = sorted(totals, key=lambda k: (-totals[k][0], k is None, str(k)))
    frame = _frame("by_" + name, [{name: k, "studies": totals[k][0], "images": totals[k][1]} for k in order])
    if name == "year":
        frame["year"] = frame["year"].astype("Int64")
    return frame


def _status_rank(status: str) -> tuple[int, str]:
    return (STATUS_ORDER.index(status), "") if status in STATUS_ORDER else (len(STATUS_ORDER), status)


def _files_frame(etl_files: pd.DataFrame) -> pd.DataFrame:
    totals: dict[str, int] = {}
    for status, files in zip(etl_files["status"], etl_files["files"]):
        totals[str(status)] = totals.get(str(status), 0) + _int(files)
    return _frame("files", [{"status": s, "files": totals[s]} for s in sorted(totals, key=_status_rank)])


def _reason_code(reason: Any) -> str | None:
    """The fixed code of a reason (``truncated: 1200 bytes short`` → ``truncated``); None stays None."""
    key = _key(reason)
    if key is None:
        return None
    return str(key).split(":", 1)[0].strip()


def _quarantine_frame(etl_files: pd.DataFrame) -> pd.DataFrame:
    totals: dict[tuple[str, str | None], int] = {}
    for status, reason, files in zip(etl_files["status"], etl_files["reason"], etl_files["files"]):
        if status == "loaded":
            continue
        key = (str(status), _reason_code(reason))
        totals[key] = totals.get(key, 0) + _int(files)
    order = sorted(totals, key=lambda k: (_status_rank(k[0]), -totals[k], k[1] is None, k[1] or ""))
    return _frame("quarantine", [{"status": s, "reason": r, "files": totals[(s, r)]} for s, r in order])


# --------------------------------------------------------------------------------------------------------------
# Plain values (R, JSON, CSV)


def _plain(value: Any) -> Any:
    """A cell as a JSON-able Python value: NaN/NA → None, numpy scalars → int/float/str."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in zip(frame.columns, row)}
            for row in frame.itertuples(index=False, name=None)]


def report_to_dict(report: dict[str, pd.DataFrame], orient: str = "list") -> dict[str, Any]:
    """The report as plain Python values, for R (reticulate) and JSON.

    ``orient="list"``: ``{table: {column: [values]}}``, ready for R's ``as.data.frame``;
    ``orient="records"``: ``{table: [{column: value}]}``, with ``summary`` as one object.
    Missing values are None (R: NULL in lists, NA once in a data.frame).
    """
    report = _complete(report)
    if orient == "list":
        return {name: {col: [_plain(v) for v in report[name][col]] for col in report[name].columns}
                for name in SECTIONS}
    if orient == "records":
        out: dict[str, Any] = {name: _records(report[name]) for name in SECTIONS}
        out["summary"] = out["summary"][0] if out["summary"] else {}
        return out
    raise UsageError(f"Unknown orient {orient!r}: use 'list' or 'records'.")


# --------------------------------------------------------------------------------------------------------------
# Formats


def format_report(report: dict[str, pd.DataFrame], fmt: str = "table") -> str:
    """The report as text in one of ``FORMATS``.

    * ``table``: aligned plain text: the summary, then per table the paper's columns (column, unmapped
      cases, mapped cases, mapping %), then studies/images by modality and by year, and the ETL files.
    * ``json``: one object ``{"summary": {...}, "columns": [...], "by_modality": [...], ...}``; counts are
      integers, percentages numbers, missing values null.
    * ``csv``: ONE rectangular CSV for all tables: a first column ``section`` (summary, columns, by_modality,
      by_year, files, quarantine), then the union of the tables' columns; cells a section does not have are
      ``NA``. It loads with R's ``read.csv`` as is; ``subset(x, section == "columns")`` gives one table.
    * ``html``: a self-contained page (inline CSS coverage bars, no scripts, no external resources).
    """
    if fmt not in FORMATS:
        raise UsageError(f"Unknown report format {fmt!r}: use one of {', '.join(FORMATS)}.")
    report = _complete(report)
    return {"table": _as_table, "json": _as_json, "csv": _as_csv, "html": _as_html}[fmt](report)


def _complete(report: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The report with an empty table for any section it lacks (e.g. one built by an older rcdm)."""
    return {**{name: _frame(name, []) for name in SECTIONS if name not in report}, **report}


def _as_json(report: dict[str, pd.DataFrame]) -> str:
    return json.dumps(report_to_dict(report, orient="records"), indent=2, ensure_ascii=False, allow_nan=False)


def _csv_cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return "NA"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _as_csv(report: dict[str, pd.DataFrame]) -> str:
    header: list[str] = ["section"]
    for name in SECTIONS:
        header += [c for c in report[name].columns if c not in header]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for name in SECTIONS:
        for record in _records(report[name]):
            writer.writerow([name] + [_csv_cell(record.get(c)) if c in record else "NA" for c in header[1:]])
    return out.getvalue()


def _count(value: Any) -> str:
    return f"{_int(value):,}"


def _percent(value: Any) -> str:
    value = _plain(value)
    return "-" if value is None else f"{value:.2f}"


def _label(value: Any, missing: str = "(unknown)") -> str:
    value = _plain(value)
    return missing if value is None else str(value)


def _text_table(headers: list[str], rows: list[list[str]], right: set[int], first_width: int = 0) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    widths[0] = max(widths[0], first_width)

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers)] + [line(r) for r in rows]


def _as_table(report: dict[str, pd.DataFrame]) -> str:
    summary = report_to_dict(report, orient="records")["summary"]
    lines = ["R-CDM mapping quality", "",
             "  ".join(f"{k}: {_count(summary.get(k))}" for k in FRAME_COLUMNS["summary"]), ""]
    columns = report["columns"]
    name_width = max([len(str(c)) for c in columns["column"]] + [0])
    for table in ("radiology_occurrence", "radiology_image"):
        part = _records(columns[columns["table"] == table])
        lines.append(f"{table} ({_count(part[0]['rows'] if part else 0)} rows)")
        body = []
        for r in part:
            note = "" if r["applies_to"] == "all" else (
                f"{r['applies_to']}: {_count(r['applicable_mapped'])} of {_count(r['applicable'])} "
                f"({_percent(r['applicable_pct'])}%)")
            body.append([r["column"], _count(r["unmapped"]), _count(r["mapped"]), _percent(r["mapped_pct"]), note])
        lines += _text_table(["column", "unmapped cases", "mapped cases", "mapping %", ""], body, {1, 2, 3},
                             name_width)
        lines.append("")
    lines.append("Protocol coverage (protocol_concept_id mapped)")
    lines += _text_table(["unit", "total", "mapped", "unmapped", "mapping %"],
                         [[r["unit"], _count(r["total"]), _count(r["mapped"]), _count(r["unmapped"]),
                           _percent(r["mapped_pct"])] for r in _records(report["protocol_coverage"])], {1, 2, 3, 4})
    lines.append("")
    lines.append("Studies and images by modality")
    lines += _text_table(["modality", "studies", "images"],
                         [[_label(r["modality"]), _count(r["studies"]), _count(r["images"])]
                          for r in _records(report["by_modality"])], {1, 2})
    lines += ["", "Studies and images by year"]
    lines += _text_table(["year", "studies", "images"],
                         [[_label(r["year"]), _count(r["studies"]), _count(r["images"])]
                          for r in _records(report["by_year"])], {1, 2})
    lines += ["", "ETL files by status"]
    if len(report["files"]):
        lines += _text_table(["status", "files"], [[r["status"], _count(r["files"])]
                                                   for r in _records(report["files"])], {1})
        lines += ["", "Files not loaded, by reason"]
        lines += _text_table(["status", "reason", "files"],
                             [[r["status"], _label(r["reason"], "-"), _count(r["files"])]
                              for r in _records(report["quarantine"])], {2})
    else:
        lines.append("(no ETL bookkeeping: rcdm_etl_file is missing or empty)")
    return "\n".join(lines) + "\n"


def _as_html(report: dict[str, pd.DataFrame]) -> str:
    env = jinja2.Environment(loader=jinja2.PackageLoader("rcdm", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["count"] = _count
    env.filters["percent"] = _percent
    env.filters["label"] = _label
    data = report_to_dict(report, orient="records")
    tables = [(table, [r for r in data["columns"] if r["table"] == table])
              for table in ("radiology_occurrence", "radiology_image")]
    return env.get_template("report.html.j2").render(
        version=__version__, summary=data["summary"], tables=tables, rules=RULES,
        protocol_coverage=data["protocol_coverage"], by_modality=data["by_modality"], by_year=data["by_year"],
        files=data["files"],
        quarantine=data["quarantine"], bar=_bar_width,
    )


def _bar_width(pct: Any) -> str:
    """A CSS width for a coverage bar: ``72.05%``; 0% when the percentage is missing."""
    value = _plain(pct)
    return "0%" if value is None else f"{max(0.0, min(100.0, float(value))):.2f}%"


__all__ = [
    "COLUMN_RULES",
    "ColumnRule",
    "FORMATS",
    "RULES",
    "SECTIONS",
    "TEMPLATES",
    "format_report",
    "quality_report",
    "report_to_dict",
]
