"""DIMSE: C-FIND (study, series, image level) to list instances, C-GET or C-MOVE to retrieve them (pynetdicom).

One association per thread, opened on first use and opened again after a failure (``retries`` times, with
exponential back-off). C-MOVE sends the instances to rcdm's own storage SCP, started here on ``move_port``
under ``move_aet`` (the PACS must know that AE title, address and port); C-GET receives them on the same
association. Received data sets are kept as the bytes the PACS sent (``rcdm.pacs.part10``). pynetdicom logs
identifiers at DEBUG/INFO: its loggers are silenced (``silence_client_loggers``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from pydicom import Dataset
from pydicom.datadict import dictionary_VR, tag_for_keyword

from rcdm.errors import MissingDriverError, PacsConnectionError, PacsRetry
from rcdm.pacs.common import META_FIELDS, PacsOptions, query_keywords, silence_client_loggers, with_retries
from rcdm.pacs.part10 import part10
from rcdm.pacs.url import DimseSource

T = TypeVar("T")

_PENDING = (0xFF00, 0xFF01)


def _ae_modules():
    try:
        import pynetdicom
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDriverError("DIMSE sources need pynetdicom: pip install 'rcdm[pacs]'") from exc
    return pynetdicom


def _query(level: str, **keys: Any) -> Any:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"  # answers in UTF-8: a PACS answers in its default (Latin-1) else
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        if value is None:
            tag = tag_for_keyword(keyword)
            ds.add_new(tag, dictionary_VR(tag), None)
        else:
            setattr(ds, keyword, value)
    return ds


class DimseClient:
    """C-FIND / C-GET / C-MOVE against one DIMSE peer."""

    def __init__(self, source: DimseSource, options: PacsOptions) -> None:
        self.pynetdicom = _ae_modules()
        silence_client_loggers()
        self.source, self.options = source, options
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._scp: Any = None
        self._received: dict[str, queue.Queue[bytes]] = {}

    # --- associations ------------------------------------------------------------------------------------

    def _new_ae(self, title: str) -> Any:
        ae = self.pynetdicom.AE(ae_title=title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.options.timeout
        ae.connection_timeout = min(self.options.timeout, 30)
        return ae

    def _associate(self, kind: str, sop_classes: tuple[str, ...] = ()) -> Any:
        from pynetdicom import ALL_TRANSFER_SYNTAXES, build_role, evt
        from pynetdicom.sop_class import (
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelGet,
            StudyRootQueryRetrieveInformationModelMove,
        )

        ae = self._new_ae(self.source.calling_aet)
        kwargs: dict[str, Any] = {}
        if kind == "find":
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        elif kind == "move":
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        else:
            ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
            if len(sop_classes) == 1:  # a context per transfer syntax: the PACS sends the stored one, untranscoded
                for syntax in ALL_TRANSFER_SYNTAXES[:120]:
                    ae.add_requested_context(sop_classes[0], syntax)
            else:
                for uid in sop_classes[:120]:
                    ae.add_requested_context(uid, ALL_TRANSFER_SYNTAXES)
            kwargs["ext_neg"] = [build_role(uid, scp_role=True) for uid in sop_classes[:120]]
            kwargs["evt_handlers"] = [(evt.EVT_C_STORE, self._on_store)]
        assoc = ae.associate(self.source.host, self.source.port, ae_title=self.source.called_aet, **kwargs)
        if assoc.is_established:
            return assoc
        titles = (f"check the called AE title ({self.source.called_aet}) and that the PACS accepts the calling AE "
                  f"title ({self.source.calling_aet})")
        if assoc.is_rejected:
            raise PacsConnectionError(f"The PACS {self.source.display} rejected the association: {titles}")
        if assoc.is_aborted:  # some PACS (Orthanc) abort rather than reject an unknown AE title
            raise PacsRetry(f"it aborted the association request: {titles}")
        raise PacsRetry("no association: is the PACS listening at that address and port?")

    def _assoc(self, kind: str, sop_classes: tuple[str, ...] = ()) -> Any:
        key = (kind, sop_classes)
        cached = getattr(self._local, "assocs", None)
        if cached is None:
            cached = self._local.assocs = {}
        assoc = cached.get(key)
        if assoc is None or not assoc.is_established:
            assoc = cached[key] = self._associate(kind, sop_classes)
            with self._lock:
                self._all.append(assoc)
        return assoc

    def _drop(self, kind: str, sop_classes: tuple[str, ...] = ()) -> None:
        assoc = getattr(self._local, "assocs", {}).pop((kind, sop_classes), None)
        if assoc is not None and assoc.is_established:
            assoc.abort()

    def _call(self, what: str, kind: str, fn: Callable[[Any], T], sop_classes: tuple[str, ...] = ()) -> T:
        def attempt() -> T:
            try:
                return fn(self._assoc(kind, sop_classes))
            except PacsRetry:
                self._drop(kind, sop_classes)
                raise

        return with_retries(self.options, attempt, lambda why, n: PacsConnectionError(
            f"The PACS {self.source.display} could not be reached or failed while {what} ({why}, after {n} "
            f"attempts): the next run resumes"))

    def close(self) -> None:
        with self._lock:
            for assoc in self._all:
                if assoc.is_established:
                    assoc.release()
            self._all.clear()
        if self._scp is not None:
            self._scp.shutdown()
            self._scp = None

    def __enter__(self) -> DimseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- C-FIND ------------------------------------------------------------------------------------------

    def _find(self, query: Any, what: str) -> list[Any]:
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

        def run(assoc: Any) -> list[Any]:
            found = []
            for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
                code = getattr(status, "Status", None)
                if code is None:
                    raise PacsRetry("the connection was lost or timed out")
                if code in _PENDING:
                    if identifier is not None:
                        found.append(identifier)
                elif code != 0x0000:
                    raise PacsConnectionError(f"The PACS {self.source.display} answered C-FIND with status "
                                              f"0x{code:04X} while {what}")
            return found

        return self._call(what, "find", run)

    def studies(self) -> Iterator[tuple[str, int | None]]:
        """(StudyInstanceUID, NumberOfStudyRelatedInstances) of every study (C-FIND at study level)."""
        for item in self._find(_query("STUDY", StudyInstanceUID="", NumberOfStudyRelatedInstances=None),
                               "listing studies"):
            uid = str(item.get("StudyInstanceUID", "") or "")
            if uid:
                count = item.get("NumberOfStudyRelatedInstances")
                yield uid, int(count) if count not in (None, "") else None

    def instances(self, study_uid: str) -> list[Any]:
        """The instances of one study with the attributes rcdm maps (C-FIND per series, at image level)."""
        series = [str(s.SeriesInstanceUID) for s in self._find(
            _query("SERIES", StudyInstanceUID=study_uid, SeriesInstanceUID=""), "listing a study's series")
            if s.get("SeriesInstanceUID")]
        wanted = {k: None for k in query_keywords(sequences=False) + list(META_FIELDS)}
        out: list[Any] = []
        for uid in series:
            keys = {**wanted, "StudyInstanceUID": study_uid, "SeriesInstanceUID": uid, "SOPInstanceUID": ""}
            out.extend(self._find(_query("IMAGE", **keys), "listing a series' instances"))
        return out

    # --- C-GET / C-MOVE ----------------------------------------------------------------------------------

    def _on_store(self, event: Any) -> int:
        request = event.request
        sop = str(request.AffectedSOPInstanceUID)
        data = part10(event.encoded_dataset(include_meta=False), str(request.AffectedSOPClassUID), sop,
                      str(event.context.transfer_syntax))
        with self._lock:
            slot = self._received.setdefault(sop, queue.Queue())
        slot.put(data)
        return 0x0000

    def _slot(self, sop_uid: str) -> queue.Queue[bytes]:
        with self._lock:
            return self._received.setdefault(sop_uid, queue.Queue())

    def _start_scp(self) -> None:
        from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt

        with self._lock:
            if self._scp is not None:
                return
            ae = self._new_ae(self.options.move_aet)
            for context in AllStoragePresentationContexts:
                ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
            try:
                self._scp = ae.start_server((self.options.move_host, self.options.move_port), block=False,
                                            evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
            except OSError as exc:
                raise PacsConnectionError(f"rcdm's storage SCP cannot listen on port {self.options.move_port} "
                                          f"for C-MOVE: {exc.strerror}") from None

    def retrieve(self, study_uid: str, series_uid: str, sop_uid: str, sop_class_uid: str | None = None) -> bytes:
        """The instance as Part 10 bytes (``part10``), by C-GET or C-MOVE (``options.retrieve``)."""
        from pynetdicom.sop_class import (
            StudyRootQueryRetrieveInformationModelGet,
            StudyRootQueryRetrieveInformationModelMove,
        )

        query = _query("IMAGE", StudyInstanceUID=study_uid, SeriesInstanceUID=series_uid, SOPInstanceUID=sop_uid)
        slot = self._slot(sop_uid)
        move = self.options.retrieve == "move"
        if move:
            self._start_scp()

        def run(assoc: Any) -> bytes:
            if move:
                answers = assoc.send_c_move(query, self.options.move_aet, StudyRootQueryRetrieveInformationModelMove)
            else:
                answers = assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet)
            last = None
            for status, _identifier in answers:
                last = getattr(status, "Status", None)
                if last is None:
                    raise PacsRetry("the connection was lost or timed out")
            if move and last is not None and (last == 0xA801 or 0xC000 <= last <= 0xCFFF):
                raise PacsConnectionError(
                    f"The PACS {self.source.display} refused the C-MOVE (status 0x{last:04X}): does it know the "
                    f"C-MOVE destination {self.options.move_aet}? Register that AE title with rcdm's address and "
                    f"port {self.options.move_port} on the PACS, or use C-GET (--retrieve get)")
            if last not in (0x0000, 0xB000):
                raise PacsRetry(f"{'C-MOVE' if move else 'C-GET'} status 0x{last:04X}" if last is not None
                              else "no answer")
            try:
                return slot.get(timeout=self.options.timeout)
            except queue.Empty:
                raise PacsRetry("the instance did not arrive") from None

        classes: tuple[str, ...] = ()
        if not move:  # C-GET receives on this association: it must offer the SOP class as a storage SCP
            from pynetdicom import StoragePresentationContexts

            classes = (sop_class_uid,) if sop_class_uid else tuple(
                c.abstract_syntax for c in StoragePresentationContexts[:120])
        try:
            return self._call("retrieving an instance", "move" if move else "get", run, classes)
        finally:
            with self._lock:
                self._received.pop(sop_uid, None)


__all__ = ["DimseClient"]
