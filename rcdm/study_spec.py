"""The study specification: a strict JSON Schema, canonical form and hash, and the site's own settings.

A spec (JSON or YAML) is checked against :data:`SCHEMA` (jsonschema, Draft 2020-12) before anything else: any key
the schema does not name is refused, at every level. Comments are allowed only as top-level keys ``_name`` with
a text value, and they are part of the canonical spec and its hash like everything else: nothing in a spec is
invisible to ``study_spec_hash``. Cohort SQL exists only as files declared in ``cohorts[].sql`` (a relative path
inside the spec's folder); the canonical spec keeps the file's name and SHA-256, so the hash covers the SQL.

.. code-block:: text

    name            text, required (at most 100 characters)
    version         text or number, required
    description     text, optional
    min_cell_count  whole number >= 1, optional: the study's minimum cell count; a site uses the larger of this and
                    its own (SiteSettings.min_cell_count, default 5): a spec can raise a site's minimum, never lower it
    cohorts         non-empty list; each item is a cohort_definition_id already in the site's cohort table, or
                    {"id": 1, "name": "...", "sql": "cohorts/x.sql"}: an ATLAS-exported OHDSI SQL file that runs
                    only after the site approved it (rcdm study show; --approve-cohort-sql)
    image_criteria  optional; the arguments of rcdm.extract.get_cohort_images (modalities, protocol_concept_ids,
                    include_descendants, body_parts, contrast, planes, lateralities, min/max_slice_thickness,
                    window_start_days, window_end_days, window_anchor)
    analyses        non-empty list of {"id", "type", "title"?}: type counts ("by": 1 to 3 of modality, protocol,
                    year, plane, contrast), distribution ("variable": slice_thickness | resolution_rows |
                    resolution_columns) or time_to_first_study. Bins are fixed by rcdm (:data:`BINS`), never
                    given by a spec, so no two analyses or runs can have overlapping bins.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from rcdm.errors import StudySpecError, UsageError
from rcdm.extract import image_query_parameters
from rcdm.options import ImageCriteria, spec_schema

DIMENSIONS = ("modality", "protocol", "year", "plane", "contrast")
ANALYSIS_TYPES = ("counts", "distribution", "time_to_first_study")
VARIABLES: dict[str, str] = {
    "slice_thickness": "ct_slice_thickness",
    "resolution_rows": "image_resolution_rows",
    "resolution_columns": "image_resolution_columns",
}
"""Spec variable of a distribution → column of #study_images."""

BINS: dict[str, tuple[float, ...]] = {
    "slice_thickness": (0.5, 1, 1.5, 2, 3, 5, 7.5, 10),
    "resolution_rows": (128, 256, 384, 512, 768, 1024, 2048),
    "resolution_columns": (128, 256, 384, 512, 768, 1024, 2048),
    "time_to_first_study": (0, 1, 2, 8, 31, 91, 181, 366),
}
"""The only bin edges rcdm publishes (open ends below the first and above the last edge)."""

DEFAULT_SITE_MIN_CELL_COUNT = 5
MAX_COHORT_SQL_BYTES = 1_000_000

