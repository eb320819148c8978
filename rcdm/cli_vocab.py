"""The ``rcdm vocab`` verbs: load the vocabulary, the playbook and site mappings; explain, remap, export what is
unmapped, fill MI-CDM. Argument parsing only; each verb calls one function of ``rcdm.protocols``."""

from __future__ import annotations

import argparse
from pathlib import Path

DB_HELP = ("SQLAlchemy URL (postgresql+psycopg://..., duckdb:///f.duckdb, ...) or a file path; default: the "
           "embedded DuckDB file rcdm.duckdb (or $RCDM_DATABASE)")


def _connect(db: str | None, must_exist: bool = True):
    """Open ``db``; the vocabulary verbs work on an existing database (``load-*`` may create a new DuckDB file)."""
    from rcdm.cli_common import existing_db
    from rcdm.db import connect

    return connect(existing_db(db) if must_exist else db)


def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text)


def cmd_vocab_load_athena(args: argparse.Namespace) -> int:
    from rcdm.protocols.store import load_athena

    with _connect(args.db, must_exist=False) as conn:
        counts = load_athena(conn, args.schema, args.folder, progress=not args.quiet)
    _say(args, "loaded into " + args.schema + ": " + ", ".join(f"{t} {n:,} rows" for t, n in counts.items()))
    return 0


def cmd_vocab_load_playbook(args: argparse.Namespace) -> int:
    from rcdm.protocols.store import load_playbook

    if args.file is None and args.loinc_table is None:
        from rcdm.errors import UsageError

        raise UsageError("give LoincRsnaRadiologyPlaybook.csv, --loinc-table Loinc.csv, or both")
    with _connect(args.db, must_exist=False) as conn:
        rows = load_playbook(conn, args.schema, args.file, loinc_table=args.loinc_table, part_links=args.part_link)
    _say(args, f"loaded {rows:,} playbook parts into {args.schema}.rcdm_playbook")
    return 0


def cmd_vocab_load_stcm(args: argparse.Namespace) -> int:
    from rcdm.protocols.store import load_stcm

    with _connect(args.db, must_exist=False) as conn:
        counts = load_stcm(conn, args.schema, args.file)
    _say(args, f"loaded into {args.schema}.source_to_concept_map (rows of these source vocabularies replaced): "
               + ", ".join(f"{v} {n:,}" for v, n in counts.items()))
    return 0


def _study(args: argparse.Namespace) -> dict:
    from rcdm.protocols.source_value import study_from_source_value

    text = " ".join(args.text).strip()
    if "|" in text and not any((args.modality, args.body_part, args.series, args.protocol_name)):
        study = study_from_source_value(text, args.contrast, args.laterality)
    else:
        study = {"study_description": text or None, "modality": args.modality, "body_part": args.body_part,
                 "series_descriptions": list(args.series), "protocol_name": args.protocol_name,
                 "contrast": args.contrast, "laterality": args.laterality}
    return {k: v for k, v in study.items() if v not in (None, [], "")}


def cmd_vocab_explain(args: argparse.Namespace) -> int:
    from rcdm.protocols.matcher import ProtocolMatcher
    from rcdm.protocols.vocab_data import fixtures_dir

    if args.db is not None:
        from rcdm.protocols.store import matcher_from_database

        with _connect(args.db) as conn:
            matcher = matcher_from_database(conn, args.schema, args.vocabulary_schema, args.stcm_vocabulary or None)
    else:
        fixtures = fixtures_dir()
        own = args.playbook or args.loinc_table
        playbook = args.playbook or (None if own else fixtures / "LoincRsnaRadiologyPlaybook.csv")
        concepts = args.concepts or (None if own else fixtures / "CONCEPT.csv")
        if not own:
            _say(args, "(no --db, --playbook or --loinc-table: using the bundled playbook extract and CONCEPT fixture)")
        matcher = ProtocolMatcher.from_files(playbook=playbook, concepts=concepts, stcm=args.stcm,
                                             loinc_table=args.loinc_table, part_links=args.part_link)
    print(matcher.explain(_study(args), top=args.top))
    return 0


