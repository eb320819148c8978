"""Files per second of DICOM header readers on three corpora, in one run: warm and cold page cache, 1 and 2
processes, plus the ETL's per-process extraction.

    python extras/benchmarks/bench_header_reader.py /tmp/hdr-bench [--n 1000] [--repeat 3] [--no-cold]
        [--cpu-time] [--corpora enhanced] [--only "read 8 KiB,rcdm"] [--baseline /tmp/rcdm-main]

The corpora (extras/benchmarks/header_corpora.py, built on first use): explicit VR CT with pixel data,
implicit VR Siemens MR with large private headers, enhanced multi-frame MR/CT. Each reader gets the header
of every file and the same handful of values (the three UIDs, Modality, Rows):

* ``read 8 KiB``: ``open().read(8192)``, the floor: the bytes any header reader must touch;
* ``rcdm``: ``rcdm.dicom.read_header`` (compiled walk), and ``rcdm pure Python`` with it switched off;
* ``pydicom``: ``pydicom.dcmread(path, stop_before_pixels=True)``;
* ``dicomsdl``: ``dicomsdl.open_file(path, load_until=PixelData)`` (C++, ``pip install dicomsdl``);
* ``gdcm``: ``gdcm.Reader.ReadUpToTag(PixelData)`` (C++, ``pip install python-gdcm``);
* ``dcmdump``: dcmtk's ``dcmdump +sb PixelData`` over batches of 250 files per process (Debian ``dcmtk``);
* ``ETL process_batch``: the ETL's per-process extraction (read, de-identify, hash, build the Arrow batch);
* ``rcdm baseline`` (with ``--baseline DIR``): ``read_header`` of another rcdm checkout, e.g. ``main`` exported
  with ``git archive main | tar -x -C DIR`` and its scanner built there (``python setup.py build_ext
  --inplace``), run in a helper process that times its own passes: before and after a change in one run.

Each 1-process pass is timed by the wall clock and by CPU time (of the process and the dcmdump children it
waits for), and the target ratios are printed by both: on a machine loaded by other work, wall time measures
the scheduler as much as the reader. ``--cpu-time`` shows the CPU-time rates in the table's 1-process
columns. Missing optional readers are reported as such. "2 processes": the corpus split over a pool of 2
(dcmdump: 2 batches at once); the records stay in the workers. Cold: every corpus file is evicted from the page cache
(``posix_fadvise(DONTNEED)`` after ``sync``: only these files, not the whole machine's cache) before each
pass, so each read comes from the disk. The passes are interleaved: each of the ``--repeat`` rounds times
every reader once, so that a ratio compares passes run seconds apart, not minutes (on a shared machine the
load changes in between). Prints the load average at the start and the end, a table of files/s (best of
``--repeat``) and the ratios the targets are stated in (issue 19): rcdm >= 15x pydicom, faster than
dicomsdl and gdcm on every corpus, within 5x of the raw 8 KiB read warm.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import resource
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from header_corpora import CORPORA, build  # noqa: E402

from rcdm.dicom import reader  # noqa: E402

KEYWORDS = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "Modality", "Rows")
PIXEL_DATA = 0x7FE00010


def evict(files: list[str]) -> None:
    """Drop these files' pages from the kernel's page cache (after writing back any dirty ones)."""
    os.sync()
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# --- the readers: each takes a list of paths and reads every header -------------------------------------

def run_read8k(files: list[str]) -> int:
    for path in files:
        with open(path, "rb") as f:
            f.read(8192)
    return len(files)


def run_rcdm(files: list[str]) -> int:
    read = reader.read_header
    return sum(read(path).rows is not None or 1 for path in files)


def run_rcdm_python(files: list[str]) -> int:
    saved = reader._TOP_SCANNER, reader._META_SCANNER
    reader._TOP_SCANNER = reader._META_SCANNER = None
    try:
        return run_rcdm(files)
    finally:
        reader._TOP_SCANNER, reader._META_SCANNER = saved


def run_pydicom(files: list[str]) -> int:
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            [ds.get(k) for k in KEYWORDS]
    return len(files)


def run_dicomsdl(files: list[str]) -> int:
    import dicomsdl

    for path in files:
        dicomsdl.open_file(path, load_until=PIXEL_DATA).getValues(list(KEYWORDS))
    return len(files)


def run_gdcm(files: list[str]) -> int:
    import gdcm

    stop = gdcm.Tag(0x7FE0, 0x0010)
    tags = [gdcm.Tag(g, e) for g, e in ((0x0008, 0x0018), (0x0020, 0x000E), (0x0020, 0x000D), (0x0008, 0x0060),
                                        (0x0028, 0x0010))]
    for path in files:
        r = gdcm.Reader()
        r.SetFileName(path)
        if not r.ReadUpToTag(stop):
            raise RuntimeError(f"gdcm could not read {path}")
        values = gdcm.StringFilter()
        values.SetFile(r.GetFile())
        [values.ToString(t) for t in tags]
    return len(files)


def run_dcmdump(files: list[str], batch: int = 250) -> int:
    for i in range(0, len(files), batch):
        subprocess.run(["dcmdump", "-q", "+sb", "7fe0,0010", *files[i : i + batch]], stdout=subprocess.DEVNULL,
                       check=True)
    return len(files)


_SECRET = b"bench-secret-0123456789abcdef012"


def run_process_batch(files: list[str], batch: int = 500) -> int:
    """The ETL's per-process extraction, as its workers run it (batches of 500 files)."""
    from rcdm.etl.transform import BatchContext, FileEntry, file_key, process_batch

    ctx = BatchContext(_SECRET)
    for i in range(0, len(files), batch):
        entries = []
        for path in files[i : i + batch]:
            st = os.stat(path)
            rel = os.path.basename(path)
            entries.append(FileEntry(path, rel, file_key(rel, _SECRET), st.st_size, st.st_mtime_ns))
        process_batch(entries, ctx)
    return len(files)


