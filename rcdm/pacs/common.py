"""What both PACS protocols share: the options, the attributes rcdm asks for, and quiet client libraries."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from rcdm.dicom.reader import _WANTED
from rcdm.errors import PacsRetry, UsageError

META_FIELDS = ("PatientName", "PatientBirthDate", "AccessionNumber")
"""Asked for besides the mapped attributes: only to find and scrub the patient's own name, birth date and
accession number in the text values (as the file ETL does from the header); never stored."""


@dataclass(frozen=True)
class PacsOptions:
    """How rcdm talks to a PACS (all have defaults that suit a hospital PACS; README "From a PACS")."""

    page_size: int = 500
    """QIDO-RS ``limit`` per request (studies, and instances of a study)."""
    retries: int = 4
    """Retries of a failed request or association (dropped connection, 429/5xx) before the run stops."""
    retry_wait: float = 0.5
    """Seconds before the first retry, doubled at each further one (at most 30 s)."""
    timeout: float = 120.0
    """Seconds an HTTP request or a DIMSE answer may take."""
    concurrency: int = 4
    """Requests at once: studies whose instances the ETL lists, instances ``rcdm extract --from`` retrieves
    (parallel HTTP requests, or one DIMSE association per thread)."""
    calling_aet: str = "RCDM"
    """Our AE title for DIMSE (overridden by ``dimse://CALLING@CALLED@host:port``)."""
    retrieve: str = "get"
    """DIMSE retrieval: ``get`` (C-GET, one association) or ``move`` (C-MOVE to our own storage SCP)."""
    move_aet: str = "RCDM"
    """The AE title the PACS knows our storage SCP by (C-MOVE destination)."""
    move_port: int = 11113
    """The port our storage SCP listens on for C-MOVE (the PACS must have it registered for ``move_aet``)."""
    move_host: str = "0.0.0.0"
    """The address our storage SCP binds."""
    index: str | None = None
    """The site-local PACS index file (default: ``<secret file>.pacs.sqlite``, beside the site secret)."""
    rescan: bool = False
    """ETL: list the instances of every study again, also of studies a finished run loaded."""

    def __post_init__(self) -> None:
        for name in ("page_size", "concurrency"):
            if int(getattr(self, name)) < 1:
                raise UsageError(f"{name} must be at least 1")
        if self.retries < 0:
            raise UsageError("retries must be 0 or more")
        if self.retrieve not in ("get", "move"):
            raise UsageError(f"retrieve must be 'get' or 'move', not {self.retrieve!r}")


@dataclass(frozen=True)
class Unreadable:
    """An instance whose attributes the PACS sent in a form that cannot be read: quarantined by the ETL with
    ``reason`` (an exception's class name, never a value); ``sop_uid`` when that much could be read."""

    reason: str
    sop_uid: Any = None


def query_keywords(sequences: bool = True) -> list[str]:
    """The keywords of the attributes the header reader maps (top level; with or without its sequences)."""
    out = []
    for spec in _WANTED.values():
        keyword = spec[0] if isinstance(spec, tuple) else spec
        if sequences or not isinstance(spec, tuple):
            out.append(keyword)
    return out


T = TypeVar("T")
Retry = PacsRetry  # the old name (rcdm.errors.PacsRetry), for callers


def with_retries(options: PacsOptions, fn: Callable[[], T], gave_up: Callable[[str, int], Exception]) -> T:
    """``fn()``, again after each ``PacsRetry`` (``options.retries`` times, waits doubling from ``retry_wait``
    up to 30 s); then ``gave_up(the last PacsRetry's message, attempts)`` is raised. Other errors pass at once."""
    attempt = 0
    while True:
        try:
            with quiet_clients():
                return fn()
        except PacsRetry as exc:
            if attempt >= options.retries:
                raise gave_up(str(exc), attempt + 1) from None
        attempt += 1
        time.sleep(min(options.retry_wait * 2 ** (attempt - 1), 30.0))


_NOISY = ("dicomweb_client", "pynetdicom", "retrying", "urllib3.connectionpool")


def silence_client_loggers() -> None:
    """Keep the PACS client libraries from logging, for the rest of the process.

    dicomweb-client logs each request's URL (with its UIDs) at INFO and, through ``retrying``, failed
    requests at WARNING; urllib3 logs each URL at DEBUG and retries with their path; pynetdicom logs every
    message's identifiers (UIDs, names, PatientIDs) at INFO/DEBUG,
    from its association threads. None of that may reach a log, so their loggers (children included: the
    level is inherited) are set above CRITICAL and stop propagating, once, when a PACS client is made.
    rcdm's own logger says what happened, without identifiers."""
    for name in _NOISY:
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: tuple[bool, list] = (False, [])


@contextlib.contextmanager
def quiet_clients() -> Iterator[None]:
    """pydicom quiet (no warning, no ``pydicom`` log record) around work on what a PACS sent, from any thread.

    ``rcdm.dicom.reader.quiet_pydicom`` saves and restores per block, which blocks overlapping in threads (the
    retrieval and listing pools) can leave in the wrong state; here the first block to enter silences and the
    last to leave restores, under a lock. The client loggers are silenced as well."""
    global _quiet_depth, _quiet_saved
    silence_client_loggers()
    logger = logging.getLogger("pydicom")
    with _quiet_lock:
        if _quiet_depth == 0:
            _quiet_saved = (logger.disabled, list(warnings.filters))
            logger.disabled = True
            warnings.filterwarnings("ignore", module=r"pydicom(\..*)?$")
            warnings.filterwarnings("ignore", module=r"pynetdicom(\..*)?$")
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                logger.disabled, saved = _quiet_saved
                warnings.filters[:] = saved
                warnings._filters_mutated()  # type: ignore[attr-defined]  # as warnings.catch_warnings does


__all__ = ["META_FIELDS", "PacsOptions", "Retry", "Unreadable", "query_keywords", "quiet_clients",
           "silence_client_loggers", "with_retries"]
