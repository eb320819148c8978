"""Cohort to images on GiBleed with synthetic R-CDM rows: every filter against a pandas reference, window and
first-study logic, descendants, counts, manifest, copy/link with verification and resumability, refusals."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import uuid
from pathlib import Path

import pandas as pd
import pytest

from rcdm.cdm_csv import load_cdm_csv
from rcdm.cli import main
from rcdm.cohort import generate_cohort
from rcdm.db import connect, create_schema, execute_sql, insert_table, query_sql
from rcdm.ddl import create_tables
from rcdm.errors import IdentifierError, UsageError
from rcdm.extract import MaterializeError, count_cohort_images, get_cohort_images, materialize, write_manifest

REPO = Path(__file__).resolve().parents[1]
GIBLEED = REPO / "tests" / "data" / "eunomia" / "GiBleed_5.3_csv.zip"
GIBLEED_SQL = REPO / "extras" / "cohorts" / "GiBleed.sql"
BRAIN_CT = 3004287  # protocol concept with two synthetic descendants below
DESCENDANTS = (9000001, 9000002)
OTHER_PROTOCOL = 3002086
MULTI_ENTRY = 7  # a hand-made cohort whose persons have two entries each


# --- synthetic R-CDM rows --------------------------------------------------------------------------------------


def synthetic_rcdm(persons: pd.DataFrame, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Occurrences (dates inside each person's observation period) and images with varied attributes."""
    rng = random.Random(seed)
    occurrences, images = [], []
    occ_id, series_id, image_id = 1000, 50000, 9_000_000_000  # image ids past 2^31 on purpose
    for person_id, start, end in persons.itertuples(index=False):
        span = (end - start).days
        for _ in range(rng.randint(1, 4)):
            occ_id += 1
            modality = rng.choice(["CT", "CT", "MR", "CR", "US"])
            date = start + dt.timedelta(days=rng.randint(0, span)) if rng.random() > 0.05 else None
            occurrences.append({
                "radiology_occurrence_id": occ_id, "person_id": int(person_id), "radiology_occurrence_date": date,
                "radiology_occurrence_datetime": dt.datetime.combine(date, dt.time(9, 30)) if date else None,
                "modality": modality, "manufacturer": "SYNTH",
                "protocol_concept_id": rng.choice([BRAIN_CT, *DESCENDANTS, OTHER_PROTOCOL, 0, None]),
                "protocol_source_value": "synthetic", "count_of_series": None, "count_of_images": None})
            for _ in range(rng.randint(1, 3)):
                series_id += 1
                plane = rng.choice(["axial", "coronal", "sagittal", "oblique", None, "concept-axial"])
                phase = rng.choice(["pre:contrast_bolus_agent_none", "post:contrast_bolus_agent", None,
                                    "concept-pre", "post"])
                body = rng.choice(["HEAD", "CHEST", "ABDOMEN", "head", None])
                side = rng.choice(["L", "R", None, "B"])
                n = rng.randint(1, 4)
                for k in range(n):
                    image_id += 1
                    own = modality if rng.random() > 0.15 else rng.choice([None, "SR"])
                    images.append({
                        "radiology_image_id": image_id, "radiology_occurrence_id": occ_id,
                        "radiology_series_id": series_id,
                        "file_path": f"p{person_id}/s{occ_id}/se{series_id}/{k + 1:04d}.dcm",
                        "body_part_source_value": body,
                        "laterality_concept_id": None, "laterality_source_value": side,
                        "anatomical_plane_concept_id": "RID10579" if plane in ("axial", "concept-axial") else None,
                        "anatomical_plane_source_value": None if plane == "concept-axial" else plane,
                        "series_type_concept_id": "RID28833" if phase in ("concept-pre",
                                                                          "pre:contrast_bolus_agent_none") else None,
                        "series_type_source_value": None if phase == "concept-pre" else phase,
                        "series_total_number": n, "series_serial_number": k + 1,
                        "image_resolution_rows": 512, "image_resolution_columns": 512,
                        "ct_slice_thickness": rng.choice([0.625, 1.25, 2.5, 5.0, None]) if modality == "CT" else None,
                        "modality": own, "instance_number": k + 1})
    occ = pd.DataFrame(occurrences)
    occ["protocol_concept_id"] = occ["protocol_concept_id"].astype("Int64")
    occ["radiology_occurrence_date"] = pd.array(occ["radiology_occurrence_date"], dtype=object)
    return occ, pd.DataFrame(images)


