"""The DICOM half of the ETL: read headers fast, derive R-CDM values, de-identify, make sample corpora.

No database code lives here: these modules turn files into small picklable records and plain values.
"""

from __future__ import annotations

from rcdm.dicom.reader import (
    QUARANTINE_REASONS,
    SKIP_REASONS,
    DicomQuarantine,
    DicomSkip,
    HeaderRecord,
    Rejected,
    read_header,
    read_headers,
    record_from_dataset,
)

__all__ = [
    "QUARANTINE_REASONS",
    "SKIP_REASONS",
    "DicomQuarantine",
    "DicomSkip",
    "HeaderRecord",
    "Rejected",
    "read_header",
    "read_headers",
    "record_from_dataset",
]
