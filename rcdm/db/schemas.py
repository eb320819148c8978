"""Schemas and tables as they exist in the database: ``exists_table``, ``create_schema`` and the names of a
table's indexes and constraints. Names are compared case-insensitively, like DatabaseConnector."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from rcdm.db.execute import execute_statements
from rcdm.db.messages import driver_message
from rcdm.errors import DatabaseError
from rcdm.identifiers import check_identifier, check_schema

if TYPE_CHECKING:
    from rcdm.db.connection import Connection


def exists_table(conn: Connection, schema: str | None, table: str) -> bool:
    """Whether ``schema.table`` exists (names compared case-insensitively, like DatabaseConnector)."""
    if schema is not None:
        check_schema(schema)
    check_identifier(table)
    if schema is not None and not conn.has_schema(schema):
        return False
    sa_conn = conn.sqlalchemy_connection
    try:
        names = sa.inspect(sa_conn).get_table_names(schema=_inspector_schema(conn, schema))
    except sa.exc.NoSuchTableError:
        names = []
    except sa.exc.DBAPIError as exc:
        sa_conn.rollback()
        raise DatabaseError(f"Could not list the tables of schema {schema!r}: {driver_message(exc)}") from None
    conn.commit_unless_in_transaction()
    return table.lower() in {n.lower() for n in names}


def existing_indexes_and_constraints(conn: Connection, schema: str, table: str) -> list[str]:
    """Names of the indexes and constraints (primary key, unique, foreign keys) ``schema.table`` has.

    Lets DDL creation skip what exists on dialects without ``CREATE INDEX IF NOT EXISTS``; [] for a table
    that does not exist.
    """
    check_schema(schema)
    check_identifier(table)
    if not exists_table(conn, schema, table):
        return []
    if conn.backend.indexes_and_constraints is not None:
        return conn.backend.indexes_and_constraints(conn, schema, table)
    sa_conn = conn.sqlalchemy_connection
    inspector = sa.inspect(sa_conn)
    name_schema = _inspector_schema(conn, schema)
    names: list[str] = []
    try:
        for getter in (inspector.get_indexes, inspector.get_foreign_keys, inspector.get_unique_constraints):
            try:
                names += [str(item["name"]) for item in getter(table.lower(), schema=name_schema)
                          if item.get("name")]
            except NotImplementedError:
                continue
        primary = inspector.get_pk_constraint(table.lower(), schema=name_schema)
        if primary and primary.get("name"):
            names.append(str(primary["name"]))
    except sa.exc.DBAPIError as exc:
        sa_conn.rollback()
        raise DatabaseError(f"Could not list the indexes of {schema}.{table}: {driver_message(exc)}") from None
    conn.commit_unless_in_transaction()
    return names


def _inspector_schema(conn: Connection, schema: str | None) -> str | None:
    """SQLAlchemy spells case-insensitive names in lower case on every dialect (it folds for Oracle and
    Snowflake); case-sensitive schema names (BigQuery datasets) are kept as given."""
    if schema is None or conn.backend.case_sensitive_schemas:
        return schema
    return schema.lower()


def create_schema(conn: Connection, schema: str) -> None:
    """Make ``schema`` ready to hold tables: create it if missing.

    SQLite: ``main`` and ``temp`` exist already; any other schema is a file ``<stem>.<schema>.db`` beside
    the main database, ATTACHed now and on every later ``connect``. Oracle: a schema is a user, which rcdm
    does not create; a missing one raises DatabaseError.
    """
    check_schema(schema)
    if conn.backend.create_schema is not None:
        conn.backend.create_schema(conn, schema)
    else:
        execute_statements(conn, [conn.backend.create_schema_sql(schema)])
