"""Network studies on R-CDM: a study specification, run at each site into an aggregate-only zip, merged centrally.

The spec (rcdm.study_spec: a strict JSON Schema, everything in the hash) names the cohorts, image criteria and
analyses (``counts`` by 1 to 3 of modality, protocol, year, plane, contrast; ``distribution`` of slice thickness
or image resolution; ``time_to_first_study``; every site also publishes ``totals``), with bins fixed by rcdm.

``run_study`` runs at a site: cohort SQL files of the spec only after the site approved the spec's hash and
rcdm.study_cohort_sql accepted every statement; every analysis as an aggregation in the database (OHDSI SQL
templates ``inst/sql/sql_server/Study*.sql``); then rcdm.study_privacy: suppression with the larger of the site's
and the spec's minimum cell count, complementary suppression over every linear relation between the cells of the
zip until a linear-programming audit (rcdm.study_bounds) shows each suppressed cell uncertain by at least that
minimum, quantiles only as published bins, and a scan of every file; then rcdm.study_releases: the release is
refused if it could be differenced with an earlier release of the same cohort, and recorded otherwise. The zip
holds ``manifest.json``, ``spec.json`` (the canonical spec) and one CSV per analysis.

``merge_results`` treats every zip as hostile (rcdm.study_archive: names, sizes, duplicates), re-validates the
spec and re-runs the privacy scan and audit on each, then combines the sites into one CSV per analysis (each
site's rows and an ``(all sites)`` row summing the unsuppressed cells), ``sites.csv`` and ``report.html`` with
inline SVG plots. Suppressed counts hold ``-min_cell_count`` of their site; a withheld quantile is empty, flagged
by ``quantiles_suppressed = 1``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import html
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from rcdm import study_privacy as privacy
from rcdm import study_releases as releases
from rcdm._version import __version__
from rcdm.cohort import create_cohort_table
from rcdm.db import execute_sql, execute_statements, exists_table, insert_table, query_sql, query_statement
from rcdm.errors import (
    CohortSqlError,
    SqlRenderError,
    StudyMergeError,
    StudyPrivacyError,
    StudySpecError,
    TranslationError,
    UsageError,
)
from rcdm.extract import image_query_parameters
from rcdm.identifiers import check_identifier, check_schema
from rcdm.options import ImageCriteria, StudyOptions, merged
from rcdm.resources import read_template
from rcdm.study_archive import ZipLimits, csv_bytes, read_zip_members, write_inside
from rcdm.study_cohort_sql import check_cohort_statements, describe_cohort_sql, render_cohort_sql
from rcdm.study_spec import VARIABLES, SiteSettings, bin_edges, canonical_json, load_spec, load_study, study_spec_hash

FORMAT = "rcdm-study-results/3"
"""The ``format`` field of every site manifest; merge refuses zips of another format."""

ALL_SITES = "(all sites)"


def _template_parameters(spec: Mapping[str, Any], cdm_database_schema: str, cohort_database_schema: str,
                         cohort_table: str, vocabulary_database_schema: str) -> dict[str, str]:
    criteria = ImageCriteria(vocabulary_database_schema=vocabulary_database_schema,
                             **{k: v for k, v in spec["image_criteria"].items() if v not in (None, [])})
    params = image_query_parameters(spec["cohorts"][0]["id"], cdm_database_schema, cohort_database_schema,
                                    cohort_table, criteria)
    params.pop("cohort_definition_id", None)
    params.pop("first_study_only", None)
    params["cohort_ids"] = ",".join(str(c["id"]) for c in spec["cohorts"])
    params["known_modalities"] = ",".join(f"'{m}'" for m in privacy.MODALITY_CODES)
    return params


def _fmt_number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    number = float(value)
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.10g}"


def _bin_rows(edges: Sequence[float]) -> list[dict[str, Any]]:
    """Bins from edges, with open ends: (-inf, e0), [e0, e1), ..., [en, inf); bin_index from 1."""
    bounds = [None, *edges, None]
    rows = []
    for i in range(len(bounds) - 1):
        lower, upper = bounds[i], bounds[i + 1]
        label = (f"{'(' if lower is None else '['}{'-inf' if lower is None else _fmt_number(lower)},"
                 f"{'inf' if upper is None else _fmt_number(upper)})")
        rows.append({"bin_index": i + 1, "bin": label, "bin_lower": lower, "bin_upper": upper})
    return rows


def _counts_frame(conn: Any, analysis: Mapping[str, Any], cohort_ids: list[int]) -> pd.DataFrame:
    columns = [privacy.DIMENSION_COLUMNS[d][0] for d in analysis["by"]]
    frame = query_sql(conn, read_template("StudyCounts.sql"), dimensions=", ".join(columns))
    return frame[["cohort_definition_id", *columns, "persons", "studies", "images"]]


def _totals_frame(conn: Any, cohort_ids: list[int]) -> pd.DataFrame:
    found = query_sql(conn, read_template("StudyTotals.sql"))
    frame = pd.DataFrame({"cohort_definition_id": cohort_ids})
    frame = frame.merge(found, on="cohort_definition_id", how="left")
    return frame.fillna(0)[["cohort_definition_id", "persons", "studies", "images"]]


def _distribution_frame(conn: Any, analysis: Mapping[str, Any], cohort_ids: list[int]) -> pd.DataFrame:
    """Per cohort: an ``(all)`` row (bin_index 0) and one row per fixed bin; quantiles are added after
    suppression (rcdm.study_privacy.quantile_bins)."""
    variable = "time_to_first_study" if analysis["type"] == "time_to_first_study" else VARIABLES[
        analysis["variable"]]
    execute_sql(conn, read_template("StudyValues.sql"), variable=variable)
    hist = query_sql(conn, read_template("StudyHistogram.sql"), analysis_id=analysis["id"])
    stats = query_sql(conn, read_template("StudyValueTotals.sql"))
    bins = pd.DataFrame(_bin_rows(bin_edges(analysis)))
    rows = []
    for cohort_id in cohort_ids:
        s = stats[stats["cohort_definition_id"] == cohort_id]
        rows.append({"cohort_definition_id": cohort_id, "bin_index": 0, "bin": "(all)", "bin_lower": None,
                     "bin_upper": None, "persons": int(s["persons"].iloc[0]) if len(s) else 0,
                     "units": int(s["units"].iloc[0]) if len(s) else 0})
        h = hist[hist["cohort_definition_id"] == cohort_id].set_index("bin_index")
        for b in bins.to_dict("records"):
            found = b["bin_index"] in h.index
            rows.append({"cohort_definition_id": cohort_id, **b,
                         "persons": int(h.loc[b["bin_index"], "persons"]) if found else 0,
                         "units": int(h.loc[b["bin_index"], "units"]) if found else 0})
    frame = pd.DataFrame(rows)
    if analysis["type"] == "distribution":
        return frame.rename(columns={"units": "images"})
    return frame.drop(columns=["units"])


def _csv_bytes(frame: pd.DataFrame, columns: Mapping[str, str]) -> bytes:
    """The published CSV: exactly ``columns``, each value formatted by its kind."""
    out = pd.DataFrame(index=frame.index)
    for column, kind in columns.items():
        values = frame[column] if column in frame else pd.Series([None] * len(frame), index=frame.index)
        if kind in (privacy.MODALITY, privacy.PLANE, privacy.CONTRAST, privacy.BIN_LABEL, privacy.QUANTILE):
            out[column] = values.astype(object).map(lambda v: "" if v is None or v is pd.NA or
                                                    (isinstance(v, float) and math.isnan(v)) else str(v))
        else:
            out[column] = values.astype(object).map(_fmt_number)
    return csv_bytes(out)


def _analysis_entries(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The analyses a site publishes: the built-in totals, then the spec's."""
    return [{"id": "totals", "type": "totals", "title": "Persons, studies and images per cohort"},
            *spec["analyses"]]


