"""The package's layers, read from the source: what may import what (docs/architecture.md), no import cycle at
module level, and a root that loads nothing heavy (``import rcdm`` and ``rcdm --help`` stay fast)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rcdm"

HEAVY = ("pandas", "pyarrow", "numpy", "duckdb", "sqlalchemy", "sqlglot", "pydicom", "psycopg", "jinja2")
"""Modules ``import rcdm`` and ``rcdm --help`` must not load (each costs tens to hundreds of milliseconds)."""

LAYERS: dict[str, tuple[str, ...]] = {
    # module prefix: the rcdm modules it may import (its own prefix always)
    "rcdm._version": (),
    "rcdm.errors": (),
    "rcdm.identifiers": ("rcdm.errors",),
    "rcdm.resources": ("rcdm.errors",),
    "rcdm.options": ("rcdm.errors",),
    "rcdm.sql": ("rcdm.errors", "rcdm.resources", "rcdm.identifiers"),
    "rcdm.dicom": ("rcdm.errors",),
    "rcdm.db": ("rcdm.errors", "rcdm.identifiers", "rcdm.resources", "rcdm.sql", "rcdm.fetch", "rcdm.interop"),
    # inside the database layer: parsing and messages know no backend; a Backend knows only how URLs are read
    "rcdm.db.urls": ("rcdm.errors",),
    "rcdm.db.messages": (),
    "rcdm.db.backend": ("rcdm.errors", "rcdm.db.urls", "rcdm.db.connection"),
    "rcdm.fetch": ("rcdm.errors", "rcdm.identifiers", "rcdm.sql", "rcdm.db"),
}
"""The lower layers and what each may import (at any depth, function bodies too): the SQL engine and the DICOM
reading know nothing of databases, the ETL or the CLI; the database layer nothing of DICOM, the ETL or the CLI."""

NOBODY_IMPORTS = {"rcdm.cli": ("rcdm.__main__", "rcdm.cli")}
"""Modules (and their submodules) only the listed ones may import (the CLI is the top: the API never calls back
into it)."""


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _targets(node: ast.AST) -> set[str]:
    """The rcdm modules an import statement loads (``from rcdm.sql import transforms`` is rcdm.sql.transforms)."""
    out: set[str] = set()
    if isinstance(node, ast.Import):
        out |= {a.name for a in node.names if a.name.split(".")[0] == "rcdm"}
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "rcdm":
        subs = {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
        out |= subs or {node.module}
        if len(subs) < len(node.names):
            out.add(node.module)
    return {t for t in out if t in MODULES}


def _imports(name: str, top_level_only: bool) -> set[str]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if top_level_only and isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks load nothing
            continue
        out |= _targets(node)
    return out - {name}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_imports_respect_the_layers(name):
    for prefix, allowed in LAYERS.items():
        if _within(name, prefix):
            wrong = sorted(t for t in _imports(name, top_level_only=False)
                           if not _within(t, prefix) and not any(_within(t, a) for a in allowed))
            assert not wrong, f"{name} (layer {prefix}) imports {wrong}; allowed: {allowed}"
    for target, importers in NOBODY_IMPORTS.items():
        if any(_within(t, target) for t in _imports(name, top_level_only=False)):
            assert any(_within(name, i) for i in importers), f"{name} imports {target}, which only {importers} may"
    if name != "rcdm":
        assert "rcdm" not in _imports(name, top_level_only=False), \
            f"{name} imports the package root: import the module that defines the name"


def test_no_import_cycle_at_module_level():
    graph = {name: _imports(name, top_level_only=True) for name in MODULES}
    # a module's package __init__ runs first: an edge to "a.b.c" implies the packages "a.b" and "a"
    seen: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if seen.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for name in sorted(graph):
        if name not in seen:
            visit(name)


DRIVERS = ("psycopg", "psycopg2", "pyodbc", "oracledb", "google", "snowflake", "databricks", "pyspark",
           "sqlalchemy_bigquery", "redshift_connector")
"""Optional database drivers: imported only inside the function of the backend that needs them (or by
SQLAlchemy when it opens that backend's engine), so a missing one fails only for that backend."""


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _within(n, "rcdm.db")))
def test_the_database_layer_loads_no_optional_driver_at_import(name):
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    loaded = {a.name for node in tree.body if isinstance(node, ast.Import) for a in node.names}
    loaded |= {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
    assert not {m for m in loaded if m.split(".")[0] in DRIVERS}, f"{name} imports a driver at module level"


@pytest.mark.parametrize("code", ["import rcdm", "import rcdm.cli, contextlib, io\nwith contextlib.suppress("
                                  "SystemExit), contextlib.redirect_stdout(io.StringIO()): rcdm.cli.main(['--help'])"])
def test_the_root_and_the_cli_parser_load_nothing_heavy(code):
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{code!r} loaded {out}"


def test_the_lazy_root_gives_every_export_and_submodules():
    import rcdm

    for name in rcdm.__all__:
        assert getattr(rcdm, name) is not None, name
    assert rcdm.errors.UsageError is rcdm.UsageError
    with pytest.raises(AttributeError):
        rcdm.no_such_name  # noqa: B018
    assert "connect" in dir(rcdm)
