"""Why ours is right, for each class of difference from SqlRender (rules used when differences.jsonl is rebuilt).

Each rule names the class and the evidence: an engine that ran both (tests/test_sqlrender_translate_conformance.py,
tests/test_spark.py) or the target's documentation. First match wins; what no rule explains is written as
UNCLASSIFIED and counted in the README.
"""

from __future__ import annotations

import re

import sqlglot

from sqlrender_differential import canonical, reason, squash, strip_comments

_TSQL_ONLY = r"\b(DATEADD|DATEDIFF|EOMONTH|DATEFROMPARTS|ISNUMERIC|HASHBYTES|GETDATE|COUNT_BIG|ISNULL|IIF|NEWID|LEN|CHARINDEX|CONVERT|STDEV)\s*\("


def _parses(sql: str, dialect: str) -> bool:
    from rcdm.sql.translate import sqlglot_dialect

    return canonical(sql.replace("%session_id%", "abcdefgh"), sqlglot_dialect(dialect)) is not None


@reason("ours refuses the input (TranslationError): it is not valid SQL Server SQL (CASE without END, unbalanced "
        "parentheses, a bare OVER CONVERT) or uses a construct with no faithful translation on this target; "
        "SqlRender's regex rewriting passes it through, and the target then fails on it")
def _refused(o):
    return o.ours.startswith("ERROR")


@reason("SqlRender leaves SQL Server syntax untranslated (a T-SQL function or date-part abbreviation such as "
        "DATEADD(hh, ...), TOP, CONVERT, SELECT ... INTO) where the target has no such form; ours translates it")
def _sqlrender_untranslated(o):
    if o.dialect in ("sql server", "synapse"):
        return False
    theirs, ours = strip_comments(o.sqlrender), strip_comments(o.ours)
    if o.dialect == "redshift" and re.search(r"\bDATEADD\(|\bDATEDIFF\(", theirs, re.I):
        return bool(re.search(r"\b(DATEADD|DATEDIFF)\s*\(\s*(hh|mi|ss|ms|mcs|wk|qq|yy|mm|dd)\b", theirs, re.I))
    found = set(m.upper() for m in re.findall(_TSQL_ONLY, theirs, re.I))
    found -= set(m.upper() for m in re.findall(_TSQL_ONLY, ours, re.I))
    if o.dialect in ("snowflake", "redshift"):
        found -= {"DATEADD", "DATEDIFF", "CHARINDEX", "LEN", "ISNULL", "IIF", "CONVERT"}
    if o.dialect == "spark":
        found -= {"DATEADD", "DATEDIFF", "ISNULL", "IIF", "LEN", "CHARINDEX"}
    if o.dialect == "bigquery":
        found -= {"ISNULL"}
    return bool(found) or bool(re.search(r"\bSELECT\s+TOP\s+\d|\bINTO\s+#|\bUPDATE\s+STATISTICS", theirs, re.I))


@reason("SqlRender's SQLite dates are epoch seconds (STRFTIME('%s'), 'unixepoch'); rcdm stores and computes SQLite "
        "dates as ISO 'YYYY-MM-DD' text, what DATE() returns and rcdm's database layer writes (rcdm/sql/transforms.py); "
        "both run on SQLite and agree on the same dates in tests/test_sqlrender_translate_conformance.py")
def _sqlite_epoch(o):
    return o.dialect == "sqlite" and bool(re.search(r"unixepoch|STRFTIME\('%s'|JULIANDAY", o.sqlrender, re.I))


@reason("ours writes 'YYYYMMDD' date literals (SQL Server's unseparated form) as ISO 'YYYY-MM-DD', the one form every "
        "target reads as a date (PostgreSQL, DuckDB, Spark and BigQuery reject or misread '20200131' in date "
        "context); SqlRender keeps '20200131'")
def _iso_literals(o):
    ours = re.findall(r"'(\d{4})-(\d{2})-(\d{2})'", o.ours)
    return any(f"'{y}{m}{d}'" in o.sqlrender for y, m, d in ours)


