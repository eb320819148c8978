"""``rcdm etl`` (DICOM headers into the R-CDM tables; its options are ``rcdm.options.EtlOptions``) and
``rcdm report`` (the mapping-quality report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rcdm.cli.common import (
    Command,
    Program,
    collector_paused,
    db_option,
    db_options,
    existing_db,
    options_from,
    options_of,
)
from rcdm.cli.pacs import pacs_of, pacs_options
from rcdm.errors import UsageError
from rcdm.options import EtlOptions, merged


@click.command(cls=Command)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@db_option()
@options_from(EtlOptions)
@click.option("--verify", is_flag=True,
              help="only report where the ETL's bookkeeping no longer matches the tables (and, with PATHs, files "
                   "gone from them); exit 1 if anywhere. The next run repairs it")
@pacs_options(etl=True)
def etl(paths: tuple[str, ...], db: str | None, verify: bool, **params: Any) -> int:
    """Read the headers of the DICOM files under PATH (in parallel worker processes), de-identify them
    (person_id from a site map, keyed hashes for UIDs) and load radiology_occurrence and radiology_image.
    Re-runs skip unchanged files; an interrupted run resumes where it stopped; unreadable files are quarantined
    and listed. Prints a summary and the quality report.

    PATH: DICOM files or folders (walked recursively), or one PACS address: dicomweb+https://host/dicom-web
    (QIDO-RS) or dimse://AET@host:port (C-FIND)."""
    options = options_of(EtlOptions, params)
    if verify:
        return _verify(list(paths), db, options)
    if options.person_map is not None and options.person_source is not None:
        raise click.UsageError("--person-map and --person-source exclude each other")
    if options.person_map is None and options.person_source is None:
        raise UsageError("rcdm etl needs --person-map FILE or --person-source cdm")
    with collector_paused(freeze=Program.of(click.get_current_context()).ends_with_command):
        from rcdm.etl import forkserver
        from rcdm.pacs.url import is_pacs_url

        if forkserver.pool_workers(options.executor, options.workers, any(is_pacs_url(p) for p in paths)):
            forkserver.start(forkserver.PROGRAM_PRELOAD)  # it imports the reader while this process imports the rest
        from rcdm.etl.start import begin

        # the arguments checked, the workers starting and, into a new database file, sent the first batches: they
        # read while this process imports the database layer (rcdm.etl.run)
        run = begin(list(paths), db, merged(EtlOptions, options, {"pacs": pacs_of(params)}))
        try:
            from rcdm.etl.run import run_begun
        except BaseException:  # an interrupt or a broken install: no worker left reading what was sent
            run.close()
            raise
    # it opens the database (lock.open_database) and prints the summary, quarantine and report unless quiet
    run_begun(run, db)
    return 0


def _verify(paths: list[str], db: str | None, options: EtlOptions) -> int:
    """``rcdm etl --verify``: print where the bookkeeping no longer matches; exit 1 if anywhere."""
    from rcdm.db import connect
    from rcdm.etl.run import verify_etl

    with connect(existing_db(db)) as conn:
        found = verify_etl(conn, options.cdm_database_schema, paths, options.root, options.path_index,
                           options.secret_file)
    for name, count in found.items():
        print(f"{name}: {count}")
    if any(found.values()):
        if not options.quiet:
            print("rcdm etl --verify: the ETL's bookkeeping does not match the tables; the next rcdm etl over the "
                  "same paths repairs it")
        return 1
    return 0


@click.command(cls=Command)
@db_options()
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json", "csv", "html"]),
              show_default=True, help="output format")
@click.option("--out", metavar="FILE", type=click.Path(dir_okay=False), help="write to FILE instead of standard output")
def report(db: str | None, schema: str, quiet: bool, fmt: str, out: str | None) -> int:
    """How well each R-CDM column is filled (the paper's Tables 3 and 4), studies by modality and year, and the
    ETL's file statuses and quarantine."""
    from rcdm.db import connect
    from rcdm.report import format_report, quality_report

    with connect(existing_db(db)) as conn:
        text = format_report(quality_report(conn, schema), fmt)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        if not quiet:
            print(f"report written to {out}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0
