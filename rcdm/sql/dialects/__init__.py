"""The targets rcdm translates OHDSI SQL to, registered under SqlRender's names.

Each target is a small module of flags plus the ordered list of transforms (``rcdm.sql.transforms``) that
give OHDSI SQL its meaning there; ``rcdm.sql.translate`` runs them and generates with the sqlglot dialect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from rcdm.sql.dialects import (
    bigquery,
    duckdb,
    oracle,
    postgresql,
    redshift,
    snowflake,
    spark,
    sql_server,
    sqlite,
    synapse,
)


@dataclass(frozen=True)
class Target:
    """One translation target: its SqlRender name, sqlglot dialect, behaviour flags and transforms."""

    name: str
    sqlglot: str
    temp_tables: str  # "hash" (#t kept), "native" (TEMP table), "sqlite" (temp.t), "emulated" (schema.<prefix>t)
    if_exists: str  # "native" (IF [NOT] EXISTS), "object_id" (IF OBJECT_ID(...)), "plsql" (exception block)
    analyze: bool  # UPDATE STATISTICS becomes ANALYZE (else the statement is dropped)
    indexes: bool  # CREATE INDEX is kept (else dropped)
    distribution: str | None  # what --HINT DISTRIBUTE_ON_KEY becomes: "distkey", "synapse" or nothing
    transforms: tuple[Callable[..., Any], ...]


def _target(module: ModuleType) -> Target:
    return Target(
        name=module.NAME,
        sqlglot=module.SQLGLOT_DIALECT,
        temp_tables=module.TEMP_TABLES,
        if_exists=module.IF_EXISTS,
        analyze=module.ANALYZE,
        indexes=module.INDEXES,
        distribution=getattr(module, "DISTRIBUTION", None),
        transforms=tuple(module.TRANSFORMS),
    )


TARGETS: dict[str, Target] = {
    t.name: t
    for t in map(
        _target,
        (sql_server, postgresql, oracle, bigquery, duckdb, sqlite, redshift, snowflake, spark, synapse),
    )
}
