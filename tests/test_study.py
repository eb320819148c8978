"""Network studies: two sites (DuckDB and a real PostgreSQL server) run one spec; the results are merged.

The sites hold synthetic R-CDM rows (a few hundred persons, inserted directly) and a cohort table filled directly
plus one cohort generated from an ATLAS-style SQL file. Every published count is checked against an independent
pandas computation; suppression, complementary suppression and the privacy scan are checked on every byte of
every file in the zips.
"""

from __future__ import annotations

import csv as csv_module
import datetime as dt
import hashlib
import io
import itertools
import json
import uuid
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rcdm import study_privacy as privacy
from rcdm.cli import main
from rcdm.study import (
    ALL_SITES,
    StudyMergeError,
    StudySpecError,
    load_spec,
    merge_results,
    read_results_zip,
    run_study,
    study_spec_hash,
)
from rcdm.study_spec import SiteSettings, bin_edges

MIN_CELL = 10

ATLAS_SQL = """-- ATLAS-style cohort: persons with a CT study; index = first CT study, end = 30 days later.
INSERT INTO @target_database_schema.@target_cohort_table
  (cohort_definition_id, subject_id, cohort_start_date, cohort_end_date)
SELECT @target_cohort_id AS cohort_definition_id,
  ro.person_id AS subject_id,
  MIN(ro.radiology_occurrence_date) AS cohort_start_date,
  DATEADD(day, 30, MIN(ro.radiology_occurrence_date)) AS cohort_end_date
FROM @cdm_database_schema.radiology_occurrence ro
WHERE ro.modality = 'CT'
GROUP BY ro.person_id;
"""

SPEC = {
    "_comment": "test study",
    "name": "rcdm test study",
    "version": "1.0",
    "description": "Two synthetic sites.",
    "min_cell_count": MIN_CELL,
    "cohorts": [1, {"id": 2, "name": "small"}, {"id": 3, "name": "CT persons (ATLAS SQL)", "sql": "ct_cohort.sql"}],
    "image_criteria": {"modalities": ["CT", "MR", "PT"], "window_start_days": -365, "window_end_days": 730},
    "analyses": [
        {"id": "by_modality", "type": "counts", "by": ["modality"]},
        {"id": "by_protocol", "type": "counts", "by": ["protocol"]},
        {"id": "by_year", "type": "counts", "by": ["year"]},
        {"id": "by_contrast", "type": "counts", "by": ["contrast"]},
        {"id": "by_modality_plane", "type": "counts", "by": ["modality", "plane"]},
        {"id": "slice_thickness", "type": "distribution", "variable": "slice_thickness"},
        {"id": "resolution_rows", "type": "distribution", "variable": "resolution_rows"},
        {"id": "time_to_first", "type": "time_to_first_study"},
    ],
}

DIMS = {"modality": "modality", "protocol": "protocol_concept_id", "year": "occurrence_year",
        "plane": "anatomical_plane", "contrast": "contrast_phase"}


# --------------------------------------------------------------------------------------------------------------
# Synthetic sites


def synthetic_site(seed: int, first_person: int, persons: int) -> dict[str, pd.DataFrame]:
    """R-CDM rows and a cohort table for one site; rare categories make small cells on purpose."""
    rng = np.random.default_rng(seed)
    person_ids = first_person + 7 * np.arange(persons)
    occurrences, images = [], []
    image_id = seed * 10_000_000
    for _n, person in enumerate(person_ids):
        for _ in range(rng.choice([0, 1, 2, 3], p=[0.1, 0.4, 0.35, 0.15])):
            occ_id = int(rng.integers(1, 2**62))
            day = dt.date(2012, 1, 1) + dt.timedelta(days=int(rng.integers(0, 3650)))
            modality = rng.choice(["CT", "MR", "CR", "PT", "US"], p=[0.62, 0.25, 0.08, 0.02, 0.03])
            protocol = rng.choice([3004287, 3002086, 40771234, -1], p=[0.6, 0.3, 0.03, 0.07])
            occurrences.append({
                "radiology_occurrence_id": occ_id, "person_id": int(person), "radiology_occurrence_date": day,
                "radiology_occurrence_datetime": dt.datetime.combine(day, dt.time(9, 30)),
                "modality": str(modality), "protocol_concept_id": None if protocol < 0 else int(protocol),
                "count_of_series": 1, "count_of_images": 1,
            })
            for _series in range(int(rng.integers(1, 3))):
                series_id = int(rng.integers(1, 2**62))
                plane = rng.choice(["axial", "coronal", "sagittal", "oblique", None], p=[0.7, 0.15, 0.1, 0.02, 0.03])
                phase = rng.choice(["pre:contrast_bolus_agent_none", "post:contrast_bolus_agent", None],
                                   p=[0.55, 0.35, 0.1])
                thickness = (float(rng.choice([0.625, 1.0, 2.5, 5.0, 10.0], p=[0.2, 0.3, 0.3, 0.18, 0.02]))
                             if modality == "CT" else None)
                size = int(rng.choice([256, 512, 1024], p=[0.2, 0.75, 0.05]))
                for k in range(int(rng.integers(2, 6))):
                    image_id += 1
                    images.append({
                        "radiology_image_id": image_id, "radiology_occurrence_id": occ_id,
                        "radiology_series_id": series_id, "file_path": f"p{person}/s{occ_id}/{image_id}.dcm",
                        "anatomical_plane_source_value": plane, "series_type_source_value": phase,
                        "series_serial_number": k + 1, "image_resolution_rows": size,
                        "image_resolution_columns": size, "ct_slice_thickness": thickness,
                        "modality": str(modality), "body_part_source_value": "HEAD",
                    })
    cohort = []
    for n, person in enumerate(person_ids):
        if n % 10 != 9:  # cohort 1: 90% of persons, one or two entries
            for _ in range(1 + (n % 7 == 0)):
                start = dt.date(2012, 6, 1) + dt.timedelta(days=int(rng.integers(0, 3000)))
                cohort.append({"cohort_definition_id": 1, "subject_id": int(person), "cohort_start_date": start,
                               "cohort_end_date": start + dt.timedelta(days=30)})
    for person in person_ids[: 6 if seed == 1 else 25]:  # cohort 2: small (too small for quantiles at site A)
        start = dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 1500)))
        cohort.append({"cohort_definition_id": 2, "subject_id": int(person), "cohort_start_date": start,
                       "cohort_end_date": start + dt.timedelta(days=10)})
    occurrence = pd.DataFrame(occurrences)
    occurrence["protocol_concept_id"] = occurrence["protocol_concept_id"].astype("Int64")
    image = pd.DataFrame(images)
    return {"radiology_occurrence": occurrence, "radiology_image": image, "cohort": pd.DataFrame(cohort)}


