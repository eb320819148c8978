"""One batch of files → one Arrow table of de-identified rows (the staged format); runs in the worker processes.

``process_batch(entries, ctx)`` is a pure top-level function (picklable arguments, no database, no global
state), so the local process pool and a distributed executor run the same code. What leaves the worker is
de-identified: no PatientID, no name, no real UID; only keyed hashes (``patient_key``, the ``*_source_value``
hashes, the 63-bit ids), derived values, the path relative to the archive root and an outcome per file.

The staged schema (``STAGE_SCHEMA``; one row per file, in the order the files were given):

=================================  ==========  =======================================================================
column                             type        meaning
=================================  ==========  =======================================================================
seq                                int32       position of the file in its batch (the tie-breaker "first by path")
file_key                           string      SHA-256 (hex) of ``file_path``: the file's key in ``rcdm_etl_file``
file_path                          string      path relative to the archive root, ``/``-separated
file_size, file_mtime_ns           int64       what ``os.stat`` said before the file was read (null if it failed)
status                             string      loaded (to load) | skipped | quarantined | unmapped_patient (set by the
                                               parent) | duplicate / quarantined (set at load time)
reason                             string      null for loaded; ``code`` or ``code: detail`` (no PHI) otherwise
patient_key                        string      HMAC-SHA256 (hex) of the PatientID, purpose "patient"
person_id                          int64       filled by the parent from the person map (null in the worker's output)
radiology_image_id                 int64       63-bit keyed hash of the SOP Instance UID (purpose "sop")
radiology_series_id                int64       63-bit keyed hash of the Series Instance UID (purpose "series")
radiology_occurrence_id            int64       63-bit keyed hash of the Study Instance UID (purpose "study")
radiology_*_source_value           string      full keyed hashes (hex) of the same UIDs
image columns                      ...         as in ``radiology_image`` (body part, laterality, plane, series type,
                                               rows, columns, CT slice thickness, modality, instance_number)
study_date, study_datetime         date32, ts  validated study date/time (fallbacks: series, acquisition, content)
manufacturer, protocol_source_value string     study-level values this instance carries
invalid_dates                      int8        how many date/time attributes had an impossible value (then NULL)
=================================  ==========  =======================================================================
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any, NamedTuple

import pyarrow as pa

from rcdm.dicom import derive
from rcdm.dicom.deid import hmac_hex, hmac_id
from rcdm.dicom.reader import DicomQuarantine, DicomSkip, HeaderRecord, read_header

INT32_MAX = 2**31 - 1

STAGE_SCHEMA = pa.schema([
    ("seq", pa.int32()),
    ("file_key", pa.string()),
    ("file_path", pa.string()),
    ("file_size", pa.int64()),
    ("file_mtime_ns", pa.int64()),
    ("status", pa.string()),
    ("reason", pa.string()),
    ("patient_key", pa.string()),
    ("person_id", pa.int64()),
    ("radiology_image_id", pa.int64()),
    ("radiology_occurrence_id", pa.int64()),
    ("radiology_series_id", pa.int64()),
    ("body_part_source_value", pa.string()),
    ("laterality_concept_id", pa.string()),
    ("laterality_source_value", pa.string()),
    ("anatomical_plane_concept_id", pa.string()),
    ("anatomical_plane_source_value", pa.string()),
    ("series_type_concept_id", pa.string()),
    ("series_type_source_value", pa.string()),
    ("image_resolution_rows", pa.int32()),
    ("image_resolution_columns", pa.int32()),
    ("ct_slice_thickness", pa.float64()),
    ("modality", pa.string()),
    ("instance_number", pa.int32()),
    ("radiology_series_source_value", pa.string()),
    ("radiology_image_source_value", pa.string()),
    ("radiology_occurrence_source_value", pa.string()),
    ("study_date", pa.date32()),
    ("study_datetime", pa.timestamp("us")),
    ("manufacturer", pa.string()),
    ("protocol_source_value", pa.string()),
    ("invalid_dates", pa.int8()),
])
"""The staged rows of one batch (see the module docstring); the Parquet staging files have this schema."""

FIELDS = tuple(STAGE_SCHEMA.names)


class FileEntry(NamedTuple):
    """A file to read: its path, its path relative to the root, its key and what ``os.stat`` said."""

    path: str
    file_path: str
    file_key: str
    size: int | None
    mtime_ns: int | None


@dataclass(frozen=True)
class BatchContext:
    """What a worker needs besides the files: the site secret (never logged or stored). Picklable."""

    secret: bytes

    def __repr__(self) -> str:  # never print the secret
        return "BatchContext(secret=***)"


def file_key(file_path: str) -> str:
    """The key of a file in ``rcdm_etl_file``: SHA-256 (hex) of its path relative to the root."""
    return hashlib.sha256(file_path.encode("utf-8")).hexdigest()


def relative_path(path: str, root: str) -> str:
    """``path`` relative to ``root``, with ``/`` separators (absolute paths of symlinks are not resolved)."""
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:limit] if text else None


def _int32(value: int | None) -> int | None:
    return value if value is not None and -INT32_MAX <= value <= INT32_MAX else None


def _detail(exc: DicomSkip | DicomQuarantine, entry: FileEntry) -> str:
    """``code`` or ``code: detail``; the absolute path is replaced by the relative one, details kept short."""
    detail = (exc.detail or "").replace(os.path.abspath(entry.path), entry.file_path).replace(entry.path,
                                                                                             entry.file_path)
    if exc.reason == "broken_symlink":
        detail = ""  # the link target may be any absolute path
    detail = " ".join(detail.split())[:160]
    return f"{exc.reason}: {detail}" if detail else exc.reason


def image_row(record: HeaderRecord, secret: bytes) -> dict[str, Any]:
    """The de-identified values of one instance (no UID, no PatientID leaves this function unhashed)."""
    when = derive.study_datetime(record)
    plane = derive.anatomical_plane(record.image_orientation)
    phase, rule = derive.contrast_phase(record)
    side = derive.laterality(record)
    patient = (record.patient_id or "").strip()
    return {
        "patient_key": hmac_hex(secret, patient, "patient") if patient else None,
        "radiology_image_id": hmac_id(secret, record.sop_instance_uid, "sop"),
        "radiology_series_id": hmac_id(secret, record.series_instance_uid, "series"),
        "radiology_occurrence_id": hmac_id(secret, record.study_instance_uid, "study"),
        "body_part_source_value": _text(record.body_part_examined, 64),
        "laterality_concept_id": None,  # no verified RadLex ids for laterality yet
        "laterality_source_value": side,
        "anatomical_plane_concept_id": derive.radlex_id(plane),
        "anatomical_plane_source_value": plane,
        "series_type_concept_id": derive.radlex_id(phase),
        "series_type_source_value": f"{phase}:{rule}"[:50] if phase else None,
        "image_resolution_rows": _int32(record.rows),
        "image_resolution_columns": _int32(record.columns),
        "ct_slice_thickness": derive.slice_thickness(record),
        "modality": _text(record.modality, 16),
        "instance_number": _int32(record.instance_number),
        "radiology_series_source_value": hmac_hex(secret, record.series_instance_uid, "series"),
        "radiology_image_source_value": hmac_hex(secret, record.sop_instance_uid, "sop"),
        "radiology_occurrence_source_value": hmac_hex(secret, record.study_instance_uid, "study"),
        "study_date": when.date,
        "study_datetime": when.datetime,
        "manufacturer": _text(record.manufacturer, 64),
        "protocol_source_value": derive.protocol_source_value(record) or None,
        "invalid_dates": len(when.invalid),
    }


def process_batch(entries: list[FileEntry], ctx: BatchContext) -> pa.Table:
    """Read and transform one batch; never raises for a bad file (each file gets a row with its outcome)."""
    columns: dict[str, list[Any]] = {name: [] for name in FIELDS}
    for seq, entry in enumerate(entries):
        row: dict[str, Any] = {"seq": seq, "file_key": entry.file_key, "file_path": entry.file_path,
                               "file_size": entry.size, "file_mtime_ns": entry.mtime_ns}
        try:
            record = read_header(entry.path)
            row.update(image_row(record, ctx.secret))
            row["status"] = "loaded"
        except DicomSkip as exc:
            row.update(status="skipped", reason=_detail(exc, entry))
        except DicomQuarantine as exc:
            row.update(status="quarantined", reason=_detail(exc, entry))
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
            row.update(status="quarantined", reason=f"parse_error: {type(exc).__name__}")
        for name in FIELDS:
            columns[name].append(row.get(name))
    return pa.table(columns, schema=STAGE_SCHEMA)
