"""``rcdm cohort``: cohorts from ATLAS-exported cohort SQL."""

from __future__ import annotations

import click

from rcdm.cli.common import Group, db_options, existing_db, read_sql


@click.group(cls=Group)
def cohort() -> None:
    """Cohorts from ATLAS-exported cohort SQL."""


@cohort.command(short_help="run an ATLAS-exported cohort definition (OHDSI SQL)")
@click.option("--sql", "sql_file", required=True, metavar="FILE", help="the cohort SQL file, or - for standard input")
@click.option("--cohort-id", required=True, type=int, help="cohort_definition_id to write")
@db_options()
@click.option("--cohort-schema", default=None, help="target_database_schema of the cohort table (default: --schema)")
@click.option("--cohort-table", default="cohort", show_default=True, help="target_cohort_table")
@click.option("--vocabulary-schema", default=None, help="vocabulary_database_schema (default: --schema)")
@click.option("--results-schema", default=None, help="results_database_schema (default: --cohort-schema)")
@click.option("--temp-emulation-schema", default=None, help="schema for emulated temp tables (oracle, ...)")
def generate(sql_file: str, cohort_id: int, db: str | None, schema: str, quiet: bool, **params: str | None) -> int:
    """Render, translate and run a cohort definition exported from ATLAS as OHDSI SQL; creates the cohort table
    if missing and replaces earlier rows of the cohort id."""
    from rcdm.cohort import generate_cohort
    from rcdm.db import connect

    text = read_sql(sql_file)
    with connect(existing_db(db), temp_emulation_schema=params["temp_emulation_schema"]) as conn:
        result = generate_cohort(conn, text, cohort_id, schema, params["cohort_schema"] or schema,
                                 params["cohort_table"] or "cohort",
                                 vocabulary_database_schema=params["vocabulary_schema"],
                                 results_database_schema=params["results_schema"])
    if not quiet:
        print(f"cohort {result['cohort_definition_id']} in {result['cohort_table']}: {result['persons']} persons, "
              f"{result['entries']} entries ({result['seconds']} s)")
    return 0
