"""split_sql: SqlRender's splitSql conformance cases, plus OHDSI scripts with blocks, comments and quotes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rcdm.sql.split import split_sql, split_sql_with_offsets


def _cases():
    conformance = Path(__file__).parent / "data" / "sqlrender" / "conformance.jsonl"
    rows = [json.loads(line) for line in conformance.read_text().splitlines()]
    return [r for r in rows if r["kind"] == "split"]


CASES = _cases()


def test_every_conformance_case_is_here() -> None:
    assert len(CASES) == 10


@pytest.mark.parametrize("case", CASES, ids=[c["test"] for c in CASES])
def test_conformance_cases(case) -> None:
    got = split_sql(case["sql"])
    if "index" in case:
        got = got[case["index"]]
    assert got == case["expected"], case["test"]


@pytest.mark.parametrize(
    "sql,expected",
    [
        ("", []),
        (" ;; \n ; ", []),
        ("SELECT 1", ["SELECT 1"]),
        ("SELECT ';' AS x; SELECT 2;", ["SELECT ';' AS x", "SELECT 2"]),
        ("SELECT 'it''s; here' AS x; SELECT 2", ["SELECT 'it''s; here' AS x", "SELECT 2"]),
        ('SELECT "a;b" FROM t; SELECT 2', ['SELECT "a;b" FROM t', "SELECT 2"]),
        ("SELECT [a;b] FROM t; SELECT 2", ["SELECT [a;b] FROM t", "SELECT 2"]),
        ("SELECT 1 -- not; here\n; SELECT 2", ["SELECT 1 -- not; here", "SELECT 2"]),
        ("SELECT 1 /* not; here */; SELECT 2", ["SELECT 1 /* not; here */", "SELECT 2"]),
        ("-- only a comment;\n", []),
        (
            "BEGIN\n  EXECUTE IMMEDIATE 'DROP TABLE t';\nEXCEPTION\n  WHEN OTHERS THEN\n    IF SQLCODE != -942 THEN\n"
            "      RAISE;\n    END IF;\nEND;\nSELECT 1;",
            [
                "BEGIN\n  EXECUTE IMMEDIATE 'DROP TABLE t';\nEXCEPTION\n  WHEN OTHERS THEN\n    IF SQLCODE != -942 THEN\n"
                "      RAISE;\n    END IF;\nEND;",
                "SELECT 1",
            ],
        ),
        ("SELECT CASE WHEN a = 1 THEN 'x;' ELSE 'end' END FROM t; SELECT 2", ["SELECT CASE WHEN a = 1 THEN 'x;' ELSE 'end' END FROM t", "SELECT 2"]),
        ("SELECT backend, weekend FROM t; SELECT 2", ["SELECT backend, weekend FROM t", "SELECT 2"]),
    ],
)
def test_own_cases(sql: str, expected: list[str]) -> None:
    assert split_sql(sql) == expected


def test_offsets_point_at_each_statement() -> None:
    sql = "SELECT 1;\n\n  SELECT 2;"
    pieces = split_sql_with_offsets(sql)
    assert [sql[o:o + len(s)] for o, s in pieces] == ["SELECT 1", "SELECT 2"]
    assert sql.count("\n", 0, pieces[1][0]) + 1 == 3
