"""Our own translation of the whole differential corpus (and the benchmark's large-cohort shape), for all 10
targets, recorded to check that a change meant to
be behaviour-neutral (speed work on the translator) leaves every output byte-identical.

``python tests/translation_record.py`` rewrites ``tests/data/ohdsi_sql/translations.jsonl.gz`` from the current
translator; ``tests/test_translation_record.py`` compares against it. A change that alters translations on purpose
(a dialect fix) rebuilds the record in the same commit, so the diff of the record shows what changed.
"""

from __future__ import annotations

import gzip
import json
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "tests" / "data" / "ohdsi_sql" / "translations.jsonl.gz"
sys.path.insert(0, str(REPO / "tests"))

sys.path.insert(0, str(REPO / "extras" / "benchmarks"))

from bench_translate import big_cohort  # noqa: E402
from sqlrender_differential import SESSION, TEMP_SCHEMA, Case, corpus  # noqa: E402

from rcdm.sql import list_supported_dialects  # noqa: E402
from rcdm.sql.translate import get_temp_table_prefix, translate  # noqa: E402


def translations() -> dict[str, str]:
    """``"dialect|case id" -> our translation`` (or ``ERROR <class>: <first line>``), the session prefix neutralised."""
    prefix = get_temp_table_prefix()
    result: dict[str, str] = {}
    cases = [*corpus(), Case("bench/big_cohort_8", big_cohort(8))]  # the benchmark's shape: each domain twice
    for dialect in list_supported_dialects():
        for case in cases:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    text = translate(case.sql, dialect, temp_emulation_schema=TEMP_SCHEMA)
            except Exception as error:  # noqa: BLE001 - a refusal is an output too
                text = f"ERROR {type(error).__name__}: {str(error).splitlines()[0]}"
            result[f"{dialect}|{case.id}"] = text.replace(prefix, SESSION)
    return result


def load_record() -> dict[str, str]:
    with gzip.open(RECORD, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return {row["key"]: row["sql"] for row in rows}


def write_record(outputs: dict[str, str]) -> None:
    lines = "".join(json.dumps({"key": k, "sql": v}, ensure_ascii=False) + "\n" for k, v in outputs.items())
    with gzip.GzipFile(RECORD, "wb", mtime=0) as handle:  # mtime 0: the same outputs give the same bytes
        handle.write(lines.encode("utf-8"))


if __name__ == "__main__":
    outputs = translations()
    write_record(outputs)
    print(f"{len(outputs)} translations recorded in {RECORD.relative_to(REPO)}")
