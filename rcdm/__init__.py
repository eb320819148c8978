"""rcdm: the Radiology Common Data Model (R-CDM) for OHDSI sites.

``import rcdm`` (or ``reticulate::import("rcdm")`` from R) gives the whole public API: the SqlRender-compatible
SQL engine, the database layer, the DDL, the ETL, protocol mapping, cohorts, extraction and network studies.

The root is lazy (as sqlglot's): a name is imported from its module on first use (``__getattr__``), so
``import rcdm`` and ``rcdm --help`` load no database driver, pandas or pyarrow. Submodules import each other
directly (``from rcdm.db import connect``), never through this root, and read the version from the leaf
``rcdm._version``: no import cycle passes through here (tests/test_architecture.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rcdm._version import __version__

_EXPORTS: dict[str, str] = {
    # errors
    "DatabaseError": "rcdm.errors",
    "IdentifierError": "rcdm.errors",
    "LockError": "rcdm.errors",
    "MissingDriverError": "rcdm.errors",
    "RcdmError": "rcdm.errors",
    "SqlRenderError": "rcdm.errors",
    "TranslationError": "rcdm.errors",
    "UnsupportedDialectError": "rcdm.errors",
    "UsageError": "rcdm.errors",
    # the SQL engine
    "get_temp_table_prefix": "rcdm.sql",
    "list_supported_dialects": "rcdm.sql",
    "load_render_translate": "rcdm.sql",
    "render": "rcdm.sql",
    "render_translate": "rcdm.sql",
    "split_sql": "rcdm.sql",
    "translate": "rcdm.sql",
    "translate_single_statement": "rcdm.sql",
    # the database layer and the DDL
    "connect": "rcdm.db",
    "execute_sql": "rcdm.db",
    "exists_table": "rcdm.db",
    "insert_table": "rcdm.db",
    "query_sql": "rcdm.db",
    "create_tables": "rcdm.ddl",
    "drop_tables": "rcdm.ddl",
    "get_ddl": "rcdm.ddl",
    # ETL and its report
    "run_etl": "rcdm.etl",
    "format_report": "rcdm.report",
    "quality_report": "rcdm.report",
    # protocols
    "load_athena": "rcdm.protocols.store",
    "load_playbook": "rcdm.protocols.store",
    "load_stcm": "rcdm.protocols.store",
    "matcher_from_database": "rcdm.protocols.store",
    "map_studies": "rcdm.protocols.remap",
    "remap": "rcdm.protocols.remap",
    "export_unmapped": "rcdm.protocols.unmapped",
    "populate_micdm": "rcdm.protocols.micdm",
    # OMOP data, cohorts, extraction, studies
    "load_cdm_csv": "rcdm.cdm_csv",
    "generate_cohort": "rcdm.cohort",
    "count_cohort_images": "rcdm.extract",
    "get_cohort_images": "rcdm.extract",
    "merge_results": "rcdm.study",
    "run_study": "rcdm.study",
    # the options the command, the API and R share
    "EtlOptions": "rcdm.options",
    "ImageCriteria": "rcdm.options",
    "StudyOptions": "rcdm.options",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """An exported name from its module, or a submodule (``rcdm.errors``), imported on first use."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module 'rcdm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing is imported at run time
    from rcdm.cdm_csv import load_cdm_csv
    from rcdm.cohort import generate_cohort
    from rcdm.db import connect, execute_sql, exists_table, insert_table, query_sql
    from rcdm.ddl import create_tables, drop_tables, get_ddl
    from rcdm.errors import (
        DatabaseError,
        IdentifierError,
        LockError,
        MissingDriverError,
        RcdmError,
        SqlRenderError,
        TranslationError,
        UnsupportedDialectError,
        UsageError,
    )
    from rcdm.etl import run_etl
    from rcdm.extract import count_cohort_images, get_cohort_images
    from rcdm.protocols.micdm import populate_micdm
    from rcdm.protocols.remap import map_studies, remap
    from rcdm.protocols.store import load_athena, load_playbook, load_stcm, matcher_from_database
    from rcdm.protocols.unmapped import export_unmapped
    from rcdm.report import format_report, quality_report
    from rcdm.sql import (
        get_temp_table_prefix,
        list_supported_dialects,
        load_render_translate,
        render,
        render_translate,
        split_sql,
        translate,
        translate_single_statement,
    )
    from rcdm.study import merge_results, run_study
