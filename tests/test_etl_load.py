"""The ETL end to end on real files and real databases (DuckDB files and the session's PostgreSQL server).

Shared helpers here (``snapshot``, ``corpus``...) are imported by the other ``test_etl_*`` modules.
"""

from __future__ import annotations

import copy
import csv
import logging
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pydicom
import pytest

from rcdm.db import connect, execute_sql, insert_table, query_sql
from rcdm.dicom.derive import parse_date
from rcdm.dicom.sample import write_sample_corpus
from rcdm.errors import LockError, UsageError
from rcdm.etl import run_etl

pytestmark = pytest.mark.slow  # the ETL end to end, with worker processes

TABLES = ("radiology_occurrence", "radiology_image")
ORDER = {"radiology_occurrence": "radiology_occurrence_id", "radiology_image": "radiology_image_id"}


# --------------------------------------------------------------------------------------------------------------
# helpers


def snapshot(conn, schema: str) -> dict:
    """Every row of both R-CDM tables and of rcdm_etl_file (without run ids and times), sorted, as plain values."""
    out = {}
    for table in TABLES:
        frame = query_sql(conn, f"SELECT * FROM {schema}.{table} ORDER BY {ORDER[table]};")
        out[table] = [tuple(None if _isna(v) else (str(v) if not isinstance(v, (int, float, str)) else v)
                            for v in row) for row in frame.itertuples(index=False)]
    files = query_sql(conn, f"SELECT file_key, file_path, status, reason, radiology_image_id FROM "
                            f"{schema}.rcdm_etl_file ORDER BY file_key;")
    out["rcdm_etl_file"] = [tuple(None if _isna(v) else v for v in row) for row in files.itertuples(index=False)]
    return out


def _isna(v) -> bool:
    try:
        return v is None or v is pd.NA or bool(v != v)
    except (TypeError, ValueError):
        return False


def check_invariant(summary: dict) -> None:
    assert summary["files_seen"] == summary["loaded"] + summary["quarantined"] + summary["skipped"], summary
    assert summary["skipped"] == sum(summary["skipped_by_reason"].values())
    assert summary["quarantined"] == sum(summary["quarantined_by_reason"].values())


def make_corpus(base: Path, seeds=(0,), n_patients: int = 4) -> dict:
    """Sample corpora (one per seed) under ``base``, one person map covering every patient."""
    infos = [write_sample_corpus(base / "tree" / f"seed{s}", n_patients=n_patients, seed=s) for s in seeds]
    person_map = base / "persons.csv"
    shutil.copy(infos[0]["person_map"], person_map)
    for info in infos:
        os.remove(info["person_map"])
    return {"root": base / "tree", "person_map": str(person_map), "infos": infos,
            "images": [p for info in infos for p in info["images"]],
            "files": [p for info in infos for p in info["files"] if not p.endswith("person_map.csv")]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    return make_corpus(tmp_path_factory.mktemp("corpus"), seeds=(0,), n_patients=4)


@pytest.fixture
def secret(tmp_path) -> str:
    return str(tmp_path / "secret")


def pg_schema(conn) -> str:
    schema = f"etl_{uuid.uuid4().hex[:10]}"
    execute_sql(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")
    return schema


# --------------------------------------------------------------------------------------------------------------
# DuckDB round trip, values, idempotence


def test_duckdb_round_trip_values_and_rerun(corpus, secret, tmp_path):
    with connect(tmp_path / "cdm.duckdb") as conn:
        summary = run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                          workers=1, batch_size=7.0, commit_rows=7.0, quiet=True)  # several transactions
        check_invariant(summary)
        n_images = len(corpus["images"])
        assert summary["loaded"] == summary["images"] == n_images
        assert summary["quarantined_by_reason"] == {"missing_uid": 1, "truncated": 1}
        assert summary["skipped_by_reason"] == {"dicomdir": 1, "not_dicom": 2}  # README.txt, random.dcm
        assert summary["tables"] == {"radiology_occurrence": corpus["infos"][0]["studies"], "radiology_image": n_images}
        assert summary["studies"] == corpus["infos"][0]["studies"]
        assert summary["series"] == corpus["infos"][0]["series"]

        image = query_sql(conn, "SELECT * FROM cdm.radiology_image;")
        person_of_image = query_sql(conn, "SELECT i.radiology_image_id, o.person_id FROM cdm.radiology_image i "
                                          "JOIN cdm.radiology_occurrence o "
                                          "ON o.radiology_occurrence_id = i.radiology_occurrence_id;")
        persons = dict(zip(person_of_image["radiology_image_id"], person_of_image["person_id"]))
        by_path = {(row["file_path"], persons[row["radiology_image_id"]]): row for row in image.to_dict("records")}
        person_ids = {r[0]: int(r[1]) for r in csv.reader(open(corpus["person_map"], encoding="utf-8"))
                      if r[0] != "patient_id"}
        for path in corpus["images"]:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            # the PatientID folder is stored as a placeholder: the same stored path for every patient
            stored = Path(path).relative_to(corpus["root"]).as_posix().replace(f"/{ds.PatientID}/", "/{patient_id}/")
            row = by_path[(stored, person_ids[str(ds.PatientID)])]
            assert row["image_resolution_rows"] == ds.Rows and row["image_resolution_columns"] == ds.Columns
            assert row["modality"] == ds.Modality
            assert row["body_part_source_value"] == ds.BodyPartExamined
            assert row["instance_number"] == ds.InstanceNumber
            assert row["series_serial_number"] == ds.InstanceNumber  # numbered 1..n in the corpus
            if ds.Modality == "CT":
                assert row["ct_slice_thickness"] == pytest.approx(float(ds.SliceThickness))
            else:
                assert _isna(row["ct_slice_thickness"])
        occurrence = query_sql(conn, "SELECT * FROM cdm.radiology_occurrence;")
        assert (occurrence["protocol_concept_id"] == 0).all()
        assert (occurrence["count_of_images"].sum()) == n_images
        totals = image.groupby("radiology_series_id").size()
        for series_id, count in totals.items():
            assert set(image[image["radiology_series_id"] == series_id]["series_total_number"]) == {count}
        before = snapshot(conn, "cdm")

        again = run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                        workers=1, batch_size=7, quiet=True)
        check_invariant(again)
        assert again["loaded"] == 0 and again["skipped_by_reason"] == {"unchanged": summary["files_seen"]}
        assert snapshot(conn, "cdm") == before
        runs = query_sql(conn, "SELECT run_id, status FROM cdm.rcdm_etl_run ORDER BY run_id;")
        assert runs["status"].tolist() == ["finished", "finished"]


