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
header_checksum                    int64       keyed 63-bit hash of the header window (changed-file detection)
non_text_values                    int8        stored text attributes whose value was nested (read as absent)
=================================  ==========  =======================================================================

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

import dataclasses
import functools
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from rcdm.dicom import derive
from rcdm.dicom.deid import digest_id, hmac_digest, hmac_hex, text_bytes
from rcdm.dicom.reader import HeaderRecord, quiet_pydicom, read_header
from rcdm.errors import DicomQuarantine, DicomSkip

INT32_MAX = 2**31 - 1

PATIENT_PLACEHOLDERS = {"{patient_id}": str, "{patient_id_lower}": str.lower, "{patient_id_upper}": str.upper}
"""Placeholders that stand for the PatientID in a stored path, and how each spells it."""
REDACTED = "{redacted}"
"""What a path component holding a patient's name or birth date is replaced by."""
SCRUBBED = "[REDACTED]"
"""What an identifier found in a stored text value is replaced by (see "Text values")."""
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
    with the file's own (one small read) and returns the row as ``unchanged`` when they are equal."""


UNCHANGED = "unchanged"
"""Status of a row whose file matched its recorded size, mtime and header checksum (not loaded again)."""


@dataclass(frozen=True)
class BatchContext:
    """What a worker needs besides the files: the site secret (never logged or stored). Picklable."""

    secret: bytes

    def __repr__(self) -> str:  # never print the secret
        return "BatchContext(secret=***)"


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
    import numpy as np

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


def _hex_values():
    import numpy as np

    table = np.full(256, 255, np.uint8)
    for i, c in enumerate(b"0123456789abcdef"):
        table[c] = i
    return table


_HEX_VALUES = _hex_values()
"""Byte → value of a lower-case hex digit (255 for any other byte)."""


def printable_path(file_path: str) -> str:
    """``file_path`` with every undecodable byte (lone surrogate) replaced by U+FFFD: valid UTF-8."""
    return text_bytes(file_path).decode("utf-8", "replace")


def _undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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


# --- identifying values in paths ------------------------------------------------------------------------------

_HEADER_WINDOW = 1 << 16
_PIXEL_DATA = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")


def _element_values(buf: bytes, tag: tuple[bytes, bytes], vr: bytes) -> list[bytes]:
    """Values of every occurrence of a short text element (little- or big-endian tag, explicit or implicit VR)
    in ``buf``. A byte scan, no parsing: a stray match yields a value that matches no path, so it is harmless."""
    values = []
    for pattern, big in ((tag[0], False), (tag[1], True)):
        start = 0
        while True:
            i = buf.find(pattern, start)
            if i < 0:
                break
            start = i + 1
            j = i + 4
            if buf[j:j + 2] == vr:
                n, k = int.from_bytes(buf[j + 2:j + 4], "big" if big else "little"), j + 4
            elif not big:
                n, k = int.from_bytes(buf[j:j + 4], "little"), j + 4
            else:
                continue
            if 0 < n <= 1024 and k + n <= len(buf):
                values.append(buf[k:k + n])
    return values


def _texts(raw: bytes, encodings: tuple[str, ...] = ()) -> list[str]:
    """The readings of a raw PN value: with the file's character sets (pydicom's decoder, ISO 2022 escapes
    included), as UTF-8 and as Latin-1; printable ones only, each once."""
    candidates: list[str] = []
    if encodings and (not raw.isascii() or b"\x1b" in raw):
        try:
            from pydicom.valuerep import PersonName

            with quiet_pydicom():
                candidates.append(str(PersonName(raw, list(encodings))))
        except Exception:  # noqa: BLE001 - an odd value: the plain readings below still apply
            pass
    for encoding in ("utf-8", "latin-1"):
        try:
            candidates.append(raw.decode(encoding))
        except UnicodeDecodeError:
            continue
    out = []
    for text in candidates:
        text = text.strip("\x00 ")
        if text and text.isprintable() and text not in out:
            out.append(text)
    return out


def _is_cjk(text: str) -> bool:
    """Whether ``text`` is written in a script whose names are short (CJK ideographs, Hangul, Kana)."""
    return not text.isascii() and any(unicodedata.name(ch, "").startswith(("CJK", "HANGUL", "HIRAGANA", "KATAKANA"))
                                      for ch in text)


