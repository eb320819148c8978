"""The ETL's per-file fast paths give what the full way gives: the path check that skips the substitutions when
a path holds none of the identifiers (``rcdm.dicom.deid._nothing_to_scrub``) and the batch's memo of the values
its images share (``rcdm.etl.transform``), on hostile paths and values and on the bundled files."""

from __future__ import annotations

import copy
import hmac
import os
import random
import warnings

import pydicom
import pytest
import xxhash
from pydicom.data import get_charset_files, get_testdata_file, get_testdata_files

from rcdm.dicom import deid
from rcdm.dicom.identity import CHECKSUM_VERSION, checksum_version, header_checksum, header_facts, window_facts
from rcdm.dicom.reader import read_header, read_header_and_head
from rcdm.dicom.sample import template_path
from rcdm.etl import transform
from rcdm.etl.transform import (
    SHARED_COLUMNS,
    STAGE_SCHEMA,
    BatchContext,
    FileEntry,
    file_key,
    image_row,
    phi_scrubbed,
    process_batch,
    stage_table,
)

SECRET = b"f" * 32

IDS = ("MRN778899", "sample0001", "AİB", "K12", "ß-77", "a.b", "x+y")
ACCESSIONS = ("ACC123", "2024.01.02.03", "İSTANBUL9")
NAMES = ("lee", "mary ann", "i̇brahim", "홍길동", "straße", "o'neil", "sſs")
DATES = ("19610412", "1961-04-12", "1961/04/12", "1961.04.12")
UIDS = ("1.2.840.10008.5.1.4.1.1.2", "1.2.3", "9.9.9.9.9")
PIECES = IDS + ACCESSIONS + NAMES + DATES + UIDS + (
    "sleep_study", "CT", "ct-", "_", ".", "-", " ", "..", "dcm", ".dcm", "1.2.3.4", "01.02.03.04x", "X1.2.3.4",
    "K", "k", "İ", "i", "ı", "ẞ", "SS", "\udcff", "\udce9", "ç", "MRN", "778899", "Lee", "LEE", "LEEK", "ann",
    "19610412X", "2019", "0412", "{uid}", "a", "b", "0", "9")


def _hostile_path(rng: random.Random) -> str:
    components = []
    for _ in range(rng.randint(1, 4)):
        pieces = [rng.choice(PIECES) for _ in range(rng.randint(1, 4))]
        words = [p if deid.undecodable(p) else rng.choice((str.lower, str.upper, str, str.title))(p) for p in pieces]
        components.append("".join(words))
    return "/".join(components)


def _full_way(monkeypatch) -> None:
    monkeypatch.setattr(deid, "_nothing_to_scrub", lambda *args: False)


@pytest.mark.parametrize("seed", range(4))
def test_the_path_fast_path_gives_what_the_full_way_gives_on_hostile_paths(seed, monkeypatch):
    rng = random.Random(seed)
    cases = []
    for _ in range(5000):
        path = _hostile_path(rng)
        identity = (tuple(rng.sample(IDS, rng.randint(0, 2))), tuple(rng.sample(NAMES, rng.randint(0, 3))),
                    tuple(rng.sample(DATES, rng.randint(0, 2))), rng.random() < 0.5,
                    tuple(rng.sample(UIDS, rng.randint(0, 3))), tuple(rng.sample(ACCESSIONS, rng.randint(0, 2))))
        cases.append((path, identity))
    fast = [deid.sanitize_path(path, *identity) for path, identity in cases]
    taken = sum(deid._nothing_to_scrub(path, identity[0], identity[5], identity[1], identity[2], identity[4])
                for path, identity in cases)
    _full_way(monkeypatch)
    assert fast == [deid.sanitize_path(path, *identity) for path, identity in cases]
    assert taken > 100  # the fast path was taken, not only the full way compared with itself


