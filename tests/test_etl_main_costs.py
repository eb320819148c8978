"""The ETL main process's fixed costs cut in issue 19 (third round), each kept to its old behaviour: paths made
relative a batch at once, the run's tables made in one transaction, staging and path-index writes in the
background (flushed before a group commits)."""

from __future__ import annotations

import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rcdm.db import connect, exists_table, query_sql
from rcdm.dicom.sample import write_sample_corpus
from rcdm.etl import run as etl_run
from rcdm.etl import run_etl
from rcdm.etl.path_index import PathIndex
from rcdm.etl.stage import Staging
from rcdm.etl.transform import relative_path, relative_paths


@pytest.mark.parametrize("names", [
    ["a/b.dcm", "a/c/d.dcm", "e.dcm", ".hidden/x", "a..b/c.", "...", "é/ü.dcm"],
    ["a/./b.dcm"], ["a/../b.dcm"], ["a//b.dcm"], ["a/b/"], ["./a"], ["../a"], ["a/.."], ["a/."], [""], ["."],
])
def test_relative_paths_is_relative_path_of_each(tmp_path, names):
    root = str(tmp_path / "root")
    paths = [os.path.join(root, n) if n else root + os.sep for n in names]
    paths += [os.path.join(root, "plain.dcm")]  # one odd path in a batch: the whole batch the slow way, same result
    assert relative_paths(paths, root) == [relative_path(p, root) for p in paths]


def test_relative_paths_outside_the_root_or_with_an_odd_root(tmp_path):
    inside, outside = str(tmp_path / "r" / "a.dcm"), str(tmp_path / "elsewhere" / "b.dcm")
    for root in (str(tmp_path / "r"), str(tmp_path / "r") + os.sep, str(tmp_path / "r" / ".." / "r"), os.sep):
        paths = [inside, outside, str(tmp_path / "rx" / "c.dcm")]
        assert relative_paths(paths, root) == [relative_path(p, root) for p in paths]
    assert relative_paths([], str(tmp_path)) == []
    odd = [str(tmp_path / "r" / "a\0b.dcm"), inside]  # a NUL, as a file list's line may hold: no path lost
    assert relative_paths(odd, str(tmp_path / "r")) == ["a\0b.dcm", "a.dcm"]


def test_staging_writes_in_the_background_and_flush_waits(tmp_path):
    staging = Staging(tmp_path / "staging", run_id=7, keep=True)
    tables = [pa.table({"x": list(range(n))}) for n in (3, 5)]
    for number, table in enumerate(tables, 1):
        staging.write_later(number, table)
    written = staging.flush()
    assert [p.name for p in written] == ["batch-000001.parquet", "batch-000002.parquet"]
    assert [pq.read_table(p).equals(t) for p, t in zip(written, tables)] == [True, True]
    assert not list(staging.folder.glob("*.part"))
    staging.close()
    assert staging.folder.is_dir()  # kept


def test_staging_write_error_is_raised_by_flush_and_close_still_cleans_up(tmp_path):
    staging = Staging(tmp_path / "staging", run_id=1)
    staging.write_later(1, pa.table({"x": [1]}))
    staging.write_later(2, "not a table")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):  # pyarrow's own error, raised where run_etl flushes
        staging.flush()
    staging.write_later(3, pa.table({"x": [1]}))
    staging.close()  # waits for the write in flight, then removes the run's folder
    assert not staging.folder.exists()


def test_path_index_reads_its_rows_in_the_writer_thread(tmp_path):
    threads = []

    def rows():
        import threading

        threads.append(threading.current_thread().name)
        yield 2, "b/ü.dcm", 20
        yield 1, "a.dcm", None

    with PathIndex(tmp_path / "index.sqlite") as index:
        index.record_later("/archive", rows())
        index.flush()
        assert sorted(index.under("/archive", ["."])) == [(1, "a.dcm"), (2, "b/ü.dcm")]
    assert threads and threads[0].startswith("rcdm-path-index")


def _tables(url: str, schema: str) -> set[str]:
    with connect(url) as conn:
        return {t for t in ("radiology_occurrence", "radiology_image", "rcdm_etl_file", "rcdm_etl_run",
                            "rcdm_etl_stage_file") if exists_table(conn, schema, t)}


@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_run_tables_are_made_in_one_transaction_on_duckdb(tmp_path, monkeypatch, kind):
    """DuckDB: all or nothing; SQLite (which two runs may open at once): a statement a commit, as before."""
    url = str(tmp_path / "cdm.duckdb") if kind == "duckdb" else f"sqlite:///{tmp_path / 'cdm.sqlite'}"
    schema = "cdm"

    def failing(conn, schema):
        raise RuntimeError("the work tables failed")

    monkeypatch.setattr(etl_run, "create_work_tables", failing)
    with connect(url) as conn, pytest.raises(RuntimeError):
        etl_run._create_tables(conn, schema)
    made = _tables(url, schema)
    if kind == "duckdb":
        assert made == set()  # all rolled back: none of the R-CDM or ETL tables is left half made
    else:
        assert made == {"radiology_occurrence", "radiology_image", "rcdm_etl_file", "rcdm_etl_run"}
    monkeypatch.undo()
    with connect(url) as conn:
        etl_run._create_tables(conn, schema)
        etl_run._create_tables(conn, schema)  # again: every table exists, nothing to do
        assert query_sql(conn, "SELECT COUNT(*) AS n FROM @s.rcdm_etl_run;", s=schema)["n"][0] == 0
    assert _tables(url, schema) == {"radiology_occurrence", "radiology_image", "rcdm_etl_file", "rcdm_etl_run",
                                    "rcdm_etl_stage_file"}


