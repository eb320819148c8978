"""How well an attacker can pin down each suppressed cell of a study zip: linear-programming bounds.

The attacker knows every published count, that a suppressed count is at least 1 (zeros are published) and every
linear relation between the cells of the zip (:func:`rcdm.study_privacy.zip_relations`). Exact relations (images
per category add up to the margin: each image has one value of each dimension) are equalities. Approximate ones
(persons and studies, who can fall in several categories; the persons of a distribution against the cohort's)
get a free slack each; the attacker is assumed to take the most constrained explanation of the published numbers:
the smallest total slack that fits them (zero, i.e. all of them as equalities, whenever that is consistent). For
every suppressed cell, :func:`cell_bounds` then minimises and maximises it with HiGHS
over that set (HiGHS through highspy, one model per connected group of cells, re-solved with a new
objective per cell). The zip may be published only when every suppressed cell's range is at least ``min_cell_count``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence

import highspy
import numpy as np

Cell = tuple[str, str, int]
"""(table id, count column, row) of a count cell."""
Relation = tuple[tuple, Sequence[tuple[str, str, int, int]], bool]
"""(block, terms (table id, column, row, sign): the signed sum of true values is zero, exact)."""


def _components(relations: Sequence[Relation], hidden: set[Cell]) -> list[list[int]]:
    """Groups of relation indices connected through shared suppressed cells (only relations with one)."""
    parent: dict[Cell, Cell] = {}

    def find(c: Cell) -> Cell:
        while parent.setdefault(c, c) != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    useful = []
    for i, (_, terms, _) in enumerate(relations):
        cells = [t[:3] for t in terms if t[:3] in hidden]
        if not cells:
            continue
        useful.append((i, cells[0]))
        for c in cells[1:]:
            parent[find(c)] = find(cells[0])
    groups: dict[Cell, list[int]] = {}
    for i, c in useful:
        groups.setdefault(find(c), []).append(i)
    return list(groups.values())


def _highs() -> object:
    """A silent HiGHS instance (the first one in a process prints a banner on the C stdout: kept off it)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            highs = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    highs.setOptionValue("output_flag", False)
    return highs


def _component_bounds(relations: Sequence[Relation], component: list[int], values: Mapping[Cell, int],
                      hidden: set[Cell]) -> dict[Cell, tuple[float, float]]:
    cells = sorted({t[:3] for i in component for t in relations[i][1] if t[:3] in hidden})
    index = {c: j for j, c in enumerate(cells)}
    approximate = [row for row, i in enumerate(component) if not relations[i][2]]
    n = len(cells) + 2 * len(approximate)
    matrix = np.zeros((len(component), n))
    rhs = np.zeros(len(component))
    for row, i in enumerate(component):
        for aid, column, r, sign in relations[i][1]:
            cell = (aid, column, r)
            if cell in index:
                matrix[row, index[cell]] += sign
            else:
                rhs[row] -= sign * values.get(cell, 0)
    for k, row in enumerate(approximate):
        matrix[row, len(cells) + 2 * k] = 1.0
        matrix[row, len(cells) + 2 * k + 1] = -1.0
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, len(component)
    lp.col_cost_ = np.zeros(n)
    lp.col_lower_ = np.array([1.0] * len(cells) + [0.0] * (n - len(cells)))
    lp.col_upper_ = np.full(n, inf)
    lp.row_lower_ = rhs.copy()
    lp.row_upper_ = rhs.copy()
    columns = [np.flatnonzero(matrix[:, j]) for j in range(n)]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum([len(c) for c in columns])]).astype(np.int32)
    lp.a_matrix_.index_ = np.concatenate(columns).astype(np.int32) if n else np.zeros(0, np.int32)
    lp.a_matrix_.value_ = np.concatenate([matrix[c, j] for j, c in enumerate(columns)]) if n else np.zeros(0)
    highs = _highs()
    highs.passModel(lp)
    optimal = highspy.HighsModelStatus.kOptimal

    def solve(sense: object) -> float | None:
        highs.changeObjectiveSense(sense)
        highs.run()
        status = highs.getModelStatus()
        if status == optimal:
            return float(highs.getInfo().objective_function_value)
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible) \
                and sense == highspy.ObjSense.kMaximize:
            return None
        raise ValueError("the published counts contradict the relations between them")

    if approximate:  # phase 1: the smallest total slack that explains the published counts
        slack = np.arange(len(cells), n, dtype=np.int32)
        highs.changeColsCost(len(slack), slack, np.ones(len(slack)))
        least = solve(highspy.ObjSense.kMinimize)
        highs.changeColsCost(len(slack), slack, np.zeros(len(slack)))
        highs.addRow(-inf, least + 1e-7 + 1e-9 * abs(least), len(slack), slack, np.ones(len(slack)))
    bounds = {}
    for cell, j in index.items():
        highs.changeColCost(j, 1.0)
        lo = solve(highspy.ObjSense.kMinimize)
        hi = solve(highspy.ObjSense.kMaximize)
        highs.changeColCost(j, 0.0)
        bounds[cell] = (lo, math.inf if hi is None else hi)
    return bounds


def cell_bounds(relations: Sequence[Relation], values: Mapping[Cell, int], hidden: set[Cell],
                cache: dict | None = None) -> dict[Cell, tuple[float, float]]:
    """The attacker's lower and upper bound of every suppressed cell (``math.inf`` when unbounded).

    ``values``: the published value of every non-suppressed cell in the relations. A cell in no relation is
    only known to be >= 1. Raises ValueError when the published numbers contradict the exact relations.
    ``cache`` (a dict kept between calls with the same relations and values) skips components whose suppressed
    cells did not change.
    """
    bounds: dict[Cell, tuple[float, float]] = {c: (1.0, math.inf) for c in hidden}
    for component in _components(relations, hidden):
        key = (tuple(component), frozenset(t[:3] for i in component for t in relations[i][1] if t[:3] in hidden))
        found = cache.get(key) if cache is not None else None
        if found is None:
            found = _component_bounds(relations, component, values, hidden)
            if cache is not None:
                cache[key] = found
        bounds.update(found)
    return bounds


def uncertainty(bound: tuple[float, float]) -> float:
    """The width of the integer range within ``bound`` (inf when unbounded)."""
    lo, hi = bound
    if math.isinf(hi):
        return math.inf
    return math.floor(hi + 1e-6) - math.ceil(lo - 1e-6)


def weak_cells(relations: Sequence[Relation], values: Mapping[Cell, int], hidden: Iterable[Cell],
               min_cell_count: int, cache: dict | None = None) -> dict[Cell, tuple[float, float]]:
    """The suppressed cells an attacker can narrow to a range narrower than ``min_cell_count``, with bounds."""
    hidden = set(hidden)
    bounds = cell_bounds(relations, values, hidden, cache)
    return {c: b for c, b in sorted(bounds.items()) if uncertainty(b) < min_cell_count}


__all__ = ["Cell", "Relation", "cell_bounds", "uncertainty", "weak_cells"]
