"""The registry of database platforms: one module per backend, each exporting one ``BACKEND``.

``BACKENDS`` maps SqlRender's dialect names to them, in the translator's order (``rcdm.sql.dialects.TARGETS``);
``tests/test_backends.py`` checks that every backend has a translator target and vice versa, that the DDL
renders for each, and that each names an rcdm extra that exists. The DDL, the ETL's loader and lock, and
``rcdm.db`` read what differs between platforms from here.
"""

from __future__ import annotations

from sqlalchemy.engine import URL

from rcdm.db.backend import Backend
from rcdm.db.backends import (
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
from rcdm.errors import UnsupportedDialectError
from rcdm.sql.dialects import TARGETS

_ALL = {module.BACKEND.dialect: module.BACKEND for module in (
    bigquery, duckdb, oracle, postgresql, redshift, snowflake, spark, sql_server, sqlite, synapse)}

BACKENDS: dict[str, Backend] = {name: _ALL[name] for name in TARGETS if name in _ALL}
"""SqlRender dialect → Backend, for every dialect rcdm can connect to (in the translator's order)."""


def backend_for_url(url: URL) -> Backend:
    """The Backend of a SQLAlchemy URL, from its backend name (the part before ``+``)."""
    scheme = url.drivername.partition("+")[0]
    for backend in BACKENDS.values():
        if scheme in backend.url_schemes:
            return backend
    schemes = sorted(s for b in BACKENDS.values() for s in b.url_schemes)
    raise UnsupportedDialectError(
        f"Unsupported database URL scheme {url.drivername!r}: use one of {', '.join(schemes)} (or say dbms=)."
    )


def backend_for_jdbc(scheme: str) -> Backend | None:
    """The Backend a JDBC subprotocol (``jdbc:<scheme>:...``) names, or None."""
    return next((b for b in BACKENDS.values() if scheme in b.jdbc_schemes), None)


__all__ = ["BACKENDS", "Backend", "backend_for_jdbc", "backend_for_url"]
