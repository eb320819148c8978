"""Derivation rules: plane, contrast phase, study date/time, laterality, thickness, protocol, series order."""

from __future__ import annotations

import datetime as dt
import math
from types import SimpleNamespace

import pytest

from rcdm.dicom.derive import (
    RADLEX_TERMS,
    anatomical_plane,
    contrast_phase,
    laterality,
    parse_date,
    parse_time,
    protocol_source_value,
    radlex_id,
    series_positions,
    slice_thickness,
    study_datetime,
)
from rcdm.dicom.reader import HeaderRecord


def rec(**kwargs):
    return HeaderRecord(sop_instance_uid="1.2.3", series_instance_uid="1.2", study_instance_uid="1", **kwargs)


def tilted_axial(deg: float) -> tuple[float, ...]:
    """Axial rotated about the patient x axis (a gantry tilt) by ``deg`` degrees."""
    a = math.radians(deg)
    return (1.0, 0.0, 0.0, 0.0, math.cos(a), -math.sin(a))


@pytest.mark.parametrize(
    "iop, expected",
    [
        ((1, 0, 0, 0, 1, 0), "axial"),
        ((-1, 0, 0, 0, -1, 0), "axial"),
        ((1, 0, 0, 0, 0, -1), "coronal"),
        ((0, 1, 0, 0, 0, -1), "sagittal"),
        ((0.0, 1.0, -0.0, -0.0, 0.0, -1.0), "sagittal"),
        ((1, 0, 0, 0, 0.7071068, -0.7071068), "oblique"),  # 45 degrees
        (tilted_axial(20), "axial"),  # typical gantry tilt
        ((0.653996, 0.756504, 0.00377102, -0.00133901, 0.00614239, -1.0), "oblique"),  # pydicom MR700 file
        (None, None),
        ((1, 0, 0), None),
        ((1, 0, 0, 1, 0, 0), None),  # parallel row and column
        ((0, 0, 0, 0, 0, 0), None),
        ((float("nan"), 0, 0, 0, 1, 0), None),
        (("a", 0, 0, 0, 1, 0), None),
    ],
)
def test_anatomical_plane(iop, expected) -> None:
    assert anatomical_plane(iop) == expected


def test_plane_tolerance_edges() -> None:
    assert anatomical_plane(tilted_axial(29.9)) == "axial"
    assert anatomical_plane(tilted_axial(30.0)) == "axial"  # inclusive
    assert anatomical_plane(tilted_axial(30.1)) == "oblique"
    assert anatomical_plane(tilted_axial(10), tolerance_deg=5) == "oblique"
    assert anatomical_plane(tilted_axial(10), tolerance_deg=10) == "axial"
    assert anatomical_plane(tilted_axial(0), tolerance_deg=0) == "axial"
    assert anatomical_plane(tilted_axial(0.5), tolerance_deg=0) == "oblique"
    assert anatomical_plane(tilted_axial(44), tolerance_deg=45) == "axial"
    # past 45 degrees the dominant axis changes: the tilted axial becomes a (tilted) coronal
    assert anatomical_plane(tilted_axial(60), tolerance_deg=45) == "coronal"


def test_radlex_ids_only_verified_ones() -> None:
    assert radlex_id("axial") == "RID10579"
    assert radlex_id("pre") == "RID28833"
    assert radlex_id("coronal") is None  # listed, not verified
    assert radlex_id("nonsense") is None
    assert {row["term"] for row in RADLEX_TERMS} >= {"axial", "coronal", "sagittal", "pre", "post"}


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"contrast_agent": "OMNIPAQUE 300"}, ("post", "contrast_bolus_agent")),
        ({"contrast_agent": "NONE", "series_description": "C+"}, ("pre", "contrast_bolus_agent_none")),
        ({"contrast_agent": "", "series_description": "AX T1"}, (None, "no_evidence")),
        ({"contrast_agent": "", "contrast_route": "IV"}, ("post", "contrast_bolus_route")),
        ({"contrast_administered": "YES"}, ("post", "contrast_administered")),
        ({"contrast_administered": "NO", "series_description": "POST"}, ("pre", "contrast_administered")),
        ({"image_type": ("ORIGINAL", "PRIMARY", "POST_CONTRAST")}, ("post", "image_type")),
        ({"series_description": "HEAD C+"}, ("post", "series_description")),
        ({"series_description": "HEAD C-"}, ("pre", "series_description")),
        ({"series_description": "C-SPINE SAG T2"}, (None, "no_evidence")),
        ({"series_description": "CT HEAD W/O CONTRAST"}, ("pre", "series_description")),
        ({"series_description": "CT CHEST W/ CONTRAST"}, ("post", "series_description")),
        ({"series_description": "NON-CONTRAST CT"}, ("pre", "series_description")),
        ({"series_description": "T1 POST GD"}, ("post", "series_description")),
        ({"series_description": "T1 PRE"}, ("pre", "series_description")),
        ({"series_description": "ENHANCED CT"}, ("post", "series_description")),
        ({"series_description": "UNENHANCED CT"}, ("pre", "series_description")),
        ({"series_description": "흉부 CT 조영 증강"}, ("post", "series_description")),
        ({"series_description": "뇌 CT 비조영"}, ("pre", "series_description")),
        ({"series_description": "TWO VIEWS"}, (None, "no_evidence")),
        ({"series_description": "AX", "protocol_name": "BRAIN C+"}, ("post", "protocol_name")),
        ({"series_description": "AX", "study_description": "CT HEAD W/O"}, ("pre", "study_description")),
        ({"series_description": "PRE", "study_description": "CT W/O & W/ CONTRAST"}, ("pre", "series_description")),
        ({"study_description": "MRI BRAIN W/O AND W/ GD"}, (None, "ambiguous_study_description")),
        ({}, (None, "no_evidence")),
    ],
)
def test_contrast_phase(fields, expected) -> None:
    assert contrast_phase(rec(**fields)) == expected