def test_postgresql_round_trip_equals_duckdb(corpus, secret, tmp_path, postgres_url):
    with connect(tmp_path / "cdm.duckdb") as duck:
        run_etl(str(corpus["root"]), duck, "cdm", person_map=corpus["person_map"], secret_file=secret, workers=1,
                batch_size=9, quiet=True)
        expected = snapshot(duck, "cdm")
    with connect(postgres_url) as pg:
        schema = pg_schema(pg)
        try:
            summary = run_etl(str(corpus["root"]), pg, schema, person_map=corpus["person_map"],
                              secret_file=secret, workers=2, batch_size=9, commit_rows=9, quiet=True)
            check_invariant(summary)
            assert snapshot(pg, schema) == expected
            again = run_etl(str(corpus["root"]), pg, schema, person_map=corpus["person_map"], secret_file=secret,
                            workers=1, batch_size=9, quiet=True)
            assert again["loaded"] == 0 and snapshot(pg, schema) == expected
        finally:
            execute_sql(pg, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")


def test_sqlite_round_trip_equals_duckdb(corpus, secret, tmp_path):
    """SQLite loads through the generic paths (work tables, executemany, no deferred indexes)."""
    with connect(tmp_path / "cdm.duckdb") as duck:
        run_etl(str(corpus["root"]), duck, "cdm", person_map=corpus["person_map"], secret_file=secret, workers=1,
                quiet=True)
        expected = snapshot(duck, "cdm")
    with connect(f"sqlite:///{tmp_path / 'cdm.sqlite'}") as lite:
        summary = run_etl(str(corpus["root"]), lite, "cdm", person_map=corpus["person_map"], secret_file=secret,
                          workers=1, batch_size=4, commit_rows=6, quiet=True)
        check_invariant(summary)
        assert snapshot(lite, "cdm") == expected


@pytest.mark.parametrize("target", ["duckdb", "sqlite"])
def test_changed_files_are_loaded_again_in_place(corpus, secret, tmp_path, target):
    """A file changed since its run (size or mtime) is read again: its rows are replaced, none is doubled."""
    url = str(tmp_path / "cdm.duckdb") if target == "duckdb" else f"sqlite:///{tmp_path / 'cdm.sqlite'}"
    with connect(url) as conn:
        first = run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                        workers=1, quiet=True)
        before = snapshot(conn, "cdm")
        changed = corpus["files"][::2]
        for path in changed:
            os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 1))
        again = run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                        workers=1, batch_size=3, commit_rows=5, quiet=True)
        check_invariant(again)
        assert again["skipped_by_reason"]["unchanged"] == first["files_seen"] - len(changed)
        assert snapshot(conn, "cdm") == before


