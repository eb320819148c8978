"""The privacy rules of a network study, in one place: small-cell suppression and the final scan of what leaves a site.

Rules (the manifest of every site zip repeats them):

* **Primary suppression.** Every count cell with ``0 < value < min_cell_count`` is replaced by the marker
  ``-min_cell_count`` (as OHDSI's FeatureExtraction and CohortDiagnostics do: "fewer than N"). Zero stays zero.
  ``min_cell_count`` is the larger of the site's own minimum and the spec's (rcdm.study_spec.SiteSettings).
* **Complementary suppression, over the whole zip** (:func:`suppress_zip`). Published numbers add up to other
  published numbers across files, per cohort and count column (persons, studies, images): :func:`zip_relations`
  lists every such relation (counts tables and totals over their shared dimensions, a distribution's bins and
  its ``(all)`` row, the ``(all)`` rows against the totals or the CT cells). Whenever a relation holds exactly one
  suppressed cell, the smallest other non-zero published cell of it is suppressed too; then every suppressed
  cell gets linear-programming bounds over all relations together (rcdm.study_bounds: what an attacker who
  combines every file can narrow it to), and while one is narrower than ``min_cell_count`` a published cell
  next to it is suppressed. :func:`check_files` re-derives the relations from the published files and refuses a
  zip where a suppressed value is recoverable or narrower than that (:func:`audit_suppression`).
* **The marker is only ever a count.** Count columns are never negative except the marker. A withheld quantile is
  an empty cell, and the ``quantiles_suppressed`` column says so (``1``: withheld; ``0``: published, or no
  quantile on that row, e.g. a bin row).
* **Quantiles** (p10, p25, median, p75, p90) are published only as the label of the fixed bin holding them, and
  only when the cohort has at least ``min_cell_count`` persons, that bin too, and no bin of the cohort is
  suppressed (:func:`quantile_bins`; the scan recomputes them from the published bins). Min and max never.
* **Nothing person-level**: no person or subject id, no date of an event (years and binned day offsets only), no
  free text from DICOM headers (categories only: DICOM modality codes, concept ids, plane and contrast
  categories). :func:`check_files` scans every file before the zip is written and refuses it otherwise: each CSV
  may hold only the columns its analysis type declares, each column only values of its kind, and no file may
  hold anything that looks like a calendar date (except the manifest's UTC timestamp of the run).

This module imports only leaves (``rcdm.errors``, rcdm.study_bounds), numpy and pandas.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from rcdm.errors import StudyPrivacyError
from rcdm.study_bounds import weak_cells

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
QUANTILES: dict[str, float] = {"p10_bin": 0.10, "p25_bin": 0.25, "median_bin": 0.50, "p75_bin": 0.75,
                               "p90_bin": 0.90}
"""Quantile column → fraction. A quantile is published as the fixed bin that holds it, never as a value."""
QUANTILE_COLUMNS: tuple[str, ...] = tuple(QUANTILES)

# Column kinds: what values a published column may hold.
COUNT, COHORT, MODALITY, CONCEPT, YEAR, PLANE, CONTRAST, BIN_INDEX, BIN_LABEL, NUMBER, FLAG, QUANTILE = (
    "count", "cohort", "modality", "concept", "year", "plane", "contrast", "bin_index", "bin_label", "number",
    "flag", "quantile")
QUANTILES_SUPPRESSED = "quantiles_suppressed"
"""Flag column of distribution tables: 1 where the quantiles are withheld, else 0."""

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
        columns.update((q, QUANTILE) for q in QUANTILE_COLUMNS)
        columns[QUANTILES_SUPPRESSED] = FLAG
    else:
        raise ValueError(f"unknown analysis type {analysis_type!r}")
    return columns


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
# Linked (whole-zip) complementary suppression and its audit


def _key_text(value: object) -> str:
    """A category value as comparable text (a CSV cell and a database value of the same category match)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer()):
        return str(int(value))
    return str(value)


def count_columns(analysis_type: str, dimensions: Sequence[str] = ()) -> list[str]:
    return [c for c, k in table_columns(analysis_type, dimensions).items() if k == COUNT]


