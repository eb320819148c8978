"""Every error class of rcdm lives in ``rcdm/errors.py`` under one root (``RcdmError``, warnings under
``RcdmWarning``), with the exit code the CLI gives it; the old import paths still name the same classes."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil

import pytest

import rcdm
from rcdm import errors

MODULES = sorted(m.name for m in pkgutil.walk_packages(rcdm.__path__, "rcdm.", onerror=lambda name: None)
                 if not m.name.endswith("__main__"))

EXIT_CODES = {0, 1, 2, 3, 4, 5, 6, 7, 130}
"""The CLI's exit codes (README): 0 ok, 1 rcdm error, 2 usage, 3 SQL, 4 driver, 5 database, 6 lock, 7 PACS."""

OLD_PATHS = {
    # module that defined the class before rcdm.errors held it: names callers import from it
    "rcdm.dicom.deid": ("SecretError", "PersonMapError", "MissingSecretWarning"),
    "rcdm.dicom.reader": ("DicomSkip", "DicomQuarantine"),
    "rcdm.dicom": ("DicomSkip", "DicomQuarantine"),
    "rcdm.pacs.part10": ("Part10Error",),
    "rcdm.pacs.url": ("PacsAddressError",),
    "rcdm.pacs.common": ("Retry",),
    "rcdm.viewer.throttle": ("GateFull",),
    "rcdm.db.bulk": ("DriverError",),
    "rcdm.extract": ("MaterializeError",),
    "rcdm.sql.render": ("SqlRenderWarning",),
    "rcdm.db.spark_connect": ("Error", "DatabaseError", "OperationalError", "ProgrammingError", "InterfaceError"),
    "rcdm.study_spec": ("StudySpecError",),
    "rcdm.study_cohort_sql": ("CohortSqlError",),
    "rcdm.study_privacy": ("StudyPrivacyError",),
    "rcdm.study_releases": ("StudyReleaseError",),
    "rcdm.study_archive": ("StudyMergeError",),
}


def _error_classes() -> list[type[BaseException]]:
    return [c for c in vars(errors).values()
            if inspect.isclass(c) and issubclass(c, BaseException) and c.__module__ == "rcdm.errors"]


@pytest.mark.parametrize("module", MODULES)
def test_no_exception_class_outside_errors(module):
    """A module of rcdm imports its errors from rcdm.errors; it defines none (one place to find them all)."""
    mod = importlib.import_module(module)
    own = [name for name, value in vars(mod).items()
           if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module]
    if module != "rcdm.errors":
        assert own == [], f"{module} defines {own}: move them to rcdm/errors.py (re-export them from {module})"


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_one_root_and_an_exit_code(cls):
    """Errors under RcdmError with a documented exit code, warnings under RcdmWarning, each with a docstring."""
    if issubclass(cls, Warning):
        assert issubclass(cls, errors.RcdmWarning)
    else:
        assert issubclass(cls, errors.RcdmError)
        assert cls.exit_code in EXIT_CODES
    assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring"


@pytest.mark.parametrize("module,names", sorted(OLD_PATHS.items()), ids=sorted(OLD_PATHS))
def test_old_import_paths_still_work(module, names):
    mod = importlib.import_module(module)
    for name in names:
        assert inspect.isclass(getattr(mod, name)) and getattr(mod, name).__module__ == "rcdm.errors"


def test_exit_codes_of_the_families():
    assert errors.SecretError.exit_code == errors.StudySpecError.exit_code == errors.PacsAddressError.exit_code == 2
    assert errors.StatementError.exit_code == 3
    assert errors.DriverError.exit_code == errors.SparkConnectOperationalError.exit_code == 5
    assert errors.PacsRetry.exit_code == 7
    # still caught where callers caught the built-in base before
    assert issubclass(errors.Part10Error, ValueError) and issubclass(errors.StudyMergeError, ValueError)


def test_rejections_survive_pickling_across_workers():
    skip = errors.DicomSkip("a/b.dcm", "not_dicom", "no DICM")
    again = pickle.loads(pickle.dumps(skip))
    assert type(again) is errors.DicomSkip and (again.path, again.reason, again.detail) == ("a/b.dcm", "not_dicom",
                                                                                         "no DICM")
    assert str(again) == "a/b.dcm: skipped (not_dicom): no DICM"