def test_secondary_indexes_are_built_after_the_first_load(corpus, secret, postgres_url):
    from rcdm.db import existing_indexes_and_constraints
    from rcdm.ddl import ddl_statements

    with connect(postgres_url) as pg:
        schema = pg_schema(pg)
        try:
            run_etl(str(corpus["root"]), pg, schema, person_map=corpus["person_map"], secret_file=secret,
                    workers=1, quiet=True)
            expected = {st.name for model in ("rcdm", "etl") for st in ddl_statements(schema, model)
                        if st.kind == "index"}
            found = {n.lower() for table in ("radiology_image", "radiology_occurrence", "rcdm_etl_file")
                     for n in existing_indexes_and_constraints(pg, schema, table)}
            assert expected <= found
        finally:
            execute_sql(pg, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")


def test_an_error_in_a_deferred_load_builds_the_indexes_before_it_propagates(postgres_url):
    from rcdm.db import existing_indexes_and_constraints
    from rcdm.ddl import create_tables
    from rcdm.etl.load import deferred_indexes

    with connect(postgres_url) as pg:
        schema = pg_schema(pg)
        try:
            create_tables(pg, schema, model="rcdm")
            create_tables(pg, schema, model="etl")
            before = set(existing_indexes_and_constraints(pg, schema, "radiology_image"))
            with pytest.raises(RuntimeError, match="a failing batch"):
                with deferred_indexes(pg, schema) as deferred:
                    assert deferred
                    assert len(existing_indexes_and_constraints(pg, schema, "radiology_image")) < len(before)
                    raise RuntimeError("a failing batch")
            assert set(existing_indexes_and_constraints(pg, schema, "radiology_image")) == before
        finally:
            execute_sql(pg, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")


def test_indexes_another_run_built_meanwhile_do_not_fail_the_load(postgres_url):
    """A second run refused by the lock has already run create_tables, which builds the indexes the first run
    deferred: the first run's own build must then skip them, not fail after its last group."""
    from rcdm.db import existing_indexes_and_constraints
    from rcdm.ddl import create_tables
    from rcdm.etl.load import deferred_indexes

    with connect(postgres_url) as pg:
        schema = pg_schema(pg)
        try:
            create_tables(pg, schema, model="rcdm")
            create_tables(pg, schema, model="etl")
            before = set(existing_indexes_and_constraints(pg, schema, "radiology_image"))
            with deferred_indexes(pg, schema) as deferred:
                assert deferred
                create_tables(pg, schema, model="rcdm")  # what the refused run did before its lock
                create_tables(pg, schema, model="etl")
            assert set(existing_indexes_and_constraints(pg, schema, "radiology_image")) == before
        finally:
            execute_sql(pg, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")


def test_a_path_given_twice_is_loaded_once(corpus, secret, tmp_path):
    """Overlapping arguments (the archive and one of its files) read a file twice in one transaction group:
    the second reading is a duplicate, and the file's bookkeeping row is written once."""
    one = corpus["images"][0]
    with connect(tmp_path / "cdm.duckdb") as conn:
        summary = run_etl([str(corpus["root"]), one], conn, "cdm", person_map=corpus["person_map"],
                          secret_file=secret, root=str(corpus["root"]), workers=1, quiet=True)
        check_invariant(summary)
        assert summary["skipped_by_reason"]["duplicate"] == 1
        files = query_sql(conn, "SELECT COUNT(*) AS n, COUNT(DISTINCT file_key) AS paths FROM cdm.rcdm_etl_file;")
        assert files["n"][0] == files["paths"][0] == summary["files_seen"] - 1


def _to_hex_keys(conn, schema: str, corpus: dict, secret: str, empty: bool = False) -> None:
    """Make ``rcdm_etl_file`` as rcdm wrote it before file keys were BIGINT: VARCHAR(64) hex digests."""
    from rcdm.etl.load import ADDED_COLUMNS

    later = [name for name, _kind in ADDED_COLUMNS["rcdm_etl_file"]]  # columns an older rcdm did not have
    rows = query_sql(conn, f"SELECT * FROM {schema}.rcdm_etl_file;").drop(columns=later)
    if not empty:
        rows["file_key"] = _hex_keys(corpus, secret, rows["file_key"])
    execute_sql(conn, f"DROP TABLE {schema}.rcdm_etl_file; DROP TABLE {schema}.rcdm_etl_stage_file;")
    execute_sql(conn, f"CREATE TABLE {schema}.rcdm_etl_file (file_key VARCHAR(64) NOT NULL, file_path VARCHAR(1024) "
                      "NOT NULL, file_size BIGINT NULL, file_mtime_ns BIGINT NULL, status VARCHAR(20) NOT NULL, "
                      "reason VARCHAR(255) NULL, radiology_image_id BIGINT NULL, run_id BIGINT NOT NULL, processed_at "
                      "DATETIME NOT NULL, CONSTRAINT xpk_rcdm_etl_file PRIMARY KEY (file_key)); "
                      f"CREATE TABLE {schema}.rcdm_etl_stage_file (file_key VARCHAR(64) NOT NULL);")
    if not empty:
        insert_table(conn, schema, "rcdm_etl_file", rows)


def _hex_keys(corpus: dict, secret: str, keys) -> list[str]:
    """The 64-character hex digests whose first 63 bits are these BIGINT file keys (the corpus's files)."""
    from rcdm.dicom.deid import load_or_create_secret
    from rcdm.etl.transform import file_ids, file_key, relative_path

    site = load_or_create_secret(secret, create=False)
    hexes = [file_key(relative_path(p, str(corpus["root"])), site) for p in corpus["files"]]
    hex_of = dict(zip(file_ids(hexes).to_pylist(), hexes))
    return [hex_of[int(k)] for k in keys]


def _upgrade_and_rerun(conn, schema: str, corpus: dict, secret: str) -> None:
    before = snapshot(conn, schema)
    _to_hex_keys(conn, schema, corpus, secret)
    assert isinstance(query_sql(conn, f"SELECT file_key FROM {schema}.rcdm_etl_file;")["file_key"][0], str)
    again = run_etl(str(corpus["root"]), conn, schema, person_map=corpus["person_map"], secret_file=secret,
                    workers=1, quiet=True)
    assert again["loaded"] == 0 and again["skipped_by_reason"] == {"unchanged": again["files_seen"]}
    assert snapshot(conn, schema) == before  # the same keys: what file_ids makes of the same digests


@pytest.mark.parametrize("target", ["duckdb", "sqlite"])
def test_hex_file_keys_of_an_older_rcdm_are_converted_in_place(corpus, secret, tmp_path, target):
    url = str(tmp_path / "cdm.duckdb") if target == "duckdb" else f"sqlite:///{tmp_path / 'cdm.sqlite'}"
    with connect(url) as conn:
        run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret, workers=1,
                quiet=True)
        _upgrade_and_rerun(conn, "cdm", corpus, secret)


def test_hex_file_keys_are_converted_on_postgresql(corpus, secret, postgres_url):
    with connect(postgres_url) as pg:
        schema = pg_schema(pg)
        try:
            run_etl(str(corpus["root"]), pg, schema, person_map=corpus["person_map"], secret_file=secret,
                    workers=1, quiet=True)
            _upgrade_and_rerun(pg, schema, corpus, secret)
        finally:
            execute_sql(pg, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")


def test_an_empty_table_of_hex_keys_is_made_again(corpus, secret, tmp_path):
    from rcdm.ddl import create_tables
    from rcdm.etl.load import create_work_tables

    with connect(tmp_path / "cdm.duckdb") as conn:
        create_tables(conn, "cdm", model="etl")
        create_work_tables(conn, "cdm")
        _to_hex_keys(conn, "cdm", corpus, secret, empty=True)
        run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret, workers=1,
                quiet=True)
        keys = query_sql(conn, "SELECT file_key FROM cdm.rcdm_etl_file;")["file_key"]
        assert len(keys) == len(corpus["files"]) and all(0 < int(k) < 2**63 for k in keys)


def test_a_conversion_cut_short_is_refused_with_what_to_do(corpus, secret, tmp_path):
    from rcdm.errors import DatabaseError

    with connect(tmp_path / "cdm.duckdb") as conn:
        run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret, workers=1,
                quiet=True)
        execute_sql(conn, "CREATE TABLE cdm.rcdm_etl_file_upgrade (file_key BIGINT);")
        with pytest.raises(DatabaseError, match="drop cdm.rcdm_etl_file_upgrade and run again"):
            run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                    workers=1, quiet=True)


