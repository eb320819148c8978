"""Time the viewer's page queries on a synthetic DuckDB database with 10 million radiology_image rows.

Usage::

    python extras/benchmarks/bench_viewer.py [--db out/viewer-bench.duckdb] [--images 10000000] [--rebuild]
                                             [--repeat 3]

The generator (``build``) runs inside DuckDB, in SQL, from ``range()``: nothing is generated in Python, so
10 million images take well under a minute. Its shape, chosen to look like a hospital PACS:

* ``images / 50`` persons, ``images / 20`` studies (20 images each: 4 series of 5 images);
* study dates spread over 2008-2023 (``hash(study) % 5840`` days from 2008-01-01);
* study modality: CT 40 %, MR 30 %, CR 15 %, US 10 %, MG 5 % (from ``hash(study) % 100``);
* protocol: one of 40 protocol concepts (ids 40000001-40000040, named in ``cdm.concept``), 8 % of studies
  unmapped (concept 0) with one of 30 free-text source values;
* images: body part from 12 values, plane axial/coronal/sagittal/oblique (10 % given only as the RadLex id,
  10 % missing), contrast phase pre/post (20 % missing), CT slice thickness, resolution; about 2 % of image
  rows have a modality of their own (SR, PR) that differs from the study's.

Then it opens the database as the viewer does (``connect(read_only=True)``) and times each page's queries
through the viewer's own core (``rcdm.viewer.queries``): the first run on a fresh connection ("cold": DuckDB's
buffer pool empty; the OS file cache may be warm) and the best of ``--repeat`` further runs ("warm"). The
viewer also keeps each page's aggregates in memory for ``--cache-seconds`` (default 300), so a page that is
asked again within that time answers without touching the database; the figures below are without that cache.

It first times the pages without summary tables (the viewer aggregating the full tables), then runs
``rcdm viewer build-summary`` (``rcdm.viewer.queries.build_summary``) and times them again, then times whole HTTP
requests through the app (logged in, HTML rendering included).

Figures, 2026-11-25: 10,000,000 radiology_image rows, 500,000 studies, 183,537 persons, 2,000,000 series;
DuckDB 2.0.1, 2 vCPUs (AMD EPYC) shared with other jobs, so expect noise of ±50 %. Build of the database 29 s;
``rcdm viewer build-summary`` 12.9 s (2,197,695 series-attribute rows).

Without summary tables (milliseconds):

| page                         | cold | warm |
|------------------------------|-----:|-----:|
| overview (quality report)    | 5428 | 3445 |
| protocols                    |  164 |  105 |
| combinations                 | 2097 | 1925 |
| search: no filter, page 1    | 1341 |  996 |
| search: CT + CHEST, page 3   |  275 |  234 |
| search: 7 filters            |  162 |   80 |
| search: cohort 1 + CT        |  185 |  182 |
| manifest: 7 filters (CSV)    |  158 |   69 |

With the summary tables (what ``rcdm viewer`` uses when they exist):

| page                         | cold | warm |
|------------------------------|-----:|-----:|
| overview+protocols+combos    |  145 |   49 |
| search: no filter, page 1    |  679 |  292 |
| search: CT + CHEST, page 3   |  234 |  117 |
| search: 7 filters            |  137 |   62 |
| search: cohort 1 + CT        |  108 |   71 |
| manifest: 7 filters (CSV)    |  483 |   68 |

Whole HTTP requests with the summary (cold = first request, nothing in the viewer's memory cache; warm = from it):

| request                                   | cold | warm |
|-------------------------------------------|-----:|-----:|
| /overview                                 |   95 |    2 |
| /protocols                                |    6 |    2 |
| /combinations (500 rows rendered)         |  107 |   39 |
| /search (no filter)                       |  396 |   16 |
| /search?modality=CT&body_part=CHEST&page=3|  120 |   24 |
| /api/search?modality=MR&plane=axial       |  203 |    1 |
| /search/manifest.csv (7 filters)          |  154 |   96 |

So: on a large database, run ``rcdm viewer build-summary`` after each ETL load; the overview's quality report
and the combinations are too slow to compute per request at 10 million images, everything else is not.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

GENERATOR_SQL = """
CREATE TABLE cdm.concept AS
SELECT CAST(40000000 + i AS INTEGER) AS concept_id,
  'Protocol ' || CAST(i AS VARCHAR) || ' (' || CASE i % 5 WHEN 0 THEN 'CT head' WHEN 1 THEN 'MR brain'
    WHEN 2 THEN 'CT chest' WHEN 3 THEN 'XR chest' ELSE 'US abdomen' END || ')' AS concept_name,
  'LOINC' AS domain_id, 'LOINC' AS vocabulary_id, 'Procedure' AS concept_class_id, 'S' AS standard_concept,
  CAST(10000 + i AS VARCHAR) || '-1' AS concept_code, DATE '1970-01-01' AS valid_start_date,
  DATE '2099-12-31' AS valid_end_date, CAST(NULL AS VARCHAR) AS invalid_reason
