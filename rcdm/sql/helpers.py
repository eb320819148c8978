"""SqlRender's name helpers (``snakeCaseToCamelCase`` and friends), used to pass R-style names to Python."""

from __future__ import annotations

import re


def snake_case_to_camel_case(name: str) -> str:
    """``cdm_database_schema`` -> ``cdmDatabaseSchema``; ``EXPOSURE_ID_1`` -> ``exposureId1``."""
    name = name.lower()
    name = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
    return re.sub(r"_([0-9])", r"\1", name)


def camel_case_to_snake_case(name: str) -> str:
    """``cdmDatabaseSchema`` -> ``cdm_database_schema``; ``exposureId1`` -> ``exposure_id_1``."""
    name = re.sub(r"([A-Z])", r"_\1", name)
    name = re.sub(r"([a-z])([0-9])", r"\1_\2", name)
    return name.lower()


def camel_case_to_title_case(name: str) -> str:
    """``cdmDatabaseSchema`` -> ``Cdm Database Schema``; ``exposureId1`` -> ``Exposure Id 1``."""
    name = re.sub(r"([A-Z])", r" \1", name)
    name = re.sub(r"([a-z])([0-9])", r"\1 \2", name)
    return name[:1].upper() + name[1:]
