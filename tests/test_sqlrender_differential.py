"""rcdm's translator against SqlRender (duckcdm) on the whole corpus, for all 10 targets (see sqlrender_differential).

Every statement must agree with SqlRender's translation (equal ignoring whitespace, case and comments, or the same
canonical sqlglot tree in the target dialect, or the same results on DuckDB, SQLite and PostgreSQL) or be listed in tests/data/ohdsi_sql/differences.jsonl with why ours
is right. A new difference, or a listed one whose texts changed, fails the test: review it, then rebuild the file
with ``python tests/sqlrender_differential.py``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("duckcdm")

from sqlrender_differential import agreement, all_outcomes, load_differences  # noqa: E402

pytestmark = pytest.mark.slow  # a long run of one tool over a corpus


@pytest.fixture(scope="module")
def outcomes(postgres_url):
    """Every outcome; criterion (c) runs on DuckDB, SQLite and the session's PostgreSQL server."""
    return all_outcomes(postgres_url)


def test_every_difference_from_sqlrender_is_listed_with_a_reason(outcomes):
    listed = load_differences()
    unlisted = [o for o in outcomes if o.kind == "differ" and o.key not in listed]
    report = "\n\n".join(f"{o.dialect} {o.case} #{o.statement}\nours:      {o.ours[:400]}\nsqlrender: {o.sqlrender[:400]}"
                         for o in unlisted[:20])
    assert not unlisted, f"{len(unlisted)} differences from SqlRender are not listed:\n\n{report}"
    assert all(row["why"].strip() for row in listed.values())


def test_listed_differences_still_occur(outcomes):
    """A listed difference that no longer occurs (fixed, or the corpus changed) must leave the file."""
    current = {o.key for o in outcomes if o.kind == "differ"}
    stale = sorted(set(load_differences()) - current)
    assert not stale, f"{len(stale)} listed differences no longer occur, e.g. {stale[:5]}"


def test_all_ten_targets_are_compared(outcomes):
    table = agreement(outcomes)
    assert set(table) == {"sql server", "postgresql", "oracle", "bigquery", "duckdb", "sqlite", "redshift",
                          "snowflake", "spark", "synapse"}
    assert all(total > 250 for *_, total in table.values())


def test_no_listed_difference_is_left_unreviewed():
    """Every listed row has a reviewed class (s13review emptied the generic "both parse" one)."""
    generic = [row["key"] for row in load_differences().values() if row["why"].startswith(("UNCLASSIFIED", "NOT REVIEWED"))]
    assert not generic, generic[:5]


@pytest.mark.parametrize("dialect, extra", [("spark", "OPTIMIZE"), ("bigquery", "DROP TABLE IF EXISTS")])
def test_sqlrenders_extra_statements_are_set_aside(dialect, extra):
    """SqlRender's OPTIMIZE ... ZORDER BY (Spark) and DROP before CREATE (BigQuery, where ours writes CREATE OR
    REPLACE) become one outcome; the other statements are still compared one by one."""
    from sqlrender_differential import Case, compare

    sql = ("--HINT DISTRIBUTE_ON_KEY(person_id)\nSELECT person_id, COUNT_BIG(*) AS n INTO #counts FROM cdm.person "
           "GROUP BY person_id;\nSELECT person_id, n INTO scratch.kept FROM #counts;")
    outcomes = compare(Case("set-aside", sql), dialect)
    aside = [o for o in outcomes if o.statement == 0]
    assert len(aside) == 1 and aside[0].ours == "" and extra in aside[0].sqlrender.upper()
    numbers = [o.statement for o in outcomes if o.statement]
    assert len(numbers) >= 2 and numbers == list(range(1, len(numbers) + 1))
