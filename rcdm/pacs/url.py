"""PACS addresses: ``dicomweb+http(s)://[user[:password]@]host[:port]/path`` and
``dimse://[CALLING@]CALLED@host:port``, parsed into frozen value objects.

A password never has to be written in a URL or on a command line: ``RCDM_PACS_USER`` /
``RCDM_PACS_PASSWORD`` supply them when the URL has none. ``str(source)`` and ``source.display`` never
show the password. ``source.key`` names the PACS in the site-local index (scheme, host, port, path or AE
title), without credentials, so the same PACS reached with other credentials keeps its index.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from rcdm.errors import PacsAddressError

DICOMWEB_SCHEMES = ("dicomweb+http", "dicomweb+https")
DIMSE_SCHEME = "dimse"
DEFAULT_CALLING_AET = "RCDM"
_AET = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII but backslash, 16 at most (PS3.5 AE)


@dataclass(frozen=True)
class DicomWebSource:
    """A DICOMweb service (QIDO-RS, WADO-RS): its base URL and optional HTTP basic credentials."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return "dicomweb:" + self.url.rstrip("/")

    @property
    def display(self) -> str:
        return self.url

    def __str__(self) -> str:
        return self.display


@dataclass(frozen=True)
class DimseSource:
    """A DIMSE peer (C-FIND, C-MOVE, C-GET): its AE title, host and port, and the AE title rcdm calls from."""

    called_aet: str
    host: str
    port: int
    calling_aet: str = DEFAULT_CALLING_AET

    @property
    def key(self) -> str:
        return f"dimse:{self.called_aet}@{self.host}:{self.port}"

    @property
    def display(self) -> str:
        return f"dimse://{self.calling_aet}@{self.called_aet}@{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.display


PacsSource = DicomWebSource | DimseSource


def is_pacs_url(value: object) -> bool:
    """Whether ``value`` is a PACS address (rather than a file or folder path)."""
    if not isinstance(value, str):
        return False
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    return scheme in DICOMWEB_SCHEMES or scheme == DIMSE_SCHEME


def _shown(value: str) -> str:
    """``value`` as an error message may quote it: without the user and password of a URL, or its query."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    for mark in ("?", "#"):
        if mark in rest:
            rest = rest.split(mark, 1)[0] + mark + "***"
    authority, slash, path = rest.partition("/")
    if "@" in authority and scheme.lower() != DIMSE_SCHEME:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path}"


def _aet(value: str, what: str) -> str:
    title = value.strip()
    if not _AET.match(title) or not title:
        raise PacsAddressError(f"Invalid {what} AE title {value!r}: 1 to 16 printable ASCII characters, no backslash.")
    return title


def parse_pacs_url(value: str, calling_aet: str | None = None) -> PacsSource:
    """The source a PACS address names; PacsAddressError (a usage error, exit 2) when it is malformed."""
    if not is_pacs_url(value):
        raise PacsAddressError(f"Not a PACS address: {_shown(value)!r} (use dicomweb+https://host/dicom-web or "
                        "dimse://AET@host:port)")
    scheme, rest = value.split("://", 1)
    scheme = scheme.lower()
    if scheme == DIMSE_SCHEME:
        at = rest.rsplit("@", 1)
        if len(at) != 2:
            raise PacsAddressError("A DIMSE address needs the called AE title: dimse://AET@host:port, "
                                   f"not {_shown(value)!r}")
        titles, address = at
        calling, _, called = titles.rpartition("@")
        host, _, port = address.rstrip("/").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise PacsAddressError("A DIMSE address needs a host and a port: dimse://AET@host:port, "
                                   f"not {_shown(value)!r}")
        return DimseSource(_aet(unquote(called), "called"), host.strip("[]"), int(port),
                           _aet(unquote(calling) if calling else (calling_aet or DEFAULT_CALLING_AET), "calling"))
    parts = urlsplit(scheme.split("+", 1)[1] + "://" + rest)
    if not parts.hostname:
        raise PacsAddressError("A DICOMweb address needs a host: dicomweb+https://host/dicom-web, "
                               f"not {_shown(value)!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise PacsAddressError(f"Invalid port in {_shown(value)!r}: {exc}") from None
    if parts.query or parts.fragment:
        raise PacsAddressError(f"A DICOMweb address has no query string or fragment: {_shown(value)!r} (give "
                               "credentials with RCDM_PACS_USER / RCDM_PACS_PASSWORD)")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if port:
        netloc += f":{port}"
    url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    username = unquote(parts.username) if parts.username else os.environ.get("RCDM_PACS_USER") or None
    password = unquote(parts.password) if parts.password else os.environ.get("RCDM_PACS_PASSWORD") or None
    return DicomWebSource(url, username, password)


__all__ = ["DicomWebSource", "DimseSource", "PacsAddressError", "PacsSource", "is_pacs_url", "parse_pacs_url"]
