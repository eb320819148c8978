"""Text normalisation for study descriptions, driven by ``vocab/rules/synonyms.tsv``.

Steps: Unicode NFKC and case folding; spaces between CJK/Hangul and Latin runs; every separator PACS systems
join words with (``^ _ .``, a ``.`` between digits excepted) and every letter/digit boundary becomes a space
(``Abdomen^2_ROUTINE_AP_WO`` → ``abdomen 2 routine ap wo``); view-count ranges (``1-2 views``, ``2 or 3 vw``,
``3+ views``) collapse to ``views`` (a range names no single count); every synonym or abbreviation (longest
first, one pass; patterns are split the same way) replaced by its canonical English words; split into word
tokens (``/``, ``-``, ``+`` and other punctuation separate words there, after the synonyms that contain them).
Latin patterns match on word boundaries; CJK/Hangul patterns match anywhere (those scripts do not space
words). Text that no rule covers is kept as it is, so Korean or other non-English words survive intact.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from rcdm.errors import UsageError

_CJK = "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_SPLIT_RE = re.compile(f"(?<=[{_CJK}])(?=[^\\W_{_CJK}])|(?<=[^\\W_{_CJK}])(?=[{_CJK}])")
_TOKEN_RE = re.compile(r"[^\W_]+")
_SEPARATOR_RE = re.compile(r"[\^_]|(?<!\d)\.|\.(?!\d)")
_DIGIT_EDGE_RE = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_BREAK_RE = re.compile("|".join(r.pattern for r in (_SPLIT_RE, _SEPARATOR_RE, _DIGIT_EDGE_RE)))
_RANGE_RE = re.compile(r"(?<!\w)\d+\s*(?:-|–|to|or|/)\s*\d+\s*(?=(?:views?|vws?|v|projections?)(?!\w))"
                       r"|(?<!\w)\d+\s*\+\s*(?=(?:views?|vws?|v|projections?)(?!\w))")


def presplit(text: str) -> str:
    """Folded ``text`` with PACS separators and letter/digit boundaries turned into spaces, view ranges dropped."""
    t = _BREAK_RE.sub(" ", fold(text))
    return _RANGE_RE.sub(" ", t) if any(c.isdigit() for c in t) else t


def fold(text: str) -> str:
    """NFKC + case fold."""
    return unicodedata.normalize("NFKC", text).casefold()


def read_tsv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Read a rules TSV (header line, ``#`` comments and blank lines allowed) into dicts; fail with file and line."""
    if not path.is_file():
        raise UsageError(f"Missing rules file: {path}")
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        header: list[str] | None = None
        for line_no, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = [f.strip() for f in line.split("\t")]
            if header is None:
                header = [f.lower() for f in fields]
                missing = [c for c in columns if c not in header]
                if missing:
                    raise UsageError(f"{path}: line {line_no}: missing column(s) {', '.join(missing)} "
                                     "(rules files are tab-separated)")
                continue
            if len(fields) < len(header):
                fields += [""] * (len(header) - len(fields))
            row = dict(zip(header, fields))
            if not row[columns[0]]:
                raise UsageError(f"{path}: line {line_no}: empty {columns[0]}")
            row["_line"] = str(line_no)
            rows.append(row)
    return rows


class Normalizer:
    """Apply synonym rules to free text and return space-joined canonical tokens."""

    def __init__(self, synonyms: list[tuple[str, str]]):
        self._map: dict[str, str] = {}
        self._memo: dict[str, tuple[str, ...]] = {}
        self._compact: dict[str, str] = {}
        alternatives = []
        for pattern, canonical in sorted(synonyms, key=lambda s: (-len(fold(s[0])), fold(s[0]))):
            key = " ".join(presplit(pattern).split())
            if not key or key in self._map:
                continue
            self._map[key] = " ".join(fold(canonical).split())
            self._compact.setdefault(key.replace(" ", ""), self._map[key])
            if _CJK_RE.search(key):
                alternatives.append(r"\s*".join(re.escape(ch) for ch in key.replace(" ", "")))
            else:
                body = r"\s+".join(re.escape(p) for p in key.split(" "))
                head = r"(?<!\w)" if re.match(r"\w", key) else ""
                tail = r"(?!\w)" if re.search(r"\w$", key) else ""
                alternatives.append(head + body + tail)
        self._re = re.compile("|".join(alternatives)) if alternatives else None

    @classmethod
    def from_file(cls, path: Path) -> Normalizer:
        rows = read_tsv(path, ("pattern", "canonical"))
        return cls([(r["pattern"], r["canonical"]) for r in rows])

    def _replace(self, m: re.Match[str]) -> str:
        key = " ".join(m.group(0).split())
        canonical = self._map.get(key)
        if canonical is None:
            canonical = self._compact[key.replace(" ", "")]
        return " " + canonical + " "

    def tokens(self, text: str | None) -> list[str]:
        """Canonical word tokens of ``text`` (memoised: a study's texts are normalised for its cache key and
        again for matching, and PACS repeat the same descriptions)."""
        if not text:
            return []
        hit = self._memo.get(text)
        if hit is None:
            t = presplit(text)
            if self._re is not None:
                t = self._re.sub(self._replace, t)
            hit = tuple(_TOKEN_RE.findall(t))
            if len(self._memo) >= 100_000:
                self._memo.clear()
            self._memo[text] = hit
        return list(hit)

    def normalize(self, text: str | None) -> str:
        """Canonical text: the tokens joined by single spaces."""
        return " ".join(self.tokens(text))
