"""The rcdm command line: --help on every verb, real runs, and exit codes that mean something."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rcdm.cli import cli, main

VERBS = [[], ["demo"], ["sql"], ["sql", "render"], ["sql", "translate"], ["sql", "dialects"], ["ddl"], ["ddl", "create"],
         ["ddl", "drop"], ["etl"], ["report"], ["cdm"], ["cdm", "load-csv"], ["cohort"], ["cohort", "generate"],
         ["extract"], ["study"], ["study", "run"], ["study", "merge"], ["study", "show"],
         ["vocab"], ["vocab", "load-athena"], ["vocab", "load-playbook"], ["vocab", "load-stcm"], ["vocab", "explain"],
         ["vocab", "remap"], ["vocab", "unmapped"], ["vocab", "micdm"],
         ["viewer"], ["viewer", "add-user"], ["viewer", "build-summary"]]


def _all_verb_paths(command, prefix=()):
    """Every verb path of the command, found by walking its click groups (so a new verb cannot miss --help)."""
    import click

    yield list(prefix)
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            yield from _all_verb_paths(command.get_command(context, name), (*prefix, name))


def test_every_verb_is_listed_here():
    assert sorted(map(tuple, _all_verb_paths(cli))) == sorted(map(tuple, VERBS))


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: " ".join(v) or "rcdm")
def test_help_on_every_verb(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*verb, "--help"])
    assert exc.value.code == 0
    assert "usage: rcdm" in capsys.readouterr().out


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "rcdm", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("rcdm ")


def test_render_from_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("SELECT * FROM @schema.person WHERE x = @x;"))
    assert main(["sql", "render", "-", "-p", "schema=cdm", "-p", "x=1"]) == 0
    assert capsys.readouterr().out.strip() == "SELECT * FROM cdm.person WHERE x = 1;"


def test_translate_file(tmp_path, capsys):
    f = tmp_path / "q.sql"
    f.write_text("SELECT TOP 10 person_id FROM cdm.person;")
    assert main(["sql", "translate", str(f), "--dialect", "postgresql"]) == 0
    out = capsys.readouterr().out
    assert "LIMIT 10" in out and "TOP" not in out


def test_dialects(capsys):
    assert main(["sql", "dialects"]) == 0
    assert "sql server" in capsys.readouterr().out.splitlines()


def test_ddl_print_and_create(tmp_path, capsys):
    assert main(["ddl", "--dialect", "postgresql", "--schema", "imaging"]) == 0
    assert "CREATE TABLE IF NOT EXISTS imaging.radiology_occurrence" in capsys.readouterr().out
    db = tmp_path / "cli.duckdb"
    assert main(["ddl", "create", "--db", str(db), "--schema", "cdm", "--model", "all"]) == 0
    out = capsys.readouterr().out
    assert "radiology_image" in out and "created" in out
    assert main(["ddl", "create", "--db", str(db), "--schema", "cdm"]) == 0
    assert "created" not in capsys.readouterr().out.replace("status", "")
    assert main(["ddl", "drop", "--db", str(db), "--schema", "cdm", "--model", "all"]) == 0
    assert "radiology_occurrence" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["sql", "translate", "-", "--dialect", "postgres"], 2, "postgresql"),
        (["sql", "render", "/no/such/file.sql"], 2, "No such SQL file"),
        (["ddl", "create", "--db", "{tmp}/x.duckdb", "--schema", "cdm;drop"], 2, "Invalid"),
        (["ddl", "create", "--db", "mssql+pyodbc://u:secret@host/db", "--schema", "cdm"], 4, "rcdm[sqlserver]"),
        (["ddl", "create", "--db", "postgresql+psycopg://u:secret@127.0.0.1:1/db", "--schema", "cdm"], 5, ""),
        (["report", "--db", "{tmp}/missing.duckdb", "--schema", "cdm"], 2, "No database at"),
        (["vocab", "remap", "--db", "{tmp}/missing.duckdb", "--schema", "cdm"], 2, "No database at"),
    ],
)
def test_exit_codes(argv, code, message, tmp_path, capsys, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("SELECT 1;"))
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == code
    err = capsys.readouterr().err
    assert err.startswith("rcdm: error:") and message in err
    assert "secret" not in err


@pytest.mark.parametrize("argv", [[], ["sql"], ["sql", "translate"], ["etl", "--workers", "many"]])
def test_bad_usage_exits_2_with_the_usage(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: rcdm" in capsys.readouterr().err


def test_verb_modules_load_only_when_their_verb_runs():
    quietly = "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): "
    loaded = "print(sorted(m for m in sys.modules if m.startswith('rcdm.cli.') and m != 'rcdm.cli.common'))\n"
    probe = ("import contextlib, io, sys\nfrom rcdm.cli import main\n"
             f"{quietly}main(['--help'])\n{loaded}{quietly}main(['sql', '--help'])\n{loaded}")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:2] == ["[]", "['rcdm.cli.sql']"]