@contextlib.contextmanager
def _no_search_path(conn: Any) -> Iterator[None]:
    """On PostgreSQL, run approved cohort SQL with an empty search_path, restored afterwards: an unqualified
    name then resolves only to the session's temp tables (pg_temp) and pg_catalog, never to a real table of
    the site's schemas, even if the check were wrong about which names are temp tables. (Cohort SQL itself
    cannot change settings: SET and set_config are refused.) Other targets keep their search path: the check is
    their only guard against an unqualified name (README, "Cohort SQL")."""
    if conn.dialect != "postgresql":
        yield
        return
    previous = str(query_statement(conn, "SELECT current_setting('search_path') AS p").iloc[0, 0])
    execute_statements(conn, ["SELECT set_config('search_path', '', false)"])
    try:
        yield
    except BaseException:
        try:
            execute_statements(conn, ["SELECT set_config('search_path', :p, false)"], bind={"p": previous})
        except Exception:  # the statement's own error is what the caller must see
            pass
        raise
    execute_statements(conn, ["SELECT set_config('search_path', :p, false)"], bind={"p": previous})


def _cohort_statements(conn: Any, study: Any, approve_cohort_sql: str | None, cdm_schema: str, cohort_schema: str,
                       cohort_table: str, vocabulary_schema: str) -> dict[int, list[str]]:
    """The checked statements of every cohort SQL file of the spec, before any of them runs.

    Refused (CohortSqlError) unless the site approved exactly this spec's hash, and unless every statement is
    one a cohort definition needs (rcdm.study_cohort_sql)."""
    cohorts = [c for c in study.spec["cohorts"] if "sql" in c]
    if not cohorts:
        return {}
    if approve_cohort_sql != study.spec_hash:
        given = "was not given" if not approve_cohort_sql else f"is {approve_cohort_sql!r}, not this spec's hash"
        raise CohortSqlError(
            f"This study runs cohort SQL at the site, and the approval {given}. Nothing was run. Review it with "
            f"'rcdm study show SPEC', then run with --approve-cohort-sql {study.spec_hash}.\n\n"
            + describe_cohort_sql(study.spec, study.spec_hash, study.cohort_sql))
    statements = {}
    for cohort in cohorts:
        try:
            rendered = render_cohort_sql(conn, study.cohort_sql[cohort["id"]], cohort["id"], cdm_schema,
                                         cohort_schema, cohort_table, vocabulary_schema)
        except (SqlRenderError, TranslationError) as exc:
            raise CohortSqlError(f"Cohort {cohort['id']} SQL ({cohort['sql']}) cannot be rendered and translated, so "
                                 f"it cannot be checked; nothing was run: {exc}") from None
        check_cohort_statements(rendered, conn.dialect, cohort["id"], cohort_schema, cohort_table,
                                {cdm_schema, vocabulary_schema}, conn.temp_emulation_schema)
        statements[cohort["id"]] = rendered
    return statements