def zip_relations(tables: Mapping[str, pd.DataFrame], analyses: Sequence[Mapping[str, object]]
                  ) -> tuple[list[tuple[tuple, list[tuple[str, str, int, int]], bool]],
                             list[list[tuple[str, str, int]]]]:
    """The linear relations between the count cells of every table of one site's zip.

    ``analyses``: the zip's analyses (``id``, ``type``, ``dimensions`` or ``by``, ``variable``); ``tables``: id →
    frame with the analysis' columns (rows in published order). Returns ``(relations, groups)``:

    * ``relations``: ``(block, terms, exact)`` with terms ``(table id, count column, row, sign)``: the signed sum
      of the true values is zero, exactly (``exact``: images, each of which has one value of every dimension and
      falls in one bin; persons of time to first study, one value each) or nearly (persons and studies, who can
      fall in several categories; these get a slack in rcdm.study_bounds). They are: for every two counts tables
      (the built-in ``totals`` being the table of no dimension) whose dimensions share the set S, per cohort,
      count column and value of S, the cells of one table with that value add up to the other's; per
      distribution and cohort, the ``(all)`` row equals the sum of the bins; the ``(all)`` persons of time to
      first study equal the totals' persons; the ``(all)`` row of a resolution distribution equals the totals
      (every image has rows and columns), and that of slice thickness equals the CT cells of every counts table
      with a modality dimension (only CT images have a slice thickness).
    * ``groups``: the within-table groups of the original rule (per cohort and count column, the rows sharing
      every dimension but one), kept as an extra, conservative layer whether or not their sum is published.
    """
    relations: list[tuple[tuple, list[tuple[str, str, int, int]], bool]] = []
    groups: list[list[tuple[str, str, int]]] = []
    family: list[tuple[str, list[str], pd.DataFrame]] = []
    distributions: list[tuple[str, str, pd.DataFrame]] = []
    for a in analyses:
        aid, kind = str(a["id"]), str(a["type"])
        frame = tables.get(aid)
        if frame is None:
            continue
        dims = list(a.get("dimensions", a.get("by", ())) or ())
        if kind in ("counts", "totals"):
            columns = [DIMENSION_COLUMNS[d][0] for d in dims] if kind == "counts" else []
            family.append((aid, columns, frame))
            for drop in columns if len(columns) > 1 else []:
                grouping = ["cohort_definition_id", *[c for c in columns if c != drop]]
                keys = [tuple(_key_text(v) for v in row) for row in frame[grouping].itertuples(index=False)]
                index: dict[tuple, list[int]] = {}
                for r, k in enumerate(keys):
                    index.setdefault(k, []).append(r)
                for rows in index.values():
                    for c in count_columns(kind, dims):
                        groups.append([(aid, c, r) for r in rows])
        elif kind in ("distribution", "time_to_first_study"):
            distributions.append((aid, str(a.get("variable") or kind), frame))
            bins = pd.to_numeric(frame["bin_index"]).astype(int).to_numpy()
            cohorts = [_key_text(v) for v in frame["cohort_definition_id"]]
            for cohort in dict.fromkeys(cohorts):
                rows = [r for r, c in enumerate(cohorts) if c == cohort]
                for c in count_columns(kind):
                    terms = [(aid, c, r, 1 if bins[r] == 0 else -1) for r in rows]
                    relations.append(((cohort, f"{aid}.{c}"), terms, c == "images" or kind == "time_to_first_study"))
                    groups.append([(aid, c, r) for r in rows if bins[r] > 0])
    for i, (aid1, dims1, frame1) in enumerate(family):
        for aid2, dims2, frame2 in family[i + 1:]:
            shared = [d for d in dims1 if d in dims2]
            grouping = ["cohort_definition_id", *shared]
            index2: dict[tuple, list[tuple[str, int, int]]] = {}
            for aid, frame, sign in ((aid1, frame1, 1), (aid2, frame2, -1)):
                for r, row in enumerate(frame[grouping].itertuples(index=False)):
                    index2.setdefault(tuple(_key_text(v) for v in row), []).append((aid, r, sign))
            for key, members in index2.items():
                for measure in ("persons", "studies", "images"):
                    relations.append(((key[0], measure), [(aid, measure, r, s) for aid, r, s in members],
                                      measure == "images"))
    for aid, variable, frame in distributions:  # a distribution's (all) row against the counts it must match
        alls = {_key_text(c): r for r, (c, b) in enumerate(zip(frame["cohort_definition_id"], frame["bin_index"]))
                if int(b) == 0}
        for cohort, all_row in alls.items():
            for measure in count_columns("distribution" if variable != "time_to_first_study" else variable):
                for fid, columns, counts in family:
                    if variable == "slice_thickness" and "modality" not in columns:
                        continue
                    if variable == "slice_thickness":
                        rows = [r for r, (c, m) in enumerate(zip(counts["cohort_definition_id"], counts["modality"]))
                                if _key_text(c) == cohort and m == "CT"]
                    elif columns:
                        continue
                    else:
                        rows = [r for r, c in enumerate(counts["cohort_definition_id"]) if _key_text(c) == cohort]
                    relations.append(((cohort, measure), [(aid, measure, all_row, 1),
                                                          *[(fid, measure, r, -1) for r in rows]], False))
    return relations, groups


