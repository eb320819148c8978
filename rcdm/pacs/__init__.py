"""PACS sources and retrieval: the ETL from DICOMweb (QIDO-RS) or DIMSE (C-FIND), cohort images by WADO-RS,
C-GET or C-MOVE. Needs the ``pacs`` extra (dicomweb-client, pynetdicom).

Modules: ``url`` (addresses), ``common`` (options), ``dicomweb`` and ``dimse`` (one client per protocol),
``part10`` (files from what a PACS sends), ``index`` (the site-local index of UIDs, outside the database),
``etl`` (the ETL's source), ``retrieve`` (cohort images from the PACS).
"""

from rcdm.pacs.common import PacsOptions
from rcdm.pacs.url import is_pacs_url, parse_pacs_url

__all__ = ["PacsOptions", "is_pacs_url", "parse_pacs_url"]
