"""The options rcdm's faces share, defined once: ``EtlOptions`` (``run_etl``) and ``ImageCriteria`` (the image
filters of ``get_cohort_images``, ``rcdm extract`` and a study spec's ``image_criteria``).

Each option is a dataclass field with a default and its help text (:func:`option`); the ``rcdm`` command's
options are generated from them (``rcdm.cli.common.options_from``), the study spec's schema of ``image_criteria`` is
:func:`spec_schema`, the R wrapper's arguments and the README's options table are checked against them
(``tests/test_options.py``; the table is written by ``extras/options_table.py``). Values stay as given (R sends
doubles and vectors): the functions that use them check them, with errors that name the option.

Light on purpose: the CLI reads these at start-up, so this module imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rcdm.errors import UsageError

CLI = "cli"
"""Metadata key: the option's ``rcdm`` flag (``--batch-size``), or absent when the command has no such flag."""


def option(default: Any, help: str, cli: str | None = None, *, spec: dict[str, Any] | None = None,
           **click: Any) -> Any:
    """A dataclass field with its help text; ``cli`` the command's flag, ``click`` extra click settings
    (``metavar``, ``choices``, ``multiple``, ``flag_value``: the value a bare flag sets), ``spec`` its JSON Schema
    in a study spec (absent: not part of a spec)."""
    metadata: dict[str, Any] = {"help": help, "click": click}
    if cli is not None:
        metadata[CLI] = cli
    if spec is not None:
        metadata["spec"] = spec
    return dataclasses.field(default=default, metadata=metadata)


def help_of(cls: type, name: str) -> str:
    """The help text of option ``name`` of ``cls``."""
    return {f.name: f.metadata["help"] for f in dataclasses.fields(cls)}[name]


