"""Run ``process_batch`` over a stream of batches: in this process, or in a pool of worker processes.

Batches are submitted lazily with a bounded number in flight (twice the workers; before a run asks for its first
results, ``LocalExecutor.start``'s thread holds at most ``held``), and results come back in submission order, so
memory stays flat however large the archive and the load order is deterministic. A
distributed executor only has to offer the same ``map_batches(batches) -> iterator of (batch, result)``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

import pyarrow as pa

from rcdm.etl.discover import complete_entries
from rcdm.etl.forkserver import child_environment, default_workers, pool_context
from rcdm.etl.transform import BatchContext, FileEntry, process_batch

T = TypeVar("T")


def read_batch(entries: Sequence[tuple], ctx: BatchContext) -> pa.Table:
    """``process_batch`` of entries (``FileEntry`` or its fields as a plain tuple, ``packed``) whose key and
    stat the walk may have left to the worker (the key: ``discover.complete_entries``; size and mtime:
    ``process_batch``, from the file it opens): in parallel there, instead of in the main process."""
    return process_batch(complete_entries([FileEntry._make(e) for e in entries], ctx.secret), ctx)


def packed(entries: list[FileEntry]) -> list[tuple]:
    """The entries as plain tuples for the pipe to a worker: pickling a named tuple costs ~10 us a file (its
    class, by name, each time), a plain tuple ~1 us."""
    return [tuple(e) for e in entries]


class WorkerPool:
    """The worker processes of a run, started in a background thread as soon as the run's arguments are checked.

    Starting them (the forkserver imports the reader, then forks each worker) takes ~1 s for 2 workers on a
    loaded 2-core machine; started first, that overlaps the run's opening (connection, DDL, lock, repair, person
    map) instead of delaying the first batch. ``get`` waits for the start and raises its error, if any;
    ``close`` shuts the processes down (and is safe whether or not they were used)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, int(workers))
        self._pool: ProcessPoolExecutor | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="rcdm-pool-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            with child_environment():
                pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=pool_context())
                self._pool = pool
                for _ in range(self.workers):  # each task with no idle worker starts one (all at once before 3.11)
                    pool.submit(os.getpid)
        except BaseException as exc:  # noqa: BLE001 - raised in the run's thread by get()
            self._error = exc

    def get(self) -> ProcessPoolExecutor:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._pool is not None
        return self._pool

    def close(self) -> None:
        self._thread.join()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class LocalExecutor:
    """``workers == 1``: read in this process; otherwise a ``ProcessPoolExecutor`` (forkserver start method):
    ``pool``'s when given (started early by the caller, who closes it), else one of its own for the call."""

    def __init__(self, ctx: BatchContext, workers: int | None = None, pool: WorkerPool | None = None) -> None:
        self.ctx = ctx
        self.workers = pool.workers if pool is not None else max(1, int(workers or default_workers()))
        self.pool = pool

    @property
    def _limit(self) -> int:
        """Batches in flight at most (two a worker: one read while the next waits in its queue)."""
        return self.workers * 2

    def map_batches(self, batches: Iterable[tuple[T, list[FileEntry]]]) -> Iterator[tuple[T, pa.Table]]:
        """For each ``(tag, entries)``, yield ``(tag, process_batch(entries, ctx))``, in order (entries may leave
        their key and stat to the worker: ``read_batch``)."""
        if self.workers == 1:
            for tag, entries in batches:
                yield tag, read_batch(entries, self.ctx)
            return
        with contextlib.ExitStack() as stack:
            pool = self.pool or stack.enter_context(contextlib.closing(WorkerPool(self.workers)))
            yield from self._map(pool.get(), iter(batches), deque())

    def start(self, batches: Iterator[tuple[T, list[FileEntry]]]) -> Started:
        """``map_batches`` with ``pool`` (the caller's, starting) whose batches a thread sends as soon as the workers
        run, while the caller goes on (a cold run's opening: imports, database, tables) until it asks for the
        first result; an error of that thread is raised there. ``close()`` the results not wanted.

        The thread keeps each worker busy as ``_map`` would (two batches a worker not yet read) and holds at most
        ``held`` batches read or in flight, so memory stays bounded however long the opening takes."""
        assert self.pool is not None and self.workers > 1
        return Started(self, _Feeder(self.pool, batches, self.ctx, self._limit, self.held))

    held = 16
    """Batches ``start``'s thread holds at most, read or in flight (16 x 5,000 files: ~50 MB of rows)."""

    def _map(self, pool: ProcessPoolExecutor, batches: Iterator[tuple[T, list[FileEntry]]],
             in_flight: deque[tuple[Any, Future]]) -> Generator[tuple[T, pa.Table], None, None]:
        limit = self._limit
        try:
            for tag, entries in batches:
                in_flight.append((tag, pool.submit(read_batch, packed(entries), self.ctx)))
                while len(in_flight) >= limit:
                    done_tag, future = in_flight.popleft()
                    yield done_tag, future.result()
            while in_flight:
                done_tag, future = in_flight.popleft()
                yield done_tag, future.result()
        finally:
            for _tag, future in in_flight:
                future.cancel()


