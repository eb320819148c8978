"""De-identification: keyed hashes of DICOM UIDs, the site secret, and the PatientID → person_id map.

UIDs never reach the database: a UID becomes ``hmac_hex`` (64 hex characters, for the ``*_source_value``
columns) and ``hmac_id`` (a positive 63-bit integer, for BIGINT id columns), both keyed with the site
secret, so they are stable across reloads at one site and cannot be reversed or matched across sites.
PatientID is used only inside ``PersonMap.lookup`` and to scrub it: the scrubbing (``sanitize_path`` for stored
paths, ``scrub_text`` for stored text) takes a file's own identifiers (PatientID, name parts, birth dates,
accession numbers, UIDs) out of what the ETL stores; ``rcdm.etl.transform``'s docstring gives the rules.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
import re
import secrets
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rcdm.errors import MissingSecretWarning, PersonMapError, SecretError

DEFAULT_SECRET_PATH = Path("~/.rcdm/site_secret")
SECRET_BYTES = 32
_MIN_SECRET_BYTES = 16


def text_bytes(value: str) -> bytes:
    """``value`` as UTF-8 bytes, never failing: a lone surrogate that ``os.fsdecode`` made of an undecodable
    byte of a file name (U+DC80..U+DCFF) becomes that byte again (``surrogateescape``, as ``os.fsencode``
    does on a UTF-8 system); any other lone surrogate is kept as its UTF-8-style bytes (``surrogatepass``).
    A valid string gives exactly its UTF-8 bytes, so keys computed before stay the same."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        pass
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def hmac_digest(secret: bytes, value: str | bytes | memoryview, purpose: str = "") -> bytes:
    """HMAC-SHA256 of ``value`` under ``secret``; ``purpose`` (e.g. "sop") separates id spaces: the message is
    ``purpose`` (UTF-8), a NUL and the value, or the value alone without a purpose.

    A ``str`` is hashed as its UTF-8 bytes (``text_bytes``: an undecodable file-name byte is hashed as that
    byte, so a path that is not valid UTF-8 never makes this raise); ``bytes`` are hashed as they are.
    Computed from the SHA-256 states of the padded key (and the purpose) made once per secret and purpose
    (``_keyed_states``): 1.7 us a short value where ``hmac.digest`` takes 5 us (OpenSSL 3 looks the digest up
    and hashes both key pads in every call); the same bytes (tests/test_dicom_deid.py holds it to ``hmac``).
    """
    if not secret:
        raise SecretError("an empty secret would make the hashes guessable")
    data = text_bytes(value) if isinstance(value, str) else value  # bytes, or a view of them (not copied)
    inner, outer = _keyed_states(secret, purpose)
    inner = inner.copy()
    inner.update(data)
    outer = outer.copy()
    outer.update(inner.digest())
    digest: bytes = outer.digest()
    return digest


_IPAD, _OPAD = bytes(b ^ 0x36 for b in range(256)), bytes(b ^ 0x5C for b in range(256))
"""Translation tables: each byte XOR the HMAC inner / outer pad byte (RFC 2104)."""


@functools.lru_cache(maxsize=64)
def _keyed_states(secret: bytes, purpose: str) -> tuple[Any, Any]:
    """The SHA-256 states after the inner key block and the purpose prefix, and after the outer key block
    (RFC 2104: a key longer than the 64-byte block is hashed first); copied for each message. Cached per secret
    and purpose (a process has one secret and a handful of purposes); they stay in the process like the secret."""
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\x00")
    inner = hashlib.sha256(key.translate(_IPAD))
    if purpose:
        inner.update(purpose.encode("utf-8") + b"\x00")
    return inner, hashlib.sha256(key.translate(_OPAD))


_BLOCK = 64
"""SHA-256's block size in bytes (HMAC pads the key to it)."""


def hmac_hex(secret: bytes, value: str | bytes, purpose: str = "") -> str:
    """The full keyed hash as 64 lower-case hex characters (for ``*_source_value`` columns)."""
    return hmac_digest(secret, value, purpose).hex()


def hmac_id(secret: bytes, value: str | bytes, purpose: str = "") -> int:
    """A deterministic positive 63-bit integer (1 .. 2**63-1) for BIGINT id columns.

    The first 8 bytes of the keyed hash, big-endian, shifted right by one bit; a zero result (one chance
    in 2**63) becomes 1, because 0 is not a valid OMOP id.
    """
    return digest_id(hmac_digest(secret, value, purpose))


def digest_id(digest: bytes) -> int:
    """``hmac_id`` of an already computed digest (so one HMAC gives both the id and the ``hmac_hex``)."""
    number = int.from_bytes(digest[:8], "big") >> 1
    return number or 1


