"""Read a site's ``source_to_concept_map`` rows (e.g. exported from Usagi); these mappings always win."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rcdm.errors import UsageError

COLUMNS = ("source_code", "source_concept_id", "source_vocabulary_id", "source_code_description",
           "target_concept_id", "target_vocabulary_id", "valid_start_date", "valid_end_date", "invalid_reason")

_WS = re.compile(r"\s+")


def source_key(text: str | None) -> str:
    """The key site mappings are matched on: case-folded, whitespace collapsed."""
    return _WS.sub(" ", (text or "").casefold()).strip()


@dataclass(frozen=True)
class SiteMapping:
    """One source_to_concept_map row."""

    source_code: str
    source_concept_id: int
    source_vocabulary_id: str
    source_code_description: str
    target_concept_id: int
    target_vocabulary_id: str
    valid_start_date: dt.date
    valid_end_date: dt.date
    invalid_reason: str | None

    def is_valid(self, on: dt.date | None = None) -> bool:
        """A row counts when it has no invalid_reason and ``on`` (today) lies in its validity window."""
        on = on or dt.date.today()
        return not self.invalid_reason and self.valid_start_date <= on <= self.valid_end_date


def _date(value: str) -> dt.date:
    v = value.replace("-", "")
    if len(v) != 8 or not v.isdigit():
        raise ValueError("expected YYYYMMDD or YYYY-MM-DD")
    return dt.date(int(v[:4]), int(v[4:6]), int(v[6:]))


def read_stcm(path: str | Path) -> Iterator[SiteMapping]:
    """Yield validated rows of a comma- or tab-separated source_to_concept_map file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"No such source_to_concept_map file: {path}")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        first = fh.readline()
        if not first.strip():
            raise UsageError(f"{path}: line 1: the file is empty; expected the source_to_concept_map header")
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        fh.seek(0)
        reader = csv.reader(fh, delimiter=delimiter)
        header = [h.strip().lower() for h in next(reader)]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise UsageError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        index = {c: header.index(c) for c in COLUMNS}
        for values in reader:
            line = reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise UsageError(f"{path}: line {line}: {len(values)} fields, the header has {len(header)}")
            row = {c: values[i].strip() for c, i in index.items()}
            if not row["source_code"]:
                raise UsageError(f"{path}: line {line}: empty source_code")
            try:
                yield SiteMapping(
                    row["source_code"], int(row["source_concept_id"] or 0), row["source_vocabulary_id"],
                    row["source_code_description"], int(row["target_concept_id"]), row["target_vocabulary_id"],
                    _date(row["valid_start_date"]), _date(row["valid_end_date"]), row["invalid_reason"] or None)
            except ValueError as exc:
                raise UsageError(f"{path}: line {line}: {exc}") from None
