"""Load OMOP CDM tables from a folder or zip of CSV files (the Eunomia format) into any rcdm database.

This is how the tests, and a site trying rcdm, get a real OMOP CDM (GiBleed, Synthea) into DuckDB or
PostgreSQL. One ``<table>.csv`` per table, with a header row. Column types come from ``_schema.tsv`` when the
source has one (Eunomia's: ``table, column, duckdb_type_in_source, exported_as, rows``), else pyarrow infers
them. Either way, columns that carry no type information (all empty, which Eunomia exports as ``BOOLEAN``, or an
empty table exported as ``VARCHAR``) get the OMOP type their name implies: ``*_date`` DATE, ``*_datetime``
DATETIME, ``*_id`` BIGINT, value columns FLOAT, the rest VARCHAR. Each table streams through
``insert_table`` (the backend's bulk path) one block at a time, so large files never sit in memory whole.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from rcdm.db import create_schema, execute_sql, execute_statements, exists_table, insert_table
from rcdm.errors import UsageError
from rcdm.identifiers import check_identifier, check_schema

BLOCK_SIZE = 32 << 20
"""Bytes of CSV read per streamed block (each block is one bulk insert)."""

_DECLARED_TYPES: dict[str, pa.DataType] = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int64(),
    "INT": pa.int64(),
    "DOUBLE": pa.float64(),
    "FLOAT": pa.float64(),
    "REAL": pa.float64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATETIME": pa.timestamp("us"),
    "VARCHAR": pa.string(),
    "TEXT": pa.string(),
}
"""Types named in ``_schema.tsv`` → Arrow types (``BOOLEAN`` is not here: Eunomia writes it for empty columns)."""

_FLOAT_COLUMNS = frozenset({
    "value_as_number", "range_low", "range_high", "quantity", "dose_value", "amount_value", "numerator_value",
    "denominator_value", "total_charge", "total_cost", "total_paid", "paid_by_payer", "paid_by_patient",
    "paid_patient_copay", "paid_patient_coinsurance", "paid_patient_deductible", "paid_by_primary",
    "paid_ingredient_cost", "paid_dispensing_fee", "amount_allowed", "latitude", "longitude",
})
"""OMOP columns that are numeric but not identifiers."""

_INTEGER_COLUMNS = frozenset({
    "year_of_birth", "month_of_birth", "day_of_birth", "refills", "days_supply", "box_size",
    "min_levels_of_separation", "max_levels_of_separation", "condition_occurrence_count", "drug_exposure_count",
    "gap_days", "fact_id_1", "fact_id_2", "cost_event_id",
})


_TEXT_ID_COLUMNS = frozenset({
    "domain_id", "vocabulary_id", "concept_class_id", "relationship_id", "unique_device_id", "reverse_relationship_id",
    "cdm_source_abbreviation", "specimen_source_id", "npi", "dea",
})
"""OMOP columns ending in ``_id`` that hold text."""


def omop_type(column: str) -> pa.DataType:
    """The Arrow type an OMOP column's name implies (used where the data says nothing)."""
    name = column.lower()
    if name.endswith("_datetime"):
        return pa.timestamp("us")
    if name.endswith("_date"):
        return pa.date32()
    if name in _FLOAT_COLUMNS:
        return pa.float64()
    if name in _INTEGER_COLUMNS or (name.endswith("_id") and name not in _TEXT_ID_COLUMNS):
        return pa.int64()
    return pa.string()


@dataclass(frozen=True)
class _Member:
    table: str
    name: str  # file name inside the zip, or path of the file


