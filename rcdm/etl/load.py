"""Load one staged batch into the R-CDM tables in ONE transaction; ``finalize`` once per run.

The per-batch work is proportional to the batch, never to the tables (no recount, no renumbering, no scan of
``radiology_image`` beyond index-friendly lookups of the batch's own ids). ``load_batch``, inside
``rcdm.db.transaction``:

1. bulk-insert the batch's loaded ``(radiology_image_id, radiology_occurrence_id)`` into
   ``rcdm_etl_stage_key`` (the database layer's fast path: DuckDB Arrow, PostgreSQL COPY, ...);
2. ask which of those images and studies exist already (one query each, joined to the key table), empty the
   key table again (in the same transaction, so its rows are never logged or committed) and decide
   in Python (``decide``): an instance whose study belongs to another person is quarantined
   (``study_person_conflict``); an SOP instance already loaded from another path, or met earlier in the batch,
   is a ``duplicate``; the study rows are merged order-independently (earliest valid date/datetime, sorted
   distinct modalities, smallest manufacturer and protocol_source_value);
3. only if the batch reloads images already stored (same SOP instance, same path): delete those rows first;
4. bulk-insert the loaded images straight into ``radiology_image``, numbered within the batch
   (``series_numbers``: provisional ``series_total_number`` / ``series_serial_number``, already final for a
   series the batch holds whole), and the batch's (study, series) pairs into ``rcdm_etl_pending`` (the
   marker ``finalize`` works from; kept across batches and runs until a finalize has run);
5. bulk-insert the new studies into ``radiology_occurrence`` (``protocol_concept_id`` 0; counts of the
   batch's own images, provisional); only if the batch adds images to studies already stored: stage their merged values in
   ``rcdm_etl_stage_study``, merge them (``EtlLoadBatch.sql``) and empty the work table;
6. only if some of the batch's files were recorded by an earlier run: delete their ``rcdm_etl_file`` rows;
   bulk-insert one ``rcdm_etl_file`` row per file;
7. commit.

A typical batch is 8 statements (5 of them bulk inserts of the batch's own rows). ``finalize``
(``EtlFinalize.sql``, one transaction, set-based, one pass) runs after the last batch of a run and at the
start of every run (it repairs a run killed between a batch and its finalize): it recounts
``count_of_images`` / ``count_of_series`` of the pending studies and renumbers the pending series
(``series_total_number``, ``series_serial_number`` in InstanceNumber order, missing numbers last, ties broken
by the hashed SOP UID), writing only the rows whose values change (the series a batch boundary split, the
studies loaded over several batches or runs), then empties ``rcdm_etl_pending``. A kill at any moment
leaves either the state before or after a batch (or the finalize), and the next run's opening finalize
completes it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rcdm.db import Connection, execute_statements, insert_table, query_statement, transaction
from rcdm.resources import read_template

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
                "run_id", "processed_at")

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
    """What one batch did: the final status of each file (and reasons), studies new and touched."""

    statuses: list[str] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)
    new_studies: int = 0
    touched_studies: int = 0


@dataclass
class FinalizeOutcome:
    """What ``finalize`` did: studies recounted, image rows renumbered, seconds."""

    studies: int = 0
    images: int = 0
    seconds: float = 0.0
@functools.lru_cache(maxsize=64)
def _translated(template: str, dialect: str, schema: str, temp_emulation_schema: str | None) -> tuple[str, ...]:
    """A template rendered and translated once per run target (translation costs more than a small batch)."""
    from rcdm.sql import render, split_sql, translate

    sql = read_template(template) if template.endswith(".sql") else template
    rendered = render(sql, cdm_database_schema=schema)
    translated = translate(rendered, dialect, temp_emulation_schema=temp_emulation_schema)
    return tuple(st for st in split_sql(translated) if st.strip())


def _statements(conn: Connection, template: str, schema: str) -> tuple[str, ...]:
    return _translated(template, conn.dialect, schema, conn.temp_emulation_schema)


DUCKDB_CHECKPOINT_THRESHOLD = "128MB"
"""DuckDB's ``checkpoint_threshold`` while batches load (default 16 MB). A checkpoint every ~6 batches of 5,000
files (their WAL is ~2.5 MB) cost ~40 % of the commit time (``bench_load.py``); at 128 MB it runs every ~50
batches. Bounded: the WAL never exceeds ~128 MB (replayed in seconds after a crash), and the rows not yet
checkpointed stay in DuckDB's buffer manager under its ``memory_limit``."""