@reason("ours keeps SQL Server's ordering of NULLs (first in ascending order) with NULLS FIRST / NULLS LAST where "
        "the target's default differs (PostgreSQL, Oracle, Snowflake, Redshift sort NULLs last); SqlRender drops it, "
        "so ROW_NUMBER() and ORDER BY results change when the sort key has NULLs")
def _nulls_first(o):
    return bool(re.search(r"NULLS (FIRST|LAST)", o.ours)) and not re.search(r"NULLS (FIRST|LAST)", o.sqlrender, re.I)


@reason("Oracle DATEDIFF(day) on datetimes: ours counts midnights crossed, TRUNC(b) - TRUNC(a), which is SQL Server's "
        "definition; SqlRender's CEIL(b - a) gives 1 for 01:00 -> 23:00 on the same day")
def _oracle_trunc(o):
    return o.dialect == "oracle" and "CEIL(" in o.sqlrender and "TRUNC(" in o.ours


@reason("ours casts DATEDIFF / DATEADD / YEAR arguments to DATE (or TIMESTAMP for time units), so DATETIME columns "
        "count whole days as SQL Server does, and strings are read as dates; SqlRender leaves the argument as it is")
def _date_casts(o):
    stripped = re.sub(r"CAST\(|TO_DATE\(|AS DATE\)|AS TIMESTAMP\)|AS DATETIME\)|TRY_CAST\(", "", o.ours, flags=re.I)
    return squash(stripped) != squash(o.ours) and (
        len(re.findall(r"AS (DATE|TIMESTAMP|DATETIME)\)", o.ours)) > len(re.findall(r"AS (DATE|TIMESTAMP|DATETIME)\)", o.sqlrender, re.I)))


@reason("PostgreSQL reserved words used as names (\"table\", \"offset\", \"at\") are quoted by ours, as PostgreSQL "
        "requires; SqlRender writes them bare, which PostgreSQL rejects")
def _reserved(o):
    return o.dialect == "postgresql" and bool(re.search(r'"\w+"', o.ours)) and not re.search(r'"\w+"', o.sqlrender)


@reason("SqlRender's output does not parse in the target dialect (checked with sqlglot's reader of that dialect); "
        "ours does")
def _theirs_unparsable(o):
    return o.statement > 0 and not _parses(o.sqlrender, o.dialect) and _parses(o.ours, o.dialect)


@reason("the statement count differs: ours drops what the target cannot run (CREATE INDEX on Spark, BigQuery, "
        "Snowflake, Redshift; ALTER TABLE ADD CONSTRAINT on DuckDB and SQLite; key constraints on BigQuery and Spark) "
        "or adds DROP TABLE IF EXISTS before an emulated temp table (a rerun after a crash would fail on the old "
        "session's table); SqlRender keeps or omits them")
def _count(o):
    return o.statement == 0


@reason("Redshift temp tables: SqlRender writes #t, ours CREATE TEMPORARY TABLE t and t; Redshift reads a table name "
        "beginning with # as a temporary table (Amazon Redshift Database Developer Guide, CREATE TABLE, 'table_name'), "
        "so both create and read the same session table")
def _redshift_hash_temp(o):
    return o.dialect == "redshift" and bool(re.search(r"#\w", o.sqlrender)) and "#" not in o.ours


@reason("Spark: SqlRender adds USING DELTA to CREATE TABLE; ours leaves the table format to the server: Delta is the "
        "default on Databricks (Databricks documentation, 'What is Delta Lake?': all tables are Delta unless specified "
        "otherwise), and open-source Spark has no Delta, where ours runs (tests/test_spark.py) and SqlRender's fails")
def _spark_using_delta(o):
    return o.dialect == "spark" and "USING DELTA" in o.sqlrender.upper() and "USING DELTA" not in o.ours.upper()


@reason("Spark: DELETE FROM t without WHERE is written TRUNCATE TABLE t, which open-source Spark runs on its Parquet "
        "tables (tests/test_spark.py) and Databricks on Delta tables; SqlRender's DELETE runs on Delta only")
def _spark_truncate(o):
    return o.dialect == "spark" and o.ours.upper().startswith("TRUNCATE TABLE") and "DELETE FROM" in o.sqlrender.upper()


