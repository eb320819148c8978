"""Placeholder until the translate module lands (being written now)."""
from __future__ import annotations


def translate(sql, target_dialect, temp_emulation_schema=None):
    raise NotImplementedError


def translate_single_statement(sql, target_dialect, temp_emulation_schema=None):
    raise NotImplementedError


def get_temp_table_prefix():
    raise NotImplementedError


def list_supported_dialects():
    return ["sql server", "postgresql", "oracle", "bigquery", "duckdb", "sqlite", "redshift", "snowflake",
            "spark", "synapse"]
