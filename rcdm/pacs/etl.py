"""The ETL's PACS source: instances listed by QIDO-RS or C-FIND become the same staged rows as files.

``PacsRun.batches`` stands where the file ETL's worker pool stands in ``rcdm.etl.run``: it yields
``(tag, table)`` pairs in the staged format (``rcdm.etl.transform.STAGE_SCHEMA``), built by the same
``image_row`` from the same ``HeaderRecord`` (``record_from_dataset``, pydicom's view of the values), and
de-identified the same way (keyed hashes, text scrubbed of the patient's own id, name and birth date). So a
study loaded from the PACS gives the rows a file ETL of its files gives, but for ``file_path``: an image
from a PACS has no path; it gets ``pacs/<radiology_image_id>.dcm`` (no UID), and the site-local index
(``rcdm.pacs.index``) keeps its UIDs for retrieval.

Resumable by study: a finished run records each study it loaded with the instance count the PACS reported;
the next run skips those studies unless the count changed (``rescan`` reads every study again). A run that
stopped half way records nothing: the next one lists those studies again, and their instances already loaded
(a final status in ``rcdm_etl_file``, keyed by the keyed hash of PACS + SOP Instance UID) are not loaded twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import pyarrow as pa
from pydicom.multival import MultiValue

from rcdm.dicom.reader import record_from_dataset
from rcdm.etl.transform import accession_ids, file_ids, file_key, identity_of, image_row, stage_table
from rcdm.pacs.common import PacsOptions, Unreadable, quiet_clients
from rcdm.pacs.dicomweb import DicomWebClient
from rcdm.pacs.dimse import DimseClient
from rcdm.pacs.index import IndexedInstance, PacsIndex
from rcdm.pacs.url import DicomWebSource, PacsSource, parse_pacs_url


def open_client(source: PacsSource, options: PacsOptions) -> Any:
    """The client of a source: QIDO-RS/WADO-RS or C-FIND/C-GET/C-MOVE."""
    if isinstance(source, DicomWebSource):
        return DicomWebClient(source, options)
    return DimseClient(source, options)


def _text_values(ds: Any, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    values = value if isinstance(value, (list, tuple, MultiValue)) else [value]
    return [str(v) for v in values if str(v)]


def _sop_uid(ds: Any) -> str:
    if isinstance(ds, Unreadable):
        return ds.sop_uid if isinstance(ds.sop_uid, str) else ""
    try:
        return str(ds.get("SOPInstanceUID", "") or "")
    except Exception:  # noqa: BLE001 - a value pydicom cannot decode
        return ""


def instance_row(ds: Any, seq: int, secret: bytes, source_key: str) -> tuple[dict[str, Any], int]:
    """One instance's staged row (status, keys, de-identified values) and whether a text value was scrubbed.

    Never raises for what the PACS sent: an answer that cannot be read (``Unreadable``, or a value that fails
    when the row is built) is quarantined with ``parse_error: <exception class>``, as the file ETL does."""
    sop = _sop_uid(ds)
    key = file_key(f"{source_key}/{sop}" if sop else f"{source_key}/?{seq}", secret)
    row: dict[str, Any] = {"seq": seq, "file_key": key, "file_size": None, "file_mtime_ns": None}
    if isinstance(ds, Unreadable):
        reason = ds.reason
    else:
        try:
            return _loaded_row(ds, row, secret)
        except Exception as exc:  # noqa: BLE001 - one bad answer must not stop the run
            reason = type(exc).__name__
    row.update(status="quarantined", reason=f"parse_error: {reason}", file_path=f"pacs/unreadable/{key[:16]}")
    return row, 0


def _loaded_row(ds: Any, row: dict[str, Any], secret: bytes) -> tuple[dict[str, Any], int]:
    key = row["file_key"]
    record = record_from_dataset(ds)
    if record is None:
        row.update(status="quarantined", reason="missing_uid", file_path=f"pacs/missing_uid/{key[:16]}")
        return row, 0
    names, dates = identity_of(_text_values(ds, "PatientName"), _text_values(ds, "PatientBirthDate"))
    values = image_row(record, secret, names, dates, accession_ids(_text_values(ds, "AccessionNumber")))
    scrubbed = values.pop("phi_scrubbed") > 0
    row.update(values)
    row.update(status="loaded", file_path=f"pacs/{values['radiology_image_id']}.dcm")
    return row, int(scrubbed)


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass
class PacsRun:
    """One ETL run's reading from a PACS (see the module docstring)."""

    address: str
    secret: bytes
    batch_size: int
    options: PacsOptions
    index_path: str
    rescan: bool = False
    source: PacsSource = field(init=False)
    _finished: dict[str, int | None] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.source = parse_pacs_url(self.address, self.options.calling_aet)

    def batches(self, known: Callable[[pa.Array], dict[int, str]],
                final_statuses: tuple[str, ...]) -> Iterator[tuple[dict[str, int], pa.Table]]:
        """Staged batches of about ``batch_size`` instances. ``known(ids)``: the status in ``rcdm_etl_file`` of
        those of ``ids`` an earlier run recorded; an instance with one of ``final_statuses`` is not loaded
        again (its row is counted as unchanged)."""
        with PacsIndex(self.index_path) as index, open_client(self.source, self.options) as client, \
                ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            done = {} if self.rescan else index.done_studies(self.source.key)
            pending: list[Any] = []
            skipped = 0
            studies: list[tuple[str, int | None]] = []
            for chunk in _chunks(client.studies(), 4 * self.options.concurrency):
                wanted = []
                for study_uid, count in chunk:
                    if study_uid in done and done[study_uid] == count:
                        skipped += count or 0
                    else:
                        wanted.append((study_uid, count))
                # the studies' instances are listed ``concurrency`` at a time, and kept in the listing's order
                for study, instances in zip(wanted, pool.map(client.instances, [uid for uid, _ in wanted])):
                    pending.extend(instances)
                    studies.append(study)
                    if len(pending) >= self.batch_size:
                        yield self._batch(pending, skipped, known, final_statuses, index)
                        self._finished.update(studies)
                        pending, skipped, studies = [], 0, []
            if pending or skipped:
                yield self._batch(pending, skipped, known, final_statuses, index)
            self._finished.update(studies)

    def _batch(self, datasets: list[Any], skipped: int, known: Callable[[pa.Array], dict[int, str]],
               final_statuses: tuple[str, ...], index: PacsIndex) -> tuple[dict[str, int], pa.Table]:
        rows, scrubbed, indexed = [], 0, []
        with quiet_clients():
            for ds in datasets:
                row, found = instance_row(ds, len(rows), self.secret, self.source.key)
                rows.append(row)
                scrubbed += found
                if row["status"] == "loaded":  # (a readable data set: its UIDs are plain strings)
                    indexed.append(IndexedInstance(row["radiology_image_id"], self.source.key,
                                                   str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                                                   str(ds.SOPInstanceUID), str(ds.get("SOPClassUID", "")) or None))
        ids = file_ids([row["file_key"] for row in rows])
        statuses = known(ids) if rows else {}
        keys = ids.to_pylist()
        fresh = [row for row, key in zip(rows, keys) if statuses.get(key) not in final_statuses]
        for seq, row in enumerate(fresh):
            row["seq"] = seq
        index.add_instances(indexed)
        again = {row["file_key"] for row, key in zip(rows, keys)
                 if key in statuses and statuses[key] not in final_statuses}
        tag = {"files": len(rows) + skipped, "unchanged": len(rows) - len(fresh) + skipped, "known": len(again),
               "known_keys": again, "final": set()}  # (a PACS instance does not change: none is read again)
        return tag, stage_table(fresh, scrubbed)

    def finish(self) -> None:
        """Record the studies this run loaded in full (call once the run's rows are committed)."""
        if self._finished:
            with PacsIndex(self.index_path) as index:
                index.mark_done(self.source.key, self._finished)


__all__ = ["PacsRun", "instance_row", "open_client"]
