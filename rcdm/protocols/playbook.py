"""Read and validate the LOINC/RSNA Radiology Playbook (``LoincRsnaRadiologyPlaybook.csv``).

The file has one row per part of a LOINC radiology term; rows are grouped into one :class:`PlaybookTerm`
per LoincNumber, with its parts keyed by PartTypeName (compared case-insensitively, because LOINC releases
spell e.g. both ``Rad.Modality.Modality Type`` and ``Rad.Modality.Modality type``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rcdm.errors import UsageError

COLUMNS = ("LoincNumber", "LongCommonName", "PartNumber", "PartTypeName", "PartName",
           "PartSequenceOrder", "RID", "PreferredName", "RPID", "LongName")
REQUIRED_VALUES = ("LoincNumber", "PartTypeName", "PartName")

# Canonical (lower-case) part type names, as distributed with LOINC.
MODALITY_TYPE = "rad.modality.modality type"
MODALITY_SUBTYPE = "rad.modality.modality subtype"
REGION_IMAGED = "rad.anatomic location.region imaged"
IMAGING_FOCUS = "rad.anatomic location.imaging focus"
LATERALITY = "rad.anatomic location.laterality"
LATERALITY_PRESENCE = "rad.anatomic location.laterality.presence"
TIMING = "rad.timing"
SUBSTANCE = "rad.pharmaceutical.substance given"
ROUTE = "rad.pharmaceutical.route"
VIEW_AGGREGATION = "rad.view.aggregation"
VIEW_TYPE = "rad.view.view type"
MANEUVER = "rad.maneuver.maneuver type"
REASON = "rad.reason for exam"
SUBJECT = "rad.subject"
GUIDANCE_PREFIX = "rad.guidance for."

_LOINC_RE = re.compile(r"^\d{1,7}-\d$")
_LP_RE = re.compile(r"^LP\d+-\d$")


def loinc_check_digit_ok(code: str) -> bool:
    """True when ``code`` (``NNNNN-C``) carries a correct LOINC mod-10 check digit."""
    if not _LOINC_RE.match(code):
        return False
    body, check = code.split("-")
    total = 0
    for pos, ch in enumerate(reversed(body), start=1):
        d = int(ch)
        if pos % 2 == 1:
            d *= 2
            d = d // 10 + d % 10
        total += d
    return (10 - total % 10) % 10 == int(check)


@dataclass(frozen=True)
class PlaybookPart:
    """One part (attribute value) of a playbook term."""

    part_number: str
    type_name: str
    name: str
    sequence: str
    rid: str
    preferred_name: str


@dataclass
class PlaybookTerm:
    """One LOINC radiology term with its parts grouped by (lower-case) PartTypeName."""

    loinc: str
    long_common_name: str
    rpid: str = ""
    rpid_long_name: str = ""
    parts: dict[str, list[PlaybookPart]] = field(default_factory=dict)

    def values(self, type_name: str) -> list[str]:
        """Part names of one part type, in PartSequenceOrder."""
        return [p.name for p in sorted(self.parts.get(type_name.lower(), ()), key=lambda p: p.sequence)]

    def types_starting(self, prefix: str) -> list[str]:
        """Part names of every part type starting with ``prefix`` (e.g. the ``Rad.Guidance for.`` family)."""
        out = []
        for t in sorted(self.parts):
            if t.startswith(prefix.lower()):
                out.extend(self.values(t))
        return out


def _sniff_header(path: Path, first_line: str) -> None:
    if not first_line.strip():
        raise UsageError(f"{path}: line 1: the file is empty; expected the playbook header {', '.join(COLUMNS)}")
    if "\t" in first_line and "," not in first_line:
        raise UsageError(f"{path}: line 1: wrong delimiter (tab); LoincRsnaRadiologyPlaybook.csv is comma-separated")
    if ";" in first_line and "," not in first_line:
        raise UsageError(f"{path}: line 1: wrong delimiter (semicolon); LoincRsnaRadiologyPlaybook.csv is "
                         "comma-separated")


def iter_rows(path: str | Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Stream validated playbook rows as ``(line_number, row)``; raise UsageError naming file, line and problem."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"No such playbook file: {path}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
        _sniff_header(path, first)
        fh.seek(0)
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise UsageError(f"{path}: line 1: the file is empty") from None
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise UsageError(f"{path}: line 1: missing column(s) {', '.join(missing)}; is this "
                             "LoincRsnaRadiologyPlaybook.csv from the LOINC AccessoryFiles?")
        index = {c: header.index(c) for c in COLUMNS}
        width = len(header)
        rows = 0
        try:
            for values in reader:
                line = reader.line_num
                if not values or all(not v.strip() for v in values):
                    continue
                if len(values) != width:
                    raise UsageError(f"{path}: line {line}: {len(values)} fields, the header has {width}")
                row = {c: values[i].strip() for c, i in index.items()}
                for c in REQUIRED_VALUES:
                    if not row[c]:
                        raise UsageError(f"{path}: line {line}: empty {c}")
                if not loinc_check_digit_ok(row["LoincNumber"]):
                    raise UsageError(f"{path}: line {line}: {row['LoincNumber']!r} is not a valid LOINC number "
                                     "(format NNNNN-N with a correct check digit)")
                if row["PartNumber"] and not _LP_RE.match(row["PartNumber"]):
                    raise UsageError(f"{path}: line {line}: {row['PartNumber']!r} is not a LOINC part number (LP...)")
                if not row["PartTypeName"].lower().startswith("rad."):
                    raise UsageError(f"{path}: line {line}: PartTypeName {row['PartTypeName']!r} is not a "
                                     "radiology part type (Rad.*)")
                rows += 1
                yield line, row
        except csv.Error as exc:
            raise UsageError(f"{path}: line {reader.line_num}: unreadable CSV ({exc})") from None
        if rows == 0:
            raise UsageError(f"{path}: no playbook rows after the header")


def load_playbook(path: str | Path) -> dict[str, PlaybookTerm]:
    """Parse the whole file into terms keyed by LOINC number; nothing is returned unless every row is valid."""
    terms: dict[str, PlaybookTerm] = {}
    for line, row in iter_rows(path):
        term = terms.get(row["LoincNumber"])
        if term is None:
            term = terms[row["LoincNumber"]] = PlaybookTerm(row["LoincNumber"], row["LongCommonName"])
        elif row["LongCommonName"] and term.long_common_name != row["LongCommonName"]:
            raise UsageError(f"{path}: line {line}: LOINC {row['LoincNumber']} has two LongCommonNames "
                             f"({term.long_common_name!r} and {row['LongCommonName']!r})")
        if row["RPID"]:
            if term.rpid and term.rpid != row["RPID"]:
                raise UsageError(f"{path}: line {line}: LOINC {row['LoincNumber']} has two RPIDs "
                                 f"({term.rpid} and {row['RPID']})")
            term.rpid, term.rpid_long_name = row["RPID"], row["LongName"]
        part = PlaybookPart(row["PartNumber"], row["PartTypeName"], row["PartName"],
                            row["PartSequenceOrder"] or "A", row["RID"], row["PreferredName"])
        term.parts.setdefault(row["PartTypeName"].lower(), []).append(part)
    return terms
