"""``run_etl``: DICOM files → R-CDM rows, end to end (walk, read in workers, de-identify, stage, load, report).

Plain arguments only (the CLI and R's reticulate call it the same way): a path or a list of paths, numbers
that may arrive as floats, strings for files. Returns the run's summary as a plain dict (see ``SUMMARY_KEYS``).
Logs (logger ``rcdm.etl``) hold relative paths, hashes and reason codes, never a patient id, name, birth date
or real UID.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from rcdm._version import __version__
from rcdm.db import Connection, connect, execute_sql, exists_table, query_sql, query_statement, transaction
from rcdm.ddl import create_tables
from rcdm.dicom.deid import hmac_hex, load_person_map
from rcdm.etl import lock
from rcdm.etl.discover import iter_files
from rcdm.etl.dask_executor import make_executor
from rcdm.etl.executor import LocalExecutor
from rcdm.errors import DatabaseError
from rcdm.etl.fit import fit_batch
from rcdm.etl.load import (BatchOutcome, clear_work_tables, create_work_tables, deferred_indexes, finalize,
                           forget_files, group_batches, is_empty, keyed, keys_in, load_batch, load_settings, repair,
                           upgrade_columns, upgrade_file_keys)
from rcdm.etl.path_index import PathIndex, default_location
from rcdm.etl.persons import PersonState
from rcdm.etl.stage import Staging
from rcdm.etl.start import FINAL_STATUSES, Batches, Begun, Opening, begin, default_root, paths_of
from rcdm.etl.transform import UNCHANGED, BatchContext, file_ids
from rcdm.fetch import is_missing
from rcdm.identifiers import check_schema
from rcdm.options import EtlOptions, merged

log = logging.getLogger("rcdm.etl")

SUMMARY_KEYS = ("run_id", "files_seen", "loaded", "quarantined", "skipped", "skipped_by_reason",
                "quarantined_by_reason", "unmapped_patient", "invalid_dates", "studies", "series", "images",
                "new_studies", "tables", "seconds", "files_per_second", "finalize", "protocol_mapping", "changes")
"""The summary's keys. Invariant: files_seen == loaded + quarantined + skipped, where skipped counts files that
are not DICOM images (by reason), ``duplicate`` SOP instances, ``unchanged`` files of earlier runs and
``unmapped_patient`` instances. studies/series/images: distinct ones loaded by this run; tables: row totals;
finalize: what the run's closing finalize did (``{"studies", "images", "seconds"}``: studies recounted, image rows
renumbered); protocol_mapping: the counts of ``rcdm.protocols.remap.remap``, or a text saying why the studies
were not mapped ("no playbook loaded", "disabled", or the error); changes: how the archive and the tables
moved since the last run (``new`` files, ``changed`` files read again, ``removed`` files gone from the archive
whose rows were removed, ``persons_remapped`` persons whose files were reloaded for a changed person map,
``repaired``: what the opening ``load.repair`` found, ``values_fitted`` text values cut to their column,
``refused_rows`` rows the database refused, ``non_text_values`` text attributes with a nested value)."""

DEFAULT_BATCH_SIZE = EtlOptions.batch_size
"""Files per batch by default: a worker's unit of reading (and a staged file). Batches are loaded
``commit_rows`` files at a time (``COMMIT_ROWS``), so the batch size sets the work in flight (2 x workers
batches), not the number of transactions."""

COMMIT_ROWS = EtlOptions.commit_rows
"""Files loaded per transaction by default: consecutive staged batches are joined (``load.group_batches``)
until they hold at least this many, then loaded by one ``load_batch``. Measured with
``extras/benchmarks/bench_load.py``: each transaction has fixed costs (commit, key lookups, 6-8 statements),
DuckDB inserts far faster in statements of tens of thousands of rows than of 5,000, and above its row group
(122,880 rows) a transaction's rows go straight to the database file instead of to the WAL first and to the
file again at the next checkpoint (400,000 rows: 257,000-303,000 rows/s against 188,000-194,000 at 50,000).
The loader holds one group (~80 MB of Arrow at ~600 bytes a staged row; the batches in flight to the workers
are as before) and a kill -9 loses at most one group's work: the next run reads those files again."""

EXIT_BEFORE_FINALIZE = "RCDM_ETL_TEST_EXIT_BEFORE_FINALIZE"
"""Test hook: when this environment variable is set, the process exits (``os._exit(137)``, as a kill -9 would
leave it) after the last batch committed and before the run's finalize."""


