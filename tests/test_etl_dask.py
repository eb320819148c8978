"""The ETL at scale: the Dask executor (same tables as the local one, a killed worker loses and duplicates
nothing), the staged Parquet interchange format (docs/staging-format.md), and streaming file discovery."""

from __future__ import annotations

import os
import re
import sys
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from rcdm.db import connect, query_sql
from rcdm.dicom.sample import write_sample_corpus
from rcdm.errors import MissingDriverError, UsageError
from rcdm.etl import run_etl
from rcdm.etl.discover import iter_files
from rcdm.etl.executor import LocalExecutor
from rcdm.etl.transform import STAGE_SCHEMA, BatchContext, FileEntry, file_key, process_batch, relative_path

pytestmark = pytest.mark.slow  # the ETL end to end, with worker processes

DOC = Path(__file__).resolve().parents[1] / "docs" / "staging-format.md"
BATCH = 9
ORDER = {"radiology_occurrence": "radiology_occurrence_id", "radiology_image": "radiology_image_id",
         "rcdm_etl_file": "file_key"}


def _na(v) -> bool:
    try:
        return v is None or bool(v != v)
    except (TypeError, ValueError):
        return False


def tables(db: Path) -> dict[str, list[tuple]]:
    """Every row of the R-CDM tables and of rcdm_etl_file (without run ids and times), sorted."""
    out = {}
    with connect(db) as conn:
        for table, key in ORDER.items():
            frame = query_sql(conn, f"SELECT * FROM cdm.{table} ORDER BY {key};")
            frame = frame.drop(columns=[c for c in ("run_id", "processed_at") if c in frame.columns])
            out[table] = [tuple(None if _na(v) else str(v) for v in row) for row in frame.itertuples(index=False)]
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    return write_sample_corpus(tmp_path_factory.mktemp("dask") / "corpus", n_patients=6, seed=3)


@pytest.fixture(scope="module")
def local_run(corpus, tmp_path_factory) -> dict:
    """The reference: the local executor, one process."""
    base = tmp_path_factory.mktemp("local")
    summary = run_etl(corpus["out_dir"], base / "cdm.duckdb", "cdm", person_map=corpus["person_map"],
                      secret_file=str(base.parent / "secret"), workers=1, batch_size=BATCH, quiet=True)
    return {"summary": summary, "tables": tables(base / "cdm.duckdb"), "secret": str(base.parent / "secret")}


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as c:
        yield c


# --- the Dask executor -------------------------------------------------------------------------------------