def test_the_path_fast_path_never_passes_an_identifier():
    ids, names, dates, uids, accessions = ("MRN778899",), ("lee",), ("1961-04-12",), ("1.2.3.4.5",), ("ACC123",)
    for path in ("mrn778899/1.dcm", "a/LEE/1.dcm", "a/1961-04-12/1.dcm", "a/1.2.3.4.5.dcm", "a/acc123/1.dcm",
                 "a/9.8.7.6/1.dcm", "AİB/1.dcm"):
        assert not deid._nothing_to_scrub(path, ids + ("AIB",), accessions, names, dates, uids), path
    assert deid._nothing_to_scrub("0001/0000503.dcm", ids, accessions, names, dates, uids)
    assert deid.sanitize_path("AİB/1.dcm", ("AIB",)) == ("{patient_id}/1.dcm", False)  # full way: case-folded


TEXT_PIECES = PIECES + ("HEAD", "axial 5mm", "  ", "\t", "\n", "Thorax/Abdomen", "C+", "ARTERIAL", "born", "^",
                        "MARY  ANN", "mary\tann", "1.2.840.10008", "3.4.5.6.7.8", "ÄÖ", "ǅ", "Ⅻ", "ﬁ")


BENIGN_PIECES = ("CT", "HEAD", "axial 5mm", " ", "ARTERIAL", "C+", "Thorax/Abdomen", "1.2.3", "2019", "W/O", "MR")


def _hostile_text(rng: random.Random, pieces_of: tuple[str, ...] = TEXT_PIECES) -> str | None:
    if rng.random() < 0.1:
        return None
    pieces = [rng.choice(pieces_of) for _ in range(rng.randint(0, 5))]
    return "".join(p if deid.undecodable(p) else rng.choice((str.lower, str.upper, str, str.title))(p)
                   for p in pieces)


@pytest.mark.parametrize("seed", range(4))
def test_the_text_columns_skip_the_pattern_only_when_it_would_change_nothing(seed, monkeypatch):
    """``_scrubbed_columns`` compiles a patient's pattern only when ``may_hold`` says a header text or a value
    derived from it might hold an identifier; on hostile texts and identities it gives what scrubbing them always
    gives, and the shortcut is taken."""
    rng = random.Random(seed)
    compiled = []
    monkeypatch.setattr(transform, "scrub_pattern", lambda *a: compiled.append(a) or deid.scrub_pattern(*a))
    for _ in range(3000):
        pieces = rng.choice((TEXT_PIECES, BENIGN_PIECES))  # half of them mostly clean: the shortcut's case
        texts = transform._TextFacts(
            *(_hostile_text(rng, pieces) for _ in range(6)), rng.choice((None, "L", "R")), rng.choice((None, "L")),
            tuple(_hostile_text(rng, pieces) or "" for _ in range(rng.randint(0, 3))) or None,
            _hostile_text(rng, pieces), rng.choice((None, "IV", "oral")), _hostile_text(rng, pieces),
            rng.choice((None, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0))))
        ids = tuple(rng.sample(IDS + ACCESSIONS, rng.randint(0, 3)))
        names, dates = tuple(rng.sample(NAMES, rng.randint(0, 3))), tuple(rng.sample(DATES, rng.randint(0, 2)))
        full = transform._text_columns(texts, deid.scrub_pattern(ids, names, dates))
        assert transform._scrubbed_columns(texts, ids, names, dates, transform._text_columns) == full, texts
    assert len(compiled) < 2700  # the shortcut was taken, not only the full way compared with itself


def test_may_hold_finds_every_kind_of_identifier():
    ids, names, dates = ("MRN778899",), ("mary ann", "lee"), ("19610412",)
    for text in ("x mrn778899", "MARY\tANN", "Lee", "born 19610412", "uid 1.2.3.4", "sleep", "Ⅻ head", "İ"):
        assert deid.may_hold([text], ids, names, dates), text
    assert deid.may_hold(["CT HEAD"], ("AİB",), (), ())  # beyond ASCII: no shortcut
    assert not deid.may_hold(["CT HEAD", None, 1.5, ("lee",), "axial 5 mm", "1.2.3"], ids, names, dates)


