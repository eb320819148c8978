"""``rcdm extract``: a cohort's images (filters: ``rcdm.options.ImageCriteria``) as a manifest, copied, linked
or retrieved from a PACS."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from rcdm.cli.common import Command, db_options, existing_db, options_from, options_of, print_rows
from rcdm.cli.pacs import pacs_of, pacs_options
from rcdm.errors import UsageError
from rcdm.options import ImageCriteria

MODES = ("manifest_only", "copy", "link", "source")


@click.command(cls=Command)
@click.option("--cohort-id", required=True, type=int, help="cohort_definition_id")
@db_options()
@click.option("--cohort-schema", default=None, help="schema of the cohort table (default: --schema)")
@click.option("--cohort-table", default="cohort", show_default=True, help="cohort table")
@click.option("--root", default=None, metavar="DIR", type=click.Path(file_okay=False),
              help="archive root the stored file paths are relative to")
@click.option("--path-index", metavar="FILE", type=click.Path(dir_okay=False),
              help="the site's index of real file paths the ETL keeps (default: beside the secret file, "
                   "<secret>.paths.sqlite, when it exists): finds files whose stored path is de-identified")
@click.option("--secret-file", metavar="FILE", type=click.Path(dir_okay=False),
              help="the site secret file (locates the default path index)")
@click.option("--person-map", default=None, metavar="FILE", type=click.Path(dir_okay=False),
              help="the site's person map (CSV patient_id,person_id), to resolve the {patient_id} folders of stored "
                   "paths (without it those images are reported as unresolved)")
@click.option("--out", default=None, metavar="DIR", type=click.Path(file_okay=False),
              help="output folder (manifest and files)")
@click.option("--manifest-only", is_flag=True, help="write the manifest only (the default)")
@click.option("--copy", is_flag=True, help="copy the files, verifying each copy")
@click.option("--link", is_flag=True, help="symlink the files")
@click.option("--from", "source", metavar="PACS",
              help="retrieve the files from a PACS: dicomweb+https://host/dicom-web (WADO-RS) or dimse://AET@host:port "
                   "(C-GET, or C-MOVE with --retrieve move)")
@click.option("--dry-run", is_flag=True, help="print counts by modality only")
@pacs_options(etl=False)
@options_from(ImageCriteria)
def extract(cohort_id: int, db: str | None, schema: str, quiet: bool, **params: Any) -> int:
    """Select the R-CDM images of a cohort's persons (with filters), write manifest.csv and manifest.parquet
    under --out, and optionally copy (verified, resumable) or link the files into
    person_<id>/study_<id>/series_<id>/. --dry-run prints counts only."""
    if sum(bool(params[name]) for name in MODES) > 1:
        raise click.UsageError("--manifest-only, --copy, --link and --from exclude each other")
    mode = "copy" if params["copy"] else "link" if params["link"] else "pacs" if params["source"] else "manifest"
    out, root = params["out"], params["root"]
    if not params["dry_run"] and out is None:
        raise UsageError("rcdm extract needs --out DIR (or --dry-run)")
    if mode in ("copy", "link") and not params["dry_run"] and root is None:
        raise UsageError(f"--{mode} needs --root DIR, the archive root the stored file paths are relative to")
    from rcdm.db import connect  # the database layer and pandas load when the verb runs
    from rcdm.extract import count_cohort_images, get_cohort_images, write_manifest

    where = (params["cohort_schema"], params["cohort_table"], options_of(ImageCriteria, params))
    with connect(existing_db(db)) as conn:
        if params["dry_run"]:
            counts = count_cohort_images(conn, cohort_id, schema, *where)
            print_rows(counts.to_dict("records"), ["modality", "persons", "studies", "series", "images"])
            return 0
        images = get_cohort_images(conn, cohort_id, schema, *where)
    paths = write_manifest(images, out)
    if not quiet:
        print(f"{images['radiology_image_id'].nunique()} images of {images['person_id'].nunique()} persons; "
              f"manifest: {paths['csv']}, {paths['parquet']}")
    if mode == "manifest":
        return 0
    if mode == "pacs":
        return _retrieve(images, params, quiet)
    return _materialize(images, mode, params, quiet)


def _retrieve(images: Any, params: dict[str, Any], quiet: bool) -> int:
    """``--from PACS``: fetch the images' files from the PACS; exit 1 if some could not be."""
    from rcdm.pacs.retrieve import retrieve_images

    source = params["source"]
    fetched = retrieve_images(images, source, params["out"], pacs_of(params), progress=not quiet)
    if not quiet:
        print(f"retrieved {fetched['retrieved']} new, {fetched['skipped']} already there, "
              f"{len(fetched['unresolved'])} not in the PACS index for {source.split('@')[-1]}, "
              f"{len(fetched['failed'])} answered with something else than their DICOM file")
    for image in fetched["failed"][:20]:
        print(f"rcdm: failed: radiology_image_id {image}", file=sys.stderr)
    return 1 if fetched["unresolved"] or fetched["failed"] else 0


def _materialize(images: Any, mode: str, params: dict[str, Any], quiet: bool) -> int:
    """``--copy`` / ``--link``: lay the files out under --out; exit 1 if some are missing or unresolved."""
    from rcdm.etl.path_index import default_location
    from rcdm.extract import materialize

    root = params["root"]
    index = Path(params["path_index"]) if params["path_index"] else default_location(params["secret_file"])
    summary = materialize(images, root, params["out"], mode=mode, progress=not quiet,
                          person_map=params["person_map"], path_index=index if index.is_file() else None)
    if not quiet:
        print(f"{mode}: {summary['copied'] + summary['linked']} new, {summary['skipped']} already there, "
              f"{len(summary['missing'])} missing under {root}"
              + (f", {len(summary['unresolved'])} unresolved (paths with a {{patient_id}} placeholder: give "
                 f"--person-map)" if summary["unresolved"] else ""))
    for path in summary["missing"][:20]:
        print(f"rcdm: missing: {path}", file=sys.stderr)
    for path in summary["unresolved"][:20]:
        print(f"rcdm: unresolved: {path}", file=sys.stderr)
    return 1 if summary["missing"] or summary["unresolved"] else 0
