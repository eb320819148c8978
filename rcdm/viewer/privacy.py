"""What an ``aggregate`` viewer user may see: counts with small-cell suppression, and CSV cells that no
spreadsheet runs as formulas.

Roles: ``aggregate`` (the default, also for accounts written before roles existed) sees the overview, protocols
and combinations pages with every count below the site's minimum cell count hidden, and no search, study list or
manifest. ``analyst`` sees everything, including row-level search results and manifests.

Suppression works per published table (``suppress_rows``): a row whose count of studies (the unit closest to
persons) is between 1 and ``min_cell - 1`` is hidden whole (all its counts become None, ``suppressed`` True).
Because a table's total is published as well, hiding one row would give its value by subtraction, so further
rows are hidden, smallest first ("complementary suppression"), until every hidden row's value is uncertain by at
least ``min_cell``: with ``n`` hidden rows of at least 1 each whose sum ``H`` is known, each lies in
``[1, H - n + 1]``, so the rule is ``n >= 2`` and ``H - n >= min_cell`` (or every row hidden). Percentages
computed from hidden counts are hidden with them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rcdm.csv_safe import escape_cell

ROLES: tuple[str, ...] = ("aggregate", "analyst")
DEFAULT_ROLE = "aggregate"
"""Least privilege: a user without a role (older users files, or add-user without --role) sees aggregates."""

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make Excel, LibreOffice or Google Sheets read a CSV cell as a formula (OWASP)."""


def csv_safe(value: Any) -> Any:
    """A text cell with a leading ``'`` when it starts like a formula; other values unchanged
    (``rcdm.csv_safe.escape_cell``, the one rule of every CSV rcdm writes)."""
    return escape_cell(value)


def is_small(value: Any, min_cell: int) -> bool:
    return value is not None and 0 < int(value) < min_cell


def suppress_rows(rows: Sequence[Mapping[str, Any]], min_cell: int, key: str = "studies",
                  hide: Iterable[str] = (), additive: str | None = None,
                  groups: Sequence[tuple[str, ...]] = ((),), force: Iterable[int] = ()) -> list[dict[str, Any]]:
    """Copies of ``rows`` with small ``key`` counts hidden, plus complementary rows (see the module docstring).

    ``hide``: the other fields of a hidden row that go with it (its images, percentages, ...). ``additive``: the
    count whose sums are published (default ``key``); ``groups``: the sets of rows whose sums are published,
    each given by the columns the rows share (``()``: the whole table; ``("modality",)``: each modality's
    rows). The rule is applied to every group until no group needs another row hidden. Every row gets
    ``suppressed`` (bool)."""
    out = [dict(r) for r in rows]
    additive = additive or key
    value = lambda i: int(out[i].get(additive) or 0)  # noqa: E731
    hidden = {i for i, r in enumerate(out) if is_small(r.get(key), min_cell)} | set(force)
    changed = bool(hidden)
    while changed:
        changed = False
        for columns in groups:
            buckets: dict[tuple, list[int]] = defaultdict(list)
            for i, row in enumerate(out):
                buckets[tuple(row.get(c) for c in columns)].append(i)
            for members in buckets.values():
                covered = [i for i in members if i in hidden]
                if not covered:
                    continue
                shown = sorted((i for i in members if i not in hidden and value(i)), key=value, reverse=True)
                n, total = len(covered), sum(value(i) for i in covered)
                while shown and (n < 2 or total - n < min_cell):
                    i = shown.pop()  # the smallest row of the group still shown
                    hidden.add(i)
                    n, total, changed = n + 1, total + value(i), True
    fields = (key, *hide)
    for i, row in enumerate(out):
        row["suppressed"] = i in hidden
        if row["suppressed"]:
            for f in fields:
                if f in row:
                    row[f] = None
    return out


def withheld_sums(cells: Mapping[Any, int], hidden: Iterable[Any], sums: Mapping[Any, Iterable[Any]],
                  min_cell: int) -> set[Any]:
    """Which of the published ``sums`` must be withheld so that no hidden cell can be narrowed by subtraction.

    ``cells``: the values of one suppressed table's cells (e.g. images by modality), ``hidden`` the keys it
    hides, ``sums``: every other published number that is a sum over some of those cells, given as the keys it
    covers (a quality row on CT images covers ``{"CT"}``; a table's total covers every key). The table's total
    is known, so the published sums split the hidden cells into parts ("atoms": cells covered by the same sums)
    whose sums are all known. A sum is published only if every atom keeps the rule of ``suppress_rows``
    (``n >= 2`` cells and ``sum - n >= min_cell``); sums are tried in order, the ones that would break an atom
    are returned (withhold them)."""
    hidden = [k for k in hidden if k in cells]
    signature = {k: () for k in hidden}  # which accepted sums cover each hidden cell
    withheld: set[Any] = set()
    for name, covered in sums.items():
        covered = set(covered)
        trial = {k: (*sig, k in covered) for k, sig in signature.items()}
        atoms: dict[tuple, list[Any]] = {}
        for k, sig in trial.items():
            atoms.setdefault(sig, []).append(k)
        safe = len(atoms) <= 1 or all(len(keys) >= 2 and sum(int(cells[k] or 0) for k in keys) - len(keys) >= min_cell
                                      for keys in atoms.values())
        if safe:
            signature = trial
        else:
            withheld.add(name)
    return withheld


