"""Export what is left to map: the distinct unmapped protocol source values, most images first (the work a
mapping saves is proportional to the images it labels; then most studies), as a CSV that
OHDSI Usagi imports directly (File → Import codes).

Columns, in order: ``source_code`` (``protocol_code(protocol_source_value)``, at most 50 characters, the key
``source_to_concept_map`` needs), ``source_name`` (a readable name Usagi searches on: the study description,
else the protocol name, series description, modality and body part), ``source_frequency`` (studies), then
"additional info" columns for the reviewer: ``modality, body_part, study_description, series_description,
protocol_name, studies, images, protocol_source_value``. In Usagi's import dialog pick them as source code,
source name, source frequency and additional info. Usagi's "Export source_to_concept_map" (source vocabulary
id ``RCDM_PROTOCOL``) gives back a file ``rcdm vocab load-stcm`` loads, and the next ``rcdm vocab remap``
applies (see vocab/README.md).

Values a valid ``RCDM_PROTOCOL`` site mapping already decides (e.g. target 0, "never map") are not listed again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rcdm.db import query_sql
from rcdm.identifiers import check_schema
from rcdm.protocols.source_value import PROTOCOL_VOCABULARY, protocol_code, readable_name, split_protocol_source_value
from rcdm.protocols.stcm import source_key
from rcdm.protocols.store import read_site_mappings, require_rcdm_tables
from rcdm.resources import read_template

COLUMNS = ("source_code", "source_name", "source_frequency", "modality", "body_part", "study_description",
           "series_description", "protocol_name", "studies", "images", "protocol_source_value")
"""The columns of the export, in order."""


def unmapped_protocols(conn: Any, cdm_database_schema: str) -> pd.DataFrame:
    """The ranked export as a DataFrame (``COLUMNS``): most images first, then most studies, then by value."""
    check_schema(cdm_database_schema, "cdm_database_schema")
    require_rcdm_tables(conn, cdm_database_schema)
    frame = query_sql(conn, read_template("GetUnmappedProtocols.sql"), cdm_database_schema=cdm_database_schema)
    decided = set()
    for m in read_site_mappings(conn, cdm_database_schema, [PROTOCOL_VOCABULARY]):
        if m.is_valid():
            decided.add(source_key(m.source_code))
            decided.add(source_key(m.source_code_description))
    rows = []
    for psv, studies, images in zip(frame["protocol_source_value"], frame["studies"], frame["images"]):
        psv = str(psv)
        code = protocol_code(psv)
        if source_key(code) in decided or source_key(psv) in decided:
            continue
        parts = split_protocol_source_value(psv)
        rows.append({"source_code": code, "source_name": readable_name(psv)[:255], "source_frequency": int(studies),
                     "modality": parts["modality"], "body_part": parts["body_part"],
                     "study_description": parts["study_description"],
                     "series_description": parts["series_description"], "protocol_name": parts["protocol_name"],
                     "studies": int(studies), "images": int(images or 0), "protocol_source_value": psv})
    rows.sort(key=lambda r: (-r["images"], -r["studies"], r["protocol_source_value"]))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def export_unmapped(conn: Any, cdm_database_schema: str, out_file: str | Path) -> pd.DataFrame:
    """Write the ranked unmapped protocol source values to ``out_file`` (UTF-8 CSV for Usagi); return them."""
    frame = unmapped_protocols(conn, cdm_database_schema)
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, encoding="utf-8", lineterminator="\n")
    return frame


__all__ = ["COLUMNS", "export_unmapped", "unmapped_protocols"]
