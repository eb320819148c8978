"""End to end on GiBleed: synthetic DICOM for GiBleed persons → the ETL → an ATLAS-style cohort → extraction, which
must return exactly what a hand-written reference query selects, on DuckDB and PostgreSQL."""

from __future__ import annotations

import copy
import datetime as dt
import random
import uuid
from pathlib import Path

import pandas as pd
import pytest

pydicom = pytest.importorskip("pydicom")

from test_cohort import GIBLEED, gibleed_reference, observation_periods  # noqa: E402

from rcdm.cdm_csv import load_cdm_csv  # noqa: E402
from rcdm.cohort import generate_cohort  # noqa: E402
from rcdm.db import connect, execute_sql, query_sql  # noqa: E402
from rcdm.dicom.sample import template_path  # noqa: E402
from rcdm.etl import run_etl  # noqa: E402
from rcdm.extract import count_cohort_images, get_cohort_images, materialize  # noqa: E402

pytestmark = pytest.mark.slow  # builds and loads whole example CDMs

REPO = Path(__file__).resolve().parents[1]
GIBLEED_SQL = REPO / "extras" / "cohorts" / "GiBleed.sql"
AXIAL = (1, 0, 0, 0, 1, 0)
CORONAL = (1, 0, 0, 0, 0, -1)
SAGITTAL = (0, 1, 0, 0, 0, -1)

# (modality, body part, description, [(series description, orientation, contrast agent, images)])
STUDIES = {
    "index_ct": ("CT", "HEAD", "CT HEAD", [("PRE AXIAL", AXIAL, "NONE", 3), ("POST CORONAL", CORONAL, "OMNIPAQUE", 2)]),
    "late_mr": ("MR", "BRAIN", "MR BRAIN", [("T1 SAG", SAGITTAL, None, 2)]),
}


def _uid(*parts) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["rcdm-e2e", *map(str, parts)])


def write_corpus(out: Path, people: pd.DataFrame) -> pd.DataFrame:
    """Two studies per person: a CT near the index date (or inside the period), an MR a year later (capped)."""
    templates = {m: pydicom.dcmread(template_path(m)) for m in ("CT", "MR")}
    rng = random.Random(7)
    written = []
    for person_id, index, op_start, op_end in people.itertuples(index=False):
        patient = f"PAT{person_id:06d}"
        ct_day = min(max(index + dt.timedelta(days=rng.randint(-5, 5)), op_start), op_end)
        mr_day = min(ct_day + dt.timedelta(days=400), op_end)
        for key, day in (("index_ct", ct_day), ("late_mr", mr_day)):
            modality, body, description, series_list = STUDIES[key]
            study_uid = _uid(person_id, key)
            for s_number, (s_desc, orientation, agent, n) in enumerate(series_list, start=1):
                series_uid = _uid(person_id, key, s_number)
                for i in range(1, n + 1):
                    ds = copy.deepcopy(templates[modality])
                    sop = _uid(person_id, key, s_number, i)
                    ds.PatientID, ds.PatientName = patient, f"Synthetic^{person_id}"
                    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, series_uid, sop
                    ds.file_meta.MediaStorageSOPInstanceUID = sop
                    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = day.strftime("%Y%m%d")
                    ds.StudyTime = "101500"
                    ds.Modality, ds.BodyPartExamined = modality, body
                    ds.StudyDescription, ds.SeriesDescription = description, s_desc
                    ds.SeriesNumber, ds.InstanceNumber = s_number, i
                    ds.ImageOrientationPatient = [str(v) for v in orientation]
                    for keyword in ("ContrastBolusAgent", "ContrastBolusRoute"):
                        if keyword in ds:
                            del ds[keyword]
                    if agent:
                        ds.ContrastBolusAgent = agent
                    path = out / patient / key / f"series{s_number}" / f"{i:03d}.dcm"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    ds.save_as(path)
                    written.append({"person_id": person_id, "study": key, "series": s_number, "date": day,
                                    "path": path.relative_to(out).as_posix()})
    return pd.DataFrame(written)


