"""De-identification: keyed hashes of DICOM UIDs, the site secret, and the PatientID → person_id map.

UIDs never reach the database: a UID becomes ``hmac_hex`` (64 hex characters, for the ``*_source_value``
columns) and ``hmac_id`` (a positive 63-bit integer, for BIGINT id columns), both keyed with the site
secret, so they are stable across reloads at one site and cannot be reversed or matched across sites.
PatientID is used only inside ``PersonMap.lookup``; nothing else in rcdm reads it.
"""

from __future__ import annotations

import csv
import hmac
import os
import secrets
import warnings
from pathlib import Path

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


def hmac_digest(secret: bytes, value: str | bytes, purpose: str = "") -> bytes:
    """HMAC-SHA256 of ``value`` under ``secret``; ``purpose`` (e.g. "sop") separates id spaces.

    A ``str`` is hashed as its UTF-8 bytes (``text_bytes``: an undecodable file-name byte is hashed as that
    byte, so a path that is not valid UTF-8 never makes this raise); ``bytes`` are hashed as they are.
    """
    if not secret:
        raise SecretError("an empty secret would make the hashes guessable")
    data = value if isinstance(value, bytes) else text_bytes(value)
    message = (purpose.encode("utf-8") + b"\x00" + data) if purpose else data
    return hmac.digest(secret, message, "sha256")  # the one-shot form: OpenSSL in one call, ~2x hmac.new


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
