"""The tables follow a changing archive (issue 13): files replaced, truncated, appended to, rewritten in place,
deleted or renamed, a changed person map, dropped tables; after every sequence of changes and reruns the tables
equal a clean load of the final archive. DuckDB and the session's PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from rcdm.db import connect, execute_sql, query_sql
from rcdm.dicom.deid import load_or_create_secret
from rcdm.dicom.identity import header_checksum, header_window
from rcdm.etl import run_etl
from rcdm.etl.transform import file_ids, file_key, relative_path
from test_etl_load import check_invariant, make_corpus, pg_schema, snapshot
from test_etl_resume import _kill_when

pytestmark = pytest.mark.slow  # the ETL end to end, with worker processes


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict:
    return make_corpus(tmp_path_factory.mktemp("archive"), seeds=(0, 1), n_patients=4)


@pytest.fixture
def archive(pristine, tmp_path) -> dict:
    """A private copy of the corpus, free to change."""
    root = tmp_path / "tree"
    shutil.copytree(pristine["root"], root, symlinks=True)
    images = [str(root / Path(p).relative_to(pristine["root"])) for p in pristine["images"]]
    return {"root": root, "person_map": pristine["person_map"], "images": images}


@pytest.fixture(params=["duckdb", "postgresql"])
def target(request, tmp_path):
    """(url, schema, a fresh schema name for the clean load) on each database."""
    if request.param == "duckdb":
        yield str(tmp_path / "cdm.duckdb"), "cdm", str(tmp_path / "clean.duckdb"), "cdm"
        return
    url = request.getfixturevalue("postgres_url")
    with connect(url) as conn:
        schema, clean = pg_schema(conn), pg_schema(conn)
    yield url, schema, url, clean
    with connect(url) as conn:
        execute_sql(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {clean} CASCADE;")


def _run(root, url, schema, person_map, secret, **kw):
    summary = run_etl(str(root), url, schema, person_map=person_map, secret_file=secret, workers=1, quiet=True,
                      **kw)
    check_invariant(summary)
    return summary


def _tables(url, schema) -> dict:
    with connect(url) as conn:
        shot = snapshot(conn, schema)
    shot["rcdm_etl_file"] = sorted((k, p, s) for k, p, s, _r, _i in shot["rcdm_etl_file"])
    return shot


def _assert_as_clean(archive, target, secret, tmp_path) -> None:
    url, schema, clean_url, clean = target
    _run(archive["root"], clean_url, clean, archive["person_map"], secret, path_index=str(tmp_path / "clean.idx"))
    got, want = _tables(url, schema), _tables(clean_url, clean)
    for table in want:
        extra, missing = set(got[table]) - set(want[table]), set(want[table]) - set(got[table])
        assert not extra and not missing, (table, [str(r) for r in sorted(extra)[:3]], [str(r) for r in sorted(missing)[:3]])
    assert got == want


def _rewrite(path: str, seed: str, **values) -> None:
    ds = pydicom.dcmread(path)
    ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[seed])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for name, value in values.items():
        setattr(ds, name, value)
    ds.save_as(path)


def _same_size_same_mtime(path: str) -> None:
    """Change a header value in place: same length, same size, mtime restored (only the checksum tells)."""
    st = os.stat(path)
    data = bytearray(Path(path).read_bytes())
    ds = pydicom.dcmread(path)
    old = str(ds.SOPInstanceUID).encode()
    new = old[:-1] + (b"7" if old[-1:] != b"7" else b"8")
    i = data.index(old)  # the file meta's copy first, then the dataset's
    data[i:i + len(old)] = new
    j = data.index(old)
    data[j:j + len(old)] = new
    Path(path).write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size


def _change(images: list[str]) -> dict:
    """One of each change (the files chosen apart from each other); what was done."""
    ordered = sorted(images)
    replaced, truncated, appended, inplace, deleted, renamed = ordered[1], ordered[4], ordered[7], ordered[10], \
        ordered[13], ordered[16]
    _rewrite(replaced, "replaced-1", InstanceNumber=99)
    with open(truncated, "r+b") as f:
        f.truncate(100)
    with open(appended, "ab") as f:
        f.write(b"\0" * 64)
    _same_size_same_mtime(inplace)
    os.remove(deleted)
    os.rename(renamed, renamed + ".moved")
    return {"changed": 4, "removed": 2, "new": 1}


def test_changed_deleted_and_renamed_files_are_followed(archive, target, tmp_path):
    url, schema, *_ = target
    secret, index = str(tmp_path / "secret"), str(tmp_path / "paths.idx")
    first = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    assert first["changes"]["new"] == first["files_seen"]
    expected = _change(archive["images"])
    again = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    assert {k: again["changes"][k] for k in ("changed", "removed", "new")} == expected, again["changes"]
    assert again["skipped_by_reason"]["unchanged"] == first["files_seen"] - 2 - 4
    _assert_as_clean(archive, target, secret, tmp_path)
    third = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    assert third["loaded"] == 0 and third["changes"]["changed"] == third["changes"]["removed"] == 0


def test_a_whole_study_removed_and_several_rounds_of_changes(archive, target, tmp_path):
    url, schema, *_ = target
    secret, index = str(tmp_path / "secret"), str(tmp_path / "paths.idx")
    _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    study = sorted({str(Path(p).parent.parent) for p in archive["images"]})[0]
    shutil.rmtree(study)
    images = [p for p in archive["images"] if os.path.exists(p)]
    summary = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    assert summary["changes"]["removed"] > 0
    _rewrite(images[0], "round-2")
    shutil.copy(images[3], images[3] + ".copy")  # a duplicate appears...
    _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    os.remove(images[3])  # ...and its original goes: the copy becomes the instance's file
    _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    _assert_as_clean(archive, target, secret, tmp_path)


def test_content_check_can_be_turned_off(archive, tmp_path):
    secret, index, db = str(tmp_path / "secret"), str(tmp_path / "paths.idx"), str(tmp_path / "cdm.duckdb")
    _run(archive["root"], db, "cdm", archive["person_map"], secret, path_index=index)
    _same_size_same_mtime(sorted(archive["images"])[0])
    trusting = _run(archive["root"], db, "cdm", archive["person_map"], secret, path_index=index,
                    check_content=False)
    assert trusting["changes"]["changed"] == 0
    checking = _run(archive["root"], db, "cdm", archive["person_map"], secret, path_index=index)
    assert checking["changes"]["changed"] == 1 and checking["loaded"] == 1


def _as_version_1(root: Path, url: str, schema: str, secret: bytes) -> int:
    """Rewrite every recorded header checksum as rcdm 0.1.0 computed it (version 1: HMAC-SHA256 of the window),
    as if an older rcdm had written the database; how many rows."""
    rewritten = 0
    with connect(url) as conn:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            key = file_ids([file_key(relative_path(str(path), str(root)), secret)])[0].as_py()
            old = header_checksum(header_window(str(path)), secret, version=1)
            found = query_sql(conn, f"SELECT header_checksum FROM {schema}.rcdm_etl_file WHERE file_key = {key} "
                                    "AND header_checksum IS NOT NULL;")
            if len(found):
                assert int(found["header_checksum"][0]) < 0  # version 2, as this rcdm writes
                execute_sql(conn, f"UPDATE {schema}.rcdm_etl_file SET header_checksum = {old} WHERE file_key = {key};")
                rewritten += 1
    return rewritten


def test_checksums_recorded_by_an_older_rcdm_keep_a_rerun_exact(archive, target, tmp_path):
    """A database written with version 1 checksums: a rerun compares each file with the version its row holds,
    so unchanged files stay unchanged (not reloaded, not duplicated) and a header changed in place (same size,
    same mtime) is still found; its new row gets version 2, the others keep theirs."""
    url, schema, *_ = target
    secret, index = str(tmp_path / "secret"), str(tmp_path / "paths.idx")
    first = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    assert _as_version_1(archive["root"], url, schema, load_or_create_secret(secret)) >= len(archive["images"])
    again = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    assert again["loaded"] == 0 and again["changes"]["changed"] == again["changes"]["new"] == 0
    assert again["skipped_by_reason"]["unchanged"] == first["files_seen"]
    _same_size_same_mtime(sorted(archive["images"])[0])
    changed = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    assert changed["changes"]["changed"] == 1 and changed["loaded"] == 1
    with connect(url) as conn:
        signs = query_sql(conn, f"SELECT SUM(CASE WHEN header_checksum < 0 THEN 1 ELSE 0 END) AS v2, "
                                f"SUM(CASE WHEN header_checksum > 0 THEN 1 ELSE 0 END) AS v1 "
                                f"FROM {schema}.rcdm_etl_file;")
    assert int(signs["v2"][0]) == 1 and int(signs["v1"][0]) >= len(archive["images"]) - 1
    third = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    assert third["loaded"] == 0 and third["changes"]["changed"] == 0
    _assert_as_clean(archive, target, secret, tmp_path)


def test_dropped_tables_drop_the_etl_state_and_verify_reports_then_repairs(archive, target, tmp_path):
    from rcdm.ddl import create_tables, drop_tables
    from rcdm.etl.run import verify_etl

    url, schema, *_ = target
    secret, index = str(tmp_path / "secret"), str(tmp_path / "paths.idx")
    first = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    with connect(url) as conn:
        assert not any(verify_etl(conn, schema, [str(archive["root"])], path_index=index).values())
        drop_tables(conn, schema)
        create_tables(conn, schema)
    again = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    assert again["loaded"] == first["loaded"] and again["tables"] == first["tables"]
    # rows deleted behind the ETL's back, a file gone: reported, then repaired by the next run. The image row
    # deleted is another file's than the one removed (ids come from the keyed hash of a new secret each run: the
    # smallest id could be the removed file's, and then one file is both gone and without image)
    gone = sorted(archive["images"])[2]
    gone_key = file_ids([file_key(relative_path(gone, str(archive["root"])), load_or_create_secret(secret))])[0]
    os.remove(gone)
    with connect(url) as conn:
        assert len(query_sql(conn, f"SELECT 1 FROM {schema}.rcdm_etl_file WHERE file_key = {gone_key.as_py()}")) == 1
        execute_sql(conn, f"DELETE FROM {schema}.radiology_image WHERE radiology_image_id IN (SELECT MIN("
                          f"radiology_image_id) FROM {schema}.rcdm_etl_file WHERE file_key <> {gone_key.as_py()} "
                          f"AND radiology_image_id IS NOT NULL);")
        found = verify_etl(conn, schema, [str(archive["root"])], path_index=index)
    assert found["files_without_image"] == 1 and found["studies_miscounted"] == 1 and found["files_gone"] == 1
    repaired = _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    assert repaired["changes"]["repaired"]["files_without_image"] == 1 and repaired["changes"]["removed"] == 1
    with connect(url) as conn:
        assert not any(verify_etl(conn, schema, [str(archive["root"])], path_index=index).values())
    _assert_as_clean(archive, target, secret, tmp_path)


def test_a_changed_person_map_remaps_persons(archive, target, tmp_path):
    url, schema, *_ = target
    secret, index = str(tmp_path / "secret"), str(tmp_path / "paths.idx")
    _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    lines = Path(archive["person_map"]).read_text().splitlines()
    changed = tmp_path / "persons.csv"
    # the first patient gets another person id, the second is no longer in the map
    header, first, second, *rest = lines
    patient = first.split(",")[0]
    changed.write_text("\n".join([header, f"{patient},424242", *rest]) + "\n")
    summary = _run(archive["root"], url, schema, str(changed), secret, path_index=index)
    assert summary["changes"]["persons_remapped"] == 2
    assert summary["unmapped_patient"] > 0
    with connect(url) as conn:
        persons = set(query_sql(conn, f"SELECT DISTINCT person_id FROM {schema}.radiology_occurrence;")["person_id"])
    assert 424242 in persons and int(first.split(",")[1]) not in persons and int(second.split(",")[1]) not in persons
    archive = {**archive, "person_map": str(changed)}
    _assert_as_clean(archive, target, secret, tmp_path)


_RUNNER = "import json, sys; from rcdm.etl import run_etl; run_etl(**json.loads(sys.argv[1]))"


def test_kill_9_during_a_change_driven_rerun(archive, target, tmp_path):
    import json

    url, schema, *_ = target
    secret, index, staging = str(tmp_path / "secret"), str(tmp_path / "paths.idx"), tmp_path / "staging"
    _run(archive["root"], url, schema, archive["person_map"], secret, path_index=index)
    images = sorted(archive["images"])
    for n, path in enumerate(images[:60]):
        _rewrite(path, f"kill-{n}")
    for path in images[60:70]:
        os.remove(path)
    args = {"paths": str(archive["root"]), "conn": url, "cdm_database_schema": schema,
            "person_map": archive["person_map"], "secret_file": secret, "workers": 1, "batch_size": 10,
            "commit_rows": 10, "staging_dir": str(staging), "quiet": True, "path_index": index}
    process = subprocess.Popen([sys.executable, "-c", _RUNNER, json.dumps(args)])
    _kill_when(process, lambda: (staging / "2" / "batch-000003.parquet").exists())
    rerun = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(args)], capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    _assert_as_clean(archive, target, secret, tmp_path)


def test_cli_verify_exit_codes_and_the_path_index_option(archive, tmp_path, capsys):
    from rcdm.cli import main

    db, secret, index = str(tmp_path / "cdm.duckdb"), str(tmp_path / "secret"), str(tmp_path / "paths.idx")
    common = ["--db", db, "--secret-file", secret, "--path-index", index]
    assert main(["etl", str(archive["root"]), *common, "--person-map", archive["person_map"], "--quiet",
                 "--workers", "1"]) == 0
    assert Path(index).is_file() and oct(os.stat(index).st_mode & 0o777) == "0o600"
    capsys.readouterr()
    assert main(["etl", str(archive["root"]), *common, "--verify"]) == 0
    assert "files_gone: 0" in capsys.readouterr().out
    os.remove(sorted(archive["images"])[0])
    assert main(["etl", str(archive["root"]), *common, "--verify"]) == 1
    out = capsys.readouterr().out
    assert "files_gone: 1" in out and "repairs it" in out
    assert main(["etl", str(archive["root"]), *common, "--person-map", archive["person_map"], "--quiet",
                 "--workers", "1"]) == 0
    assert main(["etl", str(archive["root"]), *common, "--verify"]) == 0


def test_changes_are_followed_on_sqlite(archive, tmp_path):
    target = (f"sqlite:///{tmp_path / 'cdm.sqlite'}", "cdm", f"sqlite:///{tmp_path / 'clean.sqlite'}", "cdm")
    secret, index = str(tmp_path / "secret"), str(tmp_path / "paths.idx")
    _run(archive["root"], target[0], "cdm", archive["person_map"], secret, path_index=index)
    expected = _change(archive["images"])
    again = _run(archive["root"], target[0], "cdm", archive["person_map"], secret, path_index=index)
    assert {k: again["changes"][k] for k in ("changed", "removed", "new")} == expected
    _assert_as_clean(archive, target, secret, tmp_path)