@contextlib.contextmanager
def load_settings(conn: Connection) -> Iterator[None]:
    """Database settings for loading many batches, restored afterwards (DuckDB: a larger checkpoint threshold,
    a global setting of the database instance; nothing elsewhere)."""
    if conn.dialect != "duckdb":
        yield
        return
    raw = conn.driver_connection()
    (before,) = raw.execute("SELECT current_setting('checkpoint_threshold')").fetchone()
    raw.execute(f"SET checkpoint_threshold = '{DUCKDB_CHECKPOINT_THRESHOLD}'")
    try:
        yield
    finally:
        try:
            raw.execute(f"SET checkpoint_threshold = '{before}'")
        except Exception:  # noqa: BLE001 - never hide the run's own error or skip its clean-up for a setting
            pass


def create_work_tables(conn: Connection, schema: str) -> None:
    execute_statements(conn, _statements(conn, "sql/sql_server/EtlCreateWorkTables.sql", schema))


def clear_work_tables(conn: Connection, schema: str) -> None:
    execute_statements(conn, _statements(conn, "sql/sql_server/EtlClearWorkTables.sql", schema))


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


def _existing(conn: Connection, schema: str, sql: str, key: str) -> dict[int, dict[str, Any]]:
    """Rows of ``sql`` (joined to the batch in the work table) by ``key``."""
    (statement,) = _statements(conn, sql, schema)
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
_CLEAR_BATCH = ("DELETE FROM @cdm_database_schema.rcdm_etl_stage_key;",
                "DELETE FROM @cdm_database_schema.rcdm_etl_stage_study;")
_DELETE_IMAGES = "DELETE FROM @cdm_database_schema.radiology_image WHERE radiology_image_id IN ('rcdm_values');"
_DELETE_FILES = "DELETE FROM @cdm_database_schema.rcdm_etl_file WHERE file_key IN ('rcdm_values');"
_PENDING = ("SELECT (SELECT COUNT(*) FROM @cdm_database_schema.rcdm_etl_stage_count) AS studies, "
            "(SELECT COUNT(*) FROM @cdm_database_schema.rcdm_etl_stage_order) AS images;")


def _with_values(conn: Connection, template: str, schema: str, values: list[Any]) -> str:
    """``template``'s one statement with ``'rcdm_values'`` replaced by a literal list of ``values``.

    Only integers and SHA-256 hex digests are accepted (checked here), so the list is safe to write into the
    text; the template is translated once per run target, the values are put in afterwards.
    """
    items = []
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool):
            items.append(str(int(v)))
        elif isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v):
            items.append(f"'{v}'")
        else:
            raise ValueError("only integer ids and SHA-256 hex keys are written into a statement")
    (statement,) = _statements(conn, template, schema)
    return statement.replace("'rcdm_values'", ", ".join(items))


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


