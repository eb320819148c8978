"""Microsoft SQL Server through pyodbc: ``fast_executemany`` parameter arrays for bulk loads."""

from __future__ import annotations

from sqlalchemy.engine import URL

from rcdm.db import bulk
from rcdm.db.backend import Backend
from rcdm.db.urls import Fields, credentials, jdbc_match, parse_port, settings
from rcdm.sql.dialects import sql_server as target

ODBC_DRIVER = "ODBC Driver 18 for SQL Server"
"""The ODBC driver named when extraSettings name none."""


def sql_server_url(fields: Fields) -> URL:
    """server is ``host`` or ``host\\instance``, possibly with ``;database=x`` like a JDBC URL; extraSettings
    ``database=cdm;encrypt=yes;driver=ODBC Driver 17 for SQL Server``."""
    host, _, rest = fields.server.partition(";")
    given = {**settings(rest), **settings(fields.extra_settings)}
    lowered = {k.lower(): k for k in given}
    database = None
    for key in ("database", "databasename"):
        if key in lowered:
            database = given.pop(lowered[key])
    driver = given.pop(lowered["driver"], None) if "driver" in lowered else None
    query = {"driver": driver or ODBC_DRIVER, **given}
    if not fields.user:
        query.setdefault("Trusted_Connection", "yes")
    port = fields.port or (None if "\\" in host else 1433)  # a named instance finds its own port
    return URL.create("mssql+pyodbc", fields.user, fields.password, host, port, database, query)


def sql_server_jdbc(body: str, fields: Fields) -> URL:
    """``jdbc:sqlserver://host:port;database=x;user=u;password=p`` → the fields above."""
    m = jdbc_match(r"^sqlserver://([^;:]+)(?::(\d+))?;?(.*)$", body,
                   "Cannot read SQL Server JDBC connection string: expected jdbc:sqlserver://host;...")
    given = settings(m[3])
    user, password = credentials(fields, given)
    extra = ";".join(f"{k}={v}" for k, v in given.items())
    return sql_server_url(Fields(m[1], user, password, parse_port(m[2]), extra or None))


def create_schema_sql(schema: str) -> str:
    """T-SQL has no ``CREATE SCHEMA IF NOT EXISTS``; ``database.schema`` is created in that database."""
    database, _, name = schema.rpartition(".")
    statement = f"IF SCHEMA_ID('{name}') IS NULL EXEC('CREATE SCHEMA {name}')"
    if database:
        quoted = statement.replace("'", "''")
        return f"EXEC {database}.sys.sp_executesql N'{quoted}'"
    return statement


BACKEND = Backend(
    dialect=target.NAME,
    label="SQL Server",
    driver="pyodbc",
    driver_module="pyodbc",
    extra="sqlserver",
    url_schemes=("mssql",),
    default_driver="pyodbc",
    url_from_fields=sql_server_url,
    jdbc_schemes=("sqlserver",),
    url_from_jdbc=sql_server_jdbc,
    bulk_load=bulk.load_sqlserver,
    engine_options={"fast_executemany": True},
    create_schema_sql=create_schema_sql,
)
