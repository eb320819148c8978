"""What a run does before its database is open: check its arguments, start its workers, read the site secret
and, for a first load, send the workers its first batches (``begin``); and the walk as batches (``Batches``).

``Batches`` walks the archive a batch at a time and leaves out the files an earlier run loaded unchanged;
``Opening`` holds the site secret and archive root, and the batches the workers started reading before the
run opened its database (``Opening.start_first_load``).

Light on purpose (no database layer, no pandas): ``rcdm etl`` begins a run with it before it imports the
database layer (~0.6 s of imports in a new process), so that a first load's workers read on the core those
imports leave idle.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from rcdm.dicom.deid import load_or_create_secret
from rcdm.errors import MissingSecretWarning, UsageError
from rcdm.etl.dask_executor import checked_executor
from rcdm.etl.discover import iter_files
from rcdm.etl.executor import LocalExecutor, Started, WorkerPool
from rcdm.etl.forkserver import pool_workers
from rcdm.etl.transform import BatchContext, FileEntry, file_ids, file_key, relative_paths, stat_of
from rcdm.identifiers import check_schema
from rcdm.options import EtlOptions

log = logging.getLogger("rcdm.etl")

FINAL_STATUSES = ("loaded", "duplicate", "skipped", "quarantined")
"""Statuses of ``rcdm_etl_file`` that a re-run does not read again while the file is unchanged
(``unmapped_patient`` is retried: the person map may have grown)."""

RAMP_STEPS = 3
"""``Batches.ramp``: the first batches of a run with worker processes are 2**3, 2**2, then 2 times smaller."""

Known = Callable[[pa.Array], "dict[int, tuple[int | None, int | None, str, int | None]]"]
"""The files of a batch an earlier run recorded: ``file_id`` → (size, mtime_ns, status, header_checksum)."""


class Batches:
    """Batches of FileEntry to read, with the count of unchanged files each batch left out.

    ``known`` looks up what earlier runs recorded of a batch's files; None for a first load (nothing to skip:
    the walk neither keys nor stats the files, the workers do: ``_first``)."""

    def __init__(self, files: Iterator[str], root: str, size: int, secret: bytes, known: Known | None,
                 check_content: bool = True) -> None:
        self.files, self.root, self.size, self.secret = files, root, size, secret
        self.known, self.check_content = known, check_content
        self.paths: dict[str, str] = {}
        """file_key (hex) → real relative path of the files in flight (for the path index; popped when staged)."""

    ramp = 0
    """With N worker processes: the first N batches hold 1/8 of the batch size, the next N 1/4, the next N 1/2
    (``RAMP_STEPS``), so that every worker starts at once and the first results come soon (a 5,000-file run
    used to be one batch: one worker read it while the other waited)."""

    def _size(self, number: int) -> int:
        steps = max(0, RAMP_STEPS - number // self.ramp) if self.ramp else 0
        return max(1, self.size >> steps)

    def __iter__(self) -> Iterator[tuple[dict[str, Any], list[Any]]]:
        files = iter(self.files)
        number = 0
        while chunk := list(itertools.islice(files, self._size(number))):  # the walk read lazily, a batch at a time
            yield self._first(chunk) if self.known is None else self._prepare(chunk, self.known)
            number += 1

    def _prepare(self, paths: list[str], known_files: Known) -> tuple[dict[str, Any], list[FileEntry]]:
        entries = []
        for path, rel in zip(paths, relative_paths(paths, self.root)):
            size, mtime = stat_of(path)
            entries.append(FileEntry(path, rel, file_key(rel, self.secret), size, mtime))
        ids = file_ids([e.file_key for e in entries])
        known = known_files(ids)
        fresh = []
        known_fresh = 0
        final: set[str] = set()
        known_keys: set[str] = set()
        for e, key in zip(entries, ids.to_pylist()):
            k = known.get(key)
            if k is not None:
                known_keys.add(e.file_key)
            if k is not None and k[2] in FINAL_STATUSES:
                final.add(e.file_key)
                if k[0] is not None and k[0] == e.size and k[1] is not None and k[1] == e.mtime_ns:
                    if k[3] is None or not self.check_content:
                        continue  # unchanged by size and mtime (no checksum recorded, or not asked to compare)
                    e = e._replace(expect_checksum=k[3])  # the worker compares the header checksum
            fresh.append(e)
            self.paths[e.file_key] = e.file_path
            known_fresh += k is not None
        tag = {"files": len(paths), "unchanged": len(paths) - len(fresh), "known": known_fresh, "final": final,
               "known_keys": known_keys}
        return tag, fresh

    def _first(self, paths: list[str]) -> tuple[dict[str, Any], list[Any]]:
        """The batch of a run into a schema that knows no file: the entries without key or stat
        (``discover.complete_entries`` fills them in the worker), as the plain tuples of ``FileEntry``'s fields
        that the pipe to the workers carries (``executor.packed``; made at C speed, no named tuple a file); the
        tag holds the real relative paths, in the batch's order (``seq``), for the path index."""
        relative = relative_paths(paths, self.root)
        entries = list(zip(paths, relative, *(itertools.repeat(v) for v in ("", None, None, None))))
        tag = {"files": len(paths), "unchanged": 0, "known": 0, "final": set(), "known_keys": set(),
               "relative": relative}
        return tag, entries


