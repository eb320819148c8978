"""The privacy rules of a network study, in one place: small-cell suppression and the final scan of what leaves a site.

Rules (the manifest of every site zip repeats the first two):

* **Primary suppression.** Every count cell with ``0 < value < min_cell_count`` is replaced by the marker
  ``-min_cell_count`` (as OHDSI's FeatureExtraction and CohortDiagnostics do: "fewer than N"). Zero stays zero.
* **Complementary suppression.** Counts published together add up (or nearly: a person can fall in several
  categories) to a margin that is published somewhere else (a ``totals`` row, a one-dimension table, the
  ``(all)`` row of a distribution). Within every such group of cells (per count column: the rows of one cohort
  that share every dimension but one), when exactly one cell is suppressed, the smallest other non-zero cell of
  the group is suppressed too, repeated until no group has exactly one suppressed cell; so no suppressed value
  can be recovered by subtraction from a total.
* **Quantiles** (min, p10, p25, median, p75, p90, max) are published only for a cohort with at least
  ``min_cell_count`` persons; otherwise they are left empty. For time to first study (one value per person)
  min and max are never published: each is one person's own day offset.
* **Nothing person-level**: no person or subject id, no date of an event (years and binned day offsets only), no
  free text from DICOM headers (categories only: DICOM modality codes, concept ids, plane and contrast
  categories). :func:`check_files` scans every file before the zip is written and refuses it otherwise: each CSV
  may hold only the columns its analysis type declares, each column only values of its kind, and no file may
  hold anything that looks like a calendar date (except the manifest's UTC timestamp of the run).

This module imports only leaves (``rcdm.errors``) and pandas.
"""

from __future__ import annotations

import io
import json
import re
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from rcdm.errors import RcdmError

MODALITY_CODES: tuple[str, ...] = (
    "AR", "ASMT", "AU", "BDUS", "BI", "BMD", "CR", "CT", "DG", "DOC", "DX", "ECG", "EPS", "ES", "FID", "GM", "HC",
    "HD", "IO", "IOL", "IVOCT", "IVUS", "KER", "KO", "LEN", "LS", "MG", "MR", "NM", "OAM", "OCT", "OP", "OPM",
    "OPT", "OPTBSV", "OPTENF", "OPV", "OSS", "OT", "PLAN", "PR", "PT", "PX", "REG", "RESP", "RF", "RG", "RTDOSE",
    "RTIMAGE", "RTPLAN", "RTRECORD", "RTSTRUCT", "RWV", "SEG", "SM", "SMR", "SR", "SRF", "STAIN", "TG", "US", "VA",
    "XA", "XC",
)
"""DICOM modality codes (PS3.3 C.7.3.1.1.1 defined terms) published as themselves; anything else is 'OTHER'."""

PLANES: tuple[str, ...] = ("axial", "coronal", "sagittal", "oblique", "unknown")
CONTRAST_PHASES: tuple[str, ...] = ("pre", "post", "unknown")
QUANTILE_COLUMNS: tuple[str, ...] = ("min_value", "p10_value", "p25_value", "median_value", "p75_value",
                                     "p90_value", "max_value")

# Column kinds: what values a published column may hold.
COUNT, COHORT, MODALITY, CONCEPT, YEAR, PLANE, CONTRAST, BIN_INDEX, BIN_LABEL, NUMBER = (
    "count", "cohort", "modality", "concept", "year", "plane", "contrast", "bin_index", "bin_label", "number")

DIMENSION_COLUMNS: dict[str, tuple[str, str]] = {
    "modality": ("modality", MODALITY),
    "protocol": ("protocol_concept_id", CONCEPT),
    "year": ("occurrence_year", YEAR),
    "plane": ("anatomical_plane", PLANE),
    "contrast": ("contrast_phase", CONTRAST),
}
"""Spec dimension name → (published column, kind)."""


def table_columns(analysis_type: str, dimensions: Sequence[str] = ()) -> dict[str, str]:
    """The columns a published table of this analysis type holds, in order, with their kinds."""
    columns = {"cohort_definition_id": COHORT}
    if analysis_type == "counts":
        columns.update(DIMENSION_COLUMNS[d] for d in dimensions)
        columns.update(persons=COUNT, studies=COUNT, images=COUNT)
    elif analysis_type == "totals":
        columns.update(persons=COUNT, studies=COUNT, images=COUNT)
    elif analysis_type in ("distribution", "time_to_first_study"):
        columns.update(bin_index=BIN_INDEX, bin=BIN_LABEL, bin_lower=NUMBER, bin_upper=NUMBER, persons=COUNT)
        if analysis_type == "distribution":
            columns["images"] = COUNT
        columns.update((q, NUMBER) for q in QUANTILE_COLUMNS)
    else:
        raise ValueError(f"unknown analysis type {analysis_type!r}")
    return columns


