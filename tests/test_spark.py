"""Apache Spark for real, through Spark Connect (``sc://``): a local Spark Connect server started by the tests
(``tests/spark_server.py``: local[2], 2 shuffle partitions, one server for the session) runs rcdm's DDL, the ETL,
the GiBleed cohort, GetCohortImages, the quality report and a study, and must give exactly what DuckDB gives for
the same input. Plain Spark tables are Parquet (no Delta Lake here): see README "The SQL engine" for Databricks.
"""

from __future__ import annotations

import datetime
import uuid

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.spark

pytest.importorskip("pyspark")
pydicom = pytest.importorskip("pydicom")

from rcdm.cdm_csv import load_cdm_csv  # noqa: E402
from rcdm.cohort import generate_cohort  # noqa: E402
from rcdm.db import connect, exists_table, insert_table, query_sql  # noqa: E402
from rcdm.ddl import create_tables  # noqa: E402
from rcdm.extract import count_cohort_images, get_cohort_images  # noqa: E402
from rcdm.report import quality_report  # noqa: E402
from rcdm.fetch import is_missing  # noqa: E402

from test_cohort import CDM_TABLES, COHORTS, GIBLEED, cohort_rows, same_rows  # noqa: E402
from test_cohort_e2e import cohort_people, etl_archive, load_archive, write_archive  # noqa: E402


R_CDM_TABLES = ("radiology_occurrence", "radiology_image")


