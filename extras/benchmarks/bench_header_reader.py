"""Files per second of three ways to read DICOM headers, on the same corpus (warm or cold page cache).

    python extras/benchmarks/make_corpus.py /tmp/corpus --n 2000
    python extras/benchmarks/bench_header_reader.py /tmp/corpus [--repeat 3] [--cold]

``--cold`` drops the kernel's page cache before every timed pass (root only: writes
``/proc/sys/vm/drop_caches``), which is the case of an archive of millions of files that no cache holds.

(a) ``pydicom.dcmread(path)`` in a loop (the whole file, as most scripts do); (b) ``open(path).read(8192)``
(the floor: the bytes any header reader must touch); (c) ``rcdm.dicom.read_header`` in one process and
``read_headers(workers=2)`` in two (records sent back to the parent), and in two processes that keep the
records (the scaling of the reading itself; the ETL's workers send back compact Arrow batches); (d) ``read_header`` with the compiled scanner switched off (what a
machine without a C compiler at install time gets). Prints files/s (best of ``--repeat``) and the ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import warnings
from pathlib import Path

import pydicom

from rcdm.dicom import reader
from rcdm.dicom.reader import HeaderRecord, read_header, read_headers


def _files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def drop_page_cache() -> None:
    """Empty the kernel's page cache (root only), so the next read comes from the disk."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def _rate(fn, files: list[str], repeat: int, cold: bool = False, passes: int = 1) -> float:
    """Files read per second by ``fn(files * passes)``, best of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        if cold:
            drop_page_cache()
        start = time.perf_counter()
        fn(files * passes)
        best = min(best, time.perf_counter() - start)
    return len(files) * passes / best


def run_dcmread(files: list[str]) -> None:
    for path in files:
        pydicom.dcmread(path)


def run_read8k(files: list[str]) -> None:
    for path in files:
        with open(path, "rb") as f:
            f.read(8192)


def run_ours(files: list[str]) -> None:
    for path in files:
        read_header(path)


def run_ours_python(files: list[str]) -> None:
    """read_header with the compiled scanner switched off: its pure-Python twin walks."""
    saved = reader._TOP_SCANNER, reader._META_SCANNER
    reader._TOP_SCANNER = reader._META_SCANNER = None
    try:
        run_ours(files)
    finally:
        reader._TOP_SCANNER, reader._META_SCANNER = saved


def _count_chunk(paths: list[str]) -> int:
    return sum(isinstance(r, HeaderRecord) for r in reader._read_chunk(paths))


def run_ours_2_in_workers(files: list[str]) -> None:
    """2 processes reading, the records kept where they are read (as in the ETL, whose workers send back
    compact Arrow batches): the scaling of the reading itself."""
    chunks = [files[i : i + 256] for i in range(0, len(files), 256)]
    with multiprocessing.get_context().Pool(2) as pool:
        assert sum(pool.map(_count_chunk, chunks)) > 0


def run_ours_2(files: list[str]) -> None:
    for _, result in read_headers(files, workers=2):
        assert isinstance(result, HeaderRecord)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each pass (root)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    files = _files(args.corpus)
    if not files:
        raise SystemExit(f"no files below {args.corpus}; run make_corpus.py first")
    total = 0
    for path in files:  # warm the page cache with every byte (dcmread reads whole files)
        with open(path, "rb") as f:
            total += len(f.read())
    cache = "cold page cache" if args.cold else "warm page cache"
    scanner = "compiled scanner" if reader.ACCELERATED else "NO compiled scanner (pure Python)"
    print(f"{len(files)} files, {total / 1e6:.0f} MB, {os.cpu_count()} CPUs, pydicom {pydicom.__version__}, {cache}, "
          f"{scanner}")
    rates = {
        "(a) pydicom.dcmread(path)": _rate(run_dcmread, files, args.repeat, args.cold),
        "(b) open().read(8192)": _rate(run_read8k, files, args.repeat, args.cold),
        "(c) read_header, 1 process": _rate(run_ours, files, args.repeat, args.cold),
        # one pool for 5 passes over the corpus (1 when cold): starting the processes is paid once a run
        "(c) read_headers, 2 processes": _rate(run_ours_2, files, args.repeat, args.cold, 1 if args.cold else 5),
        "(c) 2 processes, records kept": _rate(run_ours_2_in_workers, files, args.repeat, args.cold,
                                               1 if args.cold else 5),
        "(d) read_header, pure Python": _rate(run_ours_python, files, args.repeat, args.cold),
    }
    for name, rate in rates.items():
        print(f"{name:32s} {rate:10,.0f} files/s")
    a, b, c1, c2, c2_kept, d = rates.values()
    print(f"read_header / dcmread (1 process):   {c1 / a:5.1f}x   (target >= 5x)")
    print(f"read(8192) / read_header:            {b / c1:5.1f}x   (target <= 3x)")
    print(f"2 processes / 1 process:             {c2 / c1:5.2f}x   (records pickled to the parent, which shares the cores)")
    print(f"2 processes / 1 process, kept:       {c2_kept / c1:5.2f}x   (the reading itself)")
    print(f"read_header / pure-Python twin:      {c1 / d:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
