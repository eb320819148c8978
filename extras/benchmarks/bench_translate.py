"""Translation speed: rcdm.sql.translate against duckcdm (a pure-Python port of SqlRender), in the same run.

Two measures (issue 17): (1) the mean time to translate an ordinary ATLAS cohort (extras/cohorts/*.sql, rendered),
per target; (2) one large cohort SQL of the PhenotypeLibrary kind: a CREATE TABLE AS with N UNION ALL branches
(default 1,150 branches, ~3.5 MB), built here from the GiBleed cohort's criteria. Caches are cleared before every
translation, so each figure is a cold translation.

    python extras/benchmarks/bench_translate.py [--branches 1150] [--dialects postgresql,spark] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BRANCH = """SELECT C.person_id, C.condition_occurrence_id AS event_id, C.condition_start_date AS start_date,
  COALESCE(C.condition_end_date, DATEADD(day, 1, C.condition_start_date)) AS end_date,
  C.visit_occurrence_id, C.condition_start_date AS sort_date
FROM (SELECT co.*, ROW_NUMBER() OVER (PARTITION BY co.person_id ORDER BY co.condition_start_date, co.condition_occurrence_id) AS ordinal
  FROM cdm.condition_occurrence co
  JOIN #Codesets cs ON (co.condition_concept_id = cs.concept_id AND cs.codeset_id = {i})
) C
JOIN cdm.observation_period op ON C.person_id = op.person_id
  AND C.condition_start_date >= op.observation_period_start_date AND C.condition_start_date <= op.observation_period_end_date
WHERE C.ordinal = 1 AND DATEADD(day, -365, C.condition_start_date) >= op.observation_period_start_date
  AND DATEDIFF(day, op.observation_period_start_date, C.condition_start_date) >= {i} % 30
  AND C.condition_type_concept_id NOT IN (38000245, 38000246, 38000247, 38000248, 38000249, 38000250, 38000251)
  AND YEAR(C.condition_start_date) >= 2000 AND C.condition_status_concept_id IN (4230359, 4033240, 4032981)"""


def big_cohort(branches: int) -> str:
    union = "\nUNION ALL\n".join(BRANCH.format(i=i) for i in range(branches))
    return f"CREATE TABLE #qualified_events AS\nSELECT * FROM (\n{union}\n) Q;"


def ordinary_cohorts() -> list[str]:
    from rcdm.sql import render

    parameters = dict(cdm_database_schema="cdm", vocabulary_database_schema="cdm", target_database_schema="results",
                      target_cohort_table="cohort", target_cohort_id="1")
    return [render(p.read_text(), parameters=parameters) for p in sorted((REPO / "extras" / "cohorts").glob("*.sql"))]


def _ours(sql: str, dialect: str) -> float:
    import importlib

    translate_module = importlib.import_module("rcdm.sql.translate")

    translate_module._translate_statement.cache_clear()
    start = time.perf_counter()
    translate_module.translate(sql, dialect, temp_emulation_schema="scratch")
    return time.perf_counter() - start


def _theirs(sql: str, dialect: str) -> float:
    from duckcdm import sqlrender

    start = time.perf_counter()
    sqlrender.translate(sql, dialect, temp_emulation_schema="scratch")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--branches", type=int, default=1150)
    parser.add_argument("--dialects", default="postgresql,spark")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cohorts = ordinary_cohorts()
    big = big_cohort(args.branches)
    print(f"big cohort: {len(big) / 1e6:.2f} MB, {args.branches} UNION ALL branches; {len(cohorts)} ordinary cohorts")
    for dialect in args.dialects.split(","):
        ours = [min(_ours(c, dialect) for _ in range(args.repeat)) for c in cohorts]
        theirs = [min(_theirs(c, dialect) for _ in range(args.repeat)) for c in cohorts]
        print(f"{dialect:11} ordinary cohort mean: rcdm {statistics.mean(ours):.3f} s, duckcdm {statistics.mean(theirs):.3f} s"
              f" ({statistics.mean(theirs) / statistics.mean(ours):.1f}x)")
        b_ours, b_theirs = _ours(big, dialect), _theirs(big, dialect)
        print(f"{dialect:11} big cohort: rcdm {b_ours:.1f} s, duckcdm {b_theirs:.1f} s ({b_theirs / b_ours:.1f}x)")


if __name__ == "__main__":
    main()
