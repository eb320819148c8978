"""How a run starts (issue 19, fourth round): ``rcdm etl`` begins a run before it imports the database layer and a
first load's workers read from then on; the thread that feeds them keeps its bounds; the workers never import
pandas; the program skips the collector's passes at exit. Each kept to the old behaviour's results."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rcdm.db import connect, query_sql
from rcdm.dicom.sample import write_sample_corpus
from rcdm.etl.discover import iter_files
from rcdm.etl.executor import LocalExecutor, WorkerPool, _Feeder
from rcdm.etl.forkserver import pool_context
from rcdm.etl.start import Batches, begin, new_database_file
from rcdm.etl.transform import BatchContext
from rcdm.options import EtlOptions

SECRET = b"s" * 32


def _corpus(tmp_path: Path, patients: int = 2) -> tuple[Path, Path, int]:
    info = write_sample_corpus(tmp_path / "tree", n_patients=patients, seed=5)
    person_map = tmp_path / "persons.csv"
    shutil.move(info["person_map"], person_map)
    return tmp_path / "tree", person_map, len(info["images"])


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env}, check=False)


def test_new_database_file_only_for_a_path_that_does_not_exist(tmp_path):
    (tmp_path / "old.duckdb").write_bytes(b"")
    assert new_database_file(tmp_path / "new.duckdb") and new_database_file(str(tmp_path / "new.sqlite"))
    assert not new_database_file(tmp_path / "old.duckdb")
    os.symlink(tmp_path / "gone", tmp_path / "dangling.duckdb")  # a link: there is something at the path
    assert not new_database_file(tmp_path / "dangling.duckdb")
    for target in (None, ":memory:", f"duckdb:///{tmp_path / 'x.duckdb'}", "postgresql://u@h/db",
                   "jdbc:postgresql://h/db"):
        assert not new_database_file(target)  # URLs and the default: the run asks the open database


def test_begin_imports_no_database_layer_and_starts_the_reading(tmp_path):
    """``rcdm etl``'s reason for ``begin``: the workers read while the database layer (SQLAlchemy, pandas) is
    imported. In a new process, ``begin`` into a new file imports neither and has results in flight."""
    tree, persons, _images = _corpus(tmp_path)
    code = f"""
import sys
from rcdm.etl.start import begin
from rcdm.options import EtlOptions
run = begin([{str(tree)!r}], {str(tmp_path / 'new.duckdb')!r},
            EtlOptions(person_map={str(persons)!r}, secret_file={str(tmp_path / 'secret')!r}, quiet=True,
                       workers=2, batch_size=4))
