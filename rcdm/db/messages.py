"""Error text from drivers, shortened and with the password masked, for DatabaseError messages."""

from __future__ import annotations

import re

import sqlalchemy as sa

STATEMENT_PREVIEW = 300
"""How many characters of a failing statement an error message shows."""


def driver_message(exc: sa.exc.DBAPIError) -> str:
    """The driver's own message, without SQLAlchemy's statement echo and background link."""
    return str(exc.orig if exc.orig is not None else exc).strip()


def error_message(exc: BaseException) -> str:
    """The message of a SQLAlchemy-wrapped or a raw driver / bulk API error."""
    return driver_message(exc) if isinstance(exc, sa.exc.DBAPIError) else str(exc).strip()


def scrub(text: str, password: str | None) -> str:
    """``text`` with the password masked where it stands as a word (so a password "p" leaves "port" alone)."""
    if not password:
        return text
    return re.sub(rf"(?<![\w]){re.escape(password)}(?![\w])", "***", text)


def preview(statement: str) -> str:
    """The statement's first STATEMENT_PREVIEW characters, for an error message."""
    text = statement.strip()
    return text[:STATEMENT_PREVIEW] + " ..." if len(text) > STATEMENT_PREVIEW else text


def driver_errors(engine: sa.Engine) -> tuple[type[BaseException], ...]:
    """The driver's DB-API ``Error`` class, so that driver failures outside SQLAlchemy become DatabaseError."""
    dbapi = getattr(engine.dialect, "loaded_dbapi", None)
    error = getattr(dbapi, "Error", None)
    return (error,) if isinstance(error, type) and issubclass(error, BaseException) else ()
