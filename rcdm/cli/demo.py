"""``rcdm demo``: the whole story on Eunomia GiBleed with synthetic DICOM."""

from __future__ import annotations

import click

from rcdm.cli.common import Command, quiet_option


@click.command(cls=Command)
@click.option("--out", default="rcdm-demo", show_default=True, type=click.Path(file_okay=False),
              help="folder for the corpus and the database")
@click.option("--patients", type=int, default=12, show_default=True, help="GiBleed persons given studies")
@click.option("--workers", type=int, default=None, help="header-reading processes (default: all cores)")
@quiet_option()
def demo(out: str, patients: int, workers: int | None, quiet: bool) -> int:
    """Load Eunomia GiBleed (OMOP CDM), write synthetic DICOM studies for its persons, run the ETL and protocol
    mapping, fill MI-CDM, generate the GiBleed cohort, extract its images, run a network study and write the
    quality report as HTML."""
    from rcdm.demo import run_demo  # the whole stack loads when the verb runs

    run_demo(out, n_patients=patients, workers=workers, quiet=quiet)
    return 0
