"""What identifies the patient in a header's bytes: name parts, birth dates, accession numbers (for scrubbing
paths and text), plus the header checksum and the count of nested text values; from the bytes the reader read.

The ETL scrubs stored paths and text of the file's own identity (``rcdm.etl.transform``). The reader does not
keep PatientName, PatientBirthDate or AccessionNumber (they are never loaded), so their values are found by a
byte scan of the header window: the file's first 64 KiB (``WINDOW``) up to the first Pixel Data tag (either
byte order). The scan looks at every occurrence of the tags, nested ones (an AccessionNumber inside
RequestAttributesSequence) and big-endian ones included; a stray match yields a value that matches nothing,
so it is harmless. One read per file: ``rcdm.dicom.reader.read_header_and_head`` hands back the bytes it read
with the record, and ``window_facts`` scans them (``header_facts`` reads a file itself, for the rare file the
reader refused). The compiled ``rcdm.dicom._tags.scan`` finds the tags and reads their values in one pass, 16 or
32 offsets a step (SIMD; an optional build; ``_scan_py``, over ``find_all``, is its twin, same results).

The values stay in the worker: only keyed hashes and scrubbed text leave it.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable
from typing import NamedTuple

from xxhash import xxh3_128_digest

from rcdm.dicom.deid import digest_id, hmac_digest
from rcdm.dicom.reader import _open, _python_encodings, _read_upto, pixel_data_at, quiet_pydicom

_FindAll = Callable[[bytes, tuple[bytes, ...], int], tuple[int, tuple[list[int], ...]]]
_Scan = tuple[int, tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...], tuple[bytes, ...], int]
_find_all_c: _FindAll | None
_scan_c: Callable[[bytes], _Scan] | None
try:  # the one-pass pattern search and the identity scan (rcdm/dicom/_tags.c, an optional build)
    from rcdm.dicom._tags import find_all as _find_all_c
    from rcdm.dicom._tags import scan as _scan_c
except ImportError:  # pragma: no cover - depends on the build
    _find_all_c = _scan_c = None

WINDOW = 1 << 16
"""The header window: at most the file's first 64 KiB, up to the first Pixel Data tag."""
FIRST_READ = 8192
"""``header_window`` reads this much first and the rest of the window only when no Pixel Data tag is in it."""
_PIXEL_DATA = (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10")
_CHARSET = (b"\x08\x00\x05\x00", b"\x00\x08\x00\x05")  # SpecificCharacterSet (0008,0005)
_NAME = (b"\x10\x00\x10\x00", b"\x00\x10\x00\x10")  # PatientName (0010,0010)
_BIRTH = (b"\x10\x00\x30\x00", b"\x00\x10\x00\x30")  # PatientBirthDate (0010,0030)
_ACCESSION = (b"\x08\x00\x50\x00", b"\x00\x08\x00\x50")  # AccessionNumber (0008,0050)
_NESTED_MARKS = (b"SQ\x00\x00", b"UN\x00\x00", b"\xff\xff\xff\xff")
_PATTERNS = _PIXEL_DATA + _CHARSET + _NAME + _BIRTH + _ACCESSION + _NESTED_MARKS
"""What one pass looks for: the two Pixel Data tags end the window; the others' offsets are collected."""

_STORED_TEXT_TAGS = ((0x0008, 0x0060), (0x0008, 0x0070), (0x0008, 0x1030), (0x0008, 0x103E), (0x0018, 0x0015),
                     (0x0018, 0x1030))
"""Modality, Manufacturer, StudyDescription, SeriesDescription, BodyPartExamined, ProtocolName: the header
text attributes stored (or derived into stored text)."""
_STORED_TEXT_PATTERNS = frozenset(g.to_bytes(2, "little") + e.to_bytes(2, "little") for g, e in _STORED_TEXT_TAGS)
_BIRTH_DATE = re.compile(r"(\d{4})[-./_ ]?(\d{2})[-./_ ]?(\d{2})(?!\d)")


class HeaderFacts(NamedTuple):
    """What a byte scan of a file's header window tells besides the reader's record (``window_facts``)."""

    names: tuple[str, ...] = ()
    birth_dates: tuple[str, ...] = ()
    accessions: tuple[str, ...] = ()
    checksum: int | None = None
    non_text: int = 0


def header_window(path: str) -> bytes:
    """The file's header window (first 64 KiB up to Pixel Data). Reads 8 KiB first (most headers end there) and
    the whole window again only when no Pixel Data tag is in them (one read from offset 0 costs less than reading
    the rest and joining): the same bytes as one read of 64 KiB, cut. Opened as the reader opens (without
    blocking: a FIFO among the files raises OSError instead of hanging the worker)."""
    fd = _open(path)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        buf = _read_upto(fd, FIRST_READ)
        cut = pixel_data_at(buf)
        if cut < 0 and len(buf) == FIRST_READ:
            buf = _read_upto(fd, WINDOW, 0)
            cut = pixel_data_at(buf)
    finally:
        os.close(fd)
    return buf[:cut] if cut >= 0 else buf


CHECKSUM_VERSION = 2
"""The definition of ``header_checksum`` new rows get. A row keeps the checksum its run computed, and a rerun
compares each row with the definition it was made with (``checksum_version``), so a database written by an older
rcdm stays exact: an unchanged file is still ``unchanged``, a rewritten one is still found."""


def header_checksum(buf: bytes | memoryview, secret: bytes, version: int = CHECKSUM_VERSION) -> int:
    """The keyed 63-bit hash of a header window (``rcdm_etl_file.header_checksum``): a rerun compares it to tell
    a file rewritten with the same size and mtime (keyed, so it confirms nothing about the header).

    Version 1 (rcdm 0.1.0 before issue 19): HMAC-SHA256 (purpose "header") of the window, its first 63 bits
    (``digest_id``: positive). Version 2: HMAC-SHA256 (purpose "header/xxh3_128") of the window's XXH3-128
    digest, the same 63 bits negated: negative, so the value itself tells its version (no column to add on ten
    SQL targets) and the two never compare equal. XXH3 reads 64 KiB in ~1.5 us where HMAC-SHA256 needs ~45;
    the HMAC of its 16-byte digest keeps the value keyed."""
    if version == 2:
        return -digest_id(hmac_digest(secret, xxh3_128_digest(buf), "header/xxh3_128"))
    if version == 1:
        return digest_id(hmac_digest(secret, buf, "header"))
    raise ValueError(f"unknown header checksum version {version!r}")


def checksum_version(checksum: int) -> int:
    """The ``header_checksum`` version that made a recorded value: 2 when negative, 1 when positive."""
    return 2 if checksum < 0 else 1


def header_facts(path: str, secret: bytes | None = None) -> HeaderFacts:
    """``window_facts`` of the file at ``path`` (an empty ``HeaderFacts`` when it cannot be read)."""
    try:
        head = header_window(path)
    except OSError:
        return HeaderFacts()
    return window_facts(head, secret)


def header_identity(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(name parts, birth dates) of a DICOM file, lower case, from a byte scan of its header window."""
    facts = header_facts(path)
    return facts.names, facts.birth_dates


def window_facts(head: bytes, secret: bytes | None = None) -> HeaderFacts:
    """The identity of a header, from the file's first bytes ``head`` (at least the header window: the first
    64 KiB, or the whole file, or the first bytes up to a Pixel Data tag; what lies past the window is ignored).

    Name parts: PatientName (0010,0010) as ``rcdm.etl.transform``'s docstring says (decoded with
    SpecificCharacterSet (0008,0005) when it is not ASCII). Birth dates: PatientBirthDate (0010,0030) as
    ``YYYYMMDD`` and the usual separated spellings, also from a malformed value that starts with a date.
    AccessionNumber values of 3 characters or more; the header checksum (with ``secret``); and how many of the
    text attributes rcdm stores carry a non-text VR (SQ, or UN / undefined length: their value is a nested
    dataset, read as absent by the reader, counted as ``non_text_values``)."""
    if len(head) > WINDOW:
        head = head[:WINDOW]
    cut, charsets, raw_names, raw_dates, raw_accessions, non_text = scan(head)
    names, dates, accessions = _identity(charsets[:1], raw_names, raw_dates, raw_accessions)
    checksum = None
    if secret is not None:  # a view: no copy of the window (up to 64 KiB)
        checksum = header_checksum(memoryview(head)[:cut] if cut >= 0 else head, secret)
    return HeaderFacts(names, dates, accessions, checksum, non_text)


def scan(buf: bytes) -> _Scan:
    """(cut, charsets, names, birth dates, accession numbers, non_text) of a header window: ``cut`` the offset of
    the first Pixel Data tag (-1: none); then, in ``buf[:cut]``, the raw values of every occurrence of
    SpecificCharacterSet, PatientName, PatientBirthDate and AccessionNumber (``_element_values``), and how many
    stored text attributes carry a nested value. One pass in C where built (``rcdm.dicom._tags.scan``)."""
    if _scan_c is not None:
        return _scan_c(buf)
    return _scan_py(buf)


def _scan_py(head: bytes) -> _Scan:
    """The pure-Python twin of ``rcdm.dicom._tags.scan`` (``find_all``, then each value read in Python)."""
    cut, found = find_all(head, _PATTERNS, len(_PIXEL_DATA))
    buf = memoryview(head)[:cut] if cut >= 0 else memoryview(head)
    charset_le, charset_be, name_le, name_be, birth_le, birth_be, acc_le, acc_be = found[:8]
    non_text = len({tag for offsets in found[8:] for i in offsets if i >= 4
                    and (tag := bytes(buf[i - 4:i])) in _STORED_TEXT_PATTERNS})
    return (cut, tuple(_element_values(buf, charset_le, charset_be, b"CS")),
            tuple(_element_values(buf, name_le, name_be, b"PN")),
            tuple(_element_values(buf, birth_le, birth_be, b"DA")),
            tuple(_element_values(buf, acc_le, acc_be, b"SH")), non_text)


@functools.lru_cache(maxsize=4096)
def _identity(charset: tuple[bytes, ...], names: tuple[bytes, ...], birth_dates: tuple[bytes, ...],
              accessions: tuple[bytes, ...]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(name parts, birth dates, accession numbers) of the raw values found (cached: a batch holds each patient's
    few studies many times)."""
    plain = all(raw.isascii() and b"\x1b" not in raw for raw in names)
    encodings = _encodings(charset[0]) if charset and not plain else ()  # pydicom's codecs only when needed
    names_found, dates = identity_of([text for raw in names for text in _texts(raw, encodings)],
                                     [text for raw in birth_dates for text in _texts(raw)])
    return names_found, dates, accession_ids(text for raw in accessions for text in _texts(raw))


