"""Write a small, varied, fully synthetic DICOM corpus (plus a person map) from pydicom's bundled test files.

The corpus exercises the whole ETL: several patients, modalities (CT, MR, CR, US), body parts, dates over
ten years, contrast and no contrast, axial/coronal/sagittal/oblique orientations, a Korean description,
an invalid date, and files that must be skipped (a README, random bytes, a DICOMDIR) or quarantined
(a truncated copy, a copy without its SOP Instance UID). Everything is deterministic for a given seed.
Templates are found among the files pydicom has on disk (never ``get_testdata_file``, which goes to the
network for a name it does not have).
"""

from __future__ import annotations

import copy
import csv
import os
import random
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydicom is imported where a corpus is written
    from pydicom.dataset import Dataset
    from pydicom.uid import UID

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
OBLIQUE = (1.0, 0.0, 0.0, 0.0, 0.7071068, -0.7071068)

#: Template files, as paths relative to pydicom's test-file folder (all bundled with pydicom itself).
TEMPLATES = {
    "CT": "CT_small.dcm",
    "MR": "MR_small.dcm",
    "CR": "dicomdirtests/77654033/CR1/6154",
    "US": "ExplVR_BigEnd.dcm",
    "DICOMDIR": "dicomdirtests/DICOMDIR",
}

# (modality, study description, body part, [series: (description, orientation, contrast agent, images)])
Series = tuple[str, tuple[float, ...] | None, str | None, int]
STUDY_RECIPES: tuple[tuple[str, str, str, list[Series]], ...] = (
    ("CT", "CT HEAD W/O CONTRAST", "HEAD",
     [("AXIAL BRAIN 5MM", AXIAL, None, 3), ("CORONAL MPR", CORONAL, None, 2)]),
    ("CT", "CT HEAD W/O & W/ CONTRAST", "HEAD",
     [("PRE AXIAL", AXIAL, None, 3), ("C+ AXIAL", AXIAL, "OMNIPAQUE 300", 3)]),
    ("CT", "흉부 CT 조영 증강", "CHEST",
     [("조영 증강 축상", AXIAL, "VISIPAQUE", 2), ("SAG MPR", SAGITTAL, "VISIPAQUE", 2)]),
    ("CT", "CT ABDOMEN PELVIS", "ABDOMEN",
     [("PORTAL VENOUS", AXIAL, "IOPAMIRO", 3), ("OBLIQUE RECON", OBLIQUE, None, 1)]),
    ("MR", "MRI BRAIN W/O AND W/ GD", "BRAIN",
     [("T1 SAG", SAGITTAL, None, 2), ("T2 AX", AXIAL, None, 2), ("T1 AX POST GD", AXIAL, "GADOVIST", 2)]),
    ("MR", "MR KNEE", "EXTREMITY", [("PD COR", CORONAL, None, 2), ("PD SAG", SAGITTAL, None, 2)]),
    ("CR", "CHEST PA", "CHEST", [("PA", None, None, 1)]),
    ("CR", "HAND LEFT 2 VIEWS", "EXTREMITY", [("PA", None, None, 1), ("OBLIQUE", None, None, 1)]),
    ("US", "US ABDOMEN", "ABDOMEN", [("LIVER", None, None, 2)]),
)


@lru_cache(maxsize=None)
def _test_files() -> dict[str, str]:
    """pydicom's test files on disk, by path relative to their data folder (no network access)."""
    from pydicom.data import get_testdata_files

    found: dict[str, str] = {}
    for path in get_testdata_files():
        norm = path.replace(os.sep, "/")
        if "/test_files/" in norm:
            found.setdefault(norm.split("/test_files/", 1)[1], path)
    return found


def template_path(kind: str) -> str:
    """The on-disk path of the template for ``kind`` (a key of TEMPLATES)."""
    relative = TEMPLATES[kind]
    try:
        return _test_files()[relative]
    except KeyError:
        raise FileNotFoundError(f"pydicom's test file {relative} is not installed") from None


@lru_cache(maxsize=None)
def _template(kind: str) -> Dataset:
    import pydicom

    return pydicom.dcmread(template_path(kind))


def _uid(seed: int, *parts: Any) -> UID:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[str(seed), *map(str, parts)])