def _count_values(tables: Mapping[str, pd.DataFrame], kinds: Mapping[str, tuple[str, list[str]]]
                  ) -> dict[tuple[str, str, int], int]:
    values: dict[tuple[str, str, int], int] = {}
    for aid, frame in tables.items():
        for c in count_columns(*kinds[aid]):
            for r, v in enumerate(pd.to_numeric(frame[c]).fillna(0).astype("int64").to_numpy()):
                values[(aid, c, r)] = int(v)
    return values


def _kinds(analyses: Sequence[Mapping[str, object]]) -> dict[str, tuple[str, list[str]]]:
    return {str(a["id"]): (str(a["type"]), list(a.get("dimensions", a.get("by", ())) or ())) for a in analyses}


def suppress_zip(
    tables: Mapping[str, pd.DataFrame],
    analyses: Sequence[Mapping[str, object]],
    min_cell_count: int,
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, int]]]:
    """Primary and linked complementary suppression of every table of one site's zip, together.

    Primary: cells ``0 < n < min_cell_count``. Complementary, repeated until nothing changes: (1) in every
    relation of :func:`zip_relations` (and every legacy within-table group) holding exactly one suppressed cell,
    the smallest other non-zero published cell of it is suppressed too; (2) every suppressed cell whose range,
    as an attacker bounds it by linear programming over all the relations (rcdm.study_bounds), is narrower than
    ``min_cell_count`` gets the smallest published non-zero cell of its relations (else of the relations it is
    connected to) suppressed. Returns the suppressed tables and ``{id: {"primary", "complementary"}}``.
    """
    out = {aid: frame.copy().reset_index(drop=True) for aid, frame in tables.items()}
    kinds = _kinds(analyses)
    value = _count_values(out, kinds)
    hidden = {cell for cell, v in value.items() if 0 < v < min_cell_count}
    primary = set(hidden)
    relations, groups = zip_relations(out, analyses)
    cell_sets = [[t[:3] for t in terms] for _, terms, _ in relations] + groups
    by_cell: dict[tuple[str, str, int], list[int]] = {}
    for i, cells in enumerate(cell_sets):
        for cell in cells:
            by_cell.setdefault(cell, []).append(i)

    def smallest_published(cells: Iterable[tuple[str, str, int]]) -> tuple[str, str, int] | None:
        candidates = [c for c in cells if c not in hidden and value[c] > 0]
        return min(candidates, key=lambda c: (value[c], c)) if candidates else None

    def neighbourhood(cell: tuple[str, str, int]) -> set[tuple[str, str, int]]:
        seen, todo = {cell}, [cell]
        while todo:
            for i in by_cell.get(todo.pop(), []):
                for c in cell_sets[i]:
                    if c not in seen:
                        seen.add(c)
                        if c in hidden:
                            todo.append(c)
        return seen

    cache: dict = {}
    while True:
        changed = True
        while changed:
            changed = False
            for cells in cell_sets:
                if sum(c in hidden for c in cells) == 1:
                    pick = smallest_published(cells)
                    if pick is not None:
                        hidden.add(pick)
                        changed = True
        try:
            weak = weak_cells(relations, value, hidden, min_cell_count, cache)
        except ValueError as exc:
            raise StudyPrivacyError(f"Refusing to write study results: {exc}") from None
        picks: set[tuple[str, str, int]] = set()
        covered: set[tuple[str, str, int]] = set()
        for cell in weak:
            if cell in covered:
                continue
            pick = smallest_published(c for i in by_cell.get(cell, []) for c in cell_sets[i])
            area = neighbourhood(cell)
            pick = pick or smallest_published(area)
            if pick is None:
                raise StudyPrivacyError(f"Refusing to write study results: suppressed cell {cell} cannot be "
                                        "protected (every related cell is already suppressed or zero).")
            picks.add(pick)
            covered |= area
        if not picks:
            break
        hidden |= picks
    tallies = {aid: {"primary": 0, "complementary": 0} for aid in out}
    for cell in hidden:
        tallies[cell[0]]["primary" if cell in primary else "complementary"] += 1
    for aid, frame in out.items():
        for c in count_columns(*kinds[aid]):
            values = np.array([value[(aid, c, r)] for r in range(len(frame))], dtype="int64")
            mask = np.array([(aid, c, r) in hidden for r in range(len(frame))], dtype=bool)
            frame[c] = np.where(mask, marker(min_cell_count), values).astype("int64")
    return out, tallies