def cmd_vocab_remap(args: argparse.Namespace) -> int:
    from rcdm.protocols.remap import remap

    with _connect(args.db) as conn:
        result = remap(conn, args.schema, args.vocabulary_schema, source_vocabularies=args.stcm_vocabulary or None)
    by = result["keys_by_source"]
    _say(args, f"remap {args.schema}: {result['studies']:,} studies, mapped {result['mapped_before']:,} → "
               f"{result['mapped_after']:,}, {result['changed']:,} changed; {result['keys']:,} distinct keys "
               f"(site mapping {by['site']:,}, matcher {by['auto']:,}, unmapped {by['none']:,})")
    return 0


def cmd_vocab_unmapped(args: argparse.Namespace) -> int:
    from rcdm.protocols.unmapped import export_unmapped

    with _connect(args.db) as conn:
        frame = export_unmapped(conn, args.schema, args.out)
    studies = int(frame["studies"].sum()) if len(frame) else 0
    _say(args, f"{len(frame):,} unmapped protocol source values ({studies:,} studies) written to {args.out}; "
               "import it in Usagi (source code, source name, source frequency; the rest as additional info)")
    return 0


def cmd_vocab_micdm(args: argparse.Namespace) -> int:
    from rcdm.protocols.micdm import populate_micdm

    with _connect(args.db) as conn:
        result = populate_micdm(conn, args.schema, args.vocabulary_schema)
    _say(args, f"image_occurrence: {result['image_occurrence']:,} rows from {result['series']:,} series "
               f"({result['skipped']:,} skipped: no study date or hashed Study UID); modality concept "
               f"{result['modality_mapped']:,}, anatomic site concept {result['anatomic_site_mapped']:,}")
    return 0


def _db(p: argparse.ArgumentParser, schema_help: str, vocabulary: bool = False) -> None:
    p.add_argument("--db", default=None, metavar="URL", help=DB_HELP)
    p.add_argument("--schema", default="cdm", help=schema_help + " (default: cdm)")
    if vocabulary:
        p.add_argument("--vocabulary-schema", default=None, metavar="SCHEMA",
                       help="vocabulary_database_schema holding concept (default: the --schema)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _stcm_vocabularies(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stcm-vocabulary", action="append", default=[], metavar="ID",
                   help="use only source_to_concept_map rows of this source_vocabulary_id (repeatable; "
                        "default: every row)")


def _loinc_table(p: argparse.ArgumentParser) -> None:
    p.add_argument("--loinc-table", type=Path, metavar="LOINC_CSV",
                   help="LOINC's own Loinc.csv: every radiology term (CLASS RAD) becomes a term")
    p.add_argument("--part-link", action="append", type=Path, default=[], metavar="FILE",
                   help="LoincPartLink_Primary.csv / LoincPartLink_Supplementary.csv (repeatable): their Rad.* "
                        "parts describe the Loinc.csv terms")