FROM range(1, 41) t(i);

INSERT INTO cdm.radiology_occurrence
SELECT s AS radiology_occurrence_id,
  hash(s * 7 + 1) % {persons} AS person_id,
  DATE '2008-01-01' + CAST(hash(s * 7 + 2) % 5840 AS INTEGER) AS radiology_occurrence_date,
  CAST(DATE '2008-01-01' + CAST(hash(s * 7 + 2) % 5840 AS INTEGER) AS TIMESTAMP)
    + to_seconds(CAST(hash(s * 7 + 3) % 86400 AS BIGINT)) AS radiology_occurrence_datetime,
  CASE WHEN m < 40 THEN 'CT' WHEN m < 70 THEN 'MR' WHEN m < 85 THEN 'CR' WHEN m < 95 THEN 'US' ELSE 'MG' END
    AS modality,
  CASE hash(s * 7 + 4) % 4 WHEN 0 THEN 'SIEMENS' WHEN 1 THEN 'GE MEDICAL SYSTEMS' WHEN 2 THEN 'Philips'
    ELSE 'TOSHIBA' END AS manufacturer,
  CASE WHEN p < 8 THEN 0 ELSE CAST(40000001 + hash(s * 7 + 5) % 40 AS INTEGER) END AS protocol_concept_id,
  CASE WHEN p < 8 THEN 'LOCAL PROTOCOL ' || CAST(hash(s * 7 + 6) % 30 AS VARCHAR)
    ELSE 'PROTOCOL ' || CAST(hash(s * 7 + 5) % 40 AS VARCHAR) END AS protocol_source_value,
  4 AS count_of_series,
  20 AS count_of_images,
  NULL AS radiology_note,
  NULL AS visit_occurrence_id,
  md5(CAST(s AS VARCHAR)) AS radiology_occurrence_source_value
FROM (SELECT s, hash(s * 7) % 100 AS m, hash(s * 7 + 8) % 100 AS p FROM range({studies}) t(s)) q;

