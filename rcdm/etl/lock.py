"""One ETL run per schema at a time: two runs are refused, never interleaved into duplicates.

The backend says which (``Backend.lock``, ``rcdm.db.backends``):

* ``advisory`` (PostgreSQL): ``pg_try_advisory_lock`` on a key derived from the schema name, held by the run's
  own connection; the server releases it if the process dies.
* ``run_row`` (the others): the ``rcdm_etl_run`` row with status ``running`` records host and pid (in its summary JSON).
  A running row whose process is alive on this host refuses the new run; a dead one is marked
  ``interrupted`` and the new run goes on. A running row from another host is trusted (refused), unless
  older than ``stale_hours``.
* DuckDB files are also locked by DuckDB itself for other processes: ``lock_message_for`` turns its error
  into the same clear message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
from typing import Any

from rcdm.db import Connection, connect, execute_sql, query_sql
from rcdm.errors import DatabaseError, LockError


def advisory_key(schema: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock``, the same for every process that loads ``schema``."""
    digest = hashlib.sha256(f"rcdm.etl:{schema.lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(row: dict[str, Any], info: dict[str, Any]) -> str:
    return (f"ETL run {int(row['run_id'])} (host {info.get('host', '?')}, pid {info.get('pid', '?')}, started "
            f"{row.get('started_at')})")


def acquire(conn: Connection, schema: str) -> None:
    """Take the schema's ETL lock or raise LockError naming the run that holds it."""
    if conn.backend.lock == "advisory":
        key = advisory_key(schema)
        got = query_sql(conn, "SELECT pg_try_advisory_lock(CAST(:k AS BIGINT)) AS got;", bind={"k": key})
        if not bool(got["got"][0]):
            running = _running_rows(conn, schema)
            who = "; ".join(_describe(r, _info(r)) for r in running) or "another process"
            raise LockError(f"Schema {schema} is being loaded by {who}: wait for it to finish, or stop it, "
                            "then start this run again.")
        # our lock: any 'running' row left by a killed process is stale
        _mark_interrupted(conn, schema, [int(r["run_id"]) for r in _running_rows(conn, schema)])
        return
    host = socket.gethostname()
    stale = []
    for row in _running_rows(conn, schema):
        info = _info(row)
        if info.get("host") == host and isinstance(info.get("pid"), int) and not pid_alive(info["pid"]):
            stale.append(int(row["run_id"]))
            continue
        raise LockError(f"Schema {schema} is being loaded by {_describe(row, info)}: wait for it to finish, or "
                        f"stop it (if that process is gone, set the run's status to 'interrupted' in "
                        f"{schema}.rcdm_etl_run), then start this run again.")
    _mark_interrupted(conn, schema, stale)


def release(conn: Connection, schema: str) -> None:
    if conn.backend.lock == "advisory":
        try:
            query_sql(conn, "SELECT pg_advisory_unlock(CAST(:k AS BIGINT)) AS released;",
                      bind={"k": advisory_key(schema)})
        except Exception:  # noqa: BLE001 - closing the connection releases it anyway
            pass


def _running_rows(conn: Connection, schema: str) -> list[dict[str, Any]]:
    frame = query_sql(conn, "SELECT run_id, started_at, summary FROM @s.rcdm_etl_run WHERE status = 'running';",
                      s=schema)
    return frame.to_dict("records")


def _info(row: dict[str, Any]) -> dict[str, Any]:
    try:
        info = json.loads(row.get("summary") or "{}")
    except (TypeError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _mark_interrupted(conn: Connection, schema: str, run_ids: list[int]) -> None:
    for run_id in run_ids:
        execute_sql(conn, "UPDATE @s.rcdm_etl_run SET status = 'interrupted' WHERE run_id = :r "
                          "AND status = 'running';", s=schema, bind={"r": run_id})


def lock_message_for(error: Exception, target: str) -> str | None:
    """A clear LockError message when ``error`` is DuckDB refusing a file another process has open."""
    text = str(error)
    if "lock" in text.lower() and ("duckdb" in text.lower() or "Conflicting lock" in text or "Could not set lock"
                                   in text):
        pid = None
        marker = "PID "
        if marker in text:
            digits = text.split(marker, 1)[1].split()[0].strip(").,")
            pid = digits if digits.isdigit() else None
        who = f"process {pid}" if pid else "another process"
        return (f"{target} is open in {who} (probably another rcdm etl run): DuckDB allows one writing process; "
                "wait for it to finish, then start this run again.")
    return None


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def open_database(target: str | os.PathLike[str] | None) -> Connection:
    """``connect(target)`` for a run (``None``: the default database); DuckDB's refusal of a file another
    process holds becomes a LockError (exit 6)."""
    try:
        return connect(target)
    except DatabaseError as exc:
        message = lock_message_for(exc, os.fspath(target) if target is not None else "the database")
        if message:
            raise LockError(message) from None
        raise