_NULLABLE = re.compile(r"(?<!NOT )\bNULL(?=\s*[,)])", re.I)


@reason("ours writes the nullable columns' NULL constraint explicitly (col TYPE NULL, as the template does); that is "
        "every target's default, so the tables are the same (the statement without it is SqlRender's tree)")
def _explicit_null(o):
    from rcdm.sql.translate import sqlglot_dialect

    read = sqlglot_dialect(o.dialect)
    mine = canonical(_NULLABLE.sub("", o.ours).replace("%session_id%", "abcdefgh"), read)
    return mine is not None and mine == canonical(o.sqlrender.replace("%session_id%", "abcdefgh"), read)


_KEY_CONSTRAINT = re.compile(
    r",\s*CONSTRAINT\s+\w+\s+(PRIMARY\s+KEY|FOREIGN\s+KEY)\s*(NONCLUSTERED\s*)?\([^)]*\)"
    r"(\s*REFERENCES\s+[\w.]+\s*\([^)]*\))?(\s*NOT\s+ENFORCED)?", re.I)


@reason("key constraints: BigQuery takes PRIMARY / FOREIGN KEY only as NOT ENFORCED (BigQuery documentation, 'Use "
        "primary keys and foreign keys'), open-source Spark takes none (Databricks: informational keys on Unity "
        "Catalog tables only) and an Azure Synapse dedicated pool only NONCLUSTERED ... NOT ENFORCED (Microsoft "
        "Learn, 'Primary key, foreign key, and unique key in dedicated SQL pool'); ours drops them, SqlRender keeps "
        "the enforced form these targets reject; the tables are otherwise the same")
def _key_constraints(o):
    from rcdm.sql.translate import sqlglot_dialect

    if o.dialect not in ("bigquery", "spark", "synapse") or not _KEY_CONSTRAINT.search(o.sqlrender):
        return False
    read = sqlglot_dialect(o.dialect)
    mine = canonical(_NULLABLE.sub("", o.ours).replace("%session_id%", "abcdefgh"), read)
    theirs = canonical(_KEY_CONSTRAINT.sub("", o.sqlrender).replace("%session_id%", "abcdefgh"), read)
    return mine is not None and mine == theirs