def load_site(conn, schema: str, data: dict[str, pd.DataFrame], cohort_schema: str) -> None:
    from rcdm.cohort import create_cohort_table
    from rcdm.db import insert_table
    from rcdm.ddl import create_tables

    create_tables(conn, schema, indexes=False)
    create_cohort_table(conn, cohort_schema, "cohort")
    for table in ("radiology_occurrence", "radiology_image"):
        insert_table(conn, schema, table, data[table])
    insert_table(conn, cohort_schema, "cohort", data["cohort"])


def atlas_cohort(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Cohort 3 as the ATLAS-style SQL defines it, computed with pandas."""
    ro = data["radiology_occurrence"]
    first = ro[ro["modality"] == "CT"].groupby("person_id")["radiology_occurrence_date"].min().reset_index()
    return pd.DataFrame({"cohort_definition_id": 3, "subject_id": first["person_id"],
                         "cohort_start_date": first["radiology_occurrence_date"],
                         "cohort_end_date": first["radiology_occurrence_date"] + dt.timedelta(days=30)})


# --------------------------------------------------------------------------------------------------------------
# The independent computation


def study_images(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """#study_images with pandas: cohort entries × studies × images, normalised and filtered as the spec says."""
    cohort = pd.concat([data["cohort"], atlas_cohort(data)], ignore_index=True)
    ro = data["radiology_occurrence"].rename(columns={"modality": "study_modality"})
    ri = data["radiology_image"]
    rows = cohort.merge(ro, left_on="subject_id", right_on="person_id").merge(ri, on="radiology_occurrence_id")
    modality = rows["modality"].fillna(rows["study_modality"]).str.upper()
    rows["modality"] = modality.where(modality.isin(privacy.MODALITY_CODES), "OTHER")
    rows["protocol_concept_id"] = rows["protocol_concept_id"].fillna(0).astype(int)
    rows["occurrence_year"] = rows["radiology_occurrence_date"].map(lambda d: d.year)
    plane = rows["anatomical_plane_source_value"].str.lower()
    rows["anatomical_plane"] = plane.where(plane.isin(["axial", "coronal", "sagittal", "oblique"]), "unknown")
    phase = rows["series_type_source_value"].fillna("").str.split(":").str[0]
    rows["contrast_phase"] = phase.where(phase.isin(["pre", "post"]), "unknown")
    rows["days"] = [(s - c).days for s, c in zip(rows["radiology_occurrence_date"], rows["cohort_start_date"])]
    keep = rows["modality"].isin(["CT", "MR", "PT"]) & rows["days"].between(-365, 730)
    return rows[keep].reset_index(drop=True)


def quantile(values: np.ndarray, q: str) -> float:
    """Achilles' quantile: the smallest value whose running count reaches q × n."""
    values = np.sort(values)
    target = Fraction(q) * len(values)
    for i, v in enumerate(values, start=1):
        if i >= target:
            return float(v)
    raise AssertionError


def bin_index(value: float, edges: list[float]) -> int:
    return int(np.searchsorted(np.asarray(edges, float), value, side="right")) + 1


def truth(images: pd.DataFrame, analysis: dict, cohort_ids: list[int]) -> dict[tuple, dict[str, float]]:
    """True (unsuppressed) cells keyed by (cohort, *dimension values) or (cohort, bin_index)."""
    out: dict[tuple, dict[str, float]] = {}
    if analysis["type"] in ("totals", "counts"):
        dims = [DIMS[d] for d in analysis.get("by", [])]
        for key, g in images.groupby(["cohort_definition_id", *dims]):
            key = key if isinstance(key, tuple) else (key,)
            out[tuple(str(k) for k in key)] = {"persons": g["subject_id"].nunique(),
                                               "studies": g["radiology_occurrence_id"].nunique(),
                                               "images": g["radiology_image_id"].nunique()}
        return out
    for cohort_id in cohort_ids:
        g = images[images["cohort_definition_id"] == cohort_id]
        if analysis["type"] == "distribution":
            column = {"slice_thickness": "ct_slice_thickness", "resolution_rows": "image_resolution_rows"}[
                analysis["variable"]]
            units = g[g[column].notna()].drop_duplicates("radiology_image_id")
            frame = pd.DataFrame({"subject_id": units["subject_id"], "value": units[column].astype(float)})
        else:
            index = g.groupby("subject_id")["cohort_start_date"].min()
            studies = g[["subject_id", "radiology_occurrence_date"]].drop_duplicates()
            studies["days"] = [(d - index[s]).days for s, d in zip(studies["subject_id"],
                                                                   studies["radiology_occurrence_date"])]
            value = studies.groupby("subject_id")["days"].agg(
                lambda d: d[d >= 0].min() if (d >= 0).any() else d.max())
            frame = pd.DataFrame({"subject_id": value.index, "value": value.to_numpy(float)})
        cells = {"persons": frame["subject_id"].nunique(), "units": len(frame)}
        edges = list(bin_edges(analysis))
        if len(frame):  # the bin of each Achilles quantile of the values (published only under conditions)
            cells["quantile_bins"] = {name: bin_index(quantile(frame["value"].to_numpy(), q), edges)
                                      for name, q in (("p10_bin", "1/10"), ("p25_bin", "1/4"),
                                                      ("median_bin", "1/2"), ("p75_bin", "3/4"),
                                                      ("p90_bin", "9/10"))}
        out[(str(cohort_id), "0")] = cells
        frame["bin"] = [bin_index(v, edges) for v in frame["value"]]
        for b in range(1, len(edges) + 2):
            part = frame[frame["bin"] == b]
            out[(str(cohort_id), str(b))] = {"persons": part["subject_id"].nunique(), "units": len(part)}
    return out


# --------------------------------------------------------------------------------------------------------------
# Fixtures: both sites, run once


@pytest.fixture(scope="module")
def study(tmp_path_factory, postgres_url):
    from rcdm.db import connect, execute_statements

    folder = tmp_path_factory.mktemp("study")
    (folder / "ct_cohort.sql").write_text(ATLAS_SQL, encoding="utf-8")
    spec_path = folder / "study.json"
    spec_path.write_text(json.dumps(SPEC), encoding="utf-8")
    sites = {"A": synthetic_site(1, 7_100_003, 260), "B": synthetic_site(2, 8_200_009, 320)}
    approve = study_spec_hash(load_spec(spec_path))  # the sites reviewed the cohort SQL and approve this spec
    settings = {k: SiteSettings(audit_log=folder / f"releases_{k}.jsonl") for k in sites}  # site minimum 5
    zips = {}
    with connect(folder / "site_a.duckdb") as conn:
        load_site(conn, "cdm", sites["A"], cohort_schema="results")
        zips["A"] = run_study(spec_path, conn, "cdm", cohort_database_schema="results",
                              out=folder / "site_a.zip", site_name="Site A", site=settings["A"],
                              approve_cohort_sql=approve)
    schema = f"study_{uuid.uuid4().hex[:8]}"
    with connect(postgres_url) as conn:
        load_site(conn, schema, sites["B"], cohort_schema=schema)
        try:
            zips["B"] = run_study(spec_path, conn, schema, out=folder / "site_b.zip", site_name="Site B",
                                  site=settings["B"], approve_cohort_sql=approve)
        finally:
            execute_statements(conn, [f"DROP SCHEMA {schema} CASCADE"])
    return {"folder": folder, "spec_path": spec_path, "sites": sites, "results": zips, "approve": approve,
            "settings": settings, "zips": {k: folder / f"site_{k.lower()}.zip" for k in zips}}


# --------------------------------------------------------------------------------------------------------------
# Spec


def test_load_spec_canonical_hash_and_yaml(tmp_path):
    import yaml

    (tmp_path / "ct_cohort.sql").write_text(ATLAS_SQL)
    (tmp_path / "s.json").write_text(json.dumps(SPEC))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SPEC))
    from_json, from_yaml = load_spec(tmp_path / "s.json"), load_spec(tmp_path / "s.yaml")
    assert study_spec_hash(from_json) == study_spec_hash(from_yaml)
    assert len(study_spec_hash(from_json)) == 64
    assert from_json["cohorts"][2]["sql_sha256"] and from_json["cohorts"][2]["sql"] == "ct_cohort.sql"
    assert from_json["cohorts"][0] == {"id": 1, "name": "cohort 1"}
    assert from_json["analyses"][0]["title"] == "by_modality"
    assert study_spec_hash(load_spec(from_json)) == study_spec_hash(from_json)  # idempotent
    changed = dict(SPEC, min_cell_count=11)
    (tmp_path / "t.json").write_text(json.dumps(changed))
    assert study_spec_hash(load_spec(tmp_path / "t.json")) != study_spec_hash(from_json)