def _dcmdump_2(files: list[str]) -> int:
    half = (len(files) + 1) // 2
    batches = [files[i : i + 250] for part in (files[:half], files[half:]) for i in range(0, len(part), 250)]
    running: list[subprocess.Popen] = []
    for chunk in batches:
        while len(running) >= 2:
            running.pop(0).wait()
        running.append(subprocess.Popen(["dcmdump", "-q", "+sb", "7fe0,0010", *chunk], stdout=subprocess.DEVNULL))
    for proc in running:
        proc.wait()
    return len(files)


READERS = {
    "read 8 KiB": run_read8k,
    "rcdm": run_rcdm,
    "rcdm pure Python": run_rcdm_python,
    "pydicom": run_pydicom,
    "dicomsdl": run_dicomsdl,
    "gdcm": run_gdcm,
    "dcmdump": run_dcmdump,
    "ETL process_batch": run_process_batch,
}


def available(name: str) -> bool:
    module = {"dicomsdl": "dicomsdl", "gdcm": "gdcm"}.get(name)
    if module is not None:
        try:
            __import__(module)
        except ImportError:
            return False
    return name != "dcmdump" or shutil.which("dcmdump") is not None


def _chunk_worker(args: tuple[str, list[str]]) -> int:
    name, files = args
    return READERS[name](files)


BASELINE = "rcdm baseline"


