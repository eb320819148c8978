"""One background writer thread: calls run in order, ``flush`` waits for them and raises the first error.

The ETL's site-local writes (the path index's SQLite rows, the staged Parquet files) release the GIL, so they
run beside the main thread while it waits for the workers; ``run_etl`` flushes both before each group commits,
so the database never records a file that is not indexed and staged.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class BackgroundWriter:
    """A single writer thread, started on first use (``name`` names the thread)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._executor: ThreadPoolExecutor | None = None
        self._pending: list[Future[Any]] = []

    def submit(self, call: Callable[..., Any], *args: Any) -> None:
        """Run ``call(*args)`` in the writer thread, after the calls submitted before it."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._pending.append(self._executor.submit(call, *args))

    def flush(self) -> list[Any]:
        """Wait for the calls submitted so far; their results (the first error is raised)."""
        pending, self._pending = self._pending, []
        return [future.result() for future in pending]

    def shutdown(self) -> None:
        """Wait for the calls in flight without raising their errors (the caller is closing: a failed write
        belongs to a run whose own error is the one to see), and stop the thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._pending = []
