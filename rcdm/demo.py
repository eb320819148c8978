"""The whole mission in one command, on real OMOP data: ``rcdm demo``.

1. loads Eunomia's GiBleed data set (2,694 synthetic persons, OMOP CDM; the tables it needs ship with rcdm in
   ``rcdm/demo_data``) into an embedded DuckDB file;
2. generates the GiBleed cohort (first gastrointestinal hemorrhage, ATLAS-style SQL);
3. writes synthetic DICOM studies for some GiBleed persons, dated inside their observation periods; cohort
   members get a CT abdomen/pelvis within days of their bleed, everyone a few other studies;
4. runs the ETL (de-identified with a demo secret), which maps each study's protocol with the bundled
   LOINC/RSNA playbook extract (a LOINC concept from the bundled fixture gives a non-zero coverage);
5. fills the OHDSI MI-CDM ``image_occurrence`` table;
6. extracts the cohort's images from 30 days before to 30 days after cohort entry (a manifest);
7. runs a network study (counts with small-cell suppression) and writes its results zip;
8. writes the mapping-quality report (the paper's Tables 3-4) as HTML, and prints what to open next.

Running it again gives the same result: the data are reloaded, the corpus is deterministic, the ETL idempotent.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pandas as pd

from rcdm.cdm_csv import load_cdm_csv
from rcdm.cohort import generate_cohort
from rcdm.db import connect, execute_sql, insert_table, query_sql
from rcdm.ddl import create_tables
from rcdm.dicom.sample import write_planned_studies
from rcdm.etl import run_etl
from rcdm.extract import get_cohort_images, write_manifest
from rcdm.protocols.micdm import populate_micdm
from rcdm.protocols.store import load_playbook
from rcdm.protocols.vocab_data import fixtures_dir
from rcdm.report import format_report, quality_report
from rcdm.study import run_study

DEMO_SCHEMA = "cdm"
COHORT_ID = 1
#: The study window around cohort entry for the extract, in days.
WINDOW = (-30, 30)
CDM_TABLES = ("person", "observation_period", "condition_occurrence", "concept", "concept_ancestor")

#: The network study the demo runs (the same shape as extras/studies/example_study.json).
DEMO_STUDY: dict[str, Any] = {
    "name": "GI bleed imaging characterisation (rcdm demo)",
    "version": "1.0.0",
    "description": "Which images exist around a first gastrointestinal hemorrhage: modalities, protocols, "
                   "years and time from the bleed to the first study.",
    "min_cell_count": 5,
    "cohorts": [{"id": COHORT_ID, "name": "Gastrointestinal hemorrhage (Eunomia GiBleed)"}],
    "image_criteria": {"window_anchor": "start", "window_start_days": WINDOW[0], "window_end_days": 365},
    "analyses": [
        {"id": "by_modality", "type": "counts", "by": ["modality"], "title": "Persons, studies, images by modality"},
        {"id": "by_protocol", "type": "counts", "by": ["protocol"], "title": "By protocol concept"},
        {"id": "by_year", "type": "counts", "by": ["year"], "title": "By year of the study"},
        {"id": "time_to_first_study", "type": "time_to_first_study",
         "title": "Days from the bleed to the first study"},  # (bins are fixed by rcdm: rcdm.study_spec.BINS)
    ],
}


def demo_data_dir() -> Path:
    """The folder of the bundled demo data (GiBleed tables, the cohort SQL)."""
    return Path(__file__).resolve().parent / "demo_data"


def _plan(conn: Any, n_patients: int, seed: int) -> list[dict[str, Any]]:
    """Which persons get which studies on which dates: 2/3 cohort members (a CT abdomen 0-2 days after the
    bleed, plus studies elsewhere in the observation period), 1/3 others; all dates inside an observation
    period of the person."""
    periods = query_sql(conn, """
        SELECT op.person_id, op.observation_period_start_date AS op_start, op.observation_period_end_date AS op_end,
               c.cohort_start_date AS bleed
        FROM @s.observation_period op
        LEFT JOIN @s.cohort c ON c.subject_id = op.person_id AND c.cohort_definition_id = @id
          AND c.cohort_start_date BETWEEN op.observation_period_start_date AND op.observation_period_end_date
        ORDER BY op.person_id, op.observation_period_start_date;""", s=DEMO_SCHEMA, id=COHORT_ID)
    rng = random.Random(seed)
    members = sorted(set(periods.loc[periods["bleed"].notna(), "person_id"]))
    others = sorted(set(periods["person_id"]) - set(members))
    n_members = min(len(members), max(1, round(n_patients * 2 / 3)))
    chosen = rng.sample(members, n_members) + rng.sample(others, min(len(others), max(0, n_patients - n_members)))

    def some_day(start: dt.date, end: dt.date) -> dt.date:
        return start + dt.timedelta(days=rng.randint(0, max(0, (end - start).days)))

    plan = []
    for person_id in sorted(chosen):
        rows = periods[periods["person_id"] == person_id]
        with_bleed = rows[rows["bleed"].notna()]
        row = (with_bleed if len(with_bleed) else rows).iloc[0]
        start, end = row["op_start"], row["op_end"]
        studies = [("chest_xr", some_day(start, end)), ("ct_head", some_day(start, end))]
        if row["bleed"] is not None and not pd.isna(row["bleed"]):
            bleed = row["bleed"]
            studies.append(("ct_abdomen", min(end, bleed + dt.timedelta(days=rng.randint(0, 2)))))
        else:
            studies.append((rng.choice(["ct_abdomen", "us_abdomen"]), some_day(start, end)))
        plan.append({"person_id": int(person_id), "studies": studies})
    return plan


def _add_fixture_concepts(conn: Any) -> int:
    """Append the bundled LOINC concepts (vocab/fixtures/CONCEPT.csv) to GiBleed's concept table, so the
    protocols the matcher finds have their OMOP concepts (a site loads its full Athena vocabulary instead)."""
    concepts = pd.read_csv(fixtures_dir() / "CONCEPT.csv", sep="\t", dtype=str, keep_default_na=False)
    for column in ("valid_start_date", "valid_end_date"):
        concepts[column] = pd.to_datetime(concepts[column], format="%Y%m%d").dt.date
    concepts["concept_id"] = concepts["concept_id"].astype("int64")
    concepts["invalid_reason"] = concepts["invalid_reason"].replace("", None)
    ids = ", ".join(str(i) for i in concepts["concept_id"])
    execute_sql(conn, f"DELETE FROM @s.concept WHERE concept_id IN ({ids});", s=DEMO_SCHEMA)
    return insert_table(conn, DEMO_SCHEMA, "concept", concepts)


def run_demo(out_dir: str = "rcdm-demo", n_patients: int = 12, seed: int = 0, workers: int | None = None,
             quiet: bool = False) -> dict[str, Any]:
    """Run the whole story under ``out_dir`` (see the module docstring); returns its summary.

    The summary has ``database``, ``cdm_persons``, ``cohort_persons``, ``persons_with_images``, ``studies``,
    ``images``, ``protocol_studies_mapped`` / ``protocol_studies`` (coverage), ``micdm_rows``,
    ``cohort_images`` / ``cohort_image_persons`` (in the window), ``suppressed_cells``, ``etl`` (the ETL
    summary) and the paths ``manifest``, ``study_results``, ``report``.
    """
    say = (lambda *a: None) if quiet else print
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    database = out / "demo.duckdb"
    data = demo_data_dir()
    summary: dict[str, Any] = {"database": str(database)}
    with connect(str(database)) as conn:
        say("1/8 loading Eunomia GiBleed (OMOP CDM) ...")
        loaded = load_cdm_csv(conn, DEMO_SCHEMA, data / "GiBleed_demo.zip", tables=list(CDM_TABLES), overwrite=True)
        summary["cdm_persons"] = loaded["person"]
        _add_fixture_concepts(conn)
        say("2/8 generating the GiBleed cohort ...")
        cohort = generate_cohort(conn, data / "GiBleed.sql", COHORT_ID, DEMO_SCHEMA, DEMO_SCHEMA)
        summary["cohort_persons"] = cohort["persons"]
        say("3/8 writing sample DICOM studies for GiBleed persons ...")
        plan = _plan(conn, int(n_patients), int(seed))
        corpus = write_planned_studies(out / "dicom", plan, seed=int(seed))
        say("4/8 running the ETL (de-identification, protocol mapping) ...")
        create_tables(conn, DEMO_SCHEMA, model="all")
        load_playbook(conn, DEMO_SCHEMA, fixtures_dir() / "LoincRsnaRadiologyPlaybook.csv")
        summary["etl"] = run_etl([corpus["out_dir"]], conn, DEMO_SCHEMA, person_map=corpus["person_map"],
                                 secret_file=str(out / "site_secret"), root=corpus["out_dir"], workers=workers,
                                 quiet=True)
        say("5/8 filling MI-CDM image_occurrence ...")
        summary["micdm_rows"] = populate_micdm(conn, DEMO_SCHEMA)["image_occurrence"]
        say(f"6/8 extracting the cohort's images, days {WINDOW[0]} to +{WINDOW[1]} around the bleed ...")
        images = get_cohort_images(conn, COHORT_ID, DEMO_SCHEMA, window_start_days=WINDOW[0],
                                   window_end_days=WINDOW[1])
        manifest = write_manifest(images, out / "extract")
        summary["cohort_images"] = int(images["radiology_image_id"].nunique())
        summary["cohort_image_persons"] = int(images["person_id"].nunique())
        say("7/8 running the network study ...")
        study = run_study(DEMO_STUDY, conn, DEMO_SCHEMA, out=out / "study_results.zip", site_name="demo")
        summary["suppressed_cells"] = sum(t["primary"] + t["complementary"] for t in study["suppressed"].values())
        say("8/8 writing the quality report ...")
        report = quality_report(conn, DEMO_SCHEMA)
        counts = query_sql(conn, """SELECT COUNT(*) AS studies, COUNT(DISTINCT person_id) AS persons,
                   SUM(CASE WHEN protocol_concept_id <> 0 THEN 1 ELSE 0 END) AS mapped,
                   SUM(count_of_images) AS images FROM @s.radiology_occurrence;""", s=DEMO_SCHEMA).iloc[0]
    report_path = out / "report.html"
    report_path.write_text(format_report(report, "html"), encoding="utf-8")
    summary.update(persons_with_images=int(counts["persons"]), studies=int(counts["studies"]),
                   images=int(counts["images"]), protocol_studies=int(counts["studies"]),
                   protocol_studies_mapped=int(counts["mapped"]), manifest=str(manifest["csv"]),
                   study_results=str(study["out"]), report=str(report_path))
    if not quiet:
        print(format_summary(summary))
    return summary


def format_summary(s: dict[str, Any]) -> str:
    """The demo's closing text: what happened, in numbers, and what to open next."""
    coverage = s["protocol_studies_mapped"] / s["protocol_studies"] if s["protocol_studies"] else 0.0
    db = s["database"]
    return "\n".join([
        "",
        "rcdm demo: Eunomia GiBleed with synthetic radiology",
        f"  OMOP persons loaded            {s['cdm_persons']:>8,}",
        f"  GiBleed cohort persons         {s['cohort_persons']:>8,}",
        f"  persons with imaging           {s['persons_with_images']:>8,}",
        f"  studies / images (R-CDM)       {s['studies']:>8,} / {s['images']:,}",
        f"  protocol coverage              {s['protocol_studies_mapped']:>8,} of {s['protocol_studies']:,} studies "
        f"({coverage:.0%}) mapped to an OMOP concept",
        f"  MI-CDM image_occurrence rows   {s['micdm_rows']:>8,}",
        f"  cohort images (day {WINDOW[0]}..+{WINDOW[1]})   {s['cohort_images']:>8,} images of "
        f"{s['cohort_image_persons']:,} persons",
        f"  study cells suppressed (<5)    {s['suppressed_cells']:>8,}",
        "",
        "Open next:",
        f"  the quality report      {s['report']}",
        f"  the image manifest      {s['manifest']}",
        f"  the study results       {s['study_results']}  (merge sites: rcdm study merge *.zip --out merged)",
        f"  the database            {db}  (schema {DEMO_SCHEMA}; e.g. rcdm report --db {db} --schema {DEMO_SCHEMA})",
        "  the viewer              rcdm viewer add-user demo --users viewer_users.json",
        f"                          rcdm viewer --db {db} --schema {DEMO_SCHEMA} --users viewer_users.json",
        "                          then open http://127.0.0.1:8765",
    ])
