"""``rcdm viewer``: serve the web dashboard (without ACTION), add users, build the stored aggregates."""

from __future__ import annotations

import getpass
import sys
from typing import Any

import click

from rcdm.cli.common import Group, db_options, existing_db
from rcdm.errors import UsageError

USERS = click.Path(dir_okay=False)
USERS_HELP = "users file (default: ~/.rcdm/viewer_users.json)"


@click.group(cls=Group, invoke_without_command=True)
@db_options()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=8765, show_default=True, help="port")
@click.option("--users", metavar="FILE", type=USERS, help=USERS_HELP)
@click.option("--vocabulary-schema", metavar="V", help="schema of the OMOP concept table (default: --schema)")
@click.option("--cohort-schema", metavar="C", help="schema of the cohort table (default: --schema)")
@click.option("--results-schema", metavar="R", help="schema of the summary tables (default: --schema)")
@click.option("--https", "--secure-cookies", "https", is_flag=True,
              help="the viewer is reached over https (directly or through a TLS proxy): Secure cookies and "
                   "Strict-Transport-Security")
@click.option("--allowed-host", multiple=True, metavar="HOST",
              help="a Host name the viewer answers (repeatable; default: localhost, 127.0.0.1, ::1; '*.example.org' "
                   "allowed)")
@click.option("--trusted-proxy", multiple=True, metavar="ADDR",
              help="address or network of a reverse proxy whose X-Forwarded-For/-Proto is believed (repeatable; "
                   "default: none, the TCP peer is the client)")
@click.option("--min-cell-count", type=int, default=5, show_default=True, metavar="N",
              help="counts below N are hidden from aggregate users")
@click.option("--cache-seconds", type=float, default=300.0, show_default=True,
              help="keep page aggregates in memory this long")
@click.pass_context
def viewer(ctx: click.Context, db: str | None, schema: str, quiet: bool, **params: Any) -> int:
    """Serve the R-CDM database viewer: overview, protocols, metadata combinations and a search, behind a login,
    reading the database read-only. Add users first with 'rcdm viewer add-user'."""
    if ctx.invoked_subcommand is not None:
        return 0
    from rcdm.viewer import serve  # the web stack (starlette, uvicorn) loads when the verb runs
    from rcdm.viewer.settings import LOCAL_HOSTS, ViewerSettings, ViewerTables

    settings = ViewerSettings(allowed_hosts=tuple(params["allowed_host"] or LOCAL_HOSTS),
                              trusted_proxies=tuple(params["trusted_proxy"]), https=params["https"],
                              min_cell_count=params["min_cell_count"], cache_seconds=params["cache_seconds"])
    tables = ViewerTables(vocabulary_schema=params["vocabulary_schema"], cohort_schema=params["cohort_schema"],
                          results_schema=params["results_schema"])
    serve(db, schema, host=params["host"], port=params["port"], users_file=params["users"], tables=tables,
          settings=settings, log_level="warning" if quiet else "info")
    return 0


@viewer.command("add-user", short_help="add or replace a viewer user (password hashed with argon2id)")
@click.argument("name")
@click.option("--users", metavar="FILE", type=USERS, help=USERS_HELP)
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--role", type=click.Choice(("aggregate", "analyst")), default="aggregate", show_default=True,
              help="aggregate: suppressed counts only; analyst: also row-level search and manifests")
def add_user(name: str, users: str | None, password_stdin: bool, role: str) -> int:
    """Add a user NAME (letters, digits and . _ @ -) to the viewer's users file; the password is prompted (or
    read from standard input with --password-stdin)."""
    from rcdm.viewer import require

    require()
    from rcdm.viewer.auth import add_user as add  # needs the viewer extra (argon2), checked just above

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {name}: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("The passwords differ.")
    path = add(name, password, users, role=role)
    print(f"user {name} ({role}) saved in {path}")
    return 0


@viewer.command("build-summary", short_help="store the viewer's aggregates (fast pages on large databases)")
@db_options()
@click.option("--results-schema", metavar="R", help="where to write the summary (default: --schema)")
@click.option("--vocabulary-schema", metavar="V", help="schema of the OMOP concept table (default: --schema)")
def build_summary(db: str | None, schema: str, quiet: bool, results_schema: str | None,
                  vocabulary_schema: str | None) -> int:
    """Compute the overview, protocols and combinations once and a series-level search table, and store them in
    the results schema (needs write access). Rebuild after each ETL load."""
    from rcdm.db import connect
    from rcdm.viewer.queries import build_summary as build

    with connect(existing_db(db)) as conn:
        result = build(conn, schema, results_schema, vocabulary_schema)
    if not quiet:
        print(f"viewer summary built at {result['built_at']} UTC ({result['series_rows']} series rows)")
    return 0