def person_lookup(secret: bytes, conn: Connection, schema: str, person_map: str | None,
                  person_source: str | None) -> dict[str, int]:
    """patient_key (keyed hash of the PatientID) → person_id; raw PatientIDs are dropped as soon as hashed."""
    if person_map is not None:
        mapping = load_person_map(person_map)
        # PersonMap offers lookup() only; its dict is read here once to hash the keys (no other use).
        return {hmac_hex(secret, patient, "patient"): person for patient, person in mapping._map.items()}
    frame = query_sql(conn, "SELECT person_id, person_source_value FROM @s.person "
                            "WHERE person_source_value IS NOT NULL;", s=schema)
    lookup: dict[str, int] = {}
    for person_id, source in zip(frame["person_id"], frame["person_source_value"]):
        text = str(source).strip()
        if text:
            key = hmac_hex(secret, text, "patient")
            lookup[key] = min(int(person_id), lookup.get(key, int(person_id)))
    del frame
    return lookup


_KNOWN_FILES = ("SELECT f.file_key, f.file_size, f.file_mtime_ns, f.status, f.header_checksum "
                "FROM @cdm_database_schema.rcdm_etl_file f "
                "WHERE f.file_key IN (SELECT k.file_key FROM @cdm_database_schema.rcdm_etl_stage_file k);")


def _known_files(conn: Connection, schema: str, keys: pa.Array) -> dict[int, tuple[int | None, int | None, str,
                                                                                int | None]]:
    """``rcdm_etl_file.file_key`` → (size, mtime_ns, status, header_checksum) of the files an earlier run recorded
    (``start.Known``; numbers as ints, missing ones None).

    The batch's keys are joined as the rows of a work table (``load.keys_in``: never committed)."""
    if not len(keys):
        return {}
    with transaction(conn), keys_in(conn, schema, "rcdm_etl_stage_file", pa.table({"file_key": keys})) as source:
        frame = query_statement(conn, keyed(conn, schema, _KNOWN_FILES, source, "rcdm_etl_stage_file"))
    return {int(k): (_int_or_none(s), _int_or_none(m), st, _int_or_none(c))
            for k, s, m, st, c in zip(frame["file_key"], frame["file_size"], frame["file_mtime_ns"],
                                      frame["status"], frame["header_checksum"])}


def _int_or_none(value: Any) -> int | None:
    try:
        return None if is_missing(value) else int(value)
    except (TypeError, ValueError):
        return None


def _map_persons(table: pa.Table, lookup: dict[str, int]) -> tuple[pa.Table, int]:
    """Fill person_id from patient_key; loaded rows of unmapped patients become ``unmapped_patient``.

    Column-wise: the map is asked once for each distinct key of the batch (a patient has many files), each row
    takes its person by the key's position among them."""
    keys = table.column("patient_key")
    distinct = pc.unique(keys).drop_null()
    persons = pc.take(pa.array([lookup.get(k) if k else None for k in distinct.to_pylist()], pa.int64()),
                      pc.index_in(keys, value_set=distinct))
    unmapped = pc.fill_null(pc.and_(pc.equal(table.column("status"), "loaded"), pc.is_null(persons)), False)
    count = pc.sum(unmapped).as_py() or 0
    table = table.set_column(table.schema.get_field_index("person_id"), "person_id", persons)
    if count:
        has_key = pc.fill_null(pc.not_equal(keys, ""), False)
        reason = pc.if_else(has_key, "unmapped_patient", "unmapped_patient: no PatientID")
        table = table.set_column(table.schema.get_field_index("status"), "status",
                                 pc.if_else(unmapped, "unmapped_patient", table.column("status")))
        table = table.set_column(table.schema.get_field_index("reason"), "reason",
                                 pc.if_else(unmapped, reason, table.column("reason")))
    return table, count


@dataclass(frozen=True)
class _Stage:
    """Where each read batch goes before the load: its staging folder, the person map, the path index (with
    the real relative paths of the files in flight, ``start.Batches.paths``) and the archive root."""

    staging: Staging
    lookup: dict[str, int]
    paths: dict[str, str]
    index: PathIndex | None
    root: str


