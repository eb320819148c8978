"""``rcdm ddl``: print the DDL for a dialect, or create/drop the tables on a database."""

from __future__ import annotations

from typing import Any

import click

from rcdm.cli.common import Decorator, Group, combined, db_options, print_rows

MODELS = click.Choice(["rcdm", "micdm", "all"])


def model_options(indexes: bool = True) -> Decorator:
    """``--model`` (and ``--no-indexes``, ``--foreign-keys``)."""
    decorators = [click.option("--model", default="rcdm", type=MODELS, show_default=True,
                               help="which tables: R-CDM, OHDSI MI-CDM, or both")]
    if indexes:
        decorators += [click.option("--no-indexes", is_flag=True, help="leave out the indexes"),
                       click.option("--foreign-keys", is_flag=True,
                                    help="add foreign keys (off by default, as in OHDSI)")]
    return combined(decorators)


@click.group(cls=Group, invoke_without_command=True)
@click.option("--dialect", default="sql server", show_default=True, help="target dialect for printing")
@click.option("--schema", default="cdm", show_default=True, help="cdm_database_schema")
@click.option("--temp-emulation-schema", default=None, hidden=True)
@model_options()
@click.pass_context
def ddl(ctx: click.Context, **params: Any) -> int:
    """Print the DDL for a dialect (without ACTION), or create/drop the tables on a database."""
    if ctx.invoked_subcommand is not None:
        return 0
    from rcdm.ddl import get_ddl  # the SQL engine loads when the verb runs

    print(get_ddl(params["dialect"], params["schema"], params["model"], indexes=not params["no_indexes"],
                  foreign_keys=params["foreign_keys"], temp_emulation_schema=params["temp_emulation_schema"]),
          end="")
    return 0


@ddl.command(short_help="create the tables where missing (idempotent)")
@db_options()
@model_options()
def create(db: str | None, schema: str, quiet: bool, **params: Any) -> int:
    """Create the tables, indexes (and foreign keys) that are missing."""
    from rcdm.db import connect
    from rcdm.ddl import create_tables

    with connect(db) as conn:
        rows = create_tables(conn, schema, params["model"], indexes=not params["no_indexes"],
                             foreign_keys=params["foreign_keys"])
        if not quiet:
            print(f"R-CDM DDL on {conn.dialect} ({conn.display_url}), schema {schema}:")
            print_rows(rows, ["type", "object", "table", "status"])
    return 0


@ddl.command(short_help="drop the tables")
@db_options()
@model_options(indexes=False)
def drop(db: str | None, schema: str, quiet: bool, model: str) -> int:
    """Drop the model's tables where they exist."""
    from rcdm.db import connect
    from rcdm.ddl import drop_tables

    with connect(db) as conn:
        dropped = drop_tables(conn, schema, model)
    if not quiet:
        print("dropped: " + (", ".join(dropped) if dropped else "nothing (no such tables)"))
    return 0