def test_postgresql_load_settings_are_restored(postgres_url):
    from rcdm.etl.load import load_settings

    with connect(postgres_url) as pg:
        show = "SELECT current_setting('synchronous_commit') AS v;"
        before = query_sql(pg, show)["v"][0]
        with load_settings(pg):
            assert query_sql(pg, show)["v"][0] == "off"
        assert query_sql(pg, show)["v"][0] == before


# --------------------------------------------------------------------------------------------------------------
# incremental loads: new files of known studies, unmapped patients, person source


def _file_list(path: Path, files: list[str]) -> str:
    path.write_text("".join(f + "\n" for f in files), encoding="utf-8")
    return str(path)


def test_new_files_of_known_studies_update_counts_like_a_single_run(corpus, secret, tmp_path):
    root = str(corpus["root"])
    images = corpus["images"]
    first = [p for p in images if not p.endswith("/1.dcm")]  # the lowest instance numbers come later
    with connect(tmp_path / "cdm.duckdb") as conn:
        s1 = run_etl(None, conn, "inc", file_list=_file_list(tmp_path / "a.txt", first), root=root,
                     person_map=corpus["person_map"], secret_file=secret, workers=1, batch_size=5, commit_rows=5,
                     quiet=True)
        assert s1["loaded"] == len(first)
        s2 = run_etl(root, conn, "inc", root=root, person_map=corpus["person_map"], secret_file=secret,
                     workers=1, batch_size=5, quiet=True)
        check_invariant(s2)
        assert s2["loaded"] == len(images) - len(first)
        assert s2["skipped_by_reason"]["unchanged"] == len(first)
        run_etl(root, conn, "single", person_map=corpus["person_map"], secret_file=secret, workers=1,
                batch_size=500, quiet=True)
        assert snapshot(conn, "inc") == snapshot(conn, "single")


def test_unmapped_patients_are_counted_then_loaded_when_the_map_grows(corpus, secret, tmp_path):
    rows = list(csv.reader(open(corpus["person_map"], encoding="utf-8")))
    partial = tmp_path / "partial.csv"
    with open(partial, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows[:-1])  # the last patient is missing
    missing = rows[-1][0]
    expected_unmapped = sum(1 for p in corpus["images"] if f"/{missing}/" in p)
    root = str(corpus["root"])
    with connect(tmp_path / "cdm.duckdb") as conn:
        s1 = run_etl(root, conn, "cdm", person_map=str(partial), secret_file=secret, workers=1, quiet=True)
        check_invariant(s1)
        assert s1["unmapped_patient"] == s1["skipped_by_reason"]["unmapped_patient"] == expected_unmapped > 0
        assert s1["loaded"] == len(corpus["images"]) - expected_unmapped
        stored = query_sql(conn, "SELECT COUNT(*) AS n FROM cdm.rcdm_etl_file WHERE status = 'unmapped_patient';")
        assert stored["n"][0] == expected_unmapped
        s2 = run_etl(root, conn, "cdm", person_map=corpus["person_map"], secret_file=secret, workers=1, quiet=True)
        assert s2["loaded"] == expected_unmapped and s2["unmapped_patient"] == 0
        run_etl(root, conn, "single", person_map=corpus["person_map"], secret_file=secret, workers=1, quiet=True)
        assert snapshot(conn, "cdm") == snapshot(conn, "single")


