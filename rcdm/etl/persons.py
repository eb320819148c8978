"""Which person each patient was loaded as, so that a changed person map re-maps the persons it changes.

``rcdm_etl_person`` holds ``(patient_key, person_id)`` for every patient a run loaded files of (``patient_key``:
the keyed hash of the PatientID, as staged; never the PatientID). At the start of a run ``PersonState.remap``
compares it with the run's person lookup (person map CSV, or ``person.person_source_value``): a patient now
mapped to another person, or no longer mapped, has the files of its former person forgotten
(``load.forget_files``: their images removed, their studies recounted or removed), so this run reads them
again and loads them under the new mapping (or records them as ``unmapped_patient``); the stale pairs are
deleted in the same transaction. Pairs of newly loaded patients are recorded before each group's load
(``record``), so a kill -9 can leave a recorded pair whose files did not load: harmless (a later change
re-reads files that would be read anyway).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from rcdm.db import Connection, execute_sql, insert_table, query_sql, transaction

_FILES_OF_PERSONS = (
    "SELECT f.file_key FROM @s.rcdm_etl_file f WHERE f.radiology_image_id IN (SELECT i.radiology_image_id "
    "FROM @s.radiology_image i INNER JOIN @s.radiology_occurrence o ON o.radiology_occurrence_id = "
    "i.radiology_occurrence_id WHERE o.person_id IN (@persons)) OR f.reason = 'study_person_conflict';")


class PersonState:
    """The recorded (patient_key → person_id) pairs of a schema, as read at the start of a run."""

    def __init__(self, pairs: dict[str, int]) -> None:
        self.pairs = pairs

    @classmethod
    def read(cls, conn: Connection, schema: str) -> PersonState:
        frame = query_sql(conn, "SELECT patient_key, person_id FROM @s.rcdm_etl_person;", s=schema)
        return cls({str(k): int(p) for k, p in zip(frame["patient_key"], frame["person_id"])})

    def remap(self, conn: Connection, schema: str, lookup: dict[str, int]) -> int:
        """Forget the files of the persons whose patients the lookup maps otherwise now; how many persons."""
        from rcdm.etl.load import forget_files

        stale = sorted(k for k, person in self.pairs.items() if lookup.get(k) != person)
        if not stale:
            return 0
        persons = sorted({self.pairs[k] for k in stale})
        with transaction(conn):
            for start in range(0, len(persons), 1000):
                chunk = ",".join(str(int(p)) for p in persons[start:start + 1000])
                keys = query_sql(conn, _FILES_OF_PERSONS.replace("@persons", chunk), s=schema)["file_key"]
                forget_files(conn, schema, pa.array([int(k) for k in keys], pa.int64()))
            for start in range(0, len(stale), 1000):
                chunk = ",".join(f"'{k}'" for k in stale[start:start + 1000] if _is_hex(k))
                if chunk:
                    execute_sql(conn, f"DELETE FROM @s.rcdm_etl_person WHERE patient_key IN ({chunk});", s=schema)
        for k in stale:
            del self.pairs[k]
        return len(persons)

    def record(self, conn: Connection, schema: str, table: pa.Table) -> None:
        """Record the (patient_key, person_id) pairs of a group's loaded rows not recorded yet."""
        mask = pc.and_(pc.equal(table.column("status"), "loaded"), pc.is_valid(table.column("person_id")))
        rows = table.select(["patient_key", "person_id"]).filter(pc.fill_null(mask, False))
        # each patient's first row, column-wise (a patient has many files: a group holds few distinct keys)
        keys = rows.column("patient_key")
        distinct = pc.unique(keys).drop_null()
        first = pc.take(rows.column("person_id"), pc.index_in(distinct, value_set=keys))
        new = {key: int(person) for key, person in zip(distinct.to_pylist(), first.to_pylist())
               if key not in self.pairs}
        if new:
            insert_table(conn, schema, "rcdm_etl_person", pa.table({
                "patient_key": pa.array(list(new), pa.string()), "person_id": pa.array(list(new.values()), pa.int64())}))
            self.pairs.update(new)


def _is_hex(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
