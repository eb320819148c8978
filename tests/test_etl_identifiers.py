"""No identifier reaches the database, and one odd file never blocks the others (issue 13).

An archive laid out as PACS exports, heudiconv and Orthanc do (folders and files named by accession number and
UIDs), with descriptions that hide nested identifiers (a StudyDescription encoded as a sequence, a
SeriesDescription as UN of undefined length), Latin-1 file names (one of them the patient's name): a PHI scan of
every text value of every table, the staging files, the logs, the summary and the printed output finds
nothing, while extraction still finds every file through the site's path index. A path longer than its column
and a row the database refuses load (or are quarantined) without holding back the rest. DuckDB and PostgreSQL.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from rcdm.db import connect, execute_sql, query_sql
from rcdm.etl import run_etl
from test_etl_load import check_invariant, make_corpus, pg_schema

pytestmark = pytest.mark.slow  # the ETL end to end, with worker processes

NESTED_ID, ADDRESS = "NESTED-4711", "12 Hidden Lane"


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> list[str]:
    corpus = make_corpus(tmp_path_factory.mktemp("templates"), seeds=(0,), n_patients=2)
    return sorted(corpus["images"])[:8]


@pytest.fixture(params=["duckdb", "postgresql"])
def target(request, tmp_path):
    if request.param == "duckdb":
        yield str(tmp_path / "cdm.duckdb"), "cdm"
        return
    url = request.getfixturevalue("postgres_url")
    with connect(url) as conn:
        schema = pg_schema(conn)
    yield url, schema
    with connect(url) as conn:
        execute_sql(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")


def _un_undefined_length(path: Path, marker: bytes) -> None:
    """Turn the element whose value is ``marker`` (SeriesDescription) into UN of undefined length holding one
    item with a nested PatientID and PatientAddress (implicit VR inside, as the standard says)."""
    data = path.read_bytes()
    at = data.index(marker) - 8
    assert data[at:at + 6] == b"\x08\x00\x3e\x10LO"
    nested = b""
    for tag, value in ((b"\x10\x00\x20\x00", NESTED_ID.encode() + b" "), (b"\x10\x00\x40\x10", ADDRESS.encode())):
        nested += tag + len(value).to_bytes(4, "little") + value
    element = (b"\x08\x00\x3e\x10UN\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + nested
               + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    path.write_bytes(data[:at] + element + data[at + 8 + len(marker):])


def _uid_named_archive(templates: list[str], root: Path) -> tuple[dict, set[str]]:
    """Files named by UID under accession / study / series folders; what identifies the patients."""
    phi: set[str] = set()
    placed: dict[str, Path] = {}
    for n, template in enumerate(templates):
        ds = copy.deepcopy(pydicom.dcmread(template))
        ds.AccessionNumber = f"ACC{90210 + n // 4}"
        ds.PatientName = "MÜLLER^HANS" if n % 2 else "Doe^Jonathan"
        ds.PatientBirthDate = "19610412"
        ds.SpecificCharacterSet = "ISO_IR 100"
        phi |= {str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID), str(ds.StudyInstanceUID), str(ds.PatientID),
                ds.AccessionNumber, "Jonathan", "HANS", "19610412"}
        folder = root / ds.AccessionNumber / str(ds.StudyInstanceUID) / str(ds.SeriesInstanceUID)
        if n == 0:  # StudyDescription as a sequence with nested identifiers
            item = Dataset()
            item.PatientID, item.PatientAddress = NESTED_ID, ADDRESS
            ds.add_new(0x00081030, "SQ", Sequence([item]))
        if n == 1:
            ds.SeriesDescription = "UNDEFINEDLENGTHMARKER"
        if n == 3:  # a Latin-1 name that is the patient's name: redacted, loaded
            folder = Path(os.fsdecode(os.fsencode(str(root)) + b"/M\xfcller"))
        if n == 5:  # a Latin-1 name that is no name: loaded, stored with U+FFFD
            folder = Path(os.fsdecode(os.fsencode(str(folder)) + b"/r\xe9sum\xe9"))
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(target, enforce_file_format=True)
        if n == 1:
            _un_undefined_length(target, b"UNDEFINEDLENGTHMARKER ")
        placed[str(ds.SOPInstanceUID)] = target
    phi |= {NESTED_ID, ADDRESS, "Müller", "MÜLLER", "müller", "Hidden"}
    return placed, phi


def _texts_of(conn, schema: str) -> list[str]:
    tables = query_sql(conn, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}';")
    texts = []
    for table in tables["table_name"]:
        frame = query_sql(conn, f"SELECT * FROM {schema}.{table};")
        texts += [str(v) for v in frame.to_numpy().ravel() if v is not None]
    return texts


def test_no_identifier_of_a_uid_named_archive_reaches_the_database(templates, target, tmp_path, caplog, capfd):
    from rcdm.extract import materialize

    url, schema = target
    root = tmp_path / "archive"
    placed, phi = _uid_named_archive(templates, root)
    person_map = tmp_path / "persons.csv"
    patients = sorted({str(pydicom.dcmread(p).PatientID) for p in templates})
    person_map.write_text("patient_id,person_id\n" + "".join(f"{p},{100 + i}\n" for i, p in enumerate(patients)))
    staging, summary_json, index = tmp_path / "staging", tmp_path / "summary.json", tmp_path / "paths.idx"
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()
    with connect(url) as conn:
        summary = run_etl(str(root), conn, schema, person_map=str(person_map), secret_file=str(tmp_path / "secret"),
                          workers=1, staging_dir=str(staging), keep_staging=True, summary_json=str(summary_json),
                          path_index=str(index), quiet=False)
        check_invariant(summary)
        assert summary["loaded"] == len(templates), summary
        assert summary["changes"]["non_text_values"] == 2
        texts = _texts_of(conn, schema)
        paths = query_sql(conn, f"SELECT file_path FROM {schema}.radiology_image;")["file_path"].tolist()
        images = query_sql(conn, f"SELECT i.radiology_image_id, i.file_path, i.radiology_occurrence_id, "
                                 f"i.radiology_series_id, o.person_id FROM {schema}.radiology_image i JOIN "
                                 f"{schema}.radiology_occurrence o ON o.radiology_occurrence_id = "
                                 f"i.radiology_occurrence_id;")
        protocols = query_sql(conn, f"SELECT protocol_source_value FROM {schema}.radiology_occurrence;")
    assert all("{uid}" in p for p in paths) and any("{accession}" in p for p in paths)
    assert any(p.startswith("{redacted}/") for p in paths) and any("r\ufffdsum\ufffd" in p for p in paths)
    assert not any("NESTED" in str(v) or "Dataset" in str(v) or "(0010" in str(v)
                   for v in protocols["protocol_source_value"])
    for file in staging.rglob("*.parquet"):
        texts += [str(v) for column in pq.read_table(file).to_pydict().values() for v in column if v is not None]
    out = capfd.readouterr()
    blob = "\n".join(texts + [caplog.text, out.out, out.err, summary_json.read_text()])
    leaks = sorted(v for v in phi if v.lower() in blob.lower())
    assert not leaks, f"identifiers found: {leaks}"
    # extraction finds every file through the path index, although no stored path names it
    result = materialize(images, root, tmp_path / "out", mode="copy", path_index=index)
    assert result["copied"] == len(templates) and not result["missing"] and not result["unresolved"]
    copies = sorted(p.read_bytes() for p in (tmp_path / "out").rglob("*.dcm"))
    assert copies == sorted(p.read_bytes() for p in placed.values())
    without = materialize(images, root, tmp_path / "out2", mode="copy")
    assert len(without["unresolved"]) == len(templates)  # without the index: said, not guessed


def test_a_long_path_and_a_refused_row_hold_back_nothing(templates, target, tmp_path):
    from rcdm.ddl import create_tables

    url, schema = target
    root = tmp_path / "archive"
    deep = root.joinpath(*[f"{n:02d}" + "x" * 238 for n in range(15)])  # a 3.6 KB path
    deep.mkdir(parents=True)
    for n, template in enumerate(templates):
        shutil.copy(template, (deep if n == 2 else root) / f"{n}.dcm")
    clash = pydicom.dcmread(templates[0])  # same series and instance number as file 0, another SOP instance
    clash.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["clash"])
    clash.file_meta.MediaStorageSOPInstanceUID = clash.SOPInstanceUID
    clash.save_as(root / "9.dcm")
    person_map = tmp_path / "persons.csv"
    patients = sorted({str(pydicom.dcmread(p).PatientID) for p in templates})
    person_map.write_text("patient_id,person_id\n" + "".join(f"{p},{100 + i}\n" for i, p in enumerate(patients)))
    with connect(url) as conn:
        create_tables(conn, schema)  # a site rule the database enforces and rcdm does not know
        execute_sql(conn, f"CREATE UNIQUE INDEX idx_site_rule ON {schema}.radiology_image "
                          f"(radiology_series_id, instance_number);")
        summary = run_etl(str(root), conn, schema, person_map=str(person_map), secret_file=str(tmp_path / "secret"),
                          workers=1, path_index=str(tmp_path / "paths.idx"), quiet=True)
        check_invariant(summary)
        assert summary["loaded"] == len(templates)
        assert summary["quarantined_by_reason"] == {"database_refused": 1}
        assert summary["changes"]["refused_rows"] == 1 and summary["changes"]["values_fitted"] == 1
        files = query_sql(conn, f"SELECT file_path, status, reason FROM {schema}.rcdm_etl_file;")
        refused = files[files["status"] == "quarantined"].iloc[0]
        assert refused["file_path"] == "9.dcm" and refused["reason"].startswith("database_refused: ")
        long = [p for p in files["file_path"] if p.endswith("…")]
        assert len(long) == 1 and len(long[0].encode()) <= 1024
        again = run_etl(str(root), conn, schema, person_map=str(person_map), secret_file=str(tmp_path / "secret"),
                        workers=1, path_index=str(tmp_path / "paths.idx"), quiet=True)
        assert again["loaded"] == 0 and again["skipped_by_reason"] == {"unchanged": len(templates) + 1}


def test_reason_codes_are_never_scrubbed_only_their_details(tmp_path):
    from rcdm.etl.transform import BatchContext, FileEntry, file_key, process_batch

    path = tmp_path / "Dicom Phantom notes.txt"
    path.write_text("not DICOM")
    ds_path = tmp_path / "phantom.dcm"
    from rcdm.dicom.sample import template_path

    ds = pydicom.dcmread(template_path("CT"))
    ds.PatientName = "Dicom^Phantom"
    ds.save_as(ds_path)
    secret = b"s" * 32
    entries = [FileEntry(str(p), p.name, file_key(p.name, secret), None, None) for p in (ds_path, path)]
    rows = process_batch(entries, BatchContext(secret)).to_pylist()
    assert rows[0]["status"] == "loaded" and rows[1]["status"] == "skipped"
    assert rows[1]["reason"].split(":")[0] == "not_dicom"
    assert rows[1]["file_path"] == "{redacted}"


def test_a_nested_value_read_by_pydicom_is_absent_not_printed():
    from rcdm.dicom.reader import _values_from_dataset

    ds = Dataset()
    item = Dataset()
    item.PatientID = NESTED_ID
    ds.add_new(0x00081030, "SQ", Sequence([item]))
    ds.add_new(0x0008103E, "UN", b"\x10\x00\x20\x00")
    ds.Modality = "CT"
    values = _values_from_dataset(ds)
    assert values.get("StudyDescription") is None and values.get("SeriesDescription") is None
    assert values["Modality"] == "CT"
    assert NESTED_ID not in json.dumps(values, default=str)
