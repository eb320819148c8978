"""``rcdm etl`` end to end, next to its reader, in files/s: one run, same files, same machine state.

    python extras/benchmarks/bench_etl.py [--dir DIR] [--n 20000] [--memory-sizes 20000,100000] [--no-postgres]

Corpora (made in DIR unless there; byte copies of a few templates, each with its own UIDs of the same length and
one PatientID per 500 files, so copies cost no parsing):

* ``ct_explicit``: explicit VR little endian CT of 38 KB (``make_corpus.py --mix CT=1 --matrix 128``: pydicom's
  CT_small.dcm header, GE private groups, 128x128 pixels);
* ``mr_implicit``: implicit VR little endian Siemens MR of 226 KB with ~92 KB private CSA headers (nibabel's
  ``nicom/tests/data/0.dcm``, one of ``header_corpora.py``'s templates: ``pip install nibabel``; skipped without).

For each corpus, page cache warm (every byte of its files read first), it measures (files/s, best of ``--repeat``):

* ``raw 8 KiB``: open, read the first 8 KiB, close (one process): the floor of any header reader;
* ``reader``: ``read_header`` alone (one process), and ``process_batch`` (the ETL's per-process extraction:
  read, de-identify, derive, build the Arrow table; one process);
* each ``run_etl``'s rate next to the reader's and to its number of workers times ``process_batch``'s (what
  the pipeline around the workers costs: 1.00 when it costs nothing);
* ``run_etl`` into a new DuckDB file with 1 and 2 workers, and into PostgreSQL (a throw-away server as
  tests/pg_server.py starts, a new schema each run), counted from the call to its return (walk, read, stage,
  load, last commit, finalize); the CLI (``rcdm etl``, a new process: start-up included) with 2 workers,
  best of ``--repeat``, to the process's exit and to its last commit (the issue's measure; the database's
  closing checkpoint and the process's exit follow it);
* peak memory (RSS of the ETL process and its workers, sampled every 20 ms) of ``run_etl`` with 2 workers into
  DuckDB at each of ``--memory-sizes`` files of the CT corpus: flat when it does not grow with the files (the
  loader holds one transaction group of ``--memory-commit-rows`` files: below that, memory grows by design),
  with that run's files/s and the CLI's (``rcdm etl``, 2 workers, best of ``--repeat``) at that size: a new
  process's ~1 s of start-up (imports, the database's opening) weighs on 20,000 files, less on an archive;
* CPU seconds a file of ``run_etl`` into DuckDB with 1 and 2 workers (new processes: the parent, the forkserver
  and the workers, start-up included) over ``process_batch``'s (1.00 when the pipeline around the workers costs
  nothing): on a loaded machine the one figure the load barely moves.

* ``run_etl`` into DuckDB with 2 workers in a new process, timed from ``import rcdm.etl.run`` to the return of its
  first call (rcdm's and the database driver's imports, the DDL and the worker pool's start included: what one
  ``rcdm etl`` costs beyond the interpreter's start), next to a second call in that process (warm).

Measured as an installed package runs: ``rcdm`` is byte-compiled once (``compileall``) and the processes the
benchmark starts (the CLI, the new-process runs, the workers' forkserver) run without
``PYTHONDONTWRITEBYTECODE`` (an editable checkout on a machine that sets it would recompile rcdm in every new
process, which a wheel's users never pay).

Figures on a shared machine vary from run to run: compare the ratios to the reader measured in the same run.
"""

from __future__ import annotations

import argparse
import compileall
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent / "tests"))

import header_corpora  # noqa: E402
import pydicom  # noqa: E402
from make_corpus import make_corpus  # noqa: E402

import rcdm  # noqa: E402
from rcdm.dicom.reader import read_header  # noqa: E402
from rcdm.etl.run import COMMIT_ROWS, run_etl  # noqa: E402
from rcdm.etl.transform import BatchContext, FileEntry, file_key, process_batch, relative_path  # noqa: E402

