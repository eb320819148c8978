"""Every DICOM file bundled with pydicom and pydicom-data goes through the ETL: loaded, skipped or quarantined
with a reason, never a crash; the loaded values equal what pydicom reads from the same files."""

from __future__ import annotations

import csv
import os
import shutil
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_files

from rcdm.db import connect, query_sql
from rcdm.etl import run_etl
from rcdm.etl.transform import file_ids, file_key
from test_etl_load import check_invariant

pytestmark = pytest.mark.slow  # the ETL end to end, with worker processes

FINAL = {"loaded", "duplicate", "skipped", "quarantined", "unmapped_patient"}


def _read(path: str):
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - not DICOM for pydicom either
        return None


def _norm(value) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text[:64] or None


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The bundled files copied into one tree (symlinks would do, copies keep the test independent of them)."""
    root = tmp_path_factory.mktemp("bundled") / "files"
    sources = sorted(p for p in set(get_testdata_files()) | set(get_charset_files()) if os.path.isfile(p))
    mapping = {}
    for i, source in enumerate(sources):
        name = f"{i:04d}_{Path(source).name}"
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        mapping[name] = source
    patients = sorted({str(ds.PatientID).strip() for ds in map(_read, mapping.values())
                       if ds is not None and str(ds.get("PatientID", "") or "").strip()})
    person_map = root.parent / "persons.csv"
    with open(person_map, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["patient_id", "person_id"])
        writer.writerows((p, 1 + i) for i, p in enumerate(patients))
    return root, mapping, str(person_map)


def test_every_bundled_file_is_accounted_for_and_values_match_pydicom(bundled, tmp_path):
    root, mapping, person_map = bundled
    assert len(mapping) > 250  # pydicom + pydicom-data
    with connect(tmp_path / "cdm.duckdb") as conn:
        summary = run_etl(str(root), conn, "cdm", person_map=person_map, secret_file=str(tmp_path / "secret"),
                          workers=2, batch_size=40, quiet=True)
        check_invariant(summary)
        assert summary["files_seen"] == len(mapping)
        files = query_sql(conn, "SELECT file_key, file_path, status, reason FROM cdm.rcdm_etl_file;")
        # stored paths hide PatientIDs, names and birth dates (rcdm.etl.transform: "Paths"); the key is the
        # keyed hash (with the site secret) of the real relative path, cut to 63 bits (file_ids)
        secret = (tmp_path / "secret").read_text().strip()
        names = sorted(mapping)
        keys = file_ids([file_key(name, bytes.fromhex(secret)) for name in names]).to_pylist()
        real = dict(zip(keys, names))
        assert sorted(real[k] for k in files["file_key"]) == sorted(mapping)
        for row in files.to_dict("records"):
            assert row["file_path"] == real[row["file_key"]] or "{" in row["file_path"], row
            assert row["status"] in FINAL, row
            if row["status"] != "loaded":
                assert row["reason"], row
        loaded = query_sql(conn, "SELECT file_key, radiology_image_id FROM cdm.rcdm_etl_file "
                                 "WHERE status = 'loaded';")
        real_of_image = {int(i): real[k] for k, i in zip(loaded["file_key"], loaded["radiology_image_id"])}
        assert summary["loaded"] > 120
        assert summary["skipped_by_reason"].get("dicomdir", 0) >= 8
        assert summary["skipped_by_reason"].get("duplicate", 0) > 0  # same SOP instance, other transfer syntax

        image = query_sql(conn, "SELECT * FROM cdm.radiology_image;")
        series = defaultdict(list)
        for row in image.to_dict("records"):
            ds = _read(str(root / real_of_image[row["radiology_image_id"]]))
            assert ds is not None, row["file_path"]
            assert row["image_resolution_rows"] == ds.get("Rows") or (_na(row["image_resolution_rows"])
                                                                      and ds.get("Rows") is None)
            assert row["image_resolution_columns"] == ds.get("Columns") or (
                _na(row["image_resolution_columns"]) and ds.get("Columns") is None)
            assert _none(row["modality"]) == _norm(ds.get("Modality")), row["file_path"]
            assert _none(row["body_part_source_value"]) == _norm(ds.get("BodyPartExamined")), row["file_path"]
            thickness = ds.get("SliceThickness")
            if ds.get("Modality") == "CT" and thickness not in (None, "") and float(thickness) > 0:
                assert row["ct_slice_thickness"] == pytest.approx(float(thickness)), row["file_path"]
            if ds.get("Modality") != "CT":
                assert _na(row["ct_slice_thickness"])
            number = ds.get("InstanceNumber")
            expected_number = int(number) if number not in (None, "") else None
            assert _none(row["instance_number"]) == expected_number, row["file_path"]
            series[row["radiology_series_id"]].append(row)
        for rows in series.values():  # serial numbers 1..n in InstanceNumber order, missing numbers last
            rows.sort(key=lambda r: r["series_serial_number"])
            assert [r["series_serial_number"] for r in rows] == list(range(1, len(rows) + 1))
            assert {r["series_total_number"] for r in rows} == {len(rows)}
            keys = [(_na(r["instance_number"]), 0 if _na(r["instance_number"]) else r["instance_number"])
                    for r in rows]
            assert keys == sorted(keys)
        occurrence = query_sql(conn, "SELECT SUM(count_of_images) AS n FROM cdm.radiology_occurrence;")
        assert occurrence["n"][0] == len(image)


def _na(value) -> bool:
    return value is None or value != value


def _none(value):
    if _na(value):
        return None
    return int(value) if isinstance(value, float) and value.is_integer() else value
