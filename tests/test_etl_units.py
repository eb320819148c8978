"""The ETL's small parts: file discovery, the ordered executor, the worker's de-identified output, decisions."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pytest

from rcdm.errors import UsageError
from rcdm.etl.discover import iter_files
from rcdm.etl.executor import LocalExecutor
from rcdm.etl.load import _decide_rows, _decide_vectorised, decide, group_batches, join_batches
from rcdm.etl.lock import advisory_key, lock_message_for
from rcdm.etl.run import _map_persons
from rcdm.etl.transform import STAGE_SCHEMA, BatchContext, FileEntry, file_ids, file_key, process_batch


def test_iter_files_is_sorted_depth_first_follows_links_and_guards_loops(tmp_path):
    for name in ("b/2.dcm", "b/1.dcm", "a/z.dcm", "c.dcm", "a/sub/x.dcm"):
        path = tmp_path / "root" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    root = tmp_path / "root"
    os.symlink(root, root / "a" / "loop")  # a directory link back to the root: not entered again
    os.symlink(root / "c.dcm", root / "d_link.dcm")
    os.symlink(root / "missing.dcm", root / "e_broken.dcm")
    found = [os.path.relpath(p, root) for p in iter_files([root])]
    assert found == ["a/sub/x.dcm", "a/z.dcm", "b/1.dcm", "b/2.dcm", "c.dcm", "d_link.dcm", "e_broken.dcm"]
    listing = tmp_path / "list.txt"
    listing.write_text(f"# comment\n{root / 'c.dcm'}\n\n")
    assert list(iter_files([], file_list=listing)) == [str(root / "c.dcm")]
    with pytest.raises(UsageError):
        list(iter_files([tmp_path / "nope"]))


def test_iter_files_is_lazy(tmp_path):
    (tmp_path / "x.dcm").write_text("x")
    it = iter_files([tmp_path])
    assert next(it).endswith("x.dcm")


@pytest.mark.slow
def test_executor_keeps_order_with_workers(tmp_path):
    entries = []
    for i in range(12):
        path = tmp_path / f"{i:02d}.txt"
        path.write_text("not dicom")
        entries.append(FileEntry(str(path), path.name, file_key(path.name, b"k" * 32), 9, 0))
    batches = [(n, entries[n * 3:(n + 1) * 3]) for n in range(4)]
    out = list(LocalExecutor(BatchContext(b"k" * 32), workers=2).map_batches(iter(batches)))
    assert [tag for tag, _ in out] == [0, 1, 2, 3]
    assert [t.column("file_path").to_pylist() for _, t in out] == [[e.file_path for e in b] for _, b in batches]
    assert all(t.schema == STAGE_SCHEMA for _, t in out)


def test_worker_output_holds_no_patient_id_or_uid():
    from rcdm.dicom.sample import template_path

    import pydicom

    path = template_path("CT")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    table = process_batch([FileEntry(path, "ct.dcm", file_key("ct.dcm", b"s" * 32), None, None)], BatchContext(b"s" * 32))
    row = table.to_pylist()[0]
    assert row["status"] == "loaded"
    text = repr(row)
    for secret_value in (str(ds.PatientID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                         str(ds.SOPInstanceUID), str(ds.PatientName)):
        assert secret_value not in text
    assert len(row["patient_key"]) == 64 and 0 < row["radiology_image_id"] < 2**63
    assert repr(BatchContext(b"s" * 32)) == "BatchContext(secret=***)"


def _rows(*specs):
    base = {name: None for name in STAGE_SCHEMA.names}
    rows = []
    for seq, (image, study, person, path) in enumerate(specs):
        rows.append({**base, "seq": seq, "status": "loaded", "radiology_image_id": image,
                     "radiology_occurrence_id": study, "person_id": person, "file_path": path,
                     "modality": "CT" if seq % 2 else "SR", "study_date": dt.date(2020, 1, 2 + seq),
                     "manufacturer": f"M{seq}"})
    return pa.Table.from_pylist(rows, schema=STAGE_SCHEMA)


def test_decide_duplicates_conflicts_and_merge():
    table = _rows((1, 10, 100, "a"), (1, 10, 100, "b"), (2, 10, 200, "c"), (3, 20, 300, "d"), (4, 30, 400, "e"))
    images = {4: {"file_path": "elsewhere"}}
    studies = {20: {"person_id": 300, "radiology_occurrence_date": dt.date(2019, 1, 1),
                    "radiology_occurrence_datetime": None, "modality": "MR", "manufacturer": "A",
                    "protocol_source_value": None, "radiology_occurrence_source_value": "h"}}
    statuses, reasons, study_table = decide(table, images, studies)
    assert statuses == ["loaded", "duplicate", "quarantined", "loaded", "duplicate"]
    assert reasons[1] == "duplicate: same SOP instance as a" and reasons[2] == "study_person_conflict"
    merged = {r["radiology_occurrence_id"]: r for r in study_table.to_pylist()}
    assert set(merged) == {10, 20}
    assert merged[20]["is_new"] == 0 and merged[20]["modality"] == "CT,MR"
    assert merged[20]["radiology_occurrence_date"] == dt.date(2019, 1, 1) and merged[20]["manufacturer"] == "A"
    assert merged[10]["is_new"] == 1 and merged[10]["person_id"] == 100


def test_decide_vectorised_equals_the_row_rules():
    table = _rows((1, 10, 100, "a"), (2, 10, 100, "b"), (3, 20, 300, "c"), (4, 30, 400, "d"), (5, 20, 300, "e"))
    table = table.set_column(table.schema.get_field_index("modality"), "modality",
                             pa.array(["CT", None, "", "MR", "CT"], pa.string()))
    table = table.take([4, 0, 3, 1, 2])  # not in seq order
    studies = {20: {"person_id": 300, "radiology_occurrence_date": dt.date(2021, 1, 1),
                    "radiology_occurrence_datetime": None, "modality": "US", "manufacturer": "A",
                    "protocol_source_value": "P", "radiology_occurrence_source_value": None}}
    images = {3: {"file_path": "c"}}  # the same file again: a reload, not a duplicate
    fast = _decide_vectorised(table, images, studies)
    assert fast is not None
    rows = _decide_rows(table, images, studies)
    assert fast[0].to_pylist() == rows[0] and fast[1].to_pylist() == rows[1]
    assert fast[2].to_pylist() == rows[2].to_pylist()
    merged = {r["radiology_occurrence_id"]: r for r in fast[2].to_pylist()}
    assert merged[20]["modality"] == "CT,US" and merged[20]["is_new"] == 0 and merged[10]["modality"] == "CT"


def test_joined_batches_decide_as_their_parts_loaded_in_turn():
    first = _rows((1, 10, 100, "a"), (2, 10, 100, "b"))
    second = _rows((1, 10, 100, "c"), (3, 10, 200, "d"))  # a's SOP instance again; d: another person's study
    joined = join_batches([first, second])
    assert joined.column("seq").to_pylist() == [0, 1, 2, 3]
    statuses, reasons, _ = decide(joined, {}, {})
    assert statuses == ["loaded", "loaded", "duplicate", "quarantined"]
    assert reasons[2] == "duplicate: same SOP instance as a" and reasons[3] == "study_person_conflict"
    assert join_batches([]).num_rows == 0


def test_group_batches_holds_at_least_rows_a_group():
    batches = [(i, _rows(*[(10 * i + j, i, 1, f"{i}/{j}") for j in range(3)])) for i in range(5)]
    groups = list(group_batches(batches, rows=5))
    assert [tags for tags, _ in groups] == [[0, 1], [2, 3], [4]]
    assert [table.num_rows for _, table in groups] == [6, 6, 3]
    assert [tags for tags, _ in group_batches(batches, rows=1)] == [[0], [1], [2], [3], [4]]


def test_file_ids_are_the_63_bit_keyed_hash_of_the_path():
    from rcdm.dicom.deid import hmac_id, text_bytes

    secret = b"s" * 32
    paths = ["a/b.dcm", "PATIENT01/x.dcm", "bad\udcffname.dcm"] + [f"p/{i}.dcm" for i in range(100)]
    keys = [file_key(p, secret) for p in paths]
    ids = file_ids(keys).to_pylist()
    assert ids == [hmac_id(secret, text_bytes(p), "path") for p in paths]
    assert all(0 < i < 2**63 for i in ids) and len(set(ids)) == len(ids)
    chunked = pa.chunked_array([pa.array(keys[:10]), pa.array(keys[10:])]).slice(5)
    assert file_ids(chunked).to_pylist() == ids[5:]
    assert file_ids([]).to_pylist() == []
    for bad in (["A" * 64], ["g" * 64], [keys[0][:63]]):
        with pytest.raises(ValueError):
            file_ids(bad)


def test_lock_helpers():
    assert advisory_key("cdm") == advisory_key("CDM") != advisory_key("other")
    message = lock_message_for(RuntimeError('IO Error: Could not set lock on file "x.duckdb": Conflicting lock '
                                            'is held in python (PID 1234)'), "x.duckdb")
    assert message and "process 1234" in message
    assert lock_message_for(RuntimeError("syntax error"), "x") is None


def test_sanitize_path_finds_names_as_words_only():
    from rcdm.etl.transform import sanitize_path

    assert sanitize_path("sleep_study/1.dcm", names=("lee",)) == ("sleep_study/1.dcm", False)
    assert sanitize_path("LEE_CT/1.dcm", names=("lee",)) == ("{redacted}/1.dcm", True)
    assert sanitize_path("ct-lee/1.dcm", names=("lee",)) == ("{redacted}/1.dcm", True)
    assert sanitize_path("홍길동/1.dcm", names=("홍길동",)) == ("{redacted}/1.dcm", True)
    assert sanitize_path("a/19800102/1.dcm", birth_dates=("19800102",)) == ("a/{redacted}/1.dcm", True)
    path, found = sanitize_path("SAMPLE0001/study1/1.dcm", patient_ids=("SAMPLE0001",))
    assert (path, found) == ("{patient_id}/study1/1.dcm", False)


def test_child_environment_drops_r_library_path_only_under_r(monkeypatch):
    import os

    from rcdm.etl.forkserver import child_environment

    monkeypatch.setenv("LD_LIBRARY_PATH", "/usr/lib/x86_64-linux-gnu")
    monkeypatch.delenv("R_HOME", raising=False)
    with child_environment():
        assert os.environ["LD_LIBRARY_PATH"] == "/usr/lib/x86_64-linux-gnu"
    monkeypatch.setenv("R_HOME", "/usr/lib/R")
    with child_environment():
        assert "LD_LIBRARY_PATH" not in os.environ
    assert os.environ["LD_LIBRARY_PATH"] == "/usr/lib/x86_64-linux-gnu"



def test_forkserver_preloads_the_worker_code_and_starts_once_before_the_pool():
    """``rcdm etl`` starts the workers' server before it imports the database layer: the server preloads the
    module the workers run, a second start is a no-op, and a pool made afterwards forks from that same server."""
    import multiprocessing.forkserver as mp_forkserver

    from rcdm.etl import forkserver
    from rcdm.etl.executor import WorkerPool

    assert process_batch.__module__ in forkserver.PRELOAD
    assert "rcdm.etl.preload" in forkserver.PROGRAM_PRELOAD  # which imports it too (test_etl_start)
    if forkserver.pool_context().get_start_method() != "forkserver":
        pytest.skip("no forkserver on this platform")
    forkserver.start()
    server = mp_forkserver._forkserver._forkserver_pid  # the one server of this process
    assert server is not None
    forkserver.start()
    assert mp_forkserver._forkserver._forkserver_pid == server
    pool = WorkerPool(2)
    try:
        pids = {pool.get().submit(os.getppid).result() for _ in range(4)}
    finally:
        pool.close()
    assert pids == {server}  # the workers are the server's children


def test_a_run_starts_local_workers_only_when_it_reads_files_in_more_than_one():
    """The one rule ``run_etl`` (its pool) and ``rcdm etl`` (the forkserver it starts first) both follow."""
    from rcdm.etl.forkserver import pool_workers

    assert pool_workers("local", 2, pacs=False) == 2
    assert pool_workers(None, 3, pacs=False) == 3
    assert pool_workers("local", 1, pacs=False) == 0
    assert pool_workers("dask-local", 2, pacs=False) == 0
    assert pool_workers(" Local ", 2, pacs=True) == 0
    cpus = os.cpu_count() or 1
    assert pool_workers("local", None, pacs=False) == (cpus if cpus > 1 else 0)


# --- identifiers in stored text, undecodable names, quiet reads ------------------------------------------------


def _identified_ct(target, patient_id="MRN778899", name="Doe^Jonathan", birth_date="19610412X"):
    """The sample CT with the patient's identifiers typed into its free-text fields."""
    import copy
    import warnings

    import pydicom

    from rcdm.dicom.sample import template_path

    ds = copy.deepcopy(pydicom.dcmread(template_path("CT")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the malformed dates while writing them
        ds.PatientID, ds.PatientName, ds.PatientBirthDate = patient_id, name, birth_date
        ds.StudyDescription = "CT HEAD Doe Jonathan MRN778899"
        ds.SeriesDescription = "MRN778899 axial"
        ds.ProtocolName = "Jonathan DOE"
        ds.BodyPartExamined = "MRN778899"
        ds.Manufacturer = "Doe^Jonathan"
        ds.StudyDate = "19610412X"
        ds.save_as(target)
    return target


def test_scrub_text_rules():
    from rcdm.etl.transform import scrub_text

    ids, names, dates = ("MRN778899",), ("doe", "jonathan"), ("19610412", "1961-04-12")
    assert scrub_text("CT HEAD Doe Jonathan MRN778899", ids, names, dates) == "CT HEAD [REDACTED]"
    assert scrub_text("mrn778899_axial  thin", ids, names, dates) == "[REDACTED]_axial thin"
    assert scrub_text("Doe^Jonathan", ids, names, dates) is None
    assert scrub_text("MRN778899", ids, names, dates) is None
    assert scrub_text("born 1961-04-12, head", ids, names, dates) == "born [REDACTED], head"
    assert scrub_text("DOES XMRN778899 2019610412", ids, names, dates) == "DOES XMRN778899 2019610412"
    assert scrub_text("sleep study", (), ("lee",)) == "sleep study"
    assert scrub_text("CT 홍길동 head", (), ("홍길동",)) == "CT [REDACTED] head"
    assert scrub_text(None, ids, names, dates) is None and scrub_text("AXIAL") == "AXIAL"


def test_header_identity_reads_birth_dates_and_non_latin_names(tmp_path):
    from pydicom.data import get_charset_files

    from rcdm.etl.transform import header_identity

    names, dates = header_identity(str(_identified_ct(tmp_path / "ct.dcm")))
    assert set(names) == {"doe", "jonathan"}
    assert {"19610412", "1961-04-12", "1961.04.12", "1961_04_12"} <= set(dates)
    names, _ = header_identity(get_charset_files("chrH31.dcm")[0])  # ISO 2022 IR 87
    assert {"yamada", "tarou", "山田", "太郎", "山田太郎", "やまだ", "たろう"} <= set(names)
    names, _ = header_identity(get_charset_files("chrKoreanMulti.dcm")[0])  # ISO 2022 IR 149
    assert "김희중" in names


def test_worker_scrubs_the_files_identifiers_from_every_stored_text(tmp_path):
    from rcdm.etl.transform import PHI_SCRUBBED_KEY, TEXT_COLUMNS, phi_scrubbed

    path = _identified_ct(tmp_path / "ct.dcm")
    table = process_batch([FileEntry(str(path), "ct.dcm", file_key("ct.dcm", b"s" * 32), None, None)],
                          BatchContext(b"s" * 32))
    row = table.to_pylist()[0]
    assert row["status"] == "loaded"
    assert row["protocol_source_value"] == "CT||CT HEAD [REDACTED]|[REDACTED] AXIAL|"
    assert row["manufacturer"] is None and row["body_part_source_value"] is None
    assert row["modality"] == "CT"
    assert row["study_date"] != dt.date(1961, 4, 12)  # the malformed StudyDate fell back to SeriesDate
    text = " ".join(str(row[c]) for c in TEXT_COLUMNS).lower()
    for value in ("mrn778899", "doe", "jonathan", "19610412"):
        assert value not in text
    assert phi_scrubbed(table) == 1 and PHI_SCRUBBED_KEY in table.schema.metadata
    assert table.schema.equals(STAGE_SCHEMA)  # the metadata does not change the staged format


def test_undecodable_file_name_loads_with_a_printable_stored_path(tmp_path):
    from rcdm.dicom.sample import template_path
    from rcdm.etl.transform import relative_path

    data = open(template_path("CT"), "rb").read()
    bad = os.path.join(str(tmp_path), os.fsdecode(b"bad\xffname.dcm"))
    with open(bad, "wb") as f:
        f.write(data)
    good = tmp_path / "good.dcm"
    good.write_bytes(data)
    secret = b"s" * 32
    rel = relative_path(bad, str(tmp_path))
    key = file_key(rel, secret)  # no UnicodeEncodeError
    assert len(key) == 64 and key == file_key(rel, secret) != file_key("bad\ufffdname.dcm", secret)
    assert file_key("good.dcm", secret) == file_key("good.dcm", secret)
    table = process_batch([FileEntry(bad, rel, key, None, None),
                           FileEntry(str(good), "good.dcm", file_key("good.dcm", secret), None, None)],
                          BatchContext(secret))
    rows = table.to_pylist()
    assert (rows[0]["status"], rows[0]["reason"]) == ("loaded", None)
    assert rows[0]["file_path"] == "bad\ufffdname.dcm" and rows[0]["radiology_image_id"] is not None
    rows[0]["file_path"].encode("utf-8")
    assert rows[1]["status"] == "loaded"


def test_header_reads_emit_no_warning_and_no_pydicom_log_record(tmp_path, caplog):
    import logging
    import warnings

    import pydicom
    from pydicom.charset import convert_encodings

    from rcdm.dicom.reader import read_header
    from rcdm.dicom.sample import template_path

    ds = pydicom.dcmread(template_path("CT"))
    ds.SpecificCharacterSet = "ISO_IR 999"  # unknown: pydicom warns (and logs) when it decodes
    ds.Manufacturer = "Doe\u00e9"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(tmp_path / "odd.dcm")
    with pytest.warns(UserWarning):
        convert_encodings(["ISO_IR 999"])  # the condition is real
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_header(tmp_path / "odd.dcm")
        process_batch([FileEntry(str(tmp_path / "odd.dcm"), "odd.dcm", "k", None, None)], BatchContext(b"s" * 32))
    assert not caught, [str(w.message) for w in caught]
    assert not [r for r in caplog.records if r.name.startswith("pydicom")]
    assert not logging.getLogger("pydicom").disabled  # restored


def test_bad_arguments_are_refused_before_the_secret_is_created(tmp_path):
    import pytest as _pytest

    from rcdm.errors import UsageError
    from rcdm.etl import run_etl

    secret = tmp_path / "secret"
    (tmp_path / "map.csv").write_text("patient_id,person_id\n")
    cases = [
        dict(paths=[str(tmp_path / "nope")], person_map=str(tmp_path / "map.csv")),
        dict(paths=[str(tmp_path)], person_map=str(tmp_path / "missing.csv")),
        dict(paths=[str(tmp_path)], person_map=str(tmp_path / "map.csv"), file_list=str(tmp_path / "list.txt")),
    ]
    for case in cases:
        with _pytest.raises(UsageError):
            run_etl(case.pop("paths"), str(tmp_path / "x.duckdb"), "cdm", secret_file=str(secret), quiet=True,
                    **case)
    assert not secret.exists()


def test_persons_are_mapped_column_wise_and_unmapped_rows_say_why():
    table = pa.table({"patient_key": pa.array(["a", "b", "", None, "a", "b"], pa.string()),
                      "person_id": pa.array([None] * 6, pa.int64()),
                      "status": ["loaded", "loaded", "loaded", "loaded", "quarantined", "quarantined"],
                      "reason": pa.array([None, None, None, None, "parse_error: X", "parse_error: Y"], pa.string())})
    mapped, unmapped = _map_persons(table, {"a": 7})
    assert unmapped == 3
    assert mapped.column("person_id").to_pylist() == [7, None, None, None, 7, None]
    assert mapped.column("status").to_pylist() == ["loaded", "unmapped_patient", "unmapped_patient",
                                                   "unmapped_patient", "quarantined", "quarantined"]
    assert mapped.column("reason").to_pylist() == [None, "unmapped_patient", "unmapped_patient: no PatientID",
                                                   "unmapped_patient: no PatientID", "parse_error: X",
                                                   "parse_error: Y"]
    assert _map_persons(table.slice(0, 1), {"a": 7}) == (table.slice(0, 1).set_column(
        1, "person_id", pa.array([7], pa.int64())), 0)


def test_fit_batch_cuts_only_what_does_not_fit():
    """Columns that fit are left as they are (the usual batch: no copy); a long value is cut to its column's bytes
    at a character boundary (a path ending in …) and NUL characters are dropped, nulls and empty texts kept."""
    from rcdm.etl.fit import ELLIPSIS, column_limits, fit_batch

    limit = column_limits()["file_path"]
    clean = pa.table({"file_path": ["a.dcm", None, ""], "modality": ["CT", "MR", None]})
    same, fitted = fit_batch(clean)
    assert fitted == 0 and same.equals(clean)
    long_path = "é" * limit  # 2 bytes a character: twice the column's size
    table = pa.table({"file_path": ["a.dcm", long_path, None, "b\x00.dcm"], "modality": ["C\x00T", "MR", None, "CT"]})
    out, fitted = fit_batch(table)
    assert fitted == 3
    paths = out.column("file_path").to_pylist()
    assert paths[0] == "a.dcm" and paths[2] is None and paths[3] == "b.dcm"
    assert paths[1].endswith(ELLIPSIS) and len(paths[1].encode()) <= limit and paths[1][:-1] == "é" * len(paths[1][:-1])
    assert out.column("modality").to_pylist() == ["CT", "MR", None, "CT"]