def _variants(folder) -> list[str]:
    """Files of one series that differ in one value each: the patient's identity (so the scrubbing differs), a
    text value holding it, the dates, the geometry, an unhashable-looking orientation; and exact copies."""
    ds0 = pydicom.dcmread(template_path("CT"))
    changes = [
        {}, {},
        {"PatientName": "Lee^Mary Ann"},
        {"PatientName": "Lee^Mary Ann", "StudyDescription": "CT HEAD lee"},
        {"StudyDescription": "CT HEAD lee"},
        {"PatientID": "MRN778899", "SeriesDescription": "MRN778899 axial"},
        {"PatientID": "MRN778899", "SeriesDescription": "MRN778899 axial", "AccessionNumber": "ACC991"},
        {"PatientBirthDate": "19610412", "ProtocolName": "born 1961-04-12"},
        {"StudyDate": "20230231", "SeriesDate": "20230102"},
        {"StudyTime": "251000"},
        {"SliceThickness": "-0.0"}, {"SliceThickness": "0.0"}, {"SliceThickness": "2.5"},
        {"ImageOrientationPatient": [1, 0, 0, 0, 0, -1]},
        {"BodyPartExamined": "HEAD", "Modality": "MR"},
        {"Rows": 256}, {"InstanceNumber": 7},
    ]
    paths = []
    for i, change in enumerate(changes):
        ds = copy.deepcopy(ds0)
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.9.7{i:03d}"
        target = folder / f"f{i:02d}.dcm"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the invalid time and dates
            for keyword, value in change.items():
                setattr(ds, keyword, value)
            ds.save_as(target)
        paths.append(str(target))
    return paths


def test_a_batch_gives_each_file_what_a_batch_of_that_file_alone_gives(tmp_path):
    paths = _variants(tmp_path) + [p for p in (get_testdata_file(n) for n in ("CT_small.dcm", "MR_small.dcm")) if p]
    entries = [FileEntry(p, f"lee/{i}/MRN778899_{i}.dcm", file_key(str(i), SECRET), i, i)
               for i, p in enumerate(paths * 2)]  # twice: the second round hits the batch's memo
    batch = process_batch(entries, BatchContext(SECRET))
    alone = [process_batch([entry], BatchContext(SECRET)) for entry in entries]
    assert batch.column("status").to_pylist() == ["loaded"] * len(entries)
    for row, single in zip(batch.to_pylist(), alone):
        assert {**row, "seq": 0} == single.to_pylist()[0]
    assert phi_scrubbed(batch) == sum(phi_scrubbed(t) for t in alone) > 0
    images = batch.column("radiology_image_id").to_pylist()
    assert len(set(images)) == len(paths)  # each file its own SOP id, not its series template's
    assert batch.column("instance_number").to_pylist()[16] == 7


def test_image_row_is_what_a_batch_stages(tmp_path):
    for path in _variants(tmp_path)[2:8]:  # identities found in the header, scrubbed from its text
        facts = header_facts(path, SECRET)
        row = image_row(read_header(path), SECRET, facts.names, facts.birth_dates, facts.accessions)
        staged = process_batch([FileEntry(path, "a.dcm", file_key("a.dcm", SECRET), 1, 1)], BatchContext(SECRET))
        assert row.pop("phi_scrubbed") == phi_scrubbed(staged)
        assert set(row) == set(SHARED_COLUMNS) | {"radiology_image_id", "radiology_image_source_value",
                                                  "instance_number"}
        assert row == {name: value for name, value in staged.to_pylist()[0].items() if name in row}


def _row_by_row(entry: FileEntry) -> dict | None:
    """The staged row of a file that loads, made the full way: every value of its own (``image_row``: no memo of
    the batch), the table by ``stage_table`` (one Python row a file); None when the file does not load."""
    try:
        record, head = read_header_and_head(entry.path)
    except Exception:  # noqa: BLE001 - skipped or quarantined: compared by the batch test above
        return None
    facts = window_facts(head, SECRET)
    patient = (record.patient_id or "").strip()
    path, _ = deid.sanitize_path(entry.file_path, (patient,) if patient else (), facts.names, facts.birth_dates,
                                 uids=(record.sop_instance_uid, record.series_instance_uid,
                                       record.study_instance_uid), accessions=facts.accessions)
    row = image_row(record, SECRET, facts.names, facts.birth_dates, facts.accessions)
    scrubbed = row.pop("phi_scrubbed")
    row.update(seq=0, file_key=entry.file_key, file_path=path, file_size=entry.size, file_mtime_ns=entry.mtime_ns,
               status="loaded", header_checksum=facts.checksum, non_text_values=facts.non_text)
    return stage_table([row], int(scrubbed > 0)).to_pylist()[0]


