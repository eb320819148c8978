"""Placeholder until the DDL module lands (being written now)."""
from __future__ import annotations


def create_tables(*a, **k): raise NotImplementedError
def drop_tables(*a, **k): raise NotImplementedError
def get_ddl(*a, **k): raise NotImplementedError
