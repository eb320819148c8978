"""Parquet staging: each batch's de-identified rows are written to a file before they are loaded.

Layout: ``<staging_dir>/<run_id>/batch-000001.parquet``, one file per batch, in ``transform.STAGE_SCHEMA``
(documented there; issue 8 makes it an interchange format). The table written is the table then loaded (not
read back: the same Arrow table in memory), so what is loaded is exactly what is staged. ``write_later`` writes
in a background thread (Parquet's encoding releases the GIL: the main process's 0.26 s of a 20,000-file run
move off its critical path); ``run_etl`` flushes before each group commits, so a committed batch is staged.
The default staging folder is ``<database file>.staging`` beside a DuckDB/SQLite file, else a temporary
folder; the run's folder is removed at the end unless kept.

Staged files stay Parquet (not Arrow IPC): they are an interchange format (``docs/staging-format.md``) that
``--keep-staging`` hands to other tools, and rcdm never reads its own back (a rerun reads the files again).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rcdm.etl.background import BackgroundWriter


class Staging:
    """The staging folder of one run."""

    def __init__(self, base: str | os.PathLike[str] | None, run_id: int, database_path: Path | None = None,
                 keep: bool = False) -> None:
        self._temp: str | None = None
        if base is None:
            if database_path is not None:
                base = database_path.with_name(database_path.name + ".staging")
            else:
                self._temp = tempfile.mkdtemp(prefix="rcdm-staging-")
                base = self._temp
        self.base = Path(base)
        self.folder = self.base / str(run_id)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.keep = keep
        self._writer = BackgroundWriter("rcdm-staging")

    def path(self, batch_number: int) -> Path:
        return self.folder / f"batch-{batch_number:06d}.parquet"

    def write(self, batch_number: int, table: pa.Table) -> Path:
        """Write atomically (a temporary name, then rename), so a file present is a complete batch."""
        target = self.path(batch_number)
        partial = target.with_suffix(".parquet.part")
        pq.write_table(table, partial)
        os.replace(partial, target)
        return target

    def write_later(self, batch_number: int, table: pa.Table) -> None:
        """``write`` in the background (in order); ``flush`` waits for it and raises its error, if any."""
        self._writer.submit(self.write, batch_number, table)

    def flush(self) -> list[Path]:
        """Wait for the batches written in the background; their paths."""
        return self._writer.flush()

    def close(self) -> None:
        """Wait for the writes in flight, then remove the run's files unless kept (and the temporary base
        folder if rcdm made it). A write's error is not raised here: ``run_etl`` flushes before every group it
        loads, so writes still pending belong to a run that already failed (its own error is the one to see)."""
        self._writer.shutdown()
        if self.keep:
            return
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
        else:
            try:
                self.base.rmdir()  # only if empty
            except OSError:
                pass
