"""Load throughput of the ETL's load step against a raw bulk insert of the same rows, in the same run.

For DuckDB (a file) and PostgreSQL (``--postgres URL``, or a throw-away server started like the tests do), it
makes N synthetic staged image rows in batches of ``--batch-size`` (studies of ~60 images in series of ~20; the
shape ``rcdm.etl.transform`` stages) and measures, each on a fresh schema made by ``create_tables`` (with its
indexes):

* ``etl``: as ``run_etl`` loads: inside ``load_settings`` and ``deferred_indexes`` (the schema is empty, so the
  secondary indexes are dropped and built again after the last batch, inside the clock), the staged batches
  joined into groups of at least ``--commit-rows`` rows (``rcdm.etl.load.group_batches``; default
  ``rcdm.etl.run.COMMIT_ROWS``), one ``rcdm.etl.load.load_batch`` per group (one transaction: key lookups of
  the group's images and studies, decisions, bulk inserts of images, new studies, pending (study, series)
  pairs and ``rcdm_etl_file`` rows), ``replace_files=False`` as on a fresh schema; then ``finalize`` once,
  timed apart;
* ``raw``: the same rows straight into ``radiology_image`` (with its indexes) through the driver's own bulk
  path (DuckDB: an Arrow view + INSERT ... SELECT; PostgreSQL: COPY FROM STDIN, CSV written by Arrow), one
  commit;
* ``raw+files``: the same, plus the ``rcdm_etl_file`` row of each file (what any resumable ETL must also
  write), one commit.

The rows (and the raw inserts' Arrow tables) are made before the clock starts. With ``--repeat R`` the three
are measured R times in turn and each reports its best round. Prints rows/s of each, the ratio raw/etl of the
batch part (target: within 2x), the finalize time, the ratio with the finalize included, and the peak Python
heap (tracemalloc) and Arrow memory the ETL allocates on top of its input (a separate untimed pass; the input
is every staged batch here, one group of ~600 bytes a row in ``run_etl``). Usage:

    python extras/benchmarks/bench_load.py --rows 200000 --batch-size 5000 [--commit-rows 131072]
        [--repeat 3] [--postgres URL | --no-postgres]
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
from rcdm.etl.load import (create_work_tables, deferred_indexes, finalize, group_batches, load_batch,  # noqa: E402
                           load_settings)
from rcdm.etl.run import COMMIT_ROWS  # noqa: E402
from rcdm.etl.transform import STAGE_SCHEMA, file_ids, file_key  # noqa: E402

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
            "header_checksum": 1 + i, "non_text_values": 0,
        }
        for name in STAGE_SCHEMA.names:
            cols[name].append(values[name])
    return pa.table(cols, schema=STAGE_SCHEMA)


def _file_rows(whole: pa.Table) -> pa.Table:
    n = whole.num_rows
    return whole.select(["file_path", "file_size", "file_mtime_ns", "status", "reason", "radiology_image_id"]) \
        .add_column(0, "file_key", file_ids(whole.column("file_key"))) \
        .append_column("run_id", pa.array([1] * n, pa.int64())) \
        .append_column("processed_at", pa.array([dt.datetime(2024, 1, 1)] * n, pa.timestamp("us")))


def _load_etl(conn, schema: str, batches: list[pa.Table], commit_rows: int) -> None:
    """As ``run_etl`` loads: the staged batches joined into groups of ``commit_rows`` rows (``group_batches``),
    one ``load_batch`` (one transaction) per group."""
    for _tags, table in group_batches(((None, batch) for batch in batches), commit_rows):
        load_batch(conn, schema, table, run_id=1, replace_files=False)


def _peak_memory(url: str, batches: list[pa.Table], commit_rows: int) -> tuple[float, float]:
    """Peak Python heap (tracemalloc) and peak Arrow memory allocated (a fresh proxy of the default pool) of
    loading the batches once more into a fresh schema, in MB (not timed: tracemalloc slows Python down)."""
    with connect(url) as conn:
        schema = f"bench_mem_{uuid.uuid4().hex[:6]}"
        create_tables(conn, schema, model="rcdm")
        create_tables(conn, schema, model="etl")
        create_work_tables(conn, schema)
        default = pa.default_memory_pool()
        pool = pa.proxy_memory_pool(default)
        pa.set_memory_pool(pool)
        tracemalloc.start()
        try:
            _load_etl(conn, schema, batches, commit_rows)
            return tracemalloc.get_traced_memory()[1] / 2**20, pool.max_memory() / 2**20
        finally:
            tracemalloc.stop()
            pa.set_memory_pool(default)
            if conn.dialect == "postgresql":
                execute_sql(conn, f"DROP SCHEMA {schema} CASCADE;")


def _measure(conn, kind: str, batches: list[pa.Table], image_rows: pa.Table, file_rows: pa.Table,
             commit_rows: int, drop_schema: bool) -> tuple[float, float]:
    """Seconds of one ``kind`` (raw, raw_files, etl) on a fresh schema, and of the ETL's finalize (0 otherwise)."""
    schema = f"bench_{kind}_{uuid.uuid4().hex[:6]}"
    create_tables(conn, schema, model="rcdm")
    create_tables(conn, schema, model="etl")
    create_work_tables(conn, schema)
    started = time.perf_counter()
    finalize_seconds = 0.0
    if kind == "etl":
        with load_settings(conn):  # as run_etl loads
            with deferred_indexes(conn, schema):  # an empty schema: secondary indexes built at the end, timed
                _load_etl(conn, schema, batches, commit_rows)
            seconds = time.perf_counter() - started
            finalize_seconds = finalize(conn, schema).seconds
    else:
        with transaction(conn):  # the driver's bulk path, one commit
            insert_table(conn, schema, "radiology_image", image_rows)
            if kind == "raw_files":  # and the ETL's bookkeeping rows, as a lower bound of any ETL
                insert_table(conn, schema, "rcdm_etl_file", file_rows)
        seconds = time.perf_counter() - started
    if drop_schema:
        execute_sql(conn, f"DROP SCHEMA {schema} CASCADE;")
    return seconds, finalize_seconds


