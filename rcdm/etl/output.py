"""What ``run_etl`` prints at the end of a run (unless quiet): the summary, the run's quarantined files and the
mapping quality report. One place, so the CLI, the Python API and R (through reticulate) print the same."""

from __future__ import annotations

from typing import Any


def print_summary(summary: dict[str, Any]) -> None:
    print(f"rcdm etl run {summary['run_id']}: {summary['files_seen']} files seen = {summary['loaded']} loaded + "
          f"{summary['quarantined']} quarantined + {summary['skipped']} skipped")
    for title, key in (("skipped", "skipped_by_reason"), ("quarantined", "quarantined_by_reason")):
        if summary[key]:
            print(f"  {title}: " + ", ".join(f"{k} {v}" for k, v in summary[key].items()))
    print(f"  this run: {summary['studies']} studies, {summary['series']} series, {summary['images']} images "
          f"({summary['new_studies']} new studies); impossible dates or times (stored as NULL or replaced by a "
          f"fallback): {summary['invalid_dates']}")
    print("  tables: " + ", ".join(f"{k} {v}" for k, v in summary["tables"].items()))
    print(f"  {summary['seconds']} s, {summary['files_per_second']} files/s")


def print_quarantine(conn: Any, schema: str, run_id: int, limit: int = 50) -> None:
    from rcdm.db import query_sql

    rows = query_sql(conn, "SELECT file_path, reason FROM @s.rcdm_etl_file WHERE run_id = :r AND status = "
                           "'quarantined' ORDER BY file_path;", s=schema, bind={"r": run_id})
    if rows.empty:
        return
    print(f"Quarantined files ({len(rows)}):")
    for path, reason in list(zip(rows["file_path"], rows["reason"]))[:limit]:
        print(f"  {path}  [{reason}]")
    if len(rows) > limit:
        print(f"  ... and {len(rows) - limit} more (see {schema}.rcdm_etl_file, status 'quarantined')")


def print_run(conn: Any, schema: str, summary: dict[str, Any]) -> None:
    """The summary, the quarantined files of the run, then the quality report (as ``rcdm etl`` prints them)."""
    from rcdm.report import format_report, quality_report

    print_summary(summary)
    print_quarantine(conn, schema, summary["run_id"])
    print()
    print(format_report(quality_report(conn, schema), "table"))