def _decide_vectorised(table: pa.Table, images: dict[int, dict[str, Any]], studies: dict[int, dict[str, Any]]
                       ) -> tuple[pa.Array, pa.Array, pa.Table] | None:
    """None when the batch needs the row-by-row rules: a loaded SOP instance stored from another path or met
    twice in the batch, a study with two persons (in the batch, or against the stored row), a missing person."""
    statuses = table.column("status").combine_chunks()
    reasons = table.column("reason").combine_chunks()
    if table.num_rows == 0:
        return statuses, reasons, STUDY_SCHEMA.empty_table()
    loaded = table.filter(pc.equal(statuses, "loaded"))
    if loaded.num_rows == 0:
        return statuses, reasons, STUDY_SCHEMA.empty_table()
    if loaded.column("person_id").null_count or loaded.column("radiology_image_id").null_count:
        return None
    image_ids = loaded.column("radiology_image_id")
    if pc.count_distinct(image_ids).as_py() != loaded.num_rows:
        return None  # the same SOP instance twice in the batch
    if images:
        stored = pc.is_in(image_ids, pa.array(list(images), pa.int64()))
        if pc.any(stored).as_py():
            rows = loaded.filter(stored).select(["radiology_image_id", "file_path"]).to_pylist()
            if any(images[r["radiology_image_id"]].get("file_path") != r["file_path"] for r in rows):
                return None  # stored from another path: duplicates
    loaded = loaded.sort_by("seq")
    groups = loaded.group_by("radiology_occurrence_id", use_threads=False).aggregate([
        ("person_id", "min"), ("person_id", "max"), ("study_date", "min"), ("study_datetime", "min"),
        ("manufacturer", "min"), ("protocol_source_value", "min"), ("radiology_occurrence_source_value", "first"),
    ])
    if not pc.all(pc.equal(groups.column("person_id_min"), groups.column("person_id_max"))).as_py():
        return None  # a study with two persons in the batch
    present = loaded.filter(pc.greater(pc.utf8_length(pc.fill_null(loaded.column("modality"), "")), 0))
    modalities: dict[int, set[str]] = {}
    if present.num_rows:
        listed = present.group_by("radiology_occurrence_id", use_threads=False).aggregate(
            [("modality", "distinct")])
        for sid, values in zip(listed.column("radiology_occurrence_id").to_pylist(),
                               listed.column("modality_distinct").to_pylist()):
            modalities[sid] = set(values)
    ids = groups.column("radiology_occurrence_id").to_pylist()
    persons = groups.column("person_id_min").to_pylist()
    for sid, person in zip(ids, persons):
        stored_study = studies.get(sid)
        if stored_study is not None and int(stored_study["person_id"]) != person:
            return None  # the study belongs to another person
    values = {
        "radiology_occurrence_id": ids, "person_id": persons,
        "radiology_occurrence_date": groups.column("study_date_min").to_pylist(),
        "radiology_occurrence_datetime": groups.column("study_datetime_min").to_pylist(),
        "manufacturer": groups.column("manufacturer_min").to_pylist(),
        "protocol_source_value": groups.column("protocol_source_value_min").to_pylist(),
        "radiology_occurrence_source_value": groups.column("radiology_occurrence_source_value_first").to_pylist(),
    }
    rows = {name: [] for name in STUDY_SCHEMA.names}
    for i in sorted(range(len(ids)), key=ids.__getitem__):
        sid = ids[i]
        mods = set(modalities.get(sid, ()))
        date, when = values["radiology_occurrence_date"][i], values["radiology_occurrence_datetime"][i]
        maker, protocol = values["manufacturer"][i], values["protocol_source_value"][i]
        source = values["radiology_occurrence_source_value"][i]
        stored_study = studies.get(sid)
        if stored_study is not None:
            date = _min([_as_date(stored_study["radiology_occurrence_date"]), date])
            when = _min([_py(stored_study["radiology_occurrence_datetime"]), when])
            mods.update(v for v in (_py(stored_study["modality"]) or "").split(",") if v)
            maker = _min([_py(stored_study["manufacturer"]), maker])
            protocol = _min([_py(stored_study["protocol_source_value"]), protocol])
            source = _py(stored_study["radiology_occurrence_source_value"]) or source
        row = {"radiology_occurrence_id": sid, "person_id": values["person_id"][i],
               "radiology_occurrence_date": date, "radiology_occurrence_datetime": when,
               "modality": ",".join(sorted(mods))[:50] or None, "manufacturer": maker,
               "protocol_source_value": protocol, "radiology_occurrence_source_value": source,
               "is_new": int(stored_study is None)}
        for name, value in row.items():
            rows[name].append(value)
    return statuses, reasons, pa.table(rows, schema=STUDY_SCHEMA)


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
                "protocols": [], "source": col["radiology_occurrence_source_value"][i], "is_new": stored is None,
            }
            if stored is not None:
                m["dates"].append(_as_date(stored["radiology_occurrence_date"]))
                m["datetimes"].append(_py(stored["radiology_occurrence_datetime"]))
                m["modalities"].update(v for v in (_py(stored["modality"]) or "").split(",") if v)
                m["manufacturers"].append(_py(stored["manufacturer"]))
                m["protocols"].append(_py(stored["protocol_source_value"]))
                m["source"] = _py(stored["radiology_occurrence_source_value"]) or m["source"]
        m["dates"].append(col["study_date"][i])
        m["datetimes"].append(col["study_datetime"][i])
        if col["modality"][i]:
            m["modalities"].add(col["modality"][i])
        m["manufacturers"].append(col["manufacturer"][i])
        m["protocols"].append(col["protocol_source_value"][i])
    study_rows = {name: [] for name in STUDY_SCHEMA.names}
    for sid in sorted(merged):
        m = merged[sid]
        values = {
            "radiology_occurrence_id": sid, "person_id": m["person_id"],
            "radiology_occurrence_date": _min(m["dates"]), "radiology_occurrence_datetime": _min(m["datetimes"]),
            "modality": ",".join(sorted(m["modalities"]))[:50] or None,
            "manufacturer": _min(m["manufacturers"]), "protocol_source_value": _min(m["protocols"]),
            "radiology_occurrence_source_value": m["source"], "is_new": int(m["is_new"]),
        }
        for name, value in values.items():
            study_rows[name].append(value)
    return statuses, reasons, pa.table(study_rows, schema=STUDY_SCHEMA)


