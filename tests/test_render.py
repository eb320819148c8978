"""``render`` against SqlRender's own test cases (conformance.jsonl), plus cases that file does not cover."""

from __future__ import annotations

import json
import re
import time
import warnings
from pathlib import Path

import pytest

from rcdm.errors import SqlRenderError
from rcdm.sql import helpers
from rcdm.sql.render import SqlRenderWarning, render, render_sql

CONFORMANCE = Path(__file__).resolve().parent / "data" / "sqlrender" / "conformance.jsonl"
CASES = [json.loads(line) for line in CONFORMANCE.read_text(encoding="utf-8").splitlines() if line.strip()]


def _cases(kind: str) -> list:
    chosen = [case for case in CASES if case["kind"] == kind]
    return [pytest.param(case, id=f"{case['test'].strip()} [{case['source']}]") for case in chosen]


@pytest.mark.parametrize("case", _cases("render"))
def test_render_conformance(case):
    function = {"render": render, "renderSql": render_sql}[case["function"]]
    params = case["params"]
    if case["compare"] == "error":
        with pytest.raises(SqlRenderError, match=re.escape(case["reference_error"])):
            function(case["sql"], **params)
    elif case["compare"] == "warning":
        with pytest.warns(UserWarning):
            assert function(case["sql"], **params) == case["reference_output"]
    else:
        assert case["compare"] == "equal"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # SqlRender's tests expect no warning here
            assert function(case["sql"], **params) == case["expected"]


HELPERS = {
    "snakeCaseToCamelCase": helpers.snake_case_to_camel_case,
    "camelCaseToSnakeCase": helpers.camel_case_to_snake_case,
    "camelCaseToTitleCase": helpers.camel_case_to_title_case,
}


@pytest.mark.parametrize("case", _cases("helper"))
def test_helper_conformance(case):
    assert HELPERS[case["function"]](case["sql"]) == case["expected"]


def test_conformance_file_has_the_cases():
    assert len(_cases("render")) >= 30 and len(_cases("helper")) >= 6


# --- parameters and values ------------------------------------------------------------------------------


def test_dotted_names_via_parameters_dict():
    sql = "SELECT * FROM @results_database_schema.cohort_inclusion WHERE x = @results_database_schema;"
    names = {"results_database_schema.cohort_inclusion": "res.ci", "results_database_schema": "res"}
    out = render(sql, parameters=names)
    assert out == "SELECT * FROM res.ci WHERE x = res;"


def test_dotted_name_is_plain_text_not_a_pattern():
    # SqlRender treats names as regexes (the dot matches any char); we match the name literally.
    assert render("@a_b @a.b", warn_on_missing_parameters=False, parameters={"a.b": "X"}) == "@a_b X"


def test_keywords_win_over_parameters_dict():
    assert render("@a @b", parameters={"a": "1", "b": "2"}, a="K") == "K 2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, 2, 3], "1,2,3"),
        ((4, 5), "4,5"),
        (["a", "b"], "a,b"),
        ([], ""),
        (True, "TRUE"),
        (False, "FALSE"),
        ([True, False], "TRUE,FALSE"),
        (123, "123"),
        (123.0, "123"),  # R passes numbers as doubles
        ([1.0, 2.0, 3.5], "1,2,3.5"),
        (100000.0, "100000"),  # R's paste would give 1e+05: useless as a concept id
        (0.1 + 0.2, "0.3"),  # R's 15 significant digits
        (-2.5, "-2.5"),
        (None, ""),  # R: paste(NULL, collapse = ",") is ""
        ([1, None, 2], "1,2"),  # R: c(1, NULL, 2) is c(1, 2)
        (float("nan"), "NA"),
        ("it's", "it's"),  # verbatim: no quoting, no escaping
    ],
)
def test_value_formatting(value, expected):
    assert render("x = @v", v=value) == f"x = {expected}"


def test_list_value_in_in_condition():
    assert render("{3 IN (@ids)}?{yes}:{no}", ids=[1.0, 2.0, 3.0]) == "yes"


