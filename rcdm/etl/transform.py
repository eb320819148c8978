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
file_key                           string      HMAC-SHA256 (hex) of the real relative path (``rcdm_etl_file`` stores
                                               its first 63 bits as a BIGINT: ``file_ids``)
file_path                          string      path relative to the archive root, ``/``-separated,
                                               de-identified (see "Paths" below)
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
header_checksum                    int64       keyed 63-bit hash of the header window (changed-file detection;
                                               the sign tells its version: ``identity.header_checksum``)
non_text_values                    int8        stored text attributes whose value was nested (read as absent)
=================================  ==========  =======================================================================

The rules below are implemented in ``rcdm.dicom.deid`` (``sanitize_path``, ``scrub_text``), with the file's
identity found by ``rcdm.dicom.identity`` in the header bytes the reader read (one read per file).

Paths. Archives are often organised in folders named by PatientID, accession number or UIDs, and files named by
their SOPInstanceUID (PACS exports, heudiconv, Orthanc's storage), so the path itself can identify the patient.
Every stored path is de-identified (``sanitize_path``); the real one is kept only in the site's path index
(``rcdm.etl.path_index``, beside the secret, outside the database), through which extraction finds the file:

* the PatientID, case-insensitively, as the whole component or as a token of it delimited by ``_``, ``-``,
  ``.``, a space or the component's ends (``SAMPLE0001``, ``SAMPLE0001_ct``, ``ct-sample0001.dcm``), is
  replaced by ``{patient_id}`` (``{patient_id_lower}`` / ``{patient_id_upper}`` when the folder spells it in
  lower / upper case and the PatientID does not), which ``rcdm.extract.materialize`` can also turn back into
  the real PatientID with the site's person map;
* the file's own Study, Series and SOP Instance UIDs, and any token that looks like a UID (four or more
  dot-separated numbers), become ``{uid}``; the file's AccessionNumber, as a token, ``{accession}``;
* a component containing (case-insensitively, as a word: not glued to other ASCII letters or digits, so
  "LEE" is found in ``LEE_CT`` but not in ``sleep_study``) a name part of PatientName or the birth date
  becomes ``{redacted}`` (the file still loads). Name parts (``header_identity``): the family, given and
  middle name of every ``=`` group (``^``-separated; decoded with the file's SpecificCharacterSet, so ISO
  2022 Japanese or Korean names are found), and each word of a multi-word part, of 3 characters or more (2
  in CJK, Hangul or Kana scripts, where given names are often 2 characters), plus family and given name
  written together without a space in those scripts (``홍길동``, ``山田太郎``). The birth date: ``YYYYMMDD``
  (also when the value is malformed but starts with a date: ``19610412X``, ``1961-04-12``), written
  ``YYYYMMDD``, ``YYYY-MM-DD``, ``YYYY.MM.DD``, ``YYYY_MM_DD`` or ``YYYY/MM/DD``;
* a file whose header could not be read (skipped or quarantined for another reason) is checked against the
  identities of the files read in the same batch (PatientIDs and accession numbers become ``{redacted}``),
  and matching components become ``{redacted}``.

Text values. A header's free text can hold the patient's own identifiers (a technologist typing the MRN or
the name into StudyDescription, a PatientID copied into BodyPartExamined). Every stored text value derived
from the header (``modality``, ``manufacturer``, ``body_part_source_value``, the laterality / plane /
series-type source values and concept ids, and ``protocol_source_value``, whose five parts are scrubbed
one by one before they are joined) is scrubbed of the file's own identity (``scrub_text``):

* the PatientID, case-insensitively, as a token (not glued to other ASCII letters or digits: ``MRN778899``
  is found in ``CT MRN778899``, ``MRN778899_axial`` and ``(MRN778899)``, not in ``XMRN778899``);
* each PatientName part found by ``header_identity`` (below), case-insensitively, as a word (as in
  ``_names_pattern``);
* the birth date in each spelling ``header_identity`` gives, not glued to other digits;

