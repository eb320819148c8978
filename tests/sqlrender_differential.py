"""rcdm's translator against SqlRender (through duckcdm, a pure-Python port whose output equals the Java SqlRender's).

The corpus: every template under ``inst/`` (rendered with sample parameters), every translate case of SqlRender's own
test suite that the tests hold (``tests/data/sqlrender/conformance.jsonl``, its translate cases), the ATLAS cohort SQL under
``extras/cohorts/``, the idioms of ``tests/data/ohdsi_sql/idioms.sql`` and real OHDSI SQL (Achilles analyses, WebAPI
SQL resources, Circe cohort SQL: ``ohdsi_corpus``). Each is translated by both to every target
and compared statement by statement: two statements agree when (a) equal ignoring whitespace, letter case and
comments, (b) both parse in the target's sqlglot dialect to the same canonical tree, or (c) on DuckDB, SQLite and
PostgreSQL, both run on a small schema with data and give the same results (``differential_execution``). What still differs must be
listed, with why ours is right, in ``tests/data/ohdsi_sql/differences.jsonl``.

``python tests/sqlrender_differential.py`` rewrites that file from the current translations, keeping the reasons
already given and classifying new differences by the rules in ``REASONS`` (unclassified ones say so);
``--reclassify`` only applies the rules again to the rows listed, without translating anything.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "ohdsi_sql"
DIFFERENCES = DATA / "differences.jsonl"
TEMP_SCHEMA = "scratch"
SESSION = "%session_id%"

sys.path.insert(0, str(REPO / "tests"))

import ohdsi_corpus  # noqa: E402  (tests/ on the path)


@dataclass(frozen=True)
class Case:
    """One input of the corpus: an id and OHDSI SQL already rendered (no @parameters left)."""

    id: str
    sql: str


def corpus() -> list[Case]:
    """Every input, in a stable order."""
    from rcdm.sql import render
    from test_templates import DEFAULT, PARAMETER, TEMPLATES, _ids, _sample_value

    cases = []
    for path in TEMPLATES:
        text = path.read_text(encoding="utf-8")
        defaults = {m.group(1) for m in DEFAULT.finditer(text)}
        parameters = {n: _sample_value(n) for n in set(PARAMETER.findall(text)) - defaults}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cases.append(Case(f"inst/{_ids(path)}", render(text, parameters=parameters)))
    cohort_parameters = dict(cdm_database_schema="cdm", vocabulary_database_schema="cdm",
                             target_database_schema="results", target_cohort_table="cohort", target_cohort_id="1")
    for path in sorted((REPO / "extras" / "cohorts").glob("*.sql")):
        cases.append(Case(f"cohorts/{path.name}", render(path.read_text(encoding="utf-8"), parameters=cohort_parameters)))
    for line in (DATA.parent / "sqlrender" / "conformance.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["kind"] == "translate":
            cases.append(Case(f"sqlrender/{row['source'].split('/')[-1]}", row["sql"]))
    idioms = (DATA / "idioms.sql").read_text(encoding="utf-8")
    from rcdm.sql import split_sql

    for i, statement in enumerate(split_sql(idioms), start=1):
        cases.append(Case(f"idioms/{i}", statement))
    cases.extend(Case(name, sql) for name, sql in ohdsi_corpus.cases())
    return cases


_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_ANALYZE = re.compile(r"ANALYZE\s+[\w.%]+\s*;?\Z", re.I)
_OPTIMIZE = re.compile(r"OPTIMIZE\s+[\w.%]+\s+ZORDER\s+BY\s+[\w, ]+;?\Z", re.I)  # s13review: Delta's OPTIMIZE (Spark)
_DROP_BEFORE = re.compile(r"DROP\s+TABLE\s+IF\s+EXISTS\s+([\w.%]+)\s*;?\Z", re.I)  # s13review: paired with ours'
_SET_ASIDE = (_ANALYZE, _OPTIMIZE, _DROP_BEFORE)
"""Kinds of statement only SqlRender writes, each set aside as one outcome (its class in differential_reasons) so
that the other statements are still compared one by one."""


def _set_aside(pattern: re.Pattern, statement: str, mine: list[str]) -> bool:
    """Whether SqlRender's ``statement`` is of the set-aside kind ``pattern``; its DROP TABLE IF EXISTS t only where
    ours writes CREATE OR REPLACE TABLE t (the same drop, inside our statement)."""
    found = pattern.match(strip_comments(statement).strip())
    if found is None or pattern is not _DROP_BEFORE:
        return found is not None
    replace = re.compile(rf"CREATE\s+OR\s+REPLACE\s+TABLE\s+{re.escape(found.group(1))}\s", re.I)
    return any(replace.match(strip_comments(s).strip()) for s in mine)
_STRING_OR_COMMENT = re.compile(r"('(?:[^']|'')*')|--[^\n]*|/\*.*?\*/", re.S)


def strip_comments(sql: str) -> str:
    return _STRING_OR_COMMENT.sub(lambda m: m.group(1) or " ", sql)


def squash(sql: str) -> str:
    """The statement without comments, whitespace, letter case and a trailing ``;`` (comparison (a))."""
    return re.sub(r"\s+", "", strip_comments(sql)).lower().rstrip(";")


def canonical(sql: str, dialect: str) -> str | None:
    """The statement parsed in the target's sqlglot dialect and written back normalised (comparison (b))."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = sqlglot.parse_one(strip_comments(sql).strip().rstrip(";"), read=dialect)
            if tree is None:
                return None
            tree = normalize_identifiers(tree, dialect=dialect)
            return tree.sql(dialect=dialect, normalize=True, comments=False)
    except Exception:  # noqa: BLE001 - a statement sqlglot cannot read is simply not the same tree
        return None


