"""Write the README's tables of the options rcdm's faces share (``rcdm.options``): the Python field, the R
argument, the ``rcdm`` flag, the default and the help text of every ``EtlOptions`` and ``ImageCriteria`` option.

    python extras/options_table.py          # rewrite the README between the options-table markers
    python extras/options_table.py --check  # exit 1 if the README's tables are not the generated ones

tests/test_options.py checks the README against :func:`tables`.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

from rcdm.options import CLI, EtlOptions, ImageCriteria, StudyOptions

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- options-table: start (extras/options_table.py) -->", "<!-- options-table: end -->"
R_FUNCTIONS = {EtlOptions: "runRcdmEtl", ImageCriteria: "getCohortImages", StudyOptions: "runRcdmStudy"}
R_NAMES = {"out": "outputFile"}
"""Options whose R argument is not the camel-case name (as R's OHDSI packages name an output file)."""


def camel(name: str) -> str:
    """The R argument of a Python option name (``batch_size`` → ``batchSize``)."""
    if name in R_NAMES:
        return R_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _flag(field: dataclasses.Field) -> str:
    flag = field.metadata.get(CLI)
    if flag is None:
        return ""
    click = field.metadata["click"]
    return f"`{flag}`" + (" (repeatable)" if click.get("multiple") else "")


def _markdown(text: str) -> str:
    """Help text as a table cell: no column break, no HTML tag."""
    return text.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")


def table(cls: type, r_arguments: set[str]) -> str:
    """One markdown table: a row per option of ``cls``."""
    lines = [f"`rcdm.options.{cls.__name__}` (R: `{R_FUNCTIONS[cls]}`)", "",
             "| option | R | `rcdm` | default | what |", "|---|---|---|---|---|"]
    for field in dataclasses.fields(cls):
        r_name = camel(field.name)
        lines.append(f"| `{field.name}` | {f'`{r_name}`' if r_name in r_arguments else ''} | {_flag(field)} | "
                     f"`{field.default!r}` | {_markdown(field.metadata['help'])} |")
    return "\n".join(lines)


def r_arguments(function: str) -> set[str]:
    """The argument names of an R function of extras/RadiologyCDM/R/ (read from its source)."""
    for path in sorted((README.parent / "extras" / "RadiologyCDM" / "R").glob("*.R")):
        match = re.search(rf"^{function} <- function\((.*?)\) \{{", path.read_text(encoding="utf-8"), re.M | re.S)
        if match:
            return {part.split("=")[0].strip() for part in re.split(r",(?![^(]*\))", match.group(1))}
    raise LookupError(f"no R function {function}")


def tables() -> str:
    """The README's options section between its markers (markers included)."""
    body = "\n\n".join(table(cls, r_arguments(function)) for cls, function in R_FUNCTIONS.items())
    return f"{START}\n{body}\n{END}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the README")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        print(f"README.md has no {START} ... {END} section", file=sys.stderr)
        return 1
    new = pattern.sub(lambda _: tables(), text)
    if args.check:
        return 0 if new == text else 1
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
