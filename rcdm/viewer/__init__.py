"""The R-CDM database viewer: a small web application behind a login (``rcdm viewer``).

``create_app`` (in ``rcdm.viewer.app``) builds the Starlette app; ``serve`` runs it with uvicorn; the numbers
come from ``rcdm.viewer.queries``; accounts and sessions from ``rcdm.viewer.auth``. The web libraries are the
optional extra ``rcdm[viewer]``; importing this package does not need them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import threading
from typing import Any

from rcdm.db import connect
from rcdm.errors import MissingDriverError, UsageError

REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("starlette", "starlette"), ("uvicorn", "uvicorn"), ("argon2", "argon2-cffi"),
    ("multipart", "python-multipart"), ("itsdangerous", "itsdangerous"),
)
"""(module, distribution) pairs the viewer needs: the ``viewer`` extra."""


def missing_extra(distribution: str) -> MissingDriverError:
    return MissingDriverError(f"The viewer needs {distribution}: pip install 'rcdm[viewer]'")


def is_available() -> bool:
    """Whether every library of the viewer extra is installed."""
    return all(importlib.util.find_spec(module) is not None for module, _ in REQUIREMENTS)


def require() -> None:
    """Raise MissingDriverError naming ``pip install 'rcdm[viewer]'`` when a viewer library is missing."""
    for module, distribution in REQUIREMENTS:
        if importlib.util.find_spec(module) is None:
            raise missing_extra(distribution)


def serve(db: str | None, schema: str, *, host: str = "127.0.0.1", port: int = 8765, users_file: str | None = None,
          tables: Any = None, settings: Any = None, log_level: str = "info") -> None:
    """Check the database and the users file, then serve the viewer until interrupted (read-only connections).

    ``tables``: a ``rcdm.viewer.settings.ViewerTables`` (the vocabulary, cohort and summary schemas).
    ``settings``: a ``rcdm.viewer.settings.ViewerSettings``; when it lists only the local host names and ``host``
    is another concrete address, that address is allowed as a Host too."""
    require()
    import uvicorn

    from rcdm.viewer import auth
    from rcdm.viewer.app import create_app
    from rcdm.viewer.queries import ViewerSource
    from rcdm.viewer.settings import LOCAL_HOSTS, ViewerSettings, ViewerTables

    settings = settings or ViewerSettings()
    tables = tables or ViewerTables()
    if settings.allowed_hosts == LOCAL_HOSTS and host not in ("0.0.0.0", "::", "") and host not in LOCAL_HOSTS:
        settings = dataclasses.replace(settings, allowed_hosts=(*LOCAL_HOSTS, host))
    settings.check()

    if not auth.load_users(users_file):
        raise UsageError(f"No viewer users in {auth.users_path(users_file)}: add one with "
                         "'rcdm viewer add-user NAME" + (f" --users {users_file}'" if users_file else "'"))
    factory = lambda: connect(db, read_only=True)  # noqa: E731
    with factory() as conn:  # fail now, with a clear message, rather than on the first page
        source = ViewerSource.detect(conn, schema, tables.vocabulary_schema, tables.cohort_schema,
                                     results_schema=tables.results_schema)
    app = create_app(factory, schema, users_file, tables=tables, settings=settings)
    viewer = app.state.viewer
    threading.Thread(target=_warm, args=(viewer,), name="rcdm-viewer-warm-up", daemon=True).start()
    if not source.has_summary:
        print(f"rcdm viewer: no summary tables in {source.results_schema}: pages aggregate the full tables "
              "(slow on large databases: run 'rcdm viewer build-summary' after each load)")
    if host in ("0.0.0.0", "::") and settings.allowed_hosts == LOCAL_HOSTS:
        print("rcdm viewer: listening on all addresses but answering only Host localhost: add the name users "
              "type with --allowed-host")
    print(f"rcdm viewer: http://{host}:{port}/ (schema {schema}; Ctrl+C stops)")
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False, server_header=False)


def _warm(viewer: Any) -> None:
    """Fill the page cache before the first visitor asks (errors show up again, in the page, when asked)."""
    for page in ("overview", "all_protocols", "combinations"):
        try:
            getattr(viewer, page)()
        except Exception:  # noqa: BLE001 - a failing page reports its own error when requested
            return


__all__ = ["REQUIREMENTS", "is_available", "missing_extra", "require", "serve"]
