"""Locate the bundled ``vocab/`` data folder (matcher rules and real-format vocabulary fixtures).

It ships inside the installed package as ``rcdm.vocab`` (package data mapped from the repository's ``vocab/``),
so a site's install finds the same rules a checkout does.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rcdm.errors import UsageError


def vocab_dir() -> Path:
    """Return the installed ``vocab/`` folder, or raise a UsageError saying where it was looked for."""
    path = Path(str(resources.files("rcdm.vocab")))
    if not (path / "rules").is_dir():
        raise UsageError(f"The rcdm vocab data folder was not found at {path}; pass rules_dir= explicitly")
    return path


def rules_dir() -> Path:
    """The folder of matcher rules (synonyms, body parts, modalities, contrast, scoring ...)."""
    return vocab_dir() / "rules"


def fixtures_dir() -> Path:
    """The folder of small real-format vocabulary fixtures used by tests and examples."""
    return vocab_dir() / "fixtures"
