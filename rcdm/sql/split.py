"""Split an OHDSI SQL script into statements the way SqlRender's ``splitSql`` does.

A ``;`` ends a statement only outside quotes, ``[bracketed]`` names, comments and ``BEGIN ... END`` /
``CASE ... END`` blocks. The ``;`` is dropped, except after an ``END`` that closes a ``BEGIN`` (an Oracle
PL/SQL block needs it). Statements are trimmed; statements holding only comments or whitespace are dropped.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""
      (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<quote>'(?:[^']|'')*(?:'|\Z)|"(?:[^"]|"")*(?:"|\Z))
    | (?P<bracket>\[[^\]]*(?:\]|\Z))
    | (?P<word>[A-Za-z0-9_@#$]+)
    | (?P<semi>;)
    | (?P<space>\s+)
    | (?P<other>[^\w\s@#$;'"\[\-/]+|.)
    """,
    re.VERBOSE | re.DOTALL,
)


# What decides where a statement ends: comments, quoted text and [names] are skipped whole; BEGIN / CASE / END
# (whole words, as _TOKEN's words are) nest; a ``;`` outside them ends a statement. Everything else is passed over
# by the regular-expression engine, not a Python loop (a 3.5 MB cohort has 650,000 words).
_WORD = r"[A-Za-z0-9_@#$]"
_DECISIVE = re.compile(
    rf"""
      --[^\n]*|/\*.*?(?:\*/|\Z)
    | '(?:[^']|'')*(?:'|\Z)|"(?:[^"]|"")*(?:"|\Z)
    | \[[^\]]*(?:\]|\Z)
    | (?<!{_WORD})(?P<keyword>begin|case|end)(?!{_WORD})
    | (?P<semi>;)
    """,
    re.VERBOSE | re.DOTALL | re.IGNORECASE,
)
_GAP = re.compile(r"(?:\s+|--[^\n]*|/\*.*?(?:\*/|\Z))*", re.DOTALL)  # whitespace and comments
_NEXT_WORD = re.compile(rf"{_WORD}+")


def split_sql_with_offsets(sql: str) -> list[tuple[int, str]]:
    """Split ``sql`` into ``(offset, statement)`` pairs; ``offset`` is where the trimmed statement starts."""
    parts: list[tuple[int, int]] = []
    nest: list[str] = []
    last_pop = ""
    start = 0
    semi_after_end = -1  # where a ";" directly follows an END (comments and spaces between)
    for match in _DECISIVE.finditer(sql):
        keyword = match.group("keyword")
        if keyword is not None:
            lower = keyword.lower()
            if lower != "end":
                nest.append(lower)
                continue
            gap = _GAP.match(sql, match.end())
            following = gap.end() if gap else match.end()
            word = _NEXT_WORD.match(sql, following)
            if not (word and word.group().lower() == "if") and nest:
                last_pop = nest.pop()
            if sql.startswith(";", following):
                semi_after_end = following
        elif match.group("semi") is not None and not nest:
            keep = match.start() == semi_after_end and last_pop == "begin"
            parts.append((start, match.end() if keep else match.start()))
            start = match.end()
    parts.append((start, len(sql)))

    result: list[tuple[int, str]] = []
    for begin, end in parts:
        text = sql[begin:end]
        stripped = text.strip()
        if not _has_code(stripped):
            continue
        result.append((begin + (len(text) - len(text.lstrip())), stripped))
    return result


def _has_code(text: str) -> bool:
    """True when ``text`` holds something other than comments and whitespace."""
    return any(m.lastgroup != "comment" and not m.group().isspace() for m in _TOKEN.finditer(text))


def split_sql(sql: str) -> list[str]:
    """Split an OHDSI SQL script into statements, like ``SqlRender::splitSql``."""
    return [text for _, text in split_sql_with_offsets(sql)]