heavy = sorted(m for m in ('sqlalchemy', 'pandas', 'sqlglot', 'duckdb') if m in sys.modules)
results = list(run.opening.results)
run.close()
print(heavy, sum(t.num_rows for _, t in results))
"""
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", str(len(list(iter_files([tree]))))]  # a row a file read


@pytest.mark.slow
def test_a_run_begun_early_loads_what_a_run_begun_late_loads(tmp_path):
    """Into a new DuckDB file the batches go out in ``begin``; into an existing one after the probe: the same
    rows, keys and summary counts (the ids and keys depend on the secret and paths only)."""
    from rcdm.etl.run import run_begun

    tree, persons, images = _corpus(tmp_path)
    summaries, rows = [], []
    for name in ("early", "late"):
        db = tmp_path / f"{name}.duckdb"
        if name == "late":
            connect(db).close()  # the file exists: begin cannot know it is a first load
        options = EtlOptions(person_map=str(persons), secret_file=str(tmp_path / "secret"), quiet=True, workers=2,
                             batch_size=3)
        run = begin([str(tree)], str(db), options)
        assert (run.opening is not None) == (name == "early")
        summaries.append(run_begun(run, str(db)))
        with connect(db) as conn:
            rows.append(query_sql(conn, "SELECT i.radiology_image_id, i.radiology_occurrence_id, o.person_id, "
                                        "f.file_key FROM @s.radiology_image i JOIN @s.radiology_occurrence o ON "
                                        "o.radiology_occurrence_id = i.radiology_occurrence_id JOIN @s.rcdm_etl_file f "
                                        "ON f.radiology_image_id = i.radiology_image_id ORDER BY 1;",
                                  s="cdm").to_dict("records"))
    assert summaries[0]["loaded"] == summaries[1]["loaded"] == images
    assert {k: summaries[0][k] for k in ("files_seen", "studies", "series", "images", "tables")} == \
        {k: summaries[1][k] for k in ("files_seen", "studies", "series", "images", "tables")}
    assert rows[0] == rows[1] and len(rows[0]) == images


def test_begin_checks_everything_before_it_creates_the_secret(tmp_path):
    from rcdm.errors import UsageError

    tree, persons, _ = _corpus(tmp_path)
    bad = EtlOptions(person_map=str(persons), secret_file=str(tmp_path / "secret"), workers=2, batch_size=0)
    with pytest.raises(UsageError, match="batch_size"):
        begin([str(tree)], str(tmp_path / "new.duckdb"), bad)
    with pytest.raises(UsageError, match="No such file"):
        begin([str(tmp_path / "missing")], str(tmp_path / "new.duckdb"), EtlOptions(person_map=str(persons)))
    for executor in (dict(staging_url=str(tmp_path / "stage")), dict(scheduler="tcp://h:8786"),
                     dict(executor="spark")):  # the executor's options too, into a new file as into any
        options = EtlOptions(person_map=str(persons), secret_file=str(tmp_path / "secret"), workers=2, **executor)
        with pytest.raises(UsageError):
            begin([str(tree)], str(tmp_path / "new.duckdb"), options)
    assert not (tmp_path / "secret").exists()


def _entries(tmp_path: Path, n: int) -> list[tuple[str, str, str, None, None, None]]:
    tree, _persons, _ = _corpus(tmp_path, patients=3)
    files = sorted(str(p) for p in tree.rglob("*") if p.is_file())[:n]
    return list(Batches(iter(files), str(tree), 2, SECRET, None))


@pytest.mark.slow
def test_the_feeding_thread_keeps_workers_busy_within_its_bounds(tmp_path):
    """While the caller is busy elsewhere, the thread goes on sending as batches are read, but never holds more
    than ``held``; what ``start`` gives is what ``map_batches`` gives, in order."""
    if pool_context().get_start_method() != "forkserver":
        pytest.skip("no forkserver on this platform")
    batches = _entries(tmp_path, 24)
    assert len(batches) >= 8
    expected = list(LocalExecutor(BatchContext(SECRET), workers=1).map_batches(iter(batches)))
    pool = WorkerPool(2)
    try:
        rest = iter(batches)
        feeder = _Feeder(pool, rest, BatchContext(SECRET), limit=4, held=5)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (len(feeder.in_flight) == 5
                                                   and all(f.done() for _t, f in feeder.in_flight)):
            time.sleep(0.05)
        in_flight = feeder.stop()
        assert len(in_flight) == 5  # more than the four ``_map`` keeps in flight: it went on sending as they came
        assert all(f.done() for _t, f in in_flight)  # and stopped at ``held``, all read
        assert [tag for tag, _f in in_flight] == [tag for tag, _e in batches[:5]]
        executor = LocalExecutor(BatchContext(SECRET), pool=pool)
        out = list(executor._map(pool.get(), rest, in_flight))  # the caller takes over where the thread stopped
        started = list(executor.start(iter(batches)))
        dropped = executor.start(iter(batches))
        dropped.close()  # before any result: the thread stops, nothing is read for it any more
        assert not dropped.feeder.thread.is_alive()
    finally:
        pool.close()
    for got in (out, started):
        assert [tag for tag, _t in got] == [tag for tag, _t in expected]
        assert [t.to_pylist() for _tag, t in got] == [t.to_pylist() for _tag, t in expected]


@pytest.mark.slow
def test_an_error_of_the_feeding_thread_is_raised_to_the_caller(tmp_path):
    def broken():
        yield from _entries(tmp_path, 4)[:1]
        raise OSError("walk failed")

    pool = WorkerPool(2)
    try:
        results = LocalExecutor(BatchContext(SECRET), pool=pool).start(broken())
        with pytest.raises(OSError, match="walk failed"):
            list(results)
    finally:
        pool.close()


_NO_PANDAS = "'pandas' not in __import__('sys').modules and not __import__('pyarrow').lib._pandas_api.have_pandas"
"""In a process: pandas not imported, and pyarrow takes it for absent (an expression: ``eval`` pickles by name)."""


_WORKERS_SCRIPT = """
import sys
NO_PANDAS = sys.argv[1]
from rcdm.etl import forkserver
from rcdm.etl.executor import WorkerPool, read_batch
from rcdm.etl.start import Batches
from rcdm.etl.transform import BatchContext
if sys.argv[2] == "program":
    forkserver.start(forkserver.PROGRAM_PRELOAD)
files = sys.argv[4:]
batches = list(Batches(iter(files), sys.argv[3], 2, b"s" * 32, None))
pool = WorkerPool(2)
try:
    running = pool.get()
    tables = [running.submit(read_batch, e, BatchContext(b"s" * 32)).result() for _t, e in batches]
    answers = {running.submit(eval, NO_PANDAS).result() for _ in range(4)}
finally:
    pool.close()