# --- the pandas reference (independent of the SQL) --------------------------------------------------------------


def _phase(row) -> str | None:
    value = row["series_type_source_value"]
    if isinstance(value, str):
        head = value.lower().split(":")[0]
        if head in ("pre", "post"):
            return head
        return None
    return "pre" if row["series_type_concept_id"] == "RID28833" else None


def _plane(row) -> str | None:
    value = row["anatomical_plane_source_value"]
    if isinstance(value, str):
        return value.lower()
    return "axial" if row["anatomical_plane_concept_id"] == "RID10579" else None


def reference(data, cohort_id: int, modalities=None, protocol_concept_ids=None, include_descendants=False,
              body_parts=None, contrast=None, planes=None, lateralities=None, min_slice_thickness=None,
              max_slice_thickness=None, window_start_days=None, window_end_days=None, window_anchor="start",
              first_study_only=False) -> set[tuple[int, dt.date, int]]:
    cohort, occ, img = data["cohort"], data["occurrences"], data["images"]
    c = cohort[cohort["cohort_definition_id"] == cohort_id]
    m = c.merge(occ, left_on="subject_id", right_on="person_id").merge(img, on="radiology_occurrence_id",
                                                                       suffixes=("_study", ""))
    anchor = m["cohort_start_date"] if window_anchor == "start" else m["cohort_end_date"]
    days = pd.Series([(d - a).days if d is not None and not pd.isna(d) else None
                      for d, a in zip(m["radiology_occurrence_date"], anchor)], index=m.index, dtype="float")
    keep = pd.Series(True, index=m.index)
    if window_start_days is not None:
        keep &= days >= window_start_days
    if window_end_days is not None:
        keep &= days <= window_end_days
    if protocol_concept_ids:
        wanted = set(protocol_concept_ids)
        if include_descendants:
            wanted |= {d for a, d in data["ancestors"] if a in wanted}
        keep &= m["protocol_concept_id"].isin(wanted)
    modality = m["modality"].where(m["modality"].notna(), m["modality_study"])
    if modalities:
        keep &= modality.isin(modalities)
    if body_parts:
        keep &= m["body_part_source_value"].str.upper().isin([b.upper() for b in body_parts])
    if contrast:
        keep &= m.apply(_phase, axis=1).isin(contrast)
    if planes:
        keep &= m.apply(_plane, axis=1).isin(planes)
    if lateralities:
        keep &= m["laterality_source_value"].isin(lateralities)
    if min_slice_thickness is not None:
        keep &= m["ct_slice_thickness"] >= min_slice_thickness
    if max_slice_thickness is not None:
        keep &= m["ct_slice_thickness"] <= max_slice_thickness
    m = m[keep.fillna(False).astype(bool)]
    if first_study_only and not m.empty:
        studies = m[["subject_id", "cohort_start_date", "radiology_occurrence_id", "radiology_occurrence_date"]]
        studies = studies.drop_duplicates().copy()
        studies["nulls_last"] = studies["radiology_occurrence_date"].isna().astype(int)
        studies["d"] = studies["radiology_occurrence_date"].fillna(dt.date.max)
        first = studies.sort_values(["subject_id", "nulls_last", "d", "radiology_occurrence_id",
                                     "cohort_start_date"]).groupby("subject_id").head(1)
        m = m.merge(first[["subject_id", "cohort_start_date", "radiology_occurrence_id"]])
    return set(zip(m["subject_id"].astype(int), m["cohort_start_date"], m["radiology_image_id"].astype(int)))


def result_keys(frame: pd.DataFrame) -> set[tuple[int, dt.date, int]]:
    starts = pd.to_datetime(frame["cohort_start_date"]).dt.date
    return set(zip(frame["person_id"].astype(int), starts, frame["radiology_image_id"].astype(int)))


