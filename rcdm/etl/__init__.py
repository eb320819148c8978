"""The ETL: walk DICOM files, read headers in worker processes, de-identify, stage as Parquet, bulk-load.

Modules, one job each: ``discover`` (stream file paths), ``transform`` (a batch of files → de-identified Arrow
rows; runs in the workers), ``executor`` (process pool, bounded and ordered), ``stage`` (Parquet staging files),
``load`` (one transaction per batch), ``lock`` (one run per schema), ``run`` (``run_etl``, the whole pipeline).
"""

from __future__ import annotations

from rcdm.etl.run import SUMMARY_KEYS, run_etl

__all__ = ["SUMMARY_KEYS", "run_etl"]
