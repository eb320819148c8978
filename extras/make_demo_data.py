"""Rebuild rcdm/demo_data/GiBleed_demo.zip: the Eunomia GiBleed tables `rcdm demo` loads, copied unchanged
from tests/data/eunomia/GiBleed_5.3_csv.zip (Apache-2.0, see tests/data/README.md).

    python extras/make_demo_data.py
"""

from __future__ import annotations

import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "data" / "eunomia" / "GiBleed_5.3_csv.zip"
TARGET = ROOT / "rcdm" / "demo_data" / "GiBleed_demo.zip"
#: The tables the demo needs: persons and their observation periods, the conditions and the vocabulary the
#: GiBleed cohort reads, and the schema file the loader uses.
TABLES = ("person", "observation_period", "condition_occurrence", "concept", "concept_ancestor", "_schema")


def main() -> None:
    with zipfile.ZipFile(SOURCE) as src, zipfile.ZipFile(TARGET, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for name in src.namelist():
            if name.rsplit(".", 1)[0] in TABLES:
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(info, src.read(name))
    print(f"{TARGET}: {TARGET.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
