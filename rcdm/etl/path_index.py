"""The site's path index: where each file the ETL recorded really is, kept outside the database.

The database stores de-identified paths only (``rcdm.etl.transform.sanitize_path``: UIDs, accession numbers,
PatientIDs, names and birth dates in folder or file names are replaced by placeholders), so a path column can
be shared with the tables. The real relative paths, which may carry those identifiers, are kept here: a SQLite
file beside the site secret (``<secret file>.paths.sqlite``, mode 0600, never in the database, the staging
files or the logs). Extraction (``rcdm.extract.materialize``) finds an image's file through it, and a rerun
finds the files gone from the archive by it. Like the secret, it stays at the site and is backed up with it;
losing it loses no row and no id, but extraction then falls back to the stored path and the person map (files
named by a UID are not found), and files deleted from the archive are no longer noticed by a rerun (``rcdm etl
--verify`` reports rows whose file the index does not know).

Rows: ``path (root_id, file_id, relative, image_id)``: the archive root (absolute, in ``root``),
``rcdm_etl_file.file_key``, the path relative to the root, and the ``radiology_image_id`` the file gave (NULL
when it loaded none). Paths are
stored as bytes (``os.fsencode``), so file names that are not UTF-8 come back exactly. A row is written before
the database transaction that records its file commits, so a kill -9 leaves at most rows of files the next
run reads again (harmless: extraction checks that a file exists).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from rcdm.dicom.deid import beside_secret, create_private_file
from rcdm.etl.background import BackgroundWriter

SUFFIX = ".paths.sqlite"


def default_location(secret_file: str | os.PathLike[str] | None) -> Path:
    """``<secret file>.paths.sqlite`` (default ``~/.rcdm/site_secret.paths.sqlite``)."""
    return beside_secret(secret_file, SUFFIX)


class PathIndex:
    """An open path index (a context manager; ``close`` when done).

    ``record_later`` writes in a background thread (SQLite releases the GIL), so the index costs the load
    little besides its own disk writes; ``flush`` waits for those writes (``run_etl`` flushes before each group
    commits, so the database never records a file the index does not know)."""

    def __init__(self, location: str | os.PathLike[str], create: bool = True) -> None:
        self.location = Path(location).expanduser()
        if not create and not self.location.is_file():
            raise FileNotFoundError(f"no path index at {self.location}")
        create_private_file(self.location)
        self._db = sqlite3.connect(self.location, timeout=120, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable against a killed process, as needed here
        self._db.execute("CREATE TABLE IF NOT EXISTS root (root_id INTEGER PRIMARY KEY, root BLOB NOT NULL UNIQUE)")
        self._db.execute("CREATE TABLE IF NOT EXISTS path (root_id INTEGER NOT NULL, file_id INTEGER NOT NULL, "
                         "relative BLOB NOT NULL, image_id INTEGER, PRIMARY KEY (root_id, file_id))")
        self._db.execute("CREATE INDEX IF NOT EXISTS path_image ON path (image_id)")
        self._db.commit()
        self._writer = BackgroundWriter("rcdm-path-index")

    def __enter__(self) -> PathIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._writer.shutdown()
            self._db.close()

    def _root_id(self, root: str) -> int:
        key = os.fsencode(root)
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO root (root) VALUES (?)", (key,))
        return int(self._db.execute("SELECT root_id FROM root WHERE root = ?", (key,)).fetchone()[0])

    def record(self, root: str, rows: Iterable[tuple[int, str, int | None]]) -> None:
        """Insert or replace ``(file_id, relative path, image id)`` rows of the archive at ``root``."""
        self.record_later(root, rows)
        self.flush()

    def record_later(self, root: str, rows: Iterable[tuple[int, str, int | None]]) -> None:
        """``record`` in the background (in order); ``flush`` waits for it and raises its error, if any.

        ``rows`` is read in the writer thread too (its rows encoded and sorted there, while the main thread
        waits for the workers): it must not change until ``flush``."""
        self._writer.submit(self._write, root, rows)

    def _write(self, root: str, rows: Iterable[tuple[int, str, int | None]]) -> None:
        values = sorted((int(f), os.fsencode(rel), None if i is None else int(i)) for f, rel, i in rows)
        root_id = self._root_id(root)
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO path (root_id, file_id, relative, image_id) "
                                 "VALUES (?, ?, ?, ?)", ((root_id, f, r, i) for f, r, i in values))

    def flush(self) -> None:
        """Wait for the rows recorded in the background (raises a write's error)."""
        self._writer.flush()

    def under(self, root: str, folders: Iterable[str]) -> Iterator[tuple[int, str]]:
        """``(file_id, relative path)`` of the recorded files of ``root`` inside ``folders`` (relative to the
        root; ``"."`` is the whole archive)."""
        self.flush()
        prefixes = [os.fsencode(f).rstrip(b"/") for f in folders]
        cursor = self._db.execute("SELECT p.file_id, p.relative FROM path p INNER JOIN root r ON r.root_id = "
                                  "p.root_id WHERE r.root = ? ORDER BY p.file_id", (os.fsencode(root),))
        for file_id, relative in cursor.fetchall():
            rel = bytes(relative)
            if any(p in (b"", b".") or rel == p or rel.startswith(p + b"/") for p in prefixes):
                yield int(file_id), os.fsdecode(rel)

    def locate(self, image_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
        """image id → the ``(root, relative path)`` of each file recorded for it (existing or not; latest first)."""
        self.flush()
        found: dict[int, list[tuple[str, str]]] = {}
        ids = sorted({int(i) for i in image_ids})
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for image_id, root, relative in self._db.execute(
                    "SELECT p.image_id, r.root, p.relative FROM path p INNER JOIN root r ON r.root_id = p.root_id "
                    f"WHERE p.image_id IN ({marks}) ORDER BY p.rowid DESC", chunk):
                found.setdefault(int(image_id), []).append((os.fsdecode(bytes(root)), os.fsdecode(bytes(relative))))
        return found
