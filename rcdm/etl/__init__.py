"""The ETL: walk DICOM files, read headers in worker processes, de-identify, stage as Parquet, bulk-load.

Modules, one job each: ``discover`` (stream file paths), ``transform`` (a batch of files → de-identified Arrow
rows; runs in the workers), ``executor`` (process pool, bounded and ordered), ``forkserver`` (how the workers
start: a server that imports the reader once, started by ``rcdm etl`` before its own imports; ``preload``,
what it imports), ``start`` (a run's arguments, its walk as batches, what it does before its database is
open), ``stage`` (Parquet staging files), ``load`` (one transaction per batch), ``lock`` (one run per schema),
``run`` (``run_etl``, the whole pipeline).

Lazy, as the package root: ``run_etl`` and ``SUMMARY_KEYS`` are imported from ``run`` on first use, so a worker
process that imports ``rcdm.etl.transform`` does not load the database layer (SQLAlchemy, pandas: ~1 s of
start-up a worker).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["SUMMARY_KEYS", "run_etl"]


def __getattr__(name: str) -> Any:
    """``run_etl`` or ``SUMMARY_KEYS`` from ``rcdm.etl.run``, imported on first use."""
    if name in __all__:
        value = getattr(importlib.import_module("rcdm.etl.run"), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'rcdm.etl' has no attribute {name!r}")


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing is imported at run time
    from rcdm.etl.run import SUMMARY_KEYS, run_etl