def _check_cohort_differences(conn: Any, cohort_ids: Sequence[int], min_cell_count: int) -> None:
    """Refuse a study whose cohorts differ by a few persons: subtracting one cohort's cells from another's
    (nested definitions, e.g. a cohort and the same cohort plus three persons) would publish those persons."""
    for i, a in enumerate(cohort_ids):
        for b in cohort_ids[i + 1:]:
            differing = int(query_sql(conn, read_template("StudyCohortOverlap.sql"), cohort_a=a,
                                      cohort_b=b)["persons"].iloc[0])
            if 0 < differing < min_cell_count:
                raise StudyPrivacyError(
                    f"Refusing to run the study: cohorts {a} and {b} differ by {differing} person(s) (fewer than "
                    f"{min_cell_count}); subtracting one cohort's published counts from the other's would publish "
                    "them. Run the two cohorts in separate studies, or drop one.")


def _database_id(conn: Any) -> str:
    """The database a cohort lives in, as the release log names it: dialect and a hash of the URL (no password)."""
    try:
        url = conn.engine.url.render_as_string(hide_password=True)
    except AttributeError:
        url = str(getattr(conn, "database_path", ""))
    return f"{conn.dialect}-{hashlib.sha256(url.encode('utf-8')).hexdigest()[:12]}"


