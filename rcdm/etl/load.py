"""Load one staged batch into the R-CDM tables in ONE transaction; ``finalize`` once per run.

``run_etl`` joins consecutive staged batches (``group_batches``: ``commit_rows`` files, 131,072 by default)
and loads each group with one ``load_batch``, so "batch" below is such a group. The per-batch work is
proportional to the batch, never to the tables (no recount, no renumbering, no scan of ``radiology_image``
beyond lookups of the batch's own ids). ``load_batch``, inside ``rcdm.db.transaction``:

1. hand the batch's loaded ``(radiology_image_id, radiology_occurrence_id)`` to the lookups (``keys_in``:
   DuckDB reads the Arrow table in place; elsewhere they are bulk-inserted into ``rcdm_etl_stage_key`` and
   deleted again in the same transaction, so they are never committed);
2. ask which of those images and studies exist already (one query each, joined to the keys) and decide in
   Python (``decide``): an instance whose study belongs to another person is quarantined
   (``study_person_conflict``); an SOP instance already loaded from another path, or met earlier in the batch,
   is a ``duplicate``; the study rows are merged order-independently (earliest valid date/datetime, sorted
   distinct modalities, smallest manufacturer and protocol_source_value, the stored source value, else the
   batch's smallest: every instance of a study carries the same hashed Study UID);
3. only if the batch reloads images already stored (same SOP instance, same path): delete those rows first;
4. bulk-insert the loaded images straight into ``radiology_image``, numbered within the batch
   (``series_numbers``: provisional ``series_total_number`` / ``series_serial_number``, already final for a
   series the batch holds whole), and the batch's (study, series) pairs into ``rcdm_etl_pending`` (the
   marker ``finalize`` works from; kept across batches and runs until a finalize has run);
5. bulk-insert the new studies into ``radiology_occurrence`` (``protocol_concept_id`` 0; counts of the
   batch's own images, provisional); only if the batch adds images to studies already stored: stage their
   merged values in ``rcdm_etl_stage_study``, merge them (``EtlLoadBatch.sql``) and empty the work table;
6. only if some of the batch's files were recorded by an earlier run: delete their ``rcdm_etl_file`` rows;
   bulk-insert one ``rcdm_etl_file`` row per file (keyed by the first 63 bits of its keyed path hash:
   ``transform.file_ids``);
7. commit.

A typical batch is 6 statements on DuckDB (4 bulk inserts of the batch's own rows, 2 lookups), 8 elsewhere.
On an empty schema ``run_etl`` loads without the secondary indexes and builds them after the last batch
(``deferred_indexes``). ``finalize`` (``EtlFinalize.sql``, one transaction, set-based, one pass) runs after
the last batch of a run and at the start of every run (it repairs a run killed between a batch and its
finalize): it recounts ``count_of_images`` / ``count_of_series`` of the pending studies and renumbers the
pending series (``series_total_number``, ``series_serial_number`` in InstanceNumber order, missing numbers
last, ties broken by the hashed SOP UID), writing only the rows whose values change (the series a batch
boundary split, the studies loaded over several batches or runs), then empties ``rcdm_etl_pending``. A kill
at any moment leaves either the state before or after a batch (or the finalize), and the next run's opening
finalize completes it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rcdm.db import (
    Connection,
    execute_sql,
    execute_statements,
    existing_indexes_and_constraints,
    insert_table,
    query_statement,
    transaction,
)
from rcdm.db.backend import LoadSetting
from rcdm.etl.transform import STAGE_SCHEMA, file_ids
from rcdm.resources import read_template

if TYPE_CHECKING:
    from rcdm.ddl import DdlStatement

T = TypeVar("T")

STAGE_IMAGE_COLUMNS = (
    "seq", "file_key", "file_path", "file_size", "file_mtime_ns", "status", "reason", "person_id",
    "radiology_image_id", "radiology_occurrence_id", "radiology_series_id", "body_part_source_value",
    "laterality_concept_id", "laterality_source_value", "anatomical_plane_concept_id",
    "anatomical_plane_source_value", "series_type_concept_id", "series_type_source_value",
    "image_resolution_rows", "image_resolution_columns", "ct_slice_thickness", "modality", "instance_number",
    "radiology_series_source_value", "radiology_image_source_value",
)
"""Columns of the staged rows the load uses (besides the study-level ones ``decide`` reads)."""

IMAGE_COLUMNS = (
    "radiology_image_id", "radiology_occurrence_id", "radiology_series_id", "file_path", "body_part_source_value",
    "laterality_concept_id", "laterality_source_value", "anatomical_plane_concept_id",
    "anatomical_plane_source_value", "series_type_concept_id", "series_type_source_value",
    "image_resolution_rows", "image_resolution_columns", "ct_slice_thickness", "modality", "instance_number",
    "radiology_series_source_value", "radiology_image_source_value",
)
"""Columns of ``radiology_image`` a batch writes (series_total_number / series_serial_number: NULL, by finalize)."""

FILE_COLUMNS = ("file_key", "file_path", "file_size", "file_mtime_ns", "status", "reason", "radiology_image_id",
                "run_id", "processed_at", "header_checksum", "study_date", "study_datetime", "manufacturer",
                "protocol_source_value")

STUDY_SCHEMA = pa.schema([
    ("radiology_occurrence_id", pa.int64()),
    ("person_id", pa.int64()),
    ("radiology_occurrence_date", pa.date32()),
    ("radiology_occurrence_datetime", pa.timestamp("us")),
    ("modality", pa.string()),
    ("manufacturer", pa.string()),
    ("protocol_source_value", pa.string()),
    ("radiology_occurrence_source_value", pa.string()),
    ("is_new", pa.int32()),
])


@dataclass
class BatchOutcome:
    """What one batch did: the final status and reason of each file (Arrow strings, in the batch's row order:
    tens of thousands of Python strings would cost more than the batch's inserts), studies new and touched."""

    statuses: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    reasons: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    new_studies: int = 0
    touched_studies: int = 0


@dataclass
class FinalizeOutcome:
    """What ``finalize`` did: studies recounted, image rows renumbered, seconds."""

    studies: int = 0
    images: int = 0
    seconds: float = 0.0


@functools.lru_cache(maxsize=64)
def _translated(template: str, dialect: str, schema: str, temp_emulation_schema: str | None,
                parameters: tuple[tuple[str, str], ...] = ()) -> tuple[str, ...]:
    """A template rendered and translated once per run target (translation costs more than a small batch)."""
    from rcdm.sql import render, split_sql, translate

    sql = read_template(template) if template.endswith(".sql") else template
    rendered = render(sql, cdm_database_schema=schema, **dict(parameters))
    translated = translate(rendered, dialect, temp_emulation_schema=temp_emulation_schema)
    return tuple(st for st in split_sql(translated) if st.strip())


def _statements(conn: Connection, template: str, schema: str, **parameters: str) -> tuple[str, ...]:
    return _translated(template, conn.dialect, schema, conn.temp_emulation_schema, tuple(sorted(parameters.items())))


@contextlib.contextmanager
def load_settings(conn: Connection) -> Iterator[None]:
    """The backend's session setting for loading many batches (``Backend.load_setting``: DuckDB's checkpoint
    threshold, PostgreSQL's ``synchronous_commit``), restored afterwards."""
    setting = conn.backend.load_setting
    if setting is None:
        yield
        return
    raw = conn.driver_connection()
    (before,) = raw.execute(f"SELECT current_setting('{setting.name}')").fetchone()
    _set(raw, setting, setting.value)
    try:
        yield
    finally:
        try:
            _set(raw, setting, before)
        except Exception:  # noqa: BLE001 - never hide the run's own error or skip its clean-up for a setting
            pass


def _set(raw: Any, setting: LoadSetting, value: str) -> None:
    raw.execute(f"SET {setting.name} = '{value}'")
    if setting.commit:
        raw.commit()  # psycopg opens a transaction with the SET: end it, as the DuckDB driver does by itself


_WRITTEN_TABLES = ("radiology_image", "radiology_occurrence", "rcdm_etl_file")
"""The tables a load writes, whose secondary indexes ``deferred_indexes`` builds at the end."""


@contextlib.contextmanager
def deferred_indexes(conn: Connection, schema: str) -> Iterator[bool]:
    """Load an empty schema without the secondary indexes of the tables batches write; build them at the end.

    One build from sorted data costs less than updating every index on every insert (the primary keys stay:
    the batches look their ids up). Only when the three tables are empty (on a loaded schema a rebuild would
    cost more than it saves) and where the backend says so (``Backend.deferred_indexes``: measured with
    ``bench_load.py``, PostgreSQL ~20 % faster, DuckDB ~5 %); yields whether it deferred. An error in the
    block builds the indexes before it propagates; a killed run leaves them missing, and the next run's
    ``create_tables`` (its first step) builds them. The rows are the same either way.
    """
    if not conn.backend.deferred_indexes or not _all_empty(conn, schema):
        yield False
        return
    indexes = _secondary_indexes(schema)
    with transaction(conn):
        execute_statements(conn, [f"DROP INDEX IF EXISTS {schema}.{st.name}" for st in indexes])
    try:
        yield True
    except BaseException:
        with contextlib.suppress(Exception):  # the block's own error is the one to report
            _build_indexes(conn, schema)
        raise
    _build_indexes(conn, schema)


def _secondary_indexes(schema: str) -> list[DdlStatement]:
    from rcdm.ddl import ddl_statements

    return [st for model in ("rcdm", "etl") for st in ddl_statements(schema, model)
            if st.kind == "index" and st.table in _WRITTEN_TABLES]


def _build_indexes(conn: Connection, schema: str) -> None:
    """Build the missing secondary indexes of the written tables (a run refused by the lock may have built
    some, as its ``create_tables`` does): one listing per table, not ``create_tables`` over both models."""
    indexes = _secondary_indexes(schema)
    with transaction(conn):
        for table in _WRITTEN_TABLES:
            have = {n.lower() for n in existing_indexes_and_constraints(conn, schema, table)}
            for st in indexes:
                if st.table == table and st.name.lower() not in have:
                    execute_sql(conn, st.sql)


_ANY_ROW = "SELECT TOP 1 1 AS found FROM @cdm_database_schema.@table;"


def is_empty(conn: Connection, schema: str, table: str) -> bool:
    """Whether ``table`` holds no row (a one-row probe, never a count)."""
    return query_statement(conn, _statements(conn, _ANY_ROW, schema, table=table)[0]).empty


def _all_empty(conn: Connection, schema: str) -> bool:
    """Whether the tables a load writes hold no row."""
    return all(is_empty(conn, schema, table) for table in _WRITTEN_TABLES)


def create_work_tables(conn: Connection, schema: str) -> None:
    execute_statements(conn, _statements(conn, "sql/sql_server/EtlCreateWorkTables.sql", schema))


def clear_work_tables(conn: Connection, schema: str) -> None:
    execute_statements(conn, _statements(conn, "sql/sql_server/EtlClearWorkTables.sql", schema))


_FILE_KEY_PROBE = "SELECT TOP 1 file_key FROM @cdm_database_schema.rcdm_etl_file;"


def upgrade_file_keys(conn: Connection, schema: str, created: bool = False) -> bool:
    """Give ``rcdm_etl_file`` its BIGINT keys where an older rcdm wrote 64-character hex keys; True if it did.

    Converted in place, in one transaction (``EtlUpgradeFileKeys.sql``; the key is the one ``file_ids`` makes
    of the same digest), so the next run still recognises every file an earlier run recorded. Whether the keys
    are text is told by a stored row; an empty table tells nothing, so it is made again (nothing to lose).
    Run it under the run's lock, after ``create_tables(model="etl")`` and ``create_work_tables``. ``created``:
    the caller has just made ``rcdm_etl_file`` (BIGINT keys already), so there is nothing to probe or remake.
    """
    from rcdm.ddl import create_tables

    _refuse_half_upgrade(conn, schema)
    if created:
        return False
    (probe,) = _statements(conn, _FILE_KEY_PROBE, schema)
    keys = query_statement(conn, probe)["file_key"]
    if len(keys) and not isinstance(keys.iloc[0], str):
        return False
    with transaction(conn):
        execute_statements(conn, _statements(conn, "sql/sql_server/EtlUpgradeFileKeys.sql", schema, step="copy"))
        create_tables(conn, schema, model="etl")
        create_work_tables(conn, schema)
        execute_statements(conn, _statements(conn, "sql/sql_server/EtlUpgradeFileKeys.sql", schema, step="restore"))
    return bool(len(keys))


ADDED_COLUMNS = {"rcdm_etl_file": (("header_checksum", "BIGINT"), ("study_date", "DATE"),
                                   ("study_datetime", "DATETIME"), ("manufacturer", "VARCHAR(64)"),
                                   ("protocol_source_value", "VARCHAR(255)"))}
"""Columns later rcdm versions added to tables an older one created (``upgrade_columns`` adds them, NULL)."""


def upgrade_columns(conn: Connection, schema: str) -> list[str]:
    """Add the ``ADDED_COLUMNS`` a table made by an older rcdm lacks (nullable, so no row changes); their names."""
    from rcdm.db import query_sql

    added = []
    for table, columns in ADDED_COLUMNS.items():
        have = {c.lower() for c in query_sql(conn, f"SELECT * FROM @s.{table} WHERE 1 = 0;", s=schema).columns}
        for name, kind in columns:
            if name not in have:
                execute_statements(conn, _statements(conn, f"ALTER TABLE @cdm_database_schema.{table} ADD {name} "
                                                           f"{kind} NULL;", schema))
                added.append(f"{table}.{name}")
    return added


def _refuse_half_upgrade(conn: Connection, schema: str) -> None:
    """Stop with what to do when a conversion was cut short: possible only where DDL is not transactional
    (Oracle, MySQL-likes), where each DDL statement commits on its own."""
    from rcdm.db import exists_table
    from rcdm.errors import DatabaseError

    if exists_table(conn, schema, "rcdm_etl_file_upgrade"):
        raise DatabaseError(
            f"{schema}.rcdm_etl_file_upgrade exists: a run stopped while it converted the file keys of "
            f"{schema}.rcdm_etl_file to BIGINT. If {schema}.rcdm_etl_file still exists with its text keys, drop "
            f"{schema}.rcdm_etl_file_upgrade and run again; otherwise insert its rows into {schema}.rcdm_etl_file "
            "(same columns), drop it and run again.")


def _py(value: Any) -> Any:
    """A database value as a plain Python value (None for NULL/NaN/NaT; Timestamps as datetimes)."""
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().replace(tzinfo=None)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def _as_date(value: Any) -> dt.date | None:
    value = _py(value)
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def _existing(conn: Connection, statement: str, key: str) -> dict[int, dict[str, Any]]:
    """Rows of ``statement`` (joined to the batch's keys: ``keys_in``) by ``key``."""
    frame = query_statement(conn, statement)
    return {int(record[key]): record for record in frame.to_dict("records")}


_EXISTING_IMAGES = (
    "SELECT i.radiology_image_id, i.file_path, i.radiology_series_id, i.radiology_occurrence_id "
    "FROM @cdm_database_schema.radiology_image i "
    "WHERE i.radiology_image_id IN (SELECT k.radiology_image_id FROM @cdm_database_schema.rcdm_etl_stage_key k);")
_EXISTING_STUDIES = (
    "SELECT o.radiology_occurrence_id, o.person_id, o.radiology_occurrence_date, o.radiology_occurrence_datetime, "
    "o.modality, o.manufacturer, o.protocol_source_value, o.radiology_occurrence_source_value "
    "FROM @cdm_database_schema.radiology_occurrence o WHERE o.radiology_occurrence_id IN ("
    "SELECT k.radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_stage_key k);")
_DELETE_IMAGES = ("DELETE FROM @cdm_database_schema.radiology_image WHERE radiology_image_id IN ("
                  "SELECT k.radiology_image_id FROM @cdm_database_schema.rcdm_etl_stage_key k);")
_DELETE_FILES = ("DELETE FROM @cdm_database_schema.rcdm_etl_file WHERE file_key IN ("
                 "SELECT k.file_key FROM @cdm_database_schema.rcdm_etl_stage_file k);")
_CLEAR_STUDIES = "DELETE FROM @cdm_database_schema.rcdm_etl_stage_study;"
_LOADED_BY = ("SELECT f.radiology_image_id FROM @cdm_database_schema.rcdm_etl_file f WHERE f.status = 'loaded' "
              "AND f.file_key IN (SELECT k.file_key FROM @cdm_database_schema.rcdm_etl_stage_file k)")
_FORGET = (
    # the (study, series) of each image the files loaded: finalize recounts them, removes emptied studies
    "INSERT INTO @cdm_database_schema.rcdm_etl_pending (radiology_occurrence_id, radiology_series_id) "
    "SELECT i.radiology_occurrence_id, i.radiology_series_id FROM @cdm_database_schema.radiology_image i "
    f"WHERE i.radiology_image_id IN ({_LOADED_BY});",
    # ... and their studies merge their values again from the files they keep
    "INSERT INTO @cdm_database_schema.rcdm_etl_restudy (radiology_occurrence_id) "
    "SELECT DISTINCT i.radiology_occurrence_id FROM @cdm_database_schema.radiology_image i "
    f"WHERE i.radiology_image_id IN ({_LOADED_BY});",
    # files that were duplicates of those images are read again (one of them may now be the instance's file)
    "DELETE FROM @cdm_database_schema.rcdm_etl_file WHERE status = 'duplicate' "
    f"AND radiology_image_id IN ({_LOADED_BY});",
    f"DELETE FROM @cdm_database_schema.radiology_image WHERE radiology_image_id IN ({_LOADED_BY});",
    "DELETE FROM @cdm_database_schema.rcdm_etl_file WHERE file_key IN ("
    "SELECT k.file_key FROM @cdm_database_schema.rcdm_etl_stage_file k);",
)
"""What ``forget_files`` runs, in order, with the files' keys in ``rcdm_etl_stage_file``."""


def forget_files(conn: Connection, schema: str, keys: pa.Array) -> None:
    """Remove what earlier runs made of these files (``rcdm_etl_file.file_key``): the image rows they loaded
    (their studies recounted, emptied studies removed, by ``finalize``: they are marked pending), the rows of
    files that were duplicates of those images (read again) and the files' own rows. Joins the caller's
    transaction (or runs in its own); a file without a row changes nothing."""
    if not len(keys):
        return
    with transaction(conn), keys_in(conn, schema, "rcdm_etl_stage_file", pa.table({"file_key": keys})) as source:
        execute_statements(conn, [keyed(conn, schema, st, source, "rcdm_etl_stage_file") for st in _FORGET])


_CHECKS = {
    "files_without_image": (
        "SELECT COUNT(*) AS n FROM @cdm_database_schema.rcdm_etl_file f WHERE f.status IN ('loaded', 'duplicate') "
        "AND NOT EXISTS (SELECT 1 FROM @cdm_database_schema.radiology_image i "
        "WHERE i.radiology_image_id = f.radiology_image_id);"),
    "images_without_file": (
        "SELECT COUNT(*) AS n FROM @cdm_database_schema.radiology_image i WHERE NOT EXISTS (SELECT 1 FROM "
        "@cdm_database_schema.rcdm_etl_file f WHERE f.radiology_image_id = i.radiology_image_id "
        "AND f.status = 'loaded');"),
    "studies_miscounted": (
        "SELECT COUNT(*) AS n FROM @cdm_database_schema.radiology_occurrence o WHERE o.count_of_images IS NULL "
        "OR o.count_of_images <> (SELECT COUNT(*) FROM @cdm_database_schema.radiology_image i "
        "WHERE i.radiology_occurrence_id = o.radiology_occurrence_id);"),
    "pending_finalize": "SELECT COUNT(*) AS n FROM @cdm_database_schema.rcdm_etl_pending;",
}
"""``verify``'s checks: each counts the rows where the ETL's bookkeeping and the tables disagree."""

_REPAIRS = (
    # files recorded as loaded (or duplicates) whose image row is gone (tables dropped, rows deleted): read again
    "DELETE FROM @cdm_database_schema.rcdm_etl_file WHERE status IN ('loaded', 'duplicate') AND radiology_image_id "
    "NOT IN (SELECT i.radiology_image_id FROM @cdm_database_schema.radiology_image i);",
    # studies whose count differs from their images: recounted by the finalize that follows
    "INSERT INTO @cdm_database_schema.rcdm_etl_pending (radiology_occurrence_id, radiology_series_id) "
    "SELECT i.radiology_occurrence_id, i.radiology_series_id FROM @cdm_database_schema.radiology_image i "
    "WHERE i.radiology_occurrence_id IN (SELECT o.radiology_occurrence_id FROM "
    "@cdm_database_schema.radiology_occurrence o WHERE o.count_of_images IS NULL OR o.count_of_images <> ("
    "SELECT COUNT(*) FROM @cdm_database_schema.radiology_image c "
    "WHERE c.radiology_occurrence_id = o.radiology_occurrence_id));",
)


def verify(conn: Connection, schema: str) -> dict[str, int]:
    """Where the ETL's bookkeeping no longer matches the tables (``_CHECKS``; all 0 when it does). Read only."""
    return {name: int(query_statement(conn, _statements(conn, sql, schema)[0])["n"].iloc[0])
            for name, sql in _CHECKS.items()}


def repair(conn: Connection, schema: str) -> dict[str, int]:
    """Make the bookkeeping match the tables again, in one transaction (``run_etl`` does it first, before its
    opening ``finalize``): files whose image row is missing are forgotten (this run reads them again), studies
    whose count is wrong are marked for recounting. Returns what ``verify`` found before."""
    found = verify(conn, schema)
    if found["files_without_image"] or found["studies_miscounted"]:
        with transaction(conn):
            execute_statements(conn, [st for sql in _REPAIRS for st in _statements(conn, sql, schema)])
    return found
_PENDING = ("SELECT (SELECT COUNT(*) FROM @cdm_database_schema.rcdm_etl_stage_count) AS studies, "
            "(SELECT COUNT(*) FROM @cdm_database_schema.rcdm_etl_stage_order) AS images;")


@contextlib.contextmanager
def keys_in(conn: Connection, schema: str, work_table: str, keys: pa.Table) -> Iterator[str]:
    """``keys`` as the rows of ``work_table`` for the block's statements; yields the name to read them by.

    DuckDB reads the Arrow table in place (a view registered on the connection: nothing written). Elsewhere the
    keys are bulk-inserted into the (empty) work table and deleted again after the block: inside
    ``rcdm.db.transaction`` they are never committed, and an error rolls them back. Either way far cheaper
    than an IN-list of thousands of literals. (PostgreSQL BIGINT arrays, ``= ANY`` or ``UNNEST``, measured no
    faster on analyzed tables and 2.5x slower on the fresh tables of a first load: ``bench_load.py``.)
    """
    if conn.backend.arrow_views:
        raw = conn.driver_connection()
        view = f"rcdm_keys_{uuid.uuid4().hex}"
        raw.register(view, keys)
        try:
            yield view
        finally:
            raw.unregister(view)
        return
    insert_table(conn, schema, work_table, keys)
    yield f"{schema}.{work_table}"
    execute_statements(conn, _statements(conn, f"DELETE FROM @cdm_database_schema.{work_table};", schema))


def keyed(conn: Connection, schema: str, template: str, source: str, work_table: str) -> str:
    """``template``'s statement reading the keys from ``source`` (``keys_in``) instead of ``work_table``."""
    (statement,) = _statements(conn, template, schema)
    table = f"{schema}.{work_table}"
    if table not in statement:
        raise ValueError(f"the statement does not read {table}")
    return statement.replace(table, source)


def _loaded(table: pa.Table, statuses: pa.Array | pa.ChunkedArray) -> pa.Table:
    """The rows whose status is ``loaded`` (the table itself, not a copy, when they all are: the usual case)."""
    mask = pc.fill_null(pc.equal(statuses, "loaded"), False)
    return table if pc.all(mask).as_py() else table.filter(mask)


def _min(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def decide(table: pa.Table, images: dict[int, dict[str, Any]], studies: dict[int, dict[str, Any]]
           ) -> tuple[list[str], list[str | None], pa.Table]:
    """Final statuses and reasons of the batch's files, and the merged study rows (pure; see module doc)."""
    statuses, reasons, study_table = _decide(table, images, studies)
    return statuses.to_pylist(), reasons.to_pylist(), study_table


def _decide(table: pa.Table, images: dict[int, dict[str, Any]], studies: dict[int, dict[str, Any]]
            ) -> tuple[pa.Array, pa.Array, pa.Table]:
    """``decide`` with the statuses and reasons as Arrow arrays: vectorised when the batch has no duplicate and
    no person conflict (the usual case), else row by row; both give the same result."""
    fast = _decide_vectorised(table, images, studies)
    if fast is not None:
        return fast
    statuses, reasons, study_table = _decide_rows(table, images, studies)
    return pa.array(statuses, pa.string()), pa.array(reasons, pa.string()), study_table


_DECIDE_COLUMNS = ("seq", "person_id", "radiology_image_id", "radiology_occurrence_id", "file_path", "study_date",
                   "study_datetime", "modality", "manufacturer", "protocol_source_value",
                   "radiology_occurrence_source_value")
"""The columns ``_decide_vectorised`` reads (selected before any copy of the batch's rows)."""


def _decide_vectorised(table: pa.Table, images: dict[int, dict[str, Any]], studies: dict[int, dict[str, Any]]
                       ) -> tuple[pa.Array, pa.Array, pa.Table] | None:
    """None when the batch needs the row-by-row rules: a loaded SOP instance stored from another path or met
    twice in the batch, a study with two persons (in the batch, or against the stored row), a missing person."""
    statuses = table.column("status").combine_chunks()
    reasons = table.column("reason").combine_chunks()
    if table.num_rows == 0:
        return statuses, reasons, STUDY_SCHEMA.empty_table()
    loaded = _loaded(table.select(list(_DECIDE_COLUMNS)), statuses)
    if loaded.num_rows == 0:
        return statuses, reasons, STUDY_SCHEMA.empty_table()
    if loaded.column("person_id").null_count or loaded.column("radiology_image_id").null_count:
        return None
    image_ids = loaded.column("radiology_image_id")
    if not _distinct(image_ids):
        return None  # the same SOP instance twice in the batch
    if images:
        stored = pc.is_in(image_ids, pa.array(list(images), pa.int64()))
        if pc.any(stored).as_py():
            rows = loaded.filter(stored).select(["radiology_image_id", "file_path"]).to_pylist()
            if any(images[r["radiology_image_id"]].get("file_path") != r["file_path"] for r in rows):
                return None  # stored from another path: duplicates
    groups = loaded.group_by("radiology_occurrence_id").aggregate([  # order-independent: any thread order
        ("person_id", "min"), ("person_id", "max"), ("study_date", "min"), ("study_datetime", "min"),
        ("manufacturer", "min"), ("protocol_source_value", "min"), ("radiology_occurrence_source_value", "min"),
        ("modality", "distinct"),
    ])
    if not pc.all(pc.equal(groups.column("person_id_min"), groups.column("person_id_max"))).as_py():
        return None  # a study with two persons in the batch
    ids = groups.column("radiology_occurrence_id").to_pylist()
    persons = groups.column("person_id_min").to_pylist()
    stored_at = [i for i, sid in enumerate(ids) if sid in studies]
    if any(int(studies[ids[i]]["person_id"]) != persons[i] for i in stored_at):
        return None  # the study belongs to another person
    modalities = [{v for v in values if v} for values in groups.column("modality_distinct").to_pylist()]
    study_table = pa.table({
        "radiology_occurrence_id": groups.column("radiology_occurrence_id"),
        "person_id": groups.column("person_id_min"),
        "radiology_occurrence_date": groups.column("study_date_min"),
        "radiology_occurrence_datetime": groups.column("study_datetime_min"),
        "modality": pa.array([_modality_text(m) for m in modalities], pa.string()),
        "manufacturer": groups.column("manufacturer_min"),
        "protocol_source_value": groups.column("protocol_source_value_min"),
        "radiology_occurrence_source_value": groups.column("radiology_occurrence_source_value_min"),
        "is_new": pa.repeat(pa.scalar(1, pa.int32()), len(ids)),
    }, schema=STUDY_SCHEMA)
    if stored_at:
        study_table = _merge_stored(study_table, stored_at, studies, modalities)
    return statuses, reasons, study_table.sort_by("radiology_occurrence_id")


def _modality_text(modalities: set[str]) -> str | None:
    """A study's modalities as stored: sorted, comma-separated, at most 50 characters; None when there are none."""
    return ",".join(sorted(modalities))[:50] or None


def _merge_stored(study_table: pa.Table, rows: list[int], studies: dict[int, dict[str, Any]],
                  modalities: list[set[str]]) -> pa.Table:
    """The batch's values of the studies already stored (at ``rows``) merged with the stored ones: earliest
    date/datetime, union of modalities, smallest manufacturer and protocol, the stored source value first."""
    columns = {name: study_table.column(name).to_pylist() for name in STUDY_SCHEMA.names}
    for i in rows:
        stored = studies[columns["radiology_occurrence_id"][i]]
        merged = {
            "radiology_occurrence_date": _min([_as_date(stored["radiology_occurrence_date"]),
                                               columns["radiology_occurrence_date"][i]]),
            "radiology_occurrence_datetime": _min([_py(stored["radiology_occurrence_datetime"]),
                                                   columns["radiology_occurrence_datetime"][i]]),
            "modality": _modality_text(modalities[i] | {v for v in (_py(stored["modality"]) or "").split(",") if v}),
            "manufacturer": _min([_py(stored["manufacturer"]), columns["manufacturer"][i]]),
            "protocol_source_value": _min([_py(stored["protocol_source_value"]), columns["protocol_source_value"][i]]),
            "radiology_occurrence_source_value": _py(stored["radiology_occurrence_source_value"])
            or columns["radiology_occurrence_source_value"][i],
            "is_new": 0,
        }
        for name, value in merged.items():
            columns[name][i] = value
    return pa.table(columns, schema=STUDY_SCHEMA)


def _distinct(column: pa.ChunkedArray) -> bool:
    """Whether no value occurs twice (a sort: several times faster than hashing for 64-bit ids)."""
    numbers = np.sort(column.to_numpy())
    return bool((numbers[1:] != numbers[:-1]).all())


def _decide_rows(table: pa.Table, images: dict[int, dict[str, Any]], studies: dict[int, dict[str, Any]]
                 ) -> tuple[list[str], list[str | None], pa.Table]:
    """``decide`` row by row: the general case (duplicates, person conflicts)."""
    needed = ("seq", "status", "reason", "radiology_occurrence_id", "person_id", "radiology_image_id", "file_path",
              "study_date", "study_datetime", "modality", "manufacturer", "protocol_source_value",
              "radiology_occurrence_source_value")
    col = {name: table.column(name).to_pylist() for name in needed}  # column-wise: far cheaper than rows
    statuses = list(col["status"])
    reasons = list(col["reason"])
    order = sorted(range(len(statuses)), key=col["seq"].__getitem__)
    # person conflicts: the study's person is the stored one, else that of its first instance in the batch
    owner: dict[int, int] = {sid: int(s["person_id"]) for sid, s in studies.items()}
    for i in order:
        if statuses[i] != "loaded":
            continue
        study = col["radiology_occurrence_id"][i]
        person = owner.setdefault(study, col["person_id"][i])
        if col["person_id"][i] != person:
            statuses[i], reasons[i] = "quarantined", "study_person_conflict"
    # duplicates: the same SOP instance already stored from another path, or earlier in this batch
    first: dict[int, str] = {}
    for i in order:
        if statuses[i] != "loaded":
            continue
        image = col["radiology_image_id"][i]
        stored = images.get(image)
        if stored is not None and stored["file_path"] != col["file_path"][i]:
            statuses[i], reasons[i] = "duplicate", f"duplicate: same SOP instance as {stored['file_path']}"[:255]
        elif image in first:
            statuses[i], reasons[i] = "duplicate", f"duplicate: same SOP instance as {first[image]}"[:255]
        else:
            first[image] = col["file_path"][i]
    # studies: merge the stored row with the batch's loaded instances
    merged: dict[int, dict[str, Any]] = {}
    for i in order:
        if statuses[i] != "loaded":
            continue
        sid = col["radiology_occurrence_id"][i]
        m = merged.get(sid)
        if m is None:
            stored = studies.get(sid)
            m = merged[sid] = {
                "person_id": owner[sid], "dates": [], "datetimes": [], "modalities": set(), "manufacturers": [],
                "protocols": [], "sources": [], "stored_source": None, "is_new": stored is None,
            }
            if stored is not None:
                m["dates"].append(_as_date(stored["radiology_occurrence_date"]))
                m["datetimes"].append(_py(stored["radiology_occurrence_datetime"]))
                m["modalities"].update(v for v in (_py(stored["modality"]) or "").split(",") if v)
                m["manufacturers"].append(_py(stored["manufacturer"]))
                m["protocols"].append(_py(stored["protocol_source_value"]))
                m["stored_source"] = _py(stored["radiology_occurrence_source_value"])
        m["dates"].append(col["study_date"][i])
        m["datetimes"].append(col["study_datetime"][i])
        if col["modality"][i]:
            m["modalities"].add(col["modality"][i])
        m["manufacturers"].append(col["manufacturer"][i])
        m["protocols"].append(col["protocol_source_value"][i])
        m["sources"].append(col["radiology_occurrence_source_value"][i])
    study_rows = {name: [] for name in STUDY_SCHEMA.names}
    for sid in sorted(merged):
        m = merged[sid]
        values = {
            "radiology_occurrence_id": sid, "person_id": m["person_id"],
            "radiology_occurrence_date": _min(m["dates"]), "radiology_occurrence_datetime": _min(m["datetimes"]),
            "modality": _modality_text(m["modalities"]),
            "manufacturer": _min(m["manufacturers"]), "protocol_source_value": _min(m["protocols"]),
            "radiology_occurrence_source_value": m["stored_source"] or _min(m["sources"]), "is_new": int(m["is_new"]),
        }
        for name, value in values.items():
            study_rows[name].append(value)
    return statuses, reasons, pa.table(study_rows, schema=STUDY_SCHEMA)


def load_batch(conn: Connection, schema: str, table: pa.Table, run_id: int,
               replace_files: bool = True) -> BatchOutcome:
    """Load one staged batch (``transform.STAGE_SCHEMA`` with person_id and parent statuses) in one transaction.

    The batch may be several staged batches joined by ``join_batches`` (``run_etl`` loads ``commit_rows`` files
    per call). ``replace_files=False`` says none of the batch's files has a ``rcdm_etl_file`` row yet (the run
    knows it from its unchanged-file check), which saves the lookups of ``forget_files``; True is always correct:
    the rows an earlier run made of these files (changed since) are removed first, in the same transaction.
    """
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    with transaction(conn):
        if replace_files and table.num_rows:
            forget_files(conn, schema, file_ids(table.column("file_key")))
        images, studies = _stored(conn, schema, table)
        statuses, reasons, study_table = _decide(table, images, studies)
        final = table.set_column(table.schema.get_field_index("status"), "status", statuses)
        final = final.set_column(final.schema.get_field_index("reason"), "reason", reasons)
        loaded = _loaded(final.select(list(IMAGE_COLUMNS)), statuses)
        # reloads of the same file (same SOP instance, same path) replace their row
        reloaded = loaded.filter(pc.is_in(loaded.column("radiology_image_id"), pa.array(list(images), pa.int64())))
        if reloaded.num_rows:
            with keys_in(conn, schema, "rcdm_etl_stage_key", reloaded.select(list(_KEY_COLUMNS))) as source:
                execute_statements(conn, [keyed(conn, schema, _DELETE_IMAGES, source, "rcdm_etl_stage_key")])
        if loaded.num_rows:
            _insert_images(conn, schema, loaded, [images[i] for i in reloaded.column("radiology_image_id").to_pylist()])
        if study_table.num_rows:
            _write_studies(conn, schema, study_table, loaded)
        if final.num_rows:
            _write_files(conn, schema, final, run_id, now, replace_files)
    new_count = int(pc.sum(study_table.column("is_new")).as_py() or 0) if study_table.num_rows else 0
    return BatchOutcome(statuses, reasons, new_count, study_table.num_rows)


_KEY_COLUMNS = ("radiology_image_id", "radiology_occurrence_id")
"""The columns of ``rcdm_etl_stage_key``."""


def _stored(conn: Connection, schema: str, table: pa.Table
            ) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """The stored images and studies of the batch's loaded instances, by id (none when nothing is loaded)."""
    if not table.num_rows:
        return {}, {}
    keys = _loaded(table.select(list(_KEY_COLUMNS)), table.column("status"))
    if not keys.num_rows:
        return {}, {}
    with keys_in(conn, schema, "rcdm_etl_stage_key", keys) as source:
        return (_existing(conn, keyed(conn, schema, _EXISTING_IMAGES, source, "rcdm_etl_stage_key"),
                          "radiology_image_id"),
                _existing(conn, keyed(conn, schema, _EXISTING_STUDIES, source, "rcdm_etl_stage_key"),
                          "radiology_occurrence_id"))


def _insert_images(conn: Connection, schema: str, loaded: pa.Table, replaced: list[dict[str, Any]]) -> None:
    """The loaded images, numbered within the batch, and their (study, series) pairs (with those a replaced
    row left, since a reloaded file may have moved to another series or study) for ``finalize``."""
    total, serial = series_numbers(loaded)
    insert_table(conn, schema, "radiology_image", loaded.append_column("series_total_number", total)
                 .append_column("series_serial_number", serial))
    pending = loaded.group_by(["radiology_occurrence_id", "radiology_series_id"], use_threads=False) \
        .aggregate([]).select(["radiology_occurrence_id", "radiology_series_id"])
    if replaced:
        pending = pa.concat_tables([pending, pa.table({
            "radiology_occurrence_id": pa.array([int(r["radiology_occurrence_id"]) for r in replaced], pa.int64()),
            "radiology_series_id": pa.array([int(r["radiology_series_id"]) for r in replaced], pa.int64())})])
    insert_table(conn, schema, "rcdm_etl_pending", pending)


def _write_studies(conn: Connection, schema: str, study_table: pa.Table, loaded: pa.Table) -> None:
    """New studies inserted (counts of the batch's own images, provisional); stored ones merged
    (``EtlLoadBatch.sql``, through ``rcdm_etl_stage_study``)."""
    is_new = pc.equal(study_table.column("is_new"), 1)
    new = study_table.filter(is_new)
    if new.num_rows:
        counts = loaded.group_by("radiology_occurrence_id", use_threads=False).aggregate([
            ("radiology_image_id", "count"), ("radiology_series_id", "count_distinct")])
        where = pc.index_in(new.column("radiology_occurrence_id"), counts.column("radiology_occurrence_id"))
        rows = new.drop_columns(["is_new"]) \
            .append_column("protocol_concept_id", pa.repeat(pa.scalar(0, pa.int32()), new.num_rows)) \
            .append_column("count_of_series", pc.take(counts.column("radiology_series_id_count_distinct"),
                                                      where).cast(pa.int32())) \
            .append_column("count_of_images", pc.take(counts.column("radiology_image_id_count"),
                                                      where).cast(pa.int32()))
        insert_table(conn, schema, "radiology_occurrence", rows)
    known = study_table.filter(pc.invert(is_new))
    if known.num_rows:
        insert_table(conn, schema, "rcdm_etl_stage_study", known)
        execute_statements(conn, _statements(conn, "sql/sql_server/EtlLoadBatch.sql", schema))
        execute_statements(conn, _statements(conn, _CLEAR_STUDIES, schema))


def _write_files(conn: Connection, schema: str, final: pa.Table, run_id: int, now: dt.datetime,
                 replace_files: bool) -> None:
    """One ``rcdm_etl_file`` row per file (keyed by ``transform.file_ids``), replacing earlier runs' rows."""
    n = final.num_rows
    keep_id = pc.is_in(final.column("status"), pa.array(["loaded", "duplicate"]))
    files = final.select(["file_path", "file_size", "file_mtime_ns", "status", "reason", "header_checksum",
                          "study_date", "study_datetime", "manufacturer", "protocol_source_value"]) \
        .add_column(0, "file_key", file_ids(final.column("file_key"))) \
        .append_column("radiology_image_id", pc.if_else(keep_id, final.column("radiology_image_id"),
                                                        pa.scalar(None, pa.int64()))) \
        .append_column("run_id", pa.repeat(pa.scalar(run_id, pa.int64()), n)) \
        .append_column("processed_at", pa.repeat(pa.scalar(now, pa.timestamp("us")), n))
    files = _first_per_key(files)
    if replace_files:
        with keys_in(conn, schema, "rcdm_etl_stage_file", files.select(["file_key"])) as source:
            execute_statements(conn, [keyed(conn, schema, _DELETE_FILES, source, "rcdm_etl_stage_file")])
    insert_table(conn, schema, "rcdm_etl_file", files)


def _first_per_key(files: pa.Table) -> pa.Table:
    """The first row of each ``file_key``: a path given twice (overlapping arguments, a file list that repeats a
    line) is read twice, and its second row (a ``duplicate`` of the first) must not break the primary key."""
    keys = files.column("file_key")
    if pc.count_distinct(keys).as_py() == files.num_rows:
        return files
    seen: set[int] = set()
    first = [not (key in seen or seen.add(key)) for key in keys.to_pylist()]
    return files.filter(pa.array(first))


def group_batches(batches: Iterable[tuple[T, pa.Table]], rows: int) -> Iterator[tuple[list[T], pa.Table]]:
    """Consecutive staged batches (with a tag each) joined until they hold at least ``rows`` rows (the last group
    may hold fewer): what ``run_etl`` gives each ``load_batch``, so that fixed costs per transaction are paid
    once per group. Only one group is held at a time."""
    tags: list[T] = []
    tables: list[pa.Table] = []
    held = 0
    for tag, table in batches:
        tags.append(tag)
        tables.append(table)
        held += table.num_rows
        if held >= rows:
            yield tags, join_batches(tables)
            tags, tables, held = [], [], 0
    if tables:
        yield tags, join_batches(tables)


def join_batches(tables: Iterable[pa.Table]) -> pa.Table:
    """Staged batches as one batch for ``load_batch``, ``seq`` running on across them (``decide`` keeps the
    first of two files of one SOP instance by it, so a joined batch decides as its parts loaded in turn)."""
    parts = []
    offset = 0
    for table in tables:
        seq = pc.add(table.column("seq").cast(pa.int64()), offset).cast(pa.int32())
        parts.append(table.set_column(table.schema.get_field_index("seq"), "seq", seq))
        offset += table.num_rows
    return pa.concat_tables(parts) if parts else STAGE_SCHEMA.empty_table()


def series_numbers(images: pa.Table) -> tuple[pa.Array, pa.Array]:
    """``series_total_number`` and ``series_serial_number`` of each row, counting only these rows: within each
    ``radiology_series_id``, InstanceNumber order, missing numbers last, ties broken by the hashed SOP UID
    (the order of ``EtlFinalize.sql``, which makes them final)."""
    n = images.num_rows
    if n == 0:
        return pa.array([], pa.int32()), pa.array([], pa.int32())
    number = images.column("instance_number")
    keys = pa.table({"series": images.column("radiology_series_id"),
                     "missing": pc.cast(pc.is_null(number), pa.int8()),
                     "number": pc.fill_null(number, 0),
                     "sop": images.column("radiology_image_source_value")})
    order = pc.sort_indices(keys, sort_keys=[("series", "ascending"), ("missing", "ascending"),
                                             ("number", "ascending"), ("sop", "ascending")]).to_numpy()
    series = keys.column("series").to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
    sizes = np.diff(np.r_[starts, n])
    position = np.arange(n)
    serial_sorted = position - np.repeat(starts, sizes) + 1
    total_sorted = np.repeat(sizes, sizes)
    serial = np.empty(n, np.int32)
    total = np.empty(n, np.int32)
    serial[order] = serial_sorted
    total[order] = total_sorted
    return pa.array(total, pa.int32()), pa.array(serial, pa.int32())


def finalize(conn: Connection, schema: str) -> FinalizeOutcome:
    """Recount the studies and renumber the series that batches touched since the last finalize (one pass).

    Idempotent: with nothing pending it changes nothing. Runs in one transaction.
    """
    import time

    started = time.perf_counter()
    studies = images = 0
    with transaction(conn):
        # nothing pending (every run's opening finalize but after a killed run): two probes, not ~12 statements
        restudy = not is_empty(conn, schema, "rcdm_etl_restudy")
        if restudy or not is_empty(conn, schema, "rcdm_etl_pending"):
            if restudy:
                _restudy_modalities(conn, schema)
            statements = _statements(conn, "sql/sql_server/EtlFinalize.sql", schema, restudy=str(restudy).upper())
            execute_statements(conn, statements)
            (pending,) = _statements(conn, _PENDING, schema)
            frame = query_statement(conn, pending)
            studies, images = int(frame["studies"][0]), int(frame["images"][0])
        execute_statements(conn, _statements(conn, "sql/sql_server/EtlClearWorkTables.sql", schema))
    return FinalizeOutcome(studies, images, round(time.perf_counter() - started, 3))


_RESTUDY_MODALITIES = (
    "SELECT DISTINCT i.radiology_occurrence_id, i.modality FROM @cdm_database_schema.radiology_image i "
    "WHERE i.radiology_occurrence_id IN (SELECT r.radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_restudy r);")
_SET_MODALITY = ("UPDATE @cdm_database_schema.radiology_occurrence SET modality = :modality "
                 "WHERE radiology_occurrence_id = :study;")


def _restudy_modalities(conn: Connection, schema: str) -> None:
    """The modality list of each study that lost instances, rebuilt from the images it keeps (``decide``'s rule:
    sorted, distinct, comma-separated), before ``EtlFinalize.sql`` merges its other values again."""
    frame = query_statement(conn, _statements(conn, _RESTUDY_MODALITIES, schema)[0])
    modalities: dict[int, set[str]] = {}
    for study, modality in zip(frame["radiology_occurrence_id"], frame["modality"]):
        found = modalities.setdefault(int(study), set())
        if _py(modality):
            found.add(str(modality))
    for study, found in sorted(modalities.items()):
        execute_sql(conn, _SET_MODALITY, cdm_database_schema=schema,
                    bind={"modality": _modality_text(found), "study": study})