INSERT INTO cdm.radiology_image
SELECT i AS radiology_image_id,
  i // 20 AS radiology_occurrence_id,
  i // 5 AS radiology_series_id,
  'archive/' || CAST(i // 20 AS VARCHAR) || '/' || CAST(i // 5 AS VARCHAR) || '/' || CAST(i AS VARCHAR) || '.dcm'
    AS file_path,
  CASE hash(i // 5 + 11) % 12 WHEN 0 THEN 'HEAD' WHEN 1 THEN 'CHEST' WHEN 2 THEN 'ABDOMEN' WHEN 3 THEN 'PELVIS'
    WHEN 4 THEN 'BRAIN' WHEN 5 THEN 'SPINE' WHEN 6 THEN 'KNEE' WHEN 7 THEN 'BREAST' WHEN 8 THEN 'NECK'
    WHEN 9 THEN 'SHOULDER' WHEN 10 THEN 'HAND' ELSE NULL END AS body_part_source_value,
  NULL AS laterality_concept_id,
  NULL AS laterality_source_value,
  CASE WHEN pl < 3 THEN CASE pl WHEN 0 THEN 'RID10579' WHEN 1 THEN 'RID10570' ELSE 'RID10574' END END
    AS anatomical_plane_concept_id,
  CASE WHEN pl < 10 THEN NULL WHEN pl < 55 THEN 'AXIAL' WHEN pl < 75 THEN 'CORONAL' WHEN pl < 95 THEN 'SAGITTAL'
    ELSE 'OBLIQUE' END AS anatomical_plane_source_value,
  CASE WHEN ct < 40 THEN 'RID28833' END AS series_type_concept_id,
  CASE WHEN ct < 20 THEN NULL WHEN ct < 40 THEN 'pre' ELSE 'post' END AS series_type_source_value,
  5 AS series_total_number,
  CAST(i % 5 + 1 AS INTEGER) AS series_serial_number,
  512 AS image_resolution_rows,
  512 AS image_resolution_columns,
  CASE WHEN hash(i // 20 * 7) % 100 < 40 THEN 0.625 * (1 + hash(i // 5 + 13) % 8) END AS ct_slice_thickness,
  CASE WHEN hash(i + 17) % 100 < 2 THEN CASE WHEN i % 2 = 0 THEN 'SR' ELSE 'PR' END
    ELSE CASE WHEN m < 40 THEN 'CT' WHEN m < 70 THEN 'MR' WHEN m < 85 THEN 'CR' WHEN m < 95 THEN 'US' ELSE 'MG' END
    END AS modality,
  CAST(i % 5 + 1 AS INTEGER) AS instance_number,
  md5(CAST(i // 5 AS VARCHAR)) AS radiology_series_source_value,
  md5(CAST(i AS VARCHAR)) AS radiology_image_source_value
FROM (SELECT i, hash(i // 5 + 19) % 100 AS pl, hash(i // 5 + 23) % 100 AS ct, hash(i // 20 * 7) % 100 AS m
      FROM range({images}) t(i)) q;

CREATE TABLE cdm.cohort AS
SELECT 1 AS cohort_definition_id, person_id AS subject_id, DATE '2008-01-01' AS cohort_start_date,
  DATE '2023-12-31' AS cohort_end_date
FROM (SELECT DISTINCT person_id FROM cdm.radiology_occurrence WHERE person_id % 10 = 0) p;
"""


def build(db: Path, images: int) -> None:
    """Create the R-CDM tables (rcdm's DDL, no extra indexes) and fill them with the generator above."""
    from rcdm.db import connect
    from rcdm.ddl import create_tables

    if db.exists():
        db.unlink()
    started = time.perf_counter()
    with connect(db) as conn:
        create_tables(conn, "cdm", "rcdm", indexes=False)
        raw = conn.driver_connection()
        sql = GENERATOR_SQL.format(images=images, studies=images // 20, persons=max(1, images // 50))
        for statement in [s for s in sql.split(";\n") if s.strip()]:
            raw.execute(statement)
        raw.execute("CHECKPOINT")
    print(f"built {db} with {images:,} images in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def page_queries(source: Any) -> dict[str, Callable[[Any], Any]]:
    """Each page's database work, as the viewer does it (rcdm.viewer.queries)."""
    from rcdm.viewer import queries as q

    ct_chest = q.parse_filters({"modality": "CT", "body_part": "chest"})
    narrow = q.parse_filters({"modality": "MR", "body_part": "BRAIN", "plane": "axial", "contrast": "post",
                              "protocol_concept_id": "40000012", "date_from": "2015-01-01",
                              "date_to": "2016-12-31"})
    cohort = q.parse_filters({"cohort_id": "1", "modality": "CT"})
    if source.has_summary:  # what the viewer does with a summary: read the stored aggregates
        pages: dict[str, Callable[[Any], Any]] = {
            "overview+protocols+combos": lambda c: q.read_summary(c, source)}
    else:
        pages = {
            "overview (quality report)": lambda c: q.overview(c, source),
            "protocols": lambda c: q.protocols(c, source),
            "combinations": lambda c: q.combinations(c, source)}
    return {
        **pages,
        "search: no filter, page 1": lambda c: q.search(
            c, source, q.SearchFilters(), totals=q.read_summary(c, source)["search_totals"] if source.has_summary
            else None),
        "search: CT + CHEST, page 3": lambda c: q.search(c, source, ct_chest, page=3),
        "search: 7 filters": lambda c: q.search(c, source, narrow),
        "search: cohort 1 + CT": lambda c: q.search(c, source, cohort),
        "manifest: 7 filters (CSV)": lambda c: q.manifest_csv(q.manifest_frame(c, source, narrow)),
    }


def build_summary(db: Path) -> float:
    from rcdm.db import connect
    from rcdm.viewer.queries import build_summary as build

    started = time.perf_counter()
    with connect(db) as conn:
        result = build(conn, "cdm")
    seconds = time.perf_counter() - started
    print(f"summary built in {seconds:.1f} s ({result['series_rows']:,} series rows)", file=sys.stderr)
    return seconds


def drop_summary(db: Path) -> None:
    from rcdm.db import connect, execute_sql

    with connect(db) as conn:
        for table in ("rcdm_viewer_summary", "rcdm_viewer_series"):
            execute_sql(conn, f"DROP TABLE IF EXISTS cdm.{table};")


def bench(db: Path, repeat: int) -> list[tuple[str, float, float]]:
    from rcdm.db import connect
    from rcdm.viewer.queries import ViewerSource

    with connect(db, read_only=True) as conn:
        source = ViewerSource.detect(conn, "cdm")
    print(f"{'with' if source.has_summary else 'without'} summary tables:", file=sys.stderr)
    rows = []
    for name, run in page_queries(source).items():
        with connect(db, read_only=True) as conn:  # a fresh instance: DuckDB's buffer pool is empty
            started = time.perf_counter()
            run(conn)
            cold = time.perf_counter() - started
            warm = []
            for _ in range(repeat):
                started = time.perf_counter()
                run(conn)
                warm.append(time.perf_counter() - started)
        rows.append((name, cold, min(warm) if warm else float("nan")))
        print(f"  {name}: cold {cold * 1000:.0f} ms, warm {min(warm) * 1000:.0f} ms", file=sys.stderr)
    return rows


def bench_http(db: Path, repeat: int) -> list[tuple[str, float, float]]:
    """Whole HTTP requests through the app (Starlette TestClient, logged in): rendering included. "cold" is the
    first request (nothing in the viewer's memory cache), "warm" the best of the repeats (from its cache)."""
    import tempfile

    from starlette.testclient import TestClient

    from rcdm.db import connect
    from rcdm.viewer import auth
    from rcdm.viewer.app import create_app

    with tempfile.TemporaryDirectory() as folder:
        users = Path(folder) / "users.json"
        auth.add_user("bench", "bench password", users, role="analyst")
        app = create_app(lambda: connect(db, read_only=True), "cdm", users, "bench")
        rows = []
        with TestClient(app, base_url="http://localhost") as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)[1]
            client.post("/login", data={"username": "bench", "password": "bench password", "csrf_token": token})
            for path in ("/overview", "/protocols", "/combinations", "/search",
                         "/search?modality=CT&body_part=CHEST&page=3", "/api/search?modality=MR&plane=axial",
                         "/search/manifest.csv?modality=MR&body_part=BRAIN&plane=axial&contrast=post"
                         "&protocol_concept_id=40000012&date_from=2015-01-01&date_to=2016-12-31"):
                started = time.perf_counter()
                response = client.get(path)
                cold = time.perf_counter() - started
                assert response.status_code == 200, (path, response.status_code)
                warm = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    client.get(path)
                    warm.append(time.perf_counter() - started)
                rows.append((path[:28], cold, min(warm)))
                print(f"  GET {path}: cold {cold * 1000:.0f} ms, warm {min(warm) * 1000:.0f} ms", file=sys.stderr)
        app.state.viewer.pool.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="out/viewer-bench.duckdb", type=Path)
    parser.add_argument("--images", type=int, default=10_000_000)
    parser.add_argument("--rebuild", action="store_true", help="build the database again even if it exists")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-live", action="store_true", help="only time the pages with summary tables")
    args = parser.parse_args(argv)
    args.db.parent.mkdir(parents=True, exist_ok=True)
    if args.rebuild or not args.db.exists():
        build(args.db, args.images)
    from rcdm.db import connect, query_sql

    results = {}
    if not args.skip_live:
        drop_summary(args.db)
        results["without summary"] = bench(args.db, args.repeat)
    summary_seconds = build_summary(args.db)
    results["with summary"] = bench(args.db, args.repeat)
    results["HTTP, with summary (viewer cache: cold = first request)"] = bench_http(args.db, args.repeat)
    with connect(args.db, read_only=True) as conn:
        n = query_sql(conn, "SELECT COUNT(*) AS n FROM cdm.radiology_image;")["n"][0]
    print(f"\nrcdm viewer page queries on DuckDB, {int(n):,} radiology_image rows ({os.cpu_count()} CPUs); "
          f"rcdm viewer build-summary: {summary_seconds:.1f} s\n")
    for title, rows in results.items():
        print(f"{title}:\n")
        print(f"| {'page':<28} | cold (ms) | warm (ms) |")
        print(f"|{'-' * 30}|----------:|----------:|")
        for name, cold, warm in rows:
            print(f"| {name:<28} | {cold * 1000:9.0f} | {warm * 1000:9.0f} |")
        print(f"\nslowest warm: {max(w for _, _, w in rows) * 1000:.0f} ms; "
              f"median warm: {statistics.median(w for _, _, w in rows) * 1000:.0f} ms\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