PATIENT_EVERY = 500
"""Files per patient in the corpora (one PatientID for each run of 500 files)."""


# --- corpora ---------------------------------------------------------------------------------------------------

def _patient_of(data: bytes) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).PatientID).encode()


def _copies(folder: Path, templates: list[bytes], n: int) -> set[str]:
    """``n`` byte copies of ``templates`` in ``folder`` (500 a subfolder), UIDs and PatientID varied in place;
    returns the PatientIDs."""
    sources = [(data, header_corpora._uids(data), _patient_of(data)) for data in templates]
    patients = set()
    for i in range(n):
        data, uids, patient = sources[i % len(sources)]
        number = str(i // PATIENT_EVERY).encode()
        if len(patient) > len(number):  # before the UIDs change: a new UID may hold the PatientID's digits
            new = patient[: len(patient) - len(number)] + number
            data = data.replace(patient, new)
            patient = new
        data = header_corpora._variant(data, uids, 10_000_000 + i)  # fixed-width tails: no two files alike
        patients.add(patient.decode())
        sub = folder / f"{i // 500:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i:07d}.dcm").write_bytes(data)
    return patients


def _ct_templates() -> list[bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        make_corpus(Path(tmp), 20, mix="CT=1", matrix=128)
        return [p.read_bytes() for p in sorted(Path(tmp).rglob("*.dcm"))]


def _mr_templates() -> list[bytes]:
    return [header_corpora._nibabel_file("0.dcm")]  # 226 KB (the DWI ones are 1.7 MB and have no PatientID)


def corpus(base: Path, name: str, n: int) -> tuple[Path, Path] | None:
    """(folder of ``n`` files, person map CSV) of corpus ``name`` below ``base``, made unless present."""
    folder = base / f"{name}_{n}"
    persons = base / f"{name}_{n}.persons.csv"
    if not persons.exists():
        try:
            templates = _ct_templates() if name == "ct_explicit" else _mr_templates()
        except ImportError:
            return None
        shutil.rmtree(folder, ignore_errors=True)
        ids = sorted(_copies(folder, templates, n))
        persons.write_text("patient_id,person_id\n" + "".join(f"{p},{i}\n" for i, p in enumerate(ids, 1)),
                           encoding="utf-8")
    return folder, persons


def _files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.dcm"))


# --- measures --------------------------------------------------------------------------------------------------

def _best(fn, repeat: int, clock=time.perf_counter) -> float:
    """The least time of ``repeat`` calls on ``clock`` (wall, or ``time.process_time``: this process's CPU)."""
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def raw_read(paths: list[str]) -> None:
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.read(fd, 8192)
        finally:
            os.close(fd)


def warm_cache(paths: list[str]) -> None:
    """Every byte of the files in the page cache (a header reader may read past the first 8 KiB: the MR files'
    CSA headers run to ~92 KB); pages the machine dropped since the corpus was written are read back."""
    for p in paths:
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass


def reader_alone(paths: list[str]) -> None:
    for p in paths:
        read_header(p)


def extraction(paths: list[str], root: Path) -> None:
    secret = b"b" * 32
    entries = [FileEntry(p, relative_path(p, str(root)), file_key(relative_path(p, str(root)), secret), 1, 1)
               for p in paths]
    ctx = BatchContext(secret)
    for i in range(0, len(entries), 5000):
        process_batch(entries[i:i + 5000], ctx)


class PeakRss:
    """The peak of the summed RSS of a process and its children (the forkserver and the workers it forks), and
    the CPU seconds each of them used (its last sample), sampled every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.process, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self.cpu: dict[int, float] = {}
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                total = 0
                for proc in procs:
                    try:
                        total += proc.memory_info().rss
                        times = proc.cpu_times()
                        self.cpu[proc.pid] = times.user + times.system
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


PARENT_CPU: dict[str, float] = {}
"""CPU seconds of this process (the ETL's parent: its threads and its database driver, not the workers) of the
fastest call of each ``etl_once`` label: what the pipeline around the workers costs, barely moved by the load."""


def etl_once(folder: Path, persons: Path, db: str, schema: str, workers: int, work: Path) -> float:
    """Seconds of one ``run_etl`` (a new secret each time; the database or schema is new)."""
    secret = work / "secret"
    secret.unlink(missing_ok=True)
    secret.with_name("secret.paths.sqlite").unlink(missing_ok=True)
    cpu = time.process_time()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the new secret's warning
        summary = run_etl(str(folder), db, schema, person_map=str(persons), secret_file=str(secret),
                          workers=workers, quiet=True, progress=False, staging_dir=str(work / "staging"))
    seconds = time.perf_counter() - start
    if summary["loaded"] != summary["files_seen"]:
        raise SystemExit(f"the run did not load every file: {json.dumps(summary, default=str)[:400]}")
    label = f"{'DuckDB' if db.endswith('.duckdb') else 'PostgreSQL'}, {workers} worker(s)"
    PARENT_CPU[label] = min(PARENT_CPU.get(label, float("inf")), time.process_time() - cpu)
    return seconds


def etl_duckdb(folder: Path, persons: Path, workers: int, work: Path, repeat: int) -> float:
    best = float("inf")
    for k in range(repeat):
        db = work / f"bench-{workers}-{k}.duckdb"
        best = min(best, etl_once(folder, persons, str(db), "cdm", workers, work))
        db.unlink(missing_ok=True)
    return best


def etl_postgres(url: str, folder: Path, persons: Path, workers: int, work: Path, repeat: int) -> float:
    best = float("inf")
    for k in range(repeat):
        best = min(best, etl_once(folder, persons, url, f"bench_{workers}_{k}_{os.getpid()}", workers, work))
    return best


def etl_cli(folder: Path, persons: Path, workers: int, work: Path) -> tuple[float, float]:
    """Seconds of one ``rcdm etl`` in a new process: to the process's exit, and to its last commit (the issue's
    measure: the run's summary file is written right after it; what follows is closing the database, which
    checkpoints it, and the process's exit)."""
    db = work / "cli.duckdb"
    secret = work / "cli-secret"
    summary = work / "cli-summary.json"
    command = [sys.executable, "-m", "rcdm", "etl", "--db", str(db), "--schema", "cdm", "--person-map", str(persons),
               "--secret-file", str(secret), "--workers", str(workers), "--quiet", "--no-progress",
               "--staging-dir", str(work / "staging"), "--summary-json", str(summary), str(folder)]
    wall = time.time()
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    committed = summary.stat().st_mtime - wall
    db.unlink(missing_ok=True)
    summary.unlink()
    return seconds, committed


def cli_best(folder: Path, persons: Path, workers: int, work: Path, repeat: int) -> tuple[float, float]:
    """The least of ``repeat`` ``etl_cli`` runs, for each of its two measures."""
    runs = [etl_cli(folder, persons, workers, work) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def peak_memory(folder: Path, persons: Path, work: Path, commit_rows: int, workers: int = 2
                ) -> tuple[float, float, float]:
    """(seconds, peak MB, CPU seconds of the process tree) of ``run_etl`` into DuckDB, in a new process (start-up
    included); the CPU is what the machine's load does not change much: the whole pipeline's cost."""
    db = work / "memory.duckdb"
    secret = work / "memory-secret"
    secret.unlink(missing_ok=True)
    secret.with_name(secret.name + ".paths.sqlite").unlink(missing_ok=True)
    code = ("import sys, warnings; warnings.simplefilter('ignore'); from rcdm.etl.run import run_etl; "
            "run_etl(sys.argv[1], sys.argv[2], 'cdm', person_map=sys.argv[3], secret_file=sys.argv[4], "
            "workers=int(sys.argv[7]), quiet=True, progress=False, staging_dir=sys.argv[5], "
            "commit_rows=int(sys.argv[6]))")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder), str(db), str(persons),
                             str(secret), str(work / "staging"), str(commit_rows), str(workers)])
    with PeakRss(proc.pid) as rss:
        if proc.wait() != 0:
            raise SystemExit("the memory run failed")
    seconds = time.perf_counter() - start
    db.unlink(missing_ok=True)
    return seconds, rss.peak / 1e6, sum(rss.cpu.values())