def cohort_people(inside: int, outside: int, person_ids: set[int] | None = None) -> pd.DataFrame:
    """The first ``inside`` GiBleed cohort persons (a study near the index date), then ``outside`` persons of
    ``person_ids`` (all GiBleed persons when None) outside the cohort (a study 30 days into observation)."""
    cohort = gibleed_reference().sort_values("subject_id")
    ops = observation_periods()
    inside_rows = cohort.head(inside).merge(ops, left_on="subject_id", right_on="person_id")
    in_people = pd.DataFrame({"person_id": inside_rows["subject_id"], "index": inside_rows["cohort_start_date"],
                              "op_start": inside_rows["observation_period_start_date"],
                              "op_end": inside_rows["observation_period_end_date"]})
    candidates = ops["person_id"].isin(person_ids) if person_ids is not None else True
    outsiders = ops[candidates & ~ops["person_id"].isin(cohort["subject_id"])].sort_values("person_id").head(outside)
    out_people = pd.DataFrame({"person_id": outsiders["person_id"],
                               "index": outsiders["observation_period_start_date"] + dt.timedelta(days=30),
                               "op_start": outsiders["observation_period_start_date"],
                               "op_end": outsiders["observation_period_end_date"]})
    return pd.concat([in_people, out_people], ignore_index=True)


def write_archive(base: Path, people: pd.DataFrame) -> tuple[Path, pd.DataFrame, Path]:
    """The synthetic archive of ``people`` under ``base`` and its person map: (archive, files written, person map)."""
    archive = base / "archive"
    written = write_corpus(archive, people)
    person_map = base / "person_map.csv"
    pd.DataFrame({"patient_id": [f"PAT{p:06d}" for p in people["person_id"]],
                  "person_id": people["person_id"]}).to_csv(person_map, index=False)
    return archive, written, person_map


def etl_archive(conn, schema: str, base: Path) -> dict:
    """Run the ETL (one worker, quiet) over ``base``'s archive into ``schema``; the secret file is ``base``'s."""
    return run_etl(base / "archive", conn, schema, person_map=base / "person_map.csv", secret_file=base / "secret",
                   root=base / "archive", workers=1, quiet=True, progress=False)