def statements(sql: str) -> list[str]:
    from rcdm.sql import split_sql

    return [s for s in (p.strip() for p in split_sql(sql)) if strip_comments(s).strip()]


@dataclass(frozen=True)
class Outcome:
    dialect: str
    case: str
    statement: int  # 0 = the whole translation (statement counts differ, or one side failed)
    kind: str  # "equal", "tree", "run" (same results on a real engine), "differ"
    ours: str
    sqlrender: str

    @property
    def key(self) -> str:
        digest = hashlib.sha256(f"{squash(self.ours)}\n{squash(self.sqlrender)}".encode()).hexdigest()[:16]
        return f"{self.dialect}|{self.case}|{self.statement}|{digest}"


def compare(case: Case, dialect: str, postgres_url: str | None = None) -> list[Outcome]:
    """Translate ``case`` with both engines to ``dialect`` and compare them statement by statement (criterion (c)
    on PostgreSQL only with ``postgres_url``)."""
    from differential_execution import same_results

    from duckcdm import sqlrender

    from rcdm.sql.translate import get_temp_table_prefix, sqlglot_dialect, translate

    prefix = get_temp_table_prefix()
    try:
        ours = translate(case.sql, dialect, temp_emulation_schema=TEMP_SCHEMA)
    except Exception as error:  # noqa: BLE001 - a refusal is an outcome too
        ours = f"ERROR {type(error).__name__}: {str(error).splitlines()[0]}"
    try:
        theirs = sqlrender.translate(case.sql, dialect, temp_emulation_schema=TEMP_SCHEMA, session_id=prefix)
    except Exception as error:  # noqa: BLE001
        theirs = f"ERROR {type(error).__name__}: {str(error).splitlines()[0]}"
    ours, theirs = ours.replace(prefix, SESSION), theirs.replace(prefix, SESSION)
    read = sqlglot_dialect(dialect)
    if ours.startswith("ERROR") or theirs.startswith("ERROR"):
        kind = "equal" if ours == theirs else "differ"
        return [Outcome(dialect, case.id, 0, kind, ours, theirs)]
    mine, other = statements(ours), statements(theirs)
    outcomes = []
    for pattern in _SET_ASIDE:
        extra = [s for s in other if _set_aside(pattern, s, mine)]
        if len(mine) != len(other) and extra and len(mine) <= len(other) - len(extra) and not any(
                pattern.match(strip_comments(s).strip()) for s in mine):
            # statements only SqlRender writes, of a reviewed kind: one outcome for them, the rest compared one by one
            outcomes.append(Outcome(dialect, case.id, 0, "differ", "", "\n".join(extra)))
            other = [s for s in other if s not in extra]
    if len(mine) != len(other):
        return [Outcome(dialect, case.id, 0, "differ", ours, theirs)]
    for number, (a, b) in enumerate(zip(mine, other), start=1):
        if squash(a) == squash(b):
            kind = "equal"
        else:
            canon = canonical(a.replace(SESSION, prefix), read)
            kind = "tree" if canon is not None and canon == canonical(b.replace(SESSION, prefix), read) else "differ"
            if kind == "differ" and same_results(dialect, a.replace(SESSION, prefix), b.replace(SESSION, prefix),
                                                 postgres_url):
                kind = "run"
        outcomes.append(Outcome(dialect, case.id, number, kind, a, b))
    return outcomes


