"""Network studies on R-CDM: a study specification, run at each site into an aggregate-only zip, merged centrally.

A **study specification** (JSON or YAML; ``load_spec``) names the cohorts, the image criteria and the analyses:

.. code-block:: text

    name            text, required (at most 100 characters)
    version         text (or a number), required
    description     text, optional
    min_cell_count  whole number >= 1, required: every count 0 < n < min_cell_count is suppressed
    cohorts         non-empty list; each item is a cohort_definition_id (already in the site's cohort table) or
                    {"id": 1, "name": "...", "sql": "cohorts/x.sql"}: an ATLAS-exported OHDSI SQL file (path
                    relative to the spec file) that ``run_study`` generates into the cohort table first
                    (rcdm.cohort.generate_cohort). The canonical spec keeps the file's SHA-256, not its path.
    image_criteria  optional; the arguments of rcdm.extract.get_cohort_images: modalities, protocol_concept_ids,
                    include_descendants, body_parts, contrast ('pre'/'post'), planes, lateralities,
                    min_slice_thickness, max_slice_thickness, window_start_days, window_end_days,
                    window_anchor ('start'/'end')
    analyses        non-empty list of objects, each with an "id" (lower-case letters, digits, _; the CSV's name),
                    an optional "title", and a "type":
      counts               "by": 1 to 3 of modality, protocol, year, plane, contrast → persons, studies, images
      distribution         "variable": slice_thickness | resolution_rows | resolution_columns, optional "bins"
                           (increasing edges) → persons and images per bin, and min/p10/p25/median/p75/p90/max
      time_to_first_study  optional "bins" (increasing day edges) → persons per bin of days from the index date
                           to the first matching study, and p10/p25/median/p75/p90 (min and max, each one
                           person's own offset, are not published)

Keys starting with ``_`` are comments (dropped). Any other unknown key is an error naming the field. Every site
also gets the built-in analysis ``totals`` (persons, studies, images per cohort). ``study_spec_hash`` is the
SHA-256 of the canonical JSON of the validated spec (defaults filled in, keys sorted): sites that ran the same
study have the same hash, and ``merge_results`` refuses to combine different ones.

``run_study`` computes every analysis in the database (OHDSI SQL templates ``inst/sql/sql_server/Study*.sql``)
and applies ``rcdm.study_privacy`` (suppression of all tables together, so that no suppressed count can be
recovered from a margin published in any file of the zip; then a scan of every file, which re-audits that)
before writing the zip:
``manifest.json``, ``spec.json`` (the canonical spec) and one CSV per analysis. ``merge_results`` checks and
combines many sites' zips into one CSV per analysis (each site's rows and an ``(all sites)`` row summing the
unsuppressed cells) and ``report.html`` with inline SVG plots; it refuses zips of different specs and the same
site's zip twice. Suppressed counts hold ``-min_cell_count``; value columns (bin bounds, quantiles) can be
negative and are never the marker: a withheld quantile is empty, flagged by ``quantiles_suppressed = 1``.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import html
import io
import json
import math
import os
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from rcdm.errors import UsageError
from rcdm.identifiers import check_identifier, check_schema
from rcdm.resources import read_template
from rcdm import study_privacy as privacy

FORMAT = "rcdm-study-results/2"
"""The ``format`` field of every site manifest; merge refuses zips of another format."""

ALL_SITES = "(all sites)"

VARIABLES: dict[str, str] = {
    "slice_thickness": "ct_slice_thickness",
    "resolution_rows": "image_resolution_rows",
    "resolution_columns": "image_resolution_columns",
}
"""Spec variable of a distribution → column of #study_images."""

DEFAULT_BINS: dict[str, list[float]] = {
    "slice_thickness": [0.5, 1, 1.5, 2, 3, 5, 7.5, 10],
    "resolution_rows": [128, 256, 384, 512, 768, 1024, 2048],
    "resolution_columns": [128, 256, 384, 512, 768, 1024, 2048],
    "time_to_first_study": [0, 1, 2, 8, 31, 91, 181, 366],
}