# --- the database -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def world(request, tmp_path_factory):
    """GiBleed + the GiBleed cohort (id 1) + a two-entry cohort + synthetic R-CDM rows + a vocabulary schema."""
    if request.param == "duckdb":
        path = tmp_path_factory.mktemp("extract") / "world.duckdb"
        conn = connect(path)
        schema, results, vocab = "cdm", "results", "vocab"
    else:
        path = request.getfixturevalue("postgres_url")
        conn = connect(path)
        tag = uuid.uuid4().hex[:8]
        schema, results, vocab = f"ex_{tag}", f"exr_{tag}", f"exv_{tag}"
    load_cdm_csv(conn, schema, GIBLEED, tables=["person", "observation_period", "condition_occurrence", "concept",
                                                 "concept_ancestor"])
    generate_cohort(conn, GIBLEED_SQL, 1, schema, results)
    create_tables(conn, schema)

    import zipfile

    with zipfile.ZipFile(GIBLEED) as z, z.open("observation_period.csv") as f:
        op = pd.read_csv(f, parse_dates=["observation_period_start_date", "observation_period_end_date"])
    with zipfile.ZipFile(GIBLEED) as z, z.open("person.csv") as f:
        person_ids = set(pd.read_csv(f, usecols=["person_id"])["person_id"])
    op = op[op["person_id"].isin(person_ids)]
    op = op.assign(start=op["observation_period_start_date"].dt.date, end=op["observation_period_end_date"].dt.date)

    cohort = query_sql(conn, f"SELECT cohort_definition_id, subject_id, cohort_start_date, cohort_end_date "
                             f"FROM {results}.cohort;")
    for column in ("cohort_start_date", "cohort_end_date"):
        cohort[column] = pd.to_datetime(cohort[column]).dt.date
    in_cohort = sorted(cohort["subject_id"].astype(int))[:120]
    others = sorted(person_ids - set(cohort["subject_id"].astype(int)))[:60]
    chosen = op[op["person_id"].isin(in_cohort + others)][["person_id", "start", "end"]]
    occurrences, images = synthetic_rcdm(chosen)
    insert_table(conn, schema, "radiology_occurrence", occurrences)
    insert_table(conn, schema, "radiology_image", images)

    # Cohort 7: 40 persons, two entries each (the observation period's start and its midpoint).
    multi = chosen.head(40)
    mid = [s + (e - s) / 2 for s, e in zip(multi["start"], multi["end"])]
    extra = pd.DataFrame({
        "cohort_definition_id": MULTI_ENTRY,
        "subject_id": list(multi["person_id"]) * 2,
        "cohort_start_date": list(multi["start"]) + mid,
        "cohort_end_date": list(mid) + list(multi["end"])})
    insert_table(conn, results, "cohort", extra)
    cohort = pd.concat([cohort, extra], ignore_index=True)

    ancestors = [(BRAIN_CT, BRAIN_CT), *((BRAIN_CT, d) for d in DESCENDANTS), (OTHER_PROTOCOL, OTHER_PROTOCOL)]
    create_schema(conn, vocab)
    insert_table(conn, vocab, "concept_ancestor", pd.DataFrame(
        {"ancestor_concept_id": [a for a, _ in ancestors], "descendant_concept_id": [d for _, d in ancestors],
         "min_levels_of_separation": 0, "max_levels_of_separation": 0}), create_table=True)
    data = {"conn": conn, "schema": schema, "results": results, "vocab": vocab, "cohort": cohort,
            "occurrences": occurrences, "images": images, "ancestors": ancestors, "path": path}
    yield data
    if request.param == "postgresql":
        execute_sql(conn, f"DROP SCHEMA IF EXISTS {schema} CASCADE; DROP SCHEMA IF EXISTS {results} CASCADE; "
                          f"DROP SCHEMA IF EXISTS {vocab} CASCADE;")
    conn.close()


def images(world, cohort_id=1, **filters) -> pd.DataFrame:
    return get_cohort_images(world["conn"], cohort_id, world["schema"], cohort_database_schema=world["results"],
                             vocabulary_database_schema=world["vocab"], **filters)


