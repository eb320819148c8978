"""``rcdm vocab``: load the vocabulary, the playbook and site mappings; explain, remap, export what is unmapped,
fill MI-CDM. Each verb calls one function of ``rcdm.protocols``."""

from __future__ import annotations

from typing import Any

import click

from rcdm.cli.common import Decorator, Group, combined, db_option, db_options, existing_db, quiet_option, say
from rcdm.errors import UsageError

FILE = click.Path(dir_okay=False, path_type=str)


def _connect(db: str | None, must_exist: bool = True) -> Any:
    """Open ``db``; the vocabulary verbs work on an existing database (``load-*`` may create a new DuckDB file)."""
    from rcdm.db import connect  # the database layer loads when a verb runs

    return connect(existing_db(db) if must_exist else db)


def vocabulary_schema() -> Decorator:
    return click.option("--vocabulary-schema", default=None, metavar="SCHEMA",
                        help="vocabulary_database_schema holding concept (default: the --schema)")


def stcm_vocabularies() -> Decorator:
    return click.option("--stcm-vocabulary", multiple=True, metavar="ID",
                        help="use only source_to_concept_map rows of this source_vocabulary_id (repeatable; "
                             "default: every row)")


def loinc_table() -> Decorator:
    return combined([
        click.option("--loinc-table", type=FILE, metavar="LOINC_CSV",
                     help="LOINC's own Loinc.csv: every radiology term (CLASS RAD) becomes a term"),
        click.option("--part-link", multiple=True, type=FILE, metavar="FILE",
                     help="LoincPartLink_Primary.csv / LoincPartLink_Supplementary.csv (repeatable): their Rad.* "
                          "parts describe the Loinc.csv terms"),
    ])


@click.group(cls=Group)
def vocab() -> None:
    """Map each study to a LOINC/RSNA playbook term and its OMOP concept."""


@vocab.command("load-athena", short_help="load Athena's CONCEPT*.csv files (streaming, all or nothing)")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@db_options("vocabulary_database_schema to load into")
def load_athena(folder: str, db: str | None, schema: str, quiet: bool) -> int:
    """Load CONCEPT.csv (and CONCEPT_RELATIONSHIP.csv, CONCEPT_ANCESTOR.csv when present) from DIR, an Athena
    download folder, replacing those tables in one transaction: a malformed file changes nothing."""
    from rcdm.protocols.store import load_athena as load

    with _connect(db, must_exist=False) as conn:
        counts = load(conn, schema, folder, progress=not quiet)
    say(quiet, "loaded into " + schema + ": " + ", ".join(f"{t} {n:,} rows" for t, n in counts.items()))
    return 0


@vocab.command("load-playbook", short_help="load LoincRsnaRadiologyPlaybook.csv")
@click.argument("file", required=False, metavar="[FILE]", type=FILE)
@loinc_table()
@db_options("cdm_database_schema")
def load_playbook(file: str | None, loinc_table: str | None, part_link: tuple[str, ...], db: str | None,
                  schema: str, quiet: bool) -> int:
    """Validate the LOINC/RSNA Radiology Playbook FILE (LoincRsnaRadiologyPlaybook.csv from LOINC's
    AccessoryFiles) and/or LOINC's own Loinc.csv (--loinc-table) and replace the table rcdm_playbook with their
    terms' parts (nothing changes if a file is malformed)."""
    from rcdm.protocols.store import load_playbook as load

    if file is None and loinc_table is None:
        raise UsageError("give LoincRsnaRadiologyPlaybook.csv, --loinc-table Loinc.csv, or both")
    with _connect(db, must_exist=False) as conn:
        rows = load(conn, schema, file, loinc_table=loinc_table, part_links=list(part_link))
    say(quiet, f"loaded {rows:,} playbook parts into {schema}.rcdm_playbook")
    return 0


@vocab.command("load-stcm", short_help="load site mappings (source_to_concept_map, e.g. from Usagi)")
@click.argument("file", metavar="FILE", type=FILE)
@db_options("cdm_database_schema")
def load_stcm(file: str, db: str | None, schema: str, quiet: bool) -> int:
    """Load a source_to_concept_map CSV (Usagi's export; comma- or tab-separated), replacing the rows of the
    source vocabularies it holds. Site mappings always win; use source_vocabulary_id RCDM_PROTOCOL for rows
    exported by 'rcdm vocab unmapped'."""
    from rcdm.protocols.store import load_stcm as load

    with _connect(db, must_exist=False) as conn:
        counts = load(conn, schema, file)
    say(quiet, f"loaded into {schema}.source_to_concept_map (rows of these source vocabularies replaced): "
               + ", ".join(f"{v} {n:,}" for v, n in counts.items()))
    return 0


def _study(params: dict[str, Any]) -> dict:
    from rcdm.protocols.source_value import study_from_source_value

    text = " ".join(params["text"]).strip()
    if "|" in text and not any((params["modality"], params["body_part"], params["series"], params["protocol_name"])):
        study = study_from_source_value(text, params["contrast"], params["laterality"])
    else:
        study = {"study_description": text or None, "modality": params["modality"], "body_part": params["body_part"],
                 "series_descriptions": list(params["series"]), "protocol_name": params["protocol_name"],
                 "contrast": params["contrast"], "laterality": params["laterality"]}
    return {k: v for k, v in study.items() if v not in (None, [], "")}