def test_mapping_value_is_refused():
    with pytest.raises(SqlRenderError, match="mapping"):
        render("@a", a={"x": 1})


def test_empty_name_is_refused():
    with pytest.raises(SqlRenderError, match="non-empty"):
        render("@a", parameters={"": "x"})


def test_longest_name_first_and_no_word_boundary():
    assert render("@a @ab @abc", a="1", ab="2", abc="3") == "1 2 3"
    assert render("@ab", warn_on_missing_parameters=False, a="X") == "Xb"


def test_parameters_inside_strings_and_comments_are_replaced():
    sql = "-- table @t\nSELECT '@t' AS name /* @t */ FROM @t;"
    assert render(sql, t="person") == "-- table person\nSELECT 'person' AS name /* person */ FROM person;"


def test_unsupplied_parameter_stays_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert render("SELECT @a, @b", a="1") == "SELECT 1, @b"


# --- warnings -------------------------------------------------------------------------------------------


def test_warning_names_the_parameter():
    with pytest.warns(SqlRenderWarning, match="Parameter 'a_table' not found in SQL"):
        assert render("SELECT * FROM @my_table", a_table="x") == "SELECT * FROM @my_table"


def test_warning_can_be_suppressed():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = render("SELECT * FROM @my_table", warn_on_missing_parameters=False, a_table="x")
    assert out == "SELECT * FROM @my_table"


def test_parameter_only_in_default_block_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert render("{DEFAULT @a = 1}SELECT 2", a="3") == "SELECT 2"


def test_render_sql_is_deprecated():
    with pytest.warns(SqlRenderWarning, match="deprecated"):
        assert render_sql("SELECT @a", a="1") == "SELECT 1"


# --- DEFAULT blocks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("{DEFAULT @a = 'x y'}", "x y"),
        ('{DEFAULT @a = "x"}', "x"),
        ("{DEFAULT @a = ''}", ""),
        ("{DEFAULT @a = 'x}", "'x"),  # only a matching pair is removed
        ("{DEFAULT @a = ''x''}", "'x'"),  # only one pair
        ("{DEFAULT @a =   42   }", "42"),
        ("{DEFAULT @a=1}", ""),  # SqlRender reads the value from two characters after '='
    ],
)
def test_default_values(block, expected):
    assert render(block + "\nv=@a") == f"v={expected}"


def test_default_block_removed_with_trailing_whitespace():
    sql = "{DEFAULT @a = 1}   \n\n{DEFAULT @b = 2}\nSELECT @a, @b;"
    assert render(sql) == "SELECT 1, 2;"
    assert render(sql, b="9") == "SELECT 1, 9;"


def test_default_used_in_condition():
    sql = "{DEFAULT @flag = TRUE}{@flag}?{on}:{off}"
    assert render(sql) == "on"
    assert render(sql, flag=False) == "off"


# --- conditional blocks ---------------------------------------------------------------------------------


def test_nested_conditionals():
    sql = "{@a}?{A{@b}?{B}:{b}}:{a{@b}?{B}:{b}}"
    assert render(sql, a=True, b=True) == "AB"
    assert render(sql, a=True, b=False) == "Ab"
    assert render(sql, a=False, b=True) == "aB"
    assert render(sql, a=False, b=False) == "ab"


def test_conditional_in_condition_block():
    assert render("{{@a}?{1}:{0} == 1}?{yes}:{no}", a="true") == "yes"


def test_whitespace_around_question_mark_and_colon():
    assert render("x {@a == 1} \n ? \n {then} \n : \n {else} y", a=1) == "x then y"
    assert render("x {@a == 1}?{then} y", a=2) == "x  y"


def test_branch_content_is_not_trimmed():
    assert render("[{true}?{ a }]") == "[ a ]"


def test_non_conditional_braces_are_kept():
    assert render("SELECT '{x}' {y} FROM t") == "SELECT '{x}' {y} FROM t"


def test_false_branch_errors_are_not_evaluated():
    assert render("{false}?{{true = true}?{x}}:{ok}") == "ok"


