"""The main job end to end on bundled sample data: sample DICOM → ETL into DuckDB → quality report.

``rcdm demo`` (and README's first command) runs it: it writes a varied, synthetic DICOM corpus made from
pydicom's bundled test files, creates the R-CDM tables in an embedded DuckDB file, loads the corpus with the
ETL (de-identified with a demo secret), runs the protocol matcher with the bundled playbook extract and
prints the mapping-quality report. The bundled concept file holds only the OMOP concepts we could verify, so
the sample studies match LOINC terms (see ``rcdm vocab explain``) but stay concept 0 until a site loads its
own Athena vocabulary. Running it again loads nothing
twice: the corpus is deterministic and the ETL idempotent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rcdm.db import connect
from rcdm.ddl import create_tables
from rcdm.dicom.sample import write_sample_corpus
from rcdm.etl import run_etl
from rcdm.protocols.store import load_athena, load_playbook
from rcdm.protocols.vocab_data import fixtures_dir

DEMO_SCHEMA = "cdm"


def run_demo(out_dir: str = "rcdm-demo", n_patients: int = 12, seed: int = 0, workers: int | None = None,
             quiet: bool = False) -> dict[str, Any]:
    """Write the sample corpus under ``out_dir``, load it into ``out_dir/demo.duckdb``; returns the ETL summary."""
    out = Path(out_dir)
    corpus = write_sample_corpus(out / "dicom", n_patients=int(n_patients), seed=int(seed))
    database = out / "demo.duckdb"
    with connect(str(database)) as conn:
        create_tables(conn, DEMO_SCHEMA, model="all")
        # the bundled vocabulary extract, so the load runs the protocol matcher (a site loads its own Athena
        # vocabulary, which gives the matched LOINC terms their OMOP concepts)
        load_playbook(conn, DEMO_SCHEMA, fixtures_dir() / "LoincRsnaRadiologyPlaybook.csv")
        load_athena(conn, DEMO_SCHEMA, fixtures_dir())
        summary = run_etl(
            [corpus["out_dir"]],
            conn,
            DEMO_SCHEMA,
            person_map=corpus["person_map"],
            secret_file=str(out / "site_secret"),
            root=corpus["out_dir"],
            workers=workers,
            quiet=quiet,
        )
    summary["database"] = str(database)
    if not quiet:
        print(f"\nR-CDM tables are in {database} (schema {DEMO_SCHEMA}); explore them with e.g.\n"
              f"  rcdm report --db {database} --schema {DEMO_SCHEMA} --format html --out report.html")
    return summary
