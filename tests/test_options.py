"""The options rcdm's faces share come from one definition (rcdm.options): the study spec's schema, the
``rcdm`` flags (parsed with click's CliRunner), the R wrapper's arguments and roxygen docs, and the README's
tables all agree with the dataclasses; the API's options objects and its keyword form give the same run."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from rcdm.cli import cli
from rcdm.cli.common import options_from, options_of
from rcdm.errors import UsageError
from rcdm.options import CLI, EtlOptions, ImageCriteria, StudyOptions, merged, spec_schema

REPO = Path(__file__).resolve().parents[1]
R_SOURCES = sorted((REPO / "extras" / "RadiologyCDM" / "R").glob("*.R"))
sys.path.insert(0, str(REPO / "extras"))
import options_table  # noqa: E402  (extras/options_table.py)


def _command(name: str) -> click.Command:
    context = click.Context(cli)
    command = cli.get_command(context, name)
    assert command is not None
    return command


def _params(command: click.Command) -> dict[str, click.Parameter]:
    return {p.name: p for p in command.params}


@pytest.mark.parametrize("cls, verb", [(EtlOptions, ["etl"]), (ImageCriteria, ["extract"]),
                                        (StudyOptions, ["study", "run"])])
def test_the_command_options_are_the_dataclass_fields(cls, verb):
    command = _command(verb[0])
    if len(verb) > 1:
        command = command.get_command(click.Context(command), verb[1])
    params = _params(command)
    for field in dataclasses.fields(cls):
        if CLI not in field.metadata:
            assert field.name not in params
            continue
        param = params[field.name]
        assert field.metadata[CLI] in param.opts
        assert param.help.startswith(field.metadata["help"])
        if not field.metadata["click"].get("multiple"):
            assert param.default == field.default, field.name


def _probe(cls: type) -> click.Command:
    """A command with the options of ``cls`` that returns the options object it parsed."""
    @click.command()
    @options_from(cls)
    def probe(**params):
        return options_of(cls, params)
    return probe


def test_cli_runner_parses_image_criteria():
    result = _probe(ImageCriteria).main(
        ["--modality", "CT,MR", "--modality", "PT", "--plane", "axial", "--min-slice-thickness", "0.5",
         "--window-start", "-30", "--window-anchor", "end", "--first-study-only", "--protocol-concept-id", "1,2"],
        standalone_mode=False)
    assert result == ImageCriteria(modalities=["CT", "MR", "PT"], planes=["axial"], min_slice_thickness=0.5,
                                   window_start_days=-30, window_anchor="end", first_study_only=True,
                                   protocol_concept_ids=["1", "2"])
    assert _probe(ImageCriteria).main([], standalone_mode=False) == ImageCriteria()


def test_cli_runner_parses_etl_options_and_inverted_flags():
    parsed = _probe(EtlOptions).main(["--schema", "imaging", "--person-source", "cdm", "--workers", "2",
                                      "--no-progress", "--no-content-check", "--executor", "dask-local"],
                                     standalone_mode=False)
    assert parsed == EtlOptions(cdm_database_schema="imaging", person_source="cdm", workers=2, progress=False,
                                check_content=False, executor="dask-local")
    assert _probe(EtlOptions).main([], standalone_mode=False) == EtlOptions()


@pytest.mark.parametrize("argv", [["etl", "--executor", "spark"], ["etl", "--workers", "many"],
                                  ["extract", "--cohort-id", "1", "--window-anchor", "middle"],
                                  ["extract", "--cohort-id", "x"], ["nope"]])
def test_usage_errors_exit_2(argv):
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, result.output


def test_db_comes_from_rcdm_database(tmp_path, monkeypatch):
    """--db defaults to $RCDM_DATABASE (a real DuckDB file, created by ddl create, read by report)."""
    db = tmp_path / "env.duckdb"
    runner = CliRunner()
    created = runner.invoke(cli, ["ddl", "create", "--schema", "cdm", "--quiet"], env={"RCDM_DATABASE": str(db)})
    assert created.exit_code == 0, created.output
    assert db.is_file()
    report = runner.invoke(cli, ["report", "--schema", "cdm", "--format", "json"], env={"RCDM_DATABASE": str(db)})
    assert report.exit_code == 0 and report.output.lstrip().startswith("{")


def test_the_study_spec_schema_is_the_image_criteria_model():
    from rcdm.study_spec import SCHEMA

    criteria = SCHEMA["properties"]["image_criteria"]
    assert criteria == spec_schema(ImageCriteria)
    in_spec = {f.name for f in dataclasses.fields(ImageCriteria) if "spec" in f.metadata}
    assert set(criteria["properties"]) == in_spec
    # only the database's vocabulary schema and the per-person choice of extraction stay out of a spec
    assert {f.name for f in dataclasses.fields(ImageCriteria)} - in_spec == {"vocabulary_database_schema",
                                                                             "first_study_only"}


def test_the_study_spec_schema_and_its_analysis_model_agree():
    from rcdm.study_spec import ANALYSIS_TYPES, DIMENSIONS, SCHEMA, VARIABLES, Analysis

    items = SCHEMA["properties"]["analyses"]["items"]
    assert items["properties"]["type"]["enum"] == list(ANALYSIS_TYPES)
    branches = {b["if"]["properties"]["type"]["const"]: b["then"] for b in items["allOf"]}
    assert set(branches) == set(ANALYSIS_TYPES)
    assert set().union(*(b["properties"] for b in branches.values())) == {f.name for f in dataclasses.fields(Analysis)}
    assert branches["counts"]["properties"]["by"]["items"]["enum"] == list(DIMENSIONS)
    assert branches["distribution"]["properties"]["variable"]["enum"] == list(VARIABLES)
    required = {f.name for f in dataclasses.fields(Analysis) if f.default is dataclasses.MISSING} - {"title"}
    assert set(items["required"]) == required  # the title defaults to the id when a spec leaves it out


def test_a_spec_image_criteria_round_trips_through_the_model(tmp_path):
    from rcdm.study_spec import load_spec

    spec = load_spec({"name": "s", "version": 1, "cohorts": [1], "image_criteria": {
        "modalities": ["ct"], "planes": ["transverse"], "min_slice_thickness": 1, "window_anchor": "end"},
        "analyses": [{"id": "a", "type": "counts", "by": ["modality"]}]})
    criteria = ImageCriteria(**spec["image_criteria"])
    assert (criteria.modalities, criteria.planes, criteria.window_anchor) == (["CT"], ["axial"], "end")
    with pytest.raises(UsageError, match="image_criteria"):
        load_spec({"name": "s", "version": 1, "cohorts": [1], "image_criteria": {"first_study_only": True},
                   "analyses": [{"id": "a", "type": "counts", "by": ["modality"]}]})


def test_keywords_and_options_objects_are_the_same_options():
    from rcdm.etl.run import _etl_options

    assert _etl_options("imaging", {"workers": 1}) == EtlOptions(cdm_database_schema="imaging", workers=1)
    base = EtlOptions(person_map="m.csv")
    assert _etl_options(base, {}) is base
    assert _etl_options(base, {"quiet": True}) == EtlOptions(person_map="m.csv", quiet=True)
    with pytest.raises(UsageError, match="Unknown EtlOptions option"):
        _etl_options("cdm", {"person_mapp": "x"})
    with pytest.raises(UsageError, match="ImageCriteria"):
        merged(ImageCriteria, EtlOptions(), {})


def test_options_objects_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EtlOptions().workers = 3  # type: ignore[misc]


# --- R ----------------------------------------------------------------------------------------------------------


def _r_function(name: str) -> tuple[dict[str, str | None], str]:
    """An R function's arguments (name → default source text, None when required) and its roxygen block."""
    for path in R_SOURCES:
        text = path.read_text(encoding="utf-8")
        match = re.search(rf"((?:^#'[^\n]*\n)+){name} <- function\((.*?)\) \{{", text, re.M | re.S)
        if match:
            arguments = {}
            for part in re.split(r",(?![^(]*\))", match.group(2)):
                key, _, default = part.partition("=")
                arguments[key.strip()] = default.strip() or None
            return arguments, match.group(1)
    raise AssertionError(f"no R function {name}")