def bench(label: str, url: str, rows: int, batch_size: int, commit_rows: int, drop_schema: bool,
          repeat: int = 1) -> dict:
    batches = [make_batch(start, min(batch_size, rows - start)) for start in range(0, rows, batch_size)]
    whole = pa.concat_tables(batches)
    image_rows, file_rows = whole.select(list(IMAGE_COLUMNS)), _file_rows(whole)  # made before the clock
    best: dict = {}
    with connect(url) as conn:
        for _ in range(repeat):  # each round measures the three in turn; each keeps its best round
            for kind in ("raw", "raw_files", "etl"):
                seconds, finalize_seconds = _measure(conn, kind, batches, image_rows, file_rows, commit_rows,
                                                     drop_schema)
                if seconds < best.get(kind, (float("inf"),))[0]:
                    best[kind] = (seconds, finalize_seconds)
    results = {kind: rows / seconds for kind, (seconds, _f) in best.items()}
    results["finalize_s"] = best["etl"][1]
    results["etl_total"] = rows / sum(best["etl"])
    results["py_mb"], results["arrow_mb"] = _peak_memory(url, batches, commit_rows)
    ratio = results["raw"] / results["etl"]
    total = results["raw"] / results["etl_total"]
    files = results["raw_files"] / results["etl"]
    print(f"{label:<11} rows {rows:>8}  batch {batch_size:>6}  commit {commit_rows:>6}  best of {repeat}  "
          f"raw {results['raw']:>9,.0f} rows/s  raw+files {results['raw_files']:>9,.0f}  "
          f"etl {results['etl']:>9,.0f} rows/s  raw/etl {ratio:5.2f}x  (raw+files)/etl {files:5.2f}x  "
          f"finalize {results['finalize_s']:5.2f} s  raw/(etl+finalize) {total:5.2f}x  "
          f"py heap {results['py_mb']:5.1f} MB  arrow {results['arrow_mb']:5.1f} MB", flush=True)
    return {**results, "ratio": ratio, "ratio_with_finalize": total, "ratio_files": files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, action="append", default=None,
                        help="rows per staged batch (repeat to compare several; default 500 and 5000)")
    parser.add_argument("--commit-rows", type=int, action="append", default=None,
                        help=f"rows per ETL transaction (run_etl's commit_rows; repeat to compare; "
                             f"default {COMMIT_ROWS})")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of the three measurements; each reports its best round (default 1)")
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL (default: start a throw-away server)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    runs = [(size, commit) for commit in (args.commit_rows or [COMMIT_ROWS])
            for size in (args.batch_size or [500, 5000])]
    with tempfile.TemporaryDirectory() as tmp:
        for size, commit in runs:
            bench("duckdb", str(Path(tmp) / f"bench{size}_{commit}.duckdb"), args.rows, size, commit,
                  drop_schema=False, repeat=args.repeat)
    if args.no_postgres:
        return
    server = None
    url = args.postgres
    if url is None:
        from pg_server import start_server

        server = start_server()
        url = server.url
    try:
        for size, commit in runs:
            bench("postgresql", url, args.rows, size, commit, drop_schema=True, repeat=args.repeat)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
