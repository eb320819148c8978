"""The sample corpus generator: what it writes and that the reader finds what it promises."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rcdm.dicom.deid import load_person_map
from rcdm.dicom.derive import anatomical_plane, contrast_phase, study_datetime
from rcdm.dicom.reader import HeaderRecord, read_headers
from rcdm.dicom.sample import TEMPLATES, template_path, write_sample_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    summary = write_sample_corpus(out, n_patients=4, seed=3)
    records = dict(read_headers(summary["files"]))
    return summary, records


def test_templates_are_bundled_with_pydicom() -> None:
    for kind in TEMPLATES:
        assert Path(template_path(kind)).is_file()


def test_every_file_has_the_promised_outcome(corpus) -> None:
    summary, records = corpus
    for path, expected in summary["expected"].items():
        result = records[path]
        got = "read" if isinstance(result, HeaderRecord) else f"{result.action}:{result.reason}"
        assert got == expected, path
    outcomes = set(summary["expected"].values())
    assert {"read", "skip:not_dicom", "skip:dicomdir", "quarantine:truncated",
            "quarantine:missing_uid"} <= outcomes


def test_the_corpus_is_varied(corpus) -> None:
    summary, records = corpus
    images = [records[p] for p in summary["images"]]
    assert {r.modality for r in images} >= {"CT", "MR", "CR", "US"}
    assert {anatomical_plane(r.image_orientation) for r in images} >= {"axial", "coronal", "sagittal", "oblique"}
    phases = Counter(contrast_phase(r)[0] for r in images)
    assert phases["pre"] and phases["post"]
    assert len({r.study_date[:4] for r in images}) >= 3
    assert any(r.study_description and not r.study_description.isascii() for r in images)  # Korean
    assert {r.patient_id for r in images} == {f"SAMPLE{i:04d}" for i in range(1, 5)}
    assert len({r.body_part_examined for r in images}) >= 4
    assert any(r.laterality == "L" for r in images)
    assert len({r.sop_instance_uid for r in images}) == len(images)
    assert summary["studies"] == len({r.study_instance_uid for r in images})
    assert summary["series"] == len({r.series_instance_uid for r in images})


def test_invalid_study_date_falls_back(corpus) -> None:
    summary, records = corpus
    bad = [records[p] for p in summary["images"] if records[p].study_date == "20230231"]
    assert bad
    result = study_datetime(bad[0])
    assert result.source == "series" and result.invalid == ("study_date",)


def test_person_map_covers_every_patient(corpus) -> None:
    summary, records = corpus
    pmap = load_person_map(summary["person_map"])
    for path in summary["images"]:
        assert pmap.lookup(records[path].patient_id) is not None


@pytest.mark.slow
def test_same_seed_same_uids(tmp_path: Path) -> None:
    a = write_sample_corpus(tmp_path / "a", n_patients=2, seed=9)
    b = write_sample_corpus(tmp_path / "b", n_patients=2, seed=9)
    uids_a = sorted(r.sop_instance_uid for _, r in read_headers(a["images"]))
    uids_b = sorted(r.sop_instance_uid for _, r in read_headers(b["images"]))
    assert uids_a == uids_b