def test_the_batch_columns_equal_rows_built_one_by_one(tmp_path):
    """A batch's shared columns are taken from its templates and dates by index (Arrow ``take``), its own columns
    filled file by file: the same rows as one full row a file, for the variants of a series (each file twice, so
    the memos are hit) and every file bundled with pydicom, in one batch with the unreadable ones among them."""
    bundled = sorted({p for p in get_testdata_files() + get_charset_files() if os.path.isfile(p)})
    paths = _variants(tmp_path) * 2 + bundled
    entries = [FileEntry(p, f"lee/{i}/MRN778899_{i}.dcm", file_key(str(i), SECRET), i, i)
               for i, p in enumerate(paths)]
    batch = process_batch(entries, BatchContext(SECRET))
    assert batch.schema.equals(STAGE_SCHEMA) and batch.num_rows == len(entries)
    loaded = 0
    for i, (entry, row) in enumerate(zip(entries, batch.to_pylist())):
        expected = _row_by_row(entry)
        if expected is None:
            assert row["status"] != "loaded" and row["radiology_image_id"] is None, entry.path
            assert all(row[name] is None for name in SHARED_COLUMNS), entry.path
            continue
        loaded += 1
        assert row == {**expected, "seq": i}, entry.path
    assert loaded > 100


def _checksum_cases(tmp_path) -> list[str]:
    return _variants(tmp_path)[:2] + [p for p in (get_testdata_file(n) for n in ("MR_small_implicit.dcm",
                                                                                 "emri_small_big_endian.dcm")) if p]


def _window(path: str) -> bytes:
    """The header window, cut by hand: the first 64 KiB up to the first Pixel Data tag (either byte order)."""
    with open(path, "rb") as f:
        window = f.read(1 << 16)
    cuts = [i for i in (window.find(b"\xe0\x7f\x10\x00"), window.find(b"\x7f\xe0\x00\x10")) if i >= 0]
    return window[:min(cuts)] if cuts else window


def test_the_header_checksum_keeps_its_definitions(tmp_path):
    """Reruns compare the checksum recorded by earlier versions, each row with its own definition. Version 1
    (rcdm 0.1.0): HMAC-SHA256 (purpose "header") of the first 64 KiB up to the first Pixel Data tag, first 63 bits.
    Version 2 (what a batch stages): the same of the window's XXH3-128 digest (purpose "header/xxh3_128"),
    negated. Were either to change, every file recorded with it would be read again once."""
    paths = _checksum_cases(tmp_path)
    entries = [FileEntry(p, f"{i}.dcm", file_key(f"{i}.dcm", SECRET), 1, 1) for i, p in enumerate(paths)]
    staged = process_batch(entries, BatchContext(SECRET)).column("header_checksum").to_pylist()
    for path, checksum in zip(paths, staged):
        window = _window(path)
        number = int.from_bytes(hmac.digest(SECRET, b"header/xxh3_128\x00" + xxhash.xxh3_128_digest(window),
                                            "sha256")[:8], "big") >> 1
        assert checksum == -(number or 1) and checksum_version(checksum) == CHECKSUM_VERSION == 2
        number = int.from_bytes(hmac.digest(SECRET, b"header\x00" + window, "sha256")[:8], "big") >> 1
        assert header_checksum(window, SECRET, version=1) == (number or 1)
        assert checksum_version(number or 1) == 1
    with pytest.raises(ValueError, match="version 3"):
        header_checksum(b"", SECRET, version=3)


