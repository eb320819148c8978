"""A site's log of study releases, and the refusal of a release that could be differenced with an earlier one.

Every zip ``rcdm study run`` writes is recorded, one JSON line each, in the site's audit log (SiteSettings.audit_log):
the spec hash, the time, the effective minimum cell count, and every published count cell keyed by what it counts
(:func:`cell_keys`: cohort, analysis kind, dimensions or variable, category or fixed bin, measure). Two releases
for the same cohort (same database dialect, cohort schema, table and id) publish comparable cells whenever they
count the same thing: with other image criteria, another spec, or the same spec after the data changed. Their
difference counts the persons, studies or images that are in one release and not the other. Before a zip is
written, :func:`differencing_problems` compares the new cells with every earlier release of the same cohort and
refuses the release when any two published counterparts differ by ``0 < d < min_cell_count`` (a missing
category counts as 0). Suppressed cells are not compared (their value is unknown).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from rcdm.errors import StudyReleaseError
from rcdm.study_privacy import DIMENSION_COLUMNS, count_columns


def _text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cell_keys(tables: Mapping[str, pd.DataFrame], analyses: Sequence[Mapping[str, Any]],
              cohort_keys: Mapping[int, str]) -> dict[str, int]:
    """Every published count cell as ``"<cohort key>|<analysis kind>|<category>|<measure>" → value``.

    The analysis kind does not depend on the analysis id or the order of ``by`` (``counts:modality,plane``), so
    the same cell of two specs gets the same key. ``cohort_keys``: cohort id → the cohort's identity at the site.
    """
    cells: dict[str, int] = {}
    for a in analyses:
        frame = tables[a["id"]]
        dims = sorted(a.get("by", a.get("dimensions", ())) or ())
        if a["type"] == "counts":
            kind = "counts:" + ",".join(dims)
            key_columns = [DIMENSION_COLUMNS[d][0] for d in dims]
        elif a["type"] == "totals":
            kind, key_columns = "totals", []
        else:
            kind = f"{a['type']}:{a.get('variable', '')}"
            key_columns = ["bin_index"]
        for row in frame.to_dict("records"):
            cohort = cohort_keys.get(int(row["cohort_definition_id"]))
            if cohort is None:
                continue
            category = ",".join(_text(row[c]) for c in key_columns)
            for measure in count_columns(a["type"], a.get("by", a.get("dimensions", ()))):
                cells[f"{cohort}|{kind}|{category}|{measure}"] = int(row[measure])
    return cells


def read_log(path: Path) -> list[dict[str, Any]]:
    """The releases recorded in ``path`` (none if it does not exist); a damaged log is an error, not ignored."""
    if not path.exists():
        return []
    releases = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict) or not isinstance(entry.get("cells"), dict):
                    raise ValueError("not a release record")
            except ValueError as exc:
                raise StudyReleaseError(f"The site's study audit log {path} is damaged at line {number} ({exc}); "
                                        "fix or move it: rcdm will not release results without it.") from None
            releases.append(entry)
    return releases


def differencing_problems(releases: Iterable[Mapping[str, Any]], cells: Mapping[str, int],
                          min_cell_count: int) -> list[str]:
    """Published cells of the new release that differ from an earlier release's by ``0 < d < min_cell_count``."""
    problems = []
    new_kinds: dict[str, set[str]] = {}
    for key in cells:
        cohort, kind, _, _ = key.split("|", 3)
        new_kinds.setdefault(f"{cohort}|{kind}", set()).add(key)
    for release in releases:
        old = release["cells"]
        old_kinds: dict[str, set[str]] = {}
        for key in old:
            cohort, kind, _, _ = key.split("|", 3)
            old_kinds.setdefault(f"{cohort}|{kind}", set()).add(key)
        for prefix in sorted(set(new_kinds) & set(old_kinds)):
            for key in sorted(new_kinds[prefix] | old_kinds[prefix]):
                a, b = int(cells.get(key, 0)), int(old.get(key, 0))
                if a < 0 or b < 0:
                    continue
                if 0 < abs(a - b) < min_cell_count:
                    problems.append(f"{key}: {a} now, {b} in the release of {release.get('time')} (spec "
                                    f"{str(release.get('spec_hash'))[:12]}): the difference, {abs(a - b)}, is "
                                    f"below {min_cell_count}")
    return sorted(problems, key=lambda p: ("|totals|" not in p, p))


def check_release(path: Path, cells: Mapping[str, int], min_cell_count: int) -> None:
    """Raise StudyReleaseError if ``cells`` could be differenced with a release in the log at ``path``."""
    problems = differencing_problems(read_log(path), cells, min_cell_count)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise StudyReleaseError(
            f"Refusing to release: {len(problems)} cell(s) could be differenced with an earlier release of the "
            f"same cohort (site audit log {path}):\n  {shown}{more}\nSubtracting the two releases would publish a "
            "group smaller than the minimum cell count. Release the earlier results again, or wait until the "
            "difference is large enough.")


@contextlib.contextmanager
def release_lock(path: Path):
    """Hold an exclusive lock on ``<log>.lock`` while a release is checked, written and recorded, so that two
    runs at the same site cannot both pass the check against a log that neither has written yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the check still runs
            fcntl = None
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def record_release(path: Path, spec_hash: str, site_name: str, min_cell_count: int, out: str,
                   cells: Mapping[str, int]) -> dict[str, Any]:
    """Append one release to the log (created with mode 0600, in a folder created if needed)."""
    entry = {"time": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
             "spec_hash": spec_hash, "site_name": site_name, "min_cell_count": min_cell_count,
             "zip": os.path.basename(out), "cells": dict(cells)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n")
    return entry


__all__ = ["StudyReleaseError", "cell_keys", "check_release", "differencing_problems", "read_log",
           "record_release", "release_lock"]
