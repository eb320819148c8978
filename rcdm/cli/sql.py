"""``rcdm sql``: render and translate OHDSI SQL, as R's SqlRender does."""

from __future__ import annotations

from collections.abc import Sequence

import click

from rcdm.cli.common import Group, read_sql
from rcdm.errors import UsageError


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """``name=value`` pairs as a dict."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"Parameters are name=value, got {pair!r}")
        params[name] = value
    return params


@click.group(cls=Group, help="Render and translate OHDSI SQL templates, as R's SqlRender does.")
def sql() -> None:
    pass


@sql.command(short_help="fill in @parameters and {conditions}")
@click.argument("file")
@click.option("-p", "--param", multiple=True, metavar="NAME=VALUE", help="a parameter value (repeatable)")
@click.option("--no-warn", is_flag=True, help="no warning for parameters the SQL does not use")
def render(file: str, param: Sequence[str], no_warn: bool) -> int:
    """Render an OHDSI SQL template (SqlRender::render). FILE is a SQL file, or - for standard input."""
    from rcdm.sql import render as render_sql  # sqlglot and the engine load when the verb runs

    print(render_sql(read_sql(file), warn_on_missing_parameters=not no_warn, parameters=parse_params(param)))
    return 0


@sql.command(short_help="translate OHDSI SQL to a target dialect")
@click.argument("file")
@click.option("--dialect", required=True, help="target, as SqlRender spells it (see 'rcdm sql dialects')")
@click.option("--temp-emulation-schema", default=None, help="schema for emulated temp tables (oracle, ...)")
def translate(file: str, dialect: str, temp_emulation_schema: str | None) -> int:
    """Translate OHDSI SQL to a database's dialect (SqlRender::translate). FILE is a SQL file, or - for
    standard input."""
    from rcdm.sql import translate as translate_sql

    print(translate_sql(read_sql(file), dialect, temp_emulation_schema=temp_emulation_schema))
    return 0


@sql.command(short_help="list the supported target dialects")
def dialects() -> int:
    """List the target dialects, spelled as SqlRender spells them."""
    from rcdm.sql import list_supported_dialects

    print("\n".join(list_supported_dialects()))
    return 0