@functools.lru_cache(maxsize=256)
def _encodings(raw: bytes) -> tuple[str, ...]:
    """Python's codecs for a raw SpecificCharacterSet value (cached: a site has a handful); () when unknown
    (UTF-8 and Latin-1 still apply)."""
    charset = tuple(v.strip() for v in raw.decode("latin-1").strip("\x00 ").split("\\"))
    try:
        return tuple(_python_encodings(charset))  # pydicom's warnings are silenced in there
    except Exception:  # noqa: BLE001 - an unknown character set
        return ()


def find_all(buf: bytes, patterns: tuple[bytes, ...], stops: int) -> tuple[int, tuple[list[int], ...]]:
    """(cut, offsets): ``cut`` the offset of the first occurrence of any of the first ``stops`` patterns (-1:
    none); ``offsets`` one ascending list per other pattern of its occurrences inside ``buf[:cut]``
    (overlapping ones too). Four-byte patterns; one pass in C where built."""
    if _find_all_c is not None:
        return _find_all_c(buf, patterns, stops)
    return _find_all_py(buf, patterns, stops)


def _find_all_py(buf: bytes, patterns: tuple[bytes, ...], stops: int) -> tuple[int, tuple[list[int], ...]]:
    """The pure-Python twin of ``rcdm.dicom._tags.find_all`` (one ``bytes.find`` pass per pattern)."""
    cut = len(buf)
    for pattern in patterns[:stops]:
        i = buf.find(pattern, 0, cut)
        if i >= 0:
            cut = i
    found = []
    for pattern in patterns[stops:]:
        offsets = []
        i = buf.find(pattern, 0, cut)
        while i >= 0:
            offsets.append(i)
            i = buf.find(pattern, i + 1, cut)
        found.append(offsets)
    return (cut if cut < len(buf) else -1), tuple(found)


