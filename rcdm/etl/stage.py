"""Parquet staging: each batch's de-identified rows are written to a file before they are loaded.

Layout: ``<staging_dir>/<run_id>/batch-000001.parquet``, one file per batch, in ``transform.STAGE_SCHEMA``
(documented there; issue 8 makes it an interchange format). The table written is the table then loaded (not
read back: the same Arrow table in memory), so what is loaded is exactly what is staged. The default staging
folder is ``<database file>.staging`` beside a DuckDB/SQLite file, else a temporary folder; the run's folder
is removed at the end unless kept.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


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

    def path(self, batch_number: int) -> Path:
        return self.folder / f"batch-{batch_number:06d}.parquet"

    def write(self, batch_number: int, table: pa.Table) -> Path:
        """Write atomically (a temporary name, then rename), so a file present is a complete batch."""
        target = self.path(batch_number)
        partial = target.with_suffix(".parquet.part")
        pq.write_table(table, partial)
        os.replace(partial, target)
        return target

    def close(self) -> None:
        """Remove the run's files unless kept (and the temporary base folder if rcdm made it)."""
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