def test_person_source_cdm_gives_the_same_rows_as_the_map(corpus, secret, tmp_path):
    root = str(corpus["root"])
    rows = list(csv.DictReader(open(corpus["person_map"], encoding="utf-8")))
    with connect(tmp_path / "cdm.duckdb") as conn:
        run_etl(root, conn, "bymap", person_map=corpus["person_map"], secret_file=secret, workers=1, quiet=True)
        from rcdm.db import create_schema

        create_schema(conn, "bycdm")
        execute_sql(conn, "CREATE TABLE bycdm.person (person_id BIGINT, person_source_value VARCHAR(50));")
        insert_table(conn, "bycdm", "person", {"person_id": [int(r["person_id"]) for r in rows],
                                               "person_source_value": [r["patient_id"] for r in rows]})
        summary = run_etl(root, conn, "bycdm", person_source="cdm", secret_file=secret, workers=1, quiet=True)
        assert summary["unmapped_patient"] == 0
        assert snapshot(conn, "bycdm") == snapshot(conn, "bymap")


def test_arguments_are_checked(corpus, secret, tmp_path):
    with connect(tmp_path / "cdm.duckdb") as conn:
        with pytest.raises(UsageError):
            run_etl(str(corpus["root"]), conn, "cdm", secret_file=secret)  # no person mapping
        with pytest.raises(UsageError):
            run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                    batch_size=0)
        with pytest.raises(UsageError):
            run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                    commit_rows=0.5)
        with pytest.raises(UsageError):
            run_etl(str(tmp_path / "nope"), conn, "cdm", person_map=corpus["person_map"], secret_file=secret)


# --------------------------------------------------------------------------------------------------------------
# bad files, dates, PHI


def _bad_files(folder: Path, template: str) -> dict[str, str]:
    """Corrupt, truncated, empty, non-DICOM and unreadable files; returns {name: expected status}."""
    folder.mkdir(parents=True, exist_ok=True)
    data = Path(template).read_bytes()
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "text.dcm").write_text("not a DICOM file\n" * 20)
    (folder / "truncated_header.dcm").write_bytes(data[:300])
    (folder / "corrupt.dcm").write_bytes(data[:132] + bytes(range(256)) * 8)
    os.symlink(folder / "does-not-exist.dcm", folder / "broken_link.dcm")
    expected = {"empty.dcm": "skipped", "text.dcm": "skipped", "broken_link.dcm": "quarantined",
                "truncated_header.dcm": "quarantined", "corrupt.dcm": "quarantined"}
    locked = folder / "locked.dcm"
    locked.write_bytes(data)
    os.chmod(locked, 0)
    try:
        with open(locked, "rb"):
            readable = True  # root ignores the mode (CI): the broken link covers "cannot open"
    except PermissionError:
        readable = False
    if readable:
        os.chmod(locked, 0o644)
        locked.unlink()
    else:
        expected["locked.dcm"] = "quarantined"
    return expected


def test_bad_files_are_skipped_or_quarantined_with_a_reason(corpus, secret, tmp_path):
    bad = _bad_files(tmp_path / "bad", corpus["images"][0])
    with connect(tmp_path / "cdm.duckdb") as conn:
        summary = run_etl(str(tmp_path / "bad"), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                          workers=1, quiet=True)
        check_invariant(summary)
        files = query_sql(conn, "SELECT file_path, status, reason FROM cdm.rcdm_etl_file;")
        got = {r["file_path"]: r for r in files.to_dict("records")}
        assert summary["files_seen"] == len(bad)
        for name, status in bad.items():
            assert got[name]["status"] == status, got[name]
            assert got[name]["reason"], got[name]
        assert got["broken_link.dcm"]["reason"] == "broken_symlink"
        assert got["empty.dcm"]["reason"] == "empty_file"
        assert summary["loaded"] == 0


def test_impossible_dates_become_null_and_are_counted(corpus, secret, tmp_path):
    folder = tmp_path / "dates"
    folder.mkdir()
    ds = pydicom.dcmread(corpus["images"][0])
    ds = copy.deepcopy(ds)
    ds.StudyInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["bad-dates-study"])
    ds.SeriesInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["bad-dates-series"])
    ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["bad-dates-sop"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20231301"
    ds.save_as(folder / "bad_dates.dcm")
    with connect(tmp_path / "cdm.duckdb") as conn:
        summary = run_etl(str(folder), conn, "cdm", person_map=corpus["person_map"], secret_file=secret, workers=1,
                          quiet=True)
        assert summary["loaded"] == 1 and summary["invalid_dates"] == 1
        occ = query_sql(conn, "SELECT radiology_occurrence_date, radiology_occurrence_datetime "
                              "FROM cdm.radiology_occurrence;")
        assert _isna(occ.iloc[0, 0]) and _isna(occ.iloc[0, 1])
        # the sample corpus's impossible StudyDate falls back to SeriesDate, and is counted too
        s2 = run_etl(str(corpus["root"]), conn, "corpus", person_map=corpus["person_map"], secret_file=secret,
                     workers=1, quiet=True)
        invalid = sum(1 for p in corpus["images"]
                      if parse_date(str(pydicom.dcmread(p, stop_before_pixels=True).StudyDate)) is None)
        assert s2["invalid_dates"] == invalid > 0
        dates = query_sql(conn, "SELECT COUNT(*) AS n FROM corpus.radiology_occurrence "
                                "WHERE radiology_occurrence_date IS NULL;")
        assert dates["n"][0] == 0


def _phi_values(paths: list[str]) -> set[str]:
    values: set[str] = set()
    for path in paths:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM
            continue
        for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                        "PatientBirthDate"):
            value = str(ds.get(keyword, "") or "").strip()
            if len(value) >= 4:
                values.add(value)
                if keyword == "PatientName":
                    values.update(part for part in value.split("^") if len(part) >= 6)
    return values


