"""Load one staged batch into the R-CDM tables in ONE transaction (a kill at any moment leaves no half batch).

Per batch (``load_batch``), inside ``rcdm.db.transaction``:

1. empty the work tables (``EtlClearWorkTables.sql``);
2. bulk-insert the batch into ``rcdm_etl_stage_image`` (the database layer's fast path: DuckDB Arrow,
   PostgreSQL COPY, ...), ask which of its images and studies exist already (one query each, joined to the
   work table) and decide in Python: an instance whose study belongs to another person is quarantined
   (``study_person_conflict``); an SOP instance already loaded from another path, or met earlier in the batch,
   is a ``duplicate`` (not loaded again); the study rows are merged order-independently (earliest valid
   date/datetime, sorted distinct modalities, smallest manufacturer and protocol_source_value);
3. if a status changed (duplicates, conflicts), stage the batch again with its final statuses; bulk-insert the
   merged studies into ``rcdm_etl_stage_study``;
4. run ``EtlLoadBatch.sql``: insert images, insert/merge studies, recount the touched studies, renumber the
   touched series, and write one ``rcdm_etl_file`` row per file;
5. commit.
"""

from __future__ import annotations

import datetime as dt
import functools
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
    "SELECT i.radiology_image_id, i.file_path FROM @cdm_database_schema.radiology_image i "
    "WHERE i.radiology_image_id IN (SELECT s.radiology_image_id FROM @cdm_database_schema.rcdm_etl_stage_image s "
    "WHERE s.status = 'loaded');")
_EXISTING_STUDIES = (
    "SELECT o.radiology_occurrence_id, o.person_id, o.radiology_occurrence_date, o.radiology_occurrence_datetime, "
    "o.modality, o.manufacturer, o.protocol_source_value, o.radiology_occurrence_source_value "
    "FROM @cdm_database_schema.radiology_occurrence o WHERE o.radiology_occurrence_id IN ("
    "SELECT s.radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_stage_image s WHERE s.status = 'loaded');")
_CLEAR_STAGE_IMAGE = "DELETE FROM @cdm_database_schema.rcdm_etl_stage_image;"


def _min(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def decide(table: pa.Table, images: dict[int, dict[str, Any]], studies: dict[int, dict[str, Any]]
           ) -> tuple[list[str], list[str | None], pa.Table]:
    """Final statuses and reasons of the batch's files, and the merged study rows (pure; see module doc)."""
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


def load_batch(conn: Connection, schema: str, table: pa.Table, run_id: int) -> BatchOutcome:
    """Load one staged batch (``transform.STAGE_SCHEMA`` with person_id and parent statuses) in one transaction."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)

    def staged(statuses: list[str] | None = None, reasons: list[str | None] | None = None) -> pa.Table:
        stage = table.select(list(STAGE_IMAGE_COLUMNS))
        if statuses is not None:
            stage = stage.set_column(stage.schema.get_field_index("status"), "status", pa.array(statuses, pa.string()))
            stage = stage.set_column(stage.schema.get_field_index("reason"), "reason", pa.array(reasons, pa.string()))
        stage = stage.append_column("run_id", pa.array([run_id] * stage.num_rows, pa.int64()))
        return stage.append_column("processed_at", pa.array([now] * stage.num_rows, pa.timestamp("us")))

    with transaction(conn):
        clear_work_tables(conn, schema)
        insert_table(conn, schema, "rcdm_etl_stage_image", staged())
        any_loaded = pc.any(pc.equal(table.column("status"), "loaded")).as_py() if table.num_rows else False
        images = _existing(conn, schema, _EXISTING_IMAGES, "radiology_image_id") if any_loaded else {}
        studies = _existing(conn, schema, _EXISTING_STUDIES, "radiology_occurrence_id") if any_loaded else {}
        statuses, reasons, study_table = decide(table, images, studies)
        if statuses != table.column("status").to_pylist():  # duplicates or conflicts: stage the final statuses
            execute_statements(conn, _statements(conn, _CLEAR_STAGE_IMAGE, schema))
            insert_table(conn, schema, "rcdm_etl_stage_image", staged(statuses, reasons))
        if study_table.num_rows:
            insert_table(conn, schema, "rcdm_etl_stage_study", study_table)
        execute_statements(conn, _statements(conn, "sql/sql_server/EtlLoadBatch.sql", schema))
        clear_work_tables(conn, schema)
    new = sum(study_table.column("is_new").to_pylist()) if study_table.num_rows else 0
    return BatchOutcome(statuses, reasons, new, study_table.num_rows)