def _staged(results: Iterable[tuple[dict[str, Any], pa.Table]], stage: _Stage, counts: Counter,
            skipped_by: Counter, bar: Any) -> Iterator[tuple[dict[str, Any], pa.Table]]:
    """Each read batch's rows fitted to their columns (``fit.fit_batch``), with their persons mapped, recorded in
    the path index and staged (the table written is the table loaded: not read back); the files seen,
    unchanged, new and changed are counted as the batches come."""
    for number, (tag, table) in enumerate(results, 1):
        counts["files_seen"] += tag["files"]
        if tag["unchanged"]:
            skipped_by["unchanged"] += tag["unchanged"]
        if bar is not None:
            bar.update(tag["files"])
        same = pc.fill_null(pc.equal(table.column("status"), UNCHANGED), False)
        unchanged = pc.sum(same).as_py() or 0
        if "relative" in tag:  # a first load: the batch's paths by position (seq), keyed in the worker
            relative = _by_seq(tag["relative"], table.column("seq").to_pylist())
        else:
            relative = [stage.paths.pop(k, None) for k in table.column("file_key").to_pylist()]
        if unchanged:
            skipped_by["unchanged"] += unchanged
            keep = pc.invert(same)
            relative = [r for r, k in zip(relative, keep.to_pylist()) if k]
            table = table.filter(keep)
        if tag["known_keys"]:
            keys = table.column("file_key").to_pylist()
            counts["changed"] += sum(k in tag["final"] for k in keys)
            counts["new"] += len(keys) - sum(k in tag["known_keys"] for k in keys)
        else:
            counts["new"] += table.num_rows
        log.debug("batch %d: %d files, %d unchanged", number, tag["files"], tag["unchanged"] + unchanged)
        if table.num_rows:
            table, fitted = fit_batch(table)
            counts["values_fitted"] += fitted
            counts["non_text_values"] += pc.sum(table.column("non_text_values")).as_py() or 0
            table, _unmapped = _map_persons(table, stage.lookup)
            if stage.index is not None:
                stage.index.record_later(stage.root, _index_rows(table, relative))
            stage.staging.write_later(number, table)
            yield tag, table


def _by_seq(items: list[Any], seq: list[int]) -> list[Any]:
    """``items`` in the order ``seq`` gives (a worker returns its rows in the batch's order: then ``items``)."""
    return items if seq == list(range(len(items))) else [items[s] for s in seq]


def _index_rows(table: pa.Table, relative: list[str | None]) -> Iterator[tuple[int, str, int | None]]:
    """The path index's rows of a staged batch (its files with a real path), made when read: in the index's
    writer thread (``PathIndex.record_later``), not in the main one."""
    for f, r, i in zip(file_ids(table.column("file_key")).to_pylist(), relative,
                       table.column("radiology_image_id").to_pylist()):
        if r is not None:
            yield f, r, i


def _load_isolating(conn: Connection, schema: str, table: pa.Table, run_id: int, replace: bool,
                    counts: Counter) -> Iterator[tuple[BatchOutcome, pa.Table]]:
    """``load_batch``; when the database refuses the group, its halves are loaded in turn (down to the one row it
    refuses, whose file is quarantined with the database's reason: ``database_refused``), so one row never holds
    back the others. A lost connection is raised at once, not bisected."""
    try:
        yield load_batch(conn, schema, table, run_id, replace_files=replace), table
        return
    except DatabaseError as exc:
        query_sql(conn, "SELECT 1 AS alive;")  # raises when the database itself is gone
        if table.num_rows > 1:
            half = table.num_rows // 2
            yield from _load_isolating(conn, schema, table.slice(0, half), run_id, replace, counts)
            yield from _load_isolating(conn, schema, table.slice(half), run_id, replace, counts)
            return
        reason = refusal_reason(exc)
    counts["refused_rows"] += 1
    refused = table.set_column(table.schema.get_field_index("status"), "status", pa.array(["quarantined"]))
    refused = refused.set_column(refused.schema.get_field_index("reason"), "reason", pa.array([reason]))
    log.warning("run %d: the database refused a row; its file is quarantined: %s", run_id, reason)
    yield load_batch(conn, schema, refused, run_id, replace_files=True), refused


_QUOTED_TEXT = re.compile(r"'[^']*'|\"[^\"]*\"|\([^)]*\)=\([^)]*\)")


