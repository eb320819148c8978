"""The database layer: connect, execute, query and bulk-insert, mirroring R's DatabaseConnector.

``connect`` takes a SQLAlchemy URL, a file path, or DatabaseConnector's ``createConnectionDetails`` fields
(``dbms``, ``server``, ``user``, ``password``, ``port``, ``extraSettings``, ``connectionString``) and returns a
:class:`Connection` that knows its SqlRender dialect. ``execute_sql`` and ``query_sql`` render and translate
OHDSI SQL to that dialect before running it; ``insert_table`` uses each backend's bulk path. Schema and table
names are checked before any SQL runs; values are always bound, never spliced.

The package is organised by backend: ``backends/<name>.py`` each export one frozen ``Backend`` (dialect, driver
and extra, URL builders, transaction begin, bulk loader, the ETL's load settings and lock, date storage), and
``backends.BACKENDS`` is the one registry the translator targets, the DDL and the ETL agree with. The modules
by job: ``urls`` (reading paths, URLs and DatabaseConnector fields), ``connection`` (``connect``, the
``Connection``), ``execute`` (``execute_sql``, ``query_sql``, ``transaction``), ``schemas`` (``exists_table``,
``create_schema``), ``bulk`` (``insert_table`` and the loaders), ``spark_connect`` (a driver for ``sc://``).

Decisions worth knowing:

* No argument means the embedded DuckDB database: ``$RCDM_DATABASE`` if set, else ``rcdm.duckdb`` in the
  current folder. A DuckDB file is ATTACHed as catalog ``rcdm_database`` (DuckDB would name it after the
  file, and ``cdm.duckdb`` with a schema ``cdm`` would make ``cdm.person`` ambiguous).
* ``query_sql`` returns lower-case column names on every backend (Oracle and Snowflake fold unquoted names to
  upper case, the others to lower case; one spelling keeps callers portable).
* SQLite has no schemas and no date type: see ``backends/sqlite.py``.
"""

from __future__ import annotations

from rcdm.db.backend import Backend
from rcdm.db.backends import BACKENDS
from rcdm.db.backends.duckdb import DUCKDB_CATALOG
from rcdm.db.bulk import insert_table
from rcdm.db.connection import Connection, connect
from rcdm.db.execute import (
    execute_sql,
    execute_statements,
    query_arrow_statement,
    query_sql,
    query_statement,
    transaction,
)
from rcdm.db.messages import STATEMENT_PREVIEW
from rcdm.db.schemas import create_schema, existing_indexes_and_constraints, exists_table
from rcdm.db.urls import DEFAULT_DATABASE, database_file

__all__ = [
    "BACKENDS",
    "Backend",
    "Connection",
    "DEFAULT_DATABASE",
    "DUCKDB_CATALOG",
    "STATEMENT_PREVIEW",
    "connect",
    "create_schema",
    "database_file",
    "execute_sql",
    "execute_statements",
    "existing_indexes_and_constraints",
    "exists_table",
    "insert_table",
    "query_arrow_statement",
    "query_sql",
    "query_statement",
    "transaction",
]