def _r_value(text: str | None, arguments: dict) -> object:
    if text is None or text == "NULL" or text in arguments:  # another argument: "the CDM schema" is Python's None
        return None
    if text in ("TRUE", "FALSE"):
        return text == "TRUE"
    if text.startswith('"'):
        return text.strip('"')
    return float(text)


def _documented(roxygen: str) -> set[str]:
    names = set()
    for line in roxygen.splitlines():
        match = re.match(r"#' @param ([\w,.]+)", line)
        if match:
            names |= set(match.group(1).split(","))
    return names


@pytest.mark.parametrize("cls, function, every_field", [(EtlOptions, "runRcdmEtl", False),
                                                          (ImageCriteria, "getCohortImages", True),
                                                          (StudyOptions, "runRcdmStudy", True)])
def test_the_r_arguments_are_the_options(cls, function, every_field):
    arguments, roxygen = _r_function(function)
    fields = {options_table.camel(f.name): f for f in dataclasses.fields(cls)}
    shared = {name for name in arguments if name in fields}
    if every_field:
        assert set(fields) <= set(arguments), f"{function} lacks {sorted(set(fields) - set(arguments))}"
    else:  # the ETL's R function offers the options an R user needs; every one of them is an EtlOptions field
        assert set(arguments) - shared == {"connectionDetails", "paths"}
    for name in shared:
        if arguments[name] is not None:
            expected = fields[name].default
            assert _r_value(arguments[name], arguments) == expected, f"{function}({name}) default"
    inherited = set()
    for parent in re.findall(r"@inheritParams (\w+)", roxygen):  # documented by the function it inherits from
        parent_arguments, parent_roxygen = _r_function(parent)
        inherited |= _documented(parent_roxygen) | (parent_arguments.keys() if "@inheritParams" in parent_roxygen
                                                    else set())
    undocumented = shared - _documented(roxygen) - inherited
    assert not undocumented, f"{function}: no @param for {sorted(undocumented)}"
    source = "".join(p.read_text(encoding="utf-8") for p in R_SOURCES)
    assert f'.rcdmModule("rcdm.options")${cls.__name__}' in source, "R builds the options object"


# --- README -----------------------------------------------------------------------------------------------------


def test_the_readme_tables_are_generated_from_the_options():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert options_table.tables() in readme, "run: python extras/options_table.py"
    check = subprocess.run([sys.executable, str(REPO / "extras" / "options_table.py"), "--check"], cwd=REPO)
    assert check.returncode == 0
