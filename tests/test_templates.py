"""Every OHDSI SQL template under inst/ stays inside the syntax R's SqlRender understands, and renders and
translates to every target.

SqlRender itself (Java, CRAN) cannot be installed on these machines, so this checks the contract instead: the
template language of ``shared/spec/sqlrender.md`` section 1 and nothing else (no bind placeholders, no
Python formatting), parameters in snake_case, ``{DEFAULT @a = v}`` written with spaces (SqlRender reads the
value from two characters after the ``=``), and a clean render + translate for each dialect.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from rcdm.resources import inst_dir
from rcdm.sql import list_supported_dialects, render, translate

TEMPLATES = sorted(p for p in inst_dir().rglob("*.sql"))
PARAMETER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
DEFAULT = re.compile(r"\{DEFAULT\s+@(\w+)\s*(=)?(.*?)\}", re.S)
BOUND = {"sql/sql_server/ViewerSearch.sql"}
"""Templates whose request values are bound by the driver (``:name``): the web viewer's search takes values from
HTTP requests, which must never become SQL text. They still render and translate like any template."""


def _sample_value(name: str) -> str:
    """A value of the right kind for a parameter, judged by OHDSI naming conventions."""
    if name.endswith(("_schema", "_database_schema")):
        return "cdm"
    if name.endswith("_table"):
        return "cohort"
    if name.endswith(("_id", "_ids", "_days", "_start", "_end", "_count", "_thickness")) or name.startswith(
        ("min_", "max_", "window_")
    ):
        return "1"
    return "''" if name.endswith("s") else "1"


def _ids(path: Path) -> str:
    return path.relative_to(inst_dir()).as_posix()


@pytest.mark.parametrize("path", TEMPLATES, ids=_ids)
def test_template_syntax_is_sqlrenders(path):
    text = path.read_text(encoding="utf-8")
    for m in DEFAULT.finditer(text):
        assert m.group(2), f"{_ids(path)}: DEFAULT @{m.group(1)} has no '='"
        assert text[m.start(2) - 1] == " " and m.group(3).startswith(" "), (
            f"{_ids(path)}: write '{{DEFAULT @{m.group(1)} = value}}' with spaces around '=' (SqlRender reads the "
            "value from two characters after the '=')"
        )
    for name in PARAMETER.findall(text):
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), f"{_ids(path)}: parameter @{name} is not snake_case"
    code = re.sub(r"'(?:[^']|'')*'", "''", re.sub(r"--[^\n]*", "", text))
    if _ids(path) not in BOUND:
        assert not re.search(r"(?<![:\w]):[A-Za-z_]\w*", code), f"{_ids(path)}: bind placeholders do not exist in R"
    assert "%s" not in code and "%(" not in code, f"{_ids(path)}: Python formatting in a template"


@pytest.mark.parametrize("path", TEMPLATES, ids=_ids)
def test_template_renders_and_translates_everywhere(path):
    text = path.read_text(encoding="utf-8")
    defaults = {m.group(1) for m in DEFAULT.finditer(text)}
    parameters = {n: _sample_value(n) for n in set(PARAMETER.findall(text)) - defaults}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sql = render(text, parameters=parameters)
    assert "@" not in re.sub(r"'(?:[^']|'')*'", "", sql), f"{_ids(path)}: a parameter was left unrendered"
    for dialect in list_supported_dialects():
        translate(sql, dialect, temp_emulation_schema="scratch")
