"""query_sql against the raw driver, in the same run: 1M rows x 5 columns (BIGINT id, INT, FLOAT, DATE, VARCHAR).

* DuckDB (a file): raw = ``duckdb.connect(file).execute(sql).df()``; rcdm = ``query_sql`` (render, translate,
  DuckDB's Arrow result, typed pandas columns);
* SQLite (a file): raw = ``sqlite3`` ``fetchall()`` + ``DataFrame.from_records``; rcdm = ``query_sql``;
* PostgreSQL with ``--postgres URL`` (or ``auto``: a throw-away server): raw = psycopg ``fetchall()`` + ``DataFrame.from_records``; rcdm = ``query_sql``;
* R (when Rscript, reticulate and RSQLite are installed; RadiologyCDM is installed into a temporary library):
  on the SQLite file, raw = ``DBI::dbGetQuery``
  (RSQLite), rcdm = ``RadiologyCDM::queryRcdmSql`` through reticulate.

Each is run ``--repeat`` times, alternating, and reports its best time; the ratio rcdm/raw is the figure
(target: within 2x). Usage:

    python extras/benchmarks/bench_query.py [--rows 1000000] [--repeat 3] [--postgres URL|auto] [--no-r]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa

SQL = "SELECT id, n, x, d, s FROM {schema}.bench"
OHDSI_SQL = "SELECT id, n, x, d, s FROM @schema.bench;"


def make_table(rows: int) -> pa.Table:
    start = dt.date(2000, 1, 1)
    return pa.table({
        "id": pa.array([2 ** 62 + i for i in range(rows)], pa.int64()),
        "n": pa.array([i % 1000 if i % 10 else None for i in range(rows)], pa.int32()),
        "x": pa.array([i / 7 for i in range(rows)], pa.float64()),
        "d": pa.array([start + dt.timedelta(days=i % 9000) for i in range(rows)], pa.date32()),
        "s": pa.array([f"label {i % 5000}" for i in range(rows)], pa.string()),
    })


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def report(name: str, raw: float, ours: float) -> None:
    print(f"{name:<12} raw {raw:7.3f} s   query_sql {ours:7.3f} s   ratio {ours / raw:5.2f}x")


def bench_duckdb(table: pa.Table, folder: Path, repeat: int) -> None:
    import duckdb

    from rcdm.db import connect, insert_table, query_sql

    path = folder / "bench.duckdb"
    with connect(str(path)) as conn:
        insert_table(conn, "main", "bench", table, create_table=True, drop_table_if_exists=True)
    raw_conn = duckdb.connect(str(path))
    raw = best(lambda: raw_conn.execute(SQL.format(schema="main")).df(), repeat)
    raw_conn.close()
    with connect(str(path)) as conn:
        ours = best(lambda: query_sql(conn, OHDSI_SQL, schema="main"), repeat)
    report("duckdb", raw, ours)


def _raw_fetch(cursor_factory, sql: str) -> pd.DataFrame:
    cur = cursor_factory()
    cur.execute(sql)
    rows = cur.fetchall()
    return pd.DataFrame.from_records(rows, columns=[d[0] for d in cur.description])


def bench_sqlite(table: pa.Table, folder: Path, repeat: int) -> Path:
    from rcdm.db import connect, insert_table, query_sql

    path = folder / "bench.sqlite"
    with connect(f"sqlite:///{path}") as conn:
        insert_table(conn, "main", "bench", table, create_table=True, drop_table_if_exists=True)
    raw_conn = sqlite3.connect(str(path))
    raw = best(lambda: _raw_fetch(raw_conn.cursor, SQL.format(schema="main")), repeat)
    raw_conn.close()
    with connect(f"sqlite:///{path}") as conn:
        ours = best(lambda: query_sql(conn, OHDSI_SQL, schema="main"), repeat)
    report("sqlite", raw, ours)
    return path


def bench_postgres(table: pa.Table, url: str, repeat: int) -> None:
    import psycopg

    from rcdm.db import connect, create_schema, execute_sql, insert_table, query_sql

    with connect(url) as conn:
        create_schema(conn, "bench")
        insert_table(conn, "bench", "bench", table, create_table=True, drop_table_if_exists=True)
        ours = best(lambda: query_sql(conn, OHDSI_SQL, schema="bench"), repeat)
        libpq = conn.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as raw_conn:
        raw = best(lambda: _raw_fetch(raw_conn.cursor, SQL.format(schema="bench")), repeat)
    with connect(url) as conn:
        execute_sql(conn, "DROP SCHEMA bench CASCADE;")
    report("postgresql", raw, ours)


R_SCRIPT = r"""
suppressMessages({library(DBI); library(RSQLite); library(RadiologyCDM)})
path <- commandArgs(TRUE)[1]; repeat_n <- as.integer(commandArgs(TRUE)[2])
best <- function(f) min(replicate(repeat_n, system.time(f())[["elapsed"]]))
con <- dbConnect(RSQLite::SQLite(), path)
raw <- best(function() dbGetQuery(con, "SELECT id, n, x, d, s FROM bench"))
dbDisconnect(con)
conn <- connectRcdm(path)
ours <- best(function() queryRcdmSql(conn, "SELECT id, n, x, d, s FROM main.bench;"))
cat(sprintf("R/sqlite     raw %7.3f s   queryRcdmSql %7.3f s   ratio %5.2fx\n", raw, ours, ours / raw))
"""


def bench_r(sqlite_path: Path, repeat: int, folder: Path) -> None:
    if not shutil.which("Rscript"):
        print("R/sqlite     skipped: no Rscript")
        return
    check = subprocess.run(["Rscript", "-e", "quit(status = !all(c('RSQLite', 'reticulate') %in% "
                                             "rownames(installed.packages())))"], capture_output=True)
    if check.returncode != 0:
        print("R/sqlite     skipped: needs RSQLite (Debian: r-cran-rsqlite) and reticulate")
        return
    library = folder / "rlib"
    library.mkdir()
    package = Path(__file__).resolve().parents[1] / "RadiologyCDM"
    subprocess.run(["R", "CMD", "INSTALL", "--no-test-load", "-l", str(library), str(package)], check=True,
                   capture_output=True)
    env = dict(os.environ, RETICULATE_PYTHON=sys.executable, R_LIBS=str(library))
    result = subprocess.run(["Rscript", "-e", R_SCRIPT, str(sqlite_path), str(repeat)], capture_output=True,
                            text=True, env=env)
    print(result.stdout.strip() or result.stderr.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=None,
                        help="SQLAlchemy URL of a PostgreSQL server to measure too ('auto': start a throw-away "
                             "server as the tests do)")
    parser.add_argument("--no-r", action="store_true", help="skip the R measurement")
    args = parser.parse_args()
    table = make_table(args.rows)
    print(f"{args.rows:,} rows x 5 columns, best of {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_duckdb(table, folder, args.repeat)
        sqlite_path = bench_sqlite(table, folder, args.repeat)
        if args.postgres == "auto":
            sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
            from pg_server import start_server

            server = start_server()
            try:
                bench_postgres(table, server.url, args.repeat)
            finally:
                server.stop()
        elif args.postgres:
            bench_postgres(table, args.postgres, args.repeat)
        if not args.no_r:
            bench_r(sqlite_path, args.repeat, folder)


if __name__ == "__main__":
    main()