each occurrence becomes ``[REDACTED]`` (neighbouring redactions with only spaces or punctuation between
them become one); a value with no letter or digit left besides redactions becomes NULL (a protocol part
then stays empty, so the other parts still feed the protocol mapping). The name parts and birth dates are
those of the path check (one byte scan a file, no second read). The contrast phase, plane and laterality
are decided on the raw header (their stored values are fixed vocabulary). How many rows of a batch had a
value scrubbed is kept in the table's schema metadata, key ``rcdm_phi_scrubbed`` (``phi_scrubbed(table)``),
so the columns stay ``STAGE_SCHEMA``. Reason details of unread files are scrubbed with the identities of
the batch (and the file's own name parts and birth date when its bytes can be scanned), and a
``parse_error`` detail loses any quoted text (pydicom quotes the offending value).

Undecodable paths. A file name that is not valid UTF-8 reaches rcdm as a ``str`` with lone surrogates
(``os.fsdecode``), which opens the file as its bytes. ``file_key`` hashes the path's bytes (``surrogateescape``,
as ``os.fsencode``), so it never fails; the file loads like any other, its name looked at for names and birth
dates also as Latin-1 (Latin-1 archives), and its stored path has each undecodable byte replaced by U+FFFD, so
it can be written as UTF-8 anywhere (the path index keeps the bytes). pydicom's warnings and log records
(which quote values) are silenced around every header read (``quiet_pydicom``).