def refusal_reason(exc: BaseException) -> str:
    """``database_refused: <the database's message>``: its first line after rcdm's own prefix, quoted values
    and UID-like numbers removed (a refused row's values are the site's data), at most 255 characters."""
    text = str(exc)
    message = text.split(": ", 1)[1] if text.startswith(("Bulk insert", "Statement")) and ": " in text else text
    message = message.split(" failed on ", 1)[-1]
    message = message.split(": ", 1)[1] if ": " in message else message
    first = " ".join((message.strip().splitlines() or [""])[0].split())
    first = _QUOTED_TEXT.sub("'…'", first)
    first = re.sub(r"[0-9]+(?:\.[0-9]+){2,}", "{uid}", first)
    return f"database_refused: {first}"[:255]


def _gone_files(conn: Connection, schema: str, index: PathIndex, root: str, path_list: list[str]) -> list[int]:
    """The ``rcdm_etl_file`` keys of files the path index knows inside the folders of ``path_list`` (those under
    ``root``) that are no longer there (deleted, or renamed: the new name is a new file)."""
    folders = []
    for path in path_list:
        if os.path.isdir(path):
            rel = os.path.relpath(os.path.abspath(path), root)
            if rel != os.pardir and not rel.startswith(os.pardir + os.sep):
                folders.append(rel.replace(os.sep, "/"))
    if not folders:
        return []
    gone = [fid for fid, rel in index.under(root, folders) if not os.path.lexists(os.path.join(root, rel))]
    known: list[int] = []
    for start in range(0, len(gone), 50_000):
        known += sorted(_known_files(conn, schema, pa.array(gone[start:start + 50_000], pa.int64())))
    return known


def _remove_gone(conn: Connection, schema: str, index: PathIndex, root: str, path_list: list[str]) -> int:
    """Remove what earlier runs made of the files gone from the folders this run walks; how many files."""
    gone = _gone_files(conn, schema, index, root, path_list)
    for start in range(0, len(gone), 50_000):
        forget_files(conn, schema, pa.array(gone[start:start + 50_000], pa.int64()))
    return len(gone)


def verify_etl(conn: Connection | str, cdm_database_schema: str,
               paths: str | os.PathLike | Iterable[str | os.PathLike] | None = None,
               root: str | os.PathLike | None = None, path_index: str | os.PathLike | None = None,
               secret_file: str | os.PathLike | None = None) -> dict[str, int]:
    """Where the ETL's bookkeeping no longer matches the tables or the archive; read only (all 0 when it does).

    ``load.verify``'s counts (loaded files whose image row is missing, images no loaded file accounts for,
    studies whose count is wrong, a finalize left pending), plus ``files_gone``: recorded files inside the
    folders ``paths`` that the path index knows and that are no longer there. The next ``run_etl`` over the
    same paths repairs all of it but ``images_without_file`` (rows loaded by something else are left alone)."""
    from rcdm.etl.load import verify

    if isinstance(conn, (str, os.PathLike)):
        with connect(conn) as opened:
            return verify_etl(opened, cdm_database_schema, paths, root, path_index, secret_file)
    check_schema(cdm_database_schema, "cdm_database_schema")
    found = verify(conn, cdm_database_schema)
    path_list = paths_of(paths)
    location = Path(path_index) if path_index is not None else default_location(secret_file)
    found["files_gone"] = 0
    if path_list and location.is_file():
        root_dir = os.path.abspath(os.fspath(root)) if root is not None else default_root(path_list)
        with PathIndex(location) as index:
            found["files_gone"] = len(_gone_files(conn, cdm_database_schema, index, root_dir, path_list))
    return found


def _count(outcome: BatchOutcome, table: pa.Table, counts: Counter, skipped_by: Counter,
           quarantined_by: Counter) -> None:
    """Add a loaded batch's final statuses to the run's counts (quarantined files logged by path and code)."""
    loaded = pc.equal(outcome.statuses, "loaded")
    invalid = pc.and_(loaded, pc.greater(pc.fill_null(table.column("invalid_dates"), 0), 0))
    for key, mask in (("loaded", loaded), ("invalid_dates", invalid)):
        number = pc.sum(mask).as_py() or 0
        if number:
            counts[key] += number
    others = pa.table({"file_path": table.column("file_path"), "status": outcome.statuses,
                       "reason": outcome.reasons}).filter(pc.invert(loaded))
    for path, st, reason in zip(*(others.column(name).to_pylist() for name in ("file_path", "status", "reason"))):
        code = (reason or "").split(":", 1)[0] or st
        if st == "quarantined":
            quarantined_by[code] += 1
            log.info("quarantined %s: %s", path, code)
        elif st in ("duplicate", "unmapped_patient"):
            skipped_by[st] += 1
        else:
            skipped_by[code] += 1


