"""Translation speed: rcdm.sql.translate against duckcdm (a pure-Python port of SqlRender), in the same run.

Two measures (issue 17): (1) the mean time to translate an ordinary ATLAS cohort (extras/cohorts/*.sql, rendered),
per target; (2) one large cohort SQL of the PhenotypeLibrary kind, as ATLAS writes it: one SELECT ... INTO #qualified_events over
N UNION ALL branches (default 1,150 branches, 3.5 MB), each a domain criteria (condition, drug, procedure,
measurement, in turn) with a person join, an observation-period window and three correlated criteria. Caches are cleared before every
translation, so each figure is a cold translation.

    python extras/benchmarks/bench_translate.py [--branches 1150] [--dialects postgresql,spark] [--duckcdm-big postgresql]
                                                [--repeat 3]

Both wall-clock and CPU seconds are printed: on a machine shared with other jobs the wall clock varies 2-4x between
runs, CPU time much less; the ratio to duckcdm is taken on CPU time, measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rcdm.sql import list_supported_dialects, render

translate_module = importlib.import_module("rcdm.sql.translate")  # the module (rcdm.sql.translate is the function)

REPO = Path(__file__).resolve().parents[2]
DOMAINS = (
    ("CONDITION_OCCURRENCE", "co", "condition", "condition_occurrence_id", "condition_start_date", "condition_end_date", "condition_concept_id", "condition_type_concept_id"),
    ("DRUG_EXPOSURE", "de", "drug", "drug_exposure_id", "drug_exposure_start_date", "drug_exposure_end_date", "drug_concept_id", "drug_type_concept_id"),
    ("PROCEDURE_OCCURRENCE", "po", "procedure", "procedure_occurrence_id", "procedure_date", "procedure_date", "procedure_concept_id", "procedure_type_concept_id"),
    ("MEASUREMENT", "m", "measurement", "measurement_id", "measurement_date", "measurement_date", "measurement_concept_id", "measurement_type_concept_id"),
)
BRANCH = """-- Begin {label} Criteria (codeset {i})
SELECT C.person_id, C.{id} as event_id, C.{start} as start_date, COALESCE(C.{end}, DATEADD(day,1,C.{start})) as end_date,
  C.visit_occurrence_id, C.{start} as sort_date
FROM
(
  SELECT {a}.* , row_number() over (PARTITION BY {a}.person_id ORDER BY {a}.{start}, {a}.{id}) as ordinal
  FROM cdm.{table} {a}
  JOIN #Codesets cs on ({a}.{concept} = cs.concept_id and cs.codeset_id = {i})
) C
JOIN cdm.PERSON P on C.person_id = P.person_id
JOIN cdm.observation_period OP on C.person_id = OP.person_id and C.{start} >= OP.observation_period_start_date and C.{start} <= OP.observation_period_end_date
WHERE C.ordinal = 1 AND YEAR(C.{start}) - P.year_of_birth >= {age}
  AND C.{start} >= '20000101' AND DATEADD(day,-365,C.{start}) >= OP.observation_period_start_date
  AND C.{type} NOT IN (38000245, 38000246, 38000247, 38000248, 38000249, 38000250, 38000251)
  AND P.gender_concept_id in (8507, 8532)
  AND C.person_id IN (
    -- Begin Correlated Criteria: at least 1 visit in the 180 days before
    SELECT A.person_id FROM (
      SELECT V.person_id, V.visit_occurrence_id, V.visit_start_date, V.visit_end_date,
        row_number() over (PARTITION BY V.person_id ORDER BY V.visit_start_date, V.visit_occurrence_id) as ordinal
      FROM cdm.VISIT_OCCURRENCE V
      JOIN #Codesets vcs on (V.visit_concept_id = vcs.concept_id and vcs.codeset_id = {j})
      WHERE V.visit_type_concept_id NOT IN (44818517, 44818518) AND DATEDIFF(day, V.visit_start_date, V.visit_end_date) >= 0
    ) A
    WHERE A.visit_start_date >= DATEADD(day,-180,C.{start}) AND A.visit_start_date <= DATEADD(day,0,C.{start})
    GROUP BY A.person_id
    HAVING COUNT(DISTINCT A.visit_occurrence_id) >= 1
    -- End Correlated Criteria
  )
  AND NOT EXISTS (
    SELECT 1 FROM cdm.DEATH D
    WHERE D.person_id = C.person_id AND D.death_date >= C.{start}
      AND D.death_date <= DATEADD(day,{window},C.{start}) AND ISNULL(D.cause_concept_id, 0) <> {i}
  )
  AND EXISTS (
    -- Begin Correlated Criteria: a latest observation outside the exclusion codeset within 365 days before
    SELECT 1 FROM (
      SELECT O.person_id, O.observation_date, O.value_as_number,
        CASE WHEN O.value_as_number IS NULL THEN 0 WHEN O.value_as_number < {age} THEN 1 ELSE 2 END as band,
        row_number() over (PARTITION BY O.person_id ORDER BY O.observation_date DESC) as recency
      FROM cdm.OBSERVATION O
      LEFT JOIN #Codesets ocs on (O.observation_concept_id = ocs.concept_id and ocs.codeset_id = {k})
      WHERE ocs.concept_id IS NULL AND O.observation_date <= C.{start}
    ) B
    WHERE B.person_id = C.person_id AND B.recency = 1 AND B.band IN (0, 1)
      AND DATEDIFF(day, B.observation_date, C.{start}) BETWEEN 0 AND 365
    -- End Correlated Criteria
  )