def run_study(
    spec: str | os.PathLike[str] | Mapping[str, Any],
    conn: Any,
    cdm_database_schema: str,
    options: StudyOptions | None = None,
    site: SiteSettings | None = None,
    **keywords: Any,
) -> dict[str, Any]:
    """Run a study at this site and write the aggregate-only results zip ``out``; return a summary dict.

    ``options``: a ``rcdm.options.StudyOptions`` (cohort table, vocabulary schema, ``out``, ``site_name``,
    ``approve_cohort_sql``), or its fields as keywords (on top of it).
    ``site``: the site's own settings (minimum cell count, default 5, and the release audit log); the spec's
    ``min_cell_count`` can only raise the minimum. Cohort SQL files of the spec run (into
    ``cohort_database_schema.cohort_table``) only when ``approve_cohort_sql`` is the spec's hash and every
    statement passes rcdm.study_cohort_sql's check; otherwise CohortSqlError and nothing runs. Every analysis
    is an aggregation in the database; person-level rows stay in temp tables dropped at the end. The zip is
    written only when the privacy scan and the suppression audit find nothing and the release cannot be
    differenced with an earlier one (StudyPrivacyError, StudyReleaseError otherwise, and no file at ``out``).
    Returns ``{"out", "study_spec_hash", "site_name", "dialect", "min_cell_count", "analyses": {id: rows},
    "suppressed": {id: {"primary", "complementary"}}, "generated_cohorts": [...]}``.
    """
    study = load_study(spec)
    spec = study.spec
    site = site if site is not None else SiteSettings()
    o = merged(StudyOptions, options, keywords)
    cohort_database_schema, cohort_table, out, site_name, vocabulary_database_schema, approve_cohort_sql = (
        o.cohort_database_schema, o.cohort_table, o.out, o.site_name, o.vocabulary_database_schema,
        o.approve_cohort_sql)
    check_schema(cdm_database_schema, "cdm_database_schema")
    cohort_database_schema = check_schema(cohort_database_schema or cdm_database_schema, "cohort_database_schema")
    check_identifier(cohort_table, "cohort table name")
    vocabulary_database_schema = check_schema(vocabulary_database_schema or cdm_database_schema,
                                              "vocabulary_database_schema")
    site_name = (site_name or "site").strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}", site_name):
        raise UsageError(f"Invalid site name {site_name!r}: a short label (letters, digits, space, _ . -).")
    min_cell_count = site.effective_min_cell_count(spec)
    cohort_ids = [c["id"] for c in spec["cohorts"]]
    cohort_statements = _cohort_statements(conn, study, approve_cohort_sql, cdm_database_schema,
                                           cohort_database_schema, cohort_table, vocabulary_database_schema)

    generated = []
    if cohort_statements:
        create_cohort_table(conn, cohort_database_schema, cohort_table)
        for cohort_id, statements in cohort_statements.items():
            execute_sql(conn, "DELETE FROM @s.@t WHERE cohort_definition_id = @id;", s=cohort_database_schema,
                        t=cohort_table, id=cohort_id)
            with _no_search_path(conn):
                execute_statements(conn, statements)
            generated.append(cohort_id)
    if not exists_table(conn, cohort_database_schema, cohort_table):
        raise UsageError(f"No cohort table {cohort_database_schema}.{cohort_table}: generate the cohorts first "
                         "(ATLAS, CohortGenerator, rcdm cohort) or give them as SQL files in the spec.")

    params = _template_parameters(spec, cdm_database_schema, cohort_database_schema, cohort_table,
                                  vocabulary_database_schema)
    analyses = _analysis_entries(spec)
    tables: dict[str, pd.DataFrame] = {}
    try:
        execute_sql(conn, read_template("StudyImages.sql"), parameters=params)
        _check_cohort_differences(conn, cohort_ids, min_cell_count)
        bin_rows = [{"analysis_id": a["id"], **b} for a in analyses if a["type"] in ("distribution",
                                                                                     "time_to_first_study")
                    for b in _bin_rows(bin_edges(a))]
        if bin_rows:
            insert_table(conn, None, "study_bins", {
                "analysis_id": [r["analysis_id"] for r in bin_rows],
                "bin_index": [r["bin_index"] for r in bin_rows],
                "bin_lower": [None if r["bin_lower"] is None else float(r["bin_lower"]) for r in bin_rows],
                "bin_upper": [None if r["bin_upper"] is None else float(r["bin_upper"]) for r in bin_rows],
            }, temp_table=True, drop_table_if_exists=True)
        for analysis in analyses:
            if analysis["type"] == "totals":
                frame = _totals_frame(conn, cohort_ids)
            elif analysis["type"] == "counts":
                frame = _counts_frame(conn, analysis, cohort_ids)
            else:
                frame = _distribution_frame(conn, analysis, cohort_ids)
            tables[analysis["id"]] = frame
    finally:
        try:
            execute_sql(conn, read_template("StudyCleanup.sql"))
        except Exception:  # noqa: BLE001 - the analysis error matters more; temp tables go with the session
            pass

    tables, tallies = privacy.suppress_zip(tables, analyses, min_cell_count)
    for analysis in analyses:
        if analysis["type"] in ("distribution", "time_to_first_study"):
            unit = "images" if analysis["type"] == "distribution" else "persons"
            tables[analysis["id"]] = privacy.quantile_bins(tables[analysis["id"]], unit, min_cell_count)
    manifest = {
        "format": FORMAT,
        "study_name": spec["name"],
        "study_version": spec["version"],
        "study_spec_hash": study.spec_hash,
        "rcdm_version": __version__,
        "dialect": conn.dialect,
        "site_name": site_name,
        "created_utc": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "min_cell_count": min_cell_count,
        "suppression": {
            "marker": privacy.marker(min_cell_count),
            "rule": f"counts 0 < n < {min_cell_count} are replaced by {privacy.marker(min_cell_count)}; "
                    "complementary suppression over every linear relation between the cells of the zip, until "
                    "linear-programming bounds leave each suppressed cell a range of at least "
                    f"{min_cell_count}; quantiles only as fixed bins, derived from published bins of cohorts "
                    f"of at least {min_cell_count} persons; min and max never",
            "value_columns": "the marker stands only in count columns; a withheld quantile is empty, with "
                             f"{privacy.QUANTILES_SUPPRESSED} = 1",
        },
        "cohorts": [{"id": c["id"], "name": c["name"]} for c in spec["cohorts"]],
        "analyses": [],
    }
    files: dict[str, bytes] = {}
    for analysis in analyses:
        columns = privacy.table_columns(analysis["type"], analysis.get("by", ()))
        name = f"{analysis['id']}.csv"
        files[name] = _csv_bytes(tables[analysis["id"]], columns)
        entry = {"id": analysis["id"], "type": analysis["type"], "title": analysis["title"], "file": name,
                 "dimensions": list(analysis.get("by", []))}
        if "variable" in analysis:
            entry["variable"] = analysis["variable"]
        manifest["analyses"].append(entry)
    files = {"manifest.json": json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"),
             "spec.json": canonical_json(spec).encode("utf-8"), **files}
    cohort_keys = {c: f"{_database_id(conn)}:{cohort_database_schema}.{cohort_table}#{c}" for c in cohort_ids}
    cells = releases.cell_keys(tables, analyses, cohort_keys)
    with releases.release_lock(site.audit_log):
        releases.check_release(site.audit_log, cells, min_cell_count)
        write_results_zip(out, files, min_cell_count)
        try:
            releases.record_release(site.audit_log, study.spec_hash, site_name, min_cell_count, str(out), cells)
        except OSError as exc:
            Path(out).unlink(missing_ok=True)
            raise UsageError(f"Cannot record the release in the site's audit log {site.audit_log} "
                             f"({exc.strerror or exc}); the zip was removed.") from None
    return {
        "out": str(out),
        "study_spec_hash": study.spec_hash,
        "site_name": site_name,
        "dialect": conn.dialect,
        "min_cell_count": min_cell_count,
        "analyses": {a["id"]: int(len(tables[a["id"]])) for a in analyses},
        "suppressed": tallies,
        "generated_cohorts": generated,
    }


