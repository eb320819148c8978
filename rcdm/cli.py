"""The ``rcdm`` command: parses arguments and calls the Python API, nothing more.

Exit codes: 0 success; 1 an rcdm error; 2 bad usage (argument, identifier, dialect); 3 SQL that cannot be
rendered or translated; 4 a missing optional driver (the message names the extra to install); 5 a database
error; 6 another ETL run holds the schema; 130 interrupted. An ETL run that quarantined files still exits 0
(it prints them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from rcdm._version import __version__
from rcdm.cli_common import existing_db as _existing_db
from rcdm.errors import RcdmError, UsageError


def _read_sql(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"No such SQL file: {source}")
    return path.read_text(encoding="utf-8")


def _parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"Parameters are name=value, got {pair!r}")
        params[name] = value
    return params


def _print_rows(rows: Sequence[dict], columns: Sequence[str]) -> None:
    """Print dict rows as an aligned plain-text table."""
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)).rstrip())


# --- sql -----------------------------------------------------------------------------------------------

def cmd_sql_render(args: argparse.Namespace) -> int:
    from rcdm.sql import render

    print(render(_read_sql(args.file), warn_on_missing_parameters=not args.no_warn,
                 parameters=_parse_params(args.param)))
    return 0


def cmd_sql_translate(args: argparse.Namespace) -> int:
    from rcdm.sql import translate

    print(translate(_read_sql(args.file), args.dialect, temp_emulation_schema=args.temp_emulation_schema))
    return 0


def cmd_sql_dialects(args: argparse.Namespace) -> int:
    from rcdm.sql import list_supported_dialects

    print("\n".join(list_supported_dialects()))
    return 0


# --- ddl -----------------------------------------------------------------------------------------------

def cmd_ddl_print(args: argparse.Namespace) -> int:
    from rcdm.ddl import get_ddl

    print(get_ddl(args.dialect, args.schema, args.model, indexes=not args.no_indexes,
                  foreign_keys=args.foreign_keys, temp_emulation_schema=args.temp_emulation_schema), end="")
    return 0


def cmd_ddl_create(args: argparse.Namespace) -> int:
    from rcdm.db import connect
    from rcdm.ddl import create_tables

    with connect(args.db) as conn:
        rows = create_tables(conn, args.schema, args.model, indexes=not args.no_indexes,
                             foreign_keys=args.foreign_keys)
        if not args.quiet:
            print(f"R-CDM DDL on {conn.dialect} ({conn.display_url}), schema {args.schema}:")
            _print_rows(rows, ["type", "object", "table", "status"])
    return 0


def cmd_ddl_drop(args: argparse.Namespace) -> int:
    from rcdm.db import connect
    from rcdm.ddl import drop_tables

    with connect(args.db) as conn:
        dropped = drop_tables(conn, args.schema, args.model)
    if not args.quiet:
        print("dropped: " + (", ".join(dropped) if dropped else "nothing (no such tables)"))
    return 0


# --- etl, report ----------------------------------------------------------------------------------------

def _connect_for_etl(db: str | None):
    """Open the database; DuckDB's refusal of a file another process holds becomes a LockError (exit 6)."""
    from rcdm.db import connect
    from rcdm.errors import DatabaseError, LockError
    from rcdm.etl.lock import lock_message_for

    try:
        return connect(db)
    except DatabaseError as exc:
        message = lock_message_for(exc, db or "the database")
        if message:
            raise LockError(message) from None
        raise


def cmd_etl(args: argparse.Namespace) -> int:
    from rcdm.etl import run_etl

    if args.verify:
        return _etl_verify(args)
    if args.person_map is None and args.person_source is None:
        raise UsageError("rcdm etl needs --person-map FILE or --person-source cdm")
    with _connect_for_etl(args.db) as conn:  # run_etl prints the summary, quarantine and report unless quiet
        run_etl(args.paths, conn, args.schema, person_map=args.person_map, person_source=args.person_source,
                secret_file=args.secret_file, workers=args.workers, batch_size=args.batch_size, root=args.root,
                file_list=args.file_list, staging_dir=args.staging_dir, keep_staging=args.keep_staging,
                summary_json=args.summary_json, quiet=args.quiet,
                progress=False if args.no_progress else None, executor=args.executor,
                scheduler=args.scheduler, staging_url=args.staging_url, commit_rows=args.commit_rows,
                pacs=_pacs_options(args), path_index=args.path_index, check_content=not args.no_content_check)
    return 0


