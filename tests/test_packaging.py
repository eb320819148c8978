"""The wheel carries every package of the source tree: setup.cfg lists packages one by one, and a package left
out (rcdm.db once) installs a wheel that fails on import while the source-tree tests pass."""

from __future__ import annotations

import configparser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_setup_cfg_lists_every_package_of_the_source_tree():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg", encoding="utf-8")
    listed = set(config["options"]["packages"].split())
    found = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "rcdm").rglob("__init__.py")
             if "__pycache__" not in init.parts}
    assert found - listed == set(), "packages missing from setup.cfg [options] packages"