CASES = {
    "no filter": {},
    "modality CT": {"modalities": ["CT"]},
    "modalities as one string": {"modalities": "ct,MR"},
    "protocol": {"protocol_concept_ids": [BRAIN_CT]},
    "protocol with descendants": {"protocol_concept_ids": BRAIN_CT, "include_descendants": True},
    "body part": {"body_parts": ["head", "CHEST"]},
    "contrast pre": {"contrast": "pre"},
    "contrast post": {"contrast": ["post"]},
    "plane axial": {"planes": "axial"},
    "planes coronal+sagittal": {"planes": ["coronal", "sagittal"]},
    "laterality": {"lateralities": ["L", "B"]},
    "slice thickness": {"min_slice_thickness": 1.0, "max_slice_thickness": 2.5},
    "min thickness only": {"min_slice_thickness": 1.0},
    "window around start": {"window_start_days": -3650, "window_end_days": 365},
    "window after start": {"window_start_days": 0},
    "window before end": {"window_start_days": -1000, "window_end_days": 0, "window_anchor": "end"},
    "first study": {"first_study_only": True},
    "first axial pre CT": {"modalities": "CT", "planes": "axial", "contrast": "pre", "first_study_only": True},
    "combined": {"modalities": ["CT", "MR"], "body_parts": "HEAD", "protocol_concept_ids": [BRAIN_CT, 9000001.0],
                 "window_start_days": -5000, "window_end_days": 5000},
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_filters_match_pandas_reference(world, case):
    filters = CASES[case]
    got = images(world, **filters)
    expected_filters = dict(filters)
    for key in ("modalities", "planes", "contrast", "body_parts", "lateralities"):
        if isinstance(expected_filters.get(key), str):
            expected_filters[key] = [v.strip() for v in expected_filters[key].split(",")]
    if "modalities" in expected_filters:
        expected_filters["modalities"] = [m.upper() for m in expected_filters["modalities"]]
    if isinstance(expected_filters.get("protocol_concept_ids"), (int, float)):
        expected_filters["protocol_concept_ids"] = [expected_filters["protocol_concept_ids"]]
    if expected_filters.get("protocol_concept_ids"):
        expected_filters["protocol_concept_ids"] = [int(x) for x in expected_filters["protocol_concept_ids"]]
    expected = reference(world, 1, **expected_filters)
    assert expected, f"the synthetic data should give rows for {case}"
    assert result_keys(got) == expected
    assert len(got) == len(expected)  # one row per (cohort entry, image)


def test_descendants_add_rows(world):
    plain = images(world, protocol_concept_ids=[BRAIN_CT])
    with_descendants = images(world, protocol_concept_ids=[BRAIN_CT], include_descendants=True)
    assert set(plain["protocol_concept_id"]) == {BRAIN_CT}
    assert set(with_descendants["protocol_concept_id"]) == {BRAIN_CT, *DESCENDANTS}


@pytest.mark.parametrize("filters", [{}, {"first_study_only": True}, {"window_start_days": 0, "window_anchor": "end"},
                                     {"modalities": "CT", "first_study_only": True}])
def test_multi_entry_cohort(world, filters):
    got = images(world, MULTI_ENTRY, **filters)
    assert result_keys(got) == reference(world, MULTI_ENTRY, **{k: [v] if k == "modalities" else v
                                                                  for k, v in filters.items()})
    if filters.get("first_study_only"):
        assert got.groupby("person_id")["radiology_occurrence_id"].nunique().max() == 1


def test_result_columns_and_order(world):
    got = images(world, modalities="CT")
    for column in ("person_id", "cohort_start_date", "cohort_end_date", "radiology_occurrence_id",
                   "radiology_series_id", "radiology_image_id", "file_path", "modality", "body_part_source_value",
                   "anatomical_plane", "contrast_phase", "laterality", "ct_slice_thickness", "days_from_anchor",
                   "instance_number"):
        assert column in got.columns
    assert got["radiology_image_id"].max() > 2**31
    assert list(got["person_id"]) == sorted(got["person_id"])
    assert set(got["contrast_phase"].dropna()) <= {"pre", "post"}
    assert set(got["anatomical_plane"].dropna()) <= {"axial", "coronal", "sagittal", "oblique"}
    row = got.dropna(subset=["radiology_occurrence_date"]).iloc[0]
    start = pd.Timestamp(row["cohort_start_date"]).date()
    assert row["days_from_anchor"] == (pd.Timestamp(row["radiology_occurrence_date"]).date() - start).days


def test_counts_match_reference(world):
    counts = count_cohort_images(world["conn"], 1, world["schema"], cohort_database_schema=world["results"],
                                 planes=["axial"])
    keys = reference(world, 1, planes=["axial"])
    ids = {image for _, _, image in keys}
    img = world["images"][world["images"]["radiology_image_id"].isin(ids)].merge(
        world["occurrences"], on="radiology_occurrence_id", suffixes=("", "_study"))
    img["m"] = img["modality"].where(img["modality"].notna(), img["modality_study"])
    total = counts.iloc[0]
    assert total["modality"] == "(all)"
    assert (total["persons"], total["studies"], total["series"], total["images"]) == (
        img["person_id"].nunique(), img["radiology_occurrence_id"].nunique(), img["radiology_series_id"].nunique(),
        len(ids))
    by = counts.iloc[1:].set_index("modality")["images"].to_dict()
    assert by == img.groupby("m")["radiology_image_id"].nunique().to_dict()


@pytest.mark.parametrize("bad, error", [
    ({"modalities": "CT'; DROP TABLE cdm.person; --"}, UsageError),
    ({"modalities": ["CT", "M R"]}, UsageError),
    ({"body_parts": "HEAD' OR '1'='1"}, UsageError),
    ({"planes": "diagonal"}, UsageError),
    ({"contrast": "maybe"}, UsageError),
    ({"lateralities": "X"}, UsageError),
    ({"protocol_concept_ids": "3004287; DROP"}, UsageError),
    ({"protocol_concept_ids": [1.5]}, UsageError),
    ({"min_slice_thickness": "thin"}, UsageError),
    ({"min_slice_thickness": 5, "max_slice_thickness": 1}, UsageError),
    ({"min_slice_thickness": float("nan")}, UsageError),
    ({"window_start_days": 10, "window_end_days": -10}, UsageError),
    ({"window_anchor": "middle"}, UsageError),
    ({"cohort_table": "cohort; DROP"}, IdentifierError),
    ({"cohort_database_schema": "x y"}, IdentifierError),
    ({"vocabulary_database_schema": "v'"}, IdentifierError),
])
def test_bad_values_refused_before_any_sql(bad, error):
    with pytest.raises(error):
        get_cohort_images(None, 1, "cdm", **bad)  # no connection: the refusal comes before any SQL
    with pytest.raises(IdentifierError):
        get_cohort_images(None, 1, "cdm; DROP TABLE person")


# --- manifest and files -----------------------------------------------------------------------------------------


def _write_archive(root: Path, frame: pd.DataFrame) -> None:
    for image_id, path in zip(frame["radiology_image_id"], frame["file_path"]):
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f"DICM image {image_id}".encode() * 50)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def selection(world, tmp_path):
    frame = images(world, modalities="CT", first_study_only=True)
    root = tmp_path / "archive"
    _write_archive(root, frame)
    return frame, root