def test_braces_from_values_are_tolerated():
    assert render("SELECT '@json'", json='{"a": {"b": 1}') == "SELECT '{\"a\": {\"b\": 1}'"
    assert render("SELECT '@v'", v="}") == "SELECT '}'"
    # As in SqlRender, a stray brace from a value is text and the blocks around it still resolve.
    assert render("{@a}?{x} @v", a="true", v="{ {true}?{y}") == "x { y"
    assert render("{@a}?{x} @v", a="true", v="} {false}?{y}:{z}") == "x } z"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("TRUE", True),
        ("False", False),
        ("!0", True),
        ("!1", False),
        ("'abc' == \"abc\"", True),
        ("'abc' == 'abd'", False),
        ("abc != 'abc'", False),
        ("1 <> 2", True),
        ("2 IN (1,2)", True),
        ("2 IN (1, 2)", False),  # items are not trimmed
        ("'b' in ('a','b')", True),
        ("(true | false) & true", True),
        ("!(true)", False),
        ("(false | false) | (true & true)", True),
        ("((1))", True),
        ("1 == 1 & 2 != 3 & 4 IN (3,4)", True),
    ],
)
def test_condition_language(condition, expected):
    assert render("{" + condition + "}?{T}:{F}") == ("T" if expected else "F")


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("true & false | true", 'Error parsing boolean condition: "false | true"'),
        ("true && true", 'Error parsing boolean condition: ""'),
        ("1 < 2", 'Error parsing boolean condition: "1 < 2"'),
        ("1 > 2", 'Error parsing boolean condition: "1 > 2"'),
        ("yes", 'Error parsing boolean condition: "yes"'),
        ("", 'Error parsing boolean condition: ""'),
        ("1 IN 1,2", 'Error parsing boolean condition: "1 IN 1,2"'),
    ],
)
def test_condition_errors(condition, message):
    with pytest.raises(SqlRenderError, match=re.escape(message)):
        render("{" + condition + "}?{T}:{F}")


# --- unbalanced braces ----------------------------------------------------------------------------------


def test_unclosed_brace_names_line_and_text():
    sql = "SELECT 1;\n{@a == 1}?{\nSELECT 2;\n"
    with pytest.raises(SqlRenderError, match=r"never closed at line 2, column 11") as info:
        render(sql, a=1)
    assert "{@a == 1}?{" in str(info.value)


def test_stray_closing_brace_names_line():
    with pytest.raises(SqlRenderError, match=r"'\}' without a matching '\{' at line 3, column 5"):
        render("a\nb\nc = }x")


def test_default_block_does_not_upset_brace_check():
    assert render("{DEFAULT @a = '{'}\nSELECT '@a'") == "SELECT '{'"


def test_sql_must_be_a_string():
    with pytest.raises(SqlRenderError):
        render(None)  # type: ignore[arg-type]


# --- size -----------------------------------------------------------------------------------------------


def test_large_template_renders():
    block = (
        "{DEFAULT @min_days = 0}\n"
        "-- cohort @cohort_id in @cdm_database_schema\n"
        "INSERT INTO @results_schema.@table (a, b)\n"
        "SELECT person_id, @cohort_id FROM @cdm_database_schema.observation_period\n"
        "{@use_window}?{WHERE DATEDIFF(DAY, start_date, end_date) >= @min_days}:{WHERE 1 = 1}\n"
        "{@cohort_id IN (@ids) & (@dbms == 'sql server' | @dbms != 'oracle')}?{AND x = 1}\n;\n"
    )
    sql = block * (20_000 // len(block) + 1)
    assert len(sql) > 20_000
    params = {
        "cdm_database_schema": "cdm",
        "results_schema": "res",
        "table": "t",
        "cohort_id": 3,
        "ids": [1, 2, 3],
        "use_window": True,
        "dbms": "postgresql",
    }
    started = time.perf_counter()
    out = render(sql, **params)
    elapsed = time.perf_counter() - started
    assert "@" not in out and "{" not in out
    assert out.count("AND x = 1") == sql.count("{@cohort_id IN")
    print(f"rendered {len(sql)} chars in {elapsed * 1000:.2f} ms")