class Baseline:
    """``read_header`` of another rcdm checkout, in a helper process (this script with ``--serve-baseline``)
    that imports rcdm from there and times each pass it is sent: wall or CPU seconds, its own."""

    def __init__(self, checkout: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-baseline", str(checkout.resolve())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.accelerated = self._ask([])

    def _ask(self, request: object) -> object:
        pickle.dump(request, self.proc.stdin)
        self.proc.stdin.flush()
        return pickle.load(self.proc.stdout)

    def seconds(self, files: list[str]) -> tuple[float, float]:
        wall, cpu = self._ask(files)
        return wall, cpu

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def serve_baseline(checkout: str) -> int:
    """The helper's loop: files in on stdin, the (wall, CPU) seconds ``read_header`` took over them out on
    stdout (the first answer: whether that checkout's scanner is built)."""
    sys.path.insert(0, checkout)
    for name in [m for m in sys.modules if m == "rcdm" or m.startswith("rcdm.")]:
        del sys.modules[name]
    from rcdm.dicom import reader as theirs

    assert theirs.__file__.startswith(checkout), theirs.__file__
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    first = True
    while True:
        try:
            files = pickle.load(stdin)
        except EOFError:
            return 0
        wall, cpu = time.perf_counter(), _cpu_seconds()
        for path in files:
            theirs.read_header(path)
        pickle.dump(theirs.ACCELERATED if first else (time.perf_counter() - wall, _cpu_seconds() - cpu), stdout)
        stdout.flush()
        first = False


def sample(name: str, files: list[str], budget: float) -> list[str]:
    """The first files of the corpus that ``name`` reads in about ``budget`` seconds (a multiple of 6, so that
    the corpus's mix of templates is kept): slow readers are timed on fewer files, never on other ones. The
    first call only warms up (imports: the ETL's pyarrow), so that it does not count as reading."""
    reader_of = READERS["rcdm" if name == BASELINE else name]
    reader_of(files[:6])
    start = time.perf_counter()
    reader_of(files[:6])
    per_file = max((time.perf_counter() - start) / 6, 1e-7)
    return files[: max(6, min(len(files), int(budget / per_file) // 6 * 6))]


def _cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children (dcmdump), user + system."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def one_pass(name: str, files: list[str], cold: bool, processes: int, pool,
             baseline: Baseline | None) -> tuple[float, float]:
    """(wall, CPU) seconds one reader takes over ``files`` once; CPU time (user + system, of this process and
    its waited-for children), which other work on a loaded machine inflates far less, means something for 1
    process only."""
    if cold:
        evict(files)
    if name == BASELINE:
        return baseline.seconds(files)
    wall, cpu = time.perf_counter(), _cpu_seconds()
    if processes == 1:
        done = READERS[name](files)
    elif name == "dcmdump":
        done = _dcmdump_2(files)
    else:
        chunks = [(name, files[i : i + 100]) for i in range(0, len(files), 100)]
        done = sum(pool.map(_chunk_worker, chunks))
    seconds = time.perf_counter() - wall, _cpu_seconds() - cpu
    assert done == len(files), (name, done)
    return seconds


def _ratios(corpus: str, results: dict[tuple[str, str, str, int], float], cold: bool) -> str:
    """The issue's target ratios of one corpus (warm, 1 process), for the readers measured, from rates by one
    clock."""
    def r(name: str, cache: str = "warm") -> float | None:
        return results.get((corpus, name, cache, 1))

    ours = r("rcdm")
    if ours is None:
        return f"{corpus}: rcdm not measured"
    line = [corpus + ":"]
    if r("pydicom"):
        line.append(f"rcdm/pydicom {ours / r('pydicom'):.1f}x (>= 15)")
    for other in ("dicomsdl", "gdcm", "dcmdump", "rcdm pure Python", BASELINE):
        if r(other):
            line.append(f"rcdm/{other} {ours / r(other):.2f}x")
    if r("read 8 KiB"):
        line.append(f"8 KiB read/rcdm {r('read 8 KiB') / ours:.2f}x (<= 5)")
        if r(BASELINE):
            line.append(f"8 KiB read/{BASELINE} {r('read 8 KiB') / r(BASELINE):.2f}x")
    if cold and r("rcdm", "cold") and r("pydicom", "cold"):
        line.append(f"cold: rcdm/pydicom {r('rcdm', 'cold') / r('pydicom', 'cold'):.1f}x")
    return " ".join(line[:1]) + " " + ", ".join(line[1:])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-baseline"]:
        return serve_baseline(argv[1])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="where the corpora are (built there on first use)")
    parser.add_argument("--n", type=int, default=1000, help="files per corpus")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each times every reader once")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold page cache passes")
    parser.add_argument("--only", default="", help="comma-separated readers to run (default: all)")
    parser.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated corpora (default: all)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="an rcdm checkout with its scanner built: its read_header is timed as "
                             f"'{BASELINE}' (1 process)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="the table's 1-process columns per second of CPU time, not wall time")
    parser.add_argument("--budget", type=float, default=4.0,
                        help="seconds a pass may take: slow readers are timed on the first files only")
    args = parser.parse_args(argv)
    corpora_names = [c for c in CORPORA if c in args.corpora.split(",")]
    corpora = build(args.out_dir, args.n)
    wanted = [n for n in READERS if not args.only or n in args.only.split(",")]
    names = [n for n in wanted if available(n)]
    missing = [n for n in wanted if n not in names]
    baseline = Baseline(args.baseline) if args.baseline else None
    if baseline is not None and (not args.only or BASELINE in args.only.split(",")):
        names.insert(names.index("rcdm") + 1 if "rcdm" in names else len(names), BASELINE)
    import pydicom

    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at the start, pydicom {pydicom.__version__}, "
          f"compiled walk: {reader.ACCELERATED}"
          + (f" (baseline {args.baseline}: {baseline.accelerated})" if baseline else "")
          + f"; not measured: {', '.join(missing) or 'none'}"
          + ("; the table's 1-process rates per CPU second" if args.cpu_time else ""))
    modes = [("warm", False, 1), ("warm", False, 2)] + ([] if args.no_cold else [("cold", True, 1), ("cold", True, 2)])
    wall: dict[tuple[str, str, str, int], float] = {}  # files/s by the wall clock
    cpu: dict[tuple[str, str, str, int], float] = {}  # files/s by CPU time (1 process)
    try:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            for corpus in corpora_names:
                files = corpora[corpus]
                run_read8k(files)
                subsets = {name: sample(name, files, args.budget) for name in names}
                for cache, cold, processes in modes:
                    # ETL: its 2-worker figure is bench_executors.py's; the baseline: 1 process only
                    measured = [n for n in names if processes == 1 or n not in ("ETL process_batch", BASELINE)]
                    best = {name: [float("inf"), float("inf")] for name in measured}
                    for _ in range(args.repeat):
                        for name in measured:
                            seconds = one_pass(name, subsets[name], cold, processes, pool, baseline)
                            best[name] = [min(b, s) for b, s in zip(best[name], seconds)]
                    for name in measured:
                        key = (corpus, name, cache, processes)
                        wall[key] = len(subsets[name]) / best[name][0]
                        if processes == 1:
                            cpu[key] = len(subsets[name]) / max(best[name][1], 1e-9)
                        print(f"  {corpus:12s} {cache} {processes}p {name:20s} {wall[key]:10,.0f} files/s"
                              + (f" ({cpu[key]:,.0f} a CPU second)" if key in cpu else "")
                              + f" ({len(subsets[name])} files)", flush=True)
    finally:
        if baseline is not None:
            baseline.close()
    print(f"\nload {os.getloadavg()[0]:.1f} at the end\n")
    shown = {**wall, **cpu} if args.cpu_time else wall
    header = "| reader | " + " | ".join(f"{c} {m} {p}p" for c in corpora_names for m, _, p in modes) + " |"
    print(header + (" (1p: a CPU second)" if args.cpu_time else ""))
    print("|" + "---|" * (header.count("|") - 1))
    for name in names:
        cells = [f"{shown[c, name, m, p]:,.0f}" if (c, name, m, p) in shown else "" for c in corpora_names
                 for m, _, p in modes]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for clock, results in (("wall clock", wall), ("CPU time", cpu)):
        print(f"\nratios by {clock}:")
        for corpus in corpora_names:
            print(_ratios(corpus, results, not args.no_cold))
    return 0


if __name__ == "__main__":
    sys.exit(main())