same = [t.to_pylist() for t in tables] == [read_batch(e, BatchContext(b"s" * 32)).to_pylist() for _t, e in batches]
print(sorted(answers), same)
"""


@pytest.mark.parametrize("server", ["program", "library"])
def test_only_the_programs_workers_do_without_pandas(tmp_path, server):
    """``rcdm etl``'s forkserver settles pyarrow's question about pandas with pandas hidden
    (``forkserver.PROGRAM_PRELOAD``, ``rcdm.etl.preload``): its workers, having read and converted batches, have
    not imported pandas and build the same tables. The server of a process that goes on (R, a notebook; pools
    made by ``run_etl``) imports pandas as before: it serves every pool made there."""
    if pool_context().get_start_method() != "forkserver":
        pytest.skip("no forkserver on this platform")
    tree, _persons, _ = _corpus(tmp_path)
    files = sorted(str(p) for p in tree.rglob("*") if p.is_file())[:6]
    done = subprocess.run([sys.executable, "-c", _WORKERS_SCRIPT, _NO_PANDAS, server, str(tree), *files],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == (["[True]", "True"] if server == "program" else ["[False]", "True"])


def test_the_preload_hides_pandas_from_pyarrow_only_at_its_first_question():
    """In a new process as in the server: pyarrow settles that pandas is absent, a later ``import pandas`` still
    works, the worker code is imported, the collector is on again with the imports frozen out of it."""
    code = f"""
import gc, sys
import rcdm.etl.preload as preload
print({_NO_PANDAS}, 'rcdm.etl.transform' in sys.modules, gc.isenabled(), gc.get_freeze_count() > 0)
import pyarrow as pa
t = pa.table({{'a': [1, 2], 'b': ['x', None]}})
import pandas  # a later import still works; only pyarrow keeps its answer
print(preload.answer_without_pandas(), t.num_rows, pa.lib._pandas_api.have_pandas)
"""
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True", "True", "False", "2", "False"]
    imported_first = _python("import pandas, sys; import rcdm.etl.preload; import pyarrow as pa; "
                             "print(pa.lib._pandas_api.have_pandas)")
    assert imported_first.returncode == 0, imported_first.stderr
    assert imported_first.stdout.split() == ["True"]  # pandas imported before: nothing hidden


def test_the_program_skips_the_last_collections_and_keeps_its_exit_code(tmp_path):
    """``rcdm.cli.entry`` (the console script and ``python -m rcdm``): the command's exit code, and a database
    written by the command is closed whole (no WAL left for the next opening)."""
    tree, persons, images = _corpus(tmp_path)
    db = tmp_path / "cli.duckdb"
    done = subprocess.run([sys.executable, "-m", "rcdm", "etl", "--db", str(db), "--schema", "cdm", "--person-map",
                           str(persons), "--secret-file", str(tmp_path / "secret"), "--workers", "2", "--quiet",
                           str(tree)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert not Path(str(db) + ".wal").exists()
    with connect(db) as conn:
        assert int(query_sql(conn, "SELECT COUNT(*) AS n FROM @s.radiology_image;", s="cdm")["n"][0]) == images
    usage = subprocess.run([sys.executable, "-m", "rcdm", "etl", "--db", str(db), "--schema", "cdm", str(tree)],
                           capture_output=True, text=True, timeout=300, check=False)
    assert usage.returncode == 2 and "--person-map" in usage.stderr  # bad usage, as from main
    code = """
import gc, sys
from rcdm import cli
before = gc.get_freeze_count()
sys.argv = ["rcdm", "ddl", "--help"]
try:
    cli.entry()
except SystemExit as exc:
    print(before, exc.code, gc.get_freeze_count() > 0)
"""
    done = _python(code)
    assert done.stdout.split()[-3:] == ["0", "0", "True"], done.stderr  # only entry() freezes, whatever the exit


def test_the_collector_is_paused_over_the_imports_and_frozen_only_for_the_program(tmp_path):
    """``rcdm etl`` pauses the collector over its imports; it freezes their objects out of it only when the
    process ends with the command (``rcdm.cli.entry``): a caller of ``main`` (this test) keeps a collector that
    collects everything."""
    import gc

    from rcdm.cli import main
    from rcdm.cli.common import collector_paused

    before = gc.get_freeze_count()
    with collector_paused(freeze=False):
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() == before
    gc.disable()
    try:
        with collector_paused(freeze=False):
            pass
        assert not gc.isenabled()  # a collector the caller disabled stays disabled
    finally:
        gc.enable()
    tree, persons, images = _corpus(tmp_path)
    assert main(["etl", str(tree), "--db", str(tmp_path / "x.duckdb"), "--person-map", str(persons),
                 "--secret-file", str(tmp_path / "secret"), "--workers", "2", "--quiet"]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == before
    frozen = _python("import gc; from rcdm.cli.common import collector_paused\n"
                     "with collector_paused(freeze=True): import pandas\n"
                     "print(gc.isenabled(), gc.get_freeze_count() > 0)")
    assert frozen.stdout.split() == ["True", "True"], frozen.stderr