def test_contrast_phase_accepts_any_object_with_the_attributes() -> None:
    assert contrast_phase(SimpleNamespace(series_description="C+")) == ("post", "series_description")


def test_dates_and_times() -> None:
    assert parse_date("20230215") == dt.date(2023, 2, 15)
    assert parse_date("2023.02.15") == dt.date(2023, 2, 15)
    for bad in ("20230231", "00000000", "2023021", "abcdefgh", "", None, "20231301"):
        assert parse_date(bad) is None
    assert parse_time("1230") == dt.time(12, 30)
    assert parse_time("12") == dt.time(12)
    assert parse_time("123045.123456") == dt.time(12, 30, 45, 123456)
    assert parse_time("123045.1") == dt.time(12, 30, 45, 100000)
    assert parse_time("12:30:45") == dt.time(12, 30, 45)
    assert parse_time("235960") == dt.time(23, 59, 59)
    for bad in ("2460", "1275", "12304", "ab", "", None, "123045.1234567"):
        assert parse_time(bad) is None


def test_study_datetime_fallbacks_and_invalid_values() -> None:
    r = study_datetime(rec(study_date="20230215", study_time="123045.5", series_date="20200101"))
    assert r.datetime == dt.datetime(2023, 2, 15, 12, 30, 45, 500000) and r.source == "study" and not r.invalid
    r = study_datetime(rec(study_date="20230231", series_date="20230301", series_time="0930"))
    assert r.date == dt.date(2023, 3, 1) and r.datetime == dt.datetime(2023, 3, 1, 9, 30)
    assert r.source == "series" and r.invalid == ("study_date",)
    r = study_datetime(rec(study_date="", acquisition_date="20190101"))
    assert r.source == "acquisition" and not r.invalid
    r = study_datetime(rec(content_date="20180101", content_time="99"))
    assert r.datetime == dt.datetime(2018, 1, 1) and r.invalid == ("content_time",)
    r = study_datetime(rec(study_date="00000000"))
    assert r == (None, None, None, ("study_date",))
    assert study_datetime(rec()) == (None, None, None, ())


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"laterality": "L"}, "L"),
        ({"laterality": "R "}, "R"),
        ({"laterality": "", "image_laterality": "B"}, "B"),
        ({"laterality": "LEFT"}, "L"),
        ({"image_laterality": "U"}, "U"),
        ({"laterality": "X", "image_laterality": "R"}, "R"),
        ({"laterality": ""}, None),
        ({}, None),
    ],
)
def test_laterality(fields, expected) -> None:
    assert laterality(rec(**fields)) == expected


def test_slice_thickness_only_for_ct() -> None:
    assert slice_thickness(rec(modality="CT", slice_thickness=5.0)) == 5.0
    assert slice_thickness(rec(modality="MR", slice_thickness=5.0)) is None
    assert slice_thickness(rec(modality="CT", slice_thickness=0.0)) is None
    assert slice_thickness(rec(modality="CT")) is None


def test_protocol_source_value_is_deterministic_and_has_no_patient_data() -> None:
    r = rec(modality="CT", body_part_examined="HEAD", study_description="CT  head w/o",
            series_description="AX|5mm", protocol_name=None, patient_id="SECRET123")
    assert protocol_source_value(r) == "CT|HEAD|CT HEAD W/O|AX/5MM|"
    assert "SECRET123" not in protocol_source_value(r)
    assert protocol_source_value(rec()) == "||||"
    assert len(protocol_source_value(rec(study_description="X" * 400))) == 255


def test_series_positions_with_ties_and_missing() -> None:
    assert series_positions([3, 1, 2]) == [3, 1, 2]
    assert series_positions([None, 1, None, 2]) == [3, 1, 4, 2]
    uids = ["1.1", "1.2", "1.3"]
    tied = series_positions([1, 1, 1], uids)
    assert sorted(tied) == [1, 2, 3]
    # the same images in another input order get the same serial numbers
    reordered = series_positions([1, 1, 1], uids[::-1])
    assert dict(zip(uids, tied)) == dict(zip(uids[::-1], reordered))
    assert series_positions([]) == []
    with pytest.raises(ValueError):
        series_positions([1, 2], ["a"])
