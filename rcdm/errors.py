"""One exception root for rcdm, so callers (CLI, R, viewer) can catch everything rcdm raises in one place.

Messages name what was wrong (the file, line, dialect, identifier) and, where possible, how to fix it.
This module is a leaf: it imports nothing from rcdm.
"""

from __future__ import annotations


class RcdmError(Exception):
    """Root of every error rcdm raises on purpose."""

    exit_code = 1


class UsageError(RcdmError, ValueError):
    """A caller passed an argument that cannot work (bad option value, missing argument)."""

    exit_code = 2


class SqlRenderError(RcdmError, ValueError):
    """A template cannot be rendered: unbalanced braces, a condition SqlRender cannot evaluate."""

    exit_code = 3


class UnsupportedDialectError(UsageError):
    """A dialect name that is not one of SqlRender's names for a supported target."""


class TranslationError(RcdmError, ValueError):
    """OHDSI SQL that cannot be parsed or translated; the message names the line and the text around it."""

    exit_code = 3


class IdentifierError(UsageError):
    """A schema or table name that is not a plain SQL identifier; refused before any SQL runs."""


class MissingDriverError(RcdmError, ImportError):
    """A database driver that is an optional extra is not installed; the message names the extra."""

    exit_code = 4


class DatabaseError(RcdmError):
    """The database refused a statement or could not be reached; the message names the statement."""

    exit_code = 5


class LockError(RcdmError):
    """Another ETL run holds the schema; the message names that run (host, pid, start) and how to proceed."""

    exit_code = 6


class PacsConnectionError(RcdmError):
    """A PACS could not be reached, refused the credentials or AE titles, or failed an operation after the
    retries; the message names the PACS (never a password) and what to check."""

    exit_code = 7