def _progress_bar(enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(unit="file", desc="rcdm etl", file=sys.stderr, dynamic_ncols=True)


def _etl_options(options: EtlOptions | str | None, keywords: dict[str, Any]) -> EtlOptions:
    """The run's EtlOptions: ``options`` (a text is the cdm_database_schema) with ``keywords`` on top."""
    if isinstance(options, str):
        return merged(EtlOptions, None, {"cdm_database_schema": options, **keywords})
    return merged(EtlOptions, options, keywords)


def run_etl(
    paths: str | os.PathLike | Iterable[str | os.PathLike] | None,
    conn: Connection | str | os.PathLike | None,
    options: EtlOptions | str | None = None,
    **keywords: Any,
) -> dict[str, Any]:
    """Load the DICOM files under ``paths`` (and those listed in ``file_list``) into ``cdm_database_schema``.

    ``options`` is an ``rcdm.options.EtlOptions`` (the options below, each with its default and help). The
    keyword form the README shows, ``run_etl(paths, conn, "cdm", person_map=..., ...)``, still works: a text
    ``options`` is the ``cdm_database_schema`` and keywords are EtlOptions fields (on top of ``options``).

    ``conn`` is an open rcdm Connection, or a database URL/path or None for the default database (then opened
    and closed here, once the worker processes are starting; a DuckDB file another process holds raises
    LockError). Patients are mapped to ``person_id`` by ``person_map`` (CSV ``patient_id,person_id``) or
    ``person_source="cdm"`` (``person.person_source_value`` of the same schema). ``secret_file`` holds the site secret of the keyed
    hashes (created on first use, with a warning). ``workers`` processes read headers (default: CPU count;
    1 = in this process), ``batch_size`` files per batch (a worker's unit of reading). Consecutive batches are
    loaded together, one transaction per ``commit_rows`` files or more (``COMMIT_ROWS``; the last one may hold
    fewer): a kill at any moment leaves the tables as before or after such a transaction, and the next run
    loads the rest. ``file_path`` is stored relative to ``root`` (default: the directory given, or the common
    folder of the paths). Batches are staged as Parquet in ``staging_dir`` (kept with ``keep_staging``).
    Returns the summary dict (and writes it to ``summary_json`` if given); raises LockError if another run
    holds the schema.

    After the last batch, ``finalize`` recounts the touched studies and numbers their series (it also runs
    first, to complete a run that was killed before its own finalize). Then, when ``map_protocols`` and the
    LOINC/RSNA playbook is loaded in the schema (``rcdm_playbook``), every study's ``protocol_concept_id`` is
    mapped (``rcdm.protocols.remap.remap``; concepts from ``vocabulary_database_schema``, default the CDM
    schema); otherwise they stay 0 and the summary says why. Unless ``quiet``, the summary, the run's
    quarantined files and the mapping quality report are printed (stdout).

    ``executor`` reads the headers: ``"local"`` (``workers`` processes here), ``"dask-local"`` (a Dask
    LocalCluster of ``workers`` processes) or ``"dask"`` (the cluster at ``scheduler``, ``tcp://host:8786``);
    with ``staging_url`` (a shared path or fsspec URL) Dask workers stage their batches there themselves
    (``rcdm.etl.dask_executor``, docs/staging-format.md). Results and tables are the same with every executor.

    The tables follow the archive: a file whose size, mtime or header checksum (``check_content``: one small read
    of each file that looks unchanged; False trusts size and mtime) changed since it was loaded is read again and
    its earlier rows replaced; files gone from the folders walked are found through the path index and their
    rows removed; studies are recounted (emptied ones removed); a changed person map reloads the files of the
    persons it changes (``rcdm.etl.persons``). ``path_index`` is the site's index of real paths (default beside
    the secret: ``rcdm.etl.path_index``), the only place the real relative paths are kept.

    A PACS address instead of paths (``dicomweb+https://host/dicom-web`` or ``dimse://AET@host:port``, one per
    run) lists its instances by QIDO-RS or C-FIND (``rcdm.pacs.etl``; ``pacs``: a ``rcdm.pacs.PacsOptions``)
    and loads the same rows a file ETL of the same images would, resumable by study.
    """
    # the worker processes start while the database is opened and prepared (executor.WorkerPool)
    return run_begun(begin(paths, conn, _etl_options(options, keywords)), conn)


def run_begun(run: Begun, conn: Connection | str | os.PathLike | None) -> dict[str, Any]:
    """``run_etl`` of a run ``start.begin`` began (``rcdm etl`` begins it before it imports this module: a first
    load's workers read during those imports); shuts its workers down when done."""
    try:
        if conn is None or isinstance(conn, (str, os.PathLike)):
            with lock.open_database(conn) as opened:
                return _run(run, opened)
        return _run(run, conn)
    finally:
        run.close()


def _run(run: Begun, conn: Connection) -> dict[str, Any]:
    """``run_etl`` once its arguments are checked and the database is open."""
    path_list, addresses, options, pool, started = run.path_list, run.addresses, run.options, run.pool, run.started
    names = ("cdm_database_schema", "person_map", "person_source", "secret_file", "workers", "batch_size",
             "file_list", "staging_dir", "keep_staging", "summary_json", "quiet", "progress",
             "vocabulary_database_schema", "map_protocols", "executor", "scheduler", "staging_url", "commit_rows",
             "path_index", "check_content", "pacs")
    (cdm_database_schema, person_map, person_source, secret_file, workers, batch_size, file_list, staging_dir,
     keep_staging, summary_json, quiet, progress, vocabulary_database_schema, map_protocols, executor, scheduler,
     staging_url, commit_rows, path_index, check_content, pacs) = (getattr(options, name) for name in names)
    schema = cdm_database_schema
    show = (not quiet and sys.stderr.isatty()) if progress is None else bool(progress)

    opening = run.opening = run.opening or Opening.read(path_list, secret_file, options.root, quiet)
    secret, root_dir = opening.secret, opening.root
    if opening.results is None and pool is not None and not addresses and _knows_no_file(conn, schema):
        # a first load into an existing database: the workers read while it opens (the executor: begin checked it)
        opening.start_first_load(iter_files(path_list, file_list), batch_size, check_content, pool)
    early, batches = opening.results, opening.batches
    made = _create_tables(conn, schema)
    lookup = person_lookup(secret, conn, schema, os.fspath(person_map) if person_map else None, person_source)

    lock.acquire(conn, schema)
    run_id = int(query_sql(conn, "SELECT COALESCE(MAX(run_id), 0) + 1 AS next_id FROM @s.rcdm_etl_run;",
                           s=schema)["next_id"][0])
    info = {"host": socket.gethostname(), "pid": os.getpid()}
    execute_sql(conn, "INSERT INTO @s.rcdm_etl_run (run_id, started_at, status, rcdm_version, summary) "
                      "VALUES (:run_id, :started_at, 'running', :version, :summary);", s=schema,
                bind={"run_id": run_id, "started_at": lock.now(), "version": __version__,
                      "summary": json.dumps(info)})
    log.info("run %d: loading into schema %s (%d persons in the map)", run_id, schema, len(lookup))
    staging = Staging(staging_dir, run_id, conn.database_path, keep_staging)
    counts: Counter[str] = Counter()
    skipped_by: Counter[str] = Counter()
    quarantined_by: Counter[str] = Counter()
    changes: dict[str, Any] = {}
    index_path = Path(path_index) if path_index is not None else default_location(secret_file)
    new_studies = 0
    bar = _progress_bar(show)
    status = "failed"
    finalized: dict[str, Any] = {}
    mapping: Any = "not run"
    settings = contextlib.ExitStack()
    try:
        settings.enter_context(load_settings(conn))  # restored in the finally below
        if early is not None and not is_empty(conn, schema, "rcdm_etl_file"):
            opening.close()  # another run recorded files between the probe and the lock: this run reads as a rerun
            early = None
        results = early
        for column in upgrade_columns(conn, schema):
            log.info("run %d: added the column %s (written by an older rcdm)", run_id, column)
        if upgrade_file_keys(conn, schema, created="rcdm_etl_file" in made):
            log.info("run %d: converted the file keys of rcdm_etl_file to BIGINT (written by an older rcdm)", run_id)
        changes["repaired"] = {k: v for k, v in repair(conn, schema).items() if v}
        persons = PersonState.read(conn, schema)
        changes["persons_remapped"] = persons.remap(conn, schema, lookup)
        index = settings.enter_context(PathIndex(index_path))
        changes["removed"] = 0 if addresses else _remove_gone(conn, schema, index, root_dir, path_list)
        repaired = finalize(conn, schema)  # completes a run killed between its last batch and its finalize
        if repaired.images or repaired.studies:
            log.info("run %d: finalize before loading: %d studies recounted, %d images numbered", run_id,
                     repaired.studies, repaired.images)
        if addresses:  # a PACS: no paths (nothing for the path index), the listing's rows instead of files
            source = _pacs_run(addresses[0], secret, batch_size, pacs, secret_file)
            results = source.batches(lambda ids: {k: v[2] for k, v in _known_files(conn, schema, ids).items()},
                                     FINAL_STATUSES)
        elif results is None:
            reader = make_executor(executor, BatchContext(secret), workers, scheduler, staging_url)
            if pool is not None:  # "local" with workers: those already started
                reader = LocalExecutor(BatchContext(secret), pool=pool)
            first_load = isinstance(reader, LocalExecutor) and is_empty(conn, schema, "rcdm_etl_file")
            batches = Batches(iter_files(path_list, file_list), root_dir, batch_size, secret,
                              None if first_load else functools.partial(_known_files, conn, schema), check_content)
            batches.ramp = pool.workers if pool is not None else 0
            results = reader.map_batches(iter(batches))
        paths = batches.paths if batches is not None else {}  # a PACS run has no batches of paths
        staged = _staged(results, _Stage(staging, lookup, paths, index, root_dir), counts, skipped_by, bar)
        with deferred_indexes(conn, schema) as deferred:
            if deferred:
                log.info("run %d: empty schema: secondary indexes are built after the load", run_id)
            for tags, group in group_batches(staged, commit_rows):
                index.flush()  # the group's files are in the index before the database records them
                staging.flush()  # and its batches are staged
                persons.record(conn, schema, group)
                for outcome, table in _load_isolating(conn, schema, group, run_id, any(tag["known"] for tag in tags),
                                                      counts):
                    new_studies += outcome.new_studies
                    _count(outcome, table, counts, skipped_by, quarantined_by)
                if bar is not None:
                    bar.set_postfix(studies=new_studies, quarantined=sum(quarantined_by.values()), refresh=False)
        if os.environ.get(EXIT_BEFORE_FINALIZE):
            os._exit(137)
        done = finalize(conn, schema)
        if addresses:
            source.finish()
        finalized = {"studies": done.studies, "images": done.images, "seconds": done.seconds}
        log.info("run %d: finalize recounted %d studies, numbered %d images in %.3f s", run_id, done.studies,
                 done.images, done.seconds)
        mapping = _map_protocols(conn, schema, vocabulary_database_schema) if map_protocols else "disabled"
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        settings.close()
        if bar is not None:
            bar.close()
        summary = _summary(conn, schema, run_id, counts, skipped_by, quarantined_by, new_studies,
                           time.monotonic() - started) if status == "finished" else {"run_id": run_id, **counts}
        if status == "finished":
            summary["finalize"] = finalized
            summary["protocol_mapping"] = mapping
            summary["changes"] = {"new": int(counts["new"]), "changed": int(counts["changed"]),
                                  "removed": int(changes.get("removed", 0)),
                                  "persons_remapped": int(changes.get("persons_remapped", 0)),
                                  "repaired": changes.get("repaired", {}),
                                  "values_fitted": int(counts["values_fitted"]),
                                  "refused_rows": int(counts["refused_rows"]),
                                  "non_text_values": int(counts["non_text_values"])}
        try:
            clear_work_tables(conn, schema)
            execute_sql(conn, "UPDATE @s.rcdm_etl_run SET status = :status, finished_at = :finished, "
                              "summary = :summary WHERE run_id = :run_id;", s=schema,
                        bind={"status": status, "finished": lock.now(), "run_id": run_id,
                              "summary": json.dumps({**summary, **info}, default=str)})
        finally:
            lock.release(conn, schema)
            staging.close()
    if summary_json is not None:
        Path(summary_json).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log.info("run %d: %d files seen, %d loaded, %d quarantined, %d skipped", run_id, summary["files_seen"],
             summary["loaded"], summary["quarantined"], summary["skipped"])
    if not quiet:
        from rcdm.etl.output import print_run

        print_run(conn, schema, summary)
    return summary


def _knows_no_file(conn: Connection, schema: str) -> bool:
    """Whether the schema has recorded no file (no ``rcdm_etl_file`` table yet, or an empty one): a first load,
    whose batches the workers may start before the run's tables, lock and repairs (checked again under the lock)."""
    return not exists_table(conn, schema, "rcdm_etl_file") or is_empty(conn, schema, "rcdm_etl_file")


def _create_tables(conn: Connection, schema: str) -> set[str]:
    """The R-CDM, ETL and work tables where missing (144 statements into an empty schema); in one transaction
    where the backend allows (``Backend.ddl_in_one_transaction``: the run's lock is itself one of these tables).
    Returns the names of the tables it created."""
    with transaction(conn) if conn.backend.ddl_in_one_transaction else contextlib.nullcontext():
        rows = create_tables(conn, schema, model="rcdm") + create_tables(conn, schema, model="etl")
        create_work_tables(conn, schema)
    return {row["object"] for row in rows if row["type"] == "table" and row["status"] == "created"}


def _pacs_run(address: str, secret: bytes, batch_size: int, options: Any, secret_file: Any) -> Any:
    """The PACS source of a run (its site-local index beside the site secret unless the options say)."""
    from rcdm.pacs.common import PacsOptions
    from rcdm.pacs.etl import PacsRun
    from rcdm.pacs.index import default_index_path

    options = options if options is not None else PacsOptions()
    index = options.index or str(default_index_path(secret_file))
    return PacsRun(address, secret, batch_size, options, index, rescan=options.rescan)


def _map_protocols(conn: Connection, schema: str, vocabulary_database_schema: str | None) -> Any:
    """Map every study's protocol with the playbook in the schema; a text instead of counts when it cannot."""
    if not exists_table(conn, schema, "rcdm_playbook"):
        return "no playbook loaded"
    if int(query_sql(conn, "SELECT COUNT(*) AS n FROM @s.rcdm_playbook;", s=schema)["n"][0]) == 0:
        return "no playbook loaded"
    from rcdm.protocols.remap import remap

    try:
        result = remap(conn, schema, vocabulary_database_schema)
    except Exception as exc:  # noqa: BLE001 - the images are loaded; mapping can be redone with rcdm vocab remap
        log.warning("protocol mapping failed: %s", exc)
        return f"failed: {type(exc).__name__}: {exc}"[:300]
    log.info("protocols mapped: %s", result)
    return result


def _summary(conn: Connection, schema: str, run_id: int, counts: Counter, skipped_by: Counter,
             quarantined_by: Counter, new_studies: int, seconds: float) -> dict[str, Any]:
    loaded_here = query_sql(
        conn,
        "SELECT COUNT(DISTINCT i.radiology_occurrence_id) AS studies, COUNT(DISTINCT i.radiology_series_id) AS series, "
        "COUNT(*) AS images FROM @s.radiology_image i WHERE i.radiology_image_id IN (SELECT f.radiology_image_id "
        "FROM @s.rcdm_etl_file f WHERE f.run_id = :run_id AND f.status = 'loaded');", s=schema,
        bind={"run_id": run_id}).iloc[0]
    totals = query_sql(conn, "SELECT (SELECT COUNT(*) FROM @s.radiology_occurrence) AS occurrences, "
                             "(SELECT COUNT(*) FROM @s.radiology_image) AS images;", s=schema).iloc[0]
    files_seen = int(counts["files_seen"])
    skipped = int(sum(skipped_by.values()))
    quarantined = int(sum(quarantined_by.values()))
    return {
        "run_id": run_id,
        "files_seen": files_seen,
        "loaded": int(counts["loaded"]),
        "quarantined": quarantined,
        "skipped": skipped,
        "skipped_by_reason": dict(sorted(skipped_by.items())),
        "quarantined_by_reason": dict(sorted(quarantined_by.items())),
        "unmapped_patient": int(skipped_by.get("unmapped_patient", 0)),
        "invalid_dates": int(counts["invalid_dates"]),
        "studies": int(loaded_here["studies"]),
        "series": int(loaded_here["series"]),
        "images": int(loaded_here["images"]),
        "new_studies": int(new_studies),
        "tables": {"radiology_occurrence": int(totals["occurrences"]), "radiology_image": int(totals["images"])},
        "seconds": round(seconds, 3),
        "files_per_second": round(files_seen / seconds, 1) if seconds > 0 else None,
    }
