"""Google BigQuery through sqlalchemy-bigquery: load jobs for bulk loads; dataset names are case-sensitive."""

from __future__ import annotations

from sqlalchemy.engine import URL

from rcdm.db import bulk
from rcdm.db.backend import Backend
from rcdm.db.urls import Fields, lower_settings, settings
from rcdm.errors import UsageError
from rcdm.sql.dialects import bigquery as target


def bigquery_url(fields: Fields) -> URL:
    """server is ``project`` or ``project/dataset``; extraSettings e.g. ``credentials_path=/key.json``."""
    project, _, dataset = fields.server.partition("/")
    return URL.create("bigquery", host=project, database=dataset or None, query=settings(fields.extra_settings))


def bigquery_jdbc(body: str, fields: Fields) -> URL:
    """Simba's ``jdbc:bigquery://...;ProjectId=p;DefaultDataset=d;OAuthPvtKeyPath=/key.json``."""
    given = lower_settings(body.split(";", 1)[1] if ";" in body else "")
    project = given.get("projectid")
    if not project:
        raise UsageError("Cannot read BigQuery JDBC connection string: it has no ProjectId=.")
    extra = f"credentials_path={given['oauthpvtkeypath']}" if "oauthpvtkeypath" in given else None
    server = f"{project}/{given.get('defaultdataset', '')}".rstrip("/")
    return bigquery_url(Fields(server, None, None, None, extra))


BACKEND = Backend(
    dialect=target.NAME,
    label="BigQuery",
    driver="sqlalchemy-bigquery",
    driver_module="sqlalchemy_bigquery",
    extra="bigquery",
    url_schemes=("bigquery",),
    url_from_fields=bigquery_url,
    jdbc_schemes=("bigquery",),
    url_from_jdbc=bigquery_jdbc,
    bulk_load=bulk.load_bigquery,
    case_sensitive_schemas=True,
)