def beside_secret(secret_file: str | os.PathLike[str] | None, suffix: str) -> Path:
    """``<secret file><suffix>``: a site-local file that goes with the secret (same folder, same backups),
    e.g. the ETL's path index and the PACS index, which hold what must never reach the database."""
    secret = Path(secret_file if secret_file is not None else DEFAULT_SECRET_PATH).expanduser()
    return secret.with_name(secret.name + suffix)


def create_private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only (mode 0600, its folder 0700 when made here), if missing."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def load_or_create_secret(path: str | os.PathLike[str] | None = None, create: bool = True) -> bytes:
    """Read the site secret, or create it (32 random bytes, file mode 0600) on first use.

    The default location is ``~/.rcdm/site_secret``. Creating one warns: every id and hash depends on it,
    so a lost secret means a reload cannot match the rows already loaded. Back it up with the database.
    The file holds the secret as hex on one line. Refuses a file others can read (mode & 0o077).
    """
    target = Path(path if path is not None else DEFAULT_SECRET_PATH).expanduser()
    if target.exists():
        mode = target.stat().st_mode & 0o777
        if mode & 0o077:
            raise SecretError(
                f"{target}: the site secret is readable by others (mode {mode:o}); run chmod 600 {target}"
            )
        text = target.read_text(encoding="ascii").strip()
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            raise SecretError(f"{target}: the site secret must be hex digits on one line") from None
        if len(secret) < _MIN_SECRET_BYTES:
            raise SecretError(f"{target}: the site secret is shorter than {_MIN_SECRET_BYTES} bytes")
        return secret
    if not create:
        raise SecretError(f"{target}: no site secret; create one with load_or_create_secret({str(target)!r})")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_bytes(SECRET_BYTES)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secret.hex() + "\n")
    os.chmod(target, 0o600)  # whatever the umask
    warnings.warn(
        f"created a new site secret at {target}. Every id and hash rcdm loads depends on it: keep it and back "
        "it up; if it is lost, reloading the same files gives different ids.",
        MissingSecretWarning,
        stacklevel=2,
    )
    return secret


class PersonMap:
    """PatientID → OMOP person_id, read from a CSV file with the header ``patient_id,person_id``."""

    __slots__ = ("_map", "source")

    def __init__(self, mapping: dict[str, int], source: str = "") -> None:
        self._map = mapping
        self.source = source

    def __len__(self) -> int:
        return len(self._map)

    def __repr__(self) -> str:  # never print patient ids
        return f"PersonMap({len(self._map)} patients from {self.source or 'memory'})"

    def lookup(self, patient_id: str | None) -> int | None:
        """The person_id of a PatientID (surrounding spaces ignored), or None when unmapped or missing."""
        if patient_id is None:
            return None
        return self._map.get(patient_id.strip())

    def patient_ids(self, person_id: int) -> list[str]:
        """The PatientIDs mapped to ``person_id`` (reverse lookup, sorted; empty when none). For the site's
        own use only (``rcdm.extract.materialize`` resolving ``{patient_id}`` folders); never stored."""
        return sorted(p for p, n in self._map.items() if n == int(person_id))

    def reverse(self) -> dict[int, list[str]]:
        """person_id → its PatientIDs (sorted), for many reverse lookups at once."""
        out: dict[int, list[str]] = {}
        for patient_id, person_id in self._map.items():
            out.setdefault(person_id, []).append(patient_id)
        for ids in out.values():
            ids.sort()
        return out


def load_person_map(path: str | os.PathLike[str]) -> PersonMap:
    """Read ``patient_id,person_id`` rows; refuse a wrong header, duplicate patient ids, non-integer ids.

    Patient ids are compared after trimming surrounding spaces; a UTF-8 byte-order mark is accepted.
    Error messages name the file and line but never print a patient id.
    """
    path = Path(path)
    if not path.is_file():
        raise PersonMapError(f"No person map at {path}: give a CSV file with the header 'patient_id,person_id'")
    mapping: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header] != ["patient_id", "person_id"]:
            raise PersonMapError(
                f"{path}: the first line must be the header 'patient_id,person_id' "
                f"(found {','.join(header) if header else 'an empty file'!r})"
            )
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise PersonMapError(f"{path}, line {line_no}: expected 2 columns, found {len(row)}")
            patient_id, person_id = row[0].strip(), row[1].strip()
            if not patient_id:
                raise PersonMapError(f"{path}, line {line_no}: empty patient_id")
            try:
                number = int(person_id)
            except ValueError:
                raise PersonMapError(
                    f"{path}, line {line_no}: person_id must be an integer (found {person_id!r})"
                ) from None
            if number <= 0 or number >= 2**63:
                raise PersonMapError(f"{path}, line {line_no}: person_id must be between 1 and 2**63-1")
            if patient_id in mapping:
                raise PersonMapError(f"{path}, line {line_no}: duplicate patient_id (first seen earlier)")
            mapping[patient_id] = number
    return PersonMap(mapping, str(path))