def default_root(paths: list[str]) -> str:
    """The archive root when none is given: the directory given, or the common folder of all the paths."""
    absolute = [os.path.abspath(p) for p in paths]
    if not absolute:
        return os.getcwd()
    if len(absolute) == 1:
        return absolute[0] if os.path.isdir(absolute[0]) else os.path.dirname(absolute[0])
    common = os.path.commonpath(absolute)
    return common if os.path.isdir(common) else os.path.dirname(common)


@dataclass
class Opening:
    """What a run knows before its database is open: the site secret, the archive root and, for a first load
    whose workers started early, its batches and their results (``start_first_load``)."""

    secret: bytes
    root: str
    batches: Batches | None = None
    results: Iterator[tuple[dict[str, Any], pa.Table]] | None = None

    @classmethod
    def read(cls, path_list: list[str], secret_file: str | os.PathLike | None, root: str | os.PathLike | None,
             quiet: bool) -> Opening:
        """The site secret (created on first use, with a warning unless ``quiet``) and the archive root."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MissingSecretWarning)
            secret = load_or_create_secret(secret_file)
        for w in caught:
            log.info("%s", w.message)
            if not quiet:
                print(f"rcdm: WARNING: {w.message}", file=sys.stderr)
        return cls(secret, os.path.abspath(os.fspath(root)) if root is not None else default_root(path_list))

    def start_first_load(self, files: Iterator[str], batch_size: int, check_content: bool, pool: WorkerPool) -> None:
        """Send the workers a first load's first batches, so that they read while the run opens the database, its
        tables, lock and repairs (which only remove rows of earlier runs, of which there are none). The batches
        go out from a thread once the workers run (``LocalExecutor.start``): the caller goes on at once."""
        self.batches = Batches(files, self.root, batch_size, self.secret, None, check_content)
        self.batches.ramp = pool.workers
        self.results = LocalExecutor(BatchContext(self.secret), pool=pool).start(iter(self.batches))

    def close(self) -> None:
        """Drop the early results (another run recorded files before this one took the lock; or an error)."""
        if isinstance(self.results, Started):
            self.results.close()
        self.batches = self.results = None


@dataclass
class Begun:
    """A run whose arguments are checked (``begin``): its paths or PACS address, its options (numbers made whole
    numbers), its workers (``pool``, starting; None when it reads in this process) and, when known before the
    database is open, its ``opening``."""

    path_list: list[str]
    addresses: list[str]
    options: EtlOptions
    pool: WorkerPool | None
    opening: Opening | None = None
    started: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        """Drop early results and shut the workers down (safe more than once)."""
        if self.opening is not None:
            self.opening.close()
        if self.pool is not None:
            self.pool.close()


def begin(paths: str | os.PathLike | Iterable[str | os.PathLike] | None, target: Any, options: EtlOptions) -> Begun:
    """Check a run's arguments, start its worker processes (they start while the database is opened) and, when
    ``target`` (``run_etl``'s ``conn``: a path, URL, open Connection or None) is a database file that does not
    exist yet (``new_database_file``), read the site secret and send the workers the first batches at once (a
    run into an existing database probes it first: ``run._run``).

    So into a new file the secret is read (or created) before the database is opened, and an error of the walk
    (an unreadable folder) is raised when the run asks for its first results, after its opening."""
    path_list, addresses, options = checked(paths_of(paths), options)
    workers = pool_workers(options.executor, options.workers, bool(addresses))
    run = Begun(path_list, addresses, options, WorkerPool(workers) if workers else None)
    if run.pool is not None and not addresses and new_database_file(target):
        try:
            run.opening = Opening.read(path_list, options.secret_file, options.root, options.quiet)
            run.opening.start_first_load(iter_files(path_list, options.file_list), options.batch_size,
                                         options.check_content, run.pool)
        except BaseException:
            run.close()
            raise
    return run


def paths_of(paths: str | os.PathLike | Iterable[str | os.PathLike] | None) -> list[str]:
    """``run_etl``'s paths as a list of texts (one path, many, or none)."""
    if paths is None:
        return []
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def whole_number(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum`` (R passes numbers as doubles); UsageError otherwise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number, not {value!r}") from None
    if not number.is_integer() or number < minimum:
        raise UsageError(f"{name} must be a whole number >= {minimum}, not {value!r}")
    return int(number)


def checked(path_list: list[str], options: EtlOptions) -> tuple[list[str], list[str], EtlOptions]:
    """Every argument checked before the site secret is created or anything is written: the paths, the PACS
    address (``[address]`` or ``[]``) and the options with their numbers made whole numbers."""
    cdm_database_schema, vocabulary_database_schema = options.cdm_database_schema, options.vocabulary_database_schema
    file_list, person_map, person_source = options.file_list, options.person_map, options.person_source
    check_schema(cdm_database_schema, "cdm_database_schema")
    if vocabulary_database_schema is not None:
        check_schema(vocabulary_database_schema, "vocabulary_database_schema")
    if not path_list and file_list is None:
        raise UsageError("Give at least one path (a DICOM file or folder) or a file list.")
    if (person_map is None) == (person_source is None):
        raise UsageError("Give exactly one of person_map (a CSV 'patient_id,person_id') or person_source='cdm'.")
    if person_source is not None and str(person_source).lower() != "cdm":
        raise UsageError(f"person_source must be 'cdm' (the CDM's person.person_source_value), not {person_source!r}")
    # every argument is checked before the site secret is created or anything is written
    from rcdm.pacs.url import is_pacs_url, parse_pacs_url

    addresses = [p for p in path_list if is_pacs_url(p)]
    if addresses and (len(path_list) > 1 or file_list is not None):
        raise UsageError("Give one PACS address per run, without file paths or a file list.")
    for address in addresses:
        parse_pacs_url(address)
    missing = [str(p) for p in path_list if not is_pacs_url(p) and not os.path.lexists(p)]
    if missing:
        raise UsageError(f"No such file or folder: {', '.join(missing[:5])}")
    if file_list is not None and not os.path.isfile(file_list):
        raise UsageError(f"No such file list: {file_list}")
    checked_executor(options.executor, options.scheduler, options.staging_url)
    if person_map is not None and not os.path.isfile(person_map):
        raise UsageError(f"No person map at {person_map}: give a CSV file with the header 'patient_id,person_id'")
    workers = options.workers
    return path_list, addresses, replace(
        options, batch_size=whole_number(options.batch_size, "batch_size"),
        commit_rows=whole_number(options.commit_rows, "commit_rows"),
        workers=whole_number(workers, "workers") if workers is not None else None)


def new_database_file(target: Any) -> bool:
    """Whether ``target`` is the path of a database file that does not exist yet: a run into it is most likely a
    first load (not always: a SQLite schema's own file beside a missing main file, or another process creating
    the file first; the run checks again under its lock and reads as a rerun then). URLs and the default
    database: False (the run asks the database once it is open); a DuckDB or SQLite path: whether it exists."""
    if not isinstance(target, (str, os.PathLike)):
        return False  # the default database, or an open connection
    text = os.fspath(target)
    if "://" in text or text.startswith("jdbc:") or text == ":memory:":
        return False
    return not os.path.lexists(Path(text).expanduser())


__all__ = ["FINAL_STATUSES", "RAMP_STEPS", "Batches", "Begun", "Opening", "begin", "checked", "default_root",
           "new_database_file", "paths_of", "whole_number"]
