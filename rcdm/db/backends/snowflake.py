"""Snowflake through snowflake-sqlalchemy: ``write_pandas`` (stage + COPY INTO) for bulk loads."""

from __future__ import annotations

from sqlalchemy.engine import URL

from rcdm.db import bulk
from rcdm.db.backend import Backend
from rcdm.db.urls import Fields, credentials, jdbc_match, lower_settings, settings
from rcdm.sql.dialects import snowflake as target


def snowflake_url(fields: Fields) -> URL:
    """server is ``account[/database[/schema]]``; extraSettings e.g. ``warehouse=WH&role=R``."""
    account, _, path = fields.server.partition("/")
    account = account.removesuffix(".snowflakecomputing.com")
    return URL.create("snowflake", fields.user, fields.password, account, None, path or None,
                      settings(fields.extra_settings))


def snowflake_jdbc(body: str, fields: Fields) -> URL:
    """``jdbc:snowflake://account.snowflakecomputing.com/?db=d&schema=s&warehouse=w`` → the fields above."""
    m = jdbc_match(r"^snowflake://([^/?]+)/?\??(.*)$", body,
                   "Cannot read Snowflake JDBC connection string: expected jdbc:snowflake://account...")
    given = lower_settings(m[2])
    path = "/".join(p for p in (given.pop("db", None), given.pop("schema", None)) if p)
    user, password = credentials(fields, given)
    extra = "&".join(f"{k}={v}" for k, v in given.items())
    return snowflake_url(Fields(m[1] + (f"/{path}" if path else ""), user, password, None, extra or None))


BACKEND = Backend(
    dialect=target.NAME,
    label="Snowflake",
    driver="snowflake-sqlalchemy",
    driver_module="snowflake.sqlalchemy",
    extra="snowflake",
    url_schemes=("snowflake",),
    url_from_fields=snowflake_url,
    jdbc_schemes=("snowflake",),
    url_from_jdbc=snowflake_jdbc,
    bulk_load=bulk.load_snowflake,
)
