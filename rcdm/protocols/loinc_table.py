"""Read LOINC's own code table (``Loinc.csv``) and, when present, its part links (``LoincPartLink_*.csv``) into
playbook terms, so a site with only the LOINC release matches against every radiology term.

Radiology terms are the rows whose CLASS is ``RAD`` (or starts with ``RAD.``). A term's parts come from the part
link files when they list ``Rad.*`` parts for it (the same part types as the playbook); otherwise they are
derived from the term's axes, following LOINC's radiology naming model (Users' Guide, "Radiology"):

* METHOD_TYP ``CT.angio`` → Modality type ``CT``, Modality subtype ``angio``;
* SYSTEM ``Head>Brain``, ``Chest+Abdomen+Pelvis``, ``Knee.left`` / ``Knee - left`` → Region Imaged, Imaging
  Focus (the part after ``>``), one region per ``+``, Laterality;
* COMPONENT ``Views 2^W contrast IV`` → View aggregation ``Views 2``, Timing ``W``, Substance given
  ``contrast``, Route ``IV``; ``WO & W`` / ``WO and W`` gives both timings; ``Guidance for biopsy`` a
  ``Rad.Guidance for.Action`` part; any other component segment becomes a Modality subtype, which the matcher
  treats as a qualifier the study must state (so a term is never chosen on words it does not understand).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from rcdm.errors import UsageError
from rcdm.protocols import playbook as pb

LOINC_COLUMNS = ("LOINC_NUM", "COMPONENT", "SYSTEM", "METHOD_TYP", "CLASS", "LONG_COMMON_NAME", "STATUS")
PART_LINK_COLUMNS = ("LoincNumber", "PartNumber", "PartName", "PartTypeName")
DEFAULT_STATUSES = ("ACTIVE", "TRIAL", "DISCOURAGED")
"""DEPRECATED terms are left out: LOINC says not to use them for new mappings."""

_LATERALITY_RE = re.compile(r"(?:\s*-\s*|\.|\s+)(left|right|bilateral|unilateral)\s*$", re.IGNORECASE)
_TIMING_RE = re.compile(r"^(WO\s*(?:&|and)\s*W|W\s*(?:&|and)\s*WO|WO|W)\b\s*(.*)$")
_COUNT_RE = re.compile(r"^(?:(?P<a>\d+\+?)\s*views?|views?(?:\s*(?P<b>\d+\+?))?|single view)$", re.IGNORECASE)
_NAMED_VIEWS_RE = re.compile(r"^views?\s+(?P<names>.+)$", re.IGNORECASE)
_ROUTE_WORDS = ("IV", "PO", "IS", "IT", "IA", "PR", "intrathecal", "intra-articular", "intraarticular", "rectal",
                "intravesical")


def _count_name(count: str | None) -> str:
    """Playbook wording of a view count: ``Views`` (unspecified), ``Single view``, ``2 Views``, ``3+ Views``."""
    if not count:
        return "Views"
    return "Single view" if count == "1" else f"{count} Views"


def _view_parts(segment: str, seq: str) -> list[pb.PlaybookPart] | None:
    """``Views 2`` / ``2 Views`` / ``View`` → an aggregation; ``Views PA + lateral`` → one View Type part per
    named view and the aggregation their count implies; None when the segment is not about views."""
    m = _COUNT_RE.match(segment)
    if m:
        count = m.group("a") or m.group("b")
        if segment.lower() in ("view", "single view"):
            count = "1"
        return [_part(pb.VIEW_AGGREGATION, _count_name(count), seq)]
    m = _NAMED_VIEWS_RE.match(segment)
    if m:
        names = [n.strip() for n in re.split(r"\s*\+\s*|\s+and\s+", m.group("names")) if n.strip()]
        return ([_part(pb.VIEW_AGGREGATION, _count_name(str(len(names))), seq)]
                + [_part(pb.VIEW_TYPE, n, chr(ord("A") + i)) for i, n in enumerate(names)])
    return None


def _open_csv(path: Path, columns: tuple[str, ...], what: str) -> Iterator[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise UsageError(f"No such {what} file: {path}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise UsageError(f"{path}: line 1: the file is empty; expected the {what} header") from None
        if len(header) == 1 and ("\t" in header[0] or ";" in header[0]):
            raise UsageError(f"{path}: line 1: wrong delimiter; {what} is comma-separated")
        missing = [c for c in columns if c not in header]
        if missing:
            raise UsageError(f"{path}: line 1: missing column(s) {', '.join(missing)}; is this {what} from the "
                             "LOINC release?")
        index = {c: header.index(c) for c in columns}
        try:
            for values in reader:
                if not values or all(not v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    raise UsageError(f"{path}: line {reader.line_num}: {len(values)} fields, the header has "
                                     f"{len(header)}")
                yield reader.line_num, {c: values[i].strip() for c, i in index.items()}
        except csv.Error as exc:
            raise UsageError(f"{path}: line {reader.line_num}: unreadable CSV ({exc})") from None


def is_radiology(loinc_class: str) -> bool:
    """True for LOINC's radiology class (``RAD`` and its ``RAD.*`` subclasses)."""
    c = loinc_class.strip().upper()
    return c == "RAD" or c.startswith("RAD.")


def _part(type_name: str, name: str, seq: str = "A") -> pb.PlaybookPart:
    return pb.PlaybookPart("", type_name, name, seq, "", "")


