"""Find the OHDSI SQL templates shipped under ``inst/`` (package data ``rcdm.inst``), in one place."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from rcdm.errors import UsageError


def inst_dir() -> Path:
    """The folder holding ``ddl/`` and ``sql/sql_server/``, wherever rcdm is installed."""
    return Path(str(resources.files("rcdm.inst")))


@cache
def read_template(name: str) -> str:
    """Text of a template under ``inst/``: ``ddl/rcdm.sql`` or a bare name found in ``sql/sql_server/``."""
    base = inst_dir()
    candidates = [base / name, base / "sql" / "sql_server" / name]
    if not name.endswith(".sql"):
        candidates += [c.with_name(c.name + ".sql") for c in candidates]
    for path in candidates:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    known = sorted(p.relative_to(base).as_posix() for p in base.rglob("*.sql"))
    raise UsageError(f"No SQL template named {name!r} under inst/. Known templates: {', '.join(known)}")