def _scan_for_phi(conn, schema: str, staging: Path, log_text: str, phi: set[str]) -> list[str]:
    tables = query_sql(conn, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}';")
    texts: list[str] = []
    for table in tables["table_name"]:
        frame = query_sql(conn, f"SELECT * FROM {schema}.{table};")
        texts += [str(v) for v in frame.to_numpy().ravel() if v is not None]
    parquet = sorted(staging.rglob("*.parquet"))
    assert parquet, "the staging files were kept"
    for file in parquet:
        texts += [str(v) for column in pq.read_table(file).to_pydict().values() for v in column if v is not None]
    texts.append(log_text)
    blob = "\n".join(texts)
    return sorted(v for v in phi if v in blob)


def test_no_phi_in_tables_staging_or_logs(corpus, secret, tmp_path, caplog):
    # the sample corpus as written: folders named by PatientID (<root>/seed0/SAMPLE0001/study1/series1/1.dcm)
    phi = _phi_values([str(p) for p in corpus["files"]])
    assert any("SAMPLE" in v for v in phi) and any(v.count(".") > 3 for v in phi)
    assert any(f"/{v}/" in p for v in phi for p in corpus["images"]), "PatientID folders"
    staging = tmp_path / "staging"
    caplog.set_level(logging.DEBUG, logger="rcdm")
    with connect(tmp_path / "cdm.duckdb") as conn:
        summary = run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                          workers=1, batch_size=8, staging_dir=str(staging), keep_staging=True, quiet=True)
        assert summary["loaded"] == len(corpus["images"])
        paths = query_sql(conn, "SELECT file_path FROM cdm.radiology_image;")["file_path"]
        assert all("/{patient_id}/" in p for p in paths)
        leaks = _scan_for_phi(conn, "cdm", staging, caplog.text, phi)
    assert not leaks, f"PHI found: {leaks[:5]}"


def _with_identity(template: str, target: Path, uid_seed: str, name: str, birth_date: str = "") -> None:
    ds = copy.deepcopy(pydicom.dcmread(template))
    ds.StudyInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[uid_seed, "study"])
    ds.SeriesInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[uid_seed, "series"])
    ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[uid_seed, "sop"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = name
    ds.PatientBirthDate = birth_date
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target)


def test_name_or_birth_date_in_a_path_is_redacted_and_the_file_still_loads(corpus, secret, tmp_path, caplog):
    template = next(p for p in corpus["images"] if "/SAMPLE0001/" in p)
    patient = str(pydicom.dcmread(template).PatientID)
    archive = tmp_path / "archive"
    _with_identity(template, archive / "Doe_Johnathan" / f"{patient}_ct" / "1.dcm", "n1", "DOE^JOHNATHAN")
    _with_identity(template, archive / "scans" / patient / "19650412" / "2.dcm", "n2", "ROE^RICHARD", "19650412")
    _with_identity(template, archive / "scans" / patient.lower() / "3.dcm", "n3", "ROE^RICHARD", "19650412")
    (archive / "scans" / patient / "notes.txt").write_text("not DICOM\n")
    staging = tmp_path / "staging"
    caplog.set_level(logging.DEBUG, logger="rcdm")
    with connect(tmp_path / "cdm.duckdb") as conn:
        summary = run_etl(str(archive), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                          workers=1, staging_dir=str(staging), keep_staging=True, quiet=True)
        check_invariant(summary)
        assert summary["loaded"] == 3 and summary["quarantined_by_reason"] == {}
        files = query_sql(conn, "SELECT file_path, status, reason FROM cdm.rcdm_etl_file ORDER BY file_path;")
        got = {r["file_path"]: (r["status"], r["reason"]) for r in files.to_dict("records")}
        assert got == {
            "scans/{patient_id_lower}/3.dcm": ("loaded", None),
            "scans/{patient_id}/{redacted}/2.dcm": ("loaded", None),
            "scans/{redacted}/notes.txt": ("skipped", "not_dicom"),  # unread: the batch's PatientIDs apply
            "{redacted}/{patient_id}_ct/1.dcm": ("loaded", None),
        }, got
        assert query_sql(conn, "SELECT COUNT(*) AS n FROM cdm.radiology_image;")["n"][0] == 3
        leaks = _scan_for_phi(conn, "cdm", staging, caplog.text,
                              {patient, patient.lower(), "Doe_Johnathan", "JOHNATHAN", "19650412"})
    assert not leaks, f"PHI found: {leaks}"


# --------------------------------------------------------------------------------------------------------------
# one run per schema