Nested values. A text attribute encoded as a sequence (SQ, or UN of undefined length) holds a whole nested
dataset; the reader reads it as absent (``rcdm.dicom.reader._plain_value``), and ``header_facts`` counts such
attributes (``non_text_values``, staged; summed in the run's summary). Reason codes are rcdm's own and never
scrubbed; only their details are (``not_dicom`` stays ``not_dicom`` for a patient named "Dicom Phantom").

The de-identified path is what the staging files, ``radiology_image.file_path``, ``rcdm_etl_file``
and the logs hold; ``file_key`` is the keyed hash (HMAC-SHA256 with the site secret) of the real relative path (computed by
the parent, so a re-run recognises the file without reading it).
"""

from __future__ import annotations

import functools
import itertools
import operator
import os
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rcdm.dicom import derive
from rcdm.dicom.deid import (  # noqa: F401 - the scrubbing's public names stay importable from here
    ACCESSION_PLACEHOLDER,
    PATIENT_PLACEHOLDERS,
    REDACTED,
    SCRUBBED,
    UID_PLACEHOLDER,
    UID_TOKEN,
    digest_id,
    hmac_digest,
    hmac_hex,
    may_hold,
    printable_path,
    sanitize_path,
    scrub_pattern,
    scrub_text,
    scrub_value,
    text_bytes,
    undecodable,
)
from rcdm.dicom.identity import (  # noqa: F401 - accession_ids, identity_of, header_identity: transform's API
    CHECKSUM_VERSION,
    HeaderFacts,
    accession_ids,
    checksum_version,
    header_checksum,
    header_facts,
    header_identity,
    header_window,
    identity_of,
    window_facts,
)
from rcdm.dicom.reader import HeaderRecord, quiet_pydicom, read_header_and_head
from rcdm.errors import DicomQuarantine, DicomSkip

INT32_MAX = 2**31 - 1

PHI_SCRUBBED_KEY = b"rcdm_phi_scrubbed"
"""Schema metadata key: how many rows of the batch had a text value scrubbed."""

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
    ("header_checksum", pa.int64()),
    ("non_text_values", pa.int8()),
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
    expect_checksum: int | None = None
    """The ``header_checksum`` an earlier run recorded when size and mtime are unchanged: the worker compares it
    with the file's own (one small read; of the version the value was made with, ``checksum_version``) and
    returns the row as ``unchanged`` when they are equal."""


UNCHANGED = "unchanged"
"""Status of a row whose file matched its recorded size, mtime and header checksum (not loaded again)."""


@dataclass(frozen=True)
class BatchContext:
    """What a worker needs besides the files: the site secret (never logged or stored). Picklable."""

    secret: bytes

    def __repr__(self) -> str:  # never print the secret
        return "BatchContext(secret=***)"


def stat_of(path: str) -> tuple[int | None, int | None]:
    """``(size, mtime_ns)`` of ``path``; ``(None, None)`` when it cannot be stat'ed (the reader reports why)."""
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return st.st_size, st.st_mtime_ns


def file_key(file_path: str, secret: bytes) -> str:
    """The key of a file in ``rcdm_etl_file``: HMAC-SHA256 (hex) of its path relative to the root.

    Keyed with the site secret like the UIDs, since the real path may hold a PatientID: a plain hash could be
    confirmed by hashing candidate ids. The path's bytes are hashed (``text_bytes``: an undecodable byte of a
    file name, a lone surrogate after ``os.fsdecode``, is hashed as that byte), so this never fails.
    """
    return hmac_hex(secret, text_bytes(file_path), "path")


def file_ids(keys: pa.Array | pa.ChunkedArray | list[str]) -> pa.Array:
    """The ``rcdm_etl_file.file_key`` (BIGINT) of each ``file_key``: its first 63 bits, as ``hmac_id`` makes ids.

    A keyed hash stays a keyed hash when truncated (the path cannot be recovered or confirmed without the
    secret), and a BIGINT primary key costs a fraction of a 64-character one to insert and look up. Equal to
    ``hmac_id(secret, text_bytes(path), "path")``; vectorised: the 64-byte digests are read in place from the
    Arrow buffer, their first 16 hex digits decoded through a lookup table into 8 big-endian bytes.
    """
    array = pa.array(keys, pa.string()) if isinstance(keys, list) else keys
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = array.cast(pa.string())  # 32-bit offsets, as read below
    if len(array) == 0:
        return pa.array([], pa.int64())
    lengths = pc.binary_length(array)
    if array.null_count or pc.min(lengths).as_py() != 64 or pc.max(lengths).as_py() != 64:
        raise ValueError("file keys are 64-character hex digests (file_key)")
    offsets = np.frombuffer(array.buffers()[1], np.int32)[array.offset:array.offset + len(array) + 1]
    digits = np.frombuffer(array.buffers()[2], np.uint8)[offsets[0]:offsets[-1]].reshape(-1, 64)[:, :16]
    nibbles = _HEX_VALUES[digits]
    if (nibbles > 15).any():
        raise ValueError("file keys are 64-character hex digests (file_key)")
    packed = np.ascontiguousarray((nibbles[:, 0::2] << 4) | nibbles[:, 1::2])  # 8 bytes a key, big-endian
    numbers = packed.view(">u8").ravel() >> np.uint64(1)
    return pa.array(np.where(numbers == 0, 1, numbers).astype(np.int64), pa.int64())


def _hex_values() -> np.ndarray:
    table = np.full(256, 255, np.uint8)
    for i, c in enumerate(b"0123456789abcdef"):
        table[c] = i
    return table


_HEX_VALUES = _hex_values()
"""Byte → value of a lower-case hex digit (255 for any other byte)."""


_NOT_NORMAL = frozenset(("", ".", ".."))
"""Path components that ``relative_path``'s prefix cut leaves to ``os.path.relpath``."""


@functools.lru_cache(maxsize=64)
def _cuttable_root(root: str) -> bool:
    """Whether paths under ``root`` may be made relative by cutting the prefix: absolute and normalised (checked
    once per root, not once per file)."""
    return os.path.isabs(root) and os.path.normpath(root) == root


def relative_path(path: str, root: str) -> str:
    """``path`` relative to ``root``, with ``/`` separators (absolute paths of symlinks are not resolved)."""
    if path.startswith(root) and _cuttable_root(root):  # the walk's own paths: a prefix to cut (5x faster)
        rest = path[len(root):]
        if rest[:1] == os.sep:
            rest = rest[1:]
            if rest and not _NOT_NORMAL.intersection(rest.split(os.sep)):
                return rest.replace(os.sep, "/")
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")


_ODD_PARTS = tuple(f"{a}{b}{c}" for a, b, c in (("\0", "", os.sep), (os.sep, "", os.sep), (os.sep, "", "\0"),
                                               ("\0", ".", os.sep), (os.sep, ".", os.sep), (os.sep, ".", "\0"),
                                               ("\0", "..", os.sep), (os.sep, "..", os.sep), (os.sep, "..", "\0"),
                                               ("\0", "", "\0"), ("\0", ".", "\0"), ("\0", "..", "\0")))
"""What a component ``relative_paths`` cannot cut looks like in its joined text (empty, ``.``, ``..``)."""


def relative_paths(paths: list[str], root: str) -> list[str]:
    """``relative_path`` of each path, at once: when every path is under the normalised ``root`` and no
    component is empty, ``.`` or ``..`` (the walk's own paths), the prefixes are cut and the components checked
    in one joined text (paths hold no NUL), ~20x faster than a call a path; else path by path."""
    prefix = root + os.sep
    if paths and _cuttable_root(root) and not root.endswith(os.sep) and all(p.startswith(prefix) for p in paths):
        cut = len(prefix)
        joined = "\0" + "\0".join([p[cut:] for p in paths]) + "\0"
        if not any(part in joined for part in _ODD_PARTS):
            cut_paths = (joined if os.sep == "/" else joined.replace(os.sep, "/"))[1:-1].split("\0")
            if len(cut_paths) == len(paths):  # else a path held a NUL (a file list's line): path by path
                return cut_paths
    return [relative_path(p, root) for p in paths]


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:limit] if text else None