_TEXT = {"type": "string", "maxLength": 100, "minLength": 1}
_CRITERIA = spec_schema(ImageCriteria)
"""``image_criteria``: the study-spec part of rcdm.options.ImageCriteria (one definition)."""
_ANALYSIS_COMMON = {"id": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
                    "title": {"type": "string", "maxLength": 200}}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["name", "version", "cohorts", "analyses"],
    "additionalProperties": False,
    "patternProperties": {"^_[a-z][a-z0-9_]{0,40}$": {"type": "string", "maxLength": 4000}},
    "properties": {
        "name": _TEXT,
        "version": {"type": ["string", "number"], "maxLength": 40},
        "description": {"type": "string", "maxLength": 4000},
        "min_cell_count": {"type": ["integer", "null"], "minimum": 1},
        "cohorts": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"oneOf": [
            {"type": "integer", "minimum": 1},
            {"type": "object", "required": ["id"], "additionalProperties": False, "properties": {
                "id": {"type": "integer", "minimum": 1},
                "name": {"type": "string", "maxLength": 200},
                "sql": {"type": "string", "pattern": r"^(?!.*(^|/)\.\.?(/|$))[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}\.sql$"},
                "sql_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            }},
        ]}},
        "image_criteria": _CRITERIA,
        "analyses": {"type": "array", "minItems": 1, "maxItems": 50, "items": {
            "type": "object", "required": ["id", "type"],
            "properties": {"type": {"enum": list(ANALYSIS_TYPES)}},
            "allOf": [
                {"if": {"properties": {"type": {"const": "counts"}}},
                 "then": {"required": ["by"], "additionalProperties": False, "properties": {
                     **_ANALYSIS_COMMON, "type": {},
                     "by": {"type": "array", "minItems": 1, "maxItems": 3, "uniqueItems": True,
                            "items": {"enum": list(DIMENSIONS)}}}}},
                {"if": {"properties": {"type": {"const": "distribution"}}},
                 "then": {"required": ["variable"], "additionalProperties": False, "properties": {
                     **_ANALYSIS_COMMON, "type": {}, "variable": {"enum": list(VARIABLES)}}}},
                {"if": {"properties": {"type": {"const": "time_to_first_study"}}},
                 "then": {"additionalProperties": False, "properties": {**_ANALYSIS_COMMON, "type": {}}}},
            ],
        }},
    },
}
"""The study spec's JSON Schema: every key is named; ``additionalProperties`` is false everywhere."""


def _fail(field: str, message: str) -> StudySpecError:
    return StudySpecError(f"Study spec field {field}: {message}")


def _field(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _schema_errors(raw: Any) -> None:
    """Raise StudySpecError for the first schema violation, naming the field (an unknown key by its own name)."""
    def leaves(error: Any) -> list:
        if error.validator == "oneOf" and error.context:  # a cohort that is neither an id nor a valid object
            best = max(error.context, key=lambda c: (len(c.absolute_path), c.validator != "type"))
            return leaves(best)
        return [error]

    found = [leaf for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(raw) for leaf in leaves(e)]
    if not found:
        return
    unknown = [e for e in found if e.validator == "additionalProperties"]
    error = min(unknown or found, key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]))
    field = _field(error.absolute_path)
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known and not (
            error.schema.get("patternProperties") and re.match(next(iter(error.schema["patternProperties"])), k)))
        key = extra[0] if extra else "?"
        name = f"{field}.{key}" if field != "(top)" else key
        hint = (" Bins are fixed by rcdm (rcdm.study_spec.BINS); a spec cannot set them." if key == "bins" else
                " Comments are top-level keys _name with a text value (they are part of the spec's hash)."
                if key.startswith("_") else "")
        raise _fail(name, f"is not a known field (known: {', '.join(sorted(known))}).{hint}")
    raise _fail(field, error.message[:300])


def _cohorts(raw: list, base_dir: Path | None) -> tuple[list[dict], dict[int, str]]:
    cohorts, texts = [], {}
    for i, item in enumerate(raw):
        field = f"cohorts[{i}]"
        item = item if isinstance(item, Mapping) else {"id": item}
        cohort_id = int(item["id"])
        if any(c["id"] == cohort_id for c in cohorts):
            raise _fail(f"{field}.id", f"cohort id {cohort_id} is listed twice.")
        entry: dict[str, Any] = {"id": cohort_id, "name": (item.get("name") or "").strip() or f"cohort {cohort_id}"}
        if item.get("sql") is not None:
            entry["sql"] = item["sql"]
            if base_dir is not None:
                text = read_cohort_sql(base_dir, item["sql"], f"{field}.sql")
                digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
                if item.get("sql_sha256") not in (None, digest):
                    raise _fail(f"{field}.sql_sha256", "does not match the SHA-256 of the cohort's SQL file.")
                texts[cohort_id] = text
                entry["sql_sha256"] = digest
            elif item.get("sql_sha256") is None:
                raise _fail(f"{field}.sql_sha256", "is required when the spec is given without its folder.")
            else:
                entry["sql_sha256"] = item["sql_sha256"]
        elif item.get("sql_sha256") is not None:
            raise _fail(f"{field}.sql_sha256", "is given without the cohort's sql file.")
        cohorts.append(entry)
    return cohorts, texts