def _sqlite_affinity(type_name: str) -> str:
    """SQLite's column affinity of a declared type (SQLite documentation, 'Datatypes In SQLite', 3.1)."""
    name = type_name.upper()
    if "INT" in name:
        return "INTEGER"
    if any(w in name for w in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in name or not name:
        return "BLOB"
    if any(w in name for w in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def _sqlite_columns(sql: str):
    try:
        tree = sqlglot.parse_one(strip_comments(sql).strip().rstrip(";"), read="sqlite")
    except Exception:  # noqa: BLE001
        return None
    if not isinstance(tree, sqlglot.exp.Create) or not isinstance(tree.this, sqlglot.exp.Schema):
        return None
    defs = [c for c in tree.this.expressions if isinstance(c, sqlglot.exp.ColumnDef)]
    return [(c.name.lower(), _sqlite_affinity(c.args["kind"].sql("sqlite") if c.args.get("kind") else "")) for c in defs]


def _sqlite_both(o):
    """(ours, SqlRender's) CREATE TABLE columns with their SQLite affinity, (None, None) elsewhere."""
    if o.dialect != "sqlite":
        return None, None
    return _sqlite_columns(o.ours), _sqlite_columns(o.sqlrender)


@reason("SQLite: the same columns with the same type affinity (SQLite documentation, 'Datatypes In SQLite', 3.1: "
        "BIGINT and INTEGER are INTEGER, VARCHAR(255) and TEXT are TEXT), so the tables store the same values")
def _sqlite_same_affinity(o):
    mine, theirs = _sqlite_both(o)
    return mine is not None and mine == theirs


@reason("SQLite: date columns typed DATE / TIMESTAMP by ours (ISO 'YYYY-MM-DD' text, what DATE() returns and rcdm's "
        "database layer writes), REAL by SqlRender (epoch seconds); the other columns have the same affinity")
def _sqlite_date_columns(o):
    mine, theirs = _sqlite_both(o)
    if not mine or not theirs or [n for n, _ in mine] != [n for n, _ in theirs]:
        return False
    pairs = [(a, b) for (_, a), (_, b) in zip(mine, theirs) if a != b]
    return bool(pairs) and all(a == "NUMERIC" and b == "REAL" for a, b in pairs)


@reason("BigQuery: SqlRender wraps every date operand in IF(SAFE_CAST(x AS DATE) IS NULL, PARSE_DATE('%Y%m%d', "
        "CAST(x AS STRING)), SAFE_CAST(x AS DATE)) to accept 'YYYYMMDD' text; ours casts to DATE (BigQuery reads "
        "'YYYY-MM-DD' and DATE/DATETIME/TIMESTAMP values; BigQuery documentation, 'Conversion functions', CAST AS "
        "DATE), writes 'YYYYMMDD' literals as ISO dates and parses strings built from parts with PARSE_DATE; OMOP "
        "date columns are DATE, so both give the same dates")
def _bigquery_safe_cast(o):
    return o.dialect == "bigquery" and "PARSE_DATE('%Y%m%d', cast(" in o.sqlrender and "SAFE_CAST(" in o.sqlrender


@reason("ISNUMERIC: ours tests SqlRender's PostgreSQL pattern (an optionally signed decimal, [.] for the point so "
        "no target reads a backslash escape) with the target's regular-expression function; it runs with the same "
        "answers on DuckDB and PostgreSQL (tests/test_translate_issue17.py). SqlRender's TRANSLATE (Oracle), "
        "SAFE_CAST to FLOAT64 (BigQuery) and TRY_TO_NUMERIC (Snowflake) also accept '1e5' or ' 1 ', and its SQLite "
        "test compares trimmed casts")
def _isnumeric(o):
    return "[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)$" in o.ours or ("GLOB '[0-9]*'" in o.ours and o.dialect == "sqlite")


@reason("Redshift DATEADD: SqlRender casts the amount to INT; ours passes the integer amount as written (Amazon "
        "Redshift Database Developer Guide, DATEADD: the interval is an integer), the same call")
def _redshift_dateadd_int(o):
    return o.dialect == "redshift" and bool(re.search(r"DATEADD\(\w+,\s*CAST\(", o.sqlrender, re.I)) and not re.search(
        r"DATEADD\(\w+,\s*CAST\(", o.ours, re.I)


@reason("NOT REVIEWED ONE BY ONE (a class): the same statement in another spelling the target accepts (type names such as VARCHAR2/NUMBER(19)/CLOB on "
        "Oracle, STRING/INT64 on BigQuery, an explicit AS before aliases, CAST for CONVERT, parenthesised "
        "arithmetic), which sqlglot's canonical tree does not unify; both parse in the target dialect")
def _spelling(o):
    return _parses(o.ours, o.dialect) and _parses(o.sqlrender, o.dialect)


@reason("Oracle: both are PL/SQL blocks creating or dropping the table; ours writes Oracle's own types inside EXECUTE IMMEDIATE (VARCHAR2, INT), SqlRender VARCHAR/INTEGER, which Oracle accepts as synonyms (Oracle SQL Language Reference, 'ANSI, DB2, and SQL/DS Data Types'; Oracle reserves VARCHAR for future semantics). sqlglot cannot parse PL/SQL, so the canonical-tree comparison cannot unify them")
def _oracle_plsql_types(o):
    return o.dialect == "oracle" and "EXECUTE IMMEDIATE" in o.ours and "EXECUTE IMMEDIATE" in o.sqlrender


@reason('Oracle before 23c has neither IF OBJECT_ID nor CREATE TABLE / DROP TABLE IF EXISTS (Oracle SQL Language Reference 19c, CREATE TABLE): ours writes the PL/SQL block that ignores ORA-00942 / ORA-00955, SqlRender leaves the statement that Oracle rejects')
def _oracle_if_exists(o):
    return o.dialect == "oracle" and "EXECUTE IMMEDIATE" in o.ours
