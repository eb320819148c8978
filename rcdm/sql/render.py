"""Render OHDSI SQL templates exactly as SqlRender v1.19's ``render`` does (see ``shared/spec/sqlrender.md`` §1).

Steps, in SqlRender's order: warn about supplied parameters the SQL never mentions; collect and remove the
``{DEFAULT @a = v}`` blocks; replace ``@name`` by plain text, longest name first; then resolve the
``{condition} ? {then} : {else}`` blocks, evaluating each condition with SqlRender's small boolean language.

Deliberate differences from SqlRender, all on input SqlRender handles badly or silently:

- Unbalanced braces in the template raise :class:`~rcdm.errors.SqlRenderError` naming the line (SqlRender
  leaves them as text). Braces brought in by parameter values are tolerated, as in SqlRender.
- Parameter names are matched as plain text (SqlRender uses them as regular expressions, so a dot in a
  name matches any character).
- An integral float renders as an integer (``123.0`` -> ``123``, ``1e5`` -> ``100000``, where R would
  write ``1e+05``); other floats use R's 15 significant digits. ``None`` renders as the empty string, as
  R's ``paste(NULL, collapse = ",")`` does.
"""

from __future__ import annotations

import math
import numbers
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from rcdm.errors import SqlRenderError, SqlRenderWarning

__all__ = ["SqlRenderWarning", "render", "render_sql"]


# Java's String.trim() strips every char <= U+0020; the DEFAULT-removal regex uses Java's ASCII \s.
_JAVA_TRIM = "".join(map(chr, range(33)))
_DEFAULT_BLOCK = re.compile(r"\{DEFAULT[^}]*\}[ \t\n\x0b\f\r]*\n?")
_BRACES = re.compile(r"[{}]")


def render(
    sql: str,
    warn_on_missing_parameters: bool = True,
    parameters: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> str:
    """Render ``sql`` with parameters given as keywords and/or ``parameters`` (for dotted names); keywords win.

    Values: str verbatim; list/tuple joined with ``,``; bool -> ``TRUE``/``FALSE``; numbers as text;
    ``None`` -> empty. A parameter used but not supplied stays as ``@name``.
    """
    if not isinstance(sql, str):
        raise SqlRenderError(f"sql must be a string, not {type(sql).__name__}")
    supplied = {**(parameters or {}), **kwargs}
    values = {_check_name(name): _format_value(name, value) for name, value in supplied.items()}
    if warn_on_missing_parameters:
        for name in values:
            if "@" + name not in sql:
                warnings.warn(f"Parameter '{name}' not found in SQL", SqlRenderWarning, stacklevel=2)
    _check_braces(sql)

    for name, value in _extract_defaults(sql).items():
        values.setdefault(name, value)
    text = _DEFAULT_BLOCK.sub("", sql)
    # Longest first, so that @ab is not half-replaced by the value of @a.
    for name in sorted(values, key=len, reverse=True):
        text = text.replace("@" + name, values[name])
    if "{" not in text:
        return text
    return _render_items(_parse_blocks(text))


def render_sql(sql: str, warn_on_missing_parameters: bool = True, **kwargs: Any) -> str:
    """Deprecated alias of :func:`render`, kept like SqlRender's ``renderSql`` (which warns the same way)."""
    warnings.warn("render_sql is deprecated (as SqlRender's renderSql); use render", SqlRenderWarning, stacklevel=2)
    return render(sql, warn_on_missing_parameters, **kwargs)


# --- values -------------------------------------------------------------------------------------------


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise SqlRenderError(f"Parameter names must be non-empty strings, not {name!r}")
    return name


def _format_value(name: str, value: Any) -> str:
    """The text R's ``paste(value, collapse = ",")`` gives, for Python values (lists flattened, None dropped)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        raise SqlRenderError(f"Parameter '{name}': a mapping cannot be rendered; pass a string, number or list")
    if isinstance(value, Iterable) and not isinstance(value, (bytes, bytearray)):
        return ",".join(_format_value(name, item) for item in value if item is not None)
    return _format_scalar(value)


def _format_scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_")):
        return "TRUE" if value else "FALSE"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return "NA"
        if math.isinf(number):
            return "Inf" if number > 0 else "-Inf"
        return str(int(number)) if number.is_integer() else f"{number:.15g}"
    return str(value)


# --- DEFAULT blocks -----------------------------------------------------------------------------------


def _extract_defaults(sql: str) -> dict[str, str]:
    """``{DEFAULT @a = 'x'}`` -> ``{"a": "x"}``; like SqlRender, the value starts two characters after ``=``."""
    defaults: dict[str, str] = {}
    end = 0
    while (start := sql.find("{DEFAULT ", end)) != -1:
        end = sql.find("}", start + 9)
        if end == -1:
            break
        body = sql[start + 9 : end]
        equals = body.find("=")
        if equals != -1:
            name = body[:equals].strip(_JAVA_TRIM)
            defaults[name[1:] if name.startswith("@") else name] = _unquote(body[equals + 2 :].strip(_JAVA_TRIM))
    return defaults


def _unquote(text: str) -> str:
    """Remove one pair of surrounding ``'`` or ``"`` (no trimming, as in SqlRender)."""
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


# --- braces -------------------------------------------------------------------------------------------


def _check_braces(sql: str) -> None:
    """Refuse a template whose braces (outside DEFAULT blocks) do not pair up, naming where."""
    masked = _DEFAULT_BLOCK.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), sql)
    opened: list[int] = []
    for match in _BRACES.finditer(masked):
        if match.group() == "{":
            opened.append(match.start())
        elif opened:
            opened.pop()
        else:
            raise SqlRenderError(f"Unbalanced braces: '}}' without a matching '{{' at {_where(sql, match.start())}")
    if opened:
        raise SqlRenderError(f"Unbalanced braces: '{{' that is never closed at {_where(sql, opened[-1])}")