def write_results_zip(out: str | os.PathLike[str], files: Mapping[str, bytes], min_cell_count: int) -> Path:
    """Scan ``files`` (rcdm.study_privacy.check_files) and only then write them as the zip ``out``.

    The zip is written to a temporary name and renamed, so a failed scan or write leaves no zip behind.
    """
    privacy.check_files(files, min_cell_count)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    return target


# --------------------------------------------------------------------------------------------------------------
# Merging sites


_MANIFEST_TYPES = {"format": str, "study_name": str, "study_version": str, "study_spec_hash": str,
                   "rcdm_version": str, "dialect": str, "site_name": str, "created_utc": str, "min_cell_count": int,
                   "suppression": dict, "cohorts": list, "analyses": list}


def _check_manifest(path: Path, manifest: Any, spec: Mapping[str, Any], spec_hash: str) -> None:
    """The manifest's fields have their types and agree with the (validated) spec; StudyMergeError otherwise."""
    if not isinstance(manifest, dict):
        raise StudyMergeError(f"{path}: manifest.json is not a JSON object.")
    if manifest.get("format") != FORMAT:
        raise StudyMergeError(f"{path}: format {str(manifest.get('format'))[:40]!r} is not {FORMAT!r}.")
    for key, kind in _MANIFEST_TYPES.items():
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise StudyMergeError(f"{path}: manifest.json field {key} is missing or not a {kind.__name__}.")
    if manifest["study_spec_hash"] != spec_hash:
        raise StudyMergeError(f"{path}: spec.json does not match the manifest's study_spec_hash (damaged zip?).")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}", manifest["site_name"]):
        raise StudyMergeError(f"{path}: site_name {manifest['site_name'][:40]!r} is not a short label.")
    for key in ("dialect", "rcdm_version"):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+\-]{0,39}", manifest[key]):
            raise StudyMergeError(f"{path}: manifest field {key} {manifest[key][:40]!r} is not a plain label.")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["created_utc"]):
        raise StudyMergeError(f"{path}: created_utc is not a UTC timestamp.")
    if manifest["min_cell_count"] < max(1, int(spec.get("min_cell_count") or 1)):
        raise StudyMergeError(f"{path}: min_cell_count {manifest['min_cell_count']} is below the spec's "
                              f"{spec.get('min_cell_count')}.")
    expected = [{"id": a["id"], "type": a["type"], "file": f"{a['id']}.csv", "dimensions": list(a.get("by", [])),
                 **({"variable": a["variable"]} if "variable" in a else {})} for a in _analysis_entries(spec)]
    found = [{k: a.get(k) for k in ("id", "type", "file", "dimensions", "variable") if k in a}
             if isinstance(a, dict) else a for a in manifest["analyses"]]
    if found != expected:
        raise StudyMergeError(f"{path}: the manifest's analyses are not the spec's.")


def read_results_zip(path: str | os.PathLike[str], limits: ZipLimits = ZipLimits()) -> dict[str, Any]:
    """Read and check one site's zip as hostile input: ``{"path", "manifest", "spec", "files"}``.

    Names and sizes are checked while reading (rcdm.study_archive), spec.json must be a valid spec in canonical
    form whose hash is the manifest's, the manifest must agree with it, and the privacy scan and suppression
    audit must pass. Any problem is a StudyMergeError naming the zip.
    """
    path = Path(path)
    files = read_zip_members(path, limits)
    try:
        manifest = json.loads(files["manifest.json"])
        raw_spec = json.loads(files["spec.json"])
    except KeyError as exc:
        raise StudyMergeError(f"{path} is not an rcdm study results zip: {exc.args[0]} is missing.") from None
    except (ValueError, RecursionError) as exc:
        raise StudyMergeError(f"{path}: manifest.json or spec.json is not JSON ({str(exc)[:100]}).") from None
    try:
        study = load_study(raw_spec)
    except StudySpecError as exc:
        raise StudyMergeError(f"{path}: spec.json is not a valid study spec: {exc}") from None
    if canonical_json(study.spec).encode("utf-8") != files["spec.json"]:
        raise StudyMergeError(f"{path}: spec.json is not in canonical form (damaged or edited zip).")
    if hashlib.sha256(files["spec.json"]).hexdigest() != study.spec_hash:
        raise StudyMergeError(f"{path}: spec.json does not match its hash.")
    _check_manifest(path, manifest, study.spec, hashlib.sha256(files["spec.json"]).hexdigest())
    try:
        privacy.check_files(files, manifest["min_cell_count"])
    except StudyPrivacyError as exc:
        raise StudyMergeError(f"{path} fails the privacy check: {exc}") from None
    return {"path": path, "manifest": manifest, "spec": dict(study.spec), "files": files}


