"""Generate a cohort without ATLAS: render, translate and run a cohort definition exported from ATLAS as OHDSI SQL.

ATLAS ("Export" → "SQL") and CohortGenerator write cohort SQL with the parameters ``@cdm_database_schema``,
``@vocabulary_database_schema``, ``@target_database_schema``, ``@target_cohort_table``, ``@target_cohort_id``
and ``@results_database_schema``. ``generate_cohort`` fills them in, creates the cohort table where it is
missing (``inst/sql/sql_server/CreateCohortTable.sql``), removes earlier rows of the same cohort id (so a
re-run replaces, never duplicates) and runs the script on the connection's dialect.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from rcdm.db import create_schema, execute_sql, exists_table, query_sql
from rcdm.errors import UsageError
from rcdm.identifiers import check_identifier, check_schema
from rcdm.resources import read_template
from rcdm.sql import render

_LEFTOVER = re.compile(r"@[A-Za-z_][A-Za-z0-9_.]*")


def _cohort_id(value: Any) -> int:
    """A cohort definition id from an int, an integral float (R passes doubles) or a digit string.

    Ints and digit strings stay exact (64-bit ids beyond 2^53, which a float cannot hold)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"Invalid cohort_definition_id {value!r}: give a whole number.") from None
    if isinstance(value, bool) or not number.is_integer():
        raise UsageError(f"Invalid cohort_definition_id {value!r}: give a whole number.")
    return int(number)


def _sql_text(sql: str | os.PathLike[str]) -> str:
    """The cohort SQL itself: ``sql`` is the text, or a path to a ``.sql`` file."""
    if isinstance(sql, os.PathLike):
        path = Path(sql)
    elif isinstance(sql, str) and "\n" not in sql and len(sql) < 4096 and sql.strip().lower().endswith(".sql"):
        path = Path(sql.strip()).expanduser()
    else:
        if not isinstance(sql, str) or not sql.strip():
            raise UsageError("generate_cohort needs the cohort SQL (text) or the path of a .sql file.")
        return sql
    if not path.is_file():
        raise UsageError(f"No such cohort SQL file: {path}")
    return path.read_text(encoding="utf-8")


def create_cohort_table(conn: Any, cohort_database_schema: str, cohort_table: str = "cohort") -> bool:
    """Create ``cohort_database_schema.cohort_table`` (the OHDSI cohort table) if missing; True if created."""
    check_schema(cohort_database_schema, "cohort_database_schema")
    check_identifier(cohort_table, "cohort table name")
    create_schema(conn, cohort_database_schema)
    if exists_table(conn, cohort_database_schema, cohort_table):
        return False
    execute_sql(conn, read_template("CreateCohortTable.sql"), cohort_database_schema=cohort_database_schema,
                cohort_table=cohort_table)
    return True


def generate_cohort(
    conn: Any,
    sql: str | os.PathLike[str],
    cohort_definition_id: int | float | str,
    cdm_database_schema: str,
    target_database_schema: str,
    target_cohort_table: str = "cohort",
    vocabulary_database_schema: str | None = None,
    results_database_schema: str | None = None,
) -> dict[str, Any]:
    """Run an ATLAS-exported cohort definition (OHDSI SQL text, or a path to it) for one cohort id.

    ``vocabulary_database_schema`` defaults to ``cdm_database_schema``, ``results_database_schema`` to
    ``target_database_schema``; temp tables are emulated in the connection's ``temp_emulation_schema`` (Oracle,
    BigQuery, Spark, Snowflake: ``rcdm.connect(..., temp_emulation_schema=...)``).
    Returns ``{"cohort_definition_id", "persons", "entries", "cohort_table",
    "created_table", "seconds"}``. Any ``@parameter`` the script uses besides these is an error, before SQL runs.
    """
    cohort_id = _cohort_id(cohort_definition_id)
    check_schema(cdm_database_schema, "cdm_database_schema")
    check_schema(target_database_schema, "target_database_schema")
    check_identifier(target_cohort_table, "target cohort table name")
    vocabulary_database_schema = check_schema(vocabulary_database_schema or cdm_database_schema,
                                              "vocabulary_database_schema")
    results_database_schema = check_schema(results_database_schema or target_database_schema,
                                           "results_database_schema")
    parameters = {
        "cdm_database_schema": cdm_database_schema,
        "vocabulary_database_schema": vocabulary_database_schema,
        "target_database_schema": target_database_schema,
        "target_cohort_table": target_cohort_table,
        "target_cohort_id": cohort_id,
        "results_database_schema": results_database_schema,
    }
    rendered = render(_sql_text(sql), warn_on_missing_parameters=False, parameters=parameters)
    leftover = sorted(set(_LEFTOVER.findall(_without_comments_and_strings(rendered))))
    if leftover:
        raise UsageError(f"The cohort SQL uses parameters rcdm does not fill: {', '.join(leftover)} "
                         f"(known: {', '.join('@' + p for p in parameters)}).")

    started = time.monotonic()
    created = create_cohort_table(conn, target_database_schema, target_cohort_table)
    execute_sql(conn, "DELETE FROM @s.@t WHERE cohort_definition_id = @id;", s=target_database_schema,
                t=target_cohort_table, id=cohort_id)
    execute_sql(conn, rendered)
    counts = query_sql(
        conn, "SELECT COUNT(DISTINCT subject_id) AS persons, COUNT(*) AS entries FROM @s.@t "
              "WHERE cohort_definition_id = @id;",
        s=target_database_schema, t=target_cohort_table, id=cohort_id)
    return {
        "cohort_definition_id": cohort_id,
        "persons": int(counts["persons"].iloc[0]),
        "entries": int(counts["entries"].iloc[0]),
        "cohort_table": f"{target_database_schema}.{target_cohort_table}",
        "created_table": created,
        "seconds": round(time.monotonic() - started, 3),
    }


def _without_comments_and_strings(sql: str) -> str:
    """The SQL with ``--`` and ``/* */`` comments and quoted strings blanked (for the leftover-parameter check)."""
    return re.sub(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'", " ", sql, flags=re.DOTALL)


__all__ = ["create_cohort_table", "generate_cohort"]
