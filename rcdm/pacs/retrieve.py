"""A cohort's images from the PACS: WADO-RS, C-GET or C-MOVE into the file copy's folder layout.

``retrieve_images`` is ``rcdm.extract.materialize`` for images that live in a PACS: the same layout
(``person_<id>/study_<id>/series_<id>/<file name>``, ``rcdm.extract.relative_paths``), the same manifest
(written by the caller), the same rules (an existing identical file is done, so a rerun resumes; a different
file in the way is never overwritten). Each image is found in the site-local PACS index by its
``radiology_image_id`` (the database has no UIDs), fetched with retries, ``concurrency`` at a time, checked
(a DICOM file of the SOP Instance UID asked for) and moved into place from a partial file. Files hold the
data set bytes the PACS sent under rcdm's own file meta group (``rcdm.pacs.part10``), so WADO-RS, C-GET and
C-MOVE give the same file. A PACS that stops answering ends the run with a PacsConnectionError (exit 7)
after the retries; what was written stays, and the next run fetches the rest.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from rcdm.errors import MaterializeError, Part10Error
from rcdm.extract import relative_paths
from rcdm.pacs.common import PacsOptions, quiet_clients
from rcdm.pacs.etl import open_client
from rcdm.pacs.index import IndexedInstance, PacsIndex, default_index_path
from rcdm.pacs.part10 import canonical_part10, split_part10
from rcdm.pacs.url import DicomWebSource, parse_pacs_url


def _holds(path: Path, sop_uid: str) -> bool:
    """Whether ``path`` is a Part 10 file of ``sop_uid`` written by rcdm (a finished earlier retrieval)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
        meta, _ = split_part10(head)
    except (OSError, Part10Error):
        return False
    return meta.get("sop_instance_uid") == sop_uid


def _fetch(client: Any, item: IndexedInstance, web: bool) -> bytes | None:
    """The instance's file; None when the PACS answered with something else (not a DICOM file, or another
    instance than the one asked for): that image is listed as failed, the others go on."""
    try:
        if web:
            data = canonical_part10(client.retrieve(item.study_uid, item.series_uid, item.sop_uid))
        else:
            data = client.retrieve(item.study_uid, item.series_uid, item.sop_uid, item.sop_class_uid)
        meta, _ = split_part10(data)
    except Part10Error:
        return None
    return data if meta.get("sop_instance_uid") == item.sop_uid else None


def _write(dst: Path, data: bytes) -> None:
    partial = dst.with_name(f".{dst.name}.rcdm-partial")
    with open(partial, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, dst)


def retrieve_images(
    df: pd.DataFrame,
    address: str,
    out_dir: str | os.PathLike[str],
    options: PacsOptions | None = None,
    index_path: str | os.PathLike[str] | None = None,
    progress: bool | Callable[[int, int], Any] = False,
) -> dict[str, Any]:
    """Fetch each image of ``df`` (``get_cohort_images`` rows) from the PACS at ``address`` into ``out_dir``.

    Returns ``{"mode", "out_dir", "images", "retrieved", "skipped", "unresolved", "failed", "bytes"}``;
    ``unresolved`` lists the ``radiology_image_id`` values the index does not place in this PACS (loaded from
    files, or from another PACS), ``failed`` those the PACS answered with something that is not the DICOM file
    asked for (nothing is written for them). ``index_path``: the site-local PACS index (default:
    ``options.index``, else beside the default site secret)."""
    options = options or PacsOptions()
    source = parse_pacs_url(address, options.calling_aet)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    work = df.copy()
    if "relative_path" not in work.columns:
        work["relative_path"] = relative_paths(work)
    images = work.drop_duplicates("radiology_image_id")
    ids = [int(i) for i in images["radiology_image_id"]]
    index_file = index_path or options.index or default_index_path(None)
    with PacsIndex(index_file, create=False) as index:
        found = index.lookup(ids, source.key)
    plan: list[tuple[IndexedInstance, Path]] = []
    unresolved: list[int] = []
    conflicts: list[str] = []
    skipped = 0
    for image_id, relative in zip(ids, images["relative_path"]):
        item = found.get(image_id)
        if item is None:
            unresolved.append(image_id)
            continue
        dst = out / relative
        if dst.is_symlink() or dst.exists():
            if dst.is_file() and not dst.is_symlink() and _holds(dst, item.sop_uid):
                skipped += 1
            else:
                conflicts.append(str(dst))
            continue
        plan.append((item, dst))
    if conflicts:
        shown = "\n  ".join(conflicts[:20]) + ("\n  ..." if len(conflicts) > 20 else "")
        raise MaterializeError(f"{len(conflicts)} file(s) in {out} are not the images they would hold; nothing "
                               f"was overwritten (move them away, or use another --out):\n  {shown}")
    summary: dict[str, Any] = {"mode": "pacs", "out_dir": str(out), "images": len(plan) + skipped,
                               "retrieved": 0, "skipped": skipped, "unresolved": unresolved, "failed": [],
                               "bytes": 0}
    if not plan:
        return summary
    bar = None
    if progress is True:
        bar = tqdm(total=len(plan), desc="Retrieving images", unit="image")
    web = isinstance(source, DicomWebSource)

    def one(item: IndexedInstance, dst: Path) -> int | None:
        data = _fetch(client, item, web)
        if data is None:
            summary["failed"].append(item.radiology_image_id)
            return None
        dst.parent.mkdir(parents=True, exist_ok=True)
        _write(dst, data)
        return len(data)

    try:
        with quiet_clients(), open_client(source, options) as client, \
                ThreadPoolExecutor(max_workers=options.concurrency) as pool:
            pending = {pool.submit(one, item, dst) for item, dst in plan}
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    error = future.exception()
                    if error is not None:
                        for other in pending:
                            other.cancel()
                        raise error
                    if future.result() is None:
                        continue
                    summary["retrieved"] += 1
                    summary["bytes"] += future.result()
                    if bar is not None:
                        bar.update(1)
                    elif callable(progress):
                        progress(summary["retrieved"], len(plan))
    finally:
        if bar is not None:
            bar.close()
    return summary


__all__ = ["retrieve_images"]