def test_dask_local_gives_the_same_tables_as_the_local_executor(corpus, local_run, tmp_path):
    pytest.importorskip("distributed")
    db = tmp_path / "cdm.duckdb"
    summary = run_etl(corpus["out_dir"], db, "cdm", person_map=corpus["person_map"], secret_file=local_run["secret"],
                      workers=2, batch_size=BATCH, quiet=True, executor="dask-local",
                      staging_dir=str(tmp_path / "staging"), keep_staging=True)
    assert summary["files_seen"] == local_run["summary"]["files_seen"] == len(corpus["files"]) + 1  # + person map
    assert summary["loaded"] == local_run["summary"]["loaded"] > 0
    got = tables(db)
    assert got == local_run["tables"]
    assert len(got["radiology_image"]) == summary["loaded"]
    # the loader's staged files (what was loaded) are the documented interchange format
    staged = sorted((tmp_path / "staging").rglob("batch-*.parquet"))
    assert len(staged) == -(-summary["files_seen"] // BATCH)
    for path in staged:
        assert pq.read_schema(path).equals(STAGE_SCHEMA)
    whole = pa.concat_tables(pq.read_table(p) for p in staged)
    assert whole.num_rows == summary["files_seen"]
    assert whole.filter(pc.equal(whole["status"], "loaded")).column("person_id").null_count == 0


class KillOnce:
    """Batch function that kills its own worker process (as kill -9 would) the first time it meets ``victim``;
    ``marker`` records that it did, so the retry on another (or the restarted) worker succeeds."""

    def __init__(self, victim: str, marker: str) -> None:
        self.victim, self.marker = victim, marker

    def __call__(self, entries: list[FileEntry], ctx: BatchContext) -> pa.Table:
        if any(e.file_path == self.victim for e in entries) and not os.path.exists(self.marker):
            with open(self.marker, "w") as f:
                f.write(str(os.getpid()))
            os._exit(137)
        return process_batch(entries, ctx)


@pytest.mark.parametrize("through", ["scheduler", "staging_url"])
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(corpus, local_run, cluster, tmp_path, monkeypatch,
                                                              through):
    import cloudpickle

    from rcdm.etl import dask_executor

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    root = Path(corpus["out_dir"])
    victim = relative_path(sorted(corpus["images"])[len(corpus["images"]) // 2], str(root))
    marker = tmp_path / "killed"
    monkeypatch.setattr(dask_executor, "process_batch", KillOnce(victim, str(marker)))
    db = tmp_path / "cdm.duckdb"
    shared = tmp_path / "shared"
    summary = run_etl(str(root), db, "cdm", person_map=corpus["person_map"], secret_file=local_run["secret"],
                      batch_size=BATCH, quiet=True, executor="dask", scheduler=cluster.scheduler_address,
                      staging_url=str(shared) if through == "staging_url" else None)
    assert marker.exists(), "the victim's batch never ran"
    assert int(marker.read_text()) != os.getpid()  # it was a worker that died, not this process
    assert summary["files_seen"] == local_run["summary"]["files_seen"]
    assert summary["loaded"] == local_run["summary"]["loaded"]
    got = tables(db)
    assert got == local_run["tables"]  # nothing lost, nothing twice
    ids = [row[0] for row in got["radiology_image"]]
    assert len(ids) == len(set(ids))
    if through == "staging_url":
        assert not any(shared.rglob("*.parquet")), "worker-staged files are removed once loaded"


def test_executor_yields_every_batch_once_in_order(corpus, cluster, tmp_path):
    from rcdm.etl.dask_executor import DaskExecutor

    root = corpus["out_dir"]
    paths = list(iter_files([root]))
    entries = [FileEntry(p, relative_path(p, root), file_key(relative_path(p, root), b"k" * 32), None, None) for p in paths]
    batches = [(i, entries[i:i + 7]) for i in range(0, len(entries), 7)]
    ctx = BatchContext(b"k" * 32)
    expected = list(LocalExecutor(ctx, 1).map_batches(batches))
    worker_staged = DaskExecutor(ctx, scheduler=cluster.scheduler_address, staging_url=f"file://{tmp_path}/w",
                                 keep_staged=True, in_flight=3)
    got = list(worker_staged.map_batches(iter(batches)))
    assert [tag for tag, _ in got] == [tag for tag, _ in expected]
    assert all(a.equals(b) for (_, a), (_, b) in zip(got, expected))
    files = sorted((tmp_path / "w").rglob("*.parquet"))  # kept: one per batch, named by number
    assert [f.name for f in files] == [f"batch-{n:09d}.parquet" for n in range(1, len(batches) + 1)]
    assert not list((tmp_path / "w").rglob("*.part"))
    for f in files:
        assert pq.read_schema(f).equals(STAGE_SCHEMA)


def test_missing_dask_names_the_extra(monkeypatch, corpus, tmp_path):
    from rcdm.etl import dask_executor

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    with pytest.raises(MissingDriverError, match=re.escape("pip install 'rcdm[dask]'")):
        dask_executor.DaskExecutor(BatchContext(b"k" * 32))
    with pytest.raises(MissingDriverError, match=re.escape("pip install 'rcdm[dask]'")):
        run_etl(corpus["out_dir"], tmp_path / "cdm.duckdb", "cdm", person_map=corpus["person_map"],
                secret_file=str(tmp_path / "secret"), quiet=True, executor="dask-local")


def test_executor_choice_is_checked():
    from rcdm.etl.dask_executor import make_executor

    ctx = BatchContext(b"k" * 32)
    assert isinstance(make_executor("local", ctx, 2), LocalExecutor)
    with pytest.raises(UsageError, match="scheduler"):
        make_executor("dask", ctx)
    with pytest.raises(UsageError, match="only used with the 'dask' executor"):
        make_executor("local", ctx, scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(UsageError, match="Unknown executor 'spark'"):
        make_executor("spark", ctx)


def test_cli_executor_options(corpus, tmp_path, capsys):
    from rcdm.cli import main

    code = main(["etl", corpus["out_dir"], "--db", str(tmp_path / "cdm.duckdb"), "--person-map",
                 corpus["person_map"], "--secret-file", str(tmp_path / "secret"), "--executor", "dask", "--quiet"])
    assert code == 2
    assert "scheduler" in capsys.readouterr().err


# --- the staged Parquet format -----------------------------------------------------------------------------

def documented_schema() -> dict[str, str]:
    """The column table of docs/staging-format.md: ``| `name` | `arrow type` | ...``."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Columns", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_0-9]+)` \| `([^`]+)` \|", section, flags=re.M)
    return dict(rows)


def test_the_staging_doc_describes_exactly_the_staged_schema(corpus, tmp_path):
    documented = documented_schema()
    assert list(documented) == STAGE_SCHEMA.names  # every column, in file order
    assert documented == {f.name: str(f.type) for f in STAGE_SCHEMA}
    # a staged file, written as the ETL writes it, reads back with exactly those names and types
    from rcdm.etl.stage import Staging

    root = corpus["out_dir"]
    entries = [FileEntry(p, relative_path(p, root), file_key(relative_path(p, root), b"k" * 32), None, None)
               for p in list(iter_files([root]))[:20]]
    staging = Staging(tmp_path, run_id=1, keep=True)
    path = staging.write(1, process_batch(entries, BatchContext(b"k" * 32)))
    assert path.name == "batch-000001.parquet" and path.parent.name == "1"
    back = pq.read_table(path)
    assert {f.name: str(f.type) for f in back.schema} == documented
    assert back.schema.equals(STAGE_SCHEMA)
    loaded = back.filter(pc.equal(back["status"], "loaded"))
    assert loaded.num_rows > 0
    assert all(len(v) == 64 for v in loaded.column("radiology_image_source_value").to_pylist())
    assert all(0 < v < 2**63 for v in loaded.column("radiology_image_id").to_pylist())
    for name in documented:
        assert f"`{name}`" in DOC.read_text(encoding="utf-8")


# --- streaming discovery -----------------------------------------------------------------------------------

def test_walking_a_big_tree_streams(tmp_path):
    root = tmp_path / "tree"
    n_dirs, per_dir = 100, 500
    for d in range(n_dirs):
        folder = root / f"{d:03d}" / "series"
        folder.mkdir(parents=True)
        for i in range(per_dir):
            (folder / f"{i:05d}.dcm").touch()
    tracemalloc.start()
    try:
        count = 0
        for _path in iter_files([root]):
            count += 1
        streamed_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        listed = list(iter_files([root]))
        full_list = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert count == len(listed) == n_dirs * per_dir
    assert listed == sorted(listed)  # deterministic, sorted walk
    assert streamed_peak < full_list / 10, (streamed_peak, full_list)  # one folder at a time, not the tree


def test_a_file_list_of_a_million_lines_is_streamed(tmp_path):
    listing = tmp_path / "files.txt"
    n = 1_000_000
    with open(listing, "w", encoding="utf-8") as f:
        f.write("# exported by the archive\n\n")
        for start in range(0, n, 100_000):
            f.write("".join(f"/archive/{i // 1000:04d}/{i:08d}.dcm\n" for i in range(start, start + 100_000)))
    tracemalloc.start()
    try:
        count = 0
        last = None
        for path in iter_files([], file_list=listing):
            count += 1
            last = path
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == n and last == f"/archive/0999/{n - 1:08d}.dcm"
    assert peak < 1_000_000, peak  # a list of the paths would take ~80 MB
