"""Build hook for rcdm's one optional compiled module; all metadata is in setup.cfg.

``rcdm.dicom._scan`` is the header reader's hot loop in C (rcdm/dicom/_scan.c). It is optional: where no C
compiler or Python headers exist the build warns and goes on, and the reader uses its pure-Python twin
(same results, about 3x slower). ``python -c "import rcdm.dicom.reader as r; print(r.ACCELERATED)"`` tells.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("rcdm.dicom._scan", ["rcdm/dicom/_scan.c"], optional=True)])
