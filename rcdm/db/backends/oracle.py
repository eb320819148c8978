"""Oracle through python-oracledb (thin mode): array-bind executemany for bulk loads; a schema is a user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.engine import URL

from rcdm.db import bulk
from rcdm.db.backend import Backend
from rcdm.db.execute import query_statement
from rcdm.db.urls import Fields, jdbc_match, parse_port, settings
from rcdm.errors import DatabaseError
from rcdm.sql.dialects import oracle as target

if TYPE_CHECKING:
    from rcdm.db.connection import Connection


def oracle_url(fields: Fields) -> URL:
    """server is ``host/sid`` or a bare ``sid`` on 127.0.0.1 (DatabaseConnector's thin-driver reading);
    extraSettings ``service_name=X`` connects by service name instead."""
    host, sep, sid = fields.server.partition("/")
    if not sep:
        host, sid = "127.0.0.1", fields.server
    given = settings(fields.extra_settings)
    database = None if "service_name" in given else sid
    return URL.create("oracle+oracledb", fields.user, fields.password, host, fields.port or 1521, database, given)


def oracle_jdbc(body: str, fields: Fields) -> URL:
    """``jdbc:oracle:thin:@host:port:sid`` or ``...@//host:port/service`` → the fields above."""
    m = jdbc_match(r"^oracle:thin:@(?://)?([^:/]+)(?::(\d+))?([:/])(.+)$", body,
                   "Cannot read Oracle JDBC connection string: expected jdbc:oracle:thin:@host:port:sid.")
    extra = f"service_name={m[4]}" if m[3] == "/" else None
    return oracle_url(Fields(f"{m[1]}/{m[4]}", fields.user, fields.password, parse_port(m[2]), extra))


def require_user(conn: Connection, schema: str) -> None:
    """On Oracle a schema is a user, which rcdm does not create: a missing one raises DatabaseError."""
    found = query_statement(conn, "SELECT username FROM all_users WHERE username = :name",
                            bind={"name": schema.upper()})
    if found.empty:
        raise DatabaseError(f"Oracle schema {schema!r} does not exist: on Oracle a schema is a user; "
                            "ask your DBA to create it.")


BACKEND = Backend(
    dialect=target.NAME,
    label="Oracle",
    driver="oracledb",
    driver_module="oracledb",
    extra="oracle",
    url_schemes=("oracle",),
    default_driver="oracledb",
    url_from_fields=oracle_url,
    jdbc_schemes=("oracle",),
    url_from_jdbc=oracle_jdbc,
    bulk_load=bulk.load_oracle,
    ping="SELECT 1 FROM DUAL",
    create_schema=require_user,
)