def _int32(value: int | None) -> int | None:
    return value if value is not None and -INT32_MAX <= value <= INT32_MAX else None


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def _detail(exc: DicomSkip | DicomQuarantine, entry: FileEntry) -> str:
    """``code`` or ``code: detail``; the absolute path is replaced by the relative one, details kept short."""
    detail = (exc.detail or "").replace(os.path.abspath(entry.path), entry.file_path).replace(entry.path,
                                                                                             entry.file_path)
    if exc.reason == "broken_symlink":
        detail = ""  # the link target may be any absolute path
    elif exc.reason == "parse_error":
        detail = _QUOTED.sub("'…'", detail)  # pydicom quotes the offending value, maybe a patient's
    detail = " ".join(detail.split())[:160]
    return f"{exc.reason}: {detail}" if detail else exc.reason


# --- identifying values in stored text -----------------------------------------------------------------------

_RECORD_TEXT_FIELDS = ("modality", "manufacturer", "body_part_examined", "study_description", "series_description",
                       "protocol_name")
"""The header text fields a stored value is made of; scrubbed before anything is derived from them."""
TEXT_COLUMNS = ("body_part_source_value", "laterality_concept_id", "laterality_source_value",
                "anatomical_plane_concept_id", "anatomical_plane_source_value", "series_type_concept_id",
                "series_type_source_value", "modality", "manufacturer", "protocol_source_value")
"""The text columns of a staged row that come from the header (all scrubbed once more, as built)."""
SHARED_COLUMNS = ("patient_key", "radiology_series_id", "radiology_occurrence_id", "image_resolution_rows",
                  "image_resolution_columns", "ct_slice_thickness", "radiology_series_source_value",
                  "radiology_occurrence_source_value", "study_date", "study_datetime", "invalid_dates") + TEXT_COLUMNS
"""The columns of an image row that depend only on ``_SHARED_FIELDS`` of its record and on the file's identity:
the images of a series share them, so a batch computes them once a series (``_shared_values``)."""
_SHARED_FIELDS = ("patient_id", "series_instance_uid", "study_instance_uid", "rows", "columns", "slice_thickness",
                  "study_date", "study_time", "series_date", "series_time", "acquisition_date", "acquisition_time",
                  "content_date", "content_time", "modality", "manufacturer", "body_part_examined",
                  "study_description", "series_description", "protocol_name", "laterality", "image_laterality",
                  "image_type", "contrast_agent", "contrast_route", "contrast_administered", "image_orientation")
"""Every record field ``_shared_values`` reads."""
DATE_COLUMNS = ("study_date", "study_datetime", "invalid_dates")
"""The shared columns made of the record's dates and times alone (``_date_values``)."""
_DATES_AT = SHARED_COLUMNS.index(DATE_COLUMNS[0])
_TEMPLATE_COLUMNS = tuple(name for name in SHARED_COLUMNS if name not in DATE_COLUMNS)
"""The shared columns but the dates, in ``SHARED_COLUMNS`` order (``_series_values``)."""
_TEMPLATE_FIELDS = tuple(name for name in _SHARED_FIELDS if name not in derive.DATE_FIELDS)
"""The record fields ``_series_values`` reads (a batch's memo key, with the identity)."""
_template_fields_of = operator.attrgetter(*_TEMPLATE_FIELDS)
_date_fields_of = operator.attrgetter(*derive.DATE_FIELDS)


