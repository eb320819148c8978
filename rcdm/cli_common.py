"""What the ``rcdm`` command's modules share (``rcdm.cli``, ``rcdm.cli_vocab``): no parser, no verbs."""

from __future__ import annotations

from rcdm.errors import UsageError


def existing_db(db: str | None) -> str | None:
    """``db`` if it is a server or an existing database file: verbs that only read refuse to create one."""
    from rcdm.db import database_file

    path = database_file(db)
    if path is not None and not path.exists():
        raise UsageError(f"No database at {path}: create it with 'rcdm ddl create' or 'rcdm etl' first")
    return db