def test_manifest_csv_and_parquet(selection, tmp_path):
    frame, _ = selection
    paths = write_manifest(frame, tmp_path / "out")
    csv = pd.read_csv(paths["csv"])
    parquet = pd.read_parquet(paths["parquet"])
    assert len(csv) == len(parquet) == len(frame)
    assert list(csv.columns) == list(parquet.columns)
    for column in ("person_id", "cohort_start_date", "cohort_end_date", "radiology_occurrence_id",
                   "radiology_series_id", "radiology_image_id", "file_path", "relative_path", "modality",
                   "body_part_source_value", "anatomical_plane", "contrast_phase", "laterality",
                   "ct_slice_thickness", "protocol_concept_id"):
        assert column in csv.columns
    first = parquet.iloc[0]
    assert first["relative_path"] == (f"person_{first['person_id']}/study_{first['radiology_occurrence_id']}/"
                                      f"series_{first['radiology_series_id']}/{Path(first['file_path']).name}")
    assert parquet["radiology_image_id"].dtype == "int64"
    assert set(csv["radiology_image_id"]) == set(frame["radiology_image_id"])


@pytest.mark.slow
def test_copy_verifies_resumes_and_never_overwrites(selection, tmp_path):
    frame, root = selection
    out = tmp_path / "out"
    seen = []
    first = materialize(frame, root, out, mode="copy", progress=lambda done, total: seen.append((done, total)))
    n = frame["radiology_image_id"].nunique()
    assert (first["copied"], first["skipped"], first["missing"]) == (n, 0, [])
    assert seen[-1] == (n, n)
    manifest = pd.read_csv(write_manifest(frame, out)["csv"])
    for rel, src in zip(manifest["relative_path"], manifest["file_path"]):
        assert _sha(out / rel) == _sha(root / src)
    assert not list(out.rglob("*.rcdm-partial"))

    again = materialize(frame, root, out, mode="copy")  # resumable: everything is there already
    assert (again["copied"], again["skipped"]) == (0, n)

    victim = out / manifest["relative_path"].iloc[0]
    victim.write_bytes(b"someone else's file")
    (out / manifest["relative_path"].iloc[-1]).unlink()  # an interrupted run left one file out
    with pytest.raises(MaterializeError, match=str(victim.name)):
        materialize(frame, root, out, mode="copy")
    assert victim.read_bytes() == b"someone else's file"  # nothing overwritten
    assert not (out / manifest["relative_path"].iloc[-1]).exists()  # and nothing else written either
    victim.unlink()
    resumed = materialize(frame, root, out, mode="copy")
    assert (resumed["copied"], resumed["skipped"]) == (2, n - 2)


