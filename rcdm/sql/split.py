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


def split_sql_with_offsets(sql: str) -> list[tuple[int, str]]:
    """Split ``sql`` into ``(offset, statement)`` pairs; ``offset`` is where the trimmed statement starts."""
    parts: list[tuple[int, int]] = []
    nest: list[str] = []
    last_pop = ""
    start = 0
    previous_word = ""
    significant = [(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN.finditer(sql)
                   if m.lastgroup not in ("comment", "space")]
    for index, (kind, text, begin, end) in enumerate(significant):
        if kind == "word":
            lower = text.lower()
            if lower in ("begin", "case"):
                nest.append(lower)
            elif lower == "end":
                following = significant[index + 1][1].lower() if index + 1 < len(significant) else ""
                if following != "if" and nest:
                    last_pop = nest.pop()
            previous_word = lower
        elif kind == "semi" and not nest:
            keep = previous_word == "end" and last_pop == "begin" and significant[index - 1][1].lower() == "end"
            parts.append((start, end if keep else begin))
            start = end
            previous_word = ""
        else:
            previous_word = ""
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