def image_row(record: HeaderRecord, secret: bytes, names: tuple[str, ...] = (),
              birth_dates: tuple[str, ...] = (), other_ids: tuple[str, ...] = (),
              hashes: dict[tuple[str, str], bytes] | None = None) -> dict[str, Any]:
    """The de-identified values of one instance (no UID, no PatientID leaves this function unhashed).

    Text values are scrubbed of the file's PatientID and of ``names`` / ``birth_dates`` (``header_identity``)
    as the module docstring says; ``phi_scrubbed`` (not a staged column) counts the values that were.
    ``hashes``: the keyed hashes of series, study and patient already computed in the batch (filled here; a
    batch's files share a few of each), so each is computed once."""
    shared, scrubbed = _shared_values(record, secret, tuple(names), tuple(birth_dates), tuple(other_ids),
                                      {} if hashes is None else hashes)
    sop = hmac_digest(secret, record.sop_instance_uid, "sop")  # one keyed hash gives the id and the hex
    row = dict(zip(SHARED_COLUMNS, shared))
    row.update(radiology_image_id=digest_id(sop), radiology_image_source_value=sop.hex(),
               instance_number=_int32(record.instance_number), phi_scrubbed=scrubbed)
    return row


def _shared_values(record: HeaderRecord, secret: bytes, names: tuple[str, ...], birth_dates: tuple[str, ...],
                   other_ids: tuple[str, ...], hashes: dict[tuple[str, str], bytes]) -> tuple[tuple[Any, ...], int]:
    """(the ``SHARED_COLUMNS`` values of an instance, in that order; how many text values were scrubbed)."""
    values, scrubbed = _series_values(record, secret, names, birth_dates, other_ids, hashes)
    return values[:_DATES_AT] + _date_values(record) + values[_DATES_AT:], scrubbed


def _series_values(record: HeaderRecord, secret: bytes, names: tuple[str, ...], birth_dates: tuple[str, ...],
                   other_ids: tuple[str, ...], hashes: dict[tuple[str, str], bytes]) -> tuple[tuple[Any, ...], int]:
    """(the ``_TEMPLATE_COLUMNS`` values of an instance, in that order; how many text values were scrubbed):
    ``SHARED_COLUMNS`` but the dates, which ``_date_values`` gives (the images of a series often differ in
    their acquisition and content times, rarely in anything else)."""
    patient = (record.patient_id or "").strip()
    ids = ((patient,) if patient else ()) + other_ids  # other_ids: the AccessionNumber values
    texts = _TextFacts(*_text_facts_of(record))
    try:
        columns, scrubbed = _scrubbed_columns(texts, ids, names, birth_dates, _text_columns)
    except TypeError:  # an unhashable value (not from the reader): computed without the cache
        columns, scrubbed = _scrubbed_columns(texts, ids, names, birth_dates, _text_columns.__wrapped__)
    series = _hashed(secret, record.series_instance_uid, "series", hashes)
    study = _hashed(secret, record.study_instance_uid, "study", hashes)
    values = (_hashed(secret, patient, "patient", hashes).hex() if patient else None, digest_id(series),
              digest_id(study), _int32(record.rows), _int32(record.columns), derive.slice_thickness(record),
              series.hex(), study.hex())
    return values + columns, scrubbed


def _date_values(record: HeaderRecord) -> tuple[Any, Any, int]:
    """The ``DATE_COLUMNS`` values of an instance (``derive.study_datetime``)."""
    when = derive.study_datetime(record)
    return when.date, when.datetime, len(when.invalid)


class _TextFacts(NamedTuple):
    """The header values the stored text columns are made of (``_text_columns``'s cache key with the pattern)."""

    modality: str | None
    manufacturer: str | None
    body_part_examined: str | None
    study_description: str | None
    series_description: str | None
    protocol_name: str | None
    laterality: str | None
    image_laterality: str | None
    image_type: tuple[str, ...] | None
    contrast_agent: str | None
    contrast_route: str | None
    contrast_administered: str | None
    image_orientation: tuple[float, ...] | None


_text_facts_of = operator.attrgetter(*_TextFacts._fields)