def _name_parts(text: str) -> list[str]:
    """The name parts of one PN value (see the module docstring), lower case."""
    parts: list[str] = []

    def add(part: str) -> None:
        part = " ".join(part.split()).lower()
        if len(part) >= (2 if _is_cjk(part) else 3) and part not in parts:
            parts.append(part)

    for group in text.split("="):
        components = group.split("^")
        for component in components[:3]:  # family, given, middle (not prefix or suffix)
            add(component)
            words = component.split()
            if len(words) > 1:
                for word in words:
                    add(word)
        family, given = (components + ["", ""])[:2]
        joined = "".join(family.split()) + "".join(given.split())
        if family.strip() and given.strip() and _is_cjk(joined):
            add(joined)
    return parts


_BIRTH_DATE = re.compile(r"(\d{4})[-./_ ]?(\d{2})[-./_ ]?(\d{2})(?!\d)")


def _cut_at_pixel_data(buf: bytes) -> int:
    """Offset of the first Pixel Data tag (either byte order) in ``buf``, or -1. Each later search stops at the
    earlier match: a byte scan of 64 KiB for a pattern that is not there costs ~15 us a file."""
    cut = len(buf)
    for pattern in _PIXEL_DATA:
        i = buf.find(pattern, 0, cut)
        if i >= 0:
            cut = i
    return cut if cut < len(buf) else -1


def _header_window(path: str) -> bytes:
    """The file's first 64 KiB up to Pixel Data. Reads 8 KiB first (most headers end there) and the rest of
    the window only when no Pixel Data tag is in them: the same bytes as one read of 64 KiB, cut."""
    with open(path, "rb") as f:
        buf = f.read(8192)
        cut = _cut_at_pixel_data(buf)
        if cut < 0 and len(buf) == 8192:
            buf += f.read(_HEADER_WINDOW - 8192)
            cut = _cut_at_pixel_data(buf)
    return buf[:cut] if cut >= 0 else buf


class HeaderFacts(NamedTuple):
    """What a byte scan of a file's header window tells besides the reader's record (``header_facts``)."""

    names: tuple[str, ...] = ()
    birth_dates: tuple[str, ...] = ()
    accessions: tuple[str, ...] = ()
    checksum: int | None = None
    non_text: int = 0