def _element_values(buf: bytes | memoryview, little: list[int], big: list[int], vr: bytes) -> list[bytes]:
    """Values of every occurrence (at the tag offsets ``little`` and ``big``) of a short text element (explicit or
    implicit VR). A byte scan, no parsing: a stray match yields a value that matches no path, so it is harmless."""
    values = []
    for offsets, is_big in ((little, False), (big, True)):
        for i in offsets:
            j = i + 4
            if buf[j:j + 2] == vr:
                n, k = int.from_bytes(buf[j + 2:j + 4], "big" if is_big else "little"), j + 4
            elif not is_big:
                n, k = int.from_bytes(buf[j:j + 4], "little"), j + 4
            else:
                continue
            if 0 < n <= 1024 and k + n <= len(buf):
                values.append(bytes(buf[k:k + n]))
    return values


def _texts(raw: bytes, encodings: tuple[str, ...] = ()) -> list[str]:
    """The readings of a raw PN value: with the file's character sets (pydicom's decoder, ISO 2022 escapes
    included), as UTF-8 and as Latin-1; printable ones only, each once."""
    candidates: list[str] = []
    if encodings and (not raw.isascii() or b"\x1b" in raw):
        try:
            from pydicom.valuerep import PersonName  # only for non-ASCII names: pydicom loads on demand

            with quiet_pydicom():
                candidates.append(str(PersonName(raw, list(encodings))))
        except Exception:  # noqa: BLE001 - an odd value: the plain readings below still apply
            pass
    for encoding in ("utf-8", "latin-1"):
        try:
            candidates.append(raw.decode(encoding))
        except UnicodeDecodeError:
            continue
    out: list[str] = []
    for text in candidates:
        text = text.strip("\x00 ")
        if text and text.isprintable() and text not in out:
            out.append(text)
    return out


def _is_cjk(text: str) -> bool:
    """Whether ``text`` is written in a script whose names are short (CJK ideographs, Hangul, Kana)."""
    return not text.isascii() and any(unicodedata.name(ch, "").startswith(("CJK", "HANGUL", "HIRAGANA", "KATAKANA"))
                                      for ch in text)


@functools.lru_cache(maxsize=4096)
def _name_parts(text: str) -> tuple[str, ...]:
    """The name parts of one PN value (see ``rcdm.etl.transform``'s docstring), lower case (cached: a batch
    holds the same few patients' names many times)."""
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
    return tuple(parts)


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
