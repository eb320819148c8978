"""Placeholder until the split module lands (being written now)."""
from __future__ import annotations


def split_sql(sql):
    raise NotImplementedError