def _etl_verify(args: argparse.Namespace) -> int:
    """``rcdm etl --verify``: print where the bookkeeping no longer matches; exit 1 if anywhere."""
    from rcdm.db import connect
    from rcdm.etl.run import verify_etl

    with connect(_existing_db(args.db)) as conn:
        found = verify_etl(conn, args.schema, args.paths, args.root, args.path_index, args.secret_file)
    for name, count in found.items():
        print(f"{name}: {count}")
    if any(found.values()):
        if not args.quiet:
            print("rcdm etl --verify: the ETL's bookkeeping does not match the tables; the next rcdm etl over the "
                  "same paths repairs it")
        return 1
    return 0


def _pacs_options(args: argparse.Namespace):
    """The PacsOptions of the PACS options an ETL or extract command was given (defaults for the rest)."""
    from rcdm.pacs import PacsOptions

    given = {name: getattr(args, name) for name in ("page_size", "retries", "concurrency", "calling_aet", "retrieve",
                                                   "move_aet", "move_port", "rescan")
             if getattr(args, name, None) is not None}
    if getattr(args, "pacs_index", None):
        given["index"] = args.pacs_index
    elif getattr(args, "secret_file", None):  # the index goes with the secret (rcdm.pacs.index)
        from rcdm.pacs.index import default_index_path

        given["index"] = str(default_index_path(args.secret_file))
    return PacsOptions(**given)


def _add_pacs(p: argparse.ArgumentParser, etl: bool) -> None:
    """Options for a PACS address (rcdm.pacs.PacsOptions; README "From a PACS")."""
    g = p.add_argument_group("PACS (a dicomweb+https://... or dimse://AET@host:port address; credentials from "
                             "RCDM_PACS_USER / RCDM_PACS_PASSWORD or the URL)")
    g.add_argument("--pacs-index", metavar="FILE",
                   help="the site-local index of PACS UIDs, outside the database (default: beside the site "
                        "secret, <secret file>.pacs.sqlite)")
    g.add_argument("--retries", type=int, help="retries of a failed PACS request before stopping (default 4)")
    g.add_argument("--calling-aet", help="our AE title for DIMSE (default RCDM)")
    g.add_argument("--concurrency", type=int, help="PACS requests at once (default 4)")
    if etl:
        g.add_argument("--page-size", type=int, help="QIDO-RS results per request (default 500)")
        g.add_argument("--rescan", action="store_true", default=None,
                       help="list every study's instances again, also of studies loaded by a finished run")
        return
    g.add_argument("--retrieve", choices=["get", "move"], help="DIMSE retrieval: C-GET (default) or C-MOVE")
    g.add_argument("--move-aet", help="C-MOVE destination: the AE title the PACS knows rcdm by (default RCDM)")
    g.add_argument("--move-port", type=int, help="port of rcdm's storage SCP for C-MOVE (default 11113)")