def test_a_stolen_table_and_the_files_do_not_confirm_a_checksum_without_the_secret(tmp_path):
    """An attacker holding ``rcdm_etl_file`` and candidate files (a guessed or leaked header) but not the site
    secret tries to match a stored checksum: the window's plain XXH3-128 and XXH3-64, either version under
    another secret all miss; the site, with its secret, gets it again."""
    paths = _checksum_cases(tmp_path)
    entries = [FileEntry(p, f"{i}.dcm", file_key(f"{i}.dcm", SECRET), 1, 1) for i, p in enumerate(paths)]
    staged = process_batch(entries, BatchContext(SECRET)).column("header_checksum").to_pylist()
    other = b"another site's secret, 32 bytes"
    for path, checksum in zip(paths, staged):
        window = _window(path)
        digest = xxhash.xxh3_128_digest(window)
        guesses = {int.from_bytes(digest[:8], "big") >> 1, int.from_bytes(digest[8:], "big") >> 1,
                   xxhash.xxh3_64_intdigest(window) >> 1, header_checksum(window, other, version=1),
                   header_checksum(window, other, version=2)}
        guesses |= {-g for g in guesses}
        assert checksum not in guesses
        assert checksum == header_checksum(window, SECRET)  # what the site itself recomputes


def test_a_recorded_checksum_is_compared_in_its_own_version(tmp_path):
    """The worker computes the version the recorded value was made with: equal → ``unchanged``; any other value
    (a changed header, or the other version's value of the same bytes) → read and staged with version 2."""
    paths = _checksum_cases(tmp_path)
    for i, path in enumerate(paths):
        window = _window(path)
        for expected, status in ((header_checksum(window, SECRET, version=1), "unchanged"),
                                 (header_checksum(window, SECRET, version=2), "unchanged"),
                                 (header_checksum(window + b"x", SECRET, version=1), "loaded"),
                                 (header_checksum(window + b"x", SECRET, version=2), "loaded")):
            entry = FileEntry(path, f"{i}.dcm", file_key(f"{i}.dcm", SECRET), 1, 1, expect_checksum=expected)
            row = process_batch([entry], BatchContext(SECRET)).to_pylist()[0]
            assert row["status"] == status
            assert row["header_checksum"] == (expected if status == "unchanged"
                                              else header_checksum(window, SECRET))


def test_a_whole_batchs_identities_take_the_full_way(monkeypatch):
    many = tuple(f"ACC{i:05d}" for i in range(200))  # an unread file checked against every identity of its batch
    assert not deid._nothing_to_scrub("a/b.dcm", many, (), (), (), ())
    assert deid.sanitize_path("x/acc00007_ct/1.dcm", many, placeholder=False) == ("x/{redacted}_ct/1.dcm", False)


def test_a_first_loads_sizes_and_mtimes_come_from_the_open_file(tmp_path, monkeypatch):
    """A first load's entries leave size and mtime to the worker, which takes them from the file the reader
    opened (``os.fstat``), not from a second look-up of the path: the values ``os.stat`` of the path gives, for
    files read, skipped or quarantined; a path that does not resolve gets none."""
    from rcdm.etl.executor import read_batch

    dicom = tmp_path / "ct.dcm"
    dicom.write_bytes(open(template_path("CT"), "rb").read())
    (tmp_path / "notes.txt").write_text("not DICOM")
    (tmp_path / "empty.dcm").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    os.symlink(dicom, tmp_path / "link.dcm")
    os.symlink(tmp_path / "gone.dcm", tmp_path / "broken.dcm")
    os.utime(dicom, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    names = ["ct.dcm", "notes.txt", "empty.dcm", "folder", "link.dcm", "broken.dcm"]
    looked_up = []
    stat_of = transform.stat_of
    monkeypatch.setattr(transform, "stat_of", lambda path: looked_up.append(path) or stat_of(path))
    table = read_batch([(str(tmp_path / n), n, "", None, None, None) for n in names], BatchContext(SECRET))
    rows = {p: (s, m) for p, s, m in zip(names, table.column("file_size").to_pylist(),
                                          table.column("file_mtime_ns").to_pylist())}
    for name in names[:-1]:
        st = os.stat(tmp_path / name)
        assert rows[name] == (st.st_size, st.st_mtime_ns), name
    assert rows["ct.dcm"][1] == 1_600_000_000_123_456_789
    assert rows["broken.dcm"] == (None, None)
    assert looked_up == [str(tmp_path / "broken.dcm")]  # only the path that did not open