def audit_suppression(tables: Mapping[str, pd.DataFrame], analyses: Sequence[Mapping[str, object]],
                      min_cell_count: int) -> list[str]:
    """Problems of published tables (count cells already suppressed, the marker standing for hidden values): a
    relation of :func:`zip_relations` with exactly one suppressed cell (recoverable by one subtraction), or a
    suppressed cell whose linear-programming bounds over all the relations are narrower than
    ``min_cell_count`` (rcdm.study_bounds)."""
    kinds = _kinds(analyses)
    value = _count_values(tables, kinds)
    hidden = {cell for cell, v in value.items() if v == marker(min_cell_count)}
    relations, _ = zip_relations(tables, analyses)
    problems = []
    for block, terms, _ in relations:
        unknown = [t[:3] for t in terms if t[:3] in hidden]
        if len(unknown) == 1:
            aid, c, r = unknown[0]
            problems.append(f"{aid}.csv line {r + 2}, column {c}: the suppressed value is the only unknown in a "
                            f"sum of {len(terms)} published cells (cohort {block[0]}); it can be recovered by "
                            "subtraction")
    try:
        weak = weak_cells(relations, value, hidden, min_cell_count)
    except ValueError as exc:
        return [*problems, f"the published counts are inconsistent: {exc}"]
    for (aid, c, r), (lo, hi) in weak.items():
        prefix = f"{aid}.csv line {r + 2}, column {c}:"
        if not any(p.startswith(prefix) for p in problems):
            problems.append(f"{prefix} the suppressed value is bounded to [{lo:g}, {hi:g}] by the published cells "
                            f"and the margins they add up to, a range narrower than {min_cell_count}")
    return problems


def quantile_bins(frame: pd.DataFrame, unit_column: str, min_cell_count: int) -> pd.DataFrame:
    """Set the quantile columns of each cohort's ``(all)`` row of a (suppressed) distribution table.

    A quantile is the label of the fixed bin where the running count of ``unit_column`` over the bins first
    reaches the quantile's share (OHDSI Achilles' rule, on bins instead of values). It is published only when
    the cohort has at least ``min_cell_count`` persons, no bin of the cohort is suppressed (so the quantile is a
    function of published bins and tells nothing about a suppressed cell) and the bin holding it has at least
    ``min_cell_count`` persons; otherwise the quantiles are empty and ``quantiles_suppressed`` is 1.
    """
    out = frame.copy()
    for q in QUANTILE_COLUMNS:
        out[q] = None
    out[QUANTILES_SUPPRESSED] = 0
    for cohort in dict.fromkeys(out["cohort_definition_id"]):
        rows = out[out["cohort_definition_id"] == cohort]
        summary = rows.index[rows["bin_index"].astype(int) == 0]
        bins = rows[rows["bin_index"].astype(int) > 0].sort_values("bin_index", key=lambda s: s.astype(int))
        if len(summary) != 1:
            continue
        persons = int(out.loc[summary[0], "persons"])
        units = bins[unit_column].astype(int).to_numpy()
        labels = {}
        if persons >= min_cell_count and (units >= 0).all() and (bins["persons"].astype(int) >= 0).all() \
                and units.sum() > 0:
            running = np.cumsum(units)
            for q, share in QUANTILES.items():
                position = int(np.argmax(running >= share * units.sum() - 1e-9))
                if int(bins["persons"].iloc[position]) < min_cell_count:
                    labels = {}
                    break
                labels[q] = str(bins["bin"].iloc[position])
        if labels:
            for q, label in labels.items():
                out.at[summary[0], q] = label
        else:
            out.at[summary[0], QUANTILES_SUPPRESSED] = int(persons != 0)
    return out