def header_identity(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(name parts, birth dates) of a DICOM file, lower case, from a byte scan of its first 64 KiB.

    Name parts: PatientName (0010,0010) as the module docstring says (decoded with SpecificCharacterSet
    (0008,0005) when it is not ASCII). Birth dates: PatientBirthDate (0010,0030) as ``YYYYMMDD`` and the usual
    separated spellings, also from a malformed value that starts with a date. The header reader does not
    keep these values (they are not loaded); this scan costs one small read.
    """
    facts = header_facts(path)
    return facts.names, facts.birth_dates


def header_checksum(buf: bytes, secret: bytes) -> int:
    """The 63-bit keyed hash of a header window (``rcdm_etl_file.header_checksum``): a rerun compares it to
    tell a file rewritten with the same size and mtime (keyed, so it confirms nothing about the header)."""
    return digest_id(hmac_digest(secret, buf, "header"))


def header_facts(path: str, secret: bytes | None = None) -> HeaderFacts:
    """``header_identity`` plus the AccessionNumber values, the header checksum (with ``secret``) and how many
    of the text attributes rcdm stores carry a non-text VR (SQ, or UN / undefined length: their value is a
    nested dataset, read as absent by the reader and counted here as ``non_text_values``)."""
    try:
        buf = _header_window(path)
    except OSError:
        return HeaderFacts()
    encodings: tuple[str, ...] = ()
    for raw in _element_values(buf, (b"\x08\x00\x05\x00", b"\x00\x08\x00\x05"), b"CS")[:1]:
        charset = tuple(v.strip() for v in raw.decode("latin-1").strip("\x00 ").split("\\"))
        try:
            from rcdm.dicom.reader import _python_encodings

            with quiet_pydicom():
                encodings = tuple(_python_encodings(charset))
        except Exception:  # noqa: BLE001 - an unknown character set: UTF-8 and Latin-1 still apply
            encodings = ()
    names, dates = identity_of(
        [text for raw in _element_values(buf, (b"\x10\x00\x10\x00", b"\x00\x10\x00\x10"), b"PN")
         for text in _texts(raw, encodings)],
        [text for raw in _element_values(buf, (b"\x10\x00\x30\x00", b"\x00\x10\x00\x30"), b"DA")
         for text in _texts(raw)])
    accessions = accession_ids(text for raw in _element_values(buf, (b"\x08\x00\x50\x00", b"\x00\x08\x00\x50"),
                                                               b"SH") for text in _texts(raw))
    non_text = _non_text_values(buf)
    checksum = header_checksum(buf, secret) if secret is not None else None
    return HeaderFacts(names, dates, accessions, checksum, non_text)


def accession_ids(values: Iterable[str]) -> tuple[str, ...]:
    """The AccessionNumber values worth scrubbing: 3 characters or more (a shorter one, such as "2", would
    redact ordinary words and numbers of the descriptions)."""
    out: list[str] = []
    for text in values:
        text = text.strip()
        if len(text) >= 3 and text not in out:
            out.append(text)
    return tuple(out)


def identity_of(patient_names: Iterable[str], birth_dates: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(name parts, birth date spellings), lower case, of decoded PatientName and PatientBirthDate values:
    what ``header_identity`` gives for a file, for values that came another way (a PACS query)."""
    names: list[str] = []
    for text in patient_names:
        for part in _name_parts(text):
            if part not in names:
                names.append(part)
    dates: list[str] = []
    for text in birth_dates:
        match = _BIRTH_DATE.match(text.strip())
        if match:
            y, m, d = match.groups()
            for spelled in (f"{y}{m}{d}", f"{y}-{m}-{d}", f"{y}.{m}.{d}", f"{y}_{m}_{d}", f"{y}/{m}/{d}"):
                if spelled not in dates:
                    dates.append(spelled)
    return tuple(names), tuple(dates)


_STORED_TEXT_TAGS = ((0x0008, 0x0060), (0x0008, 0x0070), (0x0008, 0x1030), (0x0008, 0x103E), (0x0018, 0x0015),
                     (0x0018, 0x1030))
"""Modality, Manufacturer, StudyDescription, SeriesDescription, BodyPartExamined, ProtocolName: the header
text attributes stored (or derived into stored text)."""
_STORED_TEXT_PATTERNS = tuple(g.to_bytes(2, "little") + e.to_bytes(2, "little") for g, e in _STORED_TEXT_TAGS)
_NESTED_MARKS = (b"SQ\x00\x00", b"UN\x00\x00", b"\xff\xff\xff\xff")


def _non_text_values(buf: bytes) -> int:
    """How many of ``_STORED_TEXT_TAGS`` stand in ``buf`` (little-endian) as SQ, as UN, or with an undefined
    length (implicit VR; pydicom reads it as a sequence): a nested dataset, not text. A byte scan for the
    (rare) markers, each checked for one of those tags just before it."""
    found: set[bytes] = set()
    for mark in _NESTED_MARKS:
        i = buf.find(mark, 4)
        while i >= 0:
            tag = buf[i - 4:i]
            if tag in _STORED_TEXT_PATTERNS:
                found.add(tag)
            i = buf.find(mark, i + 1)
    return len(found)


def _placeholder(found: str, patient_ids: tuple[str, ...]) -> str:
    """The placeholder for a PatientID found in a path, saying how the path spells it."""
    patient_id = next((p for p in patient_ids if p and p.lower() == found.lower()), found)
    if found == patient_id:
        return "{patient_id}"
    if found == patient_id.lower():
        return "{patient_id_lower}"
    if found == patient_id.upper():
        return "{patient_id_upper}"
    return "{patient_id}"


_UID_TOKEN = re.compile(r"(?<![0-9A-Za-z.])[0-9]+(?:\.[0-9]+){3,}(?![0-9A-Za-z]|\.[0-9])")
"""A token that looks like a DICOM UID (four or more dot-separated numbers): ``{uid}`` in a stored path."""
UID_PLACEHOLDER = "{uid}"
ACCESSION_PLACEHOLDER = "{accession}"


def _latin1(component: str) -> str:
    """A component with undecodable bytes (lone surrogates) read as Latin-1, to look for names in it."""
    return text_bytes(component).decode("latin-1")


def sanitize_path(file_path: str, patient_ids: tuple[str, ...] = (), names: tuple[str, ...] = (),
                  birth_dates: tuple[str, ...] = (), placeholder: bool = True, uids: tuple[str, ...] = (),
                  accessions: tuple[str, ...] = ()) -> tuple[str, bool]:
    """``file_path`` de-identified; and whether a component was redacted for a name or birth date.

    PatientID tokens become ``{patient_id}``... (``placeholder``; else ``{redacted}``), the file's own UIDs
    (``uids``) and any UID-like token ``{uid}``, AccessionNumber tokens ``{accession}``, and a component holding
    a name part or a birth date ``{redacted}``. Undecodable bytes (lone surrogates) are looked at as Latin-1
    and stored as U+FFFD. The real path is kept only in the site's path index (``rcdm.etl.path_index``).
    The substitutions run once over the whole path (a few regular expressions, cached per identity)."""
    undecodable = _undecodable(file_path)
    stored, checked = _substitute(printable_path(file_path) if undecodable else file_path, uids,
                                  tuple(patient_ids), tuple(accessions), placeholder)
    found_in = _names_pattern(tuple(names), tuple(birth_dates))
    if found_in is None:
        return stored, False
    parts, views = stored.split("/"), checked.split("/")
    latin = (_substitute(_latin1(file_path), uids, tuple(patient_ids), tuple(accessions), placeholder)[1].split("/")
             if undecodable else None)
    found = False
    for i, view in enumerate(views):
        if found_in.search(view.lower()) or (latin is not None and found_in.search(latin[i].lower())):
            parts[i], found = REDACTED, True
    return "/".join(parts), found


def _substitute(text: str, uids: tuple[str, ...], patient_ids: tuple[str, ...], accessions: tuple[str, ...],
                placeholder: bool) -> tuple[str, str]:
    """(``text`` with UIDs, PatientIDs and accession numbers replaced, the same with those removed: what is left
    to look for names and dates in; NUL stands for a removed identifier and matches no name)."""
    for uid in sorted({u for u in uids if u}, key=len, reverse=True):
        if uid in text:
            text = text.replace(uid, UID_PLACEHOLDER)
    if "." in text:
        text = _UID_TOKEN.sub(UID_PLACEHOLDER, text)
    checked = text
    ids = _ids_pattern(patient_ids)
    if ids is not None:
        if placeholder:
            text = ids.sub(lambda m: _placeholder(m.group(0), patient_ids), text)
        else:
            text = ids.sub(REDACTED, text)
        checked = ids.sub("\x00", checked)
    numbers = _ids_pattern(accessions)
    if numbers is not None:
        text = numbers.sub(ACCESSION_PLACEHOLDER, text)
        checked = numbers.sub("\x00", checked)
    return text, checked


@functools.lru_cache(maxsize=4096)
def _ids_pattern(ids: tuple[str, ...]) -> re.Pattern[str] | None:
    """Any of ``ids``, case-insensitively, as a token of a path: delimited by ``_ - . /``, a space or the ends."""
    words = sorted({i for i in ids if i}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(rf"(?<![^_\-. /])(?:{'|'.join(map(re.escape, words))})(?![^_\-. /])", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _names_pattern(names: tuple[str, ...], birth_dates: tuple[str, ...]) -> re.Pattern[str] | None:
    """Any name part as a word (not glued to other letters or digits: "lee" is found in "lee_ct" and "ct-lee",
    not in "sleep_study") or birth date (as a substring), in lower-case text."""
    alternatives = [rf"(?<![0-9a-z]){re.escape(n)}(?![0-9a-z])" for n in sorted(set(names), key=len, reverse=True)
                    if n] + [re.escape(d) for d in birth_dates if d]
    return re.compile("|".join(alternatives)) if alternatives else None


# --- identifying values in stored text -----------------------------------------------------------------------

_RECORD_TEXT_FIELDS = ("modality", "manufacturer", "body_part_examined", "study_description", "series_description",
                       "protocol_name")
"""The header text fields a stored value is made of; scrubbed before anything is derived from them."""
TEXT_COLUMNS = ("body_part_source_value", "laterality_concept_id", "laterality_source_value",
                "anatomical_plane_concept_id", "anatomical_plane_source_value", "series_type_concept_id",
                "series_type_source_value", "modality", "manufacturer", "protocol_source_value")
"""The text columns of a staged row that come from the header (all scrubbed once more, as built)."""
_RUNS = re.compile(re.escape(SCRUBBED) + r"(?:[\s^=_\-.,;:/]*" + re.escape(SCRUBBED) + r")+")
_ALNUM = re.compile(r"[^\W_]")


@functools.lru_cache(maxsize=1024)
def _scrub_pattern(patient_ids: tuple[str, ...], names: tuple[str, ...],
                   birth_dates: tuple[str, ...]) -> re.Pattern[str] | None:
    words = {" ".join(v.split()) for v in patient_ids + names} - {""}
    alternatives = [rf"(?<![0-9a-z]){re.escape(w)}(?![0-9a-z])" for w in sorted(words, key=len, reverse=True)]
    alternatives += [rf"(?<![0-9]){re.escape(d)}(?![0-9])" for d in sorted(set(birth_dates), key=len, reverse=True)
                     if d]
    alternatives.append(_UID_TOKEN.pattern)  # a UID typed into a description (the file's own, or any other)
    return re.compile("|".join(alternatives), re.IGNORECASE)


def _scrub(value: Any, pattern: re.Pattern[str] | None) -> tuple[Any, bool]:
    """(scrubbed value, whether anything was found); see ``scrub_text``."""
    if value is None or pattern is None or not isinstance(value, str):
        return value, False
    text = " ".join(value.split())
    scrubbed, found = pattern.subn(SCRUBBED, text)
    if not found:
        return value, False
    scrubbed = _RUNS.sub(SCRUBBED, scrubbed)
    if not _ALNUM.search(scrubbed.replace(SCRUBBED, "")):
        return None, True
    return scrubbed, True


def scrub_text(value: str | None, patient_ids: tuple[str, ...] = (), names: tuple[str, ...] = (),
               birth_dates: tuple[str, ...] = ()) -> str | None:
    """``value`` (whitespace collapsed) with each PatientID token, name part (as a word), birth date and
    UID-like token (four or more dot-separated numbers) replaced by ``[REDACTED]``; None when nothing but
    redactions is left; ``value`` unchanged if none is found.

    ``names`` and ``birth_dates`` as ``header_identity`` gives them; matching ignores case."""
    return _scrub(value, _scrub_pattern(tuple(patient_ids), tuple(names), tuple(birth_dates)))[0]


def image_row(record: HeaderRecord, secret: bytes, names: tuple[str, ...] = (),
              birth_dates: tuple[str, ...] = (), other_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    """The de-identified values of one instance (no UID, no PatientID leaves this function unhashed).

    Text values are scrubbed of the file's PatientID and of ``names`` / ``birth_dates`` (``header_identity``)
    as the module docstring says; ``phi_scrubbed`` (not a staged column) counts the values that were."""
    patient = (record.patient_id or "").strip()
    ids = ((patient,) if patient else ()) + tuple(other_ids)  # other_ids: the AccessionNumber values
    pattern = _scrub_pattern(ids, tuple(names), tuple(birth_dates))
    scrubbed = 0
    clean = record
    if pattern is not None:
        changes = {}
        for name in _RECORD_TEXT_FIELDS:
            value, found = _scrub(getattr(record, name), pattern)
            if found:
                changes[name] = value
        if changes:
            clean = dataclasses.replace(record, **changes)
    when = derive.study_datetime(record)
    plane = derive.anatomical_plane(record.image_orientation)
    phase, rule = derive.contrast_phase(record)
    side = derive.laterality(record)
    sop = hmac_digest(secret, record.sop_instance_uid, "sop")  # one keyed hash gives the id and the hex
    series = hmac_digest(secret, record.series_instance_uid, "series")
    study = hmac_digest(secret, record.study_instance_uid, "study")
    row = {
        "patient_key": hmac_hex(secret, patient, "patient") if patient else None,
        "radiology_image_id": digest_id(sop),
        "radiology_series_id": digest_id(series),
        "radiology_occurrence_id": digest_id(study),
        "body_part_source_value": _text(clean.body_part_examined, 64),
        "laterality_concept_id": None,  # no verified RadLex ids for laterality yet
        "laterality_source_value": side,
        "anatomical_plane_concept_id": derive.radlex_id(plane),
        "anatomical_plane_source_value": plane,
        "series_type_concept_id": derive.radlex_id(phase),
        "series_type_source_value": f"{phase}:{rule}"[:50] if phase else None,
        "image_resolution_rows": _int32(record.rows),
        "image_resolution_columns": _int32(record.columns),
        "ct_slice_thickness": derive.slice_thickness(record),
        "modality": _text(clean.modality, 16),
        "instance_number": _int32(record.instance_number),
        "radiology_series_source_value": series.hex(),
        "radiology_image_source_value": sop.hex(),
        "radiology_occurrence_source_value": study.hex(),
        "study_date": when.date,
        "study_datetime": when.datetime,
        "manufacturer": _text(clean.manufacturer, 64),
        "protocol_source_value": derive.protocol_source_value(clean) or None,
        "invalid_dates": len(when.invalid),
    }
    if pattern is not None:
        scrubbed = len(changes)
        for name in TEXT_COLUMNS:  # whatever a derivation or a truncation made of the clean values
            value, found = _scrub(row[name], pattern)
            if found:
                row[name] = value
                scrubbed += 1
    row["phi_scrubbed"] = scrubbed
    return row


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


def _process_batch(entries: list[FileEntry], ctx: BatchContext) -> pa.Table:
    rows: list[dict[str, Any]] = []
    unread: list[tuple[dict[str, Any], FileEntry, BaseException | None]] = []
    batch_ids: set[str] = set()
    batch_names: set[str] = set()
    batch_dates: set[str] = set()
    scrubbed_rows = 0
    for seq, entry in enumerate(entries):
        row: dict[str, Any] = {"seq": seq, "file_key": entry.file_key, "file_size": entry.size,
                               "file_mtime_ns": entry.mtime_ns}
        rows.append(row)
        if entry.expect_checksum is not None and _checksum(entry.path, ctx.secret) == entry.expect_checksum:
            row.update(status=UNCHANGED, file_path="", header_checksum=entry.expect_checksum)
            continue
        try:
            record = read_header(entry.path)
        except (DicomSkip, DicomQuarantine) as exc:
            unread.append((row, entry, exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
            row.update(status="quarantined", reason=f"parse_error: {type(exc).__name__}")
            unread.append((row, entry, None))
            continue
        patient = (record.patient_id or "").strip()
        facts = header_facts(entry.path, ctx.secret)
        names, dates = facts.names, facts.birth_dates
        uids = (record.sop_instance_uid, record.series_instance_uid, record.study_instance_uid)
        path, _redacted = sanitize_path(entry.file_path, (patient,) if patient else (), names, dates, uids=uids,
                                        accessions=facts.accessions)
        row.update(file_path=path, header_checksum=facts.checksum, non_text_values=facts.non_text)
        if patient:
            batch_ids.add(patient)
        batch_ids.update(facts.accessions)
        batch_names.update(names)
        batch_dates.update(dates)
        try:
            values = image_row(record, ctx.secret, names, dates, facts.accessions)
            scrubbed_rows += values.pop("phi_scrubbed") > 0
            row.update(values)
            row["status"] = "loaded"
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the run
            row.update(status="quarantined", reason=f"parse_error: {type(exc).__name__}")
    ids = tuple(sorted(batch_ids, key=len, reverse=True))
    names_t, dates_t = tuple(batch_names), tuple(batch_dates)
    for row, entry, exc in unread:
        own = HeaderFacts()
        if isinstance(exc, DicomQuarantine):  # DICOM-like: its own name and birth date may be readable
            own = header_facts(entry.path, ctx.secret)
        elif isinstance(exc, DicomSkip):
            own = HeaderFacts(checksum=_checksum(entry.path, ctx.secret))
        path, _ = sanitize_path(entry.file_path, ids + own.accessions, names_t + own.names, dates_t + own.birth_dates,
                                placeholder=False)
        row.update(file_path=path, header_checksum=own.checksum)
        if exc is not None:
            safe = entry._replace(file_path=path)
            reason = _detail(exc, safe)
            pattern = _scrub_pattern(ids + own.accessions, names_t + own.names, dates_t + own.birth_dates)
            code, _, detail = reason.partition(": ")  # the code is rcdm's own: only the detail is scrubbed
            detail = _UID_TOKEN.sub(UID_PLACEHOLDER, _scrub(detail, pattern)[0] or "") if detail else ""
            row.update(status="skipped" if isinstance(exc, DicomSkip) else "quarantined",
                       reason=f"{code}: {detail}" if detail else code)
    for row in rows:  # whatever an error message held: valid UTF-8 only
        for name in ("file_path", "reason"):
            value = row.get(name)
            if isinstance(value, str) and _undecodable(value):
                row[name] = printable_path(value)
    return stage_table(rows, scrubbed_rows)


def stage_table(rows: list[dict[str, Any]], scrubbed_rows: int) -> pa.Table:
    """The staged table (``STAGE_SCHEMA``) of a batch's rows; ``scrubbed_rows`` goes into its metadata."""
    columns: dict[str, list[Any]] = {name: [row.get(name) for row in rows] for name in FIELDS}
    schema = STAGE_SCHEMA.with_metadata({PHI_SCRUBBED_KEY: str(scrubbed_rows).encode()})
    return pa.table(columns, schema=schema)


def _checksum(path: str, secret: bytes) -> int | None:
    """``header_checksum`` of the file at ``path`` (None when it cannot be read)."""
    try:
        return header_checksum(_header_window(path), secret)
    except OSError:
        return None
