"""Run ``process_batch`` on a Dask distributed cluster, with the same contract as ``LocalExecutor``.

``DaskExecutor(ctx, scheduler=None | "tcp://host:8786", n_workers=..., staging_url=...)`` offers
``map_batches(batches) -> iterator of (tag, pa.Table)``: results in submission order, a bounded number of
batches in flight (``in_flight``, default three per worker thread), so the ETL loop, the progress bar and the
load are the same whichever executor reads the headers.

* ``scheduler=None`` starts a ``LocalCluster`` (worker processes, one thread each) for the run and closes it
  at the end; ``"tcp://..."`` (or ``tls://...``) connects to a running cluster, whose workers must have the same
  rcdm version installed (checked before the first batch) and see the files at the same absolute paths.
* Each batch is one task with an explicit key and ``retries`` (default 2): a batch whose worker dies is run
  again by the scheduler (up to ``distributed.scheduler.allowed-failures`` deaths), a batch that raises is
  retried; only one result per key ever reaches the client, and the client also refuses to yield a batch
  number twice, so a batch cannot be loaded twice. (The load itself is idempotent per file and per image id
  through ``rcdm_etl_file``, so a re-run after a crash does not duplicate rows either.)
* Results travel one of two ways, decided by ``staging_url``. Without it, the batch's Arrow table comes back
  through Dask (a 500-file batch is ~0.2 MB). With it (a path every worker and the client see, or an fsspec
  URL such as ``s3://bucket/rcdm``), the worker writes the table as Parquet to
  ``<staging_url>/rcdm-<token>/batch-<number>.parquet`` (a temporary name, then a rename; a retried batch
  rewrites the same name) and returns only the path and counts; the client reads the file back, checks its
  schema and removes it. Either way the loader gets the same ``STAGE_SCHEMA`` table (docs/staging-format.md).

The site secret (``BatchContext``) travels to the workers with each task: use a ``tls://`` scheduler with
Dask's ``Security`` settings when the cluster network is not trusted.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from rcdm._version import __version__
from rcdm.errors import MissingDriverError, UsageError
from rcdm.etl.forkserver import child_environment
from rcdm.etl.transform import STAGE_SCHEMA, BatchContext, FileEntry, process_batch

T = TypeVar("T")

EXECUTORS = ("local", "dask", "dask-local")
"""The executor names ``run_etl`` and ``rcdm etl --executor`` accept."""

INSTALL_HINT = "pip install 'rcdm[dask]'"

log = logging.getLogger("rcdm.etl")


def _distributed() -> Any:
    """The ``distributed`` module, or MissingDriverError naming the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingDriverError(f"The Dask executor needs dask[distributed]: {INSTALL_HINT} ({exc})") from None
    return distributed


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError as exc:
        raise MissingDriverError(f"Staging on a URL needs fsspec: {INSTALL_HINT} ({exc})") from None
    return fsspec


class StagedBatch(NamedTuple):
    """What a worker returns when it staged its batch itself: where the Parquet file is, and its row count."""

    url: str
    rows: int


def batch_file_name(number: int) -> str:
    """The name of a worker-staged batch file: ``batch-<number, 9 digits>.parquet`` (number from 1)."""
    return f"batch-{number:09d}.parquet"


def stage_batch(entries: list[FileEntry], ctx: BatchContext, folder_url: str, number: int,
                batch_fn: Callable[[list[FileEntry], BatchContext], pa.Table] = process_batch) -> StagedBatch:
    """Worker side: run the batch, write its table to ``<folder_url>/batch-<number>.parquet``, return the path.

    Written under a unique temporary name and then renamed, so a file present under the final name is a
    complete batch; a retry of the same batch replaces it with the same content.
    """
    fsspec = _fsspec()
    table = batch_fn(entries, ctx)
    fs, folder = fsspec.core.url_to_fs(folder_url)
    fs.makedirs(folder, exist_ok=True)
    target = f"{folder.rstrip('/')}/{batch_file_name(number)}"
    partial = f"{target}.{uuid.uuid4().hex}.part"
    with fs.open(partial, "wb") as f:
        pq.write_table(table, f)
    fs.mv(partial, target)
    return StagedBatch(fs.unstrip_protocol(target), table.num_rows)


def read_staged(url: str, remove: bool = True) -> pa.Table:
    """Client side: read a worker-staged batch back (checking it has exactly ``STAGE_SCHEMA``), then remove it."""
    fsspec = _fsspec()
    fs, path = fsspec.core.url_to_fs(url)
    with fs.open(path, "rb") as f:
        table = pq.read_table(f)
    if not table.schema.equals(STAGE_SCHEMA):
        raise ValueError(f"staged batch {url} does not have the staging schema (docs/staging-format.md)")
    if remove:
        fs.rm(path)
    return table


def _worker_versions() -> str:
    """Run on every worker before the first batch: the rcdm version installed there."""
    from rcdm import _version  # imported on the worker: the version installed there

    return _version.__version__