def _read_table(data: bytes, columns: Mapping[str, str]) -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    out = pd.DataFrame(index=frame.index)
    for column, kind in columns.items():
        text = frame[column]
        if kind in (privacy.MODALITY, privacy.PLANE, privacy.CONTRAST, privacy.BIN_LABEL, privacy.QUANTILE):
            out[column] = text
        elif kind in (privacy.COUNT, privacy.COHORT, privacy.CONCEPT, privacy.BIN_INDEX, privacy.FLAG):
            out[column] = text.astype("int64")
        elif kind == privacy.YEAR:
            out[column] = pd.to_numeric(text.replace("", None)).astype("Int64")
        else:
            out[column] = pd.to_numeric(text.replace("", None), errors="coerce").astype(float)
    return out


def _combine(site_frames: list[tuple[str, pd.DataFrame]], columns: Mapping[str, str],
             min_cell_count: int) -> pd.DataFrame:
    """Each site's rows (``site``) and one ``(all sites)`` row per key summing the unsuppressed counts."""
    counts = [c for c, k in columns.items() if k == privacy.COUNT]
    keys = [c for c, k in columns.items()
            if k not in (privacy.COUNT, privacy.FLAG) and c not in privacy.QUANTILE_COLUMNS]
    parts = []
    for site, frame in site_frames:
        frame = frame.copy()
        frame.insert(0, "site", site)
        frame["suppressed_cells"] = (frame[counts] < 0).sum(axis=1).astype("int64")
        parts.append(frame)
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["site", *columns])
    if rows.empty:
        rows["suppressed_cells"] = pd.Series(dtype="int64")
        return rows
    visible = rows.copy()
    for c in counts:
        visible[c] = visible[c].where(visible[c] > 0, 0)
    key_frame = visible[keys].astype(object).where(visible[keys].notna(), None)
    grouped = visible.assign(**{f"__k{i}": key_frame[k].map(lambda v: "\0" if v is None else repr(v))
                                for i, k in enumerate(keys)})
    combined = []
    for _, group in grouped.groupby([f"__k{i}" for i in range(len(keys))], sort=False):
        first = group.iloc[0]
        row = {"site": ALL_SITES, **{k: first[k] for k in keys}}
        row.update({c: int(group[c].sum()) for c in counts})
        row.update({q: "" for q in privacy.QUANTILE_COLUMNS if q in columns})  # not computed across sites
        if privacy.QUANTILES_SUPPRESSED in columns:
            row[privacy.QUANTILES_SUPPRESSED] = 0
        row["suppressed_cells"] = int(group["suppressed_cells"].sum())
        combined.append(row)
    out = pd.concat([rows, pd.DataFrame(combined)], ignore_index=True)
    return out[["site", *columns, "suppressed_cells"]]


def _read_site(path: str | os.PathLike[str], limits: ZipLimits) -> dict[str, Any]:
    """read_results_zip, with any failure on malformed content reported as a StudyMergeError naming the zip."""
    try:
        return read_results_zip(path, limits)
    except (StudyMergeError, MemoryError):
        raise
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, RecursionError, OverflowError,
            pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise StudyMergeError(f"{path} is malformed and was refused ({type(exc).__name__}: {str(exc)[:200]}).") \
            from None


