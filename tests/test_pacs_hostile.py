"""A PACS that answers badly or with hostile content: rcdm stops with a clear error (exit 7) or quarantines the
instance, never prints a traceback or a value, and never writes outside --out.

A fake DICOMweb server on 127.0.0.1 (stdlib http.server) answers QIDO-RS and WADO-RS in one of several broken
ways, chosen per test (attacks found in review: non-numeric counts, JSON that is not a list of data sets, an
HTML page, values pydicom cannot convert, a PatientID-like value in a numeric attribute, a leading-zero UID,
UIDs shaped like paths, a server that ignores the QIDO offset, WADO-RS answers that are not DICOM).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import rcdm

pytestmark = pytest.mark.slow  # fake PACS servers answering hostile data, each test several seconds

STUDY = "1.2.826.0.1.3680043.9.7777.1"
SERIES = STUDY + ".1"
SECRET_VALUES = ("PIDSECRET42", "Doe", STUDY)


def _instance(number: int, **extra: dict) -> dict:
    item = {
        "00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]},
        "00080018": {"vr": "UI", "Value": [f"{SERIES}.{number}"]},
        "0020000D": {"vr": "UI", "Value": [STUDY]},
        "0020000E": {"vr": "UI", "Value": [SERIES]},
        "00100020": {"vr": "LO", "Value": ["PIDSECRET42"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
        "00080060": {"vr": "CS", "Value": ["CT"]},
        "00080020": {"vr": "DA", "Value": ["20210105"]},
        "00081030": {"vr": "LO", "Value": ["CT HEAD PIDSECRET42"]},
    }
    item.update(extra)
    return item


STUDY_ANSWERS = {
    "badcount": [{"0020000D": {"vr": "UI", "Value": [STUDY]}, "00201208": {"vr": "IS", "Value": ["abc"]}}],
    "notlist": {"x": 1},
    "listvalue": [{"0020000D": ["x"]}],
    "html": b"<html>oops</html>",
}
INSTANCE_ANSWERS = {
    "badvr": [_instance(1, **{"00280010": {"vr": "US", "Value": ["notanint"]}}), _instance(2)],
    "badis": [_instance(1, **{"00200013": {"vr": "IS", "Value": ["PIDSECRET42"]}}), _instance(2)],
    "badda": [_instance(1, **{"00100030": {"vr": "DA", "Value": [{"x": "Doe^Jane PIDSECRET42"}]}}), _instance(2)],
    "lzuid": [_instance(1, **{"00080018": {"vr": "UI", "Value": [SERIES + ".01"]}}), _instance(2)],
    "badjson": [{"zz": 1}, _instance(2)],
    "pathuid": [_instance(1, **{"0020000E": {"vr": "UI", "Value": ["../../../../evil_series"]},
                                "00080018": {"vr": "UI", "Value": ["../../../../evil_sop"]}}), _instance(2)],
}


class _Handler(BaseHTTPRequestHandler):
    mode = "normal"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, body, ctype="application/dicom+json", code=200):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype if not isinstance(body, bytes) or code != 200 else
                         ("text/html" if body.startswith(b"<") else ctype))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's name
        path, _, query = self.path.partition("?")
        later_page = "offset=" in query and "offset=0" not in query
        if path.endswith("/studies"):
            if later_page and self.mode != "repeat":
                return self._send([])
            answer = STUDY_ANSWERS.get(self.mode, [{"0020000D": {"vr": "UI", "Value": [STUDY]},
                                                    "00201208": {"vr": "IS", "Value": [2]}}])
            if self.mode == "repeat":
                answer = answer * 2  # a full page (page size 2), the same whatever the offset
            return self._send(answer)
        if path.endswith("/instances"):
            if later_page:
                return self._send([])
            return self._send(INSTANCE_ANSWERS.get(self.mode, [_instance(1), _instance(2)]))
        if "/instances/" in path:
            if self.mode == "wadogarbage":
                return self._send(b"--b\r\nContent-Type: application/dicom\r\n\r\nNOT DICOM\r\n--b--",
                                  "multipart/related; boundary=b")
            return self._send(b"DICM", "application/dicom")
        return self._send({"error": "not found"}, code=404)


@pytest.fixture()
def fake_pacs():
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield handler, f"dicomweb+http://127.0.0.1:{server.server_address[1]}/dicom-web"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def person_map(tmp_path):
    path = tmp_path / "person_map.csv"
    path.write_text("patient_id,person_id\nPIDSECRET42,7\n")
    return str(path)


def _etl(address, tmp_path, person_map, *extra):
    return subprocess.run([sys.executable, "-m", "rcdm", "etl", address, "--db", str(tmp_path / "x.duckdb"),
                           "--schema", "cdm", "--person-map", person_map, "--secret-file", str(tmp_path / "s"),
                           "--pacs-index", str(tmp_path / "i.sqlite"), "--retries", "0", "--page-size", "2",
                           "--no-progress", *extra], capture_output=True, text=True)


@pytest.mark.parametrize("mode, code", [("notlist", 0), ("listvalue", 0), ("html", 7), ("repeat", 7)])
def test_a_broken_listing_is_one_clear_error_or_nothing(mode, code, fake_pacs, tmp_path, person_map):
    """An HTML page or a PACS ignoring offsets: exit 7; data sets without a study UID: nothing to load."""
    handler, address = fake_pacs
    handler.mode = mode
    run = _etl(address, tmp_path, person_map)
    assert run.returncode == code, run.stderr
    assert "Traceback" not in run.stderr
    assert not any(value in run.stderr + run.stdout for value in SECRET_VALUES)


@pytest.mark.parametrize("mode", ["badcount", "badvr", "badis", "badda", "lzuid", "badjson", "pathuid"])
def test_bad_instances_are_quarantined_and_nothing_is_printed(mode, fake_pacs, tmp_path, person_map):
    handler, address = fake_pacs
    handler.mode = mode
    run = _etl(address, tmp_path, person_map)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    printed = run.stderr + run.stdout
    assert not any(value in printed for value in SECRET_VALUES), printed
    with rcdm.connect(str(tmp_path / "x.duckdb")) as conn:
        files = rcdm.query_sql(conn, "SELECT status, reason FROM cdm.rcdm_etl_file;")
        stored = rcdm.query_sql(conn, "SELECT * FROM cdm.radiology_image;").to_csv() + files.to_csv() + \
            rcdm.query_sql(conn, "SELECT * FROM cdm.radiology_occurrence;").to_csv()
    assert not any(value in stored for value in SECRET_VALUES + ("evil",))
    assert "loaded" in set(files["status"])  # the good instance of the study still loads
    if mode in ("badvr", "badis", "badjson"):
        assert any(str(r).startswith("parse_error: ") for r in files["reason"])


def test_wado_answers_that_are_not_dicom_fail_those_images_only(fake_pacs, tmp_path, person_map):
    handler, address = fake_pacs
    assert _etl(address, tmp_path, person_map).returncode == 0
    with rcdm.connect(str(tmp_path / "x.duckdb")) as conn:
        rcdm.execute_sql(conn, "CREATE TABLE cdm.cohort AS SELECT 1 AS cohort_definition_id, 7 AS subject_id, "
                               "DATE '2000-01-01' AS cohort_start_date, DATE '2030-01-01' AS cohort_end_date;")
    for mode in ("wadogarbage", "wadoshort"):
        handler.mode = mode
        out = tmp_path / f"out-{mode}"
        run = subprocess.run([sys.executable, "-m", "rcdm", "extract", "--cohort-id", "1", "--db",
                              str(tmp_path / "x.duckdb"), "--schema", "cdm", "--out", str(out), "--from", address,
                              "--pacs-index", str(tmp_path / "i.sqlite"), "--retries", "0"],
                             capture_output=True, text=True)
        assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
        assert "2 answered with something else than their DICOM file" in run.stdout
        assert not list(out.rglob("*.dcm"))
        assert not any(value in run.stderr + run.stdout for value in SECRET_VALUES)


def test_malformed_addresses_never_echo_a_password(tmp_path, person_map):
    for address in ("dicomweb+https://alice:S3cretPW@pacs.example:99999/dw",
                    "dicomweb+https://alice:S3cretPW@/dw",
                    "dicomweb+https://alice:S3cretPW@pacs.example/dw?access_token=TOK123"):
        run = _etl(address, tmp_path, person_map)
        assert run.returncode == 2, run.stderr
        assert "S3cretPW" not in run.stderr and "alice" not in run.stderr and "TOK123" not in run.stderr, run.stderr