class StudyPrivacyError(RcdmError):
    """Content that must not leave a site was found in a study's results; nothing was written."""


def marker(min_cell_count: int) -> int:
    """The value a suppressed count cell holds: ``-min_cell_count`` ("fewer than min_cell_count")."""
    return -int(min_cell_count)


# --------------------------------------------------------------------------------------------------------------
# Suppression


def suppress(
    frame: pd.DataFrame,
    count_columns: Sequence[str],
    min_cell_count: int,
    groupings: Iterable[Sequence[str]] = (),
    members: pd.Series | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply primary and complementary suppression to ``count_columns``; return the new frame and tallies.

    ``groupings`` are lists of columns: rows (among ``members``, all rows by default) with equal values in one
    grouping's columns add up to a published margin, so each such group gets complementary suppression.
    """
    out = frame.copy().reset_index(drop=True)
    member_mask = np.ones(len(out), bool) if members is None else np.asarray(members, bool)
    groupings = [list(g) for g in groupings]
    values = {c: out[c].fillna(0).astype("int64").to_numpy() for c in count_columns}
    hidden = {c: (values[c] > 0) & (values[c] < min_cell_count) for c in count_columns}
    primary = int(sum(h.sum() for h in hidden.values()))
    groups: list[np.ndarray] = []
    for grouping in groupings:
        sub = out[member_mask]
        if sub.empty:
            continue
        keys = sub[grouping].astype(object).where(sub[grouping].notna(), "\0null") if grouping else None
        index_groups = (sub.groupby([keys[c] for c in grouping], sort=True).indices.values()
                        if grouping else [np.arange(len(sub))])
        positions = np.flatnonzero(member_mask)
        groups.extend(positions[np.asarray(ix)] for ix in index_groups)
    complementary = 0
    changed = True
    while changed:
        changed = False
        for c in count_columns:
            v, h = values[c], hidden[c]
            for rows in groups:
                if h[rows].sum() != 1:
                    continue
                candidates = [r for r in rows if not h[r] and v[r] > 0]
                if not candidates:
                    continue
                pick = min(candidates, key=lambda r: (v[r], r))
                h[pick] = True
                complementary += 1
                changed = True
    for c in count_columns:
        out[c] = np.where(hidden[c], marker(min_cell_count), values[c]).astype("int64")
    return out, {"primary": primary, "complementary": complementary}


# --------------------------------------------------------------------------------------------------------------
# The final scan


_DATE = re.compile(rb"(?<!\d)(1[89]|2\d)\d\d[-/.](0[1-9]|1[0-2])[-/.](0[1-9]|[12]\d|3[01])(?!\d)")
_COMPACT_DATE = re.compile(r"^(1[89]|2\d)\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$")
_BIN_LABEL = re.compile(r"^(\(all\)|[\[(](-inf|-?\d+(\.\d+)?(e[-+]?\d+)?),\s?(inf|-?\d+(\.\d+)?(e[-+]?\d+)?)\))$")
_FORBIDDEN_NAMES = re.compile(r"person|subject|_date|datetime|file_path|source_value|_uid|note|patient|"
                              r"occurrence_id|image_id|series_id|visit", re.I)
MANIFEST_KEYS = frozenset({
    "format", "study_name", "study_version", "study_spec_hash", "rcdm_version", "dialect", "site_name",
    "created_utc", "min_cell_count", "suppression", "cohorts", "analyses",
})
"""The only keys a site manifest may hold."""


def _cell_problem(kind: str, text: str, min_cell_count: int) -> str | None:
    """Why ``text`` may not stand in a column of ``kind`` (None when it may)."""
    if kind == COUNT:
        if not re.fullmatch(r"-?\d+", text):
            return "is not a whole number"
        n = int(text)
        if n == marker(min_cell_count) or n == 0 or n >= min_cell_count:
            return None
        return f"is a count below min_cell_count {min_cell_count}"
    if text == "":
        return None if kind in (YEAR, NUMBER) else "is empty"
    if kind in (COHORT, CONCEPT, BIN_INDEX):
        if not re.fullmatch(r"\d{1,12}", text):
            return "is not a whole number"
        return "looks like a date" if kind == CONCEPT and _COMPACT_DATE.match(text) else None
    if kind == YEAR:
        return None if re.fullmatch(r"\d{4}", text) and 1800 <= int(text) <= 2200 else "is not a year"
    if kind == MODALITY:
        return None if text in MODALITY_CODES or text == "OTHER" else "is not a DICOM modality code"
    if kind == PLANE:
        return None if text in PLANES else "is not a plane category"
    if kind == CONTRAST:
        return None if text in CONTRAST_PHASES else "is not a contrast category"
    if kind == BIN_LABEL:
        return None if _BIN_LABEL.match(text) else "is not a bin label"
    if kind == NUMBER:
        if text in ("inf", "-inf"):
            return None
        try:
            float(text)
        except ValueError:
            return "is not a number"
        return "looks like a date" if _COMPACT_DATE.match(text.split(".")[0]) else None
    return f"has unknown kind {kind!r}"


def check_table(name: str, data: bytes, columns: Mapping[str, str], min_cell_count: int) -> list[str]:
    """Problems of one published CSV: unexpected columns, values not of their column's kind, small counts."""
    problems: list[str] = []
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        return [f"{name}: not a readable CSV ({exc})"]
    header = list(frame.columns)
    if header != list(columns):
        extra = [c for c in header if c not in columns]
        forbidden = [c for c in header if _FORBIDDEN_NAMES.search(c) and c not in columns]
        problems.append(f"{name}: columns {header} are not the declared {list(columns)}"
                        + (f"; unexpected {extra}" if extra else "")
                        + (f"; person-level names {forbidden}" if forbidden else ""))
    for column in header:
        kind = columns.get(column)
        if kind is None:
            continue
        for row, text in enumerate(frame[column], start=2):
            problem = _cell_problem(kind, text, min_cell_count)
            if problem:
                problems.append(f"{name} line {row}, column {column}: {text[:40]!r} {problem}")
                if len(problems) > 20:
                    return problems
    return problems


def check_files(files: Mapping[str, bytes], min_cell_count: int) -> None:
    """Scan every file that would leave the site; raise StudyPrivacyError listing each problem.

    ``files`` maps names in the zip to their bytes: ``manifest.json``, ``spec.json`` and the CSVs the manifest
    lists (each checked against the columns of its analysis type). Any other file is refused.
    """
    problems: list[str] = []
    manifest_bytes = files.get("manifest.json")
    if manifest_bytes is None or "spec.json" not in files:
        raise StudyPrivacyError("A study zip needs manifest.json and spec.json.")
    try:
        manifest = json.loads(manifest_bytes)
    except ValueError as exc:
        raise StudyPrivacyError(f"manifest.json is not JSON: {exc}") from None
    unexpected = sorted(set(manifest) - MANIFEST_KEYS)
    if unexpected:
        problems.append(f"manifest.json: unexpected keys {unexpected}")
    if manifest.get("min_cell_count") != min_cell_count:
        problems.append(f"manifest.json: min_cell_count {manifest.get('min_cell_count')!r} is not {min_cell_count}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}", str(manifest.get("site_name", ""))):
        problems.append("manifest.json: site_name must be a short label (letters, digits, space, _ . -)")
    declared = {}
    for entry in manifest.get("analyses", []):
        declared[entry.get("file")] = table_columns(entry.get("type"), entry.get("dimensions", ()))
    for name, data in files.items():
        if name in ("manifest.json", "spec.json"):
            scanned = data
            if name == "manifest.json":
                stamp = str(manifest.get("created_utc", "")).encode()
                scanned = data.replace(stamp, b"") if stamp else data
            for m in _DATE.finditer(scanned):
                problems.append(f"{name}: a calendar date {m[0].decode()!r}")
            continue
        if name not in declared:
            problems.append(f"{name}: not a file the manifest declares")
            continue
        for m in _DATE.finditer(data):
            problems.append(f"{name}: a calendar date {m[0].decode()!r}")
        problems.extend(check_table(name, data, declared[name], min_cell_count))
    missing = sorted(set(declared) - set(files))
    if missing:
        problems.append(f"files the manifest declares are missing: {missing}")
    if problems:
        shown = "\n  ".join(problems[:25])
        more = f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
        raise StudyPrivacyError(f"Refusing to write study results: {len(problems)} privacy problem(s):\n  "
                                f"{shown}{more}")


__all__ = [
    "CONTRAST_PHASES",
    "DIMENSION_COLUMNS",
    "MODALITY_CODES",
    "PLANES",
    "QUANTILE_COLUMNS",
    "StudyPrivacyError",
    "check_files",
    "check_table",
    "marker",
    "suppress",
    "table_columns",
]
