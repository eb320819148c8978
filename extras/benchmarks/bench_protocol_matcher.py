"""Protocol matcher speed: studies/s (CPU time) on the labelled evaluation set, for

* ``cold``: every description seen for the first time (a number appended, so no memo hit);
* ``cached``: the same studies again (the memo);
* ``loinc-table``: cold, with the terms read from Loinc.csv instead of the playbook.

    python extras/benchmarks/bench_protocol_matcher.py [--repeat 3]

Prints the best of ``--repeat`` runs and the ratio of each to ``cold`` measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import time

from rcdm.protocols import ProtocolMatcher
from rcdm.protocols.vocab_data import fixtures_dir, vocab_dir


def studies() -> list[dict]:
    with (vocab_dir() / "eval" / "protocol_set.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader((line for line in fh if not line.startswith("#")), delimiter="\t"))
    return [{"modality": r["modality"], "study_description": r["study_description"]} for r in rows]


def rate(matcher: ProtocolMatcher, items: list[dict]) -> float:
    t0 = time.process_time()
    for s in items:
        matcher.match(s)
    return len(items) / max(time.process_time() - t0, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    fix = fixtures_dir()
    base = studies()
    best = {"cold": 0.0, "cached": 0.0, "loinc-table": 0.0}
    for rep in range(args.repeat):
        fresh = [dict(s, study_description=f"{s['study_description']} {rep}") for s in base]
        m = ProtocolMatcher.from_files(playbook=fix / "LoincRsnaRadiologyPlaybook.csv")
        best["cold"] = max(best["cold"], rate(m, fresh))
        best["cached"] = max(best["cached"], rate(m, fresh))
        lt = ProtocolMatcher.from_files(loinc_table=fix / "Loinc.csv")
        best["loinc-table"] = max(best["loinc-table"], rate(lt, fresh))
    for name, r in best.items():
        print(f"{name:12} {r:10,.0f} studies/s  ({r / best['cold']:.2f} x cold)")


if __name__ == "__main__":
    main()