# --------------------------------------------------------------------------------------------------------------
# The final scan


_DATE = re.compile(rb"(?<!\d)(1[89]|2\d)\d\d[-/.](0[1-9]|1[0-2])[-/.](0[1-9]|[12]\d|3[01])(?!\d)")
_COMPACT_DATE = re.compile(r"^(1[89]|2\d)\d\d(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$")
_BIN_LABEL = re.compile(r"^(\(all\)|[\[(](-inf|-?\d+(\.\d+)?(e[-+]?\d+)?),\s?(inf|-?\d+(\.\d+)?(e[-+]?\d+)?)\))$")
_FORBIDDEN_NAMES = re.compile(r"person|subject|_date|datetime|file_path|source_value|_uid|note|patient|"
                              r"occurrence_id|image_id|series_id|visit", re.I)
MAX_ROWS = 20_000
"""The most rows a published table may have (bounds the audit's work on a hostile zip)."""
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
        return None if kind in (YEAR, NUMBER, QUANTILE) else "is empty"
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
    if kind in (BIN_LABEL, QUANTILE):
        return None if _BIN_LABEL.match(text) and text != "(all)" or kind == BIN_LABEL and text == "(all)" \
            else "is not a bin label"
    if kind == FLAG:
        return None if text in ("0", "1") else "is not a 0/1 flag"
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
    if len(frame) > MAX_ROWS:
        return [f"{name}: {len(frame)} rows, more than a study table can have ({MAX_ROWS})"]
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
    if QUANTILES_SUPPRESSED in header and not problems:
        for row, (flag, *quantiles) in enumerate(frame[[QUANTILES_SUPPRESSED, *[q for q in QUANTILE_COLUMNS
                                                                                 if q in header]]].itertuples(
                index=False), start=2):
            if flag == "1" and any(quantiles):
                problems.append(f"{name} line {row}: quantiles_suppressed is 1 but a quantile is published")
    return problems


def _quantile_problems(name: str, table: pd.DataFrame, analysis_type: str, min_cell_count: int) -> list[str]:
    """Quantiles that are not exactly what :func:`quantile_bins` derives from the published bins."""
    unit = "images" if analysis_type == "distribution" else "persons"
    expected = quantile_bins(table, unit, min_cell_count)
    problems = []
    for row in range(len(table)):
        for column in (*QUANTILE_COLUMNS, QUANTILES_SUPPRESSED):
            want = expected[column].iloc[row]
            want = "" if want is None else str(want)
            if table[column].iloc[row] != want:
                problems.append(f"{name} line {row + 2}, column {column}: {table[column].iloc[row]!r} is not the "
                                f"quantile rule's {want!r} (quantiles are published only as published bins)")
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
    if not problems:
        tables = {str(entry.get("id")): pd.read_csv(io.BytesIO(files[entry["file"]]), dtype=str,
                                                     keep_default_na=False)
                  for entry in manifest.get("analyses", [])}
        for entry in manifest.get("analyses", []):
            if entry.get("type") in ("distribution", "time_to_first_study"):
                problems.extend(_quantile_problems(entry["file"], tables[str(entry["id"])], entry["type"],
                                                   min_cell_count))
        problems.extend(audit_suppression(tables, manifest.get("analyses", []), min_cell_count))
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
    "QUANTILES_SUPPRESSED",
    "StudyPrivacyError",
    "audit_suppression",
    "check_files",
    "check_table",
    "count_columns",
    "marker",
    "suppress",
    "suppress_zip",
    "table_columns",
    "zip_relations",
]
