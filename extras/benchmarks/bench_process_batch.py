"""The ETL's per-file cost: ``process_batch`` (read, de-identify, derive, stage one batch) next to its reader.

    python extras/benchmarks/bench_process_batch.py [--dir DIR] [--n 10000] [--repeat 3] [--profile]
        [--corpora ct_explicit:20000,mr_implicit:10000] [--baseline CHECKOUT]

Uses ``bench_etl.py``'s corpora (explicit VR CT, implicit VR Siemens MR; made in DIR unless there; ``name:n`` takes
n files of that corpus, else ``--n``) and measures in one process, page cache warm, best of ``--repeat``
(files/s): the raw 8 KiB read, ``read_header`` alone and ``process_batch`` in batches of 5,000 (as
``bench_etl.py`` calls it: the entries' keys made inside the clock; and alone: the entries, which the ETL's parent
makes, made before the clock), each by the wall clock and by the process's CPU time (steadier on a loaded
machine: what other processes take is not counted). The ratio ``process_batch / reader`` is what to compare
across runs on a shared machine (both measured in the same run). ``--profile`` prints a cProfile of
``process_batch`` per corpus.

``--baseline CHECKOUT`` (a source tree of another version of rcdm, its extensions built in place:
``git archive REV | tar -x -C DIR && cd DIR && python setup.py build_ext --inplace``) measures that version and
this one in turns, each round in two fresh processes (CPU files/s of ``read_header`` and ``process_batch`` alone,
best of the rounds): before/after figures of one run, what the README quotes.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
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


def _corpora(spec: str, n: int) -> list[tuple[str, int]]:
    """``name`` or ``name:n`` items of ``--corpora``."""
    out = []
    for item in (c for c in spec.split(",") if c):
        name, _, count = item.partition(":")
        out.append((name, int(count) if count else n))
    return out


def _measure(folder: Path, n: int, repeat: int) -> dict[str, tuple[float, float]]:
    paths = _files(folder)[:n]
    raw_read(paths)  # warm the page cache
    entries = _entries(paths, folder)
    return {"n": len(paths), "raw 8 KiB read": _best(lambda: raw_read(paths), repeat),
            "read_header": _best(lambda: reader_alone(paths), repeat),
            "process_batch (bench_etl's)": _best(lambda: extraction(paths, folder), repeat),
            "process_batch alone": _best(lambda: batches_alone(entries), repeat)}


def _child(folder: Path, n: int, checkout: str) -> dict:
    """One round of ``_measure`` (repeat 1) in a fresh process importing rcdm from ``checkout``: without the
    site hooks (``-S``: an editable install's finder would win over the path), the packages' folder on the path."""
    packages = [p for p in sys.path if p.endswith("site-packages")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([checkout, *packages])}
    out = subprocess.run([sys.executable, "-S", __file__, "--child", str(folder), "--n", str(n)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def _before_after(folder: Path, n: int, rounds: int, baseline: str) -> None:
    """CPU files/s of the baseline and of this checkout, measured in turns (best of ``rounds`` each)."""
    best: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    for _ in range(rounds):
        for label, tree in (("before", baseline), ("after", str(HERE.parent.parent))):
            figures = _child(folder, n, tree)
            figures.pop("n")
            if not figures.pop("rcdm").startswith(tree + os.sep):
                raise SystemExit(f"the {label} round did not import rcdm from {tree}")
            for key, (_wall, cpu) in figures.items():
                best[label][key] = min(best[label].get(key, float("inf")), cpu)
    print(f"  {'CPU files/s':30} {'before':>9} {'after':>9} {'after/before':>13}")
    for key in ("raw 8 KiB read", "read_header", "process_batch alone"):
        before, after = n / best["before"][key], n / best["after"][key]
        print(f"  {key:30} {before:9,.0f} {after:9,.0f} {after / before:13.2f}")
    print(f"  process_batch alone: {best['before']['process_batch alone'] / n * 1e6:.0f} us/file before, "
          f"{best['after']['process_batch alone'] / n * 1e6:.0f} after (CPU)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "rcdm-bench-etl",
                        help="where the corpora are (made unless there; bench_etl.py's)")
    parser.add_argument("--n", type=int, default=10000, help="files a corpus (default 10000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corpora", default="ct_explicit,mr_implicit", help="name or name:n, comma-separated")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of process_batch")
    parser.add_argument("--baseline", help="a checkout of another rcdm version to measure in turns with this one")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # one round of a corpus folder, as JSON
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps({"rcdm": sys.modules["rcdm"].__file__, **_measure(args.child, args.n, 1)}))
        return 0
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for name, n in _corpora(args.corpora, args.n):
        made = corpus(args.dir, name, n)
        if made is None:
            print(f"{name}: skipped (pip install nibabel for its templates)")
            continue
        folder = made[0]
        if args.baseline:
            print(f"\n{name}: {n} files, {args.baseline} (before) and this checkout (after) in turns, "
                  f"best of {args.repeat} rounds (load {os.getloadavg()[0]:.2f})")
            _before_after(folder, n, args.repeat, args.baseline)
            continue
        figures = _measure(folder, n, args.repeat)
        n = figures.pop("n")
        reader = figures["read_header"]
        print(f"\n{name}: {n} files (load {os.getloadavg()[0]:.2f})")
        print(f"  {'':30} {'files/s':>9} {'/ reader':>9} {'CPU files/s':>12} {'/ reader':>9}")
        for label, (wall, cpu) in figures.items():
            print(f"  {label:30} {n / wall:9,.0f} {reader[0] / wall:9.2f} {n / cpu:12,.0f} {reader[1] / cpu:9.2f}")
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(batches_alone, _entries(_files(folder)[:n], folder))
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