# --- scrubbing: a file's own identifiers out of stored paths and text (rules: rcdm.etl.transform's docstring) ---

PATIENT_PLACEHOLDERS = {"{patient_id}": str, "{patient_id_lower}": str.lower, "{patient_id_upper}": str.upper}
"""Placeholders that stand for the PatientID in a stored path, and how each spells it."""
REDACTED = "{redacted}"
"""What a path component holding a patient's name or birth date is replaced by."""
SCRUBBED = "[REDACTED]"
"""What an identifier found in a stored text value is replaced by (see "Text values")."""


def printable_path(file_path: str) -> str:
    """``file_path`` with every undecodable byte (lone surrogate) replaced by U+FFFD: valid UTF-8."""
    return text_bytes(file_path).decode("utf-8", "replace")


def undecodable(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (an undecodable byte of a file name, after ``os.fsdecode``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False




# --- identifying values in paths ------------------------------------------------------------------------------

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


UID_TOKEN = re.compile(r"(?<![0-9A-Za-z.])[0-9]+(?:\.[0-9]+){3,}(?![0-9A-Za-z]|\.[0-9])")
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
    The substitutions run once over the whole path (a few regular expressions, cached per identity); most paths
    hold none of the identifiers, which one search finds first (``_nothing_to_scrub``)."""
    if _nothing_to_scrub(file_path, tuple(patient_ids), tuple(accessions), tuple(names), tuple(birth_dates), uids):
        return file_path, False
    odd = undecodable(file_path)
    stored, checked = _substitute(printable_path(file_path) if odd else file_path, uids,
                                  tuple(patient_ids), tuple(accessions), placeholder)
    found_in = _names_pattern(tuple(names), tuple(birth_dates))
    if found_in is None:
        return stored, False
    parts, views = stored.split("/"), checked.split("/")
    latin = (_substitute(_latin1(file_path), uids, tuple(patient_ids), tuple(accessions), placeholder)[1].split("/")
             if odd else None)
    found = False
    for i, view in enumerate(views):
        if found_in.search(view.lower()) or (latin is not None and found_in.search(latin[i].lower())):
            parts[i], found = REDACTED, True
    return "/".join(parts), found


def _nothing_to_scrub(file_path: str, patient_ids: tuple[str, ...], accessions: tuple[str, ...],
                      names: tuple[str, ...], birth_dates: tuple[str, ...], uids: tuple[str, ...]) -> bool:
    """Whether ``sanitize_path`` would leave ``file_path`` as it is, found by one search: an ASCII path in which
    none of the identifiers occurs, case-insensitively, anywhere (a looser test than the token and word rules of
    the substitutions: what it passes, they would not change), no UID of the file and nothing UID-like. Paths
    with other characters take the full way (case mappings beyond ASCII: the looser test is not looser there),
    and so do the checks against a whole batch's identities (unread files: too many words to compile twice)."""
    if not file_path.isascii() or len(patient_ids) + len(accessions) + len(names) + len(birth_dates) > _LOOSE_WORDS:
        return False
    if all(map(str.isascii, patient_ids + accessions + names + birth_dates)):  # ASCII: no pattern to compile
        if may_hold((file_path,), patient_ids + accessions, names, birth_dates):
            return False
    elif _loose_pattern(patient_ids, accessions, names, birth_dates, file_path.count(".") >= 3).search(file_path):
        return False  # (what is UID-like holds three dots: else the search need not look for it)
    for uid in uids:
        if uid and uid in file_path:
            return False
    return True


_LOOSE_WORDS = 64
"""At most this many identifiers for ``_nothing_to_scrub``'s one search (a file's own are a handful)."""
_UID_LIKE = r"[0-9]+(?:\.[0-9]+){3}"
"""Four dot-separated numbers: what every ``UID_TOKEN`` match holds."""
_UID_LIKE_SEARCH = re.compile(_UID_LIKE).search


def may_hold(texts: Iterable[Any], patient_ids: tuple[str, ...], names: tuple[str, ...],
             birth_dates: tuple[str, ...]) -> bool:
    """Whether ``scrub_pattern(patient_ids, names, birth_dates)`` might find anything in ``texts`` (its text
    values; others are not scrubbed), or ``sanitize_path``'s substitutions in a path, by a looser test that
    needs no pattern compiled (~1-2 ms a patient): in ASCII texts and words, any word anywhere,
    case-insensitively, with runs of white space as one space (as ``scrub_text`` compares them), or four
    dot-separated numbers (what every ``UID_TOKEN`` match holds). A text or word beyond ASCII (case mappings
    beyond ASCII: the test would not be looser there): True."""
    words = _loose_words(patient_ids + names + birth_dates)
    if words is None:
        return True
    for text in texts:
        if not isinstance(text, str) or not text:
            continue
        if not text.isascii():
            return True
        lowered = text.lower()
        if "  " in lowered or not lowered.isprintable():  # white space other than single spaces: as one space
            lowered = " ".join(lowered.split())
        if any(map(lowered.__contains__, words)) or (lowered.count(".") >= 3 and _UID_LIKE_SEARCH(lowered)):
            return True
    return False


@functools.lru_cache(maxsize=4096)
def _loose_words(words: tuple[str, ...]) -> tuple[str, ...] | None:
    """``may_hold``'s words, lower case with white space runs as one space, the empty ones left out; None when one
    is beyond ASCII (cached per identity: a patient's files ask for the same words)."""
    folded = [" ".join(w.split()).lower() for w in words]
    if not all(map(str.isascii, folded)):
        return None
    return tuple(w for w in folded if w)


@functools.lru_cache(maxsize=4096)
def _loose_pattern(patient_ids: tuple[str, ...], accessions: tuple[str, ...], names: tuple[str, ...],
                   birth_dates: tuple[str, ...], uid_like: bool = True) -> re.Pattern[str]:
    """Any identifier anywhere, case-insensitively, or (``uid_like``) anything UID-like (``_nothing_to_scrub``;
    cached per identity). Without an identifier or ``uid_like``: a pattern that never matches."""
    words = sorted({w for w in patient_ids + accessions + names + birth_dates if w}, key=len, reverse=True)
    alternatives = [*map(re.escape, words), *([_UID_LIKE] if uid_like else [])]
    return re.compile("|".join(alternatives) if alternatives else r"(?!)", re.IGNORECASE)


def _substitute(text: str, uids: tuple[str, ...], patient_ids: tuple[str, ...], accessions: tuple[str, ...],
                placeholder: bool) -> tuple[str, str]:
    """(``text`` with UIDs, PatientIDs and accession numbers replaced, the same with those removed: what is left
    to look for names and dates in; NUL stands for a removed identifier and matches no name)."""
    for uid in sorted({u for u in uids if u}, key=len, reverse=True):
        if uid in text:
            text = text.replace(uid, UID_PLACEHOLDER)
    if "." in text:
        text = UID_TOKEN.sub(UID_PLACEHOLDER, text)
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




_RUNS = re.compile(re.escape(SCRUBBED) + r"(?:[\s^=_\-.,;:/]*" + re.escape(SCRUBBED) + r")+")
_ALNUM = re.compile(r"[^\W_]")


@functools.lru_cache(maxsize=1024)
def scrub_pattern(patient_ids: tuple[str, ...], names: tuple[str, ...],
                  birth_dates: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regular expression for every identifier ``scrub_text`` replaces (cached per identity)."""
    words = {" ".join(v.split()) for v in patient_ids + names} - {""}
    alternatives = [rf"(?<![0-9a-z]){re.escape(w)}(?![0-9a-z])" for w in sorted(words, key=len, reverse=True)]
    alternatives += [rf"(?<![0-9]){re.escape(d)}(?![0-9])" for d in sorted(set(birth_dates), key=len, reverse=True)
                     if d]
    alternatives.append(UID_TOKEN.pattern)  # a UID typed into a description (the file's own, or any other)
    return re.compile("|".join(alternatives), re.IGNORECASE)


def scrub_value(value: Any, pattern: re.Pattern[str] | None) -> tuple[Any, bool]:
    """(scrubbed value, whether anything was found) of any value (only text is scrubbed) with a ``scrub_pattern``;
    see ``scrub_text``."""
    if value is None or pattern is None or not isinstance(value, str):
        return value, False
    return _scrub_cached(value, pattern)


@functools.lru_cache(maxsize=16384)
def _scrub_cached(value: str, pattern: re.Pattern[str]) -> tuple[str | None, bool]:
    """``scrub_value`` of a text (cached: a batch holds the same few descriptions for each patient many times)."""
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
    scrubbed: str | None = scrub_value(value, scrub_pattern(tuple(patient_ids), tuple(names), tuple(birth_dates)))[0]
    return scrubbed
