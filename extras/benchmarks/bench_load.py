"""Load throughput of the ETL's load step against a raw bulk insert of the same rows, in the same run.

For DuckDB (a file) and PostgreSQL (``--postgres URL``, or a throw-away server started like the tests do), it
makes N synthetic staged image rows (studies of ~60 images in series of ~20; the shape ``rcdm.etl.transform``
stages) and measures, each on a fresh schema:

* ``etl``: ``rcdm.etl.load.load_batch`` per batch (one transaction: key work table, duplicate/study
  lookups and decisions, bulk insert of images, new studies and rcdm_etl_file rows), as ``run_etl`` calls it
  (inside ``load_settings``) on a fresh schema (``replace_files=False``); then ``finalize`` once (study
  counts, series numbering), timed apart;
* ``raw``: the same rows straight into ``radiology_image`` through the driver's own bulk path (DuckDB: an
  Arrow view + INSERT ... SELECT; PostgreSQL: COPY FROM STDIN, CSV written by Arrow), one commit;
* ``raw+files``: the same, plus the ``rcdm_etl_file`` row of each file (what any resumable ETL must also
  write), one commit.

Prints rows/s of both, the ratio raw/etl of the batch part (target: within 2x), the finalize time, the ratio
with the finalize included, and the peak Python heap (tracemalloc, in a separate untimed pass) of the batches. Usage:

    python extras/benchmarks/bench_load.py --rows 200000 --batch-size 5000 [--postgres URL | --no-postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from rcdm.db import connect, execute_sql, insert_table, transaction  # noqa: E402
from rcdm.ddl import create_tables  # noqa: E402
from rcdm.etl.load import create_work_tables, finalize, load_batch, load_settings  # noqa: E402
from rcdm.etl.transform import STAGE_SCHEMA, file_key  # noqa: E402

IMAGE_COLUMNS = ("radiology_image_id", "radiology_occurrence_id", "radiology_series_id", "file_path",
                 "body_part_source_value", "laterality_concept_id", "laterality_source_value",
                 "anatomical_plane_concept_id", "anatomical_plane_source_value", "series_type_concept_id",
                 "series_type_source_value", "image_resolution_rows", "image_resolution_columns",
                 "ct_slice_thickness", "modality", "instance_number", "radiology_series_source_value",
                 "radiology_image_source_value")


SECRET = b"bench-load-secret-0123456789abcdef"
"""A fixed site secret: file keys are keyed hashes of the path (``rcdm.etl.transform.file_key``)."""


def make_batch(start: int, n: int) -> pa.Table:
    """n staged rows: image i belongs to series i // 20 and study i // 60."""
    cols: dict[str, list] = {name: [] for name in STAGE_SCHEMA.names}
    for seq, i in enumerate(range(start, start + n)):
        path = f"archive/{i // 60:07d}/{i // 20:08d}/{i:09d}.dcm"
        values = {
            "seq": seq, "file_key": file_key(path, SECRET), "file_path": path, "file_size": 524288, "file_mtime_ns": i,
            "status": "loaded", "reason": None, "patient_key": "p" * 64, "person_id": 1 + i // 600,
            "radiology_image_id": 10_000_000 + i, "radiology_occurrence_id": 1_000_000 + i // 60,
            "radiology_series_id": 5_000_000 + i // 20, "body_part_source_value": "HEAD",
            "laterality_concept_id": None, "laterality_source_value": None,
            "anatomical_plane_concept_id": "RID10579", "anatomical_plane_source_value": "axial",
            "series_type_concept_id": "RID28833", "series_type_source_value": "pre:series_description",
            "image_resolution_rows": 512, "image_resolution_columns": 512, "ct_slice_thickness": 5.0,
            "modality": "CT", "instance_number": 1 + i % 20, "radiology_series_source_value": f"{i // 20:064x}",
            "radiology_image_source_value": f"{i:064x}", "radiology_occurrence_source_value": f"{i // 60:064x}",
            "study_date": dt.date(2020, 1, 1) + dt.timedelta(days=i // 6000),
            "study_datetime": dt.datetime(2020, 1, 1, 8, 0), "manufacturer": "GE MEDICAL SYSTEMS",
            "protocol_source_value": "CT|HEAD|CT HEAD|AXIAL|CT HEAD", "invalid_dates": 0,
        }
        for name in STAGE_SCHEMA.names:
            cols[name].append(values[name])
    return pa.table(cols, schema=STAGE_SCHEMA)


def _file_rows(whole: pa.Table) -> pa.Table:
    n = whole.num_rows
    return whole.select(["file_key", "file_path", "file_size", "file_mtime_ns", "status", "reason",
                         "radiology_image_id"]) \
        .append_column("run_id", pa.array([1] * n, pa.int64())) \
        .append_column("processed_at", pa.array([dt.datetime(2024, 1, 1)] * n, pa.timestamp("us")))


def _peak_heap(url: str, batches: list[pa.Table]) -> float:
    """Peak Python heap (MB, tracemalloc) of loading the batches once more into a fresh schema (not timed:
    tracemalloc slows Python down several-fold)."""
    with connect(url) as conn:
        schema = f"bench_mem_{uuid.uuid4().hex[:6]}"
        create_tables(conn, schema, model="rcdm")
        create_tables(conn, schema, model="etl")
        create_work_tables(conn, schema)
        tracemalloc.start()
        try:
            for batch in batches:
                load_batch(conn, schema, batch, run_id=1, replace_files=False)
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()
            if conn.dialect == "postgresql":
                execute_sql(conn, f"DROP SCHEMA {schema} CASCADE;")


def bench(label: str, url: str, rows: int, batch_size: int, drop_schema: bool) -> dict:
    batches = [make_batch(start, min(batch_size, rows - start)) for start in range(0, rows, batch_size)]
    results: dict = {}
    with connect(url) as conn:
        for kind in ("raw", "raw_files", "etl"):
            schema = f"bench_{kind}_{uuid.uuid4().hex[:6]}"
            create_tables(conn, schema, model="rcdm")
            create_tables(conn, schema, model="etl")
            create_work_tables(conn, schema)
            started = time.perf_counter()
            if kind == "etl":
                with load_settings(conn):  # as run_etl loads
                    for batch in batches:
                        load_batch(conn, schema, batch, run_id=1, replace_files=False)
                    seconds = time.perf_counter() - started
                    done = finalize(conn, schema)
                results["finalize_s"] = done.seconds
                results["etl_total"] = rows / (seconds + done.seconds)
            else:
                whole = pa.concat_tables(batches)
                with transaction(conn):  # the driver's bulk path, one commit
                    insert_table(conn, schema, "radiology_image", whole.select(list(IMAGE_COLUMNS)))
                    if kind == "raw_files":  # and the ETL's bookkeeping rows, as a lower bound of any ETL
                        insert_table(conn, schema, "rcdm_etl_file", _file_rows(whole))
                seconds = time.perf_counter() - started
            results[kind] = rows / seconds
            if drop_schema:
                execute_sql(conn, f"DROP SCHEMA {schema} CASCADE;")
    results["peak_mb"] = _peak_heap(url, batches)
    ratio = results["raw"] / results["etl"]
    total = results["raw"] / results["etl_total"]
    files = results["raw_files"] / results["etl"]
    print(f"{label:<11} rows {rows:>8}  batch {batch_size:>6}  raw {results['raw']:>9,.0f} rows/s  "
          f"raw+files {results['raw_files']:>9,.0f}  etl {results['etl']:>9,.0f} rows/s  raw/etl {ratio:5.2f}x  "
          f"(raw+files)/etl {files:5.2f}x  finalize {results['finalize_s']:5.2f} s  raw/(etl+finalize) "
          f"{total:5.2f}x  py heap {results['peak_mb']:5.1f} MB", flush=True)
    return {**results, "ratio": ratio, "ratio_with_finalize": total, "ratio_files": files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, action="append", default=None,
                        help="rows per ETL batch (repeat to compare several; default 500 and 5000)")
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL (default: start a throw-away server)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    sizes = args.batch_size or [500, 5000]
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            bench("duckdb", str(Path(tmp) / f"bench{size}.duckdb"), args.rows, size, drop_schema=False)
    if args.no_postgres:
        return
    server = None
    url = args.postgres
    if url is None:
        from pg_server import start_server

        server = start_server()
        url = server.url
    try:
        for size in sizes:
            bench("postgresql", url, args.rows, size, drop_schema=True)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