def as_installed() -> None:
    """Byte-compile rcdm once and let the processes started from here read and write .pyc (see the docstring)."""
    compileall.compile_dir(str(Path(rcdm.__file__).parent), quiet=1)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False


def cold_and_warm(folder: Path, persons: Path, work: Path, workers: int = 2) -> tuple[float, float, float, float]:
    """Seconds of a first ``run_etl`` in a new process (from its import to its return) and of a second one in the
    same process (a new database and secret each), then the parent's CPU seconds of each (imports included in
    the first)."""
    code = ("import json, sys, time, warnings; warnings.simplefilter('ignore'); t0 = time.perf_counter(); "
            "c0 = time.process_time(); from rcdm.etl.run import run_etl; times = []; cpu = []\n"
            "for k in range(2):\n"
            "    t = time.perf_counter()\n"
            "    c = time.process_time()\n"
            "    s = run_etl(sys.argv[1], sys.argv[2] + str(k) + '.duckdb', 'cdm', person_map=sys.argv[3], "
            "secret_file=sys.argv[4] + str(k), workers=int(sys.argv[6]), quiet=True, progress=False, "
            "staging_dir=sys.argv[5])\n"
            "    assert s['loaded'] == s['files_seen'], s\n"
            "    times.append(time.perf_counter() - (t0 if k == 0 else t))\n"
            "    cpu.append(time.process_time() - (c0 if k == 0 else c))\n"
            "print(json.dumps(times + cpu))")
    out = subprocess.run([sys.executable, "-c", code, str(folder), str(work / "cold"), str(persons),
                          str(work / "cold-secret"), str(work / "staging"), str(workers)],
                         check=True, capture_output=True, text=True).stdout
    for k in range(2):
        (work / f"cold{k}.duckdb").unlink(missing_ok=True)
    cold, warm, cpu_cold, cpu_warm = json.loads(out.splitlines()[-1])
    return cold, warm, cpu_cold, cpu_warm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "rcdm-bench-etl",
                        help="where the corpora are made (kept for the next run)")
    parser.add_argument("--n", type=int, default=20000, help="files a corpus (default 20000)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--memory-sizes", default="20000,100000",
                        help="CT corpus sizes of the memory runs, each also timed as the CLI ('' none)")
    parser.add_argument("--memory-commit-rows", type=int, default=COMMIT_ROWS,
                        help="commit_rows of the memory runs (default run_etl's, 131,072: the loader holds a whole "
                             "group, so below that size memory grows with the files by design)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--corpora", default="ct_explicit,mr_implicit", help="ct_explicit, mr_implicit ('': none)")
    args = parser.parse_args(argv)
    as_installed()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.n} files a corpus")
    server = None
    if not args.no_postgres:
        from pg_server import start_server

        server = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for name in [c for c in args.corpora.split(",") if c]:  # --corpora '': the memory runs only
                made = corpus(args.dir, name, args.n)
                if made is None:
                    print(f"{name}: skipped (pip install nibabel for its templates)")
                    continue
                folder, persons = made
                paths = _files(folder)
                n = len(paths)
                size = sum(os.path.getsize(p) for p in paths[:100]) / min(n, 100) / 1e3
                warm_cache(paths)
                PARENT_CPU.clear()
                load = os.getloadavg()[0]
                rates: dict[str, float] = {}
                raw = _best(lambda paths=paths: raw_read(paths), args.repeat)
                rates["raw 8 KiB read, 1 process"] = n / raw
                alone = _best(lambda paths=paths: reader_alone(paths), args.repeat)
                rates["reader alone, 1 process"] = reader = n / alone
                batch = _best(lambda paths=paths, folder=folder: extraction(paths, folder), args.repeat)
                rates["process_batch, 1 process"] = n / batch
                for workers in (1, 2):
                    rates[f"run_etl DuckDB, {workers} worker(s)"] = n / etl_duckdb(folder, persons, workers, work,
                                                                                  args.repeat)
                cli, committed = cli_best(folder, persons, 2, work, args.repeat)
                rates["rcdm etl (CLI) DuckDB, 2 workers"] = n / cli
                rates["rcdm etl (CLI), 2 workers, to last commit"] = n / committed
                cold, warm, cpu_cold, cpu_warm = cold_and_warm(folder, persons, work)
                rates["run_etl DuckDB, 2 workers, cold process"] = n / cold
                rates["run_etl DuckDB, 2 workers, 2nd in process"] = n / warm
                if server is not None:
                    for workers in (1, 2):
                        rates[f"run_etl PostgreSQL, {workers} worker(s)"] = n / etl_postgres(
                            server.url, folder, persons, workers, work, args.repeat)
                # CPU per file (the process tree's, new processes, start-up included) against process_batch's
                cpu = {"process_batch, 1 process": _best(lambda paths=paths, folder=folder: extraction(
                    paths, folder), 1, time.process_time) / n}
                for workers in (1, 2):
                    cpu[f"run_etl DuckDB, {workers} worker(s), new process"] = peak_memory(
                        folder, persons, work, COMMIT_ROWS, workers)[2] / n
                print(f"\n{name}: {n} files, {size:.0f} KB a file (load average {load:.2f} before, "
                      f"{os.getloadavg()[0]:.2f} after)")
                print(f"  {'':40} {'files/s':>9} {'/ reader':>9} {'/ (workers x process_batch)':>28}")
                per_process = rates["process_batch, 1 process"]
                for label, rate in rates.items():
                    workers = 2 if "2 worker" in label else 1
                    share = f"{rate / (workers * per_process):28.2f}" if "etl" in label else ""
                    print(f"  {label:40} {rate:9,.0f} {rate / reader:9.2f} {share}")
                print(f"  {'CPU per file (all processes)':40} {'us':>9} {'/ process_batch':>16}")
                for label, seconds in cpu.items():
                    print(f"  {label:40} {seconds * 1e6:9,.0f} {seconds / cpu['process_batch, 1 process']:16.2f}")
                parent = {f"run_etl {label}": seconds for label, seconds in PARENT_CPU.items() if "2 worker" in label}
                parent["run_etl DuckDB, 2 workers, cold process (imports in)"] = cpu_cold
                parent["run_etl DuckDB, 2 workers, 2nd in process"] = cpu_warm
                print(f"  {'parent CPU (the workers not counted)':52} {'s':>9} {'us a file':>10}")
                for label, seconds in parent.items():
                    print(f"  {label:52} {seconds:9.2f} {seconds / n * 1e6:10.1f}")
            sizes = [int(s) for s in args.memory_sizes.split(",") if s]
            if sizes:
                print(f"\npeak memory, run_etl 2 workers into DuckDB, commit_rows {args.memory_commit_rows:,} "
                      "(ct_explicit; RSS of the process and its workers)")
                for size in sizes:
                    made = corpus(args.dir, "ct_explicit", size)
                    assert made is not None
                    warm_cache(_files(made[0]))
                    seconds, peak, _cpu = peak_memory(*made, work, args.memory_commit_rows)
                    cli, committed = cli_best(*made, 2, work, args.repeat)
                    print(f"  {size:7,} files: {peak:7.0f} MB peak, {size / seconds:9,.0f} files/s (new process); "
                          f"rcdm etl (CLI) {size / cli:9,.0f} files/s to its exit, {size / committed:9,.0f} to "
                          "its last commit")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