def _write_instance(
    path: Path, kind: str, seed: int, patient: tuple[str, str], study: dict[str, Any], series: dict[str, Any],
    number: int,
) -> str:
    ds = copy.deepcopy(_template(kind))
    sop_uid = _uid(seed, "sop", study["uid"], series["uid"], number)
    ds.PatientID, ds.PatientName = patient
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study["uid"], series["uid"], sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    if study.get("charset"):
        ds.SpecificCharacterSet = study["charset"]
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study["date"]
    ds.StudyTime = ds.SeriesTime = study["time"]
    ds.StudyDescription = study["description"]
    ds.SeriesDescription = series["description"]
    ds.ProtocolName = study["description"][:64]
    ds.BodyPartExamined = study["body_part"]
    ds.Modality = study["modality"]
    ds.Manufacturer = study["manufacturer"]
    ds.InstanceNumber = number
    ds.SeriesNumber = series["number"]
    for keyword in ("ContrastBolusAgent", "ContrastBolusRoute", "ImageOrientationPatient", "Laterality"):
        if keyword in ds:
            del ds[keyword]
    if series["agent"]:
        ds.ContrastBolusAgent = series["agent"]
        ds.ContrastBolusRoute = "IV"
    if series["orientation"] is not None:
        ds.ImageOrientationPatient = [f"{v:g}" for v in series["orientation"]]
    if study.get("laterality"):
        ds.Laterality = study["laterality"]
    if study.get("bad_date"):
        ds.StudyDate = study["bad_date"]
    ds.save_as(path)
    return sop_uid


def write_sample_corpus(out_dir: str | os.PathLike[str], n_patients: int = 6, seed: int = 0) -> dict[str, Any]:
    """Write the sample corpus into ``out_dir`` and return what was written and what a reader should find.

    Layout: ``<out_dir>/<patient>/<study>/<series>/<n>.dcm`` plus ``person_map.csv`` (header
    ``patient_id,person_id``; patient ids SAMPLE0001.., person ids 1001..), ``README.txt``,
    ``junk/random.dcm`` (not DICOM), ``junk/DICOMDIR``, ``junk/truncated.dcm`` and ``junk/no_sop_uid.dcm``.
    The returned dict has ``files`` (all paths written), ``images`` (the loadable ones),
    ``expected`` ({path: "read" | "skip:<reason>" | "quarantine:<reason>"}), counts by modality,
    body part, plane and contrast, and the ``person_map`` path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    expected: dict[str, str] = {}
    counts: dict[str, Counter[Any]] = {"modality": Counter(), "body_part": Counter(), "plane": Counter(),
                                  "contrast": Counter(), "year": Counter()}
    manufacturers = ("GE MEDICAL SYSTEMS", "SIEMENS", "Philips", "TOSHIBA")
    person_rows = []
    studies = 0
    series_total = 0
    for p in range(1, n_patients + 1):
        patient_id = f"SAMPLE{p:04d}"
        patient = (patient_id, f"SAMPLE^PATIENT{p}")
        person_rows.append((patient_id, 1000 + p))
        # every recipe goes to some patient (round robin), plus up to one random extra study each
        recipes = [r for j, r in enumerate(STUDY_RECIPES) if j % n_patients == p - 1]
        if not recipes or rng.random() < 0.5:
            recipes.append(rng.choice(STUDY_RECIPES))
        for s, (modality, description, body_part, series_list) in enumerate(recipes, start=1):
            year = rng.randint(2015, 2024)
            study = {
                "uid": _uid(seed, "study", p, s),
                "date": f"{year}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
                "time": f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}",
                "description": description,
                "body_part": body_part,
                "modality": modality,
                "manufacturer": rng.choice(manufacturers),
                "charset": "ISO_IR 192" if not description.isascii() else None,
                "laterality": "L" if "LEFT" in description else None,
            }
            if p == 2 and s == 1:
                study["bad_date"] = "20230231"  # impossible date: study_datetime falls back to SeriesDate
            studies += 1
            for k, (series_description, orientation, agent, n_images) in enumerate(series_list, start=1):
                series = {"uid": _uid(seed, "series", p, s, k), "number": k, "description": series_description,
                          "orientation": orientation, "agent": agent}
                series_total += 1
                for path in _write_series(out / patient_id / f"study{s}" / f"series{k}", n_images, modality, seed,
                                          patient, study, series):
                    expected[str(path)] = "read"
                    counts["modality"][modality] += 1
                    counts["body_part"][body_part] += 1
                    counts["plane"][_plane_name(orientation)] += 1
                    counts["contrast"]["post" if agent else "none"] += 1
                    counts["year"][year] += 1
    person_map = _write_person_map(out, person_rows)
    images = sorted(expected)
    expected.update(_write_junk(out, images, rng))
    return {
        "out_dir": str(out),
        "person_map": str(person_map),
        "files": sorted(expected),
        "images": images,
        "expected": expected,
        "patients": n_patients,
        "studies": studies,
        "series": series_total,
        **{k: dict(v) for k, v in counts.items()},
    }


def _write_series(folder: Path, count: int, kind: str, seed: int, patient: tuple[str, str], study: dict[str, Any],
                  series: dict[str, Any]) -> list[Path]:
    """Write the ``count`` instances of one series as ``folder/<n>.dcm``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{n}.dcm" for n in range(1, count + 1)]
    for n, path in enumerate(paths, start=1):
        _write_instance(path, kind, seed, patient, study, series, n)
    return paths


def _write_person_map(out: Path, rows: list[tuple[str, int]]) -> Path:
    """``out/person_map.csv``: the site map from DICOM PatientID to OMOP person_id the ETL reads."""
    path = out / "person_map.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["patient_id", "person_id"])
        writer.writerows(rows)
    return path