def test_concurrent_runs_on_postgresql_are_refused(corpus, secret, postgres_url):
    from rcdm.etl import lock

    with connect(postgres_url) as holder, connect(postgres_url) as other:
        schema = pg_schema(holder)
        try:
            from rcdm.ddl import create_tables

            create_tables(holder, schema, model="etl")
            lock.acquire(holder, schema)
            with pytest.raises(LockError, match="being loaded"):
                run_etl(str(corpus["root"]), other, schema, person_map=corpus["person_map"], secret_file=secret,
                        workers=1, quiet=True)
            lock.release(holder, schema)
            summary = run_etl(str(corpus["root"]), other, schema, person_map=corpus["person_map"],
                              secret_file=secret, workers=1, quiet=True)
            assert summary["loaded"] == len(corpus["images"])
        finally:
            execute_sql(holder, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")


def test_running_row_of_a_live_process_refuses_a_dead_one_is_interrupted(corpus, secret, tmp_path):
    import json

    from rcdm.ddl import create_tables

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with connect(tmp_path / "cdm.duckdb") as conn:
        create_tables(conn, "cdm", model="etl")
        import socket

        for run_id, pid in ((1, os.getpid()), (2, dead.pid)):
            execute_sql(conn, "INSERT INTO cdm.rcdm_etl_run (run_id, started_at, status, summary) VALUES "
                              "(:r, CURRENT_TIMESTAMP, 'running', :s);",
                        bind={"r": run_id, "s": json.dumps({"host": socket.gethostname(), "pid": pid})})
        with pytest.raises(LockError, match=f"pid {os.getpid()}"):
            run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                    workers=1, quiet=True)
        execute_sql(conn, "UPDATE cdm.rcdm_etl_run SET status = 'failed' WHERE run_id = 1;")
        summary = run_etl(str(corpus["root"]), conn, "cdm", person_map=corpus["person_map"], secret_file=secret,
                          workers=1, quiet=True)
        assert summary["loaded"] == len(corpus["images"])
        runs = query_sql(conn, "SELECT run_id, status FROM cdm.rcdm_etl_run ORDER BY run_id;")
        assert runs["status"].tolist() == ["failed", "interrupted", "finished"]


