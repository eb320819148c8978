"""Create and drop the R-CDM and MI-CDM tables from the OHDSI SQL templates under ``inst/ddl/``.

Each model has three templates, as in OHDSI's CommonDataModel: ``<model>_ddl.sql`` (tables, with primary
keys), ``<model>_indices.sql`` and ``<model>_constraints.sql`` (foreign keys, off by default). Creating is
idempotent: tables are created only where missing (``IF OBJECT_ID(...) IS NULL CREATE TABLE``), indexes and
foreign keys only where the database does not have them yet, so a second run changes nothing and loses no rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rcdm.errors import UsageError
from rcdm.identifiers import check_schema
from rcdm.resources import read_template
from rcdm.sql import render, split_sql, translate

MODELS: dict[str, tuple[str, ...]] = {
    "rcdm": ("rcdm",),
    "micdm": ("micdm",),
    "all": ("rcdm", "micdm"),
    "etl": ("etl",),
}
"""Which template sets each ``model`` argument covers (``etl``: the ETL's run and file bookkeeping)."""

TABLES: dict[str, tuple[str, ...]] = {
    "rcdm": ("radiology_occurrence", "radiology_image"),
    "micdm": ("image_occurrence", "image_feature"),
    "etl": ("rcdm_etl_run", "rcdm_etl_file", "rcdm_etl_person"),
}
"""Tables of each template set, parents first (the order of creation; dropping goes the other way)."""

_OBJECT = re.compile(
    r"^\s*(?:IF\s+OBJECT_ID\([^)]*\)\s+IS\s+NULL\s+)?"
    r"(?:CREATE\s+TABLE\s+\S+?\.(?P<table>\w+)"
    r"|CREATE\s+(?:UNIQUE\s+)?(?:NON)?(?:CLUSTERED\s+)?INDEX\s+(?P<index>\w+)\s+ON\s+\S+?\.(?P<itable>\w+)"
    r"|ALTER\s+TABLE\s+\S+?\.(?P<ctable>\w+)\s+ADD\s+CONSTRAINT\s+(?P<constraint>\w+))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DdlStatement:
    """One statement of a DDL template: what it creates, on which table, and its OHDSI SQL."""

    kind: str  # "table", "index" or "foreign_key"
    table: str
    name: str
    sql: str


def _check_model(model: str) -> tuple[str, ...]:
    if model not in MODELS:
        raise UsageError(f"Unknown model {model!r}: use one of {', '.join(MODELS)}")
    return MODELS[model]


def ddl_statements(
    cdm_database_schema: str = "cdm", model: str = "rcdm", indexes: bool = True, foreign_keys: bool = False
) -> list[DdlStatement]:
    """The rendered OHDSI SQL statements that create ``model``'s tables, in the order they must run."""
    check_schema(cdm_database_schema, "cdm_database_schema")
    parts = ["ddl"] + (["indices"] if indexes else []) + (["constraints"] if foreign_keys else [])
    statements = []
    for name in _check_model(model):
        for part in parts:
            if part == "constraints" and name == "etl":
                continue
            sql = render(read_template(f"ddl/{name}_{part}.sql"), cdm_database_schema=cdm_database_schema)
            statements += [_describe(s) for s in split_sql(sql)]
    return statements


def _describe(sql: str) -> DdlStatement:
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    m = _OBJECT.match(body)
    if not m:
        raise UsageError(f"Unexpected statement in a DDL template: {body[:120]!r}")
    if m["table"]:
        return DdlStatement("table", m["table"].lower(), m["table"].lower(), sql)
    if m["index"]:
        return DdlStatement("index", m["itable"].lower(), m["index"].lower(), sql)
    return DdlStatement("foreign_key", m["ctable"].lower(), m["constraint"].lower(), sql)


def get_ddl(
    target_dialect: str = "sql server",
    cdm_database_schema: str = "cdm",
    model: str = "rcdm",
    indexes: bool = True,
    foreign_keys: bool = False,
    temp_emulation_schema: str | None = None,
) -> str:
    """The DDL script for ``model`` translated to ``target_dialect`` (``"sql server"`` gives OHDSI SQL)."""
    statements = ddl_statements(cdm_database_schema, model, indexes, foreign_keys)
    translated = [translate(s.sql + ";", target_dialect, temp_emulation_schema=temp_emulation_schema).strip()
                  for s in statements]
    return "\n".join(t for t in translated if t.strip(" ;")) + "\n"


def create_tables(
    conn: Any,
    cdm_database_schema: str,
    model: str = "rcdm",
    indexes: bool = True,
    foreign_keys: bool = False,
) -> list[dict[str, str]]:
    """Create ``model``'s tables (and indexes, and optionally foreign keys) where they are missing.

    Returns one row per object: ``{"object", "type", "table", "status"}`` with status ``created`` or ``exists``.
    """
    from rcdm.db import create_schema, execute_sql, exists_table

    statements = ddl_statements(cdm_database_schema, model, indexes, foreign_keys)
    create_schema(conn, cdm_database_schema)
    result = []
    known_indexes: dict[str, set[str]] = {}
    for st in statements:
        if st.kind == "table":
            existed = exists_table(conn, cdm_database_schema, st.table)
            if not existed:
                execute_sql(conn, st.sql)
            result.append(_row(st, existed))
            continue
        if st.table not in known_indexes:
            known_indexes[st.table] = _existing_objects(conn, cdm_database_schema, st.table)
        existed = st.name in known_indexes[st.table]
        if not existed and _runs_on(conn, st):
            execute_sql(conn, st.sql)
            result.append(_row(st, False))
        elif existed:
            result.append(_row(st, True))
    return result


def _row(st: DdlStatement, existed: bool) -> dict[str, str]:
    return {"object": st.name, "type": st.kind, "table": st.table, "status": "exists" if existed else "created"}


def _runs_on(conn: Any, st: DdlStatement) -> bool:
    """Whether the statement translates to anything on this connection's dialect (BigQuery has no indexes)."""
    return bool(translate(st.sql, conn.dialect, temp_emulation_schema=conn.temp_emulation_schema).strip())


def _existing_objects(conn: Any, schema: str, table: str) -> set[str]:
    """Names (lower case) of the indexes and foreign keys that ``schema.table`` already has."""
    from rcdm.db import existing_indexes_and_constraints

    return {n.lower() for n in existing_indexes_and_constraints(conn, schema, table)}


def drop_tables(conn: Any, cdm_database_schema: str, model: str = "rcdm") -> list[str]:
    """Drop ``model``'s tables where they exist (children first); returns the names of the dropped tables."""
    from rcdm.db import execute_sql, exists_table

    check_schema(cdm_database_schema, "cdm_database_schema")
    dropped = []
    for name in reversed(_check_model(model)):
        for table in reversed(TABLES[name]):
            if exists_table(conn, cdm_database_schema, table):
                execute_sql(conn, f"DROP TABLE {cdm_database_schema}.{table};")
                dropped.append(table)
    if "rcdm" in _check_model(model):  # the ETL's record of what it loaded goes with the rows it describes
        for table in ETL_STATE:
            if exists_table(conn, cdm_database_schema, table):
                execute_sql(conn, f"DELETE FROM {cdm_database_schema}.{table};")
    return dropped


ETL_STATE = ("rcdm_etl_file", "rcdm_etl_person", "rcdm_etl_pending")
"""The ETL bookkeeping emptied when the R-CDM tables are dropped (a next load starts afresh; the run history
in ``rcdm_etl_run`` stays)."""
