"""What both PACS protocols share: the options, the attributes rcdm asks for, and quiet client libraries."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

META_FIELDS = ("PatientName", "PatientBirthDate")
"""Asked for besides the mapped attributes: only to find and scrub the patient's own name and birth date in
the text values (as the file ETL does from the header); never stored."""


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
    """Instances retrieved at once by ``rcdm extract --from`` (parallel WADO-RS requests or associations)."""
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
    """The site-local PACS index file (default: ``pacs_index.sqlite`` beside the site secret)."""
    rescan: bool = False
    """ETL: list the instances of every study again, also of studies a finished run loaded."""

    def __post_init__(self) -> None:
        from rcdm.errors import UsageError

        for name in ("page_size", "concurrency"):
            if int(getattr(self, name)) < 1:
                raise UsageError(f"{name} must be at least 1")
        if self.retries < 0:
            raise UsageError("retries must be 0 or more")
        if self.retrieve not in ("get", "move"):
            raise UsageError(f"retrieve must be 'get' or 'move', not {self.retrieve!r}")


def query_keywords(sequences: bool = True) -> list[str]:
    """The keywords of the attributes the header reader maps (top level; with or without its sequences)."""
    from rcdm.dicom.reader import _WANTED

    out = []
    for spec in _WANTED.values():
        keyword = spec[0] if isinstance(spec, tuple) else spec
        if sequences or not isinstance(spec, tuple):
            out.append(keyword)
    return out


_NOISY = ("dicomweb_client", "pynetdicom", "urllib3", "pydicom")


@contextlib.contextmanager
def quiet_clients() -> Iterator[None]:
    """Silence the loggers of the PACS client libraries (and pydicom's warnings) for the block.

    dicomweb-client logs each request's URL at INFO and pynetdicom each message's identifiers at DEBUG/INFO:
    both hold UIDs (and C-FIND answers hold names), which must never reach a log. Restored afterwards."""
    from rcdm.dicom.reader import quiet_pydicom

    loggers = [logging.getLogger(name) for name in _NOISY]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        with quiet_pydicom():
            yield
    finally:
        for lg, was in zip(loggers, before):
            lg.disabled = was


__all__ = ["META_FIELDS", "PacsOptions", "query_keywords", "quiet_clients"]
