"""Kill -9 in the middle of a run, start again: the tables end exactly as after an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rcdm.db import connect, execute_sql, existing_indexes_and_constraints, query_sql
from rcdm.ddl import ddl_statements
from rcdm.etl import run_etl
from test_etl_load import make_corpus, pg_schema, snapshot

pytestmark = pytest.mark.slow  # the ETL end to end, with worker processes

BATCH = 20


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory) -> dict:
    """A few hundred files: six sample corpora with different seeds."""
    return make_corpus(tmp_path_factory.mktemp("big"), seeds=(0, 1, 2, 3, 4, 5), n_patients=6)


_RUNNER = "import json, sys; from rcdm.etl import run_etl; run_etl(**json.loads(sys.argv[1]))"


def _cli(corpus: dict, db: str, schema: str, secret: str, staging: str) -> list[str]:
    """A run in a child process (``rcdm etl``'s call), one batch of BATCH files per transaction."""
    args = {"paths": str(corpus["root"]), "conn": db, "cdm_database_schema": schema,
            "person_map": corpus["person_map"], "secret_file": secret, "workers": 1, "batch_size": BATCH,
            "commit_rows": BATCH, "staging_dir": staging, "quiet": True}
    return [sys.executable, "-c", _RUNNER, json.dumps(args)]


_SECONDARY = {st.name for model in ("rcdm", "etl") for st in ddl_statements("cdm", model) if st.kind == "index"}


def _secondary_indexes(conn, schema: str) -> set[str]:
    return {n.lower() for table in ("radiology_image", "radiology_occurrence", "rcdm_etl_file")
            for n in existing_indexes_and_constraints(conn, schema, table)}


def _kill_when(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("the run ended before it could be killed: make the corpus bigger")
        if ready():
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return
        time.sleep(0.01)
    process.kill()
    pytest.fail("the run never committed a batch")


def test_kill_and_resume_duckdb(big_corpus, tmp_path):
    assert len(big_corpus["files"]) > 250
    secret = str(tmp_path / "secret")
    staging = tmp_path / "staging"
    db = str(tmp_path / "killed.duckdb")
    process = subprocess.Popen(_cli(big_corpus, db, "cdm", secret, str(staging)))
    # batch n+1 is staged only after batch n committed (workers=1): the third file means two batches are in
    _kill_when(process, lambda: (staging / "1" / "batch-000003.parquet").exists())
    with connect(db) as conn:
        committed = query_sql(conn, "SELECT COUNT(*) AS n FROM cdm.rcdm_etl_file;")["n"][0]
        assert committed % BATCH == 0 and 0 < committed < len(big_corpus["files"])
        statuses = query_sql(conn, "SELECT status FROM cdm.rcdm_etl_run;")["status"].tolist()
        assert statuses == ["running"]
        assert not _secondary_indexes(conn, "cdm") & _SECONDARY  # an empty schema: built after the load
    rerun = subprocess.run(_cli(big_corpus, db, "cdm", secret, str(staging)), capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    with connect(tmp_path / "whole.duckdb") as whole:
        run_etl(str(big_corpus["root"]), whole, "cdm", person_map=big_corpus["person_map"], secret_file=secret,
                workers=1, batch_size=BATCH, quiet=True)
        expected = snapshot(whole, "cdm")
    with connect(db) as conn:
        assert snapshot(conn, "cdm") == expected
        assert _secondary_indexes(conn, "cdm") >= _SECONDARY  # the next run's create_tables built them
        runs = query_sql(conn, "SELECT status, summary FROM cdm.rcdm_etl_run ORDER BY run_id;")
        assert runs["status"].tolist() == ["interrupted", "finished"]
        second = json.loads(runs["summary"][1])
        assert second["skipped_by_reason"]["unchanged"] == committed
        assert second["files_seen"] == second["loaded"] + second["quarantined"] + second["skipped"]


def test_kill_and_resume_postgresql(big_corpus, tmp_path, postgres_url):
    secret = str(tmp_path / "secret")
    with connect(postgres_url) as watcher:
        schema = pg_schema(watcher)
        try:
            process = subprocess.Popen(_cli(big_corpus, postgres_url, schema, secret, str(tmp_path / "st")))

            def committed() -> bool:
                try:
                    n = query_sql(watcher, f"SELECT COUNT(*) AS n FROM {schema}.rcdm_etl_file;")["n"][0]
                except Exception:  # noqa: BLE001 - the tables do not exist yet
                    return False
                return n >= 2 * BATCH

            _kill_when(process, committed)
            assert not _secondary_indexes(watcher, schema) & _SECONDARY  # an empty schema: built after the load
            rerun = subprocess.run(_cli(big_corpus, postgres_url, schema, secret, str(tmp_path / "st")),
                                   capture_output=True, text=True, timeout=300)
            assert rerun.returncode == 0, rerun.stderr
            with connect(tmp_path / "whole.duckdb") as whole:
                run_etl(str(big_corpus["root"]), whole, "cdm", person_map=big_corpus["person_map"],
                        secret_file=secret, workers=1, batch_size=BATCH, quiet=True)
                expected = snapshot(whole, "cdm")
            assert snapshot(watcher, schema) == expected
            assert _secondary_indexes(watcher, schema) >= _SECONDARY  # the next run's create_tables built them
            runs = query_sql(watcher, f"SELECT status FROM {schema}.rcdm_etl_run ORDER BY run_id;")
            assert runs["status"].tolist() == ["interrupted", "finished"]
        finally:
            execute_sql(watcher, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")


def test_kill_between_the_last_batch_and_finalize(tmp_path):
    """Every batch committed, the finalize never ran: the next run completes it, ending as one whole run."""
    from test_etl_load import make_corpus

    from rcdm.etl.run import EXIT_BEFORE_FINALIZE

    corpus = make_corpus(tmp_path / "c", seeds=(0,), n_patients=3)
    secret = str(tmp_path / "secret")
    db = str(tmp_path / "killed.duckdb")
    env = {**os.environ, EXIT_BEFORE_FINALIZE: "1"}
    killed = subprocess.run(_cli(corpus, db, "cdm", secret, str(tmp_path / "st")), env=env, capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == 137, killed.stderr
    with connect(db) as conn:
        loaded = query_sql(conn, "SELECT COUNT(*) AS n FROM cdm.radiology_image;")
        assert loaded["n"][0] == len(corpus["images"])  # every batch committed
        pending = query_sql(conn, "SELECT COUNT(DISTINCT radiology_series_id) AS n FROM cdm.rcdm_etl_pending;")
        assert pending["n"][0] == corpus["infos"][0]["series"]  # finalize never ran
        counts = query_sql(conn, "SELECT SUM(count_of_images) AS n FROM cdm.radiology_occurrence;")
        assert counts["n"][0] < len(corpus["images"])  # studies split over batches: provisional counts
    rerun = subprocess.run(_cli(corpus, db, "cdm", secret, str(tmp_path / "st")), capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    with connect(tmp_path / "whole.duckdb") as whole:
        run_etl(str(corpus["root"]), whole, "cdm", person_map=corpus["person_map"], secret_file=secret,
                workers=1, batch_size=BATCH, quiet=True)
        expected = snapshot(whole, "cdm")
    with connect(db) as conn:
        assert snapshot(conn, "cdm") == expected
        runs = query_sql(conn, "SELECT status FROM cdm.rcdm_etl_run ORDER BY run_id;")
        assert runs["status"].tolist() == ["interrupted", "finished"]
        left = query_sql(conn, "SELECT COUNT(*) AS n FROM cdm.rcdm_etl_pending;")
        assert left["n"][0] == 0
