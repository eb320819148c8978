"""How RadiologyCDM calls rcdm: every call returns its value, the warnings it raised, what it printed and its
error, as plain values, so that the R side can re-issue them as R warnings, messages and classed R errors.

Exceptions never cross into reticulate (reticulate 1.28 garbles a message over ~1,000 characters into
``basic_string::substr``), warnings are not printed to the console later by Python, and nothing Python prints
reaches the console except through R.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from typing import Any, Callable

_IGNORED = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


class _Collect(logging.Handler):
    """Keeps the rcdm loggers' warnings and errors of one call (e.g. "protocol mapping failed")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(("LogWarning", f"{record.name}: {record.getMessage()}"))


@contextlib.contextmanager
def _rcdm_log_warnings():
    """Collect the ``rcdm`` loggers' warnings; they are not also printed (unless the user configured logging)."""
    logger = logging.getLogger("rcdm")
    handler = _Collect()
    propagate = logger.propagate
    logger.addHandler(handler)
    if not logging.getLogger().handlers:
        logger.propagate = False  # else logging's last-resort handler prints them to stderr as well
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


class Outcome:
    """The result of one call: ``value`` (None after an error), ``warnings`` [(category, message)],
    ``output`` (printed text), ``error_classes`` (the exception's class names, most specific first; empty when
    the call succeeded) and ``error_message``."""

    def __init__(self) -> None:
        self.value: Any = None
        self.warnings: list[tuple[str, str]] = []
        self.output = ""
        self.error_classes: list[str] = []
        self.error_message = ""


def call(fn: Callable[..., Any], args: Any = None, kwargs: Any = None) -> Outcome:
    """``fn(*args, **kwargs)`` with its warnings, printed output and exception captured in an Outcome."""
    outcome = Outcome()
    printed = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, _rcdm_log_warnings() as logged:
        warnings.simplefilter("always")
        for category in _IGNORED:
            warnings.filterwarnings("ignore", category=category)
        # reticulate 1.28 calls an Index method pandas 2 deprecates on every data.frame conversion
        warnings.filterwarnings("ignore", message="Index.format is deprecated", category=FutureWarning)
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                outcome.value = fn(*list(args or ()), **dict(kwargs or {}))
        except Exception as exc:  # every error goes back to R as a value
            outcome.error_classes = [k.__name__ for k in type(exc).__mro__
                                     if k not in (object, BaseException, Exception)]
            outcome.error_message = str(exc) or type(exc).__name__
    outcome.warnings = [(w.category.__name__, str(w.message)) for w in caught] + logged
    outcome.output = printed.getvalue()
    return outcome


def quiet_conversions() -> None:
    """Ignore, for the session, the pandas FutureWarning reticulate 1.28 triggers converting data.frames."""
    warnings.filterwarnings("ignore", message="Index.format is deprecated", category=FutureWarning)