def _plane_name(orientation: tuple[float, ...] | None) -> str:
    names: dict[tuple[float, ...] | None, str] = {AXIAL: "axial", CORONAL: "coronal", SAGITTAL: "sagittal",
                                                   OBLIQUE: "oblique"}
    return names.get(orientation, "none")


def _write_junk(out: Path, images: list[str], rng: random.Random) -> dict[str, str]:
    """Files the reader must skip or quarantine; returns {path: expected outcome}."""
    import pydicom

    junk = out / "junk"
    junk.mkdir(exist_ok=True)
    outcomes: dict[str, str] = {}
    readme = out / "README.txt"
    readme.write_text("Synthetic sample corpus written by rcdm.dicom.sample; no real patient data.\n")
    outcomes[str(readme)] = "skip:not_dicom"
    garbage = junk / "random.dcm"
    garbage.write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    outcomes[str(garbage)] = "skip:not_dicom"
    dicomdir = junk / "DICOMDIR"
    dicomdir.write_bytes(Path(template_path("DICOMDIR")).read_bytes())
    outcomes[str(dicomdir)] = "skip:dicomdir"
    ct_images = [p for p in images if pydicom.dcmread(p, stop_before_pixels=True).Modality == "CT"]
    source = Path(ct_images[0] if ct_images else images[0])
    data = source.read_bytes()
    truncated = junk / "truncated.dcm"
    truncated.write_bytes(data[: len(data) - 4096])  # the pixel data is cut short
    outcomes[str(truncated)] = "quarantine:truncated"
    ds = pydicom.dcmread(source)
    del ds.SOPInstanceUID
    no_uid = junk / "no_sop_uid.dcm"
    ds.save_as(no_uid)
    outcomes[str(no_uid)] = "quarantine:missing_uid"
    return outcomes


#: Studies :func:`write_planned_studies` can place on a given date (same shape as ``STUDY_RECIPES``).
PLANNED_RECIPES: dict[str, tuple[str, str, str, list[Series]]] = {
    "ct_abdomen": ("CT", "CT ABDOMEN PELVIS W CONTRAST", "ABDOMEN",
                   [("PORTAL VENOUS", AXIAL, "OMNIPAQUE 350", 3), ("CORONAL MPR", CORONAL, "OMNIPAQUE 350", 2)]),
    "ct_head": ("CT", "CT HEAD W CONTRAST", "HEAD", [("AXIAL C+", AXIAL, "OMNIPAQUE 300", 3)]),
    "chest_xr": ("CR", "CHEST PA", "CHEST", [("PA", None, None, 1)]),
    "us_abdomen": ("US", "US ABDOMEN", "ABDOMEN", [("LIVER", None, None, 2)]),
}


def write_planned_studies(out_dir: str | os.PathLike[str], plan: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """Write studies on given dates for given persons: DICOM for a real OMOP data set (e.g. Eunomia's persons).

    ``plan`` holds one dict per patient: ``person_id`` (int) and ``studies``, a list of ``(recipe, date)`` with
    ``recipe`` a key of :data:`PLANNED_RECIPES` and ``date`` a ``datetime.date``. Patient ids are
    ``PERSON<person_id>``; layout and ``person_map.csv`` as :func:`write_sample_corpus` (no junk files).
    Deterministic for a given plan and seed. Returns ``out_dir``, ``person_map``, ``images``, ``studies``,
    ``series`` and the counts by modality.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    manufacturers = ("GE MEDICAL SYSTEMS", "SIEMENS", "Philips", "TOSHIBA")
    images: list[str] = []
    modalities: Counter[str] = Counter()
    studies = series_total = 0
    person_rows = []
    for entry in plan:
        person_id = int(entry["person_id"])
        patient_id = f"PERSON{person_id}"
        patient = (patient_id, f"DEMO^PERSON{person_id}")
        person_rows.append((patient_id, person_id))
        for s, (recipe, date) in enumerate(entry["studies"], start=1):
            modality, description, body_part, series_list = PLANNED_RECIPES[recipe]
            study = {"uid": _uid(seed, "planned", person_id, s), "date": date.strftime("%Y%m%d"),
                     "time": f"{rng.randint(7, 19):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}",
                     "description": description, "body_part": body_part, "modality": modality,
                     "manufacturer": rng.choice(manufacturers), "charset": None, "laterality": None}
            studies += 1
            for k, (series_description, orientation, agent, count) in enumerate(series_list, start=1):
                series = {"uid": _uid(seed, "planned", person_id, s, k), "number": k,
                          "description": series_description, "orientation": orientation, "agent": agent}
                series_total += 1
                for path in _write_series(out / patient_id / f"study{s}" / f"series{k}", count, modality, seed,
                                          patient, study, series):
                    images.append(str(path))
                    modalities[modality] += 1
    person_map = _write_person_map(out, person_rows)
    return {"out_dir": str(out), "person_map": str(person_map), "images": sorted(images), "studies": studies,
            "series": series_total, "modality": dict(modalities)}
