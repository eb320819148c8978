"""Placeholder until the database layer lands (being written now)."""
from __future__ import annotations


def connect(*a, **k): raise NotImplementedError
def execute_sql(*a, **k): raise NotImplementedError
def query_sql(*a, **k): raise NotImplementedError
def insert_table(*a, **k): raise NotImplementedError
def exists_table(*a, **k): raise NotImplementedError
