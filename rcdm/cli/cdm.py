"""``rcdm cdm``: the OMOP CDM tables beside the R-CDM tables."""

from __future__ import annotations

import click

from rcdm.cli.common import Group, db_options, print_rows


@click.group(cls=Group)
def cdm() -> None:
    """Work with the OMOP CDM tables beside the R-CDM tables."""


@cdm.command("load-csv", short_help="load OMOP CDM tables from a folder or zip of CSVs (Eunomia format)")
@click.argument("source", metavar="SOURCE", type=click.Path(exists=False))
@db_options()
@click.option("--tables", default=None, metavar="A,B", help="only these tables (default: every CSV)")
@click.option("--overwrite", is_flag=True, help="replace tables that exist")
def load_csv(source: str, db: str | None, schema: str, quiet: bool, tables: str | None, overwrite: bool) -> int:
    """Load <table>.csv files (types from _schema.tsv when present, else inferred) from SOURCE, a folder or .zip,
    into a schema, through the backend's bulk path."""
    from rcdm.cdm_csv import load_cdm_csv
    from rcdm.db import connect

    with connect(db) as conn:
        loaded = load_cdm_csv(conn, schema, source, tables=tables, overwrite=overwrite, progress=not quiet)
    if not quiet:
        print_rows([{"table": t, "rows": n} for t, n in loaded.items()], ["table", "rows"])
    return 0