def test_link_mode_and_missing_sources(selection, tmp_path):
    frame, root = selection
    (root / frame["file_path"].iloc[0]).unlink()
    out = tmp_path / "links"
    summary = materialize(frame, root, out, mode="link")
    n = frame["radiology_image_id"].nunique()
    assert summary["linked"] == n - 1 and summary["missing"] == [frame["file_path"].iloc[0]]
    links = [p for p in out.rglob("*") if p.is_symlink()]
    assert len(links) == n - 1 and all(p.resolve().is_relative_to(root.resolve()) for p in links)
    assert materialize(frame, root, out, mode="link")["skipped"] == n - 1
    with pytest.raises(UsageError):
        materialize(frame, root, out, mode="move")


@pytest.mark.slow
def test_cli_extract_dry_run_manifest_and_copy(world, tmp_path, capsys):
    db = str(world["path"])  # the DuckDB file, or the PostgreSQL URL
    base = ["extract", "--cohort-id", "1", "--db", db, "--schema", world["schema"], "--cohort-schema",
            world["results"], "--vocabulary-schema", world["vocab"]]
    assert main([*base, "--dry-run", "--modality", "CT,MR"]) == 0
    out = capsys.readouterr().out
    assert "(all)" in out and "CT" in out and "persons" in out
    frame = images(world, modalities="CT", planes="axial")
    root = tmp_path / "archive"
    _write_archive(root, frame)
    target = tmp_path / "cli_out"
    argv = [*base, "--modality", "CT", "--plane", "axial", "--out", str(target), "--root", str(root), "--copy",
            "--quiet"]
    assert main(argv) == 0
    assert main(argv) == 0  # resumable
    manifest = pd.read_parquet(target / "manifest.parquet")
    assert set(manifest["radiology_image_id"]) == set(frame["radiology_image_id"])
    assert all((target / p).is_file() for p in manifest["relative_path"])
    assert main([*base, "--out", str(tmp_path / "m"), "--modality", "CT'; DROP"]) == 2
    assert main([*base, "--out", str(tmp_path / "m"), "--copy"]) == 2  # --copy needs --root
    assert "--root" in capsys.readouterr().err



@pytest.mark.slow
def test_patient_id_placeholders_are_resolved_with_the_person_map(selection, tmp_path):
    """The ETL stores ``{patient_id}`` for PatientID folders; extraction needs the site's person map for them."""
    frame, _ = selection
    frame = frame.copy()
    real_name = {int(p): f"PAT{int(p):05d}x" for p in frame["person_id"].unique()}
    placeholder = frame.index % 2 == 0  # half the images sit in a PatientID folder, the others do not
    frame.loc[placeholder, "file_path"] = ["{patient_id}/" + str(p) for p in frame.loc[placeholder, "file_path"]]
    last = frame.index[placeholder][0]
    frame.loc[last, "file_path"] = "{patient_id_lower}/named_{patient_id}.dcm"  # a file named after it too
    root = tmp_path / "archive"
    for image_id, path, person in zip(frame["radiology_image_id"], frame["file_path"], frame["person_id"]):
        pid = real_name[int(person)]
        real = path.replace("{patient_id_lower}", pid.lower()).replace("{patient_id}", pid)
        target = root / real
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f"DICM image {image_id}".encode() * 50)
    person_map = tmp_path / "persons.csv"
    person_map.write_text("patient_id,person_id\n" + "".join(f"{v},{k}\n" for k, v in real_name.items()))
    n = frame["radiology_image_id"].nunique()
    n_placeholder = frame.loc[placeholder, "radiology_image_id"].nunique()

    without = materialize(frame, root, tmp_path / "out1", mode="copy")
    assert without["copied"] == n - n_placeholder and without["missing"] == []
    assert sorted(without["unresolved"]) == sorted(set(frame.loc[placeholder, "file_path"]))

    out = tmp_path / "out2"
    summary = materialize(frame, root, out, mode="copy", person_map=str(person_map))
    assert (summary["copied"], summary["missing"], summary["unresolved"]) == (n, [], [])
    written = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    assert len(written) == n
    assert not any("PAT" in p or "pat0" in p for p in written)  # the tree holds person ids only
    person = int(frame.loc[last, "person_id"])
    assert any(p.endswith(f"/named_person_{person}.dcm") for p in written)
