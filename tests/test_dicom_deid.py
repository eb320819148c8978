"""Keyed hashes, the site secret file, and the person map."""

from __future__ import annotations

import hmac
import os
import random
import stat
import warnings
from pathlib import Path

import pytest

from rcdm.dicom.deid import (
    MissingSecretWarning,
    PersonMapError,
    SecretError,
    hmac_digest,
    hmac_hex,
    hmac_id,
    load_or_create_secret,
    load_person_map,
)
from rcdm.errors import RcdmError

SECRET = b"k" * 32
UID = "1.2.840.113619.2.1.2411.1031152382.365.1.736169244"


def test_hmac_is_deterministic_keyed_and_purpose_separated() -> None:
    assert hmac_hex(SECRET, UID) == hmac_hex(SECRET, UID)
    assert len(hmac_hex(SECRET, UID)) == 64 and int(hmac_hex(SECRET, UID), 16) >= 0
    assert hmac_hex(SECRET, UID) != hmac_hex(b"x" * 32, UID)
    assert hmac_hex(SECRET, UID, "sop") != hmac_hex(SECRET, UID, "series")
    assert UID not in hmac_hex(SECRET, UID)
    with pytest.raises(SecretError):
        hmac_hex(b"", UID)


def test_hmac_digest_is_rfc_2104_hmac_sha256_of_purpose_nul_value() -> None:
    """The precomputed key states (``_keyed_states``) give exactly ``hmac.digest``: keys shorter than, equal to
    and longer than the 64-byte block, with and without a purpose, str (undecodable bytes too), bytes and views."""
    rng = random.Random(19)
    for length in (1, 16, 31, 32, 63, 64, 65, 100, 200):
        secret = rng.randbytes(length)
        for purpose in ("", "sop", "header", "pätient"):
            for value in ("", UID, "naïve\udcff", b"", rng.randbytes(7000), memoryview(rng.randbytes(300))[5:]):
                data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
                message = purpose.encode() + b"\x00" + data if purpose else data
                assert hmac_digest(secret, value, purpose) == hmac.digest(secret, message, "sha256")
                assert hmac_digest(secret, value, purpose) == hmac_digest(secret, value, purpose)  # states unchanged


def test_hmac_id_is_a_positive_63_bit_integer() -> None:
    ids = {hmac_id(SECRET, f"1.2.3.{i}") for i in range(2000)}
    assert len(ids) == 2000
    assert all(0 < i < 2**63 for i in ids)
    assert hmac_id(SECRET, UID) == hmac_id(SECRET, UID)
    assert hmac_id(SECRET, UID) == int(hmac_hex(SECRET, UID)[:16], 16) >> 1


def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "site_secret"
    with pytest.warns(MissingSecretWarning, match="back it up"):
        first = load_or_create_secret(path)
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_or_create_secret(path) == first  # no warning the second time


def test_secret_default_location_under_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.warns(MissingSecretWarning):
        secret = load_or_create_secret()
    assert (tmp_path / ".rcdm" / "site_secret").is_file()
    assert load_or_create_secret(tmp_path / ".rcdm" / "site_secret") == secret


def test_secret_refusals(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    with pytest.raises(SecretError, match="no site secret"):
        load_or_create_secret(path, create=False)
    path.write_text("ab" * 32)
    path.chmod(0o644)
    with pytest.raises(SecretError, match="chmod 600"):
        load_or_create_secret(path)
    path.chmod(0o600)
    assert load_or_create_secret(path) == bytes.fromhex("ab" * 32)
    path.write_text("abcd")
    with pytest.raises(SecretError, match="shorter"):
        load_or_create_secret(path)
    path.write_text("not hex at all")
    with pytest.raises(SecretError, match="hex"):
        load_or_create_secret(path)
    assert issubclass(SecretError, RcdmError)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "map.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_person_map_loads_and_looks_up(tmp_path: Path) -> None:
    pmap = load_person_map(write(tmp_path, "patient_id,person_id\nP001,10\n P002 ,20\n\nP003,30\n"))
    assert len(pmap) == 3
    assert pmap.lookup("P001") == 10
    assert pmap.lookup("P002 ") == 20
    assert pmap.lookup("nobody") is None
    assert pmap.lookup(None) is None
    assert "P001" not in repr(pmap)


def test_person_map_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffpatient_id,person_id\nP1,1\n".encode("utf-8"))
    assert load_person_map(path).lookup("P1") == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "header 'patient_id,person_id'"),
        ("patient,person\nP1,1\n", "header 'patient_id,person_id'"),
        ("person_id,patient_id\n1,P1\n", "header"),
        ("patient_id,person_id\nP1,1\nP1,2\n", "line 3: duplicate patient_id"),
        ("patient_id,person_id\nP1,abc\n", "line 2: person_id must be an integer"),
        ("patient_id,person_id\nP1,1.5\n", "must be an integer"),
        ("patient_id,person_id\nP1,0\n", "between 1 and"),
        ("patient_id,person_id\nP1,1,extra\n", "expected 2 columns"),
        ("patient_id,person_id\n,1\n", "empty patient_id"),
    ],
)
def test_person_map_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PersonMapError, match=message) as info:
        load_person_map(write(tmp_path, text))
    assert "map.csv" in str(info.value)
    assert "P1," not in str(info.value)  # never echo a patient id row


def test_missing_person_map_is_a_usage_error(tmp_path):
    from rcdm.dicom.deid import PersonMapError, load_person_map
    from rcdm.errors import UsageError

    with pytest.raises(PersonMapError, match="No person map at") as exc:
        load_person_map(tmp_path / "nope.csv")
    assert isinstance(exc.value, UsageError) and exc.value.exit_code == 2
