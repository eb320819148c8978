"""Stream-read Athena vocabulary files (tab-separated ``CONCEPT.csv``, ``CONCEPT_RELATIONSHIP.csv``,
``CONCEPT_ANCESTOR.csv``) as generators of validated, typed rows; a wrong file fails with file and line.

No database code here: loaders consume these generators and write only after a file has been read whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from rcdm.errors import UsageError

CONCEPT_COLUMNS = ("concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id",
                   "standard_concept", "concept_code", "valid_start_date", "valid_end_date", "invalid_reason")
RELATIONSHIP_COLUMNS = ("concept_id_1", "concept_id_2", "relationship_id", "valid_start_date",
                        "valid_end_date", "invalid_reason")
ANCESTOR_COLUMNS = ("ancestor_concept_id", "descendant_concept_id", "min_levels_of_separation",
                    "max_levels_of_separation")


def _int(value: str) -> int:
    return int(value)


def _date(value: str) -> dt.date:
    if len(value) != 8 or not value.isdigit():
        raise ValueError("expected a date as YYYYMMDD")
    return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))


def _text(value: str) -> str:
    return value


def _optional(value: str) -> str | None:
    return value or None


_CONCEPT_TYPES: dict[str, Callable[[str], object]] = {
    "concept_id": _int, "concept_name": _text, "domain_id": _text, "vocabulary_id": _text,
    "concept_class_id": _text, "standard_concept": _optional, "concept_code": _text,
    "valid_start_date": _date, "valid_end_date": _date, "invalid_reason": _optional,
}
_RELATIONSHIP_TYPES: dict[str, Callable[[str], object]] = {
    "concept_id_1": _int, "concept_id_2": _int, "relationship_id": _text,
    "valid_start_date": _date, "valid_end_date": _date, "invalid_reason": _optional,
}
_ANCESTOR_TYPES: dict[str, Callable[[str], object]] = {c: _int for c in ANCESTOR_COLUMNS}


def _read(path: str | Path, columns: tuple[str, ...], types: dict[str, Callable[[str], object]],
          required: tuple[str, ...]) -> Iterator[dict[str, object]]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"No such Athena file: {path}")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open(newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
        if not first.strip():
            raise UsageError(f"{path}: line 1: the file is empty; expected a tab-separated header "
                             f"{' '.join(columns)}")
        if "\t" not in first and "," in first:
            raise UsageError(f"{path}: line 1: wrong delimiter (comma); Athena vocabulary files are tab-separated")
        header = [h.strip().lower() for h in first.rstrip("\r\n").split("\t")]
        missing = [c for c in columns if c not in header]
        if missing:
            raise UsageError(f"{path}: line 1: missing column(s) {', '.join(missing)}; is this the right Athena "
                             "file?")
        index = {c: header.index(c) for c in columns}
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        line = 1
        for values in reader:
            line += 1
            if not values or (len(values) == 1 and not values[0].strip()):
                continue
            if len(values) != len(header):
                raise UsageError(f"{path}: line {line}: {len(values)} fields, the header has {len(header)}")
            row: dict[str, object] = {}
            for c, i in index.items():
                raw = values[i].strip()
                if c in required and not raw:
                    raise UsageError(f"{path}: line {line}: empty {c}")
                try:
                    row[c] = types[c](raw)
                except ValueError as exc:
                    raise UsageError(f"{path}: line {line}: bad {c} {raw!r} ({exc})") from None
            yield row


def read_concepts(path: str | Path) -> Iterator[dict[str, object]]:
    """Yield CONCEPT rows with ints and dates typed; ``standard_concept``/``invalid_reason`` None when empty."""
    return _read(path, CONCEPT_COLUMNS, _CONCEPT_TYPES,
                 ("concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "concept_code",
                  "valid_start_date", "valid_end_date"))


def read_concept_relationships(path: str | Path) -> Iterator[dict[str, object]]:
    """Yield CONCEPT_RELATIONSHIP rows."""
    return _read(path, RELATIONSHIP_COLUMNS, _RELATIONSHIP_TYPES, RELATIONSHIP_COLUMNS[:5])


def read_concept_ancestors(path: str | Path) -> Iterator[dict[str, object]]:
    """Yield CONCEPT_ANCESTOR rows."""
    return _read(path, ANCESTOR_COLUMNS, _ANCESTOR_TYPES, ANCESTOR_COLUMNS)


def loinc_concept_index(path: str | Path) -> dict[str, dict[str, object]]:
    """Map each valid LOINC concept_code to its CONCEPT row (standard concepts win over non-standard)."""
    out: dict[str, dict[str, object]] = {}
    for row in read_concepts(path):
        if row["vocabulary_id"] != "LOINC" or row["invalid_reason"]:
            continue
        code = str(row["concept_code"])
        prev = out.get(code)
        if prev is None or (row["standard_concept"] == "S" and prev["standard_concept"] != "S"):
            out[code] = row
    return out
