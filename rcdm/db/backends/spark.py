"""Apache Spark: Databricks SQL warehouses through databricks-sql-connector (``databricks://``), or any Spark
through Spark Connect (``sc://host:port``, rcdm's own driver ``rcdm.db.spark_connect`` over ``pyspark[connect]``).
Spark has no transactions and no COPY from the client: Databricks gets SQLAlchemy's executemany, Spark Connect
one Arrow DataFrame per load."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import URL

from rcdm.db import bulk
from rcdm.db.backend import Backend, missing_driver
from rcdm.db.urls import Fields, credentials, jdbc_match, lower_settings, parse_port
from rcdm.sql.dialects import spark as target

if TYPE_CHECKING:
    from rcdm.db.connection import Connection

SPARK_CONNECT = "sc"
"""The URL scheme of Spark Connect (``sc://host:port``), as Spark itself spells it."""

sa.dialects.registry.register(SPARK_CONNECT, "rcdm.db.spark_connect", "SparkConnectDialect")


def databricks_url(fields: Fields) -> URL:
    """server is the Databricks host; extraSettings ``httpPath=/sql/1.0/warehouses/x;catalog=c;schema=s``;
    password is the access token."""
    given = lower_settings(fields.extra_settings)
    query = {"http_path": given.get("httppath") or given.get("http_path", "")}
    for key in ("catalog", "schema"):
        if key in given:
            query[key] = given[key]
    return URL.create("databricks", fields.user or "token", fields.password, fields.server.split(":")[0],
                      fields.port or 443, None, query)


def databricks_jdbc(body: str, fields: Fields) -> URL:
    """``jdbc:databricks://host:443/default;httpPath=...;PWD=token`` (or ``jdbc:spark:``) → the fields above."""
    m = jdbc_match(r"^[a-z0-9]+://([^:/;]+)(?::(\d+))?[^;]*;?(.*)$", body,
                   "Cannot read Spark JDBC connection string: expected jdbc:databricks://host:443/...")
    given = lower_settings(m[3])
    user, password = credentials(fields, given, "uid", "pwd")
    extra = ";".join(f"{k}={given[k]}" for k in ("httppath", "catalog", "schema") if k in given)
    return databricks_url(Fields(m[1], user, password, parse_port(m[2]), extra or None))


def is_spark_connect(conn: Connection) -> bool:
    return conn.engine.url.drivername == SPARK_CONNECT


def check_spark_connect(conn: Connection) -> None:
    """Spark Connect needs pyspark's connect client (not the Databricks driver this backend names)."""
    if is_spark_connect(conn):
        try:
            import pyspark.sql.connect.session  # noqa: F401 - optional, heavy: only for sc:// URLs
        except ImportError as exc:
            raise missing_driver("Spark Connect", "pyspark", "spark-connect", exc) from None


def load_spark(conn: Connection, target_name: str, table: pa.Table, progress: bool) -> None:
    """Spark Connect: the whole Arrow table goes to Spark as one DataFrame, inserted by column name;
    Databricks: SQLAlchemy's executemany of one bound INSERT."""
    if is_spark_connect(conn):
        conn.driver_connection().load_arrow(target_name, table)
    else:
        bulk.load_generic(conn, target_name, table, progress)


BACKEND = Backend(
    dialect=target.NAME,
    label="Spark/Databricks",
    driver="databricks-sql-connector",
    driver_module="databricks.sql",
    extra="spark",
    url_schemes=("databricks", SPARK_CONNECT),
    url_from_fields=databricks_url,
    jdbc_schemes=("spark", "databricks"),
    url_from_jdbc=databricks_jdbc,
    bulk_load=load_spark,
    on_open=check_spark_connect,
)