class Started(Iterator[tuple[Any, pa.Table]]):
    """``LocalExecutor.start``'s results, in order: the first one asked for stops the thread that sends batches
    and the caller's thread sends the rest (``_map``); ``close`` stops it without reading (the results dropped)."""

    def __init__(self, executor: LocalExecutor, feeder: _Feeder) -> None:
        self.executor, self.feeder = executor, feeder
        self._results: Generator[tuple[Any, pa.Table], None, None] | None = None

    def __next__(self) -> tuple[Any, pa.Table]:
        if self._results is None:
            in_flight = self.feeder.stop()
            assert self.executor.pool is not None
            self._results = self.executor._map(self.executor.pool.get(), self.feeder.batches, in_flight)
        return next(self._results)

    def close(self) -> None:
        if self._results is not None:
            self._results.close()  # cancels what is in flight
            return
        with contextlib.suppress(Exception):  # dropped: its error, if any, does not matter
            for _tag, future in self.feeder.stop():
                future.cancel()
        self.feeder.in_flight.clear()  # the futures' callbacks refer to the feeder: no cycle keeps their rows


class _Feeder:
    """``LocalExecutor.start``'s thread: sends batches to the pool while fewer than ``limit`` are unread and
    fewer than ``held`` are held, until ``stop`` hands the batches in flight (and the iterator) back."""

    def __init__(self, pool: WorkerPool, batches: Iterator[tuple[Any, list[FileEntry]]], ctx: BatchContext,
                 limit: int, held: int) -> None:
        self.batches, self.ctx, self.limit, self.held = batches, ctx, limit, max(limit, held)
        self.in_flight: deque[tuple[Any, Future]] = deque()
        self.failed: BaseException | None = None
        self.stopping = False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._send, args=(pool,), name="rcdm-first-batches", daemon=True)
        self.thread.start()

    def _wake(self, _future: Future | None = None) -> None:
        with self.changed:
            self.changed.notify_all()

    def _room(self) -> bool:
        unread = sum(not future.done() for _tag, future in self.in_flight)
        return unread < self.limit and len(self.in_flight) < self.held

    def _send(self, pool: WorkerPool) -> None:
        try:
            running = pool.get()
            for tag, entries in self.batches:
                future = running.submit(read_batch, packed(entries), self.ctx)
                self.in_flight.append((tag, future))
                future.add_done_callback(self._wake)
                with self.changed:
                    self.changed.wait_for(lambda: self.stopping or self._room())
                    if self.stopping:
                        return
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread by stop()
            self.failed = exc

    def stop(self) -> deque[tuple[Any, Future]]:
        """Stop sending; the batches sent, in order (raises the thread's error, if any)."""
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        self.thread.join()
        if self.failed is not None:
            raise self.failed
        return self.in_flight
