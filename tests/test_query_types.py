"""query_sql types each column from the database's result types, not from its name, on DuckDB, SQLite and a real
PostgreSQL server: DATE stays a date, integers stay (nullable) integers, 64-bit ids exact, CAST(x AS TIMESTAMP)
works on SQLite; and the frame is the same on all three."""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pytest

from rcdm.db import connect, create_schema, execute_sql, query_sql
from rcdm.fetch import BATCH_ROWS

BIG = 9007199254740993  # 2^53 + 1: a float64 would round it


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "duckdb":
        return str(tmp_path / "q.duckdb"), "q"
    if request.param == "sqlite":
        return str(tmp_path / "q.sqlite"), "q"
    return request.getfixturevalue("postgres_url"), f"q_{uuid.uuid4().hex[:8]}"


def _load(conn, schema):
    create_schema(conn, schema)
    execute_sql(conn, """CREATE TABLE @s.t (id BIGINT, happened DATE, n INT, x FLOAT, label VARCHAR(20),
                         seen DATETIME, code VARCHAR(20));""", s=schema)
    execute_sql(conn, f"""INSERT INTO @s.t VALUES ({BIG}, '2020-01-02', NULL, 1.5, 'a', '2020-01-02 03:04:05', '7'),
                          (2, NULL, 3, NULL, NULL, NULL, '2020-01-02x');""", s=schema)


def test_columns_typed_from_the_result_not_the_name(target):
    url, schema = target
    with connect(url) as conn:
        _load(conn, schema)
        frame = query_sql(conn, """SELECT id, happened, n, x, label, seen, code,
                CAST(happened AS TIMESTAMP) AS stamp, CAST('2021-05-06 07:08:09' AS TIMESTAMP) AS fixed,
                COUNT(*) OVER () AS rows_total, SUM(n) OVER () AS n_total, CAST(NULL AS BIGINT) AS nothing_id
            FROM @s.t ORDER BY id DESC;""", s=schema)
    assert frame["id"].dtype == "int64" and frame["id"].tolist() == [BIG, 2]
    assert frame["happened"].tolist()[0] == dt.date(2020, 1, 2)  # a DATE not named *_date
    assert not isinstance(frame["happened"][0], dt.datetime) and frame["happened"][1] is None
    assert frame["n"].dtype == "Int64" and frame["n"].tolist() == [pd.NA, 3]
    assert frame["x"].dtype == "float64" and frame["x"][0] == 1.5 and pd.isna(frame["x"][1])
    assert frame["label"].tolist() == ["a", None]
    assert frame["code"].tolist() == ["7", "2020-01-02x"]  # text that looks like a number or date stays text
    assert frame["seen"].tolist()[0] == pd.Timestamp(2020, 1, 2, 3, 4, 5) and pd.isna(frame["seen"][1])
    assert frame["stamp"].tolist()[0] == pd.Timestamp(2020, 1, 2)
    assert frame["fixed"].tolist() == [pd.Timestamp(2021, 5, 6, 7, 8, 9)] * 2
    assert frame["rows_total"].dtype == "int64" and frame["rows_total"].tolist() == [2, 2]
    assert frame["n_total"].dtype == "int64" and frame["n_total"].tolist() == [3, 3]  # DuckDB: HUGEINT; PG: BIGINT


def test_many_batches_and_a_null_only_first_batch_keep_the_type(target):
    url, schema = target
    rows = BATCH_ROWS + 10
    with connect(url) as conn:
        create_schema(conn, schema)
        execute_sql(conn, "CREATE TABLE @s.r (i BIGINT, v BIGINT);", s=schema)
        from rcdm.db import insert_table

        insert_table(conn, schema, "r", {"i": list(range(rows)),
                                         "v": [None] * BATCH_ROWS + [BIG + k for k in range(10)]})
        frame = query_sql(conn, "SELECT i, v FROM @s.r ORDER BY i;", s=schema)
    assert len(frame) == rows and frame["i"].dtype == "int64"
    assert frame["v"].dtype == "Int64" and frame["v"].tolist()[-1] == BIG + 9 and frame["v"].isna().sum() == BATCH_ROWS


def test_empty_result_keeps_its_columns(target):
    url, schema = target
    with connect(url) as conn:
        _load(conn, schema)
        frame = query_sql(conn, "SELECT id, label FROM @s.t WHERE 1 = 0;", s=schema)
    assert list(frame.columns) == ["id", "label"] and len(frame) == 0
