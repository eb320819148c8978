"""The ``rcdm`` command: parses arguments and calls the Python API, nothing more.

Exit codes: 0 success; 1 an rcdm error; 2 bad usage (argument, identifier, dialect); 3 SQL that cannot be
rendered or translated; 4 a missing optional driver (the message names the extra to install); 5 a database
error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from rcdm import __version__
from rcdm.errors import RcdmError, UsageError


def _read_sql(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise UsageError(f"No such SQL file: {source}")
    return path.read_text(encoding="utf-8")


def _parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"Parameters are name=value, got {pair!r}")
        params[name] = value
    return params


def _print_rows(rows: Sequence[dict], columns: Sequence[str]) -> None:
    """Print dict rows as an aligned plain-text table."""
    widths = [max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)).rstrip())


# --- sql -----------------------------------------------------------------------------------------------

def cmd_sql_render(args: argparse.Namespace) -> int:
    from rcdm.sql import render

    print(render(_read_sql(args.file), warn_on_missing_parameters=not args.no_warn,
                 parameters=_parse_params(args.param)))
    return 0


def cmd_sql_translate(args: argparse.Namespace) -> int:
    from rcdm.sql import translate

    print(translate(_read_sql(args.file), args.dialect, temp_emulation_schema=args.temp_emulation_schema))
    return 0


def cmd_sql_dialects(args: argparse.Namespace) -> int:
    from rcdm.sql import list_supported_dialects

    print("\n".join(list_supported_dialects()))
    return 0


# --- ddl -----------------------------------------------------------------------------------------------

def cmd_ddl_print(args: argparse.Namespace) -> int:
    from rcdm.ddl import get_ddl

    print(get_ddl(args.dialect, args.schema, args.model, indexes=not args.no_indexes,
                  foreign_keys=args.foreign_keys, temp_emulation_schema=args.temp_emulation_schema), end="")
    return 0


def cmd_ddl_create(args: argparse.Namespace) -> int:
    from rcdm.db import connect
    from rcdm.ddl import create_tables

    with connect(args.db) as conn:
        rows = create_tables(conn, args.schema, args.model, indexes=not args.no_indexes,
                             foreign_keys=args.foreign_keys)
        if not args.quiet:
            print(f"R-CDM DDL on {conn.dialect} ({conn.display_url}), schema {args.schema}:")
            _print_rows(rows, ["type", "object", "table", "status"])
    return 0


def cmd_ddl_drop(args: argparse.Namespace) -> int:
    from rcdm.db import connect
    from rcdm.ddl import drop_tables

    with connect(args.db) as conn:
        dropped = drop_tables(conn, args.schema, args.model)
    if not args.quiet:
        print("dropped: " + (", ".join(dropped) if dropped else "nothing (no such tables)"))
    return 0


# --- parser --------------------------------------------------------------------------------------------

def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, metavar="URL",
                   help="SQLAlchemy URL (postgresql+psycopg://..., duckdb:///f.duckdb, ...) or a file path; "
                        "default: the embedded DuckDB file rcdm.duckdb (or $RCDM_DATABASE)")
    p.add_argument("--schema", default="cdm", help="cdm_database_schema holding the R-CDM tables (default: cdm)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="rcdm", choices=["rcdm", "micdm", "all"],
                   help="which tables: R-CDM, OHDSI MI-CDM, or both (default: rcdm)")
    p.add_argument("--no-indexes", action="store_true", help="leave out the indexes")
    p.add_argument("--foreign-keys", action="store_true", help="add foreign keys (off by default, as in OHDSI)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rcdm", description="Radiology Common Data Model (R-CDM) for OHDSI sites.")
    parser.add_argument("--version", action="version", version=f"rcdm {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    sql = verbs.add_parser("sql", help="render and translate OHDSI SQL (SqlRender-compatible)",
                           description="Render and translate OHDSI SQL templates, as R's SqlRender does.")
    sql_verbs = sql.add_subparsers(dest="sql_verb", metavar="ACTION")
    sql_verbs.required = True
    p = sql_verbs.add_parser("render", help="fill in @parameters and {conditions}",
                             description="Render an OHDSI SQL template (SqlRender::render).")
    p.add_argument("file", help="SQL file, or - for standard input")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="a parameter value")
    p.add_argument("--no-warn", action="store_true", help="no warning for parameters the SQL does not use")
    p.set_defaults(func=cmd_sql_render)
    p = sql_verbs.add_parser("translate", help="translate OHDSI SQL to a target dialect",
                             description="Translate OHDSI SQL to a database's dialect (SqlRender::translate).")
    p.add_argument("file", help="SQL file, or - for standard input")
    p.add_argument("--dialect", required=True, help="target, as SqlRender spells it (see 'rcdm sql dialects')")
    p.add_argument("--temp-emulation-schema", default=None, help="schema for emulated temp tables (oracle, ...)")
    p.set_defaults(func=cmd_sql_translate)
    p = sql_verbs.add_parser("dialects", help="list the supported target dialects",
                             description="List the target dialects, spelled as SqlRender spells them.")
    p.set_defaults(func=cmd_sql_dialects)

    ddl = verbs.add_parser("ddl", help="print, create or drop the R-CDM / MI-CDM tables",
                           description="Print the DDL for a dialect, or create/drop the tables on a database.")
    ddl.add_argument("--dialect", default="sql server", help="target dialect for printing (default: sql server)")
    ddl.add_argument("--schema", default="cdm", help="cdm_database_schema (default: cdm)")
    ddl.add_argument("--temp-emulation-schema", default=None, help=argparse.SUPPRESS)
    _add_model(ddl)
    ddl.set_defaults(func=cmd_ddl_print)
    ddl_verbs = ddl.add_subparsers(dest="ddl_verb", metavar="ACTION")
    p = ddl_verbs.add_parser("create", help="create the tables where missing (idempotent)",
                             description="Create the tables, indexes (and foreign keys) that are missing.")
    _add_db(p)
    _add_model(p)
    p.set_defaults(func=cmd_ddl_create)
    p = ddl_verbs.add_parser("drop", help="drop the tables", description="Drop the model's tables where they exist.")
    _add_db(p)
    p.add_argument("--model", default="rcdm", choices=["rcdm", "micdm", "all"], help="which tables (default: rcdm)")
    p.set_defaults(func=cmd_ddl_drop)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except RcdmError as exc:
        print(f"rcdm: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rcdm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