@functools.lru_cache(maxsize=4096)
def _text_columns(record: _TextFacts, pattern: re.Pattern[str] | None) -> tuple[tuple[Any, ...], int]:
    """(the values of the ``TEXT_COLUMNS`` of a row, in that order, how many values were scrubbed); cached: the
    images of a series share these values, so a batch computes them a few times, not once a file.

    The header text fields are scrubbed first; the columns are derived from the clean values (contrast phase,
    plane and laterality from the raw ones: their stored values are fixed vocabulary), and scrubbed once more."""
    clean = record
    changes: dict[str, Any] = {}
    if pattern is not None:
        for name in _RECORD_TEXT_FIELDS:
            value, found = scrub_value(getattr(record, name), pattern)
            if found:
                changes[name] = value
        if changes:
            clean = record._replace(**changes)
    plane = derive.anatomical_plane(record.image_orientation)
    phase, rule = derive.contrast_phase(record)
    row = {
        "body_part_source_value": _text(clean.body_part_examined, 64),
        "laterality_concept_id": None,  # no verified RadLex ids for laterality yet
        "laterality_source_value": derive.laterality(record),
        "anatomical_plane_concept_id": derive.radlex_id(plane),
        "anatomical_plane_source_value": plane,
        "series_type_concept_id": derive.radlex_id(phase),
        "series_type_source_value": f"{phase}:{rule}"[:50] if phase else None,
        "modality": _text(clean.modality, 16),
        "manufacturer": _text(clean.manufacturer, 64),
        "protocol_source_value": derive.protocol_source_value(clean) or None,
    }
    scrubbed = len(changes)
    if pattern is not None:
        for name in TEXT_COLUMNS:  # whatever a derivation or a truncation made of the clean values
            value, found = scrub_value(row[name], pattern)
            if found:
                row[name] = value
                scrubbed += 1
    return tuple(map(row.__getitem__, TEXT_COLUMNS)), scrubbed


def _scrubbed_columns(texts: _TextFacts, ids: tuple[str, ...], names: tuple[str, ...], birth_dates: tuple[str, ...],
                      columns: Any) -> tuple[tuple[Any, ...], int]:
    """``columns(texts, scrub_pattern(ids, names, birth_dates))`` (``_text_columns``), with the pattern compiled
    only when ``may_hold`` says the header texts or the values derived from them might hold an identifier: else
    scrubbing would change nothing, and the unscrubbed columns are the same."""
    plain = columns(texts, None)
    if not may_hold(itertools.chain(map(texts.__getattribute__, _RECORD_TEXT_FIELDS), plain[0]), ids, names,
                    birth_dates):
        return plain
    return columns(texts, scrub_pattern(ids, names, birth_dates))


def _hashed(secret: bytes, value: str, purpose: str, memo: dict[tuple[str, str], bytes]) -> bytes:
    """``hmac_digest(secret, value, purpose)``, looked up in ``memo`` first."""
    digest = memo.get((purpose, value))
    if digest is None:
        digest = memo[(purpose, value)] = hmac_digest(secret, value, purpose)
    return digest


def phi_scrubbed(table: pa.Table) -> int:
    """How many rows of a staged batch had a text value scrubbed (0 when the table does not say)."""
    metadata = table.schema.metadata or {}
    try:
        return int(metadata.get(PHI_SCRUBBED_KEY, b"0"))
    except ValueError:
        return 0


def process_batch(entries: list[FileEntry], ctx: BatchContext) -> pa.Table:
    """Read and transform one batch; never raises for a bad file (each file gets a row with its outcome).

    No path leaves this function unsanitised (``sanitize_path``; the module docstring says the rules), no
    stored text unscrubbed (``scrub_text``), and no warning or pydicom log record (``quiet_pydicom``)."""
    with quiet_pydicom():
        return _process_batch(entries, ctx)


_PER_FILE = ("file_path", "status", "reason", "radiology_image_id", "radiology_image_source_value", "instance_number",
             "header_checksum", "non_text_values")
"""The columns a batch fills file by file (``_Batch``); ``seq``, ``file_key``, ``file_size`` and ``file_mtime_ns``
come from the entries, the shared columns from the batch's templates."""


