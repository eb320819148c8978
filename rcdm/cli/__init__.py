"""The ``rcdm`` command (click): parses arguments and calls the Python API, nothing more.

One module per verb family (``sql``, ``ddl``, ``etl`` and ``report``, ``cdm``, ``cohort``, ``extract``, ``study``,
``vocab``, ``viewer``, ``demo``), loaded only when its verb runs (``common.LazyGroup``), so ``rcdm --help`` stays
fast. Options shared with the Python API and R come from ``rcdm.options`` (``common.options_from``).

Exit codes: 0 success; 1 an rcdm error; 2 bad usage (argument, identifier, dialect); 3 SQL that cannot be
rendered or translated; 4 a missing optional driver (the message names the extra to install); 5 a database
error; 6 another ETL run holds the schema; 7 a PACS that cannot be reached; 130 interrupted. An ETL run that
quarantined files still exits 0 (it prints them).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

import click

from rcdm._version import __version__
from rcdm.cli.common import LazyGroup, Program
from rcdm.errors import RcdmError

VERBS: dict[str, tuple[str, str, str]] = {
    "demo": ("rcdm.cli.demo", "demo", "the whole story on Eunomia GiBleed with synthetic DICOM (DuckDB)"),
    "sql": ("rcdm.cli.sql", "sql", "render and translate OHDSI SQL (SqlRender-compatible)"),
    "ddl": ("rcdm.cli.ddl", "ddl", "print, create or drop the R-CDM / MI-CDM tables"),
    "etl": ("rcdm.cli.etl", "etl", "load DICOM headers into the R-CDM tables"),
    "report": ("rcdm.cli.etl", "report", "print the mapping-quality report"),
    "cdm": ("rcdm.cli.cdm", "cdm", "load an OMOP CDM from CSV files"),
    "cohort": ("rcdm.cli.cohort", "cohort", "generate cohorts without ATLAS"),
    "extract": ("rcdm.cli.extract", "extract", "the images of a cohort: manifest, copy, link or retrieve"),
    "study": ("rcdm.cli.study", "study", "run a network study at this site, or merge sites' results"),
    "vocab": ("rcdm.cli.vocab", "vocab", "protocol mapping: load vocabularies, explain, remap, export unmapped"),
    "viewer": ("rcdm.cli.viewer", "viewer", "serve the web dashboard (login required)"),
}
"""Verb → (module, click command, short help): the root's list; each module is imported when its verb is used."""

NO_ARGS: type[click.ClickException] = getattr(
    click.exceptions, "NoArgsIsHelpError", type("NeverRaised", (click.ClickException,), {}))
"""click >= 8.2 raises this for a group called without its subcommand (older click prints the help, exit 0)."""


@click.group(cls=LazyGroup, verbs=VERBS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="rcdm", message="%(prog)s %(version)s")
def cli() -> None:
    """Radiology Common Data Model (R-CDM) for OHDSI sites."""


def main(argv: Sequence[str] | None = None, *, program: bool = False) -> int:
    """Run the command; returns its exit code. ``--help`` and ``--version`` exit 0 and bad usage exits 2 (as
    SystemExit, like argparse); an rcdm error prints one line and returns its exit code. ``program``: the process
    ends with the command (``entry``; verbs read it as ``Program.of(ctx)``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with cli.make_context("rcdm", args, obj=Program(program)) as ctx:
            return int(cli.invoke(ctx) or 0)
    except click.exceptions.Exit as exc:  # --help, --version
        raise SystemExit(exc.exit_code) from None
    except NO_ARGS as exc:  # a verb family without its action: its help, exit 2
        print(exc.format_message(), file=sys.stderr)
        raise SystemExit(2) from None
    except click.ClickException as exc:  # bad usage: the usage line and the reason, exit 2
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            print(exc.ctx.get_usage(), file=sys.stderr)
        print(f"rcdm: error: {exc.format_message()}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except RcdmError as exc:
        print(f"rcdm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, click.Abort):
        print("rcdm: interrupted", file=sys.stderr)
        return 130


def entry() -> int:
    """The ``rcdm`` program (its console script and ``python -m rcdm``): ``main``, then nothing left for the
    garbage collector, as the process ends next (``gc.freeze``).

    The interpreter's shutdown runs full collections over every object the command imported (pandas, pyarrow,
    SQLAlchemy, sqlglot: ~0.15-0.2 s of a short command, measured), only to free memory the OS frees anyway.
    What must happen at exit does not depend on them: rcdm closes its connections and files itself, and atexit
    handlers (logging, temporary folders, multiprocessing) still run. Not for a process that goes on (tests and
    callers use ``main``)."""
    try:
        return main(program=True)
    finally:
        gc.freeze()
