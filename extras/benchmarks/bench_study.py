"""What the network-study privacy machinery costs: a study run with it, against the same run without it.

    python extras/benchmarks/bench_study.py [--persons 260 2000] [--repeat 2]

For each size, a synthetic DuckDB site (tests/test_study.py's generator: 3 cohorts, rare modalities, planes and
protocols that make small cells) runs the test study (9 analyses). Measured in the same process, alternately:

* baseline: ``run_study`` with suppression reduced to primary suppression and the scan/audit skipped (what a
  study tool without linked complementary suppression would do);
* full: ``run_study`` as shipped (linked complementary suppression with HiGHS bounds, quantile rule, the final
  scan and audit, the release log).

Printed: the median seconds of each, their ratio, the suppressed cells, and the LP solves of the full run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[260, 2000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)

    import numpy as np
    from test_study import ATLAS_SQL, SPEC, load_site, synthetic_site  # the tests' generator and study

    from rcdm import study_bounds, study_privacy
    from rcdm.db import connect
    from rcdm.study import run_study
    from rcdm.study_spec import SiteSettings, load_study

    work = Path(tempfile.mkdtemp(prefix="rcdm-bench-study-"))
    (work / "ct_cohort.sql").write_text(ATLAS_SQL)
    (work / "study.json").write_text(json.dumps(SPEC))
    approve = load_study(work / "study.json").spec_hash
    real_suppress, real_check = study_privacy.suppress_zip, study_privacy.check_files

    def primary_only(tables, analyses, m):
        out = {}
        for aid, frame in tables.items():
            frame = frame.copy()
            for c in [c for c in ("persons", "studies", "images") if c in frame]:
                v = frame[c].astype("int64")
                frame[c] = np.where((v > 0) & (v < m), -m, v)
            out[aid] = frame
        return out, {a["id"]: {"primary": 0, "complementary": 0} for a in analyses}

    solves = {"n": 0}
    real_component = study_bounds._component_bounds

    def counting(relations, component, values, hidden):
        out = real_component(relations, component, values, hidden)
        solves["n"] += 2 * len(out)
        return out

    print(f"{'persons':>8} {'baseline s':>11} {'full s':>8} {'ratio':>6} {'suppressed':>11} {'LP solves':>10}")
    for persons in args.persons:
        db = work / f"site_{persons}.duckdb"
        with connect(db) as conn:
            load_site(conn, "cdm", synthetic_site(1, 7_100_003, persons), cohort_schema="results")
        times = {"baseline": [], "full": []}
        suppressed = 0
        for r in range(args.repeat):
            for mode in ("baseline", "full"):
                if mode == "baseline":
                    study_privacy.suppress_zip, study_privacy.check_files = primary_only, lambda f, m: None
                else:
                    study_privacy.suppress_zip, study_privacy.check_files = real_suppress, real_check
                    study_bounds._component_bounds = counting
                    solves["n"] = 0
                started = time.perf_counter()
                with connect(db) as conn:
                    result = run_study(work / "study.json", conn, "cdm", cohort_database_schema="results",
                                       out=work / f"{mode}_{persons}_{r}.zip", approve_cohort_sql=approve,
                                       site=SiteSettings(audit_log=work / f"log_{mode}_{persons}_{r}.jsonl"))
                times[mode].append(time.perf_counter() - started)
                study_bounds._component_bounds = real_component
                if mode == "full":
                    suppressed = sum(t["primary"] + t["complementary"] for t in result["suppressed"].values())
        study_privacy.suppress_zip, study_privacy.check_files = real_suppress, real_check
        base, full = statistics.median(times["baseline"]), statistics.median(times["full"])
        print(f"{persons:>8} {base:>11.2f} {full:>8.2f} {full / base:>6.2f} {suppressed:>11} {solves['n']:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