_CRITERIA_KEYS = ("modalities", "protocol_concept_ids", "include_descendants", "body_parts", "contrast", "planes",
                  "lateralities", "min_slice_thickness", "max_slice_thickness", "window_start_days",
                  "window_end_days", "window_anchor")
_ANALYSIS_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class StudySpecError(UsageError):
    """A study specification that is not valid; the message names the field."""


class StudyMergeError(UsageError):
    """Site results that cannot be merged (different studies, a damaged or tampered zip)."""


# --------------------------------------------------------------------------------------------------------------
# The specification


def _fail(field: str, message: str) -> StudySpecError:
    return StudySpecError(f"Study spec field {field}: {message}")


def _text(raw: Mapping[str, Any], key: str, field: str, required: bool, limit: int = 100) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise _fail(field, "is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _fail(field, f"must be text, not {type(value).__name__}.")
    text = str(value).strip()
    if required and not text:
        raise _fail(field, "must not be empty.")
    if len(text) > limit:
        raise _fail(field, f"is longer than {limit} characters.")
    return text


def _whole(value: Any, field: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise _fail(field, f"must be a whole number, not {value!r}.")
    if minimum is not None and value < minimum:
        raise _fail(field, f"must be at least {minimum}, not {value!r}.")
    return int(value)


def _known_keys(raw: Mapping[str, Any], allowed: Iterable[str], field: str) -> dict[str, Any]:
    """``raw`` without comment keys (``_...``); any key not in ``allowed`` is an error naming it."""
    if not isinstance(raw, Mapping):
        raise _fail(field, f"must be an object, not {type(raw).__name__}.")
    allowed = tuple(allowed)
    out = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise _fail(field, f"has a key {key!r} that is not text.")
        if key.startswith("_"):
            continue
        if key not in allowed:
            raise _fail(f"{field}.{key}" if field != "(top)" else key,
                        f"is not a known field (known: {', '.join(allowed)}).")
        out[key] = value
    return out


def _cohorts(raw: Any, base_dir: Path, sql_texts: Mapping[Any, str]) -> tuple[list[dict], dict[int, str]]:
    if not isinstance(raw, list) or not raw:
        raise _fail("cohorts", "must be a non-empty list of cohort ids or {id, name, sql} objects.")
    cohorts, texts = [], {}
    for i, item in enumerate(raw):
        field = f"cohorts[{i}]"
        if not isinstance(item, Mapping):
            item = {"id": item}
        item = _known_keys(item, ("id", "name", "sql", "sql_sha256"), field)
        cohort_id = _whole(item.get("id"), f"{field}.id", minimum=1)
        if any(c["id"] == cohort_id for c in cohorts):
            raise _fail(f"{field}.id", f"cohort id {cohort_id} is listed twice.")
        entry: dict[str, Any] = {"id": cohort_id, "name": _text(item, "name", f"{field}.name", False) or
                                 f"cohort {cohort_id}"}
        text = sql_texts.get(cohort_id, sql_texts.get(str(cohort_id)))
        if item.get("sql") is not None:
            if not isinstance(item["sql"], str) or not item["sql"].strip():
                raise _fail(f"{field}.sql", "must be the path of an ATLAS-exported OHDSI SQL file.")
            path = Path(item["sql"]).expanduser()
            path = path if path.is_absolute() else base_dir / path
            if not path.is_file():
                raise _fail(f"{field}.sql", f"no such file: {path}")
            text = path.read_text(encoding="utf-8")
        if text is not None:
            entry["sql_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if item.get("sql_sha256") not in (None, entry["sql_sha256"]):
                raise _fail(f"{field}.sql_sha256", "does not match the cohort's SQL.")
            texts[cohort_id] = text
        elif item.get("sql_sha256") is not None:
            digest = str(item["sql_sha256"])
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise _fail(f"{field}.sql_sha256", "must be 64 lower-case hex digits.")
            entry["sql_sha256"] = digest
        cohorts.append(entry)
    return cohorts, texts


def _criteria(raw: Any) -> dict[str, Any]:
    """Validate image criteria with rcdm.extract's rules and return them in canonical form."""
    from rcdm.extract import image_query_parameters

    if raw is None:
        raw = {}
    raw = _known_keys(raw, _CRITERIA_KEYS, "image_criteria")
    try:
        params = image_query_parameters(1, "cdm", **raw)
    except UsageError as exc:
        raise StudySpecError(f"Study spec field image_criteria: {exc}") from None

    def quoted(text: str) -> list[str]:
        return [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", text)]

    out: dict[str, Any] = {
        "modalities": quoted(params["modalities"]),
        "protocol_concept_ids": [int(v) for v in params["protocol_concept_ids"].split(",") if v],
        "include_descendants": params["include_descendants"] == "TRUE",
        "body_parts": quoted(params["body_parts"]),
        "contrast": quoted(params["contrast_phases"]),
        "planes": quoted(params["planes"]),
        "lateralities": quoted(params["lateralities"]),
        "min_slice_thickness": float(params["min_slice_thickness"]) if params["min_slice_thickness"] else None,
        "max_slice_thickness": float(params["max_slice_thickness"]) if params["max_slice_thickness"] else None,
        "window_start_days": int(params["window_start"]) if params["window_start"] else None,
        "window_end_days": int(params["window_end"]) if params["window_end"] else None,
        "window_anchor": "end" if params["window_anchor"] == "cohort_end_date" else "start",
    }
    return out


def _bins(raw: Any, field: str, default: list[float], integers: bool) -> list[float]:
    if raw is None:
        return list(default)
    if not isinstance(raw, list) or not raw:
        raise _fail(field, "must be a non-empty list of increasing numbers (bin edges).")
    edges: list[float] = []
    for j, value in enumerate(raw):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _fail(f"{field}[{j}]", f"must be a finite number, not {value!r}.")
        if integers and not float(value).is_integer():
            raise _fail(f"{field}[{j}]", f"must be a whole number of days, not {value!r}.")
        if edges and value <= edges[-1]:
            raise _fail(field, "edges must be strictly increasing.")
        edges.append(int(value) if float(value).is_integer() else float(value))
    if len(edges) > 50:
        raise _fail(field, "at most 50 edges.")
    return edges


def _analyses(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise _fail("analyses", "must be a non-empty list of analysis objects.")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        field = f"analyses[{i}]"
        if not isinstance(item, Mapping):
            raise _fail(field, "must be an object with id and type.")
        kind = item.get("type")
        keys = {"counts": ("id", "type", "title", "by"),
                "distribution": ("id", "type", "title", "variable", "bins"),
                "time_to_first_study": ("id", "type", "title", "bins")}
        if kind not in keys:
            raise _fail(f"{field}.type", f"must be one of {', '.join(keys)}, not {kind!r}.")
        item = _known_keys(item, keys[kind], field)
        analysis_id = item.get("id")
        if not isinstance(analysis_id, str) or not _ANALYSIS_ID.match(analysis_id):
            raise _fail(f"{field}.id", f"must be lower-case letters, digits and _ (starting with a letter), "
                                       f"not {analysis_id!r}.")
        if analysis_id == "totals" or any(a["id"] == analysis_id for a in out):
            raise _fail(f"{field}.id", f"{analysis_id!r} is already used ('totals' is built in).")
        entry: dict[str, Any] = {"id": analysis_id, "type": kind,
                                 "title": _text(item, "title", f"{field}.title", False, 200) or analysis_id}
        if kind == "counts":
            by = item.get("by")
            by = [by] if isinstance(by, str) else by
            if not isinstance(by, list) or not 1 <= len(by) <= 3:
                raise _fail(f"{field}.by", f"must list 1 to 3 of {', '.join(privacy.DIMENSION_COLUMNS)}.")
            for j, dim in enumerate(by):
                if dim not in privacy.DIMENSION_COLUMNS:
                    raise _fail(f"{field}.by[{j}]", f"must be one of {', '.join(privacy.DIMENSION_COLUMNS)}, "
                                                    f"not {dim!r}.")
            if len(set(by)) != len(by):
                raise _fail(f"{field}.by", "lists a dimension twice.")
            entry["by"] = list(by)
        elif kind == "distribution":
            variable = item.get("variable")
            if variable not in VARIABLES:
                raise _fail(f"{field}.variable", f"must be one of {', '.join(VARIABLES)}, not {variable!r}.")
            entry["variable"] = variable
            entry["bins"] = _bins(item.get("bins"), f"{field}.bins", DEFAULT_BINS[variable], False)
        else:
            entry["bins"] = _bins(item.get("bins"), f"{field}.bins", DEFAULT_BINS["time_to_first_study"], True)
        out.append(entry)
    return out


def load_spec(path_or_dict: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """Read (JSON or YAML file) and validate a study specification; return it in canonical form.

    Errors are StudySpecError naming the field (``analyses[2].by[0]: must be one of ...``). The returned dict
    holds the canonical spec plus ``_cohort_sql`` (cohort id → SQL text of cohorts given as files), which is
    not part of the canonical JSON, its hash or the zip.
    """
    base_dir = Path.cwd()
    if isinstance(path_or_dict, Mapping):
        raw = copy.deepcopy(dict(path_or_dict))
    elif isinstance(path_or_dict, (str, os.PathLike)):
        path = Path(path_or_dict).expanduser()
        if not path.is_file():
            raise StudySpecError(f"No such study spec file: {path}")
        base_dir = path.resolve().parent
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                import yaml

                raw = yaml.safe_load(text)
            else:
                raw = json.loads(text)
        except ValueError as exc:  # json.JSONDecodeError
            raise StudySpecError(f"Study spec {path} is not valid JSON: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - yaml.YAMLError
            raise StudySpecError(f"Study spec {path} is not valid YAML: {exc}") from None
    else:
        raise StudySpecError(f"A study spec is a file path or a dict, not {type(path_or_dict).__name__}.")
    if not isinstance(raw, Mapping):
        raise StudySpecError("A study spec must be an object (a JSON object or a YAML mapping).")
    sql_texts = raw.get("_cohort_sql") or {}
    raw = _known_keys(raw, ("name", "version", "description", "min_cell_count", "cohorts", "image_criteria",
                            "analyses"), "(top)")
    spec: dict[str, Any] = {
        "name": _text(raw, "name", "name", True),
        "version": _text(raw, "version", "version", True, 40),
        "description": _text(raw, "description", "description", False, 4000) or "",
    }
    if raw.get("min_cell_count") is None:
        raise _fail("min_cell_count", "is required (OHDSI studies commonly use 5 or more).")
    spec["min_cell_count"] = _whole(raw["min_cell_count"], "min_cell_count", minimum=1)
    spec["cohorts"], texts = _cohorts(raw.get("cohorts"), base_dir, sql_texts)
    spec["image_criteria"] = _criteria(raw.get("image_criteria"))
    spec["analyses"] = _analyses(raw.get("analyses"))
    spec["_cohort_sql"] = texts
    return spec


def canonical_json(spec: Mapping[str, Any]) -> str:
    """The canonical JSON of a validated spec: private ``_`` keys dropped, keys sorted, no spaces, UTF-8."""
    public = {k: v for k, v in spec.items() if not k.startswith("_")}
    return json.dumps(public, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def study_spec_hash(spec: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a validated spec (``load_spec``'s result)."""
    return hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------------------
# Running a study at a site


def _template_parameters(spec: Mapping[str, Any], cdm_database_schema: str, cohort_database_schema: str,
                         cohort_table: str, vocabulary_database_schema: str) -> dict[str, str]:
    from rcdm.extract import image_query_parameters

    criteria = {k: v for k, v in spec["image_criteria"].items() if v not in (None, [])}
    params = image_query_parameters(spec["cohorts"][0]["id"], cdm_database_schema,
                                    cohort_database_schema=cohort_database_schema, cohort_table=cohort_table,
                                    vocabulary_database_schema=vocabulary_database_schema, **criteria)
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
    from rcdm.db import query_sql

    columns = [privacy.DIMENSION_COLUMNS[d][0] for d in analysis["by"]]
    frame = query_sql(conn, read_template("StudyCounts.sql"), dimensions=", ".join(columns))
    return frame[["cohort_definition_id", *columns, "persons", "studies", "images"]]


def _totals_frame(conn: Any, cohort_ids: list[int]) -> pd.DataFrame:
    from rcdm.db import query_sql

    found = query_sql(conn, read_template("StudyTotals.sql"))
    frame = pd.DataFrame({"cohort_definition_id": cohort_ids})
    frame = frame.merge(found, on="cohort_definition_id", how="left")
    return frame.fillna(0)[["cohort_definition_id", "persons", "studies", "images"]]


def _distribution_frame(conn: Any, analysis: Mapping[str, Any], cohort_ids: list[int],
                        min_cell_count: int) -> pd.DataFrame:
    from rcdm.db import execute_sql, query_sql

    variable = "time_to_first_study" if analysis["type"] == "time_to_first_study" else VARIABLES[
        analysis["variable"]]
    execute_sql(conn, read_template("StudyValues.sql"), variable=variable)
    hist = query_sql(conn, read_template("StudyHistogram.sql"), analysis_id=analysis["id"])
    stats = query_sql(conn, read_template("StudyQuantiles.sql"))
    bins = pd.DataFrame(_bin_rows(analysis["bins"]))
    rows = []
    for cohort_id in cohort_ids:
        s = stats[stats["cohort_definition_id"] == cohort_id]
        summary = {"cohort_definition_id": cohort_id, "bin_index": 0, "bin": "(all)", "bin_lower": None,
                   "bin_upper": None, "persons": int(s["persons"].iloc[0]) if len(s) else 0,
                   "units": int(s["units"].iloc[0]) if len(s) else 0}
        publish = summary["persons"] >= min_cell_count
        for q in privacy.QUANTILE_COLUMNS:
            summary[q] = float(s[q].iloc[0]) if publish and len(s) and pd.notna(s[q].iloc[0]) else None
        if analysis["type"] == "time_to_first_study":  # each extreme is one person's own offset: not published
            summary["min_value"] = summary["max_value"] = None
        summary[privacy.QUANTILES_SUPPRESSED] = int(summary["persons"] > 0 and not publish)
        rows.append(summary)
        h = hist[hist["cohort_definition_id"] == cohort_id].set_index("bin_index")
        for b in bins.to_dict("records"):
            found = b["bin_index"] in h.index
            rows.append({"cohort_definition_id": cohort_id, **b,
                         "persons": int(h.loc[b["bin_index"], "persons"]) if found else 0,
                         "units": int(h.loc[b["bin_index"], "units"]) if found else 0,
                         **{q: None for q in privacy.QUANTILE_COLUMNS}, privacy.QUANTILES_SUPPRESSED: 0})
    frame = pd.DataFrame(rows)
    if analysis["type"] == "distribution":
        frame = frame.rename(columns={"units": "images"})
    else:
        frame = frame.drop(columns=["units"])
    return frame


def _csv_bytes(frame: pd.DataFrame, columns: Mapping[str, str]) -> bytes:
    """The published CSV: exactly ``columns``, each value formatted by its kind."""
    out = pd.DataFrame(index=frame.index)
    for column, kind in columns.items():
        values = frame[column] if column in frame else pd.Series([None] * len(frame), index=frame.index)
        if kind in (privacy.MODALITY, privacy.PLANE, privacy.CONTRAST, privacy.BIN_LABEL):
            out[column] = values.astype(object).map(lambda v: "" if v is None or v is pd.NA or
                                                    (isinstance(v, float) and math.isnan(v)) else str(v))
        else:
            out[column] = values.astype(object).map(_fmt_number)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def _analysis_entries(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The analyses a site publishes: the built-in totals, then the spec's."""
    return [{"id": "totals", "type": "totals", "title": "Persons, studies and images per cohort"},
            *spec["analyses"]]


def run_study(
    spec: str | os.PathLike[str] | Mapping[str, Any],
    conn: Any,
    cdm_database_schema: str,
    cohort_database_schema: str | None = None,
    cohort_table: str = "cohort",
    out: str | os.PathLike[str] = "site_results.zip",
    site_name: str | None = None,
    vocabulary_database_schema: str | None = None,
) -> dict[str, Any]:
    """Run a study at this site and write the aggregate-only results zip ``out``; return a summary dict.

    Cohorts given as ATLAS SQL files are generated into ``cohort_database_schema.cohort_table`` first (default:
    the cdm schema). Every analysis is an aggregation in the database; person-level rows stay in temp tables
    that are dropped at the end. Counts are suppressed (``rcdm.study_privacy``), every file is scanned, and
    the zip is written only when the scan finds nothing (StudyPrivacyError otherwise, and no file at ``out``).
    Returns ``{"out", "study_spec_hash", "site_name", "dialect", "analyses": {id: rows}, "suppressed":
    {id: {"primary", "complementary"}}, "generated_cohorts": [...]}``.
    """
    from rcdm._version import __version__
    from rcdm.db import execute_sql, exists_table, insert_table

    spec = load_spec(spec)
    check_schema(cdm_database_schema, "cdm_database_schema")
    cohort_database_schema = check_schema(cohort_database_schema or cdm_database_schema, "cohort_database_schema")
    check_identifier(cohort_table, "cohort table name")
    vocabulary_database_schema = check_schema(vocabulary_database_schema or cdm_database_schema,
                                              "vocabulary_database_schema")
    site_name = (site_name or "site").strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}", site_name):
        raise UsageError(f"Invalid site name {site_name!r}: a short label (letters, digits, space, _ . -).")
    min_cell_count = spec["min_cell_count"]
    cohort_ids = [c["id"] for c in spec["cohorts"]]

    generated = []
    for cohort in spec["cohorts"]:
        if "sql_sha256" not in cohort:
            continue
        text = spec["_cohort_sql"].get(cohort["id"])
        if text is None:
            raise UsageError(f"Cohort {cohort['id']} is defined by SQL (sha256 {cohort['sql_sha256'][:12]}...) "
                             "but the spec gives no file: run the study from the spec file with its cohort SQL.")
        from rcdm.cohort import generate_cohort

        result = generate_cohort(conn, text, cohort["id"], cdm_database_schema, cohort_database_schema,
                                 cohort_table, vocabulary_database_schema=vocabulary_database_schema)
        generated.append(result["cohort_definition_id"])
    if not exists_table(conn, cohort_database_schema, cohort_table):
        raise UsageError(f"No cohort table {cohort_database_schema}.{cohort_table}: generate the cohorts first "
                         "(ATLAS, CohortGenerator, rcdm cohort) or give them as SQL files in the spec.")

    params = _template_parameters(spec, cdm_database_schema, cohort_database_schema, cohort_table,
                                  vocabulary_database_schema)
    analyses = _analysis_entries(spec)
    tables: dict[str, pd.DataFrame] = {}
    tallies: dict[str, dict[str, int]] = {}
    try:
        execute_sql(conn, read_template("StudyImages.sql"), parameters=params)
        bin_rows = [{"analysis_id": a["id"], **b} for a in analyses if "bins" in a for b in _bin_rows(a["bins"])]
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
                frame = _distribution_frame(conn, analysis, cohort_ids, min_cell_count)
            tables[analysis["id"]] = frame
    finally:
        try:
            execute_sql(conn, read_template("StudyCleanup.sql"))
        except Exception:  # noqa: BLE001 - the analysis error matters more; temp tables go with the session
            pass

    tables, tallies = privacy.suppress_zip(tables, analyses, min_cell_count)
    manifest = {
        "format": FORMAT,
        "study_name": spec["name"],
        "study_version": spec["version"],
        "study_spec_hash": study_spec_hash(spec),
        "rcdm_version": __version__,
        "dialect": conn.dialect,
        "site_name": site_name,
        "created_utc": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "min_cell_count": min_cell_count,
        "suppression": {
            "marker": privacy.marker(min_cell_count),
            "rule": f"counts 0 < n < {min_cell_count} are replaced by {privacy.marker(min_cell_count)}; "
                    "complementary suppression over all files of the zip keeps them from being recovered from "
                    "any published margin (totals, one-way tables, (all) rows) by subtraction; quantiles are "
                    f"published only for cohorts of at least {min_cell_count} persons",
            "value_columns": "the marker stands only in count columns; bin bounds and quantiles can be negative "
                             "and are never replaced by it: a withheld quantile is empty, with "
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
        manifest["analyses"].append({
            "id": analysis["id"], "type": analysis["type"], "title": analysis["title"], "file": name,
            "dimensions": list(analysis.get("by", [])),
        })
    files = {"manifest.json": json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"),
             "spec.json": canonical_json(spec).encode("utf-8"), **files}
    write_results_zip(out, files, min_cell_count)
    return {
        "out": str(out),
        "study_spec_hash": manifest["study_spec_hash"],
        "site_name": site_name,
        "dialect": conn.dialect,
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


def read_results_zip(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check one site's zip: ``{"path", "manifest", "spec", "files"}`` (files: name → bytes)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile) as exc:
        raise StudyMergeError(f"Cannot read study results {path}: {exc}") from None
    try:
        manifest = json.loads(files["manifest.json"])
        spec = json.loads(files["spec.json"])
    except (KeyError, ValueError) as exc:
        raise StudyMergeError(f"{path} is not an rcdm study results zip (manifest.json, spec.json): {exc}") from None
    if manifest.get("format") != FORMAT:
        raise StudyMergeError(f"{path}: format {manifest.get('format')!r} is not {FORMAT!r}.")
    digest = hashlib.sha256(files["spec.json"]).hexdigest()
    if digest != manifest.get("study_spec_hash"):
        raise StudyMergeError(f"{path}: spec.json does not match the manifest's study_spec_hash (damaged zip?).")
    try:
        privacy.check_files(files, manifest.get("min_cell_count"))
    except privacy.StudyPrivacyError as exc:
        raise StudyMergeError(f"{path} fails the privacy check: {exc}") from None
    return {"path": path, "manifest": manifest, "spec": spec, "files": files}


def _read_table(data: bytes, columns: Mapping[str, str]) -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    out = pd.DataFrame(index=frame.index)
    for column, kind in columns.items():
        text = frame[column]
        if kind in (privacy.MODALITY, privacy.PLANE, privacy.CONTRAST, privacy.BIN_LABEL):
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
        row.update({q: np.nan for q in privacy.QUANTILE_COLUMNS if q in columns})  # not computed across sites
        if privacy.QUANTILES_SUPPRESSED in columns:
            row[privacy.QUANTILES_SUPPRESSED] = 0
        row["suppressed_cells"] = int(group["suppressed_cells"].sum())
        combined.append(row)
    out = pd.concat([rows, pd.DataFrame(combined)], ignore_index=True)
    return out[["site", *columns, "suppressed_cells"]]


def _content_hash(files: Mapping[str, bytes]) -> str:
    """SHA-256 over a zip's member names and bytes (sorted): equal for copies, however re-zipped."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(hashlib.sha256(name.encode("utf-8")).digest())
        digest.update(hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def merge_results(zips: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Combine several sites' study zips (same study_spec_hash) into ``out_dir``; return a summary dict.

    Writes one CSV per analysis (``<id>.csv``: a ``site`` column, each site's rows with suppressed cells as
    ``-min_cell_count``, and ``(all sites)`` rows summing the unsuppressed cells; ``suppressed_cells`` counts the
    suppressed cells behind each row), ``sites.csv`` (one row per site zip) and ``report.html`` (tables and
    inline SVG plots; no external resources). Zips of different studies raise StudyMergeError, and so do two zips
    of the same site's run (the same content, or the same site name and run time), which would count it twice.
    Value columns (bin bounds, quantiles) are read as numbers, never as the marker; ``(all sites)`` rows leave
    the quantiles empty (they cannot be combined from aggregates) with ``quantiles_suppressed = 0``.
    """
    if not zips:
        raise UsageError("merge_results needs at least one site zip.")
    sites = [read_results_zip(z) for z in zips]
    hashes = {s["manifest"]["study_spec_hash"] for s in sites}
    if len(hashes) > 1:
        listing = "; ".join(f"{s['path'].name}: {s['manifest']['study_name']} {s['manifest']['study_version']} "
                            f"({s['manifest']['study_spec_hash'][:12]})" for s in sites)
        raise StudyMergeError(f"The zips come from different study specs and cannot be merged: {listing}")
    seen: dict[Any, Path] = {}
    for s in sites:
        digest = _content_hash(s["files"])
        run = (s["manifest"].get("site_name"), s["manifest"].get("created_utc"))
        for key, what in ((("content", digest), "the same content"), (("run", run), f"the same site name "
                                                                                  f"{run[0]!r} and run time {run[1]}")):
            if key in seen:
                raise StudyMergeError(f"{s['path']} and {seen[key]} hold {what}: the same site's results would be "
                                      "counted twice. Merge each site's zip once.")
            seen[key] = s["path"]
    spec = sites[0]["spec"]
    min_cell_count = int(spec["min_cell_count"])
    names: list[str] = []
    for s in sites:
        name, n = s["manifest"]["site_name"], 2
        while name in names:
            name, n = f"{s['manifest']['site_name']}-{n}", n + 1
        names.append(name)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    merged: dict[str, pd.DataFrame] = {}
    for analysis in _analysis_entries(spec):
        columns = privacy.table_columns(analysis["type"], analysis.get("by", ()))
        frames = [(name, _read_table(s["files"][f"{analysis['id']}.csv"], columns)) for name, s in zip(names, sites)]
        table = _combine(frames, columns, min_cell_count)
        merged[analysis["id"]] = table
        path = out / f"{analysis['id']}.csv"
        path.write_bytes(_csv_bytes(table, {"site": privacy.BIN_LABEL, **columns,
                                            "suppressed_cells": privacy.BIN_INDEX}))
        written[analysis["id"]] = str(path)
    site_rows = pd.DataFrame([{"site": name, "zip": s["path"].name, "dialect": s["manifest"]["dialect"],
                               "rcdm_version": s["manifest"]["rcdm_version"],
                               "created_utc": s["manifest"]["created_utc"]} for name, s in zip(names, sites)])
    site_rows.to_csv(out / "sites.csv", index=False, lineterminator="\n")
    report = out / "report.html"
    report.write_text(render_report(spec, sites, names, merged), encoding="utf-8")
    return {
        "out_dir": str(out),
        "study_name": spec["name"],
        "study_version": spec["version"],
        "study_spec_hash": hashes.pop(),
        "sites": names,
        "analyses": written,
        "sites_csv": str(out / "sites.csv"),
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
    import jinja2
    from markupsafe import Markup

    from rcdm._version import __version__

    min_cell_count = int(spec["min_cell_count"])
    sections = []
    for analysis in _analysis_entries(spec):
        columns = privacy.table_columns(analysis["type"], analysis.get("by", ()))
        keys = [c for c, k in columns.items()
                if k not in (privacy.COUNT, privacy.FLAG) and c not in privacy.QUANTILE_COLUMNS
                and c not in ("bin_index", "bin_lower",
                                                                                          "bin_upper")
                and c != "cohort_definition_id"]
        table = merged[analysis["id"]]
        combined = table[table["site"] == ALL_SITES]
        if analysis["type"] in ("distribution", "time_to_first_study"):
            combined = combined[combined["bin_index"] > 0]
        measure = _measure(analysis)
        match_keys = ["cohort_definition_id", *[c for c in columns if c in keys or c == "bin_index"]]

        def key_of(row: Mapping[str, Any]) -> tuple[str, ...]:
            return tuple(_fmt_number(row[k]) if not isinstance(row[k], str) else row[k] for k in match_keys)

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
                    cells.append(f"<{min_cell_count}")
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