def suppress_counts(counts: Mapping[str, Any], min_cell: int) -> dict[str, Any]:
    """A dict of totals (persons, studies, ...) with each small one hidden (None)."""
    return {k: (None if is_small(v, min_cell) else v) for k, v in counts.items()}


_QUALITY_COUNTS = ("rows", "mapped", "unmapped", "mapped_pct", "applicable", "applicable_mapped",
                   "applicable_pct")


def _quality_row(row: Mapping[str, Any], min_cell: int) -> dict[str, Any]:
    """A mapping-quality row: mapped + unmapped = rows (and the same for the applicable rows), so a small
    part hides both parts and the percentage."""
    out = dict(row)
    small = any(is_small(out.get(k), min_cell) for k in ("rows", "mapped", "unmapped", "applicable",
                                                          "applicable_mapped"))
    if not small:
        applicable_unmapped = (out.get("applicable") or 0) - (out.get("applicable_mapped") or 0)
        small = is_small(applicable_unmapped, min_cell)
    out["suppressed"] = small
    if small:
        for k in _QUALITY_COUNTS:
            if k in out:
                out[k] = None
    return out


def _applies_to_modality(row: Mapping[str, Any]) -> str | None:
    """The modality of a quality row that counts one modality's images (``applies_to`` "CT images")."""
    applies_to = row.get("applies_to")
    if not applies_to or applies_to == "all":
        return None
    return str(applies_to).removesuffix(" images")


def hidden_modalities(by_modality: Sequence[Mapping[str, Any]]) -> set[Any]:
    """The modalities a suppressed ``by_modality`` table hides."""
    return {r["modality"] for r in by_modality if r.get("suppressed")}


def overview(data: Mapping[str, Any], min_cell: int) -> dict[str, Any]:
    """The overview as an aggregate user sees it.

    The quality rows that count one modality's images ("CT images") are sums over cells of ``by_modality``:
    they join its suppression group (``withheld_sums``), so a row on a hidden modality is hidden whole (its
    applicable count would be that modality's images, and its mapped count nearly so)."""
    by_modality = suppress_rows(data["by_modality"], min_cell, hide=("images",))
    images = {r["modality"]: r["images"] for r in data["by_modality"]}
    studies = {r["modality"]: r["studies"] for r in data["by_modality"]}
    hidden = hidden_modalities(by_modality)
    quality_sums = {(t, i): {_applies_to_modality(r)} for t, rows in data["quality"].items()
                    for i, r in enumerate(rows) if _applies_to_modality(r) is not None}
    # images and studies are both published per modality: a sum must keep both uncertain
    withheld = withheld_sums(images, hidden, quality_sums, min_cell) | withheld_sums(studies, hidden, quality_sums,
                                                                                        min_cell)
    # files per status are sums of the quarantine rows (status, reason): the quarantine table is linked to them
    files = suppress_rows(data.get("files") or [], min_cell, key="files")
    quality = {}
    for t, rows in data["quality"].items():
        quality[t] = []
        for i, r in enumerate(rows):
            out = _quality_row(r, min_cell)
            if (t, i) in withheld or (_applies_to_modality(r) is not None and _applies_to_modality(r) not in images
                                      and hidden):
                out["suppressed"] = True
                for k in _QUALITY_COUNTS:
                    if k in out:
                        out[k] = None
            quality[t].append(out)
    return {**data,
            "summary": suppress_counts(data["summary"], min_cell),
            "by_year": suppress_rows(data["by_year"], min_cell, hide=("images",)),
            "by_modality": by_modality,
            "quality": quality,
            "files": files,
            "quarantine": suppress_linked(data.get("quarantine") or [], min_cell,
                                          {"status": {r["status"] for r in files if r["suppressed"]}}, key="files")}


