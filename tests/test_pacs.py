"""The ETL from a PACS and cohort images retrieved from it, against a real Orthanc (DICOMweb + DIMSE).

Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``) is started on 127.0.0.1 by ``tests/orthanc_server.py``
with the sample corpus uploaded. Checked: the rows of a PACS ETL (QIDO-RS and C-FIND) equal those of the file
ETL of the same files (but for file_path, which holds no UID); reruns load nothing twice; a PACS that drops
the connection mid-run stops the run with exit 7 and the next run completes to the same tables; WADO-RS,
C-GET and C-MOVE give byte-identical files whose data sets are the uploaded files' bytes; wrong credentials or
AE titles are clear errors; no UID, name or PatientID reaches a table, the logs or the index's neighbours.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import rcdm
from rcdm.dicom.sample import write_sample_corpus
from rcdm.errors import PacsConnectionError
from rcdm.etl import run_etl
from rcdm.pacs import PacsOptions, parse_pacs_url
from rcdm.pacs.part10 import split_part10, without_trailing_padding
from rcdm.pacs.url import PacsAddressError

sys.path.insert(0, str(Path(__file__).parent))
from orthanc_server import PASSWORD, USER, find_dicomweb_plugin, find_orthanc, free_port, start_server  # noqa: E402

MOVE_PORT = free_port()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("pacs") / "archive"
    return write_sample_corpus(out)


@pytest.fixture(scope="module")
def orthanc(corpus):
    if not find_orthanc() or not find_dicomweb_plugin():
        if os.environ.get("CI"):
            pytest.fail("CI must run the PACS tests: install Debian's orthanc and orthanc-dicomweb")
        pytest.skip("Orthanc is not installed here (Debian: orthanc, orthanc-dicomweb)")
    server = start_server(modalities={"rcdm": ("RCDM", "127.0.0.1", MOVE_PORT)})
    assert server.upload(corpus["images"]) == len(corpus["images"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def secret(tmp_path_factory):
    return str(tmp_path_factory.mktemp("secret") / "site_secret")


@pytest.fixture(scope="module")
def file_db(tmp_path_factory, corpus, secret):
    db = tmp_path_factory.mktemp("file") / "file.duckdb"
    run_etl([corpus["out_dir"]], str(db), "cdm", person_map=corpus["person_map"], secret_file=secret, workers=1,
            quiet=True)
    return db


def _tables(db) -> dict:
    with rcdm.connect(str(db)) as conn:
        images = rcdm.query_sql(conn, "SELECT * FROM cdm.radiology_image ORDER BY radiology_image_id;")
        studies = rcdm.query_sql(conn, "SELECT * FROM cdm.radiology_occurrence ORDER BY radiology_occurrence_id;")
    return {"images": images.drop(columns=["file_path"]).reset_index(drop=True),
            "paths": list(images["file_path"]), "studies": studies.reset_index(drop=True)}


def _same_rows(a, b) -> None:
    import pandas.testing as pdt

    pdt.assert_frame_equal(a["images"], b["images"], check_dtype=False)
    pdt.assert_frame_equal(a["studies"], b["studies"], check_dtype=False)


def _pacs_etl(address, db, corpus, secret, index, **options):
    return run_etl([address], str(db), "cdm", person_map=corpus["person_map"], secret_file=secret, quiet=True,
                   pacs=PacsOptions(index=str(index), retry_wait=0.05, **options))


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_pacs_etl_rows_equal_file_etl_and_rerun_loads_nothing(protocol, orthanc, corpus, secret, file_db, tmp_path):
    address = orthanc.dicomweb_url if protocol == "dicomweb" else orthanc.dimse_url
    db, index = tmp_path / "pacs.duckdb", tmp_path / "index.sqlite"
    first = _pacs_etl(address, db, corpus, secret, index, page_size=3)
    assert first["loaded"] == len(corpus["images"]) and first["quarantined"] == 0
    pacs, files = _tables(db), _tables(file_db)
    _same_rows(pacs, files)
    assert all(p.startswith("pacs/") and p.endswith(".dcm") for p in pacs["paths"])
    again = _pacs_etl(address, db, corpus, secret, index, page_size=3)
    assert again["loaded"] == 0 and again["skipped_by_reason"] == {"unchanged": len(corpus["images"])}
    _same_rows(_tables(db), files)
    rescan = _pacs_etl(address, db, corpus, secret, index, rescan=True)
    assert rescan["loaded"] == 0 and rescan["files_seen"] == len(corpus["images"])
    _same_rows(_tables(db), files)


def test_pacs_etl_on_postgresql_equals_file_etl(orthanc, corpus, secret, file_db, postgres_url, tmp_path):
    with rcdm.connect(postgres_url) as conn:
        rcdm.execute_sql(conn, "DROP SCHEMA IF EXISTS pacs_cdm CASCADE;")
    summary = run_etl([orthanc.dicomweb_url], postgres_url, "pacs_cdm", person_map=corpus["person_map"],
                      secret_file=secret, quiet=True, pacs=PacsOptions(index=str(tmp_path / "i.sqlite")))
    assert summary["loaded"] == len(corpus["images"])
    with rcdm.connect(postgres_url) as conn:
        images = rcdm.query_sql(conn, "SELECT * FROM pacs_cdm.radiology_image ORDER BY radiology_image_id;")
    expected = _tables(file_db)["images"]
    assert list(images["radiology_image_id"]) == list(expected["radiology_image_id"])
    assert list(images["ct_slice_thickness"].fillna(-1)) == list(expected["ct_slice_thickness"].fillna(-1))


class _FlakyProxy:
    """A TCP proxy to Orthanc that, once ``broken``, drops every connection (a PACS going away mid-run)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.broken = threading.Event()
        self.requests = 0
        self.break_after: int | None = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.broken.is_set():
                client.close()
                continue
            threading.Thread(target=self._pipe_pair, args=(client,), daemon=True).start()

    def _pipe_pair(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target))
        threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()
        self._pipe(client, upstream, True)

    def _pipe(self, src: socket.socket, dst: socket.socket, counting: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if counting and data[:4] in (b"GET ", b"POST"):
                    self.requests += 1
                    if self.break_after is not None and self.requests > self.break_after:
                        self.broken.set()
                if self.broken.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


def test_a_pacs_dropping_the_connection_mid_run_resumes_to_the_same_tables(orthanc, corpus, secret, file_db,
                                                                          tmp_path):
    proxy = _FlakyProxy(orthanc.http_port)
    try:
        address = f"dicomweb+http://{USER}:{PASSWORD}@127.0.0.1:{proxy.port}/dicom-web"
        db, index = tmp_path / "pacs.duckdb", tmp_path / "index.sqlite"
        proxy.break_after = 9  # the study list (6 pages) and 3 studies' instances, then nothing answers
        with pytest.raises(PacsConnectionError, match="could not be reached.*the next run resumes"):
            run_etl([address], str(db), "cdm", person_map=corpus["person_map"], secret_file=secret, quiet=True,
                    batch_size=2, commit_rows=2, pacs=PacsOptions(index=str(index), page_size=2, retries=2,
                                                                  retry_wait=0.01, concurrency=1))
        with rcdm.connect(str(db)) as conn:
            partial = int(rcdm.query_sql(conn, "SELECT COUNT(*) AS n FROM cdm.radiology_image;")["n"][0])
        assert 0 < partial < len(corpus["images"])  # some groups were committed before the PACS went away
        proxy.broken.clear()
        proxy.break_after = None
        done = run_etl([address], str(db), "cdm", person_map=corpus["person_map"], secret_file=secret, quiet=True,
                       pacs=PacsOptions(index=str(index)))
        assert done["loaded"] == len(corpus["images"]) - partial
        _same_rows(_tables(db), _tables(file_db))
    finally:
        proxy.close()


def test_cli_pacs_etl_wrong_credentials_and_ae_titles_are_clear_errors(orthanc, corpus, secret, tmp_path):
    db = str(tmp_path / "x.duckdb")
    base = [sys.executable, "-m", "rcdm", "etl", "--db", db, "--schema", "cdm", "--person-map",
            corpus["person_map"], "--secret-file", secret, "--pacs-index", str(tmp_path / "i.sqlite"),
            "--retries", "0", "--quiet"]
    wrong = f"dicomweb+http://{USER}:not-the-password@127.0.0.1:{orthanc.http_port}/dicom-web"
    run = subprocess.run(base + [wrong], capture_output=True, text=True)
    assert run.returncode == 7, run.stderr
    assert "refused the credentials (HTTP 401)" in run.stderr and "not-the-password" not in run.stderr
    assert "Traceback" not in run.stderr
    bad_aet = f"dimse://RCDM@NOT_ORTHANC@127.0.0.1:{orthanc.dicom_port}"
    run = subprocess.run(base + [bad_aet], capture_output=True, text=True)
    assert run.returncode == 7 and "check the called AE title (NOT_ORTHANC)" in run.stderr
    nobody = f"dicomweb+http://127.0.0.1:{free_port()}/dicom-web"
    run = subprocess.run(base + [nobody], capture_output=True, text=True)
    assert run.returncode == 7 and "could not be reached" in run.stderr
    run = subprocess.run(base + ["dimse://PACS@host-without-port"], capture_output=True, text=True)
    assert run.returncode == 2 and "host and a port" in run.stderr
    env = {**os.environ, "RCDM_PACS_USER": USER, "RCDM_PACS_PASSWORD": PASSWORD}
    run = subprocess.run(base + [f"dicomweb+http://127.0.0.1:{orthanc.http_port}/dicom-web"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr


def test_addresses_parse_and_never_show_a_password():
    web = parse_pacs_url("dicomweb+https://me:s3cret@pacs.example.org:8443/dicom-web/")
    assert web.url == "https://pacs.example.org:8443/dicom-web" and web.username == "me"
    assert "s3cret" not in repr(web) + str(web) + web.key
    dimse = parse_pacs_url("dimse://MYAE@PACS@10.1.2.3:104")
    assert (dimse.calling_aet, dimse.called_aet, dimse.host, dimse.port) == ("MYAE", "PACS", "10.1.2.3", 104)
    assert parse_pacs_url("dimse://PACS@host:11112").calling_aet == "RCDM"
    for bad in ("dimse://host:104", "dimse://PACS@host", "dimse://" + "A" * 17 + "@h:1", "dicomweb+https:///x",
                "dimse://BAD\\AE@h:1"):
        with pytest.raises(PacsAddressError):
            parse_pacs_url(bad)


def _extract(address, db, out, index, *extra):
    with rcdm.connect(str(db)) as conn:
        rcdm.execute_sql(conn, "CREATE TABLE IF NOT EXISTS cdm.cohort (cohort_definition_id BIGINT, subject_id "
                               "BIGINT, cohort_start_date DATE, cohort_end_date DATE);")
        rcdm.execute_sql(conn, "DELETE FROM cdm.cohort; INSERT INTO cdm.cohort SELECT DISTINCT 1, person_id, "
                               "DATE '2000-01-01', DATE '2030-01-01' FROM cdm.radiology_occurrence;")
    return subprocess.run([sys.executable, "-m", "rcdm", "extract", "--cohort-id", "1", "--db", str(db),
                           "--schema", "cdm", "--out", str(out), "--from", address, "--pacs-index", str(index),
                           "--quiet", *extra], capture_output=True, text=True)


def test_extract_by_wado_rs_c_get_and_c_move_gives_byte_identical_files(orthanc, corpus, secret, tmp_path):
    db, index = tmp_path / "pacs.duckdb", tmp_path / "index.sqlite"
    _pacs_etl(orthanc.dimse_url, db, corpus, secret, index)
    run_etl([orthanc.dicomweb_url], str(db), "cdm", person_map=corpus["person_map"], secret_file=secret,
            quiet=True, pacs=PacsOptions(index=str(index)))  # the index now places the images in both
    outs, logs = {}, []
    for name, address, extra in (("wado", orthanc.dicomweb_url, ()), ("get", orthanc.dimse_url, ()),
                                 ("move", orthanc.dimse_url, ("--retrieve", "move", "--move-port", str(MOVE_PORT)))):
        out = tmp_path / name
        run = _extract(address, db, out, index, *extra)
        assert run.returncode == 0, run.stderr
        logs += [run.stdout, run.stderr]
        outs[name] = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.dcm")}
        assert len(outs[name]) == len(corpus["images"])
        again = _extract(address, db, out, index, *extra)  # resumes: nothing to fetch
        assert again.returncode == 0
    assert outs["wado"] == outs["get"] == outs["move"]
    originals = {}
    for path in corpus["images"]:
        meta, dataset = split_part10(Path(path).read_bytes())
        originals[meta["sop_instance_uid"]] = without_trailing_padding(dataset, meta["transfer_syntax_uid"])
    for data in outs["wado"].values():
        meta, dataset = split_part10(data)
        assert dataset == originals[meta["sop_instance_uid"]]  # the data set as uploaded (but trailing padding)
    printed = (tmp_path / "wado" / "manifest.csv").read_text() + "".join(logs)
    for uid in originals:
        assert uid not in printed


def test_extract_from_a_pacs_that_does_not_know_rcdm_as_move_destination(orthanc, corpus, secret, tmp_path):
    db, index = tmp_path / "pacs.duckdb", tmp_path / "index.sqlite"
    _pacs_etl(orthanc.dimse_url, db, corpus, secret, index)
    run = _extract(orthanc.dimse_url, db, tmp_path / "out", index, "--retrieve", "move",
                   "--move-aet", "UNKNOWN_AE", "--move-port", str(free_port()), "--retries", "0")
    assert run.returncode == 7 and "does it know the C-MOVE destination UNKNOWN_AE?" in run.stderr


def test_no_identifier_reaches_tables_or_logs(orthanc, corpus, secret, tmp_path, caplog):
    import pydicom

    db, index = tmp_path / "pacs.duckdb", tmp_path / "index.sqlite"
    caplog.set_level(logging.DEBUG)
    for address in (orthanc.dicomweb_url, orthanc.dimse_url):
        _pacs_etl(address, db, corpus, secret, index, rescan=True)
    secrets: set[str] = {PASSWORD}
    for path in corpus["images"]:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        secrets |= {str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), str(ds.PatientID),
                    str(ds.PatientName)}
    text = caplog.text
    with rcdm.connect(str(db)) as conn:
        for table in ("radiology_image", "radiology_occurrence", "rcdm_etl_file", "rcdm_etl_run"):
            text += f"[{table}]" + rcdm.query_sql(conn, f"SELECT * FROM cdm.{table};").to_csv()
    found = sorted((s, text[max(0, text.index(s) - 200):text.index(s)]) for s in secrets if s and s in text)
    assert not found, found
    assert os.stat(index).st_mode & 0o077 == 0  # the index (which holds UIDs) is the site's alone


@pytest.mark.slow
def test_pacs_sources_need_one_address_without_paths(corpus, secret, tmp_path):
    with pytest.raises(rcdm.errors.UsageError, match="one PACS address per run"):
        run_etl(["dimse://A@h:1", corpus["out_dir"]], str(tmp_path / "x.duckdb"), "cdm",
                person_map=corpus["person_map"], secret_file=secret)


def test_trailing_padding_is_dropped_only_where_it_ends_the_data_set():
    body = b"\x08\x00\x60\x00CS\x02\x00CT"
    padding = b"\xfc\xff\xfc\xffOB\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00"
    assert without_trailing_padding(body + padding, "1.2.840.10008.1.2.1") == body
    assert without_trailing_padding(body + padding + body, "1.2.840.10008.1.2.1") == body + padding + body
    implicit = b"\xfc\xff\xfc\xff\x02\x00\x00\x00\x00\x00"
    assert without_trailing_padding(body + implicit, "1.2.840.10008.1.2") == body
    assert without_trailing_padding(body, "1.2.840.10008.1.2.1") == body