def load_batch(conn: Connection, schema: str, table: pa.Table, run_id: int,
               replace_files: bool = True) -> BatchOutcome:
    """Load one staged batch (``transform.STAGE_SCHEMA`` with person_id and parent statuses) in one transaction.

    ``replace_files=False`` says none of the batch's files has a ``rcdm_etl_file`` row yet (the run knows it
    from its unchanged-file check), which saves a DELETE per batch; True is always correct.
    """
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    n = table.num_rows
    loaded_mask = pc.equal(table.column("status"), "loaded") if n else None
    any_loaded = bool(n) and bool(pc.any(loaded_mask).as_py())

    with transaction(conn):
        images: dict[int, dict[str, Any]] = {}
        studies: dict[int, dict[str, Any]] = {}
        if any_loaded:
            keys = table.filter(loaded_mask).select(["radiology_image_id", "radiology_occurrence_id"])
            insert_table(conn, schema, "rcdm_etl_stage_key", keys)
            images = _existing(conn, schema, _EXISTING_IMAGES, "radiology_image_id")
            studies = _existing(conn, schema, _EXISTING_STUDIES, "radiology_occurrence_id")
            # emptied in the same transaction: the rows never reach the database's log
            execute_statements(conn, _statements(conn, _CLEAR_BATCH[0], schema))
        statuses, reasons, study_table = _decide(table, images, studies)
        final = table.set_column(table.schema.get_field_index("status"), "status", statuses)
        final = final.set_column(final.schema.get_field_index("reason"), "reason", reasons)
        loaded = final.filter(pc.equal(final.column("status"), "loaded")) if n else final
        # reloads of the same file (same SOP instance, same path) replace their row
        reloaded = [i for i in loaded.column("radiology_image_id").to_pylist() if i in images]
        if reloaded:
            execute_statements(conn, [_with_values(conn, _DELETE_IMAGES, schema, reloaded)])
        if loaded.num_rows:
            rows = loaded.select(list(IMAGE_COLUMNS))
            total, serial = series_numbers(rows)
            insert_table(conn, schema, "radiology_image", rows.append_column("series_total_number", total)
                         .append_column("series_serial_number", serial))
            pending = rows.group_by(["radiology_occurrence_id", "radiology_series_id"], use_threads=False) \
                .aggregate([]).select(["radiology_occurrence_id", "radiology_series_id"])
            if reloaded:  # a reloaded file may have left another series or study
                old = [images[i] for i in reloaded]
                pending = pa.concat_tables([pending, pa.table({
                    "radiology_occurrence_id": pa.array([int(r["radiology_occurrence_id"]) for r in old], pa.int64()),
                    "radiology_series_id": pa.array([int(r["radiology_series_id"]) for r in old], pa.int64())})])
            insert_table(conn, schema, "rcdm_etl_pending", pending)
        if study_table.num_rows:
            is_new = pc.equal(study_table.column("is_new"), 1)
            new = study_table.filter(is_new)
            if new.num_rows:
                counts = loaded.group_by("radiology_occurrence_id", use_threads=False).aggregate([
                    ("radiology_image_id", "count"), ("radiology_series_id", "count_distinct")])
                where = pc.index_in(new.column("radiology_occurrence_id"), counts.column("radiology_occurrence_id"))
                rows = new.drop_columns(["is_new"]) \
                    .append_column("protocol_concept_id", pa.array([0] * new.num_rows, pa.int32())) \
                    .append_column("count_of_series", pc.take(counts.column("radiology_series_id_count_distinct"),
                                                              where).cast(pa.int32())) \
                    .append_column("count_of_images", pc.take(counts.column("radiology_image_id_count"),
                                                              where).cast(pa.int32()))
                insert_table(conn, schema, "radiology_occurrence", rows)
            known = study_table.filter(pc.invert(is_new))
            if known.num_rows:
                insert_table(conn, schema, "rcdm_etl_stage_study", known)
                execute_statements(conn, _statements(conn, "sql/sql_server/EtlLoadBatch.sql", schema))
                execute_statements(conn, _statements(conn, _CLEAR_BATCH[1], schema))
        if n:
            if replace_files:
                execute_statements(conn, [_with_values(conn, _DELETE_FILES, schema,
                                                       final.column("file_key").to_pylist())])
            keep_id = pc.is_in(final.column("status"), pa.array(["loaded", "duplicate"]))
            image_ids = pc.if_else(keep_id, final.column("radiology_image_id"), pa.scalar(None, pa.int64()))
            files = final.select(["file_key", "file_path", "file_size", "file_mtime_ns", "status", "reason"]) \
                .append_column("radiology_image_id", image_ids) \
                .append_column("run_id", pa.array([run_id] * n, pa.int64())) \
                .append_column("processed_at", pa.array([now] * n, pa.timestamp("us")))
            insert_table(conn, schema, "rcdm_etl_file", files)
    new_count = int(pc.sum(study_table.column("is_new")).as_py() or 0) if study_table.num_rows else 0
    return BatchOutcome(statuses.to_pylist(), reasons.to_pylist(), new_count, study_table.num_rows)


def series_numbers(images: pa.Table) -> tuple[pa.Array, pa.Array]:
    """``series_total_number`` and ``series_serial_number`` of each row, counting only these rows: within each
    ``radiology_series_id``, InstanceNumber order, missing numbers last, ties broken by the hashed SOP UID
    (the order of ``EtlFinalize.sql``, which makes them final)."""
    import numpy as np

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
    with transaction(conn):
        statements = _statements(conn, "sql/sql_server/EtlFinalize.sql", schema)
        execute_statements(conn, statements)
        (pending,) = _statements(conn, _PENDING, schema)
        frame = query_statement(conn, pending)
        execute_statements(conn, _statements(conn, "sql/sql_server/EtlClearWorkTables.sql", schema))
    return FinalizeOutcome(int(frame["studies"][0]), int(frame["images"][0]),
                           round(time.perf_counter() - started, 3))
