"""Pure functions that turn header records into R-CDM values: plane, contrast phase, dates, laterality.

Nothing here reads files or touches a database; every function takes plain values (or a HeaderRecord,
or any object with the same attribute names) and returns plain values, so the rules are easy to test.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

# --- RadLex terms -------------------------------------------------------------------------------------

#: RadLex ids used in the concept / source columns, with where each was checked. Only ``verified`` rows
#: are used by ``radlex_id``; the others wait for a check against the RadLex release itself.
RADLEX_TERMS: tuple[dict[str, Any], ...] = (
    {"term": "axial", "rid": "RID10579", "label": "axial plane", "verified": True,
     "source": "R-CDM paper (Park et al. 2022) worked query; a public FHIR value set labels RID10579 'axial plane'"},
    {"term": "pre", "rid": "RID28833", "label": "pre-contrast", "verified": True,
     "source": "R-CDM paper (Park et al. 2022) worked query"},
    {"term": "coronal", "rid": "RID10570", "label": "coronal plane", "verified": False,
     "source": "one public ontology mapping only; to be verified against RadLex"},
    {"term": "sagittal", "rid": "RID10574", "label": "sagittal plane", "verified": False,
     "source": "one public ontology mapping only; to be verified against RadLex"},
    {"term": "oblique", "rid": None, "label": "oblique plane", "verified": False, "source": "not looked up"},
    {"term": "post", "rid": None, "label": "post-contrast", "verified": False, "source": "not looked up"},
)


def radlex_id(term: str | None) -> str | None:
    """The verified RadLex id (e.g. "RID10579") of a plane or phase term, or None if unknown/unverified."""
    for row in RADLEX_TERMS:
        if row["term"] == term and row["verified"]:
            rid: str | None = row["rid"]
            return rid
    return None


# --- anatomical plane -------------------------------------------------------------------------------

PLANES = ("sagittal", "coronal", "axial")  # the plane whose normal is the patient x, y, z axis


def anatomical_plane(iop: Sequence[float] | None, tolerance_deg: float = 30.0) -> str | None:
    """Classify ImageOrientationPatient as "axial", "coronal", "sagittal" or "oblique" (None if unusable).

    The slice normal is cross(row cosines, column cosines). Its dominant component picks the candidate
    plane (patient x = left-right → sagittal, y = anterior-posterior → coronal, z = head-foot → axial);
    the slice is that plane when the angle between the normal and that axis is at most ``tolerance_deg``
    (inclusive), otherwise "oblique". The default of 30 degrees keeps gantry-tilted axial CT (typically up
    to ~20-25 degrees) axial; 0 accepts only exact cardinal planes (up to 1e-9 rounding), 45 or more
    never says oblique. None for a missing value, not 6 numbers, non-finite numbers, or parallel (or zero)
    row and column vectors.
    """
    if iop is None or len(iop) != 6:
        return None
    if isinstance(iop, tuple):
        try:
            return _plane(iop, tolerance_deg)  # a series' images share one orientation
        except TypeError:  # an unhashable element: computed below
            pass
    return _plane.__wrapped__(iop, tolerance_deg)


@functools.lru_cache(maxsize=1024)
def _plane(iop: Sequence[float], tolerance_deg: float) -> str | None:
    try:
        r = [float(v) for v in iop[:3]]
        c = [float(v) for v in iop[3:]]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in r + c):
        return None
    n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
    norm = math.sqrt(sum(v * v for v in n))
    if norm < 1e-6:
        return None
    axis = max(range(3), key=lambda i: abs(n[i]))
    cos_angle = min(1.0, abs(n[axis]) / norm)
    angle = math.degrees(math.acos(cos_angle))
    if angle <= tolerance_deg + 1e-9:
        return PLANES[axis]
    return "oblique"


# --- contrast phase ---------------------------------------------------------------------------------

_NEGATIVE_AGENT = re.compile(r"^(NONE|NO|N/?A|NIL|-+|0|NO CONTRAST|없음)$")
_PRE_TEXT = re.compile(
    r"\bW/?O\b|WITHOUT|NON[- ]?CONTRAST|NON[- ]?CON\b|NONCON|NO CONTRAST|\bPRE\b|\bPRE[-_ ]?CONTRAST"
    r"|\bPLAIN\b|\bNATIVE\b|(?<![A-Z0-9])C-(?![A-Z0-9])|\bNON[- ]?ENH|\bUNENH|비조영|조영\s*전"
)
_POST_TEXT = re.compile(
    r"(?<![A-Z0-9])C\+|W/ ?(IV )?CONTRAST|\bW/ ?C\b|WITH (IV )?CONTRAST|\bPOST\b|\bPOST[-_ ]?CONTRAST"
    r"|\bENHANCED\b|\bENH\b|\bCE\b|\bGAD\b|\bGD\b|\bGADO|\bARTERIAL|\bPORTAL|\bVENOUS"
    r"|조영\s*후|조영\s*증강|조영"
)
_IMAGE_TYPE_TOKENS = {"POST_CONTRAST": "post", "POSTCONTRAST": "post", "PRE_CONTRAST": "pre", "PRECONTRAST": "pre"}


def _clean(value: Any) -> str:
    return " ".join(str(value).split()).upper() if value else ""


def _text_phase(text: str) -> str | None:
    """"pre", "post", "ambiguous" or None for one description (negations are matched first)."""
    if not text:
        return None
    pre = _PRE_TEXT.search(text)
    remaining = _PRE_TEXT.sub(" ", text)  # "W/O" or "NON-CONTRAST" must not also count as contrast
    post = _POST_TEXT.search(remaining)
    if pre and post:
        return "ambiguous"
    return "pre" if pre else "post" if post else None


def contrast_phase(record: Any) -> tuple[str | None, str]:
    """Contrast phase of an image: ("pre" | "post" | None, reason).

    Precedence (first rule with evidence wins):

    1. ContrastBolusAgent with a value: "post" (reason ``contrast_bolus_agent``), unless the value says
       there was none ("NONE", "NO", "N/A", "-", "0", "NO CONTRAST", "없음"): "pre"
       (``contrast_bolus_agent_none``). An empty element is no evidence.
    2. ContrastBolusAgentAdministered from the functional groups (enhanced objects): YES → "post",
       NO → "pre" (``contrast_administered``).
    3. ContrastBolusRoute with a value: "post" (``contrast_bolus_route``).
    4. ImageType tokens POST_CONTRAST / PRE_CONTRAST (``image_type``).
    5. Keywords in SeriesDescription, then ProtocolName, then StudyDescription (series-level text first,
       because a study holds both phases). Negations are matched first and removed: "W/O", "WITHOUT",
       "NON-CONTRAST", "NONCON", "PRE", "PLAIN", "NATIVE", "C-" (not "C-SPINE"), "NON-ENHANCED",
       Korean "비조영", "조영 전" → "pre"; then "C+", "W/ CONTRAST", "WITH CONTRAST", "POST", "ENHANCED",
       "CE", "GAD"/"GD", "ARTERIAL", "PORTAL", "VENOUS", Korean "조영 후", "조영 증강", "조영" → "post".
       A text with both ("PRE/POST", "W/O & W/ CONTRAST") is ambiguous: that field gives no answer
       (reason ``ambiguous_<field>`` if no later field decides). Reason: ``series_description`` etc.
    6. Otherwise (None, ``no_evidence``).
    """
    agent = _clean(getattr(record, "contrast_agent", None))
    if agent:
        if _NEGATIVE_AGENT.match(agent):
            return "pre", "contrast_bolus_agent_none"
        return "post", "contrast_bolus_agent"
    administered = _clean(getattr(record, "contrast_administered", None))
    if administered in ("YES", "NO"):
        return ("post" if administered == "YES" else "pre"), "contrast_administered"
    if _clean(getattr(record, "contrast_route", None)):
        return "post", "contrast_bolus_route"
    for token in getattr(record, "image_type", None) or ():
        phase = _IMAGE_TYPE_TOKENS.get(_clean(token))
        if phase:
            return phase, "image_type"
    ambiguous = None
    for field in ("series_description", "protocol_name", "study_description"):
        phase = _text_phase(_clean(getattr(record, field, None)))
        if phase == "ambiguous":
            ambiguous = ambiguous or f"ambiguous_{field}"
        elif phase:
            return phase, field
    return None, ambiguous or "no_evidence"


# --- dates and times --------------------------------------------------------------------------------

class StudyDateTime(NamedTuple):
    """A validated study date/time, which pair of attributes gave it, and what was invalid on the way."""

    date: dt.date | None
    datetime: dt.datetime | None
    source: str | None  # "study", "series", "acquisition", "content" or None
    invalid: tuple[str, ...]  # attributes that had a value but not a valid one, e.g. ("study_date",)


_DATE_PAIRS = (
    ("study", "study_date", "study_time"),
    ("series", "series_date", "series_time"),
    ("acquisition", "acquisition_date", "acquisition_time"),
    ("content", "content_date", "content_time"),
)
DATE_FIELDS = tuple(field for _source, date_field, time_field in _DATE_PAIRS for field in (date_field, time_field))
"""The record fields ``study_datetime`` reads, in its order of precedence (date, time of each pair)."""
_TIME_RE = re.compile(r"^(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,6}))?)?)?$")


def parse_date(value: str | None) -> dt.date | None:
    """A DICOM DA value ("YYYYMMDD", or the old "YYYY.MM.DD") as a date; None if empty or impossible."""
    if not value:
        return None
    text = value.strip()
    if len(text) == 10 and text[4] in ".-" and text[7] == text[4]:
        text = text[:4] + text[5:7] + text[8:]
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def parse_time(value: str | None) -> dt.time | None:
    """A DICOM TM value as a time: "HH", "HHMM", "HHMMSS", "HHMMSS.FFFFFF" (and the old "HH:MM:SS").

    A second of 60 (leap second) becomes 59. None if empty or invalid.
    """
    if not value:
        return None
    match = _TIME_RE.match(value.strip())
    if not match:
        return None
    hour, minute, second, fraction = match.groups()
    h, m, s = int(hour), int(minute or 0), int(second or 0)
    if h > 23 or m > 59 or s > 60:
        return None
    micro = int((fraction or "0").ljust(6, "0"))
    return dt.time(h, m, min(s, 59), micro)


def study_datetime(record: Any) -> StudyDateTime:
    """The study date/time: StudyDate/Time, else SeriesDate/Time, else AcquisitionDate/Time, else ContentDate/Time.

    The first pair with a valid date wins; its time is used when valid (otherwise the datetime is the
    date at midnight and the time attribute is listed in ``invalid``). Dates that cannot exist (20230231,
    00000000) are skipped and listed in ``invalid``; nothing raises.
    """
    values = tuple(getattr(record, field, None) for field in DATE_FIELDS)
    try:
        return _study_datetime(values)  # a study's images mostly share their dates and times
    except TypeError:  # an unhashable value: computed below
        return _study_datetime.__wrapped__(values)


@functools.lru_cache(maxsize=4096)
def _study_datetime(values: tuple[Any, ...]) -> StudyDateTime:
    """``study_datetime`` of the (date, time) values of ``_DATE_PAIRS``, in that order."""
    invalid: list[str] = []
    for k, (source, date_field, time_field) in enumerate(_DATE_PAIRS):
        raw_date = values[2 * k]
        if not raw_date or not str(raw_date).strip():
            continue
        date = parse_date(str(raw_date))
        if date is None:
            invalid.append(date_field)
            continue
        raw_time = values[2 * k + 1]
        time = parse_time(str(raw_time)) if raw_time else None
        if raw_time and str(raw_time).strip() and time is None:
            invalid.append(time_field)
        return StudyDateTime(date, dt.datetime.combine(date, time or dt.time()), source, tuple(invalid))
    return StudyDateTime(None, None, None, tuple(invalid))


# --- laterality, thickness, protocol ----------------------------------------------------------------

_LATERALITY = {
    "L": "L", "LEFT": "L", "LT": "L",
    "R": "R", "RIGHT": "R", "RT": "R",
    "B": "B", "BOTH": "B", "BILATERAL": "B", "BI": "B",
    "U": "U", "UNPAIRED": "U",
}


def laterality(record: Any) -> str | None:
    """Laterality, else ImageLaterality, normalised to "L", "R", "B" (both) or "U" (unpaired); else None."""
    for field in ("laterality", "image_laterality"):
        value = _LATERALITY.get(_clean(getattr(record, field, None)))
        if value:
            return value
    return None


def slice_thickness(record: Any) -> float | None:
    """SliceThickness for CT images only (R-CDM ``ct_slice_thickness``); None otherwise or if not > 0."""
    if _clean(getattr(record, "modality", None)) != "CT":
        return None
    value = getattr(record, "slice_thickness", None)
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


PROTOCOL_FIELDS = ("modality", "body_part_examined", "study_description", "series_description", "protocol_name")


def protocol_source_value(record: Any, max_length: int = 255) -> str:
    """The R-CDM protocol source value: "modality|body part|study description|series description|protocol name".

    Each part is trimmed, its inner whitespace collapsed to one space and upper-cased; a "|" inside a
    value becomes "/"; a missing or empty part is left empty (the separators stay, so the position tells
    the field). Truncated to ``max_length`` characters (the column is varchar(255)). Only these five
    attributes are used, never a patient attribute, so the same study type gives the same string at
    every site.
    """
    parts = [_clean(getattr(record, field, None)).replace("|", "/") for field in PROTOCOL_FIELDS]
    return "|".join(parts)[:max_length]


# --- series ordering --------------------------------------------------------------------------------

def series_positions(
    instance_numbers: Sequence[int | None], sop_instance_uids: Sequence[str] | None = None
) -> list[int]:
    """Serial numbers (1..n) of the images of one series, in input order, from their InstanceNumbers.

    Sorted by (InstanceNumber is missing, InstanceNumber, SHA-256 of the SOP Instance UID): missing numbers
    go last, ties and missing numbers are broken by the hashed UID (the same for any input order), or by
    input position when no UIDs are given.
    """
    if sop_instance_uids is not None and len(sop_instance_uids) != len(instance_numbers):
        raise ValueError("instance_numbers and sop_instance_uids must have the same length")

    def key(i: int) -> tuple[bool, int, bytes, int]:
        number = instance_numbers[i]
        uid = sop_instance_uids[i] if sop_instance_uids is not None else ""
        return (number is None, number if number is not None else 0, hashlib.sha256(uid.encode()).digest(), i)

    order = sorted(range(len(instance_numbers)), key=key)
    positions = [0] * len(order)
    for serial, index in enumerate(order, start=1):
        positions[index] = serial
    return positions