@pytest.mark.slow
def test_a_run_over_staged_files_an_interrupted_run_left(tmp_path):
    """Staged Parquet left in the staging folder by an interrupted run (of this version or the one before: the
    format did not change) is neither read nor in the way: the next run stages its own batches over it, loads
    every file once and removes the folder; a first load with 2 workers (paths made relative in the parent,
    keys and stats in the workers) records every file in the path index."""
    info = write_sample_corpus(tmp_path / "tree", n_patients=3, seed=1)
    person_map = tmp_path / "persons.csv"
    shutil.move(info["person_map"], person_map)
    staging = tmp_path / "staging"
    stale = staging / "1"
    stale.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1, 2]}), stale / "batch-000001.parquet")  # not STAGE_SCHEMA: would fail a read
    (stale / "batch-000002.parquet.part").write_bytes(b"PAR1 cut short")
    db = str(tmp_path / "cdm.duckdb")
    kwargs = dict(person_map=str(person_map), secret_file=str(tmp_path / "secret"), quiet=True,
                  staging_dir=str(staging), batch_size=4)
    first = run_etl(str(tmp_path / "tree"), db, "cdm", workers=2, **kwargs)
    assert first["run_id"] == 1 and first["loaded"] == len(info["images"])
    assert not stale.exists()  # the run's folder, stale files included, removed at its end
    again = run_etl(str(tmp_path / "tree"), db, "cdm", workers=2, **kwargs)
    assert again["loaded"] == 0 and again["skipped_by_reason"]["unchanged"] == first["files_seen"]
    with connect(db) as conn:
        counts = query_sql(conn, "SELECT (SELECT COUNT(*) FROM @s.radiology_image) AS images, (SELECT COUNT(*) "
                                 "FROM @s.rcdm_etl_file) AS files;", s="cdm")
        assert (int(counts["images"][0]), int(counts["files"][0])) == (first["loaded"], first["files_seen"])
        image_ids = query_sql(conn, "SELECT radiology_image_id FROM @s.radiology_image;", s="cdm")
    with PathIndex(tmp_path / "secret.paths.sqlite", create=False) as index:
        found = index.locate(int(i) for i in image_ids["radiology_image_id"])
    root = str(tmp_path / "tree")
    assert len(found) == first["loaded"]
    assert all(os.path.isfile(os.path.join(root, rel)) for rows in found.values() for _root, rel in rows)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["duckdb", "sqlite"])
def test_a_first_load_sends_batches_before_making_its_tables(tmp_path, monkeypatch, kind):
    """With worker processes, a first load's first batches go to the workers before the run's tables, lock and
    repairs; if files were recorded between the probe and the lock (another run), the early batches are dropped
    and the run reads as a rerun: the same tables and summary either way."""
    info = write_sample_corpus(tmp_path / "tree", n_patients=2, seed=3)
    person_map = tmp_path / "persons.csv"
    shutil.move(info["person_map"], person_map)
    url = str(tmp_path / "cdm.duckdb") if kind == "duckdb" else f"sqlite:///{tmp_path / 'cdm.sqlite'}"
    kwargs = dict(person_map=str(person_map), secret_file=str(tmp_path / "secret"), quiet=True, batch_size=4,
                  workers=2)
    order: list[str] = []
    start, create = etl_run.LocalExecutor.start, etl_run._create_tables
    monkeypatch.setattr(etl_run.LocalExecutor, "start", lambda self, batches: order.append("batches")
                        or start(self, batches))
    monkeypatch.setattr(etl_run, "_create_tables", lambda conn, schema: order.append("tables")
                        or create(conn, schema))
    first = run_etl(str(tmp_path / "tree"), url, "cdm", **kwargs)
    assert order == ["batches", "tables"] and first["loaded"] == len(info["images"])
    order.clear()
    monkeypatch.setattr(etl_run, "_knows_no_file", lambda conn, schema: True)  # as if probed before another run
    again = run_etl(str(tmp_path / "tree"), url, "cdm", **kwargs)
    assert order == ["batches", "tables"]  # sent early, then dropped under the lock: the files are known
    assert again["loaded"] == 0 and again["skipped_by_reason"] == {"unchanged": first["files_seen"]}
    with connect(url) as conn:
        counts = query_sql(conn, "SELECT (SELECT COUNT(*) FROM @s.radiology_image) AS images, (SELECT COUNT(*) "
                                 "FROM @s.rcdm_etl_file) AS files;", s="cdm")
    assert (int(counts["images"][0]), int(counts["files"][0])) == (first["loaded"], first["files_seen"])
