"""The ETL's per-file cost: ``process_batch`` (read, de-identify, derive, stage one batch) next to its reader.

    python extras/benchmarks/bench_process_batch.py [--dir DIR] [--n 10000] [--repeat 3] [--profile]

Uses ``bench_etl.py``'s corpora (explicit VR CT, implicit VR Siemens MR; made in DIR unless there) and measures
in one process, page cache warm, best of ``--repeat`` (files/s): the raw 8 KiB read, ``read_header`` alone and
``process_batch`` in batches of 5,000 (as ``bench_etl.py`` calls it: the entries' keys made inside the clock;
and alone: the entries, which the ETL's parent makes, made before the clock),
each by the wall clock and by the process's CPU time (steadier on a loaded machine: what other processes take
is not counted). The ratio ``process_batch / reader`` is what to compare across runs on a shared machine (both
measured in the same run). ``--profile`` prints a cProfile of ``process_batch`` per corpus.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_etl import _files, corpus, extraction, raw_read, reader_alone  # noqa: E402

from rcdm.etl.transform import BatchContext, FileEntry, file_key, process_batch, relative_path  # noqa: E402

SECRET = b"b" * 32


def _entries(paths: list[str], root: Path) -> list[FileEntry]:
    """The entries the ETL's parent sends (relative path, keyed path hash, size, mtime), as bench_etl makes them."""
    return [FileEntry(p, rel, file_key(rel, SECRET), 1, 1) for p in paths for rel in (relative_path(p, str(root)),)]


def batches_alone(entries: list[FileEntry]) -> None:
    ctx = BatchContext(SECRET)
    for i in range(0, len(entries), 5000):
        process_batch(entries[i:i + 5000], ctx)


def _best(fn, repeat: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds of this process) of ``repeat`` calls of ``fn``."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "rcdm-bench-etl",
                        help="where the corpora are (made unless there; bench_etl.py's)")
    parser.add_argument("--n", type=int, default=10000, help="files a corpus (default 10000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corpora", default="ct_explicit,mr_implicit")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of process_batch")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for name in [c for c in args.corpora.split(",") if c]:
        made = corpus(args.dir, name, args.n)
        if made is None:
            print(f"{name}: skipped (pip install nibabel for its templates)")
            continue
        folder = made[0]
        paths = _files(folder)[:args.n]
        n = len(paths)
        raw_read(paths)  # warm the page cache
        raw = _best(lambda p=paths: raw_read(p), args.repeat)
        reader = _best(lambda p=paths: reader_alone(p), args.repeat)
        batch = _best(lambda p=paths, f=folder: extraction(p, f), args.repeat)
        entries = _entries(paths, folder)
        alone = _best(lambda e=entries: batches_alone(e), args.repeat)
        print(f"\n{name}: {n} files (load {os.getloadavg()[0]:.2f})")
        print(f"  {'':30} {'files/s':>9} {'/ reader':>9} {'CPU files/s':>12} {'/ reader':>9}")
        for label, (wall, cpu) in (("raw 8 KiB read", raw), ("read_header", reader),
                                   ("process_batch (bench_etl's)", batch), ("process_batch alone", alone)):
            print(f"  {label:30} {n / wall:9,.0f} {reader[0] / wall:9.2f} {n / cpu:12,.0f} {reader[1] / cpu:9.2f}")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(batches_alone, entries)
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
