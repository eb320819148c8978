"""DICOMweb: QIDO-RS to list studies and their instances' attributes, WADO-RS to retrieve instances.

Built on ``dicomweb-client`` (its session, URL building and QIDO paging); what it does not offer publicly,
the raw bytes of a retrieved instance, is read from the multipart response here, so a retrieved file holds
exactly the data set bytes the PACS stored. Every request is retried on a dropped connection or a 429/5xx
answer (``retries`` times, with exponential back-off); a 401/403 is reported at once as a credentials error.
dicomweb-client logs every request's URL (with UIDs): its loggers are silenced (``silence_client_loggers``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pydicom import Dataset

from rcdm.errors import MissingDriverError, PacsConnectionError, PacsRetry
from rcdm.pacs.common import (
    META_FIELDS,
    PacsOptions,
    Unreadable,
    query_keywords,
    quiet_clients,
    silence_client_loggers,
    with_retries,
)
from rcdm.pacs.url import DicomWebSource

T = TypeVar("T")

_RETRIABLE = {408, 429, 500, 502, 503, 504}


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


class DicomWebClient:
    """QIDO-RS / WADO-RS against one DICOMweb service."""

    def __init__(self, source: DicomWebSource, options: PacsOptions) -> None:
        try:
            import requests
            from dicomweb_client.api import DICOMwebClient
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise MissingDriverError("DICOMweb sources need dicomweb-client: pip install 'rcdm[pacs]'") from exc
        self.source, self.options = source, options
        silence_client_loggers()
        self._session = requests.Session()
        if source.username is not None:
            self._session.auth = (source.username, source.password or "")
        with quiet_clients():
            self._client = DICOMwebClient(source.url, session=self._session)
            self._client.set_http_retry_params(retry=False)  # retried here, connection errors too

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> DicomWebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` with retries; a PacsConnectionError naming ``what`` and the PACS when it keeps failing."""
        import requests

        def attempt() -> T:
            try:
                return fn()
            except requests.HTTPError as exc:
                status = _status(exc)
                if status in (401, 403):
                    raise PacsConnectionError(
                        f"The DICOMweb service {self.source.display} refused the credentials (HTTP {status}) "
                        f"while {what}: check the user and password (RCDM_PACS_USER / RCDM_PACS_PASSWORD)"
                    ) from None
                if status in _RETRIABLE:
                    raise PacsRetry(f"HTTP {status}") from None
                raise PacsConnectionError(f"The DICOMweb service {self.source.display} answered HTTP {status} "
                                          f"while {what}") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise PacsRetry(type(exc).__name__) from None

        return with_retries(self.options, attempt, lambda why, n: PacsConnectionError(
            f"The DICOMweb service {self.source.display} could not be reached while {what} ({why}, after {n} "
            f"attempts): the next run resumes"))

    def _pages(self, what: str, search: Callable[[int, int], list[Any]]) -> Iterator[list[Any]]:
        """QIDO-RS answers ``page_size`` at a time; a PacsConnectionError when the PACS sends something that is
        not a JSON list, or repeats a page (a PACS that ignores ``offset`` would be listed forever)."""
        offset, size, last = 0, self.options.page_size, None

        def one() -> list[Any]:
            try:
                page = search(offset, size)
            except ValueError:  # JSON that does not decode (an HTML error page, a proxy's answer)
                raise PacsConnectionError(f"The DICOMweb service {self.source.display} answered {what} with "
                                          "something that is not DICOM JSON") from None
            if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
                raise PacsConnectionError(f"The DICOMweb service {self.source.display} answered {what} with "
                                          "JSON that is not a list of DICOM data sets")
            return page

        while True:
            page = self._call(what, one)
            if page and page == last:
                raise PacsConnectionError(f"The DICOMweb service {self.source.display} sent the same page twice "
                                          f"while {what}: it ignores QIDO-RS offsets (try a --page-size larger "
                                          f"than what it lists)")
            yield page
            if len(page) < size:
                return
            offset, last = offset + len(page), page

    def studies(self) -> Iterator[tuple[str, int | None]]:
        """(StudyInstanceUID, NumberOfStudyRelatedInstances) of every study, QIDO-RS paged by ``page_size``.
        A study whose count is not a number gets None (it is then listed again by every run)."""
        fields = ["StudyInstanceUID", "NumberOfStudyRelatedInstances"]
        for page in self._pages("listing studies", lambda offset, size: self._client.search_for_studies(
                offset=offset, limit=size, fields=fields)):
            for item in page:
                uid = _first(item, "0020000D")
                if isinstance(uid, str) and uid:
                    yield uid, _count(_first(item, "00201208"))

    def instances(self, study_uid: str) -> list[Any]:
        """The instances of one study as pydicom Datasets holding the attributes rcdm maps (QIDO-RS, paged);
        an answer pydicom cannot read becomes an ``Unreadable`` (quarantined by the ETL, never printed)."""
        fields = query_keywords() + list(META_FIELDS)
        found: list[Any] = []
        for page in self._pages("listing a study's instances", lambda offset, size: self._client.search_for_instances(
                study_instance_uid=study_uid, offset=offset, limit=size, fields=fields)):
            with quiet_clients():
                for item in page:
                    item.pop("00081190", None)  # RetrieveURL: holds the UIDs, never needed
                    try:
                        found.append(Dataset.from_json(item))
                    except Exception as exc:  # noqa: BLE001 - one bad answer must not stop the run
                        found.append(Unreadable(type(exc).__name__, _first(item, "00080018")))
        return found

    def retrieve(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        """The instance as the PACS stores it (Part 10 bytes, any transfer syntax), by WADO-RS."""
        url = f"{self.source.url}/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"
        headers = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}

        def get() -> bytes:
            response = self._session.get(url, headers=headers, timeout=self.options.timeout)
            response.raise_for_status()
            return _single_part(response.headers.get("Content-Type", ""), response.content)

        return self._call("retrieving an instance", get)


def _first(item: dict[str, Any], tag: str) -> Any:
    """The first value of ``tag`` in a DICOM JSON data set, or None (also when the JSON is not as it should be)."""
    element = item.get(tag)
    values = element.get("Value") if isinstance(element, dict) else None
    return values[0] if isinstance(values, list) and values else None


def _count(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _single_part(content_type: str, body: bytes) -> bytes:
    """The one part of a ``multipart/related`` answer (or the body itself when the server sent it bare)."""
    if not content_type.lower().startswith("multipart/"):
        return body
    boundary = None
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not boundary:
        raise PacsConnectionError("A WADO-RS answer was multipart without a boundary")
    marker = b"--" + boundary.encode()
    parts = [p for p in body.split(marker)[1:] if not p.startswith(b"--")]
    if len(parts) != 1:
        raise PacsConnectionError(f"A WADO-RS answer for one instance had {len(parts)} parts")
    part = parts[0]
    head, sep, data = part.partition(b"\r\n\r\n")
    if not sep:
        raise PacsConnectionError("A WADO-RS answer part had no header end")
    return data[:-2] if data.endswith(b"\r\n") else data


__all__ = ["DicomWebClient"]
