"""No function in rcdm/ takes more than 8 parameters (positional and keyword-only, ``self``/``cls`` excluded;
``*args``/``**kwargs`` not counted): a longer list is an options object waiting to be written
(``rcdm.options``)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rcdm"
LIMIT = 8
OTHERS: set[str] = set()
"""Functions allowed over the limit (none: a longer list becomes an options object)."""


def _count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names)


def violations() -> list[str]:
    """``path name (count, line n)`` of every function over the limit."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _count(node) > LIMIT:
                found.append(f"{path.relative_to(PACKAGE.parent)} {node.name} ({_count(node)}, line {node.lineno})")
    return found


def test_no_function_takes_more_than_eight_parameters():
    assert [v for v in violations() if v.split(" (")[0] not in OTHERS] == []


def test_the_count_is_of_positional_and_keyword_only_parameters():
    tree = ast.parse("def f(self, a, b=1, /, c=2, *args, d, e=3, **kw): pass\n"
                     "def g(a, b, c, d, e, f, g, h, i): pass")
    counts = [_count(node) for node in tree.body]
    assert counts == [5, 9]