def _system_parts(system: str) -> list[pb.PlaybookPart]:
    parts: list[pb.PlaybookPart] = []
    for seq, region in zip("ABCDEFGH", (r.strip() for r in system.split("+") if r.strip())):
        m = _LATERALITY_RE.search(region)
        if m:
            parts.append(_part(pb.LATERALITY, m.group(1).capitalize(), seq))
            region = region[:m.start()].strip()
        names = [n.strip() for n in region.split(">") if n.strip()]
        if names and names[0].lower() not in ("xxx", "unspecified body region"):
            parts.append(_part(pb.REGION_IMAGED, names[0], seq))
            if len(names) > 1:
                parts.append(_part(pb.IMAGING_FOCUS, names[-1], seq))
        elif names:
            parts.append(_part(pb.REGION_IMAGED, "Unspecified body region", seq))
    return parts


def _component_parts(component: str) -> list[pb.PlaybookPart]:
    parts: list[pb.PlaybookPart] = []
    for seq, segment in zip("ABCDEFGH", (s.strip() for s in component.split("^") if s.strip())):
        timing = _TIMING_RE.match(segment)
        views = _view_parts(segment, seq)
        if views:
            parts.extend(views)
        elif segment.lower() == "multisection":
            continue
        elif segment.lower().startswith("guidance for"):
            parts.append(_part(pb.GUIDANCE_PREFIX + "action", segment[len("guidance for"):].strip(), seq))
        elif timing:
            kinds = re.split(r"\s*(?:&|and)\s*", timing.group(1))
            for k in kinds:
                parts.append(_part(pb.TIMING, k.strip(), "A" if k.strip() == "WO" else "B"))
            rest = timing.group(2).split()
            route = [w for w in rest if w in _ROUTE_WORDS]
            substance = " ".join(w for w in rest if w not in _ROUTE_WORDS)
            if "W" in (k.strip() for k in kinds):
                if substance:
                    parts.append(_part(pb.SUBSTANCE, substance, "B"))
                for r in route:
                    parts.append(_part(pb.ROUTE, r, "B"))
        else:
            parts.append(_part(pb.MODALITY_SUBTYPE, segment, seq))
    return parts


def term_from_axes(row: dict[str, str]) -> pb.PlaybookTerm:
    """A playbook term built from one Loinc.csv row's axes (used when no part link lists its Rad.* parts)."""
    term = pb.PlaybookTerm(row["LOINC_NUM"], row["LONG_COMMON_NAME"])
    method = [m.strip() for m in row["METHOD_TYP"].split(".") if m.strip()]
    parts: list[pb.PlaybookPart] = []
    if method:
        parts.append(_part(pb.MODALITY_TYPE, method[0]))
        parts.extend(_part(pb.MODALITY_SUBTYPE, m, "B") for m in method[1:])
    parts += _system_parts(row["SYSTEM"]) + _component_parts(row["COMPONENT"])
    for p in parts:
        term.parts.setdefault(p.type_name.lower(), []).append(p)
    return term


def read_part_links(paths: Iterable[str | Path], codes: set[str]) -> dict[str, list[pb.PlaybookPart]]:
    """``Rad.*`` parts of the terms in ``codes`` from LoincPartLink_Primary/Supplementary.csv files."""
    out: dict[str, list[pb.PlaybookPart]] = {}
    for path in paths:
        for _, row in _open_csv(Path(path), PART_LINK_COLUMNS, "LoincPartLink CSV"):
            if row["LoincNumber"] in codes and row["PartTypeName"].lower().startswith("rad."):
                part = pb.PlaybookPart(row["PartNumber"], row["PartTypeName"], row["PartName"], "A", "", "")
                if part not in out.setdefault(row["LoincNumber"], []):
                    out[row["LoincNumber"]].append(part)
    return out


def load_loinc_table(loinc_csv: str | Path, part_links: Iterable[str | Path] = (),
                     statuses: tuple[str, ...] = DEFAULT_STATUSES) -> dict[str, pb.PlaybookTerm]:
    """Every radiology term of ``Loinc.csv`` (status in ``statuses``) as a playbook term keyed by LOINC number."""
    path = Path(loinc_csv)
    rows: dict[str, dict[str, str]] = {}
    for line, row in _open_csv(path, LOINC_COLUMNS, "Loinc.csv"):
        if not is_radiology(row["CLASS"]) or row["STATUS"].upper() not in statuses:
            continue
        if not pb.loinc_check_digit_ok(row["LOINC_NUM"]):
            raise UsageError(f"{path}: line {line}: {row['LOINC_NUM']!r} is not a valid LOINC number")
        rows[row["LOINC_NUM"]] = row
    if not rows:
        raise UsageError(f"{path}: no radiology terms (CLASS RAD) with status {', '.join(statuses)}")
    linked = read_part_links(part_links, set(rows))
    terms: dict[str, pb.PlaybookTerm] = {}
    for code, row in rows.items():
        if linked.get(code):
            term = pb.PlaybookTerm(code, row["LONG_COMMON_NAME"])
            for p in linked[code]:
                term.parts.setdefault(p.type_name.lower(), []).append(p)
        else:
            term = term_from_axes(row)
        terms[code] = term
    return terms


def merge_terms(*sources: dict[str, pb.PlaybookTerm]) -> dict[str, pb.PlaybookTerm]:
    """Union of term tables; for a LOINC number in several, the first source's term wins (the playbook)."""
    out: dict[str, pb.PlaybookTerm] = {}
    for terms in sources:
        for code, term in terms.items():
            out.setdefault(code, term)
    return out
