"""Amazon Redshift through psycopg 3 (PostgreSQL's wire protocol; port 5439). Redshift has no COPY FROM STDIN
(its bulk COPY reads from S3 only), so rows go through SQLAlchemy's executemany."""

from __future__ import annotations

from rcdm.db import bulk
from rcdm.db.backend import Backend, ResultTyping
from rcdm.db.backends.postgresql import PG_TYPE_CODES, psycopg_jdbc, psycopg_url, read_only_session
from rcdm.sql.dialects import redshift as target

BACKEND = Backend(
    dialect=target.NAME,
    label="Redshift",
    driver="psycopg",
    driver_module="psycopg",
    extra="postgresql",
    url_schemes=("redshift",),
    url_from_fields=lambda fields: psycopg_url(fields, "redshift", 5439),
    jdbc_schemes=("redshift",),
    url_from_jdbc=lambda body, fields: psycopg_jdbc(body, fields, "redshift", 5439),
    bulk_load=bulk.load_generic,
    read_only_session=read_only_session,
    result_typing=ResultTyping(type_codes=PG_TYPE_CODES),
)
