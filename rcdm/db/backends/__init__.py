"""The registry of database platforms: one module per backend, each exporting one ``BACKEND``.

``BACKENDS`` reads the translator's list of targets (``rcdm.sql.dialects.TARGETS``) and maps each name to the
``BACKEND`` of the module named like it; ``tests/test_backends.py`` checks that every backend module has a
translator target and vice versa, that the DDL renders for each, and that each names an rcdm extra that exists.
``rcdm.db`` (``conn.backend``) and the ETL's loader and lock read what differs between platforms from here.
"""

from __future__ import annotations

import importlib

from sqlalchemy.engine import URL

from rcdm.db.backend import Backend
from rcdm.errors import UnsupportedDialectError
from rcdm.sql.dialects import TARGETS


def _backend(dialect: str) -> Backend:
    """The ``BACKEND`` of the module named like the translator's target (``sql server`` → ``sql_server``)."""
    backend = importlib.import_module(f"{__name__}.{dialect.replace(' ', '_')}").BACKEND
    if not isinstance(backend, Backend):
        raise TypeError(f"{__name__}.{dialect}: BACKEND is not a Backend")
    return backend


BACKENDS: dict[str, Backend] = {name: _backend(name) for name in TARGETS}
"""SqlRender dialect → Backend: one for each of the translator's targets, in its order (a target without a
backend module fails here, at import)."""


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
