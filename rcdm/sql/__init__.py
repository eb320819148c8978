"""The SqlRender-compatible SQL engine: render OHDSI SQL templates, translate them to each target with sqlglot.

Function names are snake_case mirrors of R SqlRender's (``render`` = ``SqlRender::render``, ...), so an OHDSI
user finds the same verbs; see ``../shared/spec/sqlrender.md`` for the behaviour they reproduce.
"""

from __future__ import annotations

from typing import Any, Mapping

from rcdm.resources import read_template
from rcdm.sql.helpers import camel_case_to_snake_case, camel_case_to_title_case, snake_case_to_camel_case
from rcdm.sql.render import render
from rcdm.sql.split import split_sql
from rcdm.sql.translate import (
    get_temp_table_prefix,
    list_supported_dialects,
    translate,
    translate_single_statement,
)


def render_translate(
    sql: str,
    target_dialect: str,
    temp_emulation_schema: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    warn_on_missing_parameters: bool = True,
    **kwargs: Any,
) -> str:
    """Render the template with its parameters, then translate it to ``target_dialect``."""
    rendered = render(sql, warn_on_missing_parameters=warn_on_missing_parameters, parameters=parameters, **kwargs)
    return translate(rendered, target_dialect, temp_emulation_schema=temp_emulation_schema)


def load_render_translate(
    name: str,
    target_dialect: str,
    temp_emulation_schema: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    warn_on_missing_parameters: bool = True,
    **kwargs: Any,
) -> str:
    """Render and translate a template shipped under ``inst/`` (e.g. ``ddl/rcdm.sql`` or ``GetCohortImages.sql``)."""
    return render_translate(
        read_template(name),
        target_dialect,
        temp_emulation_schema=temp_emulation_schema,
        parameters=parameters,
        warn_on_missing_parameters=warn_on_missing_parameters,
        **kwargs,
    )


__all__ = [
    "camel_case_to_snake_case",
    "camel_case_to_title_case",
    "get_temp_table_prefix",
    "list_supported_dialects",
    "load_render_translate",
    "render",
    "render_translate",
    "snake_case_to_camel_case",
    "split_sql",
    "translate",
    "translate_single_statement",
]
