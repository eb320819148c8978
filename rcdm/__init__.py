"""rcdm: the Radiology Common Data Model (R-CDM) for OHDSI sites.

``import rcdm`` (or ``reticulate::import("rcdm")`` from R) gives the whole public API: the SqlRender-compatible
SQL engine, the database layer and the DDL.
"""

from __future__ import annotations

__version__ = "0.1.0"

from rcdm.errors import (  # noqa: E402
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
from rcdm.sql import (  # noqa: E402
    get_temp_table_prefix,
    list_supported_dialects,
    load_render_translate,
    render,
    render_translate,
    split_sql,
    translate,
    translate_single_statement,
)
from rcdm.db import connect, execute_sql, exists_table, insert_table, query_sql  # noqa: E402
from rcdm.ddl import create_tables, drop_tables, get_ddl  # noqa: E402
from rcdm.report import format_report, quality_report  # noqa: E402
from rcdm.etl import run_etl  # noqa: E402
from rcdm.protocols.store import load_athena, load_playbook, load_stcm, matcher_from_database  # noqa: E402
from rcdm.protocols.remap import map_studies, remap  # noqa: E402
from rcdm.protocols.unmapped import export_unmapped  # noqa: E402
from rcdm.protocols.micdm import populate_micdm  # noqa: E402
from rcdm.cdm_csv import load_cdm_csv  # noqa: E402
from rcdm.cohort import generate_cohort  # noqa: E402
from rcdm.extract import count_cohort_images, get_cohort_images  # noqa: E402
from rcdm.study import merge_results, run_study  # noqa: E402

__all__ = [
    "__version__",
    "connect",
    "count_cohort_images",
    "create_tables",
    "drop_tables",
    "execute_sql",
    "format_report",
    "generate_cohort",
    "get_cohort_images",
    "exists_table",
    "get_ddl",
    "get_temp_table_prefix",
    "insert_table",
    "list_supported_dialects",
    "load_cdm_csv",
    "load_render_translate",
    "merge_results",
    "quality_report",
    "query_sql",
    "render",
    "render_translate",
    "run_etl",
    "load_athena",
    "load_playbook",
    "load_stcm",
    "matcher_from_database",
    "map_studies",
    "remap",
    "export_unmapped",
    "populate_micdm",
    "run_study",
    "split_sql",
    "translate",
    "translate_single_statement",
    "DatabaseError",
    "IdentifierError",
    "LockError",
    "MissingDriverError",
    "RcdmError",
    "SqlRenderError",
    "TranslationError",
    "UnsupportedDialectError",
    "UsageError",
]
