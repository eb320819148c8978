"""The site-local PACS index: what rcdm needs to retrieve an instance later, kept outside the database.

The R-CDM tables hold no UID (only keyed hashes), so to fetch a cohort's images from a PACS the site keeps
this small SQLite file beside its site secret (``<secret file>.pacs.sqlite``, default
``~/.rcdm/site_secret.pacs.sqlite``, mode 0600): for each
``radiology_image_id`` the PACS it came from and its Study/Series/SOP Instance UIDs, and for each study
whether a finished ETL run loaded it (and how many instances the PACS reported then), so a rerun resumes by
study and re-reads a study only when its instance count changed. It is as sensitive as the archive itself:
never copy it off site. Deleting it costs a full rescan at the next ETL run, nothing else.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rcdm.dicom.deid import beside_secret, create_private_file
from rcdm.errors import UsageError

SUFFIX = ".pacs.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instance (
    radiology_image_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    sop_uid TEXT NOT NULL,
    sop_class_uid TEXT,
    PRIMARY KEY (radiology_image_id, source)
);
CREATE TABLE IF NOT EXISTS study (
    source TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    instances INTEGER,
    PRIMARY KEY (source, study_uid)
);
"""


@dataclass(frozen=True)
class IndexedInstance:
    """Where one image lives in a PACS."""

    radiology_image_id: int
    source: str
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str | None


def default_index_path(secret_file: str | os.PathLike[str] | None) -> Path:
    """``<secret file>.pacs.sqlite``, beside the site secret (as the ETL's path index)."""
    return beside_secret(secret_file, SUFFIX)


class PacsIndex:
    """The index file, opened (and created, mode 0600) on construction; use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], create: bool = True) -> None:
        self.path = Path(path).expanduser()
        if not self.path.exists():
            if not create:
                raise UsageError(f"No PACS index at {self.path}: run 'rcdm etl' from the PACS first (with the "
                                 "same --secret-file or --pacs-index)")
            create_private_file(self.path)
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.executescript(_SCHEMA)

    def __enter__(self) -> PacsIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def add_instances(self, rows: Iterable[IndexedInstance]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO instance VALUES (?, ?, ?, ?, ?, ?)",
                                 [(r.radiology_image_id, r.source, r.study_uid, r.series_uid, r.sop_uid,
                                   r.sop_class_uid) for r in rows])

    def done_studies(self, source: str) -> dict[str, int | None]:
        """Study UID → instance count, for the studies a finished run loaded from ``source``."""
        return dict(self._db.execute("SELECT study_uid, instances FROM study WHERE source = ?", (source,)))

    def mark_done(self, source: str, studies: dict[str, int | None]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO study VALUES (?, ?, ?)",
                                 [(source, uid, n) for uid, n in studies.items()])

    def lookup(self, image_ids: Iterable[int], source: str | None = None) -> dict[int, IndexedInstance]:
        """The indexed instances of ``image_ids`` (of ``source`` when given; else of any PACS)."""
        ids = [int(i) for i in image_ids]
        found: dict[int, IndexedInstance] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT * FROM instance WHERE radiology_image_id IN ({marks})"
            params: list[object] = list(chunk)
            if source is not None:
                query += " AND source = ?"
                params.append(source)
            for row in self._db.execute(query, params):
                found.setdefault(int(row[0]), IndexedInstance(*row))
        return found


__all__ = ["SUFFIX", "IndexedInstance", "PacsIndex", "default_index_path"]
