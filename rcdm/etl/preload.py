"""What the forkserver of ``rcdm etl`` imports once, before it forks any worker (``forkserver.PROGRAM_PRELOAD``):
the worker code, pyarrow settled without pandas, the collector kept out of it. Not for the forkserver of a process
that goes on (R, a notebook): it serves every pool made there.

* The worker code (``transform.process_batch``), so that no worker imports it again.
* pyarrow without pandas: the first time pyarrow converts a Python list (``pa.array``, ``pa.table`` of a dict)
  it asks whether pandas is installed, importing it (~0.2 s of CPU) to tell DataFrames and Series from other
  values, and it keeps the answer for the life of the process. The workers convert lists and NumPy arrays only,
  so the server, whose state every worker inherits, asks that question once with pandas hidden: no worker then
  imports pandas. Not for a process that converts pandas objects later (pyarrow would go on taking them for
  plain Python objects).
* No garbage collection during these imports (they make ~0.5 million objects and no garbage: the collector's
  full passes over them cost ~0.06 s), and their objects frozen out of later passes (``gc.freeze``, as Python's
  documentation advises before a fork: the workers' collections skip them and their pages stay shared).
"""

from __future__ import annotations

import gc
import importlib.abc
import sys
from typing import Any

import pyarrow as pa


class _HidePandas(importlib.abc.MetaPathFinder):
    """An import finder under which ``import pandas`` fails, as if it were not installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("pandas is hidden from pyarrow in the ETL's workers", name=name)
        return None


def answer_without_pandas() -> bool:
    """Have pyarrow settle that pandas is absent, unless pandas is imported already (then nothing is saved) or
    pyarrow asked before; True when pyarrow now takes pandas for absent. Any surprise: pandas imported as usual."""
    if "pandas" in sys.modules:
        return False
    hide = _HidePandas()
    sys.meta_path.insert(0, hide)
    try:
        pa.array([])  # the first conversion of a list asks for pandas
        answered = not pa.lib._pandas_api.have_pandas
    except Exception:  # noqa: BLE001 - a pyarrow that asks differently: the workers import pandas as before
        answered = False
    finally:
        sys.meta_path.remove(hide)
    if not answered:
        import pandas  # noqa: F401 - imported once here rather than by each worker's first batch
    return answered


def prepare() -> None:
    """The server's preparation (this module's import): see the module's docstring."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        answer_without_pandas()
        import rcdm.etl.transform  # noqa: F401 - the worker code
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


prepare()
