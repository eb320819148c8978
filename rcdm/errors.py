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


# --- the site secret and the person map (rcdm.dicom.deid) -------------------------------------------------

class SecretError(UsageError):
    """The site secret file is missing, unreadable, too short or too widely readable."""


class PersonMapError(UsageError):
    """The person map CSV is malformed; the message names the file and line."""


# --- DICOM files the reader will not load (rcdm.dicom.reader) ---------------------------------------------

class DicomRejection(RcdmError):
    """A file ``read_header`` will not load: ``path``, a reason code and an optional detail; picklable."""

    _outcome = ""  # "skipped" or "quarantined", for the message

    def __init__(self, path: str, reason: str, detail: str = "") -> None:
        self.path, self.reason, self.detail = str(path), reason, detail
        super().__init__(f"{path}: {self._outcome} ({reason}){': ' + detail if detail else ''}")

    def __reduce__(self) -> tuple[type[DicomRejection], tuple[str, str, str]]:  # picklable across workers
        return (type(self), (self.path, self.reason, self.detail))


class DicomSkip(DicomRejection):
    """The file is not something to load (not DICOM, a DICOMDIR, empty); ``reason`` is a SKIP_REASONS key."""

    _outcome = "skipped"


class DicomQuarantine(DicomRejection):
    """The file looks like DICOM but cannot be loaded; ``reason`` is a QUARANTINE_REASONS key."""

    _outcome = "quarantined"


class UnusualHeader(RcdmError):
    """Inside the reader: the fast path met something it does not handle; pydicom reads the file instead."""


class TruncatedHeader(RcdmError):
    """Inside the reader: a declared length runs past the end of the file."""


class Part10Error(RcdmError, ValueError):
    """Bytes that are not a DICOM Part 10 file (no ``DICM`` or a broken file meta group)."""


# --- SQL and databases ------------------------------------------------------------------------------------

class StatementError(RcdmError):
    """Inside the translator: a problem in one statement, at ``line`` counted from the statement's first line
    (1-based); ``translate`` turns it into a TranslationError naming the script's line."""

    exit_code = 3

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


class DriverError(RcdmError):
    """A bulk API failed without a DB-API error (e.g. a BigQuery load job); rcdm.db wraps it in DatabaseError."""

    exit_code = 5


class SparkConnectError(DatabaseError):
    """Any error Spark reports: the DB-API ``Error`` of ``rcdm.spark_connect``."""


class SparkConnectDatabaseError(SparkConnectError):
    """DB-API ``DatabaseError`` of ``rcdm.spark_connect``."""


class SparkConnectOperationalError(SparkConnectDatabaseError):
    """DB-API ``OperationalError`` of ``rcdm.spark_connect`` (the session cannot be reached or created)."""


class SparkConnectProgrammingError(SparkConnectDatabaseError):
    """DB-API ``ProgrammingError`` of ``rcdm.spark_connect`` (Spark refused the statement)."""


class SparkConnectInterfaceError(SparkConnectError):
    """DB-API ``InterfaceError`` of ``rcdm.spark_connect`` (a closed connection or cursor)."""


# --- extraction, PACS and the viewer --------------------------------------------------------------------

class MaterializeError(RcdmError):
    """Files could not be copied or linked as asked (a different file in the way, a failed verification)."""


class PacsAddressError(UsageError):
    """A PACS address that cannot work (malformed URL, AE title, missing host or port)."""


class PacsRetry(RcdmError):
    """A PACS failure that a new attempt may fix (a dropped connection, a busy PACS); the message says which."""

    exit_code = 7


class GateFull(RcdmError):
    """More logins are waiting for a password hash than ``HashGate.max_waiting`` (the viewer answers 503)."""


# --- network studies ----------------------------------------------------------------------------------------

class StudySpecError(UsageError):
    """A study specification that is not valid; the message names the field."""


class CohortSqlError(UsageError):
    """Cohort SQL the site has not approved, or that does more than define a cohort; nothing was run."""


class StudyPrivacyError(RcdmError):
    """Content that must not leave a site was found in a study's results; nothing was written."""


class StudyReleaseError(RcdmError):
    """A release refused because its cells could be differenced with an earlier release of the same cohort."""


class StudyMergeError(UsageError):
    """Site results that cannot be merged (different studies, a damaged, hostile or tampered zip)."""


# --- warnings -----------------------------------------------------------------------------------------------

class RcdmWarning(UserWarning):
    """Root of the warnings rcdm gives (warnings are not errors: nothing stops)."""


class SqlRenderWarning(RcdmWarning):
    """A template and its parameters do not fit (e.g. a supplied parameter that the SQL never uses)."""


class MissingSecretWarning(RcdmWarning):
    """A new site secret was created: losing it later makes reloads produce different ids."""
