"""Reading what names a database: file paths, SQLAlchemy URLs and DatabaseConnector's connection fields.

Pure parsing, no registry: each backend (``rcdm.db.backends``) builds its own URL from :class:`Fields`;
``rcdm.db.connection`` picks the backend.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from rcdm.errors import UsageError

DEFAULT_DATABASE = "rcdm.duckdb"
"""File name of the embedded DuckDB database used when ``connect`` gets no argument and $RCDM_DATABASE is unset."""

FILE_DIALECTS = ("duckdb", "sqlite")
"""The dialects whose database is a local file (a path is one of these)."""

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
"""File suffixes read as SQLite; any other path is a DuckDB file."""

Target = str | os.PathLike[str] | URL | None
"""What ``connect`` takes as its first argument."""


@dataclass(frozen=True)
class Fields:
    """DatabaseConnector's ``createConnectionDetails`` fields, as one backend's URL builder reads them."""

    server: str
    user: str | None
    password: str | None
    port: int | None
    extra_settings: str | None


class DetailsFields(TypedDict, total=False):
    """The keyword arguments of ``connect`` that :class:`ConnectionDetails` holds."""

    dbms: str | None
    server: str | None
    user: str | None
    password: str | None
    port: int | float | str | None
    extra_settings: str | None
    connection_string: str | None


@dataclass(frozen=True)
class ConnectionDetails:
    """DatabaseConnector's ``createConnectionDetails`` as ``connect`` takes them (``port`` may be a float from R;
    ``connection_string`` a JDBC string or a SQLAlchemy URL)."""

    dbms: str | None = None
    server: str | None = None
    user: str | None = None
    password: str | None = None
    port: int | float | str | None = None
    extra_settings: str | None = None
    connection_string: str | None = None

    def fields(self) -> Fields:
        """The fields a backend builds its URL from (the port checked)."""
        return Fields(self.server or "", self.user, self.password, parse_port(self.port), self.extra_settings)


def parse_port(port: int | float | str | None) -> int | None:
    """Accept 5432, 5432.0 (R numbers) and "5432"."""
    if port is None or port == "":
        return None
    try:
        value = float(port)
    except (TypeError, ValueError):
        raise UsageError(f"Invalid port {port!r}: give a number such as 5432.") from None
    if not value.is_integer() or not 0 < value < 65536:
        raise UsageError(f"Invalid port {port!r}: give a whole number between 1 and 65535.")
    return int(value)


def settings(text: str | None) -> dict[str, str]:
    """``a=1;b=2`` or ``a=1&b=2`` (JDBC extraSettings) → a dict; keys keep their case."""
    if not text:
        return {}
    pairs = [p for p in re.split(r"[;&]", text.lstrip("?;")) if p.strip()]
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"Invalid extra setting {pair!r}: use key=value pairs separated by ';' or '&'.")
        out[key.strip()] = value.strip()
    return out


def lower_settings(text: str | None) -> dict[str, str]:
    """:func:`settings` with lower-case keys (JDBC keys are case-insensitive)."""
    return {k.lower(): v for k, v in settings(text).items()}


def host_database(fields: Fields, dbms: str) -> tuple[str, str]:
    """``host/database`` of the server field, or a clear error naming the expected form."""
    host, sep, database = fields.server.partition("/")
    if not sep or not database:
        raise UsageError(f"For {dbms}, give server as '<host>/<database>' (got {fields.server!r}).")
    return host, database


def credentials(fields: Fields, given: dict[str, str], user_key: str = "user",
                password_key: str = "password") -> tuple[str | None, str | None]:
    """User and password: the ones given to ``connect``, else those a JDBC string holds (taken out of ``given``,
    so they never become URL query parameters)."""
    user = given.pop(user_key, None)
    password = given.pop(password_key, None)
    return fields.user or user, fields.password or password


def jdbc_match(pattern: str, body: str, message: str) -> re.Match[str]:
    """The match of a JDBC string body (case-insensitive) or UsageError(``message``)."""
    m = re.match(pattern, body, re.I)
    if not m:
        raise UsageError(message)
    return m


def url_from_target(target: Target, dbms: str | None) -> URL:
    """A URL from a URL string, a file path, or nothing (the embedded default); not a JDBC string."""
    if isinstance(target, URL):
        return target
    if target is None:
        target = os.environ.get("RCDM_DATABASE") or DEFAULT_DATABASE
    text = os.fspath(target)
    if "://" in text:
        try:
            return make_url(text)
        except sa.exc.ArgumentError as exc:
            raise UsageError(f"Invalid database URL: {exc}") from None
    kind = dbms or ("sqlite" if Path(text).suffix.lower() in SQLITE_SUFFIXES else "duckdb")
    if kind not in FILE_DIALECTS:
        raise UsageError(f"A file path can only be a DuckDB or SQLite database, not {kind!r}: {text!r}.")
    if text == ":memory:":
        return URL.create(kind, database=":memory:")
    return URL.create(kind, database=str(Path(text).expanduser()))


def target_text(target: Target) -> str | None:
    """The target as text when it is a string or path (None for a URL object or nothing)."""
    if target is None or isinstance(target, URL):
        return None
    return os.fspath(target)


def database_file(target: Target) -> Path | None:
    """The local file a DuckDB/SQLite target names (path, URL or the default), or None for servers/memory."""
    text = target_text(target)
    if text is not None and text.startswith("jdbc:"):
        return None
    url = url_from_target(target, None)
    if url.get_backend_name() not in FILE_DIALECTS or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def database_path(url: URL, dialect: str) -> Path | None:
    """The resolved main database file of a DuckDB/SQLite URL; None for servers and in-memory databases."""
    if dialect not in FILE_DIALECTS or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser().resolve()