class _Source:
    """A folder or zip of CSVs: which tables it has, their declared types, and a way to open each."""

    def __init__(self, source: str | os.PathLike[str]) -> None:
        self.path = Path(source).expanduser()
        if not self.path.exists():
            raise UsageError(f"No such CSV source: {self.path} (give a folder or a .zip of <table>.csv files).")
        if self.path.is_file() and not zipfile.is_zipfile(self.path):
            raise UsageError(f"{self.path} is neither a folder nor a zip file.")
        self.zip = zipfile.ZipFile(self.path) if self.path.is_file() else None
        names = self.zip.namelist() if self.zip else [str(p) for p in sorted(self.path.rglob("*"))]
        self.members: dict[str, _Member] = {}
        self.schema_file: str | None = None
        for name in names:
            base = Path(name).name
            if base.lower() == "_schema.tsv":
                self.schema_file = name
            elif base.lower().endswith(".csv") and not base.startswith("."):
                table = base[:-4].lower()
                if table in self.members:
                    raise UsageError(f"{self.path} holds two files for table {table!r}: "
                                     f"{self.members[table].name} and {name}.")
                self.members[table] = _Member(table, name)
        if not self.members:
            raise UsageError(f"No <table>.csv files in {self.path}.")
        self.declared = self._read_schema()

    def close(self) -> None:
        if self.zip:
            self.zip.close()

    @contextmanager
    def open(self, member: _Member) -> Iterator[IO[bytes]]:
        if self.zip:
            with self.zip.open(member.name) as handle:
                yield handle
        else:
            with open(member.name, "rb") as handle:
                yield handle

    def _read_schema(self) -> dict[str, dict[str, tuple[str, int | None]]]:
        """table → column → (declared type, row count) from ``_schema.tsv``; {} when there is none."""
        if self.schema_file is None:
            return {}
        with self.open(_Member("_schema", self.schema_file)) as raw:
            rows = list(csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"), delimiter="\t"))
        declared: dict[str, dict[str, tuple[str, int | None]]] = {}
        for row in rows:
            kind = (row.get("exported_as") or row.get("type") or "").strip().upper()
            count = row.get("rows")
            declared.setdefault(row["table"].strip().lower(), {})[row["column"].strip().lower()] = (
                kind, int(count) if count and count.strip().isdigit() else None)
        return declared


def _header(handle: IO[bytes]) -> list[str]:
    first = handle.readline().decode("utf-8-sig").strip("\r\n")
    return next(csv.reader([first])) if first else []


def _column_types(table: str, header: Sequence[str], declared: dict[str, tuple[str, int | None]] | None
                  ) -> dict[str, pa.DataType] | None:
    """Arrow types of the columns, or None to let pyarrow infer them (no ``_schema.tsv``)."""
    if declared is None:
        return None
    types = {}
    for column in header:
        kind, rows = declared.get(column.lower(), ("", None))
        if kind in _DECLARED_TYPES and not (rows == 0 and kind == "VARCHAR"):
            types[column] = _DECLARED_TYPES[kind]
        else:  # BOOLEAN (Eunomia's mark of an all-empty column), an empty table, or a column not listed
            types[column] = omop_type(column)
    return types


def _fix_inferred(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns pyarrow inferred as null (all empty) get the OMOP type their name implies; booleans become text."""
    arrays, fields = [], []
    for field, array in zip(batch.schema, batch.columns):
        if pa.types.is_null(field.type):
            field = pa.field(field.name, omop_type(field.name))
            array = pa.nulls(len(array), field.type)
        elif pa.types.is_boolean(field.type):  # OMOP has no boolean columns: keep the text
            field = pa.field(field.name, pa.string())
            array = array.cast(pa.string())
        arrays.append(array)
        fields.append(field)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _lower_names(batch: pa.RecordBatch) -> pa.RecordBatch:
    return batch.rename_columns([c.lower() for c in batch.schema.names])


def load_cdm_csv(
    conn: Any,
    cdm_database_schema: str,
    source: str | os.PathLike[str],
    tables: Sequence[str] | str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, int]:
    """Load OMOP CDM tables from a folder or zip of ``<table>.csv`` files into ``cdm_database_schema``.

    ``tables`` (names, or one comma-separated string) limits the load; by default every CSV is loaded.
    A table that exists already is an error unless ``overwrite`` (it is then dropped and made again).
    Returns ``{table: rows loaded}`` in load order.
    """
    check_schema(cdm_database_schema, "cdm_database_schema")
    wanted = _wanted(tables)
    src = _Source(source)
    try:
        if wanted is not None:
            missing = [t for t in wanted if t not in src.members]
            if missing:
                raise UsageError(f"{src.path} has no CSV for table(s) {', '.join(missing)}; it has: "
                                 f"{', '.join(sorted(src.members))}.")
        chosen = [src.members[t] for t in (wanted if wanted is not None else sorted(src.members))]
        for member in chosen:
            check_identifier(member.table, "table name")
        create_schema(conn, cdm_database_schema)
        existing = [m.table for m in chosen if exists_table(conn, cdm_database_schema, m.table)]
        if existing and not overwrite:
            raise UsageError(f"Table(s) {', '.join(existing)} exist in schema {cdm_database_schema}: "
                             "use overwrite=True (--overwrite) to replace them.")
        for table in existing:
            execute_statements(conn, [f"DROP TABLE {cdm_database_schema}.{table}"])
        loaded: dict[str, int] = {}
        for member in chosen:
            loaded[member.table] = _load_one(conn, src, member, cdm_database_schema, progress, insert_table)
        return loaded
    finally:
        src.close()


def _wanted(tables: Sequence[str] | str | None) -> list[str] | None:
    if tables is None:
        return None
    if isinstance(tables, str):
        tables = tables.split(",")
    names = [str(t).strip().lower() for t in tables if str(t).strip()]
    if not names:
        raise UsageError("tables= is empty: name at least one table, or leave it out to load them all.")
    return list(dict.fromkeys(names))


def _load_one(conn: Any, src: _Source, member: _Member, schema: str, progress: bool, insert_table: Any) -> int:
    with src.open(member) as handle:
        header = _header(handle)
    if not header:
        raise UsageError(f"{member.name} has no header row.")
    for column in header:
        check_identifier(column.lower(), f"column name (in {member.name})")
    types = _column_types(member.table, header, src.declared.get(member.table) if src.declared else None)
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                   timestamp_parsers=["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", pacsv.ISO8601])
    read = pacsv.ReadOptions(block_size=BLOCK_SIZE)
    total = 0
    created = False
    with src.open(member) as handle:
        try:
            reader = pacsv.open_csv(handle, read_options=read, convert_options=convert)
            for batch in reader:
                batch = _lower_names(_fix_inferred(batch) if types is None else batch)
                if not created:
                    _create_table(conn, schema, member.table, batch.schema, batch)
                    created = True
                insert_table(conn, schema, member.table, batch, progress=progress)
                total += batch.num_rows
        except pa.ArrowInvalid as exc:
            raise UsageError(f"Cannot read {member.name} as table {member.table}: {exc}") from None
    if not created:  # a header-only file: make the empty table from the declared (or name-implied) types
        fields = [pa.field(c.lower(), (types or {}).get(c, omop_type(c))) for c in header]
        _create_table(conn, schema, member.table, pa.schema(fields), None)
    return total


LONG_TEXT_COLUMNS = frozenset({"note_text", "radiology_note", "source_description", "lexical_variant"})
"""OMOP text columns that are VARCHAR(MAX) in the CDM DDL."""


def _ohdsi_type(field: pa.Field, batch: pa.RecordBatch | None) -> str:
    kind = field.type
    if pa.types.is_integer(kind):
        return "BIGINT"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "FLOAT"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_timestamp(kind):
        return "DATETIME"
    if pa.types.is_boolean(kind):
        return "INT"
    longest = 0
    if batch is not None and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        longest = pc.max(pc.binary_length(batch.column(field.name))).as_py() or 0
    # The first block fixes the width for the whole file: leave room (OMOP's widest non-text column is 2000).
    return "VARCHAR(MAX)" if field.name in LONG_TEXT_COLUMNS or longest > 2000 else "VARCHAR(2000)"


def _create_table(conn: Any, schema: str, table: str, arrow_schema: pa.Schema, batch: pa.RecordBatch | None
                  ) -> None:
    """CREATE TABLE from the Arrow schema (OHDSI SQL types, translated for the connection's dialect)."""
    columns = ",\n  ".join(f"{f.name} {_ohdsi_type(f, batch)} NULL" for f in arrow_schema)
    execute_sql(conn, f"CREATE TABLE {schema}.{table} (\n  {columns}\n);")


__all__ = ["load_cdm_csv", "omop_type"]
