"""Check user-given schema and table names before they reach any SQL text.

Values never go into SQL text (they are bound as parameters); names cannot be bound, so they are checked here
against a strict pattern instead: letters, digits and underscores, optionally ``database.schema`` (as OHDSI's
``cdm_database_schema`` allows on SQL Server, e.g. ``cdm.dbo``). This module is a leaf.
"""

from __future__ import annotations

import re

from rcdm.errors import IdentifierError

_PART = r"[A-Za-z_][A-Za-z0-9_$]{0,127}"
_NAME = re.compile(rf"^{_PART}$")
_SCHEMA = re.compile(rf"^{_PART}(\.{_PART})?$")


def check_identifier(name: object, what: str = "table name") -> str:
    """Return ``name`` if it is a plain identifier, else raise IdentifierError saying why."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise IdentifierError(
            f"Invalid {what} {name!r}: use letters, digits and underscores only, starting with a letter or "
            "underscore (at most 128 characters)."
        )
    return name


def check_schema(name: object, what: str = "schema name") -> str:
    """Return ``name`` if it is a schema (``schema`` or ``database.schema``), else raise IdentifierError."""
    if not isinstance(name, str) or not _SCHEMA.match(name):
        raise IdentifierError(
            f"Invalid {what} {name!r}: use letters, digits and underscores, optionally 'database.schema' "
            "(e.g. 'cdm' or 'cdm.dbo')."
        )
    return name