def read_cohort_sql(base_dir: Path, name: str, field: str = "cohorts.sql") -> str:
    """The text of a declared cohort SQL file: a regular file inside ``base_dir`` (symlinks resolved)."""
    base = base_dir.resolve()
    path = (base / name).resolve()
    if base not in path.parents:
        raise _fail(field, f"{name!r} is outside the spec's folder.")
    if not path.is_file():
        raise _fail(field, f"no such file: {path}")
    if path.stat().st_size > MAX_COHORT_SQL_BYTES:
        raise _fail(field, f"{name!r} is larger than {MAX_COHORT_SQL_BYTES} bytes.")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _fail(field, f"{name!r} is not UTF-8 text.") from None


def _criteria(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate image criteria with rcdm.extract's rules and return them in canonical form."""
    try:
        params = image_query_parameters(1, "cdm", **(raw or {}))
    except UsageError as exc:
        raise StudySpecError(f"Study spec field image_criteria: {exc}") from None

    def quoted(text: str) -> list[str]:
        return [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", text)]

    return {
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


@dataclasses.dataclass(frozen=True)
class Analysis:
    """One analysis of a spec in canonical form: the model of the schema's ``analyses`` items (their properties
    are these fields; tests/test_options.py checks that the two agree)."""

    id: str
    type: str
    """One of ``ANALYSIS_TYPES``."""
    title: str
    by: tuple[str, ...] | None = None
    """``counts``: 1 to 3 of ``DIMENSIONS``."""
    variable: str | None = None
    """``distribution``: one of ``VARIABLES``."""

    def as_spec(self) -> dict[str, Any]:
        """The canonical spec's entry (fields that do not apply left out)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
                if v is not None}


def _analyses(raw: list) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        analysis_id = item["id"]
        if analysis_id == "totals" or any(a["id"] == analysis_id for a in out):
            raise _fail(f"analyses[{i}].id", f"{analysis_id!r} is already used ('totals' is built in).")
        analysis = Analysis(id=analysis_id, type=item["type"], title=(item.get("title") or "").strip() or analysis_id,
                            by=tuple(item["by"]) if item["type"] == "counts" else None,
                            variable=item["variable"] if item["type"] == "distribution" else None)
        out.append(analysis.as_spec())
    return out


def _read(path_or_dict: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, Path | None]:
    if isinstance(path_or_dict, Mapping):
        return json.loads(json.dumps(path_or_dict, allow_nan=False)), None
    if not isinstance(path_or_dict, (str, os.PathLike)):
        raise StudySpecError(f"A study spec is a file path or a dict, not {type(path_or_dict).__name__}.")
    path = Path(path_or_dict).expanduser()
    if not path.is_file():
        raise StudySpecError(f"No such study spec file: {path}")
    if path.stat().st_size > 1_000_000:
        raise StudySpecError(f"Study spec {path} is larger than 1 MB.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            raw = yaml.safe_load(text)
        else:
            raw = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
    except ValueError as exc:  # json.JSONDecodeError
        raise StudySpecError(f"Study spec {path} is not valid JSON: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - yaml.YAMLError
        raise StudySpecError(f"Study spec {path} is not valid YAML: {exc}") from None
    return raw, path.resolve().parent


@dataclasses.dataclass(frozen=True)
class Study:
    """A validated spec: ``spec`` (canonical form), its ``spec_hash`` and the declared cohort SQL files' text."""

    spec: Mapping[str, Any]
    spec_hash: str
    cohort_sql: Mapping[int, str]


def load_study(path_or_dict: str | os.PathLike[str] | Mapping[str, Any],
               base_dir: str | os.PathLike[str] | None = None) -> Study:
    """Read (JSON or YAML file) and validate a spec; cohort SQL files are read from the spec file's folder.

    A dict is validated the same way; its cohorts' SQL files are read from ``base_dir`` if given, else they are
    known only by their hash (a zip's spec.json). Errors are StudySpecError naming the field
    (``analyses[2].by[0]: ...``).
    """
    raw, folder = _read(path_or_dict)
    base_dir = folder if folder is not None else (Path(base_dir) if base_dir is not None else None)
    _schema_errors(raw)
    spec: dict[str, Any] = {k: v for k, v in raw.items() if k.startswith("_")}
    spec.update({
        "name": raw["name"].strip(),
        "version": str(raw["version"]).strip(),
        "description": (raw.get("description") or "").strip(),
        "min_cell_count": None if raw.get("min_cell_count") is None else int(raw["min_cell_count"]),
    })
    if not spec["name"] or not spec["version"]:
        raise _fail("name" if not spec["name"] else "version", "must not be empty.")
    cohorts, texts = _cohorts(raw["cohorts"], base_dir)
    spec["cohorts"] = cohorts
    spec["image_criteria"] = _criteria(raw.get("image_criteria"))
    spec["analyses"] = _analyses(raw["analyses"])
    return Study(spec=spec, spec_hash=study_spec_hash(spec), cohort_sql=texts)


def load_spec(path_or_dict: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form of a validated spec (see :func:`load_study`)."""
    return dict(load_study(path_or_dict).spec)


def canonical_json(spec: Mapping[str, Any]) -> str:
    """The canonical JSON of a validated spec: every key (comments too), sorted, no spaces, UTF-8."""
    return json.dumps(dict(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def study_spec_hash(spec: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a validated spec."""
    return hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()


def bin_edges(analysis: Mapping[str, Any]) -> tuple[float, ...]:
    """The fixed bin edges of a distribution or time-to-first-study analysis."""
    return BINS["time_to_first_study" if analysis["type"] == "time_to_first_study" else analysis["variable"]]


# --------------------------------------------------------------------------------------------------------------
# The site's own settings


def default_audit_log() -> Path:
    """Where a site's release log lives unless configured: $RCDM_STUDY_AUDIT_LOG, else the XDG state folder."""
    if os.environ.get("RCDM_STUDY_AUDIT_LOG"):
        return Path(os.environ["RCDM_STUDY_AUDIT_LOG"]).expanduser()
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "rcdm" / "study_releases.jsonl"


@dataclasses.dataclass(frozen=True)
class SiteSettings:
    """A site's own privacy settings, which no study spec can weaken.

    ``min_cell_count``: the site's minimum cell count (a spec may only raise it); ``audit_log``: the JSON-lines
    file recording every release (rcdm.study_releases).
    """

    min_cell_count: int = DEFAULT_SITE_MIN_CELL_COUNT
    audit_log: Path = dataclasses.field(default_factory=default_audit_log)

    def __post_init__(self) -> None:
        if isinstance(self.min_cell_count, bool) or not isinstance(self.min_cell_count, int) or \
                self.min_cell_count < 1:
            raise UsageError(f"The site's min_cell_count must be a whole number >= 1, not {self.min_cell_count!r}.")
        object.__setattr__(self, "audit_log", Path(self.audit_log).expanduser())

    def effective_min_cell_count(self, spec: Mapping[str, Any]) -> int:
        """The larger of the site's and the spec's minimum: a spec can raise the site's minimum, never lower it."""
        return max(self.min_cell_count, int(spec.get("min_cell_count") or 0))


def load_site_settings(path: str | os.PathLike[str] | None = None, min_cell_count: int | None = None,
                       audit_log: str | os.PathLike[str] | None = None) -> SiteSettings:
    """Site settings from a YAML/JSON file (keys ``min_cell_count``, ``audit_log``), then explicit overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise UsageError(f"No such site config file: {file}")
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except Exception as exc:  # noqa: BLE001 - yaml.YAMLError
            raise UsageError(f"Site config {file} is not valid YAML/JSON: {exc}") from None
        if not isinstance(loaded, Mapping) or set(loaded) - {"min_cell_count", "audit_log"}:
            raise UsageError(f"Site config {file} may hold only min_cell_count and audit_log.")
        values.update(loaded)
        if values.get("audit_log") is not None:
            values["audit_log"] = (file.parent / str(values["audit_log"])).expanduser()
    if min_cell_count is not None:
        values["min_cell_count"] = min_cell_count
    if audit_log is not None:
        values["audit_log"] = Path(audit_log)
    return SiteSettings(**{k: v for k, v in values.items() if v is not None})


__all__ = [
    "BINS",
    "DIMENSIONS",
    "SCHEMA",
    "SiteSettings",
    "Study",
    "StudySpecError",
    "VARIABLES",
    "bin_edges",
    "canonical_json",
    "default_audit_log",
    "load_site_settings",
    "load_spec",
    "load_study",
    "read_cohort_sql",
    "study_spec_hash",
]