def protocols(data: Mapping[str, Any], min_cell: int) -> dict[str, Any]:
    """Protocol concepts and unmapped source values, suppressed together (both parts of one total of studies).
    A hidden unmapped source value loses its text too: free text seen in fewer than ``min_cell`` studies may
    name a person or a rare event."""
    both = [("p", r) for r in data["protocols"]] + [("u", r) for r in data["unmapped"]]
    rows = suppress_rows([r for _, r in both], min_cell, hide=("images", "source_values"))
    concepts = [r for (kind, _), r in zip(both, rows) if kind == "p"]
    unmapped = [{**r, "protocol_source_value": None} if r["suppressed"] else r
                for (kind, _), r in zip(both, rows) if kind == "u"]
    hidden = lambda v: v is None or is_small(v, min_cell)  # noqa: E731
    mapped = data.get("mapped_studies")
    # mapped_studies is the sum of the concept rows: it joins their suppression group (withheld_sums), or a
    # hidden concept and a hidden unmapped value would each follow from it by subtraction
    cells = {i: r["studies"] for i, (_, r) in enumerate(both)}
    split = withheld_sums(cells, [i for i, r in enumerate(rows) if r["suppressed"]],
                          {"mapped": [i for i, (kind, _) in enumerate(both) if kind == "p"]}, min_cell)
    withhold = hidden(mapped) or is_small((data.get("studies") or 0) - mapped, min_cell) or bool(split)
    return {**data, "protocols": concepts, "unmapped": unmapped,
            "studies": None if hidden(data.get("studies")) else data.get("studies"),
            "mapped_studies": None if withhold else mapped,
            "mapped_pct": None if withhold else data.get("mapped_pct")}


COMBINATION_GROUPS: tuple[tuple[str, ...], ...] = ((), ("protocol_concept_id",), ("modality",))
"""Sums of combination images published elsewhere: all images (overview), per protocol concept (protocols page),
per modality (overview, by study modality: nearly the same)."""


def hidden_protocols(protocol_view: Mapping[str, Any]) -> set[Any]:
    """The protocol keys of combinations whose totals a suppressed protocols page hides: hidden concept ids, and
    0 and None (unmapped) when any unmapped source value is hidden."""
    keys = {r["protocol_concept_id"] for r in protocol_view.get("protocols", []) if r.get("suppressed")}
    if any(r.get("suppressed") for r in protocol_view.get("unmapped", [])):
        keys |= {0, None}
    return keys


def suppress_linked(rows: Sequence[Mapping[str, Any]], min_cell: int, links: Mapping[str, Iterable[Any]],
                    key: str = "studies", hide: Iterable[str] = (), additive: str | None = None,
                    ) -> list[dict[str, Any]]:
    """``suppress_rows`` for a table whose rows break down the cells of other tables: ``links`` maps a column
    (``modality``) to the values another table hides (its hidden modalities). The rows of each value are a
    group (their sum is that table's cell); the rows of the hidden values together are one group (their sum
    alone is known: that table's hidden total minus the shown rows); and each hidden value keeps at least one
    hidden row (its smallest), or its shown rows would add up to the cell the other table hides."""
    links = {c: set(v) for c, v in links.items()}
    marked = [{**r, **{f"_{c}": "hidden" if r.get(c) in hidden else ("v", r.get(c)) for c, hidden in links.items()}}
              for r in rows]
    additive = additive or key
    force: set[int] = set()
    for column, hidden in links.items():
        for value in hidden:
            members = [i for i, r in enumerate(rows) if r.get(column) == value]
            if members:
                force.add(min(members, key=lambda i: (int(rows[i].get(additive) or 0), i)))
    out = suppress_rows(marked, min_cell, key=key, hide=hide, additive=additive,
                        groups=((), *((f"_{c}",) for c in links)), force=force)
    for r in out:
        for c in links:
            del r[f"_{c}"]
    return out


def combinations(rows: Sequence[Mapping[str, Any]], min_cell: int, hidden_modalities: Iterable[Any] = (),
                 hidden_protocols: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """Combination rows with small study counts hidden (with their series and images). A study spans several
    combinations, so the sums that hold are those of images: complementary rows are chosen on images, in the
    whole table and within each protocol concept and each modality (``COMBINATION_GROUPS``), linked
    (``suppress_linked``) to the modalities and protocols the overview and the protocols page hide
    (``hidden_modalities``, ``hidden_protocols``)."""
    return suppress_linked(rows, min_cell, {"protocol_concept_id": hidden_protocols, "modality": hidden_modalities},
                           hide=("series", "images"), additive="images")


__all__ = ["DEFAULT_ROLE", "FORMULA_LEADS", "ROLES", "combinations", "csv_safe", "hidden_modalities",
           "hidden_protocols", "is_small", "overview", "protocols", "suppress_counts", "suppress_linked",
           "suppress_rows", "withheld_sums"]