def cmd_report(args: argparse.Namespace) -> int:
    from rcdm.db import connect
    from rcdm.report import format_report, quality_report

    with connect(_existing_db(args.db)) as conn:
        text = format_report(quality_report(conn, args.schema), args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        if not args.quiet:
            print(f"report written to {args.out}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    return 0


# --- demo ----------------------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from rcdm.demo import run_demo

    run_demo(args.out, n_patients=args.patients, workers=args.workers, quiet=args.quiet)
    return 0


# --- cdm, cohort, extract -------------------------------------------------------------------------------

def cmd_cdm_load_csv(args: argparse.Namespace) -> int:
    from rcdm.cdm_csv import load_cdm_csv
    from rcdm.db import connect

    with connect(args.db) as conn:
        loaded = load_cdm_csv(conn, args.schema, args.source, tables=args.tables, overwrite=args.overwrite,
                              progress=not args.quiet)
    if not args.quiet:
        _print_rows([{"table": t, "rows": n} for t, n in loaded.items()], ["table", "rows"])
    return 0


def cmd_cohort_generate(args: argparse.Namespace) -> int:
    from rcdm.cohort import generate_cohort
    from rcdm.db import connect

    sql = _read_sql(args.sql)
    with connect(_existing_db(args.db), temp_emulation_schema=args.temp_emulation_schema) as conn:
        result = generate_cohort(conn, sql, args.cohort_id, args.schema, args.cohort_schema or args.schema,
                                 args.cohort_table, vocabulary_database_schema=args.vocabulary_schema,
                                 results_database_schema=args.results_schema)
    if not args.quiet:
        print(f"cohort {result['cohort_definition_id']} in {result['cohort_table']}: {result['persons']} persons, "
              f"{result['entries']} entries ({result['seconds']} s)")
    return 0


_EXTRACT_FILTERS = ("modalities", "protocol_concept_ids", "include_descendants", "vocabulary_database_schema",
                    "body_parts", "contrast", "planes", "lateralities", "min_slice_thickness", "max_slice_thickness",
                    "window_start_days", "window_end_days", "window_anchor", "first_study_only")


def cmd_extract(args: argparse.Namespace) -> int:
    from rcdm.db import connect
    from rcdm.extract import count_cohort_images, get_cohort_images, materialize, write_manifest

    mode = "copy" if args.copy else "link" if args.link else "pacs" if args.source else "manifest"
    if not args.dry_run and args.out is None:
        raise UsageError("rcdm extract needs --out DIR (or --dry-run)")
    if mode in ("copy", "link") and not args.dry_run and args.root is None:
        raise UsageError(f"--{mode} needs --root DIR, the archive root the stored file paths are relative to")
    filters = {name: getattr(args, name) for name in _EXTRACT_FILTERS}
    common = dict(cohort_database_schema=args.cohort_schema, cohort_table=args.cohort_table, **filters)
    with connect(_existing_db(args.db)) as conn:
        if args.dry_run:
            counts = count_cohort_images(conn, args.cohort_id, args.schema, **common)
            _print_rows(counts.to_dict("records"), ["modality", "persons", "studies", "series", "images"])
            return 0
        images = get_cohort_images(conn, args.cohort_id, args.schema, **common)
    paths = write_manifest(images, args.out)
    if not args.quiet:
        print(f"{images['radiology_image_id'].nunique()} images of {images['person_id'].nunique()} persons; "
              f"manifest: {paths['csv']}, {paths['parquet']}")
    if mode == "manifest":
        return 0
    if mode == "pacs":
        from rcdm.pacs.retrieve import retrieve_images

        fetched = retrieve_images(images, args.source, args.out, _pacs_options(args), progress=not args.quiet)
        if not args.quiet:
            print(f"retrieved {fetched['retrieved']} new, {fetched['skipped']} already there, "
                  f"{len(fetched['unresolved'])} not in the PACS index for {args.source.split('@')[-1]}, "
                  f"{len(fetched['failed'])} answered with something else than their DICOM file")
        for image in fetched["failed"][:20]:
            print(f"rcdm: failed: radiology_image_id {image}", file=sys.stderr)
        return 1 if fetched["unresolved"] or fetched["failed"] else 0
    from rcdm.etl.path_index import default_location

    index = Path(args.path_index) if args.path_index else default_location(args.secret_file)
    summary = materialize(images, args.root, args.out, mode=mode, progress=not args.quiet,
                          person_map=args.person_map, path_index=index if index.is_file() else None)
    if not args.quiet:
        print(f"{mode}: {summary['copied'] + summary['linked']} new, {summary['skipped']} already there, "
              f"{len(summary['missing'])} missing under {args.root}"
              + (f", {len(summary['unresolved'])} unresolved (paths with a {{patient_id}} placeholder: give "
                 f"--person-map)" if summary["unresolved"] else ""))
    for path in summary["missing"][:20]:
        print(f"rcdm: missing: {path}", file=sys.stderr)
    for path in summary["unresolved"][:20]:
        print(f"rcdm: unresolved: {path}", file=sys.stderr)
    return 1 if summary["missing"] or summary["unresolved"] else 0


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _add_extract_filters(p: argparse.ArgumentParser) -> None:
    f = p.add_argument_group("filters (repeat an option, or give a comma-separated list)")
    f.add_argument("--modality", dest="modalities", action="extend", type=_split, metavar="CODE",
                   help="image modality (CT, MR, ...)")
    f.add_argument("--protocol-concept-id", dest="protocol_concept_ids", action="extend", type=_split, metavar="ID",
                   help="protocol_concept_id of the study")
    f.add_argument("--include-descendants", action="store_true",
                   help="also the descendants of the protocol concepts (concept_ancestor)")
    f.add_argument("--vocabulary-schema", dest="vocabulary_database_schema", default=None,
                   help="schema of concept_ancestor (default: --schema)")
    f.add_argument("--body-part", dest="body_parts", action="extend", type=_split, metavar="PART",
                   help="body_part_source_value (HEAD, CHEST, ...)")
    f.add_argument("--contrast", action="extend", type=_split, metavar="PHASE", help="pre or post")
    f.add_argument("--plane", dest="planes", action="extend", type=_split, metavar="PLANE",
                   help="axial, coronal, sagittal or oblique")
    f.add_argument("--laterality", dest="lateralities", action="extend", type=_split, metavar="L|R|B|U",
                   help="laterality (L, R, B for both, U for unpaired)")
    f.add_argument("--min-slice-thickness", type=float, default=None, metavar="MM")
    f.add_argument("--max-slice-thickness", type=float, default=None, metavar="MM")
    f.add_argument("--window-start", dest="window_start_days", type=int, default=None, metavar="DAYS",
                   help="first day of the study window, relative to the anchor (e.g. -30)")
    f.add_argument("--window-end", dest="window_end_days", type=int, default=None, metavar="DAYS",
                   help="last day of the study window, relative to the anchor (e.g. 0)")
    f.add_argument("--window-anchor", choices=["start", "end"], default="start",
                   help="the window counts from the cohort entry's start (default) or end date")
    f.add_argument("--first-study-only", action="store_true",
                   help="per person, only the earliest study with a matching image")


# --- study ---------------------------------------------------------------------------------------------

def cmd_study_run(args: argparse.Namespace) -> int:
    from rcdm.db import connect
    from rcdm.study import run_study
    from rcdm.study_spec import load_site_settings

    site = load_site_settings(args.site_config, min_cell_count=args.min_cell_count, audit_log=args.audit_log)
    with connect(_existing_db(args.db)) as conn:
        result = run_study(args.spec, conn, args.schema, cohort_database_schema=args.cohort_schema,
                           cohort_table=args.cohort_table, out=args.out, site_name=args.site_name,
                           vocabulary_database_schema=args.vocabulary_schema, site=site,
                           approve_cohort_sql=args.approve_cohort_sql)
    if not args.quiet:
        suppressed = sum(t["primary"] + t["complementary"] for t in result["suppressed"].values())
        print(f"study results written to {result['out']} (spec {result['study_spec_hash'][:12]}, "
              f"{len(result['analyses'])} analyses, min cell count {result['min_cell_count']}, "
              f"{suppressed} cells suppressed; release recorded in {site.audit_log})")
    return 0


def cmd_study_show(args: argparse.Namespace) -> int:
    from rcdm.study_cohort_sql import describe_cohort_sql
    from rcdm.study_spec import load_study

    study = load_study(args.spec)
    spec = study.spec
    print(f"study {spec['name']} {spec['version']}\nspec hash {study.spec_hash}\n"
          f"min_cell_count of the spec: {spec['min_cell_count'] or '(none: the site decides)'}\n"
          f"cohorts: {', '.join(str(c['id']) for c in spec['cohorts'])}\n"
          f"analyses: {', '.join(a['id'] + ' (' + a['type'] + ')' for a in spec['analyses'])}\n")
    print(describe_cohort_sql(spec, study.spec_hash, study.cohort_sql), end="")
    return 0


def cmd_study_merge(args: argparse.Namespace) -> int:
    from rcdm.study import merge_results

    result = merge_results(args.zips, args.out)
    if not args.quiet:
        print(f"merged {len(result['sites'])} site(s) into {result['out_dir']}; report: {result['report']}")
    return 0


# --- viewer --------------------------------------------------------------------------------------------

def cmd_viewer(args: argparse.Namespace) -> int:
    from rcdm.viewer import serve

    from rcdm.viewer.settings import LOCAL_HOSTS, ViewerSettings

    settings = ViewerSettings(allowed_hosts=tuple(args.allowed_host or LOCAL_HOSTS),
                              trusted_proxies=tuple(args.trusted_proxy or ()), https=args.https,
                              min_cell_count=args.min_cell_count)
    serve(args.db, args.schema, host=args.host, port=args.port, users_file=args.users,
          vocabulary_schema=args.vocabulary_schema, cohort_schema=args.cohort_schema,
          results_schema=args.results_schema, settings=settings, cache_seconds=args.cache_seconds,
          log_level="warning" if args.quiet else "info")
    return 0


def cmd_viewer_add_user(args: argparse.Namespace) -> int:
    import getpass

    from rcdm.viewer import require

    require()
    from rcdm.viewer.auth import add_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            raise UsageError("The passwords differ.")
    path = add_user(args.name, password, args.users, role=args.role)
    print(f"user {args.name} ({args.role}) saved in {path}")
    return 0


def cmd_viewer_build_summary(args: argparse.Namespace) -> int:
    from rcdm.db import connect
    from rcdm.viewer.queries import build_summary

    with connect(_existing_db(args.db)) as conn:
        result = build_summary(conn, args.schema, args.results_schema, args.vocabulary_schema)
    if not args.quiet:
        print(f"viewer summary built at {result['built_at']} UTC ({result['series_rows']} series rows)")
    return 0


# --- parser --------------------------------------------------------------------------------------------

def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, metavar="URL",
                   help="SQLAlchemy URL (postgresql+psycopg://..., duckdb:///f.duckdb, ...) or a file path; "
                        "default: the embedded DuckDB file rcdm.duckdb (or $RCDM_DATABASE)")
    p.add_argument("--schema", default="cdm", help="cdm_database_schema holding the R-CDM tables (default: cdm)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="rcdm", choices=["rcdm", "micdm", "all"],
                   help="which tables: R-CDM, OHDSI MI-CDM, or both (default: rcdm)")
    p.add_argument("--no-indexes", action="store_true", help="leave out the indexes")
    p.add_argument("--foreign-keys", action="store_true", help="add foreign keys (off by default, as in OHDSI)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rcdm", description="Radiology Common Data Model (R-CDM) for OHDSI sites.")
    parser.add_argument("--version", action="version", version=f"rcdm {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    p = verbs.add_parser("demo", help="the whole story on Eunomia GiBleed with synthetic DICOM (DuckDB)",
                         description="Load Eunomia GiBleed (OMOP CDM), write synthetic DICOM studies for its persons, "
                                     "run the ETL and protocol mapping, fill MI-CDM, generate the GiBleed cohort, "
                                     "extract its images, run a network study and write the quality report as HTML.")
    p.add_argument("--out", default="rcdm-demo", help="folder for the corpus and the database (default: rcdm-demo)")
    p.add_argument("--patients", type=int, default=12, help="GiBleed persons given studies (default: 12)")
    p.add_argument("--workers", type=int, default=None, help="header-reading processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_demo)

    sql = verbs.add_parser("sql", help="render and translate OHDSI SQL (SqlRender-compatible)",
                           description="Render and translate OHDSI SQL templates, as R's SqlRender does.")
    sql_verbs = sql.add_subparsers(dest="sql_verb", metavar="ACTION")
    sql_verbs.required = True
    p = sql_verbs.add_parser("render", help="fill in @parameters and {conditions}",
                             description="Render an OHDSI SQL template (SqlRender::render).")
    p.add_argument("file", help="SQL file, or - for standard input")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="a parameter value")
    p.add_argument("--no-warn", action="store_true", help="no warning for parameters the SQL does not use")
    p.set_defaults(func=cmd_sql_render)
    p = sql_verbs.add_parser("translate", help="translate OHDSI SQL to a target dialect",
                             description="Translate OHDSI SQL to a database's dialect (SqlRender::translate).")
    p.add_argument("file", help="SQL file, or - for standard input")
    p.add_argument("--dialect", required=True, help="target, as SqlRender spells it (see 'rcdm sql dialects')")
    p.add_argument("--temp-emulation-schema", default=None, help="schema for emulated temp tables (oracle, ...)")
    p.set_defaults(func=cmd_sql_translate)
    p = sql_verbs.add_parser("dialects", help="list the supported target dialects",
                             description="List the target dialects, spelled as SqlRender spells them.")
    p.set_defaults(func=cmd_sql_dialects)

    ddl = verbs.add_parser("ddl", help="print, create or drop the R-CDM / MI-CDM tables",
                           description="Print the DDL for a dialect, or create/drop the tables on a database.")
    ddl.add_argument("--dialect", default="sql server", help="target dialect for printing (default: sql server)")
    ddl.add_argument("--schema", default="cdm", help="cdm_database_schema (default: cdm)")
    ddl.add_argument("--temp-emulation-schema", default=None, help=argparse.SUPPRESS)
    _add_model(ddl)
    ddl.set_defaults(func=cmd_ddl_print)
    ddl_verbs = ddl.add_subparsers(dest="ddl_verb", metavar="ACTION")
    p = ddl_verbs.add_parser("create", help="create the tables where missing (idempotent)",
                             description="Create the tables, indexes (and foreign keys) that are missing.")
    _add_db(p)
    _add_model(p)
    p.set_defaults(func=cmd_ddl_create)
    p = ddl_verbs.add_parser("drop", help="drop the tables", description="Drop the model's tables where they exist.")
    _add_db(p)
    p.add_argument("--model", default="rcdm", choices=["rcdm", "micdm", "all"], help="which tables (default: rcdm)")
    p.set_defaults(func=cmd_ddl_drop)

    p = verbs.add_parser(
        "etl", help="load DICOM headers into the R-CDM tables",
        description="Read the headers of the DICOM files under PATH (in parallel worker processes), de-identify "
                    "them (person_id from a site map, keyed hashes for UIDs) and load radiology_occurrence and "
                    "radiology_image. Re-runs skip unchanged files; an interrupted run resumes where it stopped; "
                    "unreadable files are quarantined and listed. Prints a summary and the quality report.")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="DICOM files or folders (walked recursively), or one PACS address: "
                        "dicomweb+https://host/dicom-web (QIDO-RS) or dimse://AET@host:port (C-FIND)")
    _add_db(p)
    who = p.add_mutually_exclusive_group()
    who.add_argument("--person-map", metavar="FILE", help="CSV with the header patient_id,person_id")
    who.add_argument("--person-source", choices=["cdm"],
                     help="'cdm': map PatientID to person.person_source_value of the same schema")
    p.add_argument("--secret-file", metavar="FILE",
                   help="site secret for the keyed UID hashes (default ~/.rcdm/site_secret; created on first use: "
                        "back it up, a lost secret breaks reloads)")
    p.add_argument("--workers", type=int, default=None, help="worker processes reading headers (default: CPUs)")
    p.add_argument("--batch-size", type=int, default=5000,  # rcdm.etl.run.DEFAULT_BATCH_SIZE
                   help="files a worker reads at a time (default 5000)")
    p.add_argument("--commit-rows", type=int, default=131_072,  # rcdm.etl.run.COMMIT_ROWS
                   help="files loaded per transaction: consecutive batches are joined up to this many; a kill "
                        "loses at most one such group, which the next run reloads (default 131072)")
    p.add_argument("--root", metavar="DIR", help="store file_path relative to DIR (default: the folder given)")
    p.add_argument("--file-list", metavar="FILE", help="also load the paths listed in FILE, one per line")
    p.add_argument("--staging-dir", metavar="DIR",
                   help="where batches are staged as Parquet (default: beside a DuckDB file, else a temp folder)")
    p.add_argument("--keep-staging", action="store_true", help="keep the Parquet staging files after the run")
    p.add_argument("--summary-json", metavar="FILE", help="also write the run's summary to FILE as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--executor", choices=["local", "dask", "dask-local"], default="local",
                   help="who reads the headers: local processes (default), a Dask cluster (--scheduler) or a "
                        "Dask LocalCluster of --workers processes (needs pip install 'rcdm[dask]')")
    p.add_argument("--scheduler", metavar="URL", help="Dask scheduler address for --executor dask (tcp://host:8786)")
    p.add_argument("--staging-url", metavar="URL",
                   help="with a Dask executor: workers write their batches as Parquet here (a shared path or an "
                        "fsspec URL) instead of sending them through the scheduler")
    p.add_argument("--path-index", metavar="FILE",
                   help="the site's index of real file paths, kept outside the database (default: beside the "
                        "secret file, <secret>.paths.sqlite); stored paths are de-identified")
    p.add_argument("--no-content-check", action="store_true",
                   help="trust size and mtime to tell unchanged files (default: also compare a header checksum, "
                        "one small read per file)")
    p.add_argument("--verify", action="store_true",
                   help="only report where the ETL's bookkeeping no longer matches the tables (and, with PATHs, "
                        "files gone from them); exit 1 if anywhere. The next run repairs it")
    _add_pacs(p, etl=True)
    p.set_defaults(func=cmd_etl)

    p = verbs.add_parser("report", help="print the mapping-quality report",
                         description="How well each R-CDM column is filled (the paper's Tables 3 and 4), "
                                     "studies by modality and year, and the ETL's file statuses and quarantine.")
    _add_db(p)
    p.add_argument("--format", default="table", choices=["table", "json", "csv", "html"],
                   help="output format (default: table)")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=cmd_report)

    cdm = verbs.add_parser("cdm", help="load an OMOP CDM from CSV files",
                           description="Work with the OMOP CDM tables beside the R-CDM tables.")
    cdm_verbs = cdm.add_subparsers(dest="cdm_verb", metavar="ACTION")
    cdm_verbs.required = True
    p = cdm_verbs.add_parser("load-csv", help="load OMOP CDM tables from a folder or zip of CSVs (Eunomia format)",
                             description="Load <table>.csv files (types from _schema.tsv when present, else "
                                         "inferred) into a schema, through the backend's bulk path.")
    p.add_argument("source", metavar="SOURCE", help="folder or .zip of <table>.csv files")
    _add_db(p)
    p.add_argument("--tables", default=None, metavar="A,B", help="only these tables (default: every CSV)")
    p.add_argument("--overwrite", action="store_true", help="replace tables that exist")
    p.set_defaults(func=cmd_cdm_load_csv)

    cohort = verbs.add_parser("cohort", help="generate cohorts without ATLAS",
                              description="Cohorts from ATLAS-exported cohort SQL.")
    cohort_verbs = cohort.add_subparsers(dest="cohort_verb", metavar="ACTION")
    cohort_verbs.required = True
    p = cohort_verbs.add_parser(
        "generate", help="run an ATLAS-exported cohort definition (OHDSI SQL)",
        description="Render, translate and run a cohort definition exported from ATLAS as OHDSI SQL; creates "
                    "the cohort table if missing and replaces earlier rows of the cohort id.")
    p.add_argument("--sql", required=True, metavar="FILE", help="the cohort SQL file, or - for standard input")
    p.add_argument("--cohort-id", required=True, type=int, help="cohort_definition_id to write")
    _add_db(p)
    p.add_argument("--cohort-schema", default=None, help="target_database_schema of the cohort table "
                                                         "(default: --schema)")
    p.add_argument("--cohort-table", default="cohort", help="target_cohort_table (default: cohort)")
    p.add_argument("--vocabulary-schema", default=None, help="vocabulary_database_schema (default: --schema)")
    p.add_argument("--results-schema", default=None, help="results_database_schema (default: --cohort-schema)")
    p.add_argument("--temp-emulation-schema", default=None, help="schema for emulated temp tables (oracle, ...)")
    p.set_defaults(func=cmd_cohort_generate)

    p = verbs.add_parser(
        "extract", help="the images of a cohort: manifest, copy or link",
        description="Select the R-CDM images of a cohort's persons (with filters), write manifest.csv and "
                    "manifest.parquet under --out, and optionally copy (verified, resumable) or link the files "
                    "into person_<id>/study_<id>/series_<id>/. --dry-run prints counts only.")
    p.add_argument("--cohort-id", required=True, type=int, help="cohort_definition_id")
    _add_db(p)
    p.add_argument("--cohort-schema", default=None, help="schema of the cohort table (default: --schema)")
    p.add_argument("--cohort-table", default="cohort", help="cohort table (default: cohort)")
    p.add_argument("--root", default=None, metavar="DIR", help="archive root the stored file paths are relative to")
    p.add_argument("--path-index", metavar="FILE",
                   help="the site's index of real file paths the ETL keeps (default: beside the secret file, "
                        "<secret>.paths.sqlite, when it exists): finds files whose stored path is de-identified")
    p.add_argument("--secret-file", metavar="FILE", help="the site secret file (locates the default path index)")
    p.add_argument("--person-map", default=None, metavar="FILE",
                   help="the site's person map (CSV patient_id,person_id), to resolve the {patient_id} folders "
                        "of stored paths (without it those images are reported as unresolved)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (manifest and files)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--manifest-only", action="store_true", help="write the manifest only (the default)")
    how.add_argument("--copy", action="store_true", help="copy the files, verifying each copy")
    how.add_argument("--link", action="store_true", help="symlink the files")
    how.add_argument("--from", dest="source", metavar="PACS",
                     help="retrieve the files from a PACS: dicomweb+https://host/dicom-web (WADO-RS) or "
                          "dimse://AET@host:port (C-GET, or C-MOVE with --retrieve move)")
    p.add_argument("--dry-run", action="store_true", help="print counts by modality only")
    _add_pacs(p, etl=False)
    _add_extract_filters(p)
    p.set_defaults(func=cmd_extract)

    study = verbs.add_parser("study", help="run a network study at this site, or merge sites' results",
                             description="Network studies: run a study spec (JSON/YAML) into an aggregate-only "
                                         "zip, or merge many sites' zips into tables and an HTML report.")
    study_verbs = study.add_subparsers(dest="study_verb", metavar="ACTION")
    study_verbs.required = True
    p = study_verbs.add_parser(
        "run", help="run a study spec; write aggregate results (small counts suppressed) to a zip",
        description="Run the study's analyses in the database and write manifest.json, spec.json and one CSV "
                    "per analysis to --out. Counts below the spec's min_cell_count are suppressed; the zip is "
                    "written only if a final scan finds nothing person-level.")
    p.add_argument("spec", metavar="SPEC", help="study specification (.json, .yaml)")
    _add_db(p)
    p.add_argument("--cohort-schema", default=None, help="schema of the cohort table (default: --schema)")
    p.add_argument("--cohort-table", default="cohort", help="cohort table (default: cohort)")
    p.add_argument("--vocabulary-schema", default=None, help="vocabulary_database_schema (default: --schema)")
    p.add_argument("--site-name", default=None, help="label of this site in the merged results (default: site)")
    p.add_argument("--out", default="site_results.zip", metavar="ZIP", help="zip to write (default: "
                                                                             "site_results.zip)")
    p.add_argument("--approve-cohort-sql", default=None, metavar="SPEC_HASH",
                   help="run the spec's cohort SQL files: the spec hash 'rcdm study show SPEC' printed after you "
                        "reviewed them (without it, a spec with cohort SQL runs nothing)")
    p.add_argument("--site-config", default=None, metavar="FILE",
                   help="the site's settings (YAML/JSON: min_cell_count, audit_log)")
    p.add_argument("--min-cell-count", type=int, default=None, metavar="N",
                   help="the site's minimum cell count (default 5, or the site config's); a spec can raise it, "
                        "never lower it")
    p.add_argument("--audit-log", default=None, metavar="FILE",
                   help="the site's release log (default $RCDM_STUDY_AUDIT_LOG or "
                        "~/.local/state/rcdm/study_releases.jsonl)")
    p.set_defaults(func=cmd_study_run)
    p = study_verbs.add_parser(
        "show", help="print a spec's hash, analyses and every cohort SQL file it would run, for review",
        description="Validate a study spec and print what it would do at this site: its hash (the value of "
                    "--approve-cohort-sql), its analyses, and the full text of each cohort SQL file.")
    p.add_argument("spec", metavar="SPEC", help="study specification (.json, .yaml)")
    p.set_defaults(func=cmd_study_show)
    p = study_verbs.add_parser(
        "merge", help="merge sites' study zips into one table per analysis and an HTML report",
        description="Check that the zips ran the same study spec, then write <analysis>.csv (every site's rows "
                    "and '(all sites)' sums), sites.csv and report.html to --out.")
    p.add_argument("zips", nargs="+", metavar="ZIP", help="site results zips")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_study_merge)

    from rcdm.cli_vocab import add_vocab_parser  # rcdm vocab ...: protocol mapping

    add_vocab_parser(verbs)
    viewer = verbs.add_parser(
        "viewer", help="serve the web dashboard (login required)",
        description="Serve the R-CDM database viewer: overview, protocols, metadata combinations and a search, "
                    "behind a login, reading the database read-only. Add users first with 'rcdm viewer add-user'.")
    _add_db(viewer)
    viewer.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    viewer.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    viewer.add_argument("--users", metavar="FILE", help="users file (default: ~/.rcdm/viewer_users.json)")
    viewer.add_argument("--vocabulary-schema", metavar="V", help="schema of the OMOP concept table "
                                                                 "(default: --schema)")
    viewer.add_argument("--cohort-schema", metavar="C", help="schema of the cohort table (default: --schema)")
    viewer.add_argument("--results-schema", metavar="R", help="schema of the summary tables (default: --schema)")
    viewer.add_argument("--https", "--secure-cookies", dest="https", action="store_true",
                        help="the viewer is reached over https (directly or through a TLS proxy): Secure cookies "
                             "and Strict-Transport-Security")
    viewer.add_argument("--allowed-host", action="append", metavar="HOST",
                        help="a Host name the viewer answers (repeatable; default: localhost, 127.0.0.1, ::1; "
                             "'*.example.org' allowed)")
    viewer.add_argument("--trusted-proxy", action="append", metavar="ADDR",
                        help="address or network of a reverse proxy whose X-Forwarded-For/-Proto is believed "
                             "(repeatable; default: none, the TCP peer is the client)")
    viewer.add_argument("--min-cell-count", type=int, default=5, metavar="N",
                        help="counts below N are hidden from aggregate users (default: 5)")
    viewer.add_argument("--cache-seconds", type=float, default=300.0,
                        help="keep page aggregates in memory this long (default: 300)")
    viewer.set_defaults(func=cmd_viewer)
    viewer_verbs = viewer.add_subparsers(dest="viewer_verb", metavar="ACTION")
    p = viewer_verbs.add_parser("add-user", help="add or replace a viewer user (password hashed with argon2id)",
                                description="Add a user to the viewer's users file; the password is prompted "
                                            "(or read from standard input with --password-stdin).")
    p.add_argument("name", help="user name: letters, digits and . _ @ -")
    p.add_argument("--users", metavar="FILE", help="users file (default: ~/.rcdm/viewer_users.json)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--role", choices=("aggregate", "analyst"), default="aggregate",
                   help="aggregate (default): suppressed counts only; analyst: also row-level search and manifests")
    p.set_defaults(func=cmd_viewer_add_user)
    p = viewer_verbs.add_parser(
        "build-summary", help="store the viewer's aggregates (fast pages on large databases)",
        description="Compute the overview, protocols and combinations once and a series-level search table, "
                    "and store them in the results schema (needs write access). Rebuild after each ETL load.")
    _add_db(p)
    p.add_argument("--results-schema", metavar="R", help="where to write the summary (default: --schema)")
    p.add_argument("--vocabulary-schema", metavar="V", help="schema of the OMOP concept table (default: --schema)")
    p.set_defaults(func=cmd_viewer_build_summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except RcdmError as exc:
        print(f"rcdm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rcdm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