class DaskExecutor:
    """``process_batch`` on a Dask cluster: ordered, bounded, retried; see the module docstring."""

    def __init__(self, ctx: BatchContext, scheduler: str | None = None, n_workers: int | None = None,
                 staging_url: str | os.PathLike[str] | None = None, retries: int = 2, in_flight: int | None = None,
                 keep_staged: bool = False,
                 batch_fn: Callable[[list[FileEntry], BatchContext], pa.Table] | None = None) -> None:
        _distributed()  # fail early, before any file is read, when the extra is missing
        self.ctx = ctx
        self.scheduler = scheduler
        self.n_workers = max(1, int(n_workers or os.cpu_count() or 1))
        self.staging_url = os.fspath(staging_url) if staging_url is not None else None
        if self.staging_url is not None:
            _fsspec()
        self.retries = int(retries)
        self.in_flight = in_flight
        self.keep_staged = keep_staged
        self.batch_fn = batch_fn or process_batch  # looked up here, so tests can wrap it

    def _open(self) -> tuple[Any, Any]:
        distributed = _distributed()
        if self.scheduler is None:
            with child_environment():
                cluster = distributed.LocalCluster(n_workers=self.n_workers, threads_per_worker=1, processes=True,
                                                   dashboard_address=None, silence_logs=logging.ERROR)
            return cluster, distributed.Client(cluster, set_as_default=False)
        try:
            client = distributed.Client(self.scheduler, set_as_default=False, timeout="30s")
        except OSError as exc:
            raise UsageError(f"Cannot reach the Dask scheduler {self.scheduler}: {exc}") from None
        try:
            versions = client.run(_worker_versions)
        except Exception as exc:  # noqa: BLE001 - typically: rcdm is not importable on a worker
            client.close()
            raise UsageError(f"The Dask workers of {self.scheduler} cannot run rcdm ({type(exc).__name__}: "
                             f"{exc}); install rcdm {__version__} on every worker") from None
        wrong = {w: v for w, v in versions.items() if v != __version__}
        if wrong:
            client.close()
            raise UsageError(f"Dask workers run another rcdm version than this client ({__version__}): {wrong}")
        if not versions:
            log.warning("the Dask cluster at %s has no workers yet; batches wait for one", self.scheduler)
        return None, client

    def _limit(self, client: Any) -> int:
        if self.in_flight:
            return max(1, int(self.in_flight))
        threads = sum(client.nthreads().values()) or self.n_workers
        return max(2, 3 * threads)

    def map_batches(self, batches: Iterable[tuple[T, list[FileEntry]]]) -> Iterator[tuple[T, pa.Table]]:
        """For each ``(tag, entries)``, yield ``(tag, process_batch(entries, ctx))``, in order, each once."""
        cluster, client = self._open()
        token = uuid.uuid4().hex[:12]
        folder = f"{self.staging_url.rstrip('/')}/rcdm-{token}" if self.staging_url is not None else None
        pending: deque[tuple[int, Any, Any]] = deque()
        yielded: set[int] = set()
        try:
            limit = self._limit(client)
            number = 0
            for tag, entries in batches:
                number += 1
                pending.append((number, tag, self._submit(client, token, number, entries, folder)))
                while len(pending) >= limit:
                    yield self._result(pending.popleft(), yielded)
            while pending:
                yield self._result(pending.popleft(), yielded)
        finally:
            if pending:
                client.cancel([future for _n, _tag, future in pending])
            if folder is not None and not self.keep_staged:
                fs, path = _fsspec().core.url_to_fs(folder)
                try:
                    fs.rm(path, recursive=True)
                except (FileNotFoundError, OSError):
                    pass
            client.close()
            if cluster is not None:
                cluster.close()

    def _submit(self, client: Any, token: str, number: int, entries: list[FileEntry], folder: str | None) -> Any:
        # absolute paths: a worker's working directory is not the client's
        entries = [e._replace(path=os.path.abspath(e.path)) for e in entries]
        key = f"rcdm-batch-{token}-{number}"
        if folder is None:
            return client.submit(self.batch_fn, entries, self.ctx, key=key, pure=False, retries=self.retries)
        return client.submit(stage_batch, entries, self.ctx, folder, number, self.batch_fn, key=key, pure=False,
                             retries=self.retries)

    def _result(self, item: tuple[int, Any, Any], yielded: set[int]) -> tuple[Any, pa.Table]:
        number, tag, future = item
        if number in yielded:  # cannot happen with one future per batch; never load a batch twice
            raise RuntimeError(f"batch {number} came back twice")
        result = future.result()
        future.release()
        yielded.add(number)
        if isinstance(result, StagedBatch):
            table = read_staged(result.url, remove=not self.keep_staged)
            if table.num_rows != result.rows:
                raise RuntimeError(f"staged batch {result.url} has {table.num_rows} rows, the worker wrote "
                                   f"{result.rows}")
            return tag, table
        return tag, result


def checked_executor(kind: str | None, scheduler: str | None, staging_url: str | os.PathLike[str] | None) -> str:
    """The executor's name (``local``, ``dask-local`` or ``dask``) once ``kind``, ``scheduler`` and
    ``staging_url`` are known to go together; UsageError otherwise."""
    name = str(kind or "local").strip().lower()
    if name not in EXECUTORS:
        raise UsageError(f"Unknown executor {kind!r}: use one of {', '.join(EXECUTORS)}")
    if name == "dask" and not scheduler:
        raise UsageError("The 'dask' executor needs a scheduler address (--scheduler tcp://host:8786); "
                         "use 'dask-local' for a cluster on this machine")
    if name != "dask" and scheduler:
        raise UsageError(f"A scheduler address is only used with the 'dask' executor, not {name!r}")
    if name == "local" and staging_url is not None:
        raise UsageError("staging_url (where Dask workers stage batches) needs a Dask executor")
    return name


def make_executor(kind: str, ctx: BatchContext, workers: int | None = None, scheduler: str | None = None,
                  staging_url: str | os.PathLike[str] | None = None) -> Any:
    """The executor ``run_etl`` uses: ``local`` (processes on this machine), ``dask-local`` (a LocalCluster of
    ``workers`` processes) or ``dask`` (the cluster at ``scheduler``)."""
    from rcdm.etl.executor import LocalExecutor

    name = checked_executor(kind, scheduler, staging_url)
    if name == "local":
        return LocalExecutor(ctx, workers)
    return DaskExecutor(ctx, scheduler=scheduler if name == "dask" else None, n_workers=workers,
                        staging_url=staging_url)