def test_duckdb_file_held_by_another_process_is_a_lock_error(corpus, secret, tmp_path):
    db = tmp_path / "cdm.duckdb"
    with connect(db):
        out = subprocess.run([sys.executable, "-m", "rcdm", "etl", str(corpus["root"]), "--db", str(db),
                              "--person-map", corpus["person_map"], "--secret-file", secret, "--quiet"],
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 6, out.stderr
    assert "another" in out.stderr and "rcdm etl" in out.stderr


def test_cli_prints_summary_quarantine_and_report(corpus, secret, tmp_path):
    from rcdm.cli import main

    summary_file = tmp_path / "summary.json"
    out = subprocess.run([sys.executable, "-m", "rcdm", "etl", str(corpus["root"]), "--db",
                          str(tmp_path / "cdm.duckdb"), "--person-map", corpus["person_map"], "--secret-file", secret,
                          "--workers", "1", "--summary-json", str(summary_file)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "files seen" in out.stdout and "Quarantined files (2)" in out.stdout
    assert "R-CDM mapping quality" in out.stdout
    import json

    summary = json.loads(summary_file.read_text())
    check_invariant(summary)
    report = subprocess.run([sys.executable, "-m", "rcdm", "report", "--db", str(tmp_path / "cdm.duckdb"),
                             "--format", "json"], capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["summary"]
    assert main(["etl", str(corpus["root"]), "--db", str(tmp_path / "x.duckdb")]) == 2  # no person mapping


# --------------------------------------------------------------------------------------------------------------
# protocol mapping at the end of the load


def test_protocols_are_mapped_during_the_load_when_the_playbook_is_loaded(corpus, secret, tmp_path):
    from vocab_helpers import CT_HEAD_TEST_CONCEPT, EXTRA_CONCEPTS, FIX, athena_folder, write_stcm

    from rcdm.protocols import store
    from rcdm.protocols.source_value import protocol_code

    root = str(corpus["root"])
    with connect(tmp_path / "cdm.duckdb") as conn:
        plain = run_etl(root, conn, "plain", person_map=corpus["person_map"], secret_file=secret, workers=1,
                        quiet=True)
        assert plain["protocol_mapping"] == "no playbook loaded"
        store.load_athena(conn, "vocab", athena_folder(tmp_path, EXTRA_CONCEPTS))
        store.load_playbook(conn, "cdm", FIX / "LoincRsnaRadiologyPlaybook.csv")
        psv = "CT|HEAD|CT HEAD W/O CONTRAST|AXIAL BRAIN 5MM|CT HEAD W/O CONTRAST"  # a sample corpus protocol
        store.load_stcm(conn, "cdm", write_stcm(tmp_path / "usagi.csv", [
            {"source_code": protocol_code(psv), "source_code_description": "CT HEAD W/O CONTRAST",
             "target_concept_id": CT_HEAD_TEST_CONCEPT}]))
        summary = run_etl(root, conn, "cdm", person_map=corpus["person_map"], secret_file=secret, workers=1,
                          vocabulary_database_schema="vocab", quiet=True)
        mapping = summary["protocol_mapping"]
        assert isinstance(mapping, dict), mapping
        assert mapping["studies"] == summary["tables"]["radiology_occurrence"]
        concepts = query_sql(conn, "SELECT protocol_concept_id, protocol_source_value FROM cdm.radiology_occurrence;")
        assert concepts["protocol_source_value"].notna().all()
        assert int((concepts["protocol_concept_id"] > 0).sum()) == mapping["mapped_after"] > 0
        assert set(concepts[concepts["protocol_source_value"] == psv]["protocol_concept_id"]) == {CT_HEAD_TEST_CONCEPT}
        off = run_etl(root, conn, "off", person_map=corpus["person_map"], secret_file=secret, workers=1,
                      map_protocols=False, quiet=True)
        assert off["protocol_mapping"] == "disabled"


@pytest.mark.parametrize("workers", [1, 2])
def test_identifiers_in_text_fields_bad_dates_and_undecodable_names_leak_nowhere(corpus, secret, tmp_path, caplog,
                                                                              capfd, workers):
    import re
    import warnings

    template = corpus["images"][0]
    archive = tmp_path / "archive"
    archive.mkdir()
    ds = copy.deepcopy(pydicom.dcmread(template))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the malformed dates while writing them
        for n, (birth, study) in enumerate((("19610412X", "19610412X"), ("1961-04-12", "2021-13-45"))):
            ds.StudyInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["text-phi", str(n), "study"])
            ds.SeriesInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["text-phi", str(n), "series"])
            ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["text-phi", str(n), "sop"])
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.PatientID, ds.PatientName, ds.PatientBirthDate = "MRN778899", "Doe^Jonathan", birth
            ds.StudyDescription = "CT HEAD Doe Jonathan MRN778899"
            ds.SeriesDescription = "MRN778899 axial"
            ds.ProtocolName = "Jonathan DOE"
            ds.BodyPartExamined = "MRN778899"
            ds.Manufacturer = "Doe^Jonathan"
            ds.StudyDate = study
            ds.save_as(archive / f"{n}.dcm")
    bad_name = os.fsdecode(b"bad\xffname.dcm")
    shutil.copy(archive / "0.dcm", os.path.join(str(archive), bad_name))
    person_map = tmp_path / "persons.csv"
    person_map.write_text("patient_id,person_id\nMRN778899,7\n")
    staging = tmp_path / "staging"
    caplog.set_level(logging.DEBUG)
    caplog.clear()  # pydicom logged the malformed dates while the test wrote them
    capfd.readouterr()
    with connect(tmp_path / "cdm.duckdb") as conn:
        summary = run_etl(str(archive), conn, "cdm", person_map=str(person_map), secret_file=secret,
                          workers=workers, staging_dir=str(staging), keep_staging=True, quiet=True)
        check_invariant(summary)
        # the undecodable name is read (a copy of 0.dcm: the same SOP instance), its stored path printable
        assert summary["loaded"] == 2 and summary["skipped_by_reason"] == {"duplicate": 1}
        files = query_sql(conn, "SELECT file_path, status FROM cdm.rcdm_etl_file ORDER BY file_path;")
        assert ("bad\ufffdname.dcm", "duplicate") in [tuple(r) for r in files.itertuples(index=False)]
        studies = query_sql(conn, "SELECT manufacturer, protocol_source_value FROM cdm.radiology_occurrence;")
        assert set(studies["protocol_source_value"]) == {"CT||CT HEAD [REDACTED]|[REDACTED] AXIAL|"}
        assert all(_isna(v) for v in studies["manufacturer"])
        images = query_sql(conn, "SELECT body_part_source_value FROM cdm.radiology_image;")
        assert all(_isna(v) for v in images["body_part_source_value"])
        out = capfd.readouterr()
        blob = "\n".join([out.out, out.err, caplog.text])
        leaks = _scan_for_phi(conn, "cdm", staging, blob, {"MRN778899", "Jonathan", "19610412", "1961-04-12"})
        blob = blob + "\n" + "\n".join(str(v) for t in ("radiology_occurrence", "radiology_image", "rcdm_etl_file")
                                       for v in query_sql(conn, f"SELECT * FROM cdm.{t};").to_numpy().ravel())
    assert not leaks, f"PHI found: {leaks}"
    assert not re.search(r"(?i)mrn778899|jonathan|\bdoe\b|19610412|1961-04-12|Invalid value", blob)
    # a re-run recognises the undecodable file by its key
    with connect(tmp_path / "cdm.duckdb") as conn:
        again = run_etl(str(archive), conn, "cdm", person_map=str(person_map), secret_file=secret, workers=1,
                        quiet=True)
        assert again["skipped_by_reason"] == {"unchanged": 3}


def test_first_load_with_workers_equals_one_process(corpus, tmp_path):
    """A first load with worker processes (the workers key and stat the files, small first batches, the pool
    started before the database is opened: rcdm.etl.executor.WorkerPool) gives the rows, the file keys, sizes
    and mtimes and the path index of a load in one process; a rerun finds every file unchanged."""
    from rcdm.etl.path_index import PathIndex

    results = {}
    secret = str(tmp_path / "secret")  # one secret: the same keys
    for workers in (1, 2):
        index = tmp_path / f"paths-{workers}.sqlite"
        db = str(tmp_path / f"cdm-{workers}.duckdb")  # a path: run_etl opens it once its workers are starting
        summary = run_etl(str(corpus["root"]), db, "cdm", person_map=corpus["person_map"], secret_file=secret,
                          workers=workers, batch_size=8, path_index=str(index), quiet=True)
        check_invariant(summary)
        with connect(db) as conn:
            results[workers] = snapshot(conn, "cdm")
        with PathIndex(index) as opened:
            results[workers, "index"] = sorted(opened.under(str(corpus["root"]), ["."]))
        again = run_etl(str(corpus["root"]), db, "cdm", person_map=corpus["person_map"], secret_file=secret,
                        workers=workers, batch_size=8, path_index=str(index), quiet=True)
        assert again["loaded"] == 0 and again["skipped_by_reason"] == {"unchanged": summary["files_seen"]}
    assert results[2] == results[1]
    assert results[2, "index"] == results[1, "index"] and len(results[1, "index"]) > 0
