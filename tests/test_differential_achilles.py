"""Criterion (c) of the SqlRender differential on real data: the corpus's OHDSI Achilles analyses, translated by rcdm
and by SqlRender (duckcdm) for DuckDB, run on Eunomia GiBleed and leave the same result tables.

The differential's own criterion (c) runs each statement on five generated rows; Achilles reads a whole CDM, so here
both translations of every analysis run on the Eunomia GiBleed CDM (tests/data/eunomia) and each side's
``tmpach_<id>`` / ``tmpach_dist_<id>`` tables (the analysis' results, as Achilles merges them) must hold the same
rows. On GiBleed 55 of the 75 result tables have rows (52,294 in all); the other 20 are empty on both sides, for
domains GiBleed has no rows in (death, cost, payer plan periods, devices, ...).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import duckdb
import pytest

pytest.importorskip("duckcdm")

from duckcdm import sqlrender  # noqa: E402
from ohdsi_corpus import ACHILLES, ACHILLES_PARAMETERS  # noqa: E402

from rcdm.cdm_csv import load_cdm_csv  # noqa: E402
from rcdm.db import connect  # noqa: E402
from rcdm.sql import render, split_sql, translate  # noqa: E402

pytestmark = pytest.mark.slow  # every analysis twice on a whole CDM

GIBLEED = Path(__file__).resolve().parent / "data" / "eunomia" / "GiBleed_5.3_csv.zip"
ANALYSES = sorted(ACHILLES.glob("*.sql"), key=lambda p: int(p.stem))


@pytest.fixture(scope="module")
def gibleed(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("achilles") / "gibleed.duckdb"
    conn = connect(f"duckdb:///{path}")
    load_cdm_csv(conn, "cdm", GIBLEED)
    conn.close()
    return path


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    for statement in split_sql(sql):
        if statement.strip():
            con.execute(statement)


def _rows(con: duckdb.DuckDBPyConnection, table: str, ties: bool) -> list[tuple]:
    """The table's rows, sorted; with ``ties`` without stratum_2 and stratum_3, which the top-10 analyses (624, 1824:
    ROW_NUMBER() over the pair counts, ``ranking <= 10``) fill arbitrarily among tied pairs, on one engine too."""
    rows = con.execute(f"SELECT * FROM {table}").fetchall()
    normal = [tuple(round(v, 6) if isinstance(v, float) and math.isfinite(v) else v for v in row) for row in rows]
    if ties:
        normal = [row[:2] + row[4:] for row in normal]
    return sorted(normal, key=repr)


@pytest.mark.parametrize("analysis", ANALYSES, ids=[p.stem for p in ANALYSES])
def test_both_translations_of_an_achilles_analysis_give_the_same_results_on_gibleed(gibleed: Path,
                                                                                    analysis: Path) -> None:
    text = analysis.read_text(encoding="utf-8")
    database = duckdb.connect(str(gibleed))
    try:
        results = {}
        for side in ("rcdm", "sqlrender"):
            con = database.cursor()  # its own temp tables
            scratch = f"scratch_{side}"
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {scratch}")
            parameters = {**ACHILLES_PARAMETERS, "scratchDatabaseSchema": scratch, "resultsDatabaseSchema": scratch,
                          "vocabDatabaseSchema": "cdm", "tempEmulationSchema": scratch}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rendered = render(text, parameters=parameters)
                sql = (translate(rendered, "duckdb") if side == "rcdm"
                       else sqlrender.translate(rendered, "duckdb"))
            _run(con, sql)
            tables = [t for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
                [scratch]).fetchall() if t.endswith(f"_{analysis.stem}")]
            ties = "ranking <= " in text.lower()
            results[side] = {t: _rows(con, f"{scratch}.{t}", ties) for t in tables}
            for t in tables:
                con.execute(f"DROP TABLE {scratch}.{t}")
            con.close()
    finally:
        database.close()
    assert results["rcdm"], f"analysis {analysis.stem} made no result table"
    assert results["rcdm"] == results["sqlrender"]