def _world(conn, base, schema: str, results: str, etl_from=None) -> dict:
    """GiBleed, the R-CDM and MI-CDM DDL, R-CDM rows and the GiBleed cohort in ``schema`` / ``results``.

    The R-CDM rows come from rcdm's ETL on this connection, or (``etl_from``, for plain Spark) are copied with
    ``insert_table`` from the world the ETL loaded: the ETL's incremental statements (DELETE ... WHERE, UPDATE)
    need Delta tables, which open-source Spark without Delta Lake does not have (README, "The SQL engine").
    """
    load_cdm_csv(conn, schema, GIBLEED, tables=CDM_TABLES)
    ddl = {model: create_tables(conn, schema, model=model) for model in ("rcdm", "micdm")}
    if etl_from is None:
        written, etl, _ = load_archive(conn, schema, base, cohort_people(6, 3))
    else:
        written, etl = etl_from["written"], etl_from["etl"]
        for table in R_CDM_TABLES:
            rows = query_sql(etl_from["conn"], f"SELECT * FROM {etl_from['schema']}.{table}")
            insert_table(conn, schema, table, _typed(rows))
    cohort = generate_cohort(conn, COHORTS / "GiBleed.sql", 1, schema, results)
    return {"conn": conn, "schema": schema, "results": results, "ddl": ddl, "etl": etl, "cohort": cohort,
            "written": written}


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Date columns as dates (query_sql gives datetime64), so Spark stores them into DATE columns unchanged."""
    frame = frame.copy()
    for column in frame.columns:
        if column.endswith("_date") and pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.date
    return frame


@pytest.fixture(scope="module")
def worlds(spark_url, tmp_path_factory):
    """The same GiBleed + synthetic DICOM world on DuckDB and on Spark (same secret, so the same hashed ids)."""
    base = tmp_path_factory.mktemp("spark_world")
    duck = _world(connect(base / "ref.duckdb"), base, "cdm", "results")
    tag = uuid.uuid4().hex[:8]
    spark_conn = connect(spark_url, temp_emulation_schema=f"tmp_{tag}")
    from rcdm.db import create_schema

    create_schema(spark_conn, f"tmp_{tag}")
    spark = _world(spark_conn, base, f"cdm_{tag}", f"res_{tag}", etl_from=duck)
    yield duck, spark
    duck["conn"].close()
    spark_conn.close()


def _value(v):
    """One value in a form both engines' results share: None for any missing value (None, NaN, pd.NA), numbers
    as floats rounded to 6 places, dates and date-times as ISO text, the rest as text."""
    if is_missing(v):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)):
        return round(float(v), 6)
    if isinstance(v, (datetime.date, pd.Timestamp)):
        return pd.Timestamp(v).isoformat()
    return str(v)


def _frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({column: [_value(v) for v in frame[column]] for column in frame.columns}, dtype=object)
    return out.sort_values(list(out.columns), key=lambda column: column.map(repr)).reset_index(drop=True)


def test_ddl_etl_and_gibleed_cohort_on_spark(worlds):
    duck, spark = worlds
    for model in ("rcdm", "micdm"):  # the same tables; Spark has no indexes, so the translator drops them
        tables = [r["object"] for r in duck["ddl"][model] if r["type"] == "table"]
        assert [r["object"] for r in spark["ddl"][model]] == tables
    for model in ("rcdm", "micdm"):
        for row in spark["ddl"][model]:
            if row["type"] == "table":
                assert exists_table(spark["conn"], spark["schema"], row["table"]), row
    assert spark["etl"]["loaded"] == duck["etl"]["loaded"] == len(spark["written"])
    assert (spark["cohort"]["persons"], spark["cohort"]["entries"]) == (479, 479)
    assert same_rows(cohort_rows(spark["conn"], spark["results"], 1), cohort_rows(duck["conn"], duck["results"], 1))
    for table in ("radiology_occurrence", "radiology_image"):
        ours = query_sql(spark["conn"], f"SELECT * FROM {spark['schema']}.{table}")
        ref = query_sql(duck["conn"], f"SELECT * FROM {duck['schema']}.{table}")
        assert len(ours) == len(ref) > 0
        assert _frame(ours[sorted(ref.columns)]).equals(_frame(ref[sorted(ref.columns)])), table


def test_cohort_images_on_spark_equal_duckdb(worlds):
    duck, spark = worlds
    for filters in ({}, {"modalities": "CT", "planes": "axial", "contrast": "pre", "window_start_days": -30,
                         "window_end_days": 30}, {"first_study_only": True}):
        ours = get_cohort_images(spark["conn"], 1, spark["schema"], cohort_database_schema=spark["results"], **filters)
        ref = get_cohort_images(duck["conn"], 1, duck["schema"], cohort_database_schema=duck["results"], **filters)
        assert len(ours) == len(ref) > 0, filters
        assert _frame(ours[sorted(ref.columns)]).equals(_frame(ref[sorted(ref.columns)])), filters
    ours = count_cohort_images(spark["conn"], 1, spark["schema"], cohort_database_schema=spark["results"])
    ref = count_cohort_images(duck["conn"], 1, duck["schema"], cohort_database_schema=duck["results"])
    assert _frame(ours).equals(_frame(ref[ours.columns]))


def test_quality_report_on_spark_equals_duckdb(worlds):
    duck, spark = worlds
    ours, ref = quality_report(spark["conn"], spark["schema"]), quality_report(duck["conn"], duck["schema"])
    assert set(ours) == set(ref)
    for name in ref:
        if isinstance(ref[name], pd.DataFrame) and "etl" not in name and name != "files":  # ETL bookkeeping not copied
            assert _frame(ours[name][list(ref[name].columns)]).equals(_frame(ref[name])), name


def test_insert_and_query_with_binds_on_spark(worlds):
    _, spark = worlds
    conn, schema = spark["conn"], spark["schema"]
    frame = pd.DataFrame({"id": [1, 2, 3], "label": ["a", None, "c'd"], "at": pd.to_datetime(
        ["2020-01-01 10:00", "2020-01-02 11:30", None])})
    assert insert_table(conn, schema, "bind_demo", frame, drop_table_if_exists=True) == 3
    got = query_sql(conn, f"SELECT id, label, at FROM {schema}.bind_demo WHERE label = :x OR id > :n ORDER BY id",
                    bind={"x": "c'd", "n": 1})
    assert got["id"].tolist() == [2, 3] and got["label"].tolist()[1] == "c'd"
    hours = query_sql(conn, f"SELECT DATEDIFF(hh, at, DATEADD(mi, 90, at)) AS h FROM {schema}.bind_demo WHERE id = 1")
    assert hours["h"].tolist() == [1]  # 10:00 -> 11:30 crosses one hour boundary, as SQL Server counts


def test_study_analyses_on_spark_equal_duckdb(worlds, tmp_path):
    """The example network study (extras/studies/example_study.json) on cohort 1: the same aggregate rows."""
    import json

    from rcdm.study import run_study

    spec = json.loads((COHORTS.parent / "studies" / "example_study.json").read_text())
    spec["min_cell_count"] = 1  # six persons: keep the counts visible so that they are compared, not suppressed
    duck, spark = worlds
    ours = run_study(spec, spark["conn"], spark["schema"], cohort_database_schema=spark["results"],
                     out=tmp_path / "spark.zip", site_name="spark")
    ref = run_study(spec, duck["conn"], duck["schema"], cohort_database_schema=duck["results"],
                    out=tmp_path / "duck.zip", site_name="duck")
    assert ours["analyses"] == ref["analyses"] and ours["suppressed"] == ref["suppressed"]
    import zipfile

    with zipfile.ZipFile(tmp_path / "spark.zip") as a, zipfile.ZipFile(tmp_path / "duck.zip") as b:
        csvs = sorted(n for n in b.namelist() if n.endswith(".csv"))
        assert csvs and sorted(n for n in a.namelist() if n.endswith(".csv")) == csvs
        for name in csvs:  # the published aggregates, byte for byte
            assert a.read(name) == b.read(name), name


def test_update_is_emulated_on_plain_spark_tables(worlds):
    """UPDATE ... SET (with a correlated subquery) ... WHERE on a Parquet table: rows rewritten, the rest unchanged."""
    from rcdm.db import execute_sql

    _, spark = worlds
    conn, schema = spark["conn"], spark["schema"]
    insert_table(conn, schema, "upd_demo", pd.DataFrame({"id": [1, 2, 3], "n": [10, 20, None]}),
                 drop_table_if_exists=True)
    insert_table(conn, schema, "upd_src", pd.DataFrame({"id": [2, 3], "n": [200, 300]}), drop_table_if_exists=True)
    execute_sql(conn, f"UPDATE {schema}.upd_demo SET n = (SELECT s.n FROM {schema}.upd_src s "
                      f"WHERE s.id = upd_demo.id) WHERE id IN (SELECT id FROM {schema}.upd_src) AND id > 2;")
    got = query_sql(conn, f"SELECT id, n FROM {schema}.upd_demo ORDER BY id")
    assert got["id"].tolist() == [1, 2, 3] and got["n"].tolist() == [10, 20, 300]
    assert not exists_table(conn, schema, "upd_demo_rcdm_keep")


def test_etl_loads_into_spark_connect_as_into_duckdb(spark_url, tmp_path):
    """`rcdm etl` into an sc:// target (its UPDATEs and DELETEs emulated on Parquet tables): the same R-CDM rows as
    DuckDB for a small corpus (two persons; Spark runs each of the ETL's statements as a job, so it is kept small)."""
    from rcdm.db import create_schema

    _, written, _ = write_archive(tmp_path, cohort_people(2, 0))
    tag = uuid.uuid4().hex[:8]
    targets = {"duckdb": (connect(tmp_path / "ref.duckdb"), "cdm"),
               "spark": (connect(spark_url, temp_emulation_schema=f"tmp_{tag}"), f"etl_{tag}")}
    create_schema(targets["spark"][0], f"tmp_{tag}")
    rows = {}
    for name, (conn, schema) in targets.items():
        create_schema(conn, schema)
        create_tables(conn, schema, model="rcdm")
        etl = etl_archive(conn, schema, tmp_path)
        assert etl["loaded"] == len(written) > 0, name
        rows[name] = {t: query_sql(conn, f"SELECT * FROM {schema}.{t}") for t in R_CDM_TABLES}
        conn.close()
    for table in R_CDM_TABLES:
        ref, ours = rows["duckdb"][table], rows["spark"][table]
        assert len(ours) == len(ref) > 0, table
        assert _frame(ours[sorted(ref.columns)]).equals(_frame(ref[sorted(ref.columns)])), table