def all_outcomes(postgres_url: str | None = None) -> list[Outcome]:
    from rcdm.sql import list_supported_dialects

    cases = corpus()
    return [o for dialect in list_supported_dialects() for case in cases for o in compare(case, dialect, postgres_url)]


def load_differences() -> dict[str, dict]:
    if not DIFFERENCES.exists():
        return {}
    rows = [json.loads(line) for line in DIFFERENCES.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {row["key"]: row for row in rows}


# --- classification of differences (used when the file is regenerated) -------------------------------------------

def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text, re.I | re.S) is not None


REASONS: list[tuple[str, object]] = []
"""(reason, predicate(outcome) -> bool), first match wins; filled by ``reason`` below."""


def reason(why: str):
    def register(predicate):
        REASONS.append((why, predicate))
        return predicate

    return register


def classify(outcome: Outcome) -> str:
    for why, predicate in REASONS:
        if predicate(outcome):
            return why
    return "UNCLASSIFIED"


def write_differences(outcomes: list[Outcome], reclassify: bool = False) -> dict[str, int]:
    """Write the differences list; a row listed before keeps its reason unless ``reclassify`` (or it was generic)."""
    known = {} if reclassify else load_differences()
    rows = []
    counts: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.kind != "differ":
            continue
        old = known.get(outcome.key)
        generic = old is not None and old["why"].startswith(("UNCLASSIFIED", "NOT REVIEWED"))
        why = old["why"] if old and not generic else classify(outcome)
        counts[why] = counts.get(why, 0) + 1
        rows.append({"key": outcome.key, "dialect": outcome.dialect, "case": outcome.case,
                     "statement": outcome.statement, "why": why, "ours": outcome.ours, "sqlrender": outcome.sqlrender})
    DIFFERENCES.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return counts


def agreement(outcomes: list[Outcome]) -> dict[str, tuple[int, int, int, int]]:
    """Per dialect: (statements equal ignoring whitespace, same canonical tree, same results when run, total)."""
    table: dict[str, list[int]] = {}
    for o in outcomes:
        row = table.setdefault(o.dialect, [0, 0, 0, 0])
        row[0] += o.kind == "equal"
        row[1] += o.kind == "tree"
        row[2] += o.kind == "run"
        row[3] += 1
    return {d: (v[0], v[1], v[2], v[3]) for d, v in table.items()}


import differential_reasons  # noqa: E402,F401  (registers the REASONS rules)

if __name__ == "__main__":
    import sqlrender_differential as module  # the imported module, where differential_reasons registered its rules

    if sys.argv[1:] == ["--reclassify"]:  # new rules, same translations: classify the listed rows again, no run
        listed = [Outcome(r["dialect"], r["case"], r["statement"], "differ", r["ours"], r["sqlrender"])
                  for r in module.load_differences().values()]
        print(json.dumps(module.write_differences(listed, reclassify=True), indent=1))
        sys.exit()

    from differential_execution import postgres_for_script

    servers = postgres_for_script()
    url = next(servers)
    if url is None:
        sys.exit("criterion (c) needs PostgreSQL: set RCDM_TEST_POSTGRES_URL or install the server (tests/pg_server.py)")
    result = module.all_outcomes(url)
    next(servers, None)
    print(json.dumps(module.write_differences(result), indent=1))
    for dialect, (equal, tree, run, total) in module.agreement(result).items():
        agree = equal + tree + run
        print(f"{dialect:12} {agree}/{total} = {100 * agree / total:.0f}% (equal {equal}, tree {tree}, run {run})")
