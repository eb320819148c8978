"""Placeholder until the render module lands (being written now)."""
from __future__ import annotations


def render(sql, warn_on_missing_parameters=True, parameters=None, **kwargs):
    raise NotImplementedError