def _where(sql: str, pos: int) -> str:
    line = sql.count("\n", 0, pos) + 1
    column = pos - (sql.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column}, near {sql[max(0, pos - 40) : pos + 40]!r}"


class _Block(list[Any]):
    """The items (text and nested blocks) between a pair of braces."""


def _parse_blocks(text: str) -> list[Any]:
    """Split text into strings and :class:`_Block` s; a stray brace (e.g. from a value) stays text, as in SqlRender."""
    stack: list[list[Any]] = [[]]
    pos = 0
    for match in _BRACES.finditer(text):
        _add_text(stack[-1], text[pos : match.start()])
        pos = match.end()
        if match.group() == "{":
            stack.append(_Block())
        elif len(stack) > 1:
            block = stack.pop()
            stack[-1].append(block)
        else:
            _add_text(stack[-1], "}")
    _add_text(stack[-1], text[pos:])
    while len(stack) > 1:  # never closed: its brace is plain text, its contents join the parent
        block = stack.pop()
        _add_text(stack[-1], "{")
        for item in block:
            if isinstance(item, str):
                _add_text(stack[-1], item)
            else:
                stack[-1].append(item)
    return stack[0]


def _add_text(items: list[Any], text: str) -> None:
    """Append text, merging with a preceding string so that text between two blocks is one item."""
    if not text:
        return
    if items and isinstance(items[-1], str):
        items[-1] += text
    else:
        items.append(text)


def _is_sep(items: list[Any], i: int, sep: str) -> bool:
    """Is items[i] the separator text (``?`` or ``:``, spaces allowed) with a block right after it?"""
    return (
        i + 1 < len(items)
        and isinstance(items[i], str)
        and isinstance(items[i + 1], _Block)
        and items[i].strip(_JAVA_TRIM) == sep
    )


