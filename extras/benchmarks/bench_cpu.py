"""Pure-CPU timings that tests must not assert: protocol matching and SQL translation, cold and cached.

Moved out of the test suite (a busy machine made wall-clock assertions fail). Prints:

* protocol matcher: studies/s on a fresh matcher (each study description made unique, so nothing is cached)
  and on repeated studies (served by the matcher's cache), on the labelled study set;
* translator: a 15-statement OHDSI script translated to DuckDB cold (statement cache cleared) and again
  (cached), and the ratio cold/cached.

    python extras/benchmarks/bench_cpu.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import csv
import time

from rcdm.protocols import ProtocolMatcher
from rcdm.protocols.vocab_data import fixtures_dir
from rcdm.sql import translate
from rcdm.sql.translate import _translate_statement


def _studies() -> list[dict]:
    """The labelled studies (vocab/fixtures/labelled_studies.tsv) as the matcher takes them."""
    with open(fixtures_dir() / "labelled_studies.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))
    return [{"modality": r["modality"], "body_part": r["body_part"], "study_description": r["study_description"],
             "series_descriptions": [s for s in r["series_descriptions"].split("|") if s],
             "protocol_name": r["protocol_name"], "laterality": r["laterality"], "contrast": r["contrast"] or None,
             "view": None} for r in rows]


def bench_matcher(repeat: int) -> None:
    fix = fixtures_dir()
    matcher = ProtocolMatcher.from_files(playbook=fix / "LoincRsnaRadiologyPlaybook.csv", concepts=fix / "CONCEPT.csv")
    rows = _studies()
    variants = [dict(s, study_description=f"{s['study_description']} {i}") for i in range(10) for s in rows]
    t0 = time.perf_counter()
    for s in variants:
        matcher.match(s)
    cold = len(variants) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(repeat):
        for s in rows:
            matcher.match(s)
    warm = repeat * len(rows) / (time.perf_counter() - t0)
    print(f"protocol matcher: cold {cold:,.0f} studies/s, cached {warm:,.0f} studies/s ({len(rows)} labelled studies)")


def bench_translate(repeat: int) -> None:
    script = ";\n".join(
        f"IF OBJECT_ID('tempdb..#t{i}', 'U') IS NOT NULL DROP TABLE #t{i};\n"
        f"SELECT TOP 5 person_id, DATEADD(day, {i}, d) AS d INTO #t{i} FROM cdm.person WHERE ISNULL(x, 0) = {i}"
        for i in range(15)
    )
    colds, warms = [], []
    for _ in range(max(1, repeat // 4)):
        _translate_statement.cache_clear()
        t0 = time.perf_counter()
        translate(script, "duckdb")
        colds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        translate(script, "duckdb")
        warms.append(time.perf_counter() - t0)
    cold, warm = min(colds), min(warms)
    print(f"translate (15 statements to duckdb): cold {cold * 1000:.1f} ms, cached {warm * 1000:.2f} ms "
          f"(cold/cached {cold / warm:.0f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    bench_matcher(args.repeat)
    bench_translate(args.repeat)


if __name__ == "__main__":
    main()