def load_archive(conn, schema: str, base: Path, people: pd.DataFrame) -> tuple[pd.DataFrame, dict, Path]:
    """``write_archive`` then ``etl_archive``: (the files written, the ETL summary, the person map)."""
    _, written, person_map = write_archive(base, people)
    return written, etl_archive(conn, schema, base), person_map


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def loaded(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"e2e_{request.param}")
    if request.param == "duckdb":
        conn = connect(base / "e2e.duckdb")
        schema, results = "cdm", "results"
    else:
        conn = connect(request.getfixturevalue("postgres_url"))
        tag = uuid.uuid4().hex[:8]
        schema, results = f"e2e_{tag}", f"e2er_{tag}"
    load_cdm_csv(conn, schema, GIBLEED, tables=["person", "observation_period", "condition_occurrence", "concept",
                                                 "concept_ancestor"])
    person_ids = set(query_sql(conn, f"SELECT person_id FROM {schema}.person;")["person_id"].astype(int))
    people = cohort_people(20, 10, person_ids)
    archive = base / "archive"
    written, summary, person_map = load_archive(conn, schema, base, people)
    assert summary["loaded"] == len(written)
    result = generate_cohort(conn, GIBLEED_SQL, 1, schema, results)
    assert result["persons"] == 479
    in_cohort = set(people["person_id"]) & set(gibleed_reference()["subject_id"])
    yield {"conn": conn, "schema": schema, "results": results, "archive": archive, "written": written,
           "in_cohort": in_cohort, "base": base, "person_map": person_map}
    if request.param == "postgresql":
        execute_sql(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {results} CASCADE;")
    conn.close()


REFERENCE_SQL = """
SELECT c.subject_id AS person_id, ri.radiology_image_id, ri.file_path
FROM {results}.cohort c
JOIN {schema}.radiology_occurrence ro ON ro.person_id = c.subject_id
JOIN {schema}.radiology_image ri ON ri.radiology_occurrence_id = ro.radiology_occurrence_id
WHERE c.cohort_definition_id = 1 {where};
"""


def reference(world, where: str = "") -> set[tuple[int, int]]:
    frame = query_sql(world["conn"], REFERENCE_SQL.format(results=world["results"], schema=world["schema"],
                                                          where=where))
    return set(zip(frame["person_id"].astype(int), frame["radiology_image_id"].astype(int)))


def extracted(world, **filters) -> pd.DataFrame:
    return get_cohort_images(world["conn"], 1, world["schema"], cohort_database_schema=world["results"], **filters)


def keys(frame: pd.DataFrame) -> set[tuple[int, int]]:
    return set(zip(frame["person_id"].astype(int), frame["radiology_image_id"].astype(int)))


def test_all_images_of_the_cohort(loaded):
    got = extracted(loaded)
    assert keys(got) == reference(loaded)
    written = loaded["written"]
    assert len(got) == len(written[written["person_id"].isin(loaded["in_cohort"])]) == 20 * 7
    assert set(got["person_id"]) == loaded["in_cohort"]  # the 10 persons outside the cohort never appear


def test_axial_pre_contrast_ct_near_index(loaded):
    """The paper's case: axial pre-contrast CT around the index date."""
    got = extracted(loaded, modalities="CT", planes="axial", contrast="pre", window_start_days=-30,
                    window_end_days=30)
    where = ("AND ri.modality = 'CT' AND ri.anatomical_plane_source_value = 'axial' "
             "AND ri.series_type_source_value LIKE 'pre:%' "
             "AND ro.radiology_occurrence_date >= DATEADD(day, -30, c.cohort_start_date) "
             "AND ro.radiology_occurrence_date <= DATEADD(day, 30, c.cohort_start_date)")
    assert keys(got) == reference(loaded, where)
    assert len(got) == 20 * 3
    assert set(got["contrast_phase"]) == {"pre"} and set(got["anatomical_plane"]) == {"axial"}


def test_post_contrast_and_mr_and_first_study(loaded):
    post = extracted(loaded, contrast="post")
    assert keys(post) == reference(loaded, "AND ri.series_type_source_value LIKE 'post:%'")
    assert set(post["anatomical_plane"]) == {"coronal"}
    mr = extracted(loaded, modalities=["MR"], planes=["sagittal"], body_parts="brain")
    assert keys(mr) == reference(loaded, "AND ri.modality = 'MR' AND ri.body_part_source_value = 'BRAIN'")
    first = extracted(loaded, first_study_only=True)
    assert keys(first) == reference(loaded, "AND ro.modality = 'CT'")  # the CT comes first for everybody
    thick = extracted(loaded, min_slice_thickness=4.5, max_slice_thickness=5.5)
    assert keys(thick) == reference(loaded, "AND ri.ct_slice_thickness BETWEEN 4.5 AND 5.5")


def test_counts_and_copy(loaded, tmp_path):
    counts = count_cohort_images(loaded["conn"], 1, loaded["schema"], cohort_database_schema=loaded["results"])
    total = counts.iloc[0]
    assert (total["persons"], total["studies"], total["series"], total["images"]) == (20, 40, 60, 140)
    assert counts.set_index("modality")["images"].to_dict() == {"(all)": 140, "CT": 100, "MR": 40}
    got = extracted(loaded, modalities="CT", first_study_only=True)
    # the archive's PatientID folders are stored as {patient_id}: the site's person map resolves them
    assert all("{patient_id}" in p for p in got["file_path"])
    unresolved = materialize(got, loaded["archive"], tmp_path / "without", mode="copy")
    assert unresolved["copied"] == 0 and len(unresolved["unresolved"]) == 100
    summary = materialize(got, loaded["archive"], tmp_path / "out", mode="copy", person_map=loaded["person_map"])
    assert summary["copied"] == 100 and summary["missing"] == [] and summary["unresolved"] == []
    copies = sorted((tmp_path / "out").rglob("*.dcm"))
    assert len(copies) == 100
    ds = pydicom.dcmread(copies[0])
    assert ds.Modality == "CT"