-- End {label} Criteria
"""


def big_cohort(branches: int) -> str:
    parts = []
    for i in range(branches):
        table, a, label, id_, start, end, concept, type_ = DOMAINS[i % len(DOMAINS)]
        parts.append(BRANCH.format(i=i, j=i + 10000, k=i + 20000, age=18 + i % 50, window=30 + i % 335, table=table, a=a,
                                   label=label.title(), id=id_, start=start, end=end, concept=concept, type=type_))
    union = "\nUNION ALL\n".join(parts)
    return (
        "SELECT event_id, person_id, start_date, end_date, visit_occurrence_id, sort_date\n"
        f"INTO #qualified_events\nFROM\n(\n{union}\n) Q;"
    )


def ordinary_cohorts() -> list[str]:
    parameters = dict(cdm_database_schema="cdm", vocabulary_database_schema="cdm", target_database_schema="results",
                      target_cohort_table="cohort", target_cohort_id="1")
    return [render(p.read_text(), parameters=parameters) for p in sorted((REPO / "extras" / "cohorts").glob("*.sql"))]


@dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU seconds of one translation (CPU time varies less on a machine shared with other jobs)."""

    wall: float
    cpu: float


def _timed(translate: Callable[[], object]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    translate()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def ours(sql: str, dialect: str) -> Timing:
    """rcdm's translation, its statement cache cleared first (a cold translation)."""
    translate_module._translate_statement.cache_clear()
    return _timed(lambda: translate_module.translate(sql, dialect, temp_emulation_schema="scratch"))


def theirs(sql: str, dialect: str) -> Timing:
    """duckcdm's (SqlRender's port) translation."""
    from duckcdm import sqlrender  # a test-only dependency: the benchmark needs it, rcdm does not

    return _timed(lambda: sqlrender.translate(sql, dialect, temp_emulation_schema="scratch"))


def _best(runs: list[Timing]) -> Timing:
    return Timing(min(r.wall for r in runs), min(r.cpu for r in runs))


def _mean(timings: list[Timing]) -> Timing:
    return Timing(statistics.mean(t.wall for t in timings), statistics.mean(t.cpu for t in timings))


def _show(timing: Timing, width: int = 6, digits: int = 3) -> str:
    return f"{timing.wall:{width}.{digits}f} / {timing.cpu:{width}.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--branches", type=int, default=1150)
    parser.add_argument("--dialects", default=",".join(list_supported_dialects()), help="default: all 10 targets")
    parser.add_argument("--duckcdm-big", default=None,
                        help="targets on which duckcdm also translates the big cohort (default: all of --dialects; "
                             "it takes minutes each)")
    parser.add_argument("--repeat", type=int, default=3, help="ordinary cohorts: best of this many runs")
    args = parser.parse_args()
    dialects = args.dialects.split(",")
    duckcdm_big = set(dialects if args.duckcdm_big is None else args.duckcdm_big.split(","))
    cohorts = ordinary_cohorts()
    big = big_cohort(args.branches)
    load = os.getloadavg()[0]
    print(f"big cohort: {len(big) / 1e6:.2f} MB, {big.count('UNION ALL')} UNION ALL; {len(cohorts)} ordinary cohorts; "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the start")
    print("seconds, wall / CPU; x = duckcdm's time over rcdm's (CPU)")
    big_label = f"{len(big) / 1e6:.1f} MB cohort: rcdm"
    print(f"{'target':11} | {'ordinary mean: rcdm':>20} | {'duckcdm':>15} | {'x':>5} | {big_label:>20} | "
          f"{'duckcdm':>15} | {'x':>5}")
    for dialect in dialects:
        mine = _mean([_best([ours(c, dialect) for _ in range(args.repeat)]) for c in cohorts])
        other = _mean([_best([theirs(c, dialect) for _ in range(args.repeat)]) for c in cohorts])
        big_mine = ours(big, dialect)
        row = (f"{dialect:11} | {_show(mine, 9):>20} | {_show(other):>15} | {other.cpu / mine.cpu:5.1f} | "
               f"{_show(big_mine, 9, 2):>20} | ")
        if dialect in duckcdm_big:
            big_other = theirs(big, dialect)
            row += f"{_show(big_other, 6, 1):>15} | {big_other.cpu / big_mine.cpu:5.1f}"
        else:
            row += f"{'-':>15} | {'-':>5}"
        print(row, flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
