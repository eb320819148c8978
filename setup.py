"""Build hook for rcdm's optional compiled modules; all metadata is in setup.cfg.

``rcdm.dicom._scan`` is the header reader's hot loop in C (rcdm/dicom/_scan.c); ``rcdm.dicom._tags`` the ETL's
one-pass search of a header for the identity tags (rcdm/dicom/_tags.c). They are optional: where no C
compiler or Python headers exist the build warns and goes on, and pure-Python twins are used
(same results; the reader about 3x slower). ``python -c "import rcdm.dicom.reader as r; print(r.ACCELERATED)"`` tells.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("rcdm.dicom._scan", ["rcdm/dicom/_scan.c"], optional=True),
                   Extension("rcdm.dicom._tags", ["rcdm/dicom/_tags.c"], optional=True)])
