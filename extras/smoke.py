"""Smoke test of an installed rcdm (CI runs it on Python 3.10, 3.12 and 3.13 from a built wheel).

Checks, outside the source tree: the SQL translator, a DuckDB round trip through insert_table/query_sql
(types kept), and `rcdm demo` with its summary (cohort images, protocol coverage and MI-CDM rows > 0).
Exits non-zero on the first failure.

    python extras/smoke.py [WORKDIR]
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    work = Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="rcdm-smoke-"))
    work.mkdir(parents=True, exist_ok=True)
    import rcdm
    from rcdm.db import connect, insert_table, query_sql
    from rcdm.demo import run_demo

    assert "site-packages" in rcdm.__file__, f"rcdm imported from {rcdm.__file__}, not the installed wheel"
    assert rcdm.translate("SELECT TOP 5 x FROM t;", "postgresql") == "SELECT x FROM t LIMIT 5;"
    cli = subprocess.run([str(Path(sys.executable).parent / "rcdm"), "sql", "translate", "-", "--dialect", "duckdb"],
                         input="SELECT DATEADD(day, 1, d) FROM t;", capture_output=True, text=True)
    assert cli.returncode == 0 and "FROM t" in cli.stdout and "DATEADD" not in cli.stdout, cli.stdout + cli.stderr
    with connect(str(work / "smoke.duckdb")) as conn:
        insert_table(conn, "main", "t", {"id": [2 ** 62 + 1, 2], "d": [dt.date(2020, 1, 2), None]},
                     create_table=True)
        frame = query_sql(conn, "SELECT id, d FROM main.t ORDER BY id DESC;")
    assert frame["id"].tolist() == [2 ** 62 + 1, 2] and frame["d"].tolist() == [dt.date(2020, 1, 2), None], frame
    summary = run_demo(str(work / "demo"), workers=1, quiet=True)
    assert summary["cohort_images"] > 0 and summary["protocol_studies_mapped"] > 0 and summary["micdm_rows"] > 0
    print(f"smoke ok on Python {sys.version.split()[0]}: translate, DuckDB round trip, demo "
          f"({summary['cohort_images']} cohort images, {summary['protocol_studies_mapped']} mapped studies, "
          f"{summary['micdm_rows']} MI-CDM rows)")


if __name__ == "__main__":
    main()
