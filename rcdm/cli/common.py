"""What the ``rcdm`` command's verb modules share: the click classes (argparse-style ``usage:`` lines), the lazy
verb group, the shared options (``--db``, ``--schema``, ``--quiet``), options generated from the option
dataclasses of ``rcdm.options``, and small helpers (reading SQL, printing rows, refusing a missing database).

Light on purpose: ``rcdm --help`` loads this and nothing heavy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from rcdm.errors import UsageError
from rcdm.options import CLI

DB_HELP = ("SQLAlchemy URL (postgresql+psycopg://..., duckdb:///f.duckdb, ...) or a file path; default: "
           "$RCDM_DATABASE, else the embedded DuckDB file rcdm.duckdb")
QUIET_HELP = "print nothing but errors"

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class Command(click.Command):
    """A command whose usage line reads ``usage: rcdm ...`` (as the argparse command printed it)."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)), prefix="usage: ")


class Group(click.Group):
    """A verb family: its subcommands are Commands and Groups of this kind."""

    command_class = Command
    group_class = type  # subgroups are Groups too

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)), prefix="usage: ")


class LazyGroup(Group):
    """The root: each verb lives in its own module, imported only when that verb runs or shows its help
    (click's documented LazyGroup), so ``rcdm --help`` imports none of them. ``verbs`` maps a verb to
    ``(module, attribute, short help)``; the short help is written only here."""

    def __init__(self, *args: Any, verbs: dict[str, tuple[str, str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verbs = verbs

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.verbs)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.verbs:
            return None
        module, attribute, _ = self.verbs[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        command.short_help = self.verbs[cmd_name][2]
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The verb list from the map (no verb module is imported to show it)."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, _, text) in self.verbs.items()])


def db_options(schema_help: str = "cdm_database_schema holding the R-CDM tables", quiet: bool = True,
               envvar: bool = True) -> Decorator:
    """``--db`` (``$RCDM_DATABASE`` unless ``envvar`` is False), ``--schema`` and ``--quiet``."""
    decorators: list[Decorator] = [db_option(envvar),
                  click.option("--schema", default="cdm", show_default=True, help=schema_help)]
    if quiet:
        decorators.append(quiet_option())
    return combined(decorators)


def db_option(envvar: bool = True, help: str = DB_HELP) -> Decorator:
    """``--db URL`` (``$RCDM_DATABASE`` unless ``envvar`` is False)."""
    return click.option("--db", default=None, metavar="URL", envvar="RCDM_DATABASE" if envvar else None, help=help)


def quiet_option(hidden: bool = False) -> Decorator:
    """``--quiet``: print nothing but errors."""
    return click.option("--quiet", is_flag=True, hidden=hidden, help=QUIET_HELP)


def combined(decorators: Sequence[Decorator]) -> Decorator:
    """One decorator applying ``decorators`` in order (the first is the outermost, as when stacked)."""
    def apply(func: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


def split_values(ctx: click.Context, param: click.Parameter, value: Sequence[str]) -> list[str] | None:
    """A repeatable option whose values may also be comma-separated lists (``--modality CT,MR --modality PT``)."""
    out = [part.strip() for text in value for part in text.split(",") if part.strip()]
    return out or None


_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str}


def _click_type(field: dataclasses.Field) -> Any:
    """The click type of a field: its choices, a file or folder path (by its metavar), else its annotation."""
    settings = field.metadata["click"]
    if "choices" in settings:
        return click.Choice(settings["choices"])
    base = str(field.type).split("|")[0].strip()
    if base == "str" and settings.get("metavar") in ("FILE", "DIR"):
        return click.Path(dir_okay=settings["metavar"] == "DIR", file_okay=settings["metavar"] == "FILE")
    return _TYPES.get(base, str)


def option_from(field: dataclasses.Field) -> Decorator:
    """The click option of one field of an options dataclass (``rcdm.options.option``)."""
    settings = dict(field.metadata["click"])
    flag = field.metadata[CLI]
    kwargs: dict[str, Any] = {"help": field.metadata["help"], "metavar": settings.get("metavar")}
    if "flag_value" in settings:  # a flag that sets a value other than the default (--no-progress)
        kwargs.update(is_flag=True, flag_value=settings["flag_value"], default=field.default)
    elif str(field.type) == "bool":
        kwargs.update(is_flag=True, default=field.default)
    elif settings.get("multiple"):
        kwargs.update(multiple=True, callback=split_values,
                      help=field.metadata["help"] + " (repeat the option, or give a comma-separated list)")
    else:
        kwargs.update(type=_click_type(field), default=field.default,
                      show_default=field.default is not None)
    return click.option(flag, field.name, **kwargs)


def options_from(cls: type) -> Decorator:
    """The click options of the fields of ``cls`` that have a command-line flag."""
    return combined([option_from(f) for f in dataclasses.fields(cls) if CLI in f.metadata])


def options_of(cls: type, params: dict[str, Any]) -> Any:
    """The ``cls`` of the parsed command-line values (fields without a flag keep their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{name: value for name, value in params.items() if name in names})


def existing_db(db: str | None) -> str | None:
    """``db`` if it is a server or an existing database file: verbs that only read refuse to create one."""
    from rcdm.db import database_file  # the database layer (SQLAlchemy) loads when a verb runs, not for --help

    path = database_file(db)
    if path is not None and not path.exists():
        raise UsageError(f"No database at {path}: create it with 'rcdm ddl create' or 'rcdm etl' first")
    return db


def read_sql(source: str) -> str:
    """The text of a SQL file, or of standard input for ``-``."""
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"No such SQL file: {source}")
    return path.read_text(encoding="utf-8")


def print_rows(rows: Sequence[dict], columns: Sequence[str]) -> None:
    """Print dict rows as an aligned plain-text table."""
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)).rstrip())


def say(quiet: bool, text: str) -> None:
    """Print ``text`` unless ``quiet``."""
    if not quiet:
        print(text)


@dataclasses.dataclass(frozen=True)
class Program:
    """The root context's ``obj``: whether the process ends with the command (the ``rcdm`` program, not a caller
    of ``main`` that goes on: a test, a script)."""

    ends_with_command: bool = False

    @classmethod
    def of(cls, ctx: click.Context) -> Program:
        obj = ctx.find_root().obj
        return obj if isinstance(obj, Program) else cls()


@contextlib.contextmanager
def collector_paused(freeze: bool) -> Iterator[None]:
    """No cyclic garbage collection in the block (a verb's imports of the database layer: ~1 million objects and
    no garbage) and, with ``freeze``, its objects kept out of every later pass (``gc.freeze``): the collector's
    passes over them cost ~0.15 s of a new ``rcdm etl``, measured. Freeze only in a process that ends with the
    command: what is frozen is never collected. Without it the pause only moves those passes after the block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()