def _render_items(items: list[Any]) -> str:
    """Resolve ``{c} ? {t} : {e}`` left to right; blocks that are not part of one keep their braces."""
    out: list[str] = []
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, str):
            out.append(item)
            i += 1
        elif _is_sep(items, i + 1, "?"):
            then, otherwise = items[i + 2], None
            i += 3
            if _is_sep(items, i, ":"):
                otherwise = items[i + 1]
                i += 2
            chosen = then if _evaluate_condition(_render_items(item)) else otherwise
            if chosen is not None:
                out.append(_render_items(chosen))
        else:
            out.append("{" + _render_items(item) + "}")
            i += 1
    return "".join(out)


# --- conditions ---------------------------------------------------------------------------------------


def _evaluate_condition(condition: str) -> bool:
    """Evaluate parenthesised parts innermost first (an ``IN (...)`` list is kept), then the whole."""
    stack: list[list[str]] = [[]]
    for char in condition.strip(_JAVA_TRIM):
        if char == "(":
            stack.append([])
        elif char == ")" and len(stack) > 1:
            inner = "".join(stack.pop())
            before = "".join(stack[-1])
            if _preceded_by_in(before):
                stack[-1].append("(" + inner + ")")
            else:
                stack[-1].append("1" if _evaluate_boolean(inner) else "0")
        else:
            stack[-1].append(char)
    while len(stack) > 1:  # an unclosed '(' is plain text
        inner = "".join(stack.pop())
        stack[-1].append("(" + inner)
    return _evaluate_boolean("".join(stack[0]))


def _preceded_by_in(text: str) -> bool:
    """Does ``text`` end with the word ``in`` (whitespace before it; SqlRender also allows ``i n``)?"""
    matched = 0
    for char in reversed(text.lower()):
        if not char.isspace():
            if (matched, char) in ((0, "n"), (1, "i")):
                matched += 1
            else:
                return False
        elif matched == 2:
            return True
    return False


def _java_split(text: str, sep: str) -> list[str]:
    """``str.split`` without trailing empty strings, like Java's ``String.split``."""
    parts = text.split(sep)
    while parts and not parts[-1]:
        parts.pop()
    return parts


def _evaluate_boolean(condition: str) -> bool:
    """A conjunction if it contains ``&``, else a disjunction if it contains ``|``, else one primitive."""
    condition = condition.strip(_JAVA_TRIM)
    if "&" in condition:
        return all(_evaluate_primitive(part) for part in _java_split(condition, "&"))
    if "|" in condition:
        return any(_evaluate_primitive(part) for part in _java_split(condition, "|"))
    return _evaluate_primitive(condition)


def _evaluate_primitive(condition: str) -> bool:
    """``true``/``1``/``!false``/``!0`` (and their opposites), ``a == b``, ``a != b``, ``a <> b``, ``x IN (p,q)``."""
    condition = condition.strip(_JAVA_TRIM)
    lowered = condition.lower()
    if lowered in ("false", "0", "!true", "!1"):
        return False
    if lowered in ("true", "1", "!false", "!0"):
        return True
    for operator, equal in (("==", True), ("!=", False), ("<>", False)):
        found = condition.find(operator)
        if found != -1:
            left = _unquote(condition[:found].strip(_JAVA_TRIM))
            right = _unquote(condition[found + 2 :].strip(_JAVA_TRIM))
            return (left == right) == equal
    found = lowered.find(" in ")
    if found != -1:
        left = _unquote(condition[:found].strip(_JAVA_TRIM))
        right = condition[found + 4 :].strip(_JAVA_TRIM)
        if len(right) > 2 and right[0] == "(" and right[-1] == ")":
            # Items are unquoted but NOT trimmed: {2 IN (1, 2)} is false in SqlRender.
            return any(left == _unquote(part) for part in _java_split(right[1:-1], ","))
    raise SqlRenderError(f'Error parsing boolean condition: "{condition}"')
