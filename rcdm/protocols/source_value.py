"""The protocol source value convention shared by the ETL, remap, the unmapped export and site mappings.

A study's matching inputs are stored in ``radiology_occurrence.protocol_source_value`` as
``"MODALITY|BODY PART|STUDY DESCRIPTION|SERIES DESCRIPTION|PROTOCOL NAME"`` (``rcdm.dicom.derive``). A site
mapping for one such value is a ``source_to_concept_map`` row with ``source_vocabulary_id = 'RCDM_PROTOCOL'``
and ``source_code = protocol_code(value)``: the value itself when it fits OMOP's ``source_code`` (50
characters), else its first 37 characters, ``#`` and 12 hex digits of its SHA-256 (always 50 characters, the
same everywhere). ``source_code_description`` is free text (the unmapped export puts a readable name there);
a row whose description is the full protocol source value also matches it.
"""

from __future__ import annotations

import hashlib
from typing import Any

PROTOCOL_VOCABULARY = "RCDM_PROTOCOL"
"""``source_vocabulary_id`` of site mappings keyed on a whole protocol source value."""

SOURCE_CODE_LENGTH = 50
"""OMOP CDM 5.4 ``source_to_concept_map.source_code`` is varchar(50)."""

PARTS = ("modality", "body_part", "study_description", "series_description", "protocol_name")
"""The five fields of a protocol source value, in order (``rcdm.dicom.derive.PROTOCOL_FIELDS``)."""


def protocol_code(protocol_source_value: str) -> str:
    """The ``source_code`` of a site mapping for this protocol source value (at most 50 characters)."""
    value = (protocol_source_value or "").strip()
    if len(value) <= SOURCE_CODE_LENGTH:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
    return f"{value[:SOURCE_CODE_LENGTH - 13]}#{digest}"


def split_protocol_source_value(protocol_source_value: str | None) -> dict[str, str]:
    """The five fields of a protocol source value (missing trailing fields are empty)."""
    values = (protocol_source_value or "").split("|")
    values += [""] * (len(PARTS) - len(values))
    head = values[:len(PARTS) - 1]
    tail = "|".join(values[len(PARTS) - 1:])  # a truncated value never has more fields, but be safe
    return dict(zip(PARTS, [v.strip() for v in head] + [tail.strip()]))


def study_from_source_value(protocol_source_value: str | None, contrast: str | None = None,
                            laterality: str | None = None) -> dict[str, Any]:
    """The matcher's study dict for one protocol source value (plus optional image-level evidence).

    ``contrast`` is ``"pre"``/``"post"`` (the images' contrast phase, when all agree) and ``laterality`` a
    DICOM laterality (``L``/``R``/``B``); both may be None.
    """
    parts = split_protocol_source_value(protocol_source_value)
    return {
        "modality": parts["modality"] or None,
        "body_part": parts["body_part"] or None,
        "study_description": parts["study_description"] or None,
        "series_descriptions": [parts["series_description"]] if parts["series_description"] else [],
        "protocol_name": parts["protocol_name"] or None,
        "contrast": contrast or None,
        "laterality": laterality or None,
        "protocol_source_value": protocol_source_value or None,
    }


def readable_name(protocol_source_value: str | None) -> str:
    """A human-readable name for Usagi's ``source_name``: the study description, else the protocol name,
    else the series description, else modality and body part (never empty)."""
    parts = split_protocol_source_value(protocol_source_value)
    for key in ("study_description", "protocol_name", "series_description"):
        if parts[key]:
            return parts[key]
    fallback = " ".join(p for p in (parts["modality"], parts["body_part"]) if p)
    return fallback or (protocol_source_value or "(empty)")