class _Batch:
    """The columns of a batch being built: per file, its own values (``_PER_FILE``, one list a column) and the
    indexes of its series template and of its dates (None: not loaded); the templates once each. The shared
    columns are made at the end by Arrow ``take`` from the templates, with no per-file Python work."""

    __slots__ = ("columns", "template_of", "dates_of", "templates", "dates")

    def __init__(self, n: int) -> None:
        self.columns: dict[str, list[Any]] = {name: [None] * n for name in _PER_FILE}
        self.template_of: list[int | None] = [None] * n
        self.dates_of: list[int | None] = [None] * n
        self.templates: list[tuple[Any, ...]] = []  # _TEMPLATE_COLUMNS values
        self.dates: list[tuple[Any, ...]] = []  # DATE_COLUMNS values

    def table(self, entries: list[FileEntry], sizes: list[int | None], mtimes: list[int | None],
              scrubbed_rows: int) -> pa.Table:
        schema = STAGE_SCHEMA.with_metadata({PHI_SCRUBBED_KEY: str(scrubbed_rows).encode()})
        arrays: dict[str, pa.Array] = {
            "seq": pa.array(np.arange(len(entries), dtype=np.int32)),
            "file_key": pa.array([e.file_key for e in entries], pa.string()),
            "file_size": pa.array(sizes, pa.int64()),
            "file_mtime_ns": pa.array(mtimes, pa.int64()),
            "person_id": pa.nulls(len(entries), pa.int64()),  # the parent's, from the person map
        }
        for name, column in self.columns.items():
            arrays[name] = pa.array(column, schema.field(name).type)
        for names, rows, index in ((_TEMPLATE_COLUMNS, self.templates, self.template_of),
                                   (DATE_COLUMNS, self.dates, self.dates_of)):
            at = pa.array(index, pa.int32())
            for name, values in zip(names, zip(*rows) if rows else [()] * len(names)):
                arrays[name] = pa.array(values, schema.field(name).type).take(at)
        return pa.Table.from_arrays([arrays[name] for name in FIELDS], schema=schema)


