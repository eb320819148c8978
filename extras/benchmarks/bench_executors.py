"""Header extraction (``process_batch``) through the local executor and through Dask, in files/s, same corpus.

    python extras/benchmarks/bench_executors.py [--corpus DIR] [--n 4000] [--batch-size 250] [--repeat 2]

Makes the corpus with ``make_corpus.py`` when DIR has no files (default: a temporary folder; ~4,000 CT/MR/CR
files with full-size pixel data), warms the page cache, then times the whole ``map_batches`` stream (read,
de-identify, build the Arrow table, ship it to the caller), the corpus streamed ``--passes`` times (so the
process pool's start-up, which every ``map_batches`` call pays, is amortised as in a long run), for:

* ``local``: ``LocalExecutor`` with 1 worker (in this process) and 2 worker processes;
* ``dask-local``: ``DaskExecutor`` on a ``LocalCluster`` of 1 and 2 worker processes (one thread each), the
  tables coming back through the scheduler, and with 2 workers staging Parquet on a shared path themselves.

The cluster is started before the clock (its start-up time is printed apart), so the rates are the steady
state a long run sees. Prints files/s (best of ``--repeat``) and the ratio to the local executor with the same
number of workers and to one local process.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_corpus import make_corpus  # noqa: E402

from rcdm.etl.discover import iter_files  # noqa: E402
from rcdm.etl.executor import LocalExecutor  # noqa: E402
from rcdm.etl.transform import BatchContext, FileEntry, file_key, relative_path  # noqa: E402


SECRET = b"b" * 32
"""A fixed site secret (file keys and ids are keyed hashes)."""


def _batches(root: str, size: int) -> list[tuple[int, list[FileEntry]]]:
    entries = []
    for path in iter_files([root]):
        rel = relative_path(path, root)
        st = os.stat(path)
        entries.append(FileEntry(path, rel, file_key(rel, SECRET), st.st_size, st.st_mtime_ns))
    return [(i // size, entries[i:i + size]) for i in range(0, len(entries), size)]


def _time(executor, batches, repeat: int) -> tuple[float, int]:
    best, rows = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = sum(table.num_rows for _tag, table in executor.map_batches(iter(batches)))
        best = min(best, time.perf_counter() - start)
    return best, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None, help="folder of DICOM files (made if empty)")
    parser.add_argument("--n", type=int, default=4000, help="files to generate when the corpus is empty")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--passes", type=int, default=3,
                        help="stream the corpus this many times per measurement (amortises pool start-up)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from distributed import LocalCluster

    from rcdm.etl.dask_executor import DaskExecutor

    with tempfile.TemporaryDirectory(prefix="rcdm-bench-") as tmp:
        corpus = args.corpus or Path(tmp) / "corpus"
        if not corpus.exists() or not any(corpus.rglob("*.dcm")):
            start = time.perf_counter()
            size = make_corpus(corpus, args.n)
            print(f"made {args.n} files ({size / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s")
        root = os.path.abspath(corpus)
        once = _batches(root, args.batch_size)
        batches = [(n, entries) for n, (_tag, entries) in enumerate(once * args.passes)]
        files = sum(len(b) for _, b in batches)
        total = 0
        for _, entries in once:  # warm the page cache
            for e in entries:
                with open(e.path, "rb") as f:
                    total += len(f.read())
        print(f"{files // args.passes} files ({total / 1e6:.0f} MB) x {args.passes} passes, batches of "
              f"{args.batch_size}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
        ctx = BatchContext(SECRET)
        rates: dict[str, float] = {}
        for workers in (1, 2):
            seconds, rows = _time(LocalExecutor(ctx, workers), batches, args.repeat)
            assert rows == files
            rates[f"local {workers}"] = files / seconds
        for workers in (1, 2):
            started = time.perf_counter()
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=logging.ERROR) as cluster:
                print(f"LocalCluster of {workers}: started in {time.perf_counter() - started:.1f} s")
                executor = DaskExecutor(ctx, scheduler=cluster.scheduler_address)
                seconds, rows = _time(executor, batches, args.repeat)
                assert rows == files
                rates[f"dask-local {workers}"] = files / seconds
                if workers == 2:
                    staged = DaskExecutor(ctx, scheduler=cluster.scheduler_address, staging_url=f"{tmp}/shared")
                    seconds, rows = _time(staged, batches, args.repeat)
                    assert rows == files
                    rates["dask-local 2, worker-staged"] = files / seconds
        print(f"{'executor':30s} {'files/s':>9s} {'vs local, same workers':>24s} {'vs local 1':>11s}")
        for name, rate in rates.items():
            workers = 2 if " 2" in name else 1
            same = rate / rates[f"local {workers}"]
            print(f"{name:30s} {rate:9,.0f} {same:23.2f}x {rate / rates['local 1']:10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