def merge_results(zips: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
                  limits: ZipLimits = ZipLimits()) -> dict[str, Any]:
    """Combine several sites' study zips (same study_spec_hash) into ``out_dir``; return a summary dict.

    Every zip is hostile input (read_results_zip); nothing is written until all of them passed, and nothing
    outside ``out_dir``. Writes one CSV per analysis (``<id>.csv``: a ``site`` column, each site's rows with
    suppressed cells as ``-min_cell_count`` of that site, and ``(all sites)`` rows summing the unsuppressed
    cells; ``suppressed_cells`` counts the suppressed cells behind each row), ``sites.csv`` (one row per site
    zip) and ``report.html`` (tables and inline SVG plots; no external resources), every CSV cell that a
    spreadsheet would run as a formula escaped. Zips of different studies raise StudyMergeError, and so do two
    zips of the same site (the same site name and spec hash, however re-zipped or re-stamped), which would count
    it twice. ``(all sites)`` rows leave the quantiles empty (they cannot be combined from aggregates).
    """
    if not zips:
        raise UsageError("merge_results needs at least one site zip.")
    sites = [_read_site(z, limits) for z in zips]
    hashes = {s["manifest"]["study_spec_hash"] for s in sites}
    if len(hashes) > 1:
        listing = "; ".join(f"{s['path'].name}: {s['manifest']['study_name']} {s['manifest']['study_version']} "
                            f"({s['manifest']['study_spec_hash'][:12]})" for s in sites)
        raise StudyMergeError(f"The zips come from different study specs and cannot be merged: {listing}")
    seen: dict[tuple[str, str], Path] = {}
    for s in sites:
        key = (s["manifest"]["site_name"].casefold(), s["manifest"]["study_spec_hash"])
        if key in seen:
            raise StudyMergeError(f"{s['path']} and {seen[key]} are both results of site "
                                  f"{s['manifest']['site_name']!r} for this spec: the site would be counted twice. "
                                  "Merge each site's zip once.")
        seen[key] = s["path"]
    spec = sites[0]["spec"]
    names = [s["manifest"]["site_name"] for s in sites]
    site_min = {name: int(s["manifest"]["min_cell_count"]) for name, s in zip(names, sites)}

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudyMergeError(f"Cannot create the output folder {out}: {exc.strerror or exc}") from None
    written: dict[str, str] = {}
    merged: dict[str, pd.DataFrame] = {}
    for analysis in _analysis_entries(spec):
        columns = privacy.table_columns(analysis["type"], analysis.get("by", ()))
        frames = [(name, _read_table(s["files"][f"{analysis['id']}.csv"], columns)) for name, s in zip(names, sites)]
        table = _combine(frames, columns, min(site_min.values()))
        merged[analysis["id"]] = table
        path = write_inside(out, f"{analysis['id']}.csv", _csv_bytes(table, {
            "site": privacy.BIN_LABEL, **columns, "suppressed_cells": privacy.BIN_INDEX}))
        written[analysis["id"]] = str(path)
    site_rows = pd.DataFrame([{"site": name, "zip": s["path"].name, "dialect": s["manifest"]["dialect"],
                               "rcdm_version": s["manifest"]["rcdm_version"],
                               "created_utc": s["manifest"]["created_utc"],
                               "min_cell_count": site_min[name]} for name, s in zip(names, sites)])
    sites_csv = write_inside(out, "sites.csv", csv_bytes(site_rows))
    report = write_inside(out, "report.html", render_report(spec, sites, names, merged).encode("utf-8"))
    return {
        "out_dir": str(out),
        "study_name": spec["name"],
        "study_version": spec["version"],
        "study_spec_hash": hashes.pop(),
        "sites": names,
        "analyses": written,
        "sites_csv": str(sites_csv),
        "report": str(report),
    }


# --------------------------------------------------------------------------------------------------------------
# The HTML report


_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _measure(analysis: Mapping[str, Any]) -> str:
    return "persons" if analysis["type"] == "time_to_first_study" else "images"


def _label(row: Mapping[str, Any], keys: Sequence[str], cohorts: int) -> str:
    parts = [f"cohort {row['cohort_definition_id']}"] if cohorts > 1 else []
    for k in keys:
        value = row[k]
        parts.append("unknown" if value is None or (isinstance(value, float) and math.isnan(value)) or
                     value is pd.NA else _fmt_number(value) if isinstance(value, (int, float, np.integer,
                                                                                  np.floating)) else str(value))
    return " · ".join(parts) or f"cohort {row['cohort_definition_id']}"