@pytest.mark.parametrize("change, field", [
    ({"name": None}, "name"),
    ({"min_cell_count": 0}, "min_cell_count"),
    ({"min_cell_count": "5"}, "min_cell_count"),
    ({"cohorts": []}, "cohorts"),
    ({"cohorts": [1, 1]}, "cohorts[1].id"),
    ({"cohorts": [{"id": 1, "sql": "missing.sql"}]}, "cohorts[0].sql_sha256"),  # a dict: SQL known by hash
    ({"cohorts": [{"id": 1, "sql": "../up.sql"}]}, "cohorts[0].sql"),
    ({"cohorts": [{"id": 1, "sql": "/etc/x.sql"}]}, "cohorts[0].sql"),
    ({"_cohort_sql": {"1": "DROP TABLE cdm.concept"}}, "_cohort_sql"),
    ({"analyses": [{"id": "x", "type": "counts", "by": ["modality"], "_note": "x"}]}, "analyses[0]._note"),
    ({"colour": "red"}, "colour"),
    ({"image_criteria": {"planes": ["diagonal"]}}, "image_criteria"),
    ({"image_criteria": {"modality": ["CT"]}}, "image_criteria.modality"),
    ({"analyses": [{"id": "x", "type": "pie"}]}, "analyses[0].type"),
    ({"analyses": [{"id": "x", "type": "counts", "by": ["person"]}]}, "analyses[0].by[0]"),
    ({"analyses": [{"id": "Bad-Id", "type": "counts", "by": ["modality"]}]}, "analyses[0].id"),
    ({"analyses": [{"id": "totals", "type": "counts", "by": ["modality"]}]}, "analyses[0].id"),
    ({"analyses": [{"id": "d", "type": "distribution", "variable": "age"}]}, "analyses[0].variable"),
    ({"analyses": [{"id": "d", "type": "distribution", "variable": "slice_thickness", "bins": [2, 3]}]},
     "analyses[0].bins"),
    ({"analyses": [{"id": "t", "type": "time_to_first_study", "bins": [0, 1]}]}, "analyses[0].bins"),
    ({"analyses": [{"id": "../x", "type": "counts", "by": ["modality"]}]}, "analyses[0].id"),
])
def test_load_spec_errors_name_the_field(change, field, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = {k: v for k, v in SPEC.items() if k != "cohorts"}
    spec["cohorts"] = [1]
    spec.update(change)
    with pytest.raises(StudySpecError, match=f"field {field.replace('[', '.').replace(']', '.')}"):
        load_spec(spec)


# --------------------------------------------------------------------------------------------------------------
# Site results


def site_files(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def published(path: Path, analysis_id: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(site_files(path)[f"{analysis_id}.csv"]), dtype=str, keep_default_na=False)


def analyses():
    return [{"id": "totals", "type": "totals"}, *SPEC["analyses"]]


def key_of(row: dict, analysis: dict) -> tuple[str, ...]:
    if analysis["type"] in ("distribution", "time_to_first_study"):
        return (row["cohort_definition_id"], row["bin_index"])
    return (row["cohort_definition_id"], *[row[DIMS[d]] for d in analysis.get("by", [])])


def test_manifest_fields(study):
    files = site_files(study["zips"]["B"])
    manifest = json.loads(files["manifest.json"])
    spec = load_spec(study["spec_path"])
    assert manifest["study_name"] == "rcdm test study" and manifest["study_version"] == "1.0"
    assert manifest["study_spec_hash"] == study_spec_hash(spec) == study["results"]["B"]["study_spec_hash"]
    from rcdm import __version__

    assert manifest["rcdm_version"] == __version__
    assert manifest["dialect"] == "postgresql" and json.loads(site_files(study["zips"]["A"])["manifest.json"])[
        "dialect"] == "duckdb"
    assert manifest["site_name"] == "Site B" and manifest["min_cell_count"] == MIN_CELL
    assert manifest["suppression"]["marker"] == -MIN_CELL
    created = dt.datetime.fromisoformat(manifest["created_utc"].replace("Z", "+00:00"))
    assert created.tzinfo is not None and abs((dt.datetime.now(dt.timezone.utc) - created).total_seconds()) < 600
    assert [a["id"] for a in manifest["analyses"]] == [a["id"] for a in analyses()]
    assert sorted(files) == sorted(["manifest.json", "spec.json", *[f"{a['id']}.csv" for a in analyses()]])
    assert files["spec.json"].decode() == json.dumps(json.loads(files["spec.json"]), sort_keys=True,
                                                     separators=(",", ":"), ensure_ascii=False)
    cohort = json.loads(files["spec.json"])["cohorts"][2]  # the canonical spec names the SQL file and its hash
    assert cohort["sql"] == "ct_cohort.sql" and cohort["sql_sha256"] == hashlib.sha256(ATLAS_SQL.encode()).hexdigest()
    assert study["results"]["A"]["generated_cohorts"] == [3]


@pytest.mark.parametrize("site", ["A", "B"])
def test_published_cells_equal_pandas_and_small_cells_are_suppressed(study, site):
    images = study_images(study["sites"][site])
    marker = str(-MIN_CELL)
    primary = complementary = 0
    for analysis in analyses():
        expected = truth(images, analysis, [1, 2, 3])
        table = published(study["zips"][site], analysis["id"])
        rows = table.to_dict("records")
        counts = [c for c, k in privacy.table_columns(analysis["type"], analysis.get("by", ())).items()
                  if k == privacy.COUNT]
        seen = set()
        for row in rows:
            key = key_of(row, analysis)
            seen.add(key)
            cells = expected.get(key, {})
            for column in counts:
                true = cells.get("units" if column == "images" and "units" in cells else column, 0)
                if row[column] == marker:
                    assert true > 0, (analysis["id"], key, column)
                    primary += true < MIN_CELL
                    complementary += true >= MIN_CELL
                else:
                    assert int(row[column]) == true, (analysis["id"], key, column)
                    assert not 0 < true < MIN_CELL
            if "p10_bin" in row and row["bin_index"] == "0":  # quantiles: bins, only from published bins
                mine = table[(table["cohort_definition_id"] == row["cohort_definition_id"]) &
                             (table["bin_index"] != "0")]
                unit = "images" if analysis["type"] == "distribution" else "persons"
                publishable = (int(row["persons"]) >= MIN_CELL and (mine["persons"] != marker).all() and
                               (mine[unit] != marker).all())
                labels = {}
                if publishable and "quantile_bins" in cells:
                    label_of = dict(zip(mine["bin_index"].astype(int), mine["bin"]))
                    persons_of = dict(zip(mine["bin_index"].astype(int), mine["persons"].astype(int)))
                    labels = {q: label_of[b] for q, b in cells["quantile_bins"].items()}
                    if any(persons_of[b] < MIN_CELL for b in cells["quantile_bins"].values()):
                        labels = {}
                for q in privacy.QUANTILE_COLUMNS:
                    assert row[q] == labels.get(q, ""), (analysis["id"], key, q)
                assert row["quantiles_suppressed"] == ("0" if labels or row["persons"] == "0" else "1")
            elif "p10_bin" in row:
                assert all(row[q] == "" for q in privacy.QUANTILE_COLUMNS)
        nonzero = {k for k, c in expected.items() if any(v for n, v in c.items() if n in ("persons", "units",
                                                                                          "studies", "images"))}
        assert nonzero <= seen, (analysis["id"], sorted(nonzero - seen)[:5])
    assert primary > 0 and complementary > 0  # the synthetic data exercises both rules
    # a cohort too small for quantiles: site A's cohort 2 has 6 persons
    if site == "A":
        summary = published(study["zips"]["A"], "slice_thickness")
        row = summary[(summary["cohort_definition_id"] == "2") & (summary["bin_index"] == "0")].iloc[0]
        assert row["median_bin"] == "" and "min_value" not in row
        assert row["quantiles_suppressed"] == "1"  # withheld, not absent: said explicitly, never with the marker
        bins = summary[summary["bin_index"] != "0"]
        assert set(bins["quantiles_suppressed"]) == {"0"} and set(bins["p10_bin"]) == {""}


@pytest.mark.parametrize("site", ["A", "B"])
def test_complementary_suppression_holds(study, site):
    """In every group of cells that adds up to a published margin, never exactly one suppressed cell."""
    marker = str(-MIN_CELL)
    for analysis in analyses():
        if analysis["type"] == "totals":
            continue
        table = published(study["zips"][site], analysis["id"])
        counts = [c for c, k in privacy.table_columns(analysis["type"], analysis.get("by", ())).items()
                  if k == privacy.COUNT]
        if analysis["type"] == "counts":
            dims = [DIMS[d] for d in analysis["by"]]
            groupings = [["cohort_definition_id", *[d for d in dims if d != drop]] for drop in dims]
        else:
            table = table[table["bin_index"] != "0"]
            groupings = [["cohort_definition_id"]]
        for grouping in groupings:
            for _, group in table.groupby(grouping):
                for column in counts:
                    hidden = (group[column] == marker).sum()
                    others = ((group[column] != marker) & (group[column] != "0")).sum()
                    assert hidden != 1 or others == 0, (analysis["id"], grouping, column, group)


@pytest.mark.parametrize("site", ["A", "B"])
def test_nothing_person_level_in_the_zip(study, site):
    """Every byte of every file: no subject_id, no exact date of any person's event, no small count."""
    data = study["sites"][site]
    files = site_files(study["zips"][site])
    blob = b"\n".join(files.values())
    for person in set(data["cohort"]["subject_id"]) | set(data["radiology_occurrence"]["person_id"]):
        assert str(person).encode() not in blob
    dates = set(data["cohort"]["cohort_start_date"]) | set(data["cohort"]["cohort_end_date"]) | set(
        data["radiology_occurrence"]["radiology_occurrence_date"])
    for day in dates:
        for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y"):
            assert day.strftime(fmt).encode() not in blob, day
    for occurrence_id in data["radiology_occurrence"]["radiology_occurrence_id"]:
        assert str(occurrence_id).encode() not in blob
    manifest = json.loads(files["manifest.json"])
    for name, payload in files.items():
        if name.endswith(".csv"):
            table = pd.read_csv(io.BytesIO(payload), dtype=str, keep_default_na=False)
            kinds = privacy.table_columns(*next((a["type"], a["dimensions"]) for a in manifest["analyses"]
                                                if a["file"] == name))
            assert list(table.columns) == list(kinds)
            for column, kind in kinds.items():
                if kind == privacy.COUNT:
                    values = table[column].astype(int)
                    assert not ((values > 0) & (values < MIN_CELL)).any(), (name, column)
        else:
            numbers = []

            def walk(value, key=""):
                if isinstance(value, dict):
                    for k, v in value.items():
                        walk(v, k)
                elif isinstance(value, list):
                    for v in value:
                        walk(v, key)
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    numbers.append((key, value))  # noqa: B023 - called within this iteration

            walk(json.loads(payload))
            for key, value in numbers:
                assert key in ("id", "min_cell_count", "marker", "window_start_days", "window_end_days",
                               "bins") or not 0 < value < MIN_CELL, (name, key, value)


# --------------------------------------------------------------------------------------------------------------
# The privacy scan refuses planted violations


def _with_column(csv: bytes, name: str, value: str) -> bytes:
    lines = csv.decode().rstrip("\n").split("\n")
    return "\n".join([lines[0] + "," + name, *[line + "," + value for line in lines[1:]]]).encode() + b"\n"


def _good_files(study) -> dict[str, bytes]:
    return site_files(study["zips"]["A"])


@pytest.mark.parametrize("plant, message", [
    (lambda f: f.__setitem__("by_modality.csv", _with_column(f["by_modality.csv"], "subject_id", "7100003")),
     "subject_id"),
    (lambda f: f.__setitem__("totals.csv", f["totals.csv"].rstrip(b"\n") + b"\n9,3,12,40\n"), "below min_cell_count"),
    (lambda f: f.__setitem__("by_year.csv", f["by_year.csv"].rstrip(b"\n") + b"\n1,2017-03-04,20,20,20\n"),
     "date"),
    (lambda f: f.__setitem__("by_modality.csv", f["by_modality.csv"].rstrip(b"\n") + b"\n1,Head CT Kim,20,20,20\n"),
     "not a DICOM modality code"),
    (lambda f: f.__setitem__("persons.csv", b"person_id\n7100003\n"), "not a file the manifest declares"),
    (lambda f: f.__setitem__("spec.json", f["spec.json"].replace(b'"description":"',
                                                                 b'"description":"seen 2019-05-02 ')),
     "calendar date"),
])
def test_privacy_scan_refuses_planted_violations(study, plant, message):
    files = _good_files(study)
    privacy.check_files(files, MIN_CELL)  # the real zip passes
    plant(files)
    with pytest.raises(privacy.StudyPrivacyError, match=message):
        privacy.check_files(files, MIN_CELL)


def test_run_refuses_to_write_when_suppression_is_bypassed(study, monkeypatch, tmp_path):
    """Plant a violation inside a real run: without suppression the scan stops the zip from being written."""
    from rcdm.db import connect

    monkeypatch.setattr(privacy, "suppress_zip", lambda tables, analyses, m: (
        dict(tables), {a["id"]: {"primary": 0, "complementary": 0} for a in analyses}))
    out = tmp_path / "leaky.zip"
    with connect(study["folder"] / "site_a.duckdb") as conn:
        with pytest.raises(privacy.StudyPrivacyError, match="below min_cell_count"):
            run_study(study["spec_path"], conn, "cdm", cohort_database_schema="results", out=out,
                      site=study["settings"]["A"], approve_cohort_sql=study["approve"])
    assert not out.exists() and not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------------------------
# Merge


def test_merge_sums_unsuppressed_cells(study, tmp_path):
    result = merge_results([study["zips"]["A"], study["zips"]["B"]], tmp_path / "merged")
    assert result["sites"] == ["Site A", "Site B"]
    images = {site: study_images(study["sites"][site]) for site in ("A", "B")}
    for analysis in analyses():
        merged = pd.read_csv(result["analyses"][analysis["id"]], dtype=str, keep_default_na=False)
        assert set(merged["site"]) <= {"Site A", "Site B", ALL_SITES}
        counts = [c for c, k in privacy.table_columns(analysis["type"], analysis.get("by", ())).items()
                  if k == privacy.COUNT]
        site_cells = {}
        for site, name in (("A", "Site A"), ("B", "Site B")):
            expected = truth(images[site], analysis, [1, 2, 3])
            for row in merged[merged["site"] == name].to_dict("records"):
                key = key_of(row, analysis)
                for column in counts:
                    true = expected.get(key, {}).get("units" if column == "images" and "units" in
                                                     expected.get(key, {}) else column, 0)
                    unsuppressed = row[column] != str(-MIN_CELL)
                    site_cells.setdefault((key, column), 0)
                    site_cells[(key, column)] += true if unsuppressed else 0
        combined = merged[merged["site"] == ALL_SITES].to_dict("records")
        assert combined
        for row in combined:
            for column in counts:
                assert int(row[column]) == site_cells[(key_of(row, analysis), column)], (analysis["id"], row)
    html = Path(result["report"]).read_text()
    assert "<svg" in html and "Site B" in html and "<script" not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    assert (tmp_path / "merged" / "sites.csv").read_text().count("\n") == 3


def test_merge_refuses_different_specs(study, tmp_path):
    from rcdm.db import connect

    other = dict(SPEC, version="2.0")
    other["cohorts"] = [1, {"id": 2, "name": "small"}]
    spec_path = tmp_path / "other.json"
    spec_path.write_text(json.dumps(other))
    with connect(study["folder"] / "site_a.duckdb") as conn:
        run_study(spec_path, conn, "cdm", cohort_database_schema="results", out=tmp_path / "other.zip",
                  site=study["settings"]["A"])
    with pytest.raises(StudyMergeError, match="different study specs"):
        merge_results([study["zips"]["A"], tmp_path / "other.zip"], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_merge_refuses_a_tampered_zip(study, tmp_path):
    files = site_files(study["zips"]["B"])
    files["spec.json"] = files["spec.json"].replace(b'"min_cell_count":10', b'"min_cell_count":1')
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as archive:
        for name, payload in files.items():
            archive.writestr(name, payload)
    with pytest.raises(StudyMergeError, match="does not match"):
        read_results_zip(tmp_path / "t.zip")


def test_cli_study_run_and_merge(study, tmp_path, capsys):
    out = tmp_path / "cli.zip"
    assert main(["study", "run", str(study["spec_path"]), "--db", str(study["folder"] / "site_a.duckdb"),
                 "--schema", "cdm", "--cohort-schema", "results", "--site-name", "cli site", "--out", str(out),
                 "--approve-cohort-sql", study["approve"], "--audit-log",
                 str(study["settings"]["A"].audit_log)]) == 0
    assert "study results written" in capsys.readouterr().out
    assert main(["study", "merge", str(out), str(study["zips"]["B"]), "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "report.html").is_file() and (tmp_path / "m" / "by_modality.csv").is_file()
    assert main(["study", "run", str(tmp_path / "nope.json"), "--db", str(study["folder"] / "site_a.duckdb")]) == 2
    assert "No such study spec file" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# Linked suppression across the files of a zip: an independent audit


def published_relations(files: dict[str, bytes]) -> list[dict]:
    """Every relation "these published cells add up to those" the analyses of a zip imply, built from the files.

    Per cohort and count column: two counts tables (totals = no dimension) add up to the same number over the
    cells sharing each value of their common dimensions; a distribution's bins add up to its (all) row; the
    (all) persons of time to first study equal the totals' persons. Returns {"measure", "sides": (a, b)} with
    each side a list of (file, line, column, text).
    """
    manifest = json.loads(files["manifest.json"])
    tables = {a["id"]: (a, pd.read_csv(io.BytesIO(files[a["file"]]), dtype=str, keep_default_na=False))
              for a in manifest["analyses"]}
    relations = []
    counts = [(i, a, t) for i, (a, t) in tables.items() if a["type"] in ("counts", "totals")]
    for (i1, a1, t1), (i2, a2, t2) in itertools.combinations(counts, 2):
        shared = ["cohort_definition_id", *[DIMS[d] for d in a1["dimensions"] if d in a2["dimensions"]]]
        for column in ("persons", "studies", "images"):
            sides: dict[tuple, tuple[list, list]] = {}
            for side, (i, t) in enumerate(((i1, t1), (i2, t2))):
                for line, row in enumerate(t.to_dict("records"), start=2):
                    sides.setdefault(tuple(row[k] for k in shared), ([], []))[side].append(
                        (f"{i}.csv", line, column, row[column]))
            relations.extend({"measure": column, "sides": v} for v in sides.values())
    for i, (a, t) in tables.items():
        if a["type"] not in ("distribution", "time_to_first_study"):
            continue
        columns = ["persons", "images"] if a["type"] == "distribution" else ["persons"]
        for cohort, _part in t.groupby("cohort_definition_id"):
            lines = {line: row for line, row in enumerate(t.to_dict("records"), start=2)
                     if row["cohort_definition_id"] == cohort}
            for column in columns:
                relations.append({"measure": column, "sides": (
                    [(f"{i}.csv", n, column, r[column]) for n, r in lines.items() if r["bin_index"] == "0"],
                    [(f"{i}.csv", n, column, r[column]) for n, r in lines.items() if r["bin_index"] != "0"])})
            if a["type"] == "time_to_first_study":
                totals = tables["totals"][1].to_dict("records")
                n_total = next(n for n, r in enumerate(totals, start=2) if r["cohort_definition_id"] == cohort)
                relations.append({"measure": "persons", "sides": (
                    [("totals.csv", n_total, "persons", totals[n_total - 2]["persons"])],
                    [(f"{i}.csv", n, "persons", r["persons"]) for n, r in lines.items() if r["bin_index"] == "0"])})
    return relations


def audit_zip(files: dict[str, bytes], min_cell_count: int) -> None:
    """No suppressed cell is the only unknown of any relation; fully published image relations really add up."""
    marker = str(-min_cell_count)
    relations = published_relations(files)
    assert relations
    for relation in relations:
        cells = [c for side in relation["sides"] for c in side]
        hidden = [c for c in cells if c[3] == marker]
        assert len(hidden) != 1, ("recoverable by subtraction", hidden, cells)
        if not hidden and relation["measure"] == "images":
            assert sum(int(c[3]) for c in relation["sides"][0]) == sum(int(c[3]) for c in relation["sides"][1])
    manifest = json.loads(files["manifest.json"])
    tables = {a["id"]: pd.read_csv(io.BytesIO(files[a["file"]]), dtype=str, keep_default_na=False)
              for a in manifest["analyses"]}
    assert privacy.audit_suppression(tables, manifest["analyses"], min_cell_count) == []  # nor by any chain


@pytest.mark.parametrize("site", ["A", "B"])
def test_no_suppressed_cell_is_recoverable_across_the_files_of_a_zip(study, site):
    audit_zip(site_files(study["zips"][site]), MIN_CELL)


EXAMPLE_SPEC = Path(__file__).resolve().parents[1] / "extras" / "studies" / "example_study.json"


def build_site(persons: list[tuple[int, dt.date, list[tuple[str, int, list[tuple[str, int]]]]]],
               first_occurrence: int, first_image: int, cohort_days: int = 20) -> dict[str, pd.DataFrame]:
    """R-CDM rows and cohort 1 from ``(person, index date, [(modality, day after index, [(plane, images)])])``:
    one study per (modality, day), one series per plane, 512x512 images, 1 mm slice thickness on CT."""
    occurrences, images, cohort = [], [], []
    image_id = first_image
    for i, (person, index, studies) in enumerate(persons):
        cohort.append({"cohort_definition_id": 1, "subject_id": person, "cohort_start_date": index,
                       "cohort_end_date": index + dt.timedelta(days=cohort_days)})
        for k, (modality, day, series) in enumerate(studies):
            occ_id = first_occurrence + 100 * i + k
            date = index + dt.timedelta(days=day)
            occurrences.append({"radiology_occurrence_id": occ_id, "person_id": person,
                                "radiology_occurrence_date": date,
                                "radiology_occurrence_datetime": dt.datetime.combine(date, dt.time(8)),
                                "modality": modality, "protocol_concept_id": None, "count_of_series": len(series),
                                "count_of_images": sum(n for _, n in series)})
            for s_no, (plane, n) in enumerate(series):
                for j in range(n):
                    image_id += 1
                    images.append({"radiology_image_id": image_id, "radiology_occurrence_id": occ_id,
                                   "radiology_series_id": occ_id * 10 + s_no, "file_path": f"x/{image_id}.dcm",
                                   "anatomical_plane_source_value": plane, "series_type_source_value": None,
                                   "series_serial_number": j + 1, "image_resolution_rows": 512,
                                   "image_resolution_columns": 512,
                                   "ct_slice_thickness": 1.0 if modality == "CT" else None, "modality": modality,
                                   "body_part_source_value": "HEAD"})
    occurrence = pd.DataFrame(occurrences)
    occurrence["protocol_concept_id"] = occurrence["protocol_concept_id"].astype("Int64")
    return {"radiology_occurrence": occurrence, "radiology_image": pd.DataFrame(images),
            "cohort": pd.DataFrame(cohort)}


def reviewer_site() -> dict[str, pd.DataFrame]:
    """10 persons, 102 images: CT axial 60 and coronal 40 (one CT study each), MR sagittal 2 (one study); the
    first person's only study is 5 days before the index date."""
    persons = []
    for i in range(10):
        studies = [("CT", -5 if i == 0 else i, [("axial", 6), ("coronal", 4)])]
        if i == 1:
            studies.append(("MR", 3, [("sagittal", 2)]))
        persons.append((9_300_001 + 7 * i, dt.date(2020, 3, 1) + dt.timedelta(days=i), studies))
    return build_site(persons, 70_000_000_000, 50_000_000)


@pytest.fixture(scope="module")
def reviewer(tmp_path_factory):
    from rcdm.db import connect

    folder = tmp_path_factory.mktemp("reviewer")
    db = folder / "site.duckdb"
    with connect(db) as conn:
        load_site(conn, "cdm", reviewer_site(), cohort_schema="cdm")
    return {"folder": folder, "db": db}


@pytest.mark.slow
def test_reviewer_scenario_small_mr_next_to_large_ct(reviewer, tmp_path, capsys):
    out = tmp_path / "site.zip"
    assert main(["study", "run", str(EXAMPLE_SPEC), "--db", str(reviewer["db"]), "--schema", "cdm",
                 "--site-name", "Reviewer", "--out", str(out), "--audit-log", str(tmp_path / "r.jsonl")]) == 0
    capsys.readouterr()
    files = site_files(out)
    audit_zip(files, 5)
    totals = published(out, "totals").iloc[0]
    cells = {(r["modality"], r["anatomical_plane"]): r for r in published(out, "by_modality_plane").to_dict("records")}
    assert cells[("MR", "sagittal")]["images"] == "-5"
    # the reviewer's subtraction no longer works: 102 - 60 - 40 needs every other number published
    known = [int(totals["images"])] + [int(r["images"]) for k, r in cells.items() if k[0] == "CT"]
    assert any(v == -5 for v in known)
    # quantiles: the one person 5 days before the index is a bin of 1, so no quantile is published (it would
    # be that person's bin), and never a value, a minimum or a maximum
    ttfs = published(out, "time_to_first_study")
    summary = ttfs[ttfs["bin_index"] == "0"].iloc[0]
    assert summary["p10_bin"] == "" and summary["quantiles_suppressed"] == "1"
    assert summary["persons"] == "10" and "min_value" not in summary and "max_value" not in summary
    # the merge keeps the flag and leaves the combined quantiles empty
    other = tmp_path / "other.zip"
    assert main(["study", "run", str(EXAMPLE_SPEC), "--db", str(reviewer["db"]), "--schema", "cdm",
                 "--site-name", "Other", "--out", str(other), "--audit-log", str(tmp_path / "other.jsonl")]) == 0
    result = merge_results([out, other], tmp_path / "merged")
    merged = pd.read_csv(result["analyses"]["time_to_first_study"], dtype=str, keep_default_na=False)
    row = merged[(merged["site"] == "Reviewer") & (merged["bin_index"] == "0")].iloc[0]
    assert row["p10_bin"] == "" and row["quantiles_suppressed"] == "1"
    combined = merged[(merged["site"] == ALL_SITES) & (merged["bin_index"] == "0")].iloc[0]
    assert combined["persons"] == "20" and combined["p10_bin"] == ""


def test_scan_refuses_per_table_only_complementary_suppression(reviewer, monkeypatch, tmp_path):
    """The old rule (within each table only) leaves MR = 102 - 60 - 40: the pre-zip audit refuses to write."""
    from rcdm.db import connect

    def per_table(tables, analyses, min_cell_count):
        out = {}
        for a in analyses:
            columns = privacy.count_columns(a["type"], a.get("by", ()))
            dims = [privacy.DIMENSION_COLUMNS[d][0] for d in a.get("by", ())]
            groupings = ([["cohort_definition_id", *[d for d in dims if d != drop]] for drop in dims]
                         if a["type"] == "counts" else [] if a["type"] == "totals" else [["cohort_definition_id"]])
            members = tables[a["id"]]["bin_index"] > 0 if "bin_index" in tables[a["id"]] else None
            out[a["id"]] = privacy.suppress(tables[a["id"]], columns, min_cell_count, groupings, members)[0]
        return out, {a["id"]: {"primary": 0, "complementary": 0} for a in analyses}

    monkeypatch.setattr(privacy, "suppress_zip", per_table)
    out = tmp_path / "leaky.zip"
    with connect(reviewer["db"]) as conn:
        with pytest.raises(privacy.StudyPrivacyError, match="recovered by subtraction"):
            run_study(EXAMPLE_SPEC, conn, "cdm", out=out, site=SiteSettings(audit_log=tmp_path / "log.jsonl"))
    assert not out.exists()


def test_scan_refuses_quantiles_published_under_the_flag(study):
    files = site_files(study["zips"]["A"])
    for name in ("slice_thickness.csv", "resolution_rows.csv", "time_to_first.csv"):
        csv = files[name].decode().split("\n")
        header = next(csv_module.reader([csv[0]]))
        for n, line in enumerate(csv[1:], start=1):
            cells = next(csv_module.reader([line]), [])
            if len(cells) == len(header) and cells[header.index("quantiles_suppressed")] == "0" and \
                    cells[header.index("bin_index")] == "0" and cells[header.index("median_bin")]:
                cells[header.index("quantiles_suppressed")] = "1"
                buffer = io.StringIO()
                csv_module.writer(buffer, lineterminator="").writerow(cells)
                csv[n] = buffer.getvalue()
                files[name] = "\n".join(csv).encode()
                with pytest.raises(privacy.StudyPrivacyError, match="quantiles_suppressed is 1"):
                    privacy.check_files(files, MIN_CELL)
                return
    raise AssertionError("no published quantiles")


def test_merge_refuses_the_same_site_twice(study, tmp_path):
    files = site_files(study["zips"]["A"])
    copy = tmp_path / "copy.zip"  # the same content, zipped again in another order
    with zipfile.ZipFile(copy, "w") as archive:
        for name in reversed(list(files)):
            archive.writestr(name, files[name])
    with pytest.raises(StudyMergeError, match="both results of site 'Site A'"):
        merge_results([study["zips"]["A"], copy], tmp_path / "merged")
    manifest = json.loads(files["manifest.json"])
    manifest["rcdm_version"] = "0.0.0-copy"
    files["manifest.json"] = json.dumps(manifest, indent=2).encode()
    relabelled = tmp_path / "relabelled.zip"
    with zipfile.ZipFile(relabelled, "w") as archive:
        for name, payload in files.items():
            archive.writestr(name, payload)
    with pytest.raises(StudyMergeError, match="both results of site 'Site A'"):
        merge_results([relabelled, study["zips"]["B"], study["zips"]["A"]], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()
    assert main(["study", "merge", str(study["zips"]["A"]), str(copy), "--out", str(tmp_path / "m")]) == 2
