"""How the ETL's worker processes start: from a forkserver that imports the reader once, started as early as a
run can (``start``), so that its imports overlap the caller's own.

Standard library only: ``rcdm etl`` calls ``start`` before it imports the database layer (~1 s of imports in a
new process, during which the server imports the reader on the other core instead of after it).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from typing import Any

PRELOAD = ("__main__", "rcdm.etl.transform", "pandas")
"""What the forkserver imports once, before it forks any worker: a script's main module (multiprocessing imports
it in every new worker otherwise: ~0.1 s less per pool measured with a main that imports rcdm), the worker code
(``transform.process_batch``) and pandas (``pa.table()`` of a dict imports it on first use, to ask whether it is
a DataFrame, which made each worker's first batch 0.6-0.9 s slower than the next ones)."""

PROGRAM_PRELOAD = ("__main__", "rcdm.etl.preload")
"""What the forkserver of the ``rcdm`` program imports instead (``start(PROGRAM_PRELOAD)``, by ``rcdm etl``):
``rcdm.etl.preload`` has pyarrow settle without pandas and keeps the collector out. Only where the process ends
with the command: the one forkserver of a process serves every pool made there (R, a notebook: their own work's
pools too, and from Python 3.14 the default start method's), whose pyarrow would then take pandas for absent."""


@contextlib.contextmanager
def child_environment() -> Iterator[None]:
    """Start worker processes without the host's ``LD_LIBRARY_PATH`` when Python runs inside R (reticulate).

    R's start-up script points ``LD_LIBRARY_PATH`` at the system library folder; a worker process started from
    there would load the system's libpython next to this interpreter's standard library and die on import
    (``undefined symbol: _PyModule_Add``). The variable is restored once the block ends.
    """
    if "R_HOME" not in os.environ or "LD_LIBRARY_PATH" not in os.environ:
        yield
        return
    saved = os.environ.pop("LD_LIBRARY_PATH")
    try:
        yield
    finally:
        os.environ["LD_LIBRARY_PATH"] = saved


def default_workers() -> int:
    """Worker processes when a run does not say: one a CPU."""
    return max(1, os.cpu_count() or 1)


def pool_workers(executor: str | None, workers: int | None, pacs: bool) -> int:
    """The local worker processes a run starts (``workers``, default one a CPU), or 0 when it starts none: one
    worker reads in the caller, a Dask executor has its own, a PACS run lists instead of reading files."""
    count = workers if workers is not None else default_workers()
    local = str(executor or "local").strip().lower() == "local"
    return count if local and count > 1 and not pacs else 0


def pool_context() -> Any:
    """The multiprocessing context of the worker pools: the forkserver, preloading ``PRELOAD`` (a no-op once the
    server runs), where the platform has it; the platform's default otherwise."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else None)
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(list(PRELOAD))
    return context


def start(preload: Sequence[str] = PRELOAD) -> None:
    """Start the forkserver now, if the platform has one and it does not run yet: it imports ``preload`` in its
    own process while the caller goes on (a worker pool made later forks from it). Safe to call more than once
    (a server that runs keeps what it preloaded)."""
    context = pool_context()
    if context.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    context.set_forkserver_preload(list(preload))

    with child_environment():
        forkserver.ensure_running()
