"""The PACS options of ``rcdm etl`` and ``rcdm extract --from`` (``rcdm.pacs.PacsOptions``; README "From a
PACS"): a dicomweb+https://... or dimse://AET@host:port address, credentials from RCDM_PACS_USER /
RCDM_PACS_PASSWORD or the URL."""

from __future__ import annotations

from typing import Any

import click

from rcdm.cli.common import Decorator, combined

NAMES = ("page_size", "retries", "concurrency", "calling_aet", "retrieve", "move_aet", "move_port", "rescan")
"""The PacsOptions fields the command sets when given (the rest keep their defaults)."""


def pacs_options(etl: bool) -> Decorator:
    """The PACS options of the ETL (``etl``) or of extract's retrieval."""
    decorators = [
        click.option("--pacs-index", metavar="FILE", type=click.Path(dir_okay=False),
                     help="the site-local index of PACS UIDs, outside the database (default: beside the site "
                          "secret, <secret file>.pacs.sqlite)"),
        click.option("--retries", type=int, help="retries of a failed PACS request before stopping (default 4)"),
        click.option("--calling-aet", help="our AE title for DIMSE (default RCDM)"),
        click.option("--concurrency", type=int, help="PACS requests at once (default 4)"),
    ]
    if etl:
        decorators += [
            click.option("--page-size", type=int, help="QIDO-RS results per request (default 500)"),
            click.option("--rescan", is_flag=True, default=None,
                         help="list every study's instances again, also of studies loaded by a finished run"),
        ]
    else:
        decorators += [
            click.option("--retrieve", type=click.Choice(["get", "move"]),
                         help="DIMSE retrieval: C-GET (default) or C-MOVE"),
            click.option("--move-aet", help="C-MOVE destination: the AE title the PACS knows rcdm by (default RCDM)"),
            click.option("--move-port", type=int, help="port of rcdm's storage SCP for C-MOVE (default 11113)"),
        ]
    return combined(decorators)


def pacs_of(params: dict[str, Any]) -> Any:
    """The PacsOptions of the PACS options a command was given (defaults for the rest)."""
    from rcdm.pacs import PacsOptions  # the PACS package loads when a verb runs
    from rcdm.pacs.index import default_index_path

    given = {name: params[name] for name in NAMES if params.get(name) not in (None, False)}
    if params.get("pacs_index"):
        given["index"] = params["pacs_index"]
    elif params.get("secret_file"):  # the index goes with the secret (rcdm.pacs.index)
        given["index"] = str(default_index_path(params["secret_file"]))
    return PacsOptions(**given)