def given(cls: type, values: dict[str, Any]) -> Any:
    """``cls(**values)`` with a clear error for a name that is not one of its options."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UsageError(f"Unknown {cls.__name__} option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return cls(**values)


def merged(cls: type, base: Any, keywords: dict[str, Any]) -> Any:
    """A ``cls`` from ``base`` (a ``cls`` or None) with ``keywords`` on top: the keyword form of the API."""
    if base is not None and not isinstance(base, cls):
        raise UsageError(f"Give an rcdm.options.{cls.__name__}, not {type(base).__name__}")
    if base is not None and not keywords:
        return base
    return given(cls, {**(vars(base) if base is not None else {}), **keywords})


@dataclasses.dataclass(frozen=True)
class EtlOptions:
    """Everything ``run_etl`` takes besides the DICOM source and the connection."""

    cdm_database_schema: str = option("cdm", "cdm_database_schema holding the R-CDM tables", "--schema")
    person_map: str | None = option(None, "CSV with the header patient_id,person_id", "--person-map",
                                    metavar="FILE")
    person_source: str | None = option(
        None, "'cdm': map PatientID to person.person_source_value of the same schema", "--person-source",
        choices=("cdm",))
    secret_file: str | None = option(
        None, "site secret for the keyed UID hashes (default ~/.rcdm/site_secret; created on first use: back it "
              "up, a lost secret breaks reloads)", "--secret-file", metavar="FILE")
    workers: int | None = option(None, "worker processes reading headers (default: CPUs; 1: in this process)",
                                 "--workers")
    batch_size: int = option(5000, "files a worker reads at a time", "--batch-size")
    commit_rows: int = option(
        131_072, "files loaded per transaction: consecutive batches are joined up to this many; a kill loses at "
                 "most one such group, which the next run reloads", "--commit-rows")
    root: str | None = option(None, "store file_path relative to DIR (default: the folder given, or the common "
                                    "folder of the paths)", "--root", metavar="DIR")
    file_list: str | None = option(None, "also load the paths listed in FILE, one per line", "--file-list",
                                   metavar="FILE")
    staging_dir: str | None = option(
        None, "where batches are staged as Parquet (default: beside a DuckDB file, else a temp folder)",
        "--staging-dir", metavar="DIR")
    keep_staging: bool = option(False, "keep the Parquet staging files after the run", "--keep-staging")
    summary_json: str | None = option(None, "also write the run's summary to FILE as JSON", "--summary-json",
                                      metavar="FILE")
    quiet: bool = option(False, "print nothing but errors (no summary, quarantine list or report)", "--quiet")
    progress: bool | None = option(None, "a progress bar (default: when standard error is a terminal)",
                                   "--no-progress", flag_value=False)
    vocabulary_database_schema: str | None = option(
        None, "schema of the OMOP concepts for protocol mapping (default: cdm_database_schema)")
    map_protocols: bool = option(True, "map every study to a protocol concept after the load, when the "
                                       "LOINC/RSNA playbook is loaded")
    executor: str = option(
        "local", "who reads the headers: local processes, a Dask cluster (scheduler) or a Dask LocalCluster of "
                 "workers processes (needs pip install 'rcdm[dask]')", "--executor",
        choices=("local", "dask", "dask-local"))
    scheduler: str | None = option(None, "Dask scheduler address for the dask executor (tcp://host:8786)",
                                   "--scheduler", metavar="URL")
    staging_url: str | None = option(
        None, "with a Dask executor: workers write their batches as Parquet here (a shared path or an fsspec URL) "
              "instead of sending them through the scheduler", "--staging-url", metavar="URL")
    path_index: str | None = option(
        None, "the site's index of real file paths, kept outside the database (default: beside the secret file, "
              "<secret>.paths.sqlite); stored paths are de-identified", "--path-index", metavar="FILE")
    check_content: bool = option(
        True, "compare a header checksum of files whose size and mtime are unchanged (one small read per file); "
              "--no-content-check trusts size and mtime", "--no-content-check", flag_value=False)
    pacs: Any = option(None, "a rcdm.pacs.PacsOptions for a PACS address (the command's PACS options)")


_TEXTS = {"type": "array", "items": {"type": "string"}}


@dataclasses.dataclass(frozen=True)
class ImageCriteria:
    """Which images of a cohort's persons: the filters of ``get_cohort_images``, ``rcdm extract`` and a study
    spec's ``image_criteria``. None (or an empty list) is no filter; a list is also a comma-separated string."""

    modalities: Any = option(None, "image modality (CT, MR, ...)", "--modality", metavar="CODE", multiple=True,
                             spec={**_TEXTS, "items": {"type": "string", "maxLength": 16}, "maxItems": 64})
    protocol_concept_ids: Any = option(
        None, "protocol_concept_id of the study", "--protocol-concept-id", metavar="ID", multiple=True,
        spec={"type": "array", "items": {"type": "integer"}, "maxItems": 1000})
    include_descendants: bool = option(
        False, "also the descendants of the protocol concepts (concept_ancestor)", "--include-descendants",
        spec={"type": "boolean"})
    vocabulary_database_schema: str | None = option(
        None, "schema of concept_ancestor (default: the CDM schema)", "--vocabulary-schema")
    body_parts: Any = option(None, "body_part_source_value (HEAD, CHEST, ...)", "--body-part", metavar="PART",
                             multiple=True,
                             spec={**_TEXTS, "items": {"type": "string", "maxLength": 64}, "maxItems": 64})
    contrast: Any = option(None, "pre or post", "--contrast", metavar="PHASE", multiple=True,
                           spec={"type": ["string", "array"], "items": {"type": "string"}})
    planes: Any = option(None, "axial, coronal, sagittal or oblique", "--plane", metavar="PLANE", multiple=True,
                         spec={**_TEXTS, "maxItems": 8})
    lateralities: Any = option(None, "laterality (L, R, B for both, U for unpaired)", "--laterality",
                               metavar="L|R|B|U", multiple=True, spec={**_TEXTS, "maxItems": 8})
    min_slice_thickness: float | None = option(None, "slice thickness at least this (mm)", "--min-slice-thickness",
                                               metavar="MM", spec={"type": ["number", "null"]})
    max_slice_thickness: float | None = option(None, "slice thickness at most this (mm)", "--max-slice-thickness",
                                               metavar="MM", spec={"type": ["number", "null"]})
    window_start_days: int | None = option(
        None, "first day of the study window, relative to the anchor (e.g. -30)", "--window-start",
        metavar="DAYS", spec={"type": ["integer", "null"]})
    window_end_days: int | None = option(
        None, "last day of the study window, relative to the anchor (e.g. 0)", "--window-end", metavar="DAYS",
        spec={"type": ["integer", "null"]})
    window_anchor: str = option("start", "the window counts from the cohort entry's start or end date",
                                "--window-anchor", choices=("start", "end"), spec={"enum": ["start", "end"]})
    first_study_only: bool = option(False, "per person, only the earliest study with a matching image",
                                    "--first-study-only")

    def filters(self) -> dict[str, Any]:
        """The criteria as keyword arguments (every field)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class StudyOptions:
    """How a network study runs at this site (``run_study``, ``rcdm study run``, R's ``runRcdmStudy``), besides
    the spec, the connection, the CDM schema and the site's own settings (``rcdm.study_spec.SiteSettings``)."""

    cohort_database_schema: str | None = option(None, "schema of the cohort table (default: the CDM schema)",
                                                "--cohort-schema")
    cohort_table: str = option("cohort", "cohort table", "--cohort-table")
    vocabulary_database_schema: str | None = option(None, "vocabulary_database_schema (default: the CDM schema)",
                                                    "--vocabulary-schema")
    site_name: str | None = option(None, "label of this site in the merged results (default: site)", "--site-name")
    out: str = option("site_results.zip", "the results zip to write", "--out", metavar="ZIP")
    approve_cohort_sql: str | None = option(
        None, "run the spec's cohort SQL files: the spec hash 'rcdm study show SPEC' printed after you reviewed "
              "them (without it, a spec with cohort SQL runs nothing)", "--approve-cohort-sql", metavar="SPEC_HASH")


def spec_schema(cls: type = ImageCriteria) -> dict[str, Any]:
    """The JSON Schema of the options of ``cls`` a study spec may hold (``image_criteria``)."""
    return {"type": "object", "additionalProperties": False,
            "properties": {f.name: f.metadata["spec"] for f in dataclasses.fields(cls) if "spec" in f.metadata}}