def svg_bar_chart(categories: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], measure: str,
                  min_cell_count: int) -> str:
    """A horizontal grouped bar chart as inline SVG (text escaped); suppressed values drawn as '<N' marks."""
    bar, gap, label_width, plot_width = 10, 8, 190, 420
    per_category = bar * max(len(series), 1) + gap
    height = 30 + per_category * len(categories) + 20 * ((len(series) + 2) // 3)
    top = max([v for _, values in series for v in values if v > 0] or [1])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + plot_width + 80}" height="{height}" '
             f'role="img" aria-label="{html.escape(measure)} by category and site" font-family="sans-serif" '
             f'font-size="11">']
    y = 10
    for i, category in enumerate(categories):
        parts.append(f'<text x="{label_width - 6}" y="{y + per_category / 2}" text-anchor="end">'
                     f'{html.escape(category)}</text>')
        for j, (site, values) in enumerate(series):
            value = values[i]
            colour = _PALETTE[j % len(_PALETTE)]
            yy = y + j * bar
            if value < 0:
                parts.append(f'<rect x="{label_width}" y="{yy}" width="6" height="{bar - 1}" fill="none" '
                             f'stroke="{colour}"><title>{html.escape(site)}: &lt;{min_cell_count}</title></rect>'
                             f'<text x="{label_width + 9}" y="{yy + bar - 2}" font-size="9">'
                             f'&lt;{min_cell_count}</text>')
            else:
                width = plot_width * value / top
                parts.append(f'<rect x="{label_width}" y="{yy}" width="{width:.1f}" height="{bar - 1}" '
                             f'fill="{colour}"><title>{html.escape(site)}: {value}</title></rect>'
                             f'<text x="{label_width + width + 3:.1f}" y="{yy + bar - 2}" font-size="9">'
                             f'{value}</text>')
        y += per_category
    y += 10
    for j, (site, _) in enumerate(series):
        x = label_width + (j % 3) * 150
        yy = y + (j // 3) * 18
        parts.append(f'<rect x="{x}" y="{yy}" width="10" height="10" fill="{_PALETTE[j % len(_PALETTE)]}"/>'
                     f'<text x="{x + 14}" y="{yy + 9}">{html.escape(site)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_report(spec: Mapping[str, Any], sites: Sequence[Mapping[str, Any]], names: Sequence[str],
                  merged: Mapping[str, pd.DataFrame]) -> str:
    """The merged study's HTML report (jinja2 template ``study_report.html.j2``, autoescaped)."""

    site_min = {n: int(s["manifest"]["min_cell_count"]) for n, s in zip(names, sites)}
    min_cell_count = min(site_min.values())
    sections = []
    for analysis in _analysis_entries(spec):
        columns = privacy.table_columns(analysis["type"], analysis.get("by", ()))
        keys = [c for c, k in columns.items()
                if k not in (privacy.COUNT, privacy.FLAG) and c not in privacy.QUANTILE_COLUMNS
                and c not in ("bin_index", "bin_lower", "bin_upper")
                and c != "cohort_definition_id"]
        table = merged[analysis["id"]]
        combined = table[table["site"] == ALL_SITES]
        if analysis["type"] in ("distribution", "time_to_first_study"):
            combined = combined[combined["bin_index"] > 0]
        measure = _measure(analysis)
        match_keys = ["cohort_definition_id", *[c for c in columns if c in keys or c == "bin_index"]]

        def key_of(row: Mapping[str, Any]) -> tuple[str, ...]:
            return tuple(_fmt_number(row[k]) if not isinstance(row[k], str) else row[k] for k in match_keys)  # noqa: B023 - called within this iteration

        records = combined.to_dict("records")[:40]
        categories = [_label(row, keys, len(spec["cohorts"])) for row in records]
        series = []
        for name in names:
            by_key = {key_of(r): int(r[measure]) for r in table[table["site"] == name].to_dict("records")}
            series.append((name, [by_key.get(key_of(row), 0) for row in records]))
        shown = [c for c in ["site", *columns, "suppressed_cells"]
                 if c not in ("bin_index", "bin_lower", "bin_upper")]
        rows = []
        for row in table.to_dict("records"):
            cells = []
            for c in shown:
                value = row[c]
                if columns.get(c) == privacy.COUNT and isinstance(value, (int, np.integer)) and value < 0:
                    cells.append(f"<{site_min.get(row['site'], min_cell_count)}")
                elif isinstance(value, (int, float, np.integer, np.floating)) or value is None or value is pd.NA:
                    cells.append(_fmt_number(value) if value is not pd.NA else "")
                else:
                    cells.append(str(value))
            rows.append({"cells": cells, "combined": row["site"] == ALL_SITES})
        sections.append({
            "id": analysis["id"], "title": analysis.get("title") or analysis["id"], "type": analysis["type"],
            "by": analysis.get("by", []), "variable": analysis.get("variable"), "measure": measure,
            "svg": Markup(svg_bar_chart(categories, series, measure, min_cell_count)) if categories else None,
            "headers": shown, "numeric": [columns.get(c) in (privacy.COUNT, privacy.NUMBER) or c ==
                                          "suppressed_cells" for c in shown],
            "rows": rows,
        })
    env = jinja2.Environment(loader=jinja2.PackageLoader("rcdm", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"], default=True))
    template = env.get_template("study_report.html.j2")
    return template.render(spec=spec, sites=[{**s["manifest"], "name": n, "zip": s["path"].name}
                                                  for n, s in zip(names, sites)],
                           sections=sections, version=__version__, min_cell_count=min_cell_count,
                           spec_hash=sites[0]["manifest"]["study_spec_hash"])


__all__ = [
    "StudyMergeError",
    "StudySpecError",
    "canonical_json",
    "load_spec",
    "merge_results",
    "read_results_zip",
    "render_report",
    "run_study",
    "study_spec_hash",
    "svg_bar_chart",
    "write_results_zip",
]