def add_vocab_parser(verbs: argparse._SubParsersAction) -> None:
    """Add ``rcdm vocab ...`` to the top-level parser's verbs."""
    vocab = verbs.add_parser("vocab", help="protocol mapping: load vocabularies, explain, remap, export unmapped",
                             description="Map each study to a LOINC/RSNA playbook term and its OMOP concept.")
    actions = vocab.add_subparsers(dest="vocab_verb", metavar="ACTION")
    actions.required = True

    p = actions.add_parser("load-athena", help="load Athena's CONCEPT*.csv files (streaming, all or nothing)",
                           description="Load CONCEPT.csv (and CONCEPT_RELATIONSHIP.csv, CONCEPT_ANCESTOR.csv when "
                                       "present) from an Athena download folder, replacing those tables in one "
                                       "transaction: a malformed file changes nothing.")
    p.add_argument("folder", metavar="DIR", help="the unzipped Athena download")
    _db(p, "vocabulary_database_schema to load into")
    p.set_defaults(func=cmd_vocab_load_athena)

    p = actions.add_parser("load-playbook", help="load LoincRsnaRadiologyPlaybook.csv",
                           description="Validate the LOINC/RSNA Radiology Playbook file and/or LOINC's own "
                                       "Loinc.csv (--loinc-table) and replace the table rcdm_playbook with their "
                                       "terms' parts (nothing changes if a file is malformed).")
    p.add_argument("file", nargs="?", metavar="FILE", help="LoincRsnaRadiologyPlaybook.csv from LOINC's AccessoryFiles")
    _loinc_table(p)
    _db(p, "cdm_database_schema")
    p.set_defaults(func=cmd_vocab_load_playbook)

    p = actions.add_parser("load-stcm", help="load site mappings (source_to_concept_map, e.g. from Usagi)",
                           description="Load a source_to_concept_map CSV (Usagi's export), replacing the rows of "
                                       "the source vocabularies it holds. Site mappings always win; use "
                                       "source_vocabulary_id RCDM_PROTOCOL for rows exported by 'rcdm vocab "
                                       "unmapped'.")
    p.add_argument("file", metavar="FILE", help="comma- or tab-separated source_to_concept_map file")
    _db(p, "cdm_database_schema")
    p.set_defaults(func=cmd_vocab_load_stcm)

    p = actions.add_parser("explain", help="show why a study maps to a term (or not)",
                           description="Explain the mapping of one study: what was recognised and how the "
                                       "candidate terms scored. TEXT is the study description, or a whole "
                                       "protocol_source_value 'MODALITY|BODY PART|STUDY|SERIES|PROTOCOL'.")
    p.add_argument("text", nargs="+", metavar="TEXT", help="study description (words are joined)")
    p.add_argument("--modality", help="DICOM Modality (CT, MR, CR, ...)")
    p.add_argument("--body-part", help="DICOM BodyPartExamined")
    p.add_argument("--series", action="append", default=[], metavar="DESC", help="a series description (repeatable)")
    p.add_argument("--protocol-name", help="DICOM ProtocolName")
    p.add_argument("--contrast", choices=["pre", "post"], help="contrast phase of the images")
    p.add_argument("--laterality", help="laterality (L, R, B)")
    p.add_argument("--top", type=int, default=5, help="candidate terms to show (default 5)")
    p.add_argument("--db", default=None, metavar="URL",
                   help="build the matcher from this database (playbook, concept, source_to_concept_map); "
                        "default: the bundled fixtures or --playbook/--concepts/--stcm files")
    p.add_argument("--schema", default="cdm", help="cdm_database_schema with --db (default: cdm)")
    p.add_argument("--vocabulary-schema", default=None, metavar="SCHEMA", help="vocabulary schema with --db")
    _stcm_vocabularies(p)
    p.add_argument("--playbook", type=Path, help="LoincRsnaRadiologyPlaybook.csv (without --db)")
    p.add_argument("--concepts", type=Path, help="Athena CONCEPT.csv (without --db)")
    p.add_argument("--stcm", type=Path, help="source_to_concept_map file (without --db)")
    _loinc_table(p)
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_vocab_explain)

    p = actions.add_parser("remap", help="re-map every study after the vocabulary or site mappings change",
                           description="Recompute radiology_occurrence.protocol_concept_id from the stored "
                                       "protocol_source_value and image evidence, without reloading DICOM. "
                                       "Idempotent: a second run changes nothing.")
    _db(p, "cdm_database_schema", vocabulary=True)
    _stcm_vocabularies(p)
    p.set_defaults(func=cmd_vocab_remap)

    p = actions.add_parser("unmapped", help="write the unmapped protocol source values for Usagi",
                           description="Write the distinct unmapped protocol_source_values, most images first, "
                                       "as a CSV Usagi imports (source_code, source_name, source_frequency, "
                                       "then modality, body part, studies, images ... as additional info).")
    _db(p, "cdm_database_schema")
    p.add_argument("--out", required=True, metavar="FILE", help="CSV file to write")
    p.set_defaults(func=cmd_vocab_unmapped)

    p = actions.add_parser("micdm", help="fill the MI-CDM image_occurrence table from the R-CDM tables",
                           description="One image_occurrence row per series, with modality and anatomic site "
                                       "concepts looked up in the vocabulary. Re-running replaces the rows.")
    _db(p, "cdm_database_schema", vocabulary=True)
    p.set_defaults(func=cmd_vocab_micdm)