def _process_batch(entries: list[FileEntry], ctx: BatchContext) -> pa.Table:
    """The batch's columns are filled file by file (``_Batch``); a loaded file points at its series' template
    (``_template``) and its dates (memo of the batch), and gets the values of its own file."""
    secret = ctx.secret
    batch = _Batch(len(entries))
    paths, statuses, reasons, image_ids, image_sources, instances, checksums, non_texts = (
        batch.columns[name] for name in _PER_FILE)
    template_of, dates_of = batch.template_of, batch.dates_of
    unread: list[tuple[int, FileEntry, BaseException | None]] = []
    batch_ids: set[str] = set()
    batch_names: set[str] = set()
    batch_dates: set[str] = set()
    scrubbed_rows = 0
    hashes: dict[tuple[str, str], bytes] = {}
    templates: dict[Any, tuple[int, int]] = {}
    dates: dict[Any, int] = {}
    sizes, mtimes = [e.size for e in entries], [e.mtime_ns for e in entries]
    for seq, entry in enumerate(entries):
        expected = entry.expect_checksum  # computed as the run that recorded it did (``checksum_version``)
        if expected is not None and _checksum(entry.path, secret, checksum_version(expected)) == expected:
            statuses[seq], paths[seq], checksums[seq] = UNCHANGED, "", expected
            continue
        # an entry without stat (a first load's: the walk leaves it to the worker) takes the open file's
        stat: list[tuple[int, int]] | None = [] if entry.size is None and entry.mtime_ns is None else None
        try:
            record, head = read_header_and_head(entry.path, stat)
        except (DicomSkip, DicomQuarantine) as exc:
            unread.append((seq, entry, exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
            statuses[seq], reasons[seq] = "quarantined", f"parse_error: {type(exc).__name__}"
            unread.append((seq, entry, None))
            continue
        finally:
            if stat is not None:  # a file that did not open: its path's stat, if any
                sizes[seq], mtimes[seq] = stat[0] if stat else stat_of(entry.path)
        patient = (record.patient_id or "").strip()
        facts = window_facts(head, secret)  # the bytes the reader read: one read per file
        names, birth_dates, accessions = facts.names, facts.birth_dates, facts.accessions
        uids = (record.sop_instance_uid, record.series_instance_uid, record.study_instance_uid)
        paths[seq], _redacted = sanitize_path(entry.file_path, (patient,) if patient else (), names, birth_dates,
                                              uids=uids, accessions=accessions)
        checksums[seq], non_texts[seq] = facts.checksum, facts.non_text
        if patient:
            batch_ids.add(patient)
        batch_ids.update(accessions)
        batch_names.update(names)
        batch_dates.update(birth_dates)
        try:
            template, scrubbed = _template(record, secret, names, birth_dates, accessions, hashes, templates, batch)
            when = _dates(record, dates, batch)
            sop = hmac_digest(secret, record.sop_instance_uid, "sop")  # one keyed hash gives the id and the hex
            instance = _int32(record.instance_number)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
            statuses[seq], reasons[seq] = "quarantined", f"parse_error: {type(exc).__name__}"
            continue
        statuses[seq], template_of[seq], dates_of[seq] = "loaded", template, when
        image_ids[seq], image_sources[seq], instances[seq] = digest_id(sop), sop.hex(), instance
        scrubbed_rows += scrubbed > 0
    ids = tuple(sorted(batch_ids, key=len, reverse=True))
    names_t, dates_t = tuple(batch_names), tuple(batch_dates)
    for seq, entry, exc in unread:
        own = HeaderFacts()
        if isinstance(exc, DicomQuarantine):  # DICOM-like: its own name and birth date may be readable
            own = header_facts(entry.path, secret)
        elif isinstance(exc, DicomSkip):
            own = HeaderFacts(checksum=_checksum(entry.path, secret))
        path, _ = sanitize_path(entry.file_path, ids + own.accessions, names_t + own.names, dates_t + own.birth_dates,
                                placeholder=False)
        paths[seq], checksums[seq] = path, own.checksum
        if exc is not None:
            safe = entry._replace(file_path=path)
            reason = _detail(exc, safe)
            pattern = scrub_pattern(ids + own.accessions, names_t + own.names, dates_t + own.birth_dates)
            code, _, detail = reason.partition(": ")  # the code is rcdm's own: only the detail is scrubbed
            detail = UID_TOKEN.sub(UID_PLACEHOLDER, scrub_value(detail, pattern)[0] or "") if detail else ""
            statuses[seq] = "skipped" if isinstance(exc, DicomSkip) else "quarantined"
            reasons[seq] = f"{code}: {detail}" if detail else code
    for column in (paths, reasons):  # whatever an error message held: valid UTF-8 only
        for i, value in enumerate(column):
            if isinstance(value, str) and not value.isascii() and undecodable(value):
                column[i] = printable_path(value)
    return batch.table(entries, sizes, mtimes, scrubbed_rows)


def _template(record: HeaderRecord, secret: bytes, names: tuple[str, ...], dates: tuple[str, ...],
              accessions: tuple[str, ...], hashes: dict[tuple[str, str], bytes],
              templates: dict[Any, tuple[int, int]], batch: _Batch) -> tuple[int, int]:
    """(the index of the record's ``_series_values`` in ``batch.templates``, how many text values were scrubbed),
    looked up in the batch's ``templates`` by every record field and identity value they are made of."""
    try:
        key: Any = (_template_fields_of(record), names, dates, accessions)
        found = templates.get(key)
    except TypeError:  # an unhashable value (not from the reader): computed, not kept
        key, found = None, None
    if found is None:
        values, scrubbed = _series_values(record, secret, names, dates, accessions, hashes)
        found = (len(batch.templates), scrubbed)
        batch.templates.append(values)
        if key is not None:
            templates[key] = found
    return found


def _dates(record: HeaderRecord, memo: dict[Any, int], batch: _Batch) -> int:
    """The index of the record's ``_date_values`` in ``batch.dates``, looked up in ``memo`` by the record's dates
    and times."""
    try:
        key: Any = _date_fields_of(record)
        found = memo.get(key)
    except TypeError:  # an unhashable value (not from the reader): computed, not kept
        key, found = None, None
    if found is None:
        found = len(batch.dates)
        batch.dates.append(_date_values(record))
        if key is not None:
            memo[key] = found
    return found


def stage_table(rows: list[dict[str, Any]], scrubbed_rows: int) -> pa.Table:
    """The staged table (``STAGE_SCHEMA``) of a batch's rows; ``scrubbed_rows`` goes into its metadata."""
    return _table([[row.get(name) for row in rows] for name in FIELDS], scrubbed_rows)


def _table(columns: list[list[Any]], scrubbed_rows: int) -> pa.Table:
    """The staged table of ``columns`` (``FIELDS`` order); ``scrubbed_rows`` goes into its metadata."""
    schema = STAGE_SCHEMA.with_metadata({PHI_SCRUBBED_KEY: str(scrubbed_rows).encode()})
    return pa.Table.from_arrays([pa.array(column, field.type) for column, field in zip(columns, schema)],
                                schema=schema)


def _checksum(path: str, secret: bytes, version: int = CHECKSUM_VERSION) -> int | None:
    """``header_checksum`` (of ``version``) of the file at ``path`` (None when it cannot be read)."""
    try:
        return header_checksum(header_window(path), secret, version)
    except OSError:
        return None