@vocab.command(short_help="show why a study maps to a term (or not)")
@click.argument("text", nargs=-1, required=True, metavar="TEXT...")
@click.option("--modality", help="DICOM Modality (CT, MR, CR, ...)")
@click.option("--body-part", help="DICOM BodyPartExamined")
@click.option("--series", multiple=True, metavar="DESC", help="a series description (repeatable)")
@click.option("--protocol-name", help="DICOM ProtocolName")
@click.option("--contrast", type=click.Choice(["pre", "post"]), help="contrast phase of the images")
@click.option("--laterality", help="laterality (L, R, B)")
@click.option("--top", type=int, default=5, show_default=True, help="candidate terms to show")
@db_option(envvar=False, help="build the matcher from this database (playbook, concept, source_to_concept_map); "
                              "default: the bundled fixtures or --playbook/--concepts/--stcm files")
@click.option("--schema", default="cdm", show_default=True, help="cdm_database_schema with --db")
@click.option("--vocabulary-schema", default=None, metavar="SCHEMA", help="vocabulary schema with --db")
@stcm_vocabularies()
@click.option("--playbook", type=FILE, help="LoincRsnaRadiologyPlaybook.csv (without --db)")
@click.option("--concepts", type=FILE, help="Athena CONCEPT.csv (without --db)")
@click.option("--stcm", type=FILE, help="source_to_concept_map file (without --db)")
@loinc_table()
@quiet_option(hidden=True)
def explain(**params: Any) -> int:
    """Explain the mapping of one study: what was recognised and how the candidate terms scored. TEXT is the
    study description (words are joined), or a whole protocol_source_value 'MODALITY|BODY PART|STUDY|SERIES|
    PROTOCOL'."""
    from rcdm.protocols.matcher import ProtocolMatcher
    from rcdm.protocols.vocab_data import fixtures_dir

    if params["db"] is not None:
        from rcdm.protocols.store import matcher_from_database

        with _connect(params["db"]) as conn:
            matcher = matcher_from_database(conn, params["schema"], params["vocabulary_schema"],
                                            list(params["stcm_vocabulary"]) or None)
    else:
        fixtures = fixtures_dir()
        own = params["playbook"] or params["loinc_table"]
        playbook = params["playbook"] or (None if own else fixtures / "LoincRsnaRadiologyPlaybook.csv")
        concepts = params["concepts"] or (None if own else fixtures / "CONCEPT.csv")
        if not own:
            say(params["quiet"], "(no --db, --playbook or --loinc-table: using the bundled playbook extract and "
                                 "CONCEPT fixture)")
        matcher = ProtocolMatcher.from_files(playbook=playbook, concepts=concepts, stcm=params["stcm"],
                                             loinc_table=params["loinc_table"], part_links=list(params["part_link"]))
    print(matcher.explain(_study(params), top=params["top"]))
    return 0


@vocab.command(short_help="re-map every study after the vocabulary or site mappings change")
@db_options("cdm_database_schema")
@vocabulary_schema()
@stcm_vocabularies()
def remap(db: str | None, schema: str, quiet: bool, vocabulary_schema: str | None,
          stcm_vocabulary: tuple[str, ...]) -> int:
    """Recompute radiology_occurrence.protocol_concept_id from the stored protocol_source_value and image
    evidence, without reloading DICOM. Idempotent: a second run changes nothing."""
    from rcdm.protocols.remap import remap as run_remap

    with _connect(db) as conn:
        result = run_remap(conn, schema, vocabulary_schema, source_vocabularies=list(stcm_vocabulary) or None)
    by = result["keys_by_source"]
    say(quiet, f"remap {schema}: {result['studies']:,} studies, mapped {result['mapped_before']:,} → "
               f"{result['mapped_after']:,}, {result['changed']:,} changed; {result['keys']:,} distinct keys "
               f"(site mapping {by['site']:,}, matcher {by['auto']:,}, unmapped {by['none']:,})")
    return 0


@vocab.command(short_help="write the unmapped protocol source values for Usagi")
@db_options("cdm_database_schema")
@click.option("--out", required=True, metavar="FILE", type=FILE, help="CSV file to write")
def unmapped(db: str | None, schema: str, quiet: bool, out: str) -> int:
    """Write the distinct unmapped protocol_source_values, most images first, as a CSV Usagi imports
    (source_code, source_name, source_frequency, then modality, body part, studies, images ... as additional
    info)."""
    from rcdm.protocols.unmapped import export_unmapped

    with _connect(db) as conn:
        frame = export_unmapped(conn, schema, out)
    studies = int(frame["studies"].sum()) if len(frame) else 0
    say(quiet, f"{len(frame):,} unmapped protocol source values ({studies:,} studies) written to {out}; "
               "import it in Usagi (source code, source name, source frequency; the rest as additional info)")
    return 0


@vocab.command(short_help="fill the MI-CDM image_occurrence table from the R-CDM tables")
@db_options("cdm_database_schema")
@vocabulary_schema()
def micdm(db: str | None, schema: str, quiet: bool, vocabulary_schema: str | None) -> int:
    """One image_occurrence row per series, with modality and anatomic site concepts looked up in the
    vocabulary. Re-running replaces the rows."""
    from rcdm.protocols.micdm import populate_micdm

    with _connect(db) as conn:
        result = populate_micdm(conn, schema, vocabulary_schema)
    say(quiet, f"image_occurrence: {result['image_occurrence']:,} rows from {result['series']:,} series "
               f"({result['skipped']:,} skipped: no study date or hashed Study UID); modality concept "
               f"{result['modality_mapped']:,}, anatomic site concept {result['anatomic_site_mapped']:,}")
    return 0
