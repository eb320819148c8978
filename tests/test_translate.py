"""The translation matrix: each OHDSI SQL input beside its expected output for every target (sqlglot's style).

``{p}`` stands for the session's temp-table prefix; ``""`` means the statement has no equivalent and is dropped;
``Refused(text)`` means translate raises TranslationError containing ``text``. Every output is parsed back by
sqlglot in the target's dialect (PL/SQL and OBJECT_ID blocks excepted), and PostgreSQL/DuckDB/SQLite outputs are
executed in ``test_ohdsi_idioms.py`` and ``test_sqlrender_translate_conformance.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import sqlglot

from rcdm.errors import TranslationError, UnsupportedDialectError
from rcdm.sql.dialects import TARGETS
from rcdm.sql.split import split_sql
from rcdm.sql.translate import get_temp_table_prefix, list_supported_dialects, translate, translate_single_statement


@dataclass(frozen=True)
class Refused:
    """Expected outcome: TranslationError whose message contains ``text``."""

    text: str


# An emulated temp table is dropped before it is created (Oracle: this block; Spark: DROP TABLE IF EXISTS).
ORACLE_DROP_T = (
    "BEGIN\n  EXECUTE IMMEDIATE 'TRUNCATE TABLE scratch.{p}t';\n  EXECUTE IMMEDIATE 'DROP TABLE scratch.{p}t';\n"
    "EXCEPTION\n  WHEN OTHERS THEN\n    IF SQLCODE != -942 THEN\n      RAISE;\n    END IF;\nEND;\n"
)

MATRIX = [
    # select_into_temp
    ('SELECT person_id INTO #t FROM cdm.person;', {
        'sql server': 'SELECT person_id INTO #t FROM cdm.person;',
        'postgresql': 'CREATE TEMPORARY TABLE t AS SELECT person_id FROM cdm.person;\nANALYZE t;',
        'oracle': ORACLE_DROP_T + 'CREATE TABLE scratch.{p}t AS SELECT person_id FROM cdm.person;',
        'bigquery': 'CREATE OR REPLACE TABLE scratch.{p}t AS SELECT person_id FROM cdm.person;',
        'duckdb': 'CREATE TEMPORARY TABLE t AS SELECT person_id FROM cdm.person;',
        'sqlite': 'CREATE TABLE temp.t AS SELECT person_id FROM cdm.person;',
        'redshift': 'CREATE TEMPORARY TABLE t DISTKEY(person_id) AS SELECT person_id FROM cdm.person;',
        'snowflake': 'CREATE TEMPORARY TABLE scratch.{p}t AS SELECT person_id FROM cdm.person;',
        'spark': 'DROP TABLE IF EXISTS scratch.{p}t;\nCREATE TABLE scratch.{p}t AS SELECT person_id FROM cdm.person;',
        'synapse': 'CREATE TABLE #t WITH (DISTRIBUTION = ROUND_ROBIN) AS SELECT person_id FROM cdm.person;',
    }),
    # with_select_into
    ('WITH x AS (SELECT person_id FROM cdm.person) SELECT person_id INTO #t FROM x;', {
        'sql server': 'WITH x AS (SELECT person_id AS person_id FROM cdm.person) SELECT person_id INTO #t FROM x;',
        'postgresql': 'CREATE TEMPORARY TABLE t AS WITH x AS (SELECT person_id FROM cdm.person) SELECT person_id FROM x;\nANALYZE t;',
        'oracle': ORACLE_DROP_T + 'CREATE TABLE scratch.{p}t AS WITH x AS (SELECT person_id FROM cdm.person) SELECT person_id FROM x;',
        'bigquery': 'CREATE OR REPLACE TABLE scratch.{p}t AS WITH x AS (SELECT person_id FROM cdm.person) SELECT person_id FROM x;',
        'duckdb': 'CREATE TEMPORARY TABLE t AS WITH x AS (SELECT person_id FROM cdm.person) SELECT person_id FROM x;',
        'sqlite': 'CREATE TABLE temp.t AS WITH x AS (SELECT person_id FROM cdm.person) SELECT person_id FROM x;',
        'redshift': 'CREATE TEMPORARY TABLE t DISTKEY(person_id) AS WITH x AS (SELECT person_id FROM cdm.person) SELECT person_id FROM x;',
        'snowflake': 'CREATE TEMPORARY TABLE scratch.{p}t AS WITH x AS (SELECT person_id FROM cdm.person) SELECT person_id FROM x;',
        'spark': 'DROP TABLE IF EXISTS scratch.{p}t;\nCREATE TABLE scratch.{p}t AS WITH x AS (SELECT person_id FROM cdm.person) SELECT person_id FROM x;',
        'synapse': 'CREATE TABLE #t WITH (DISTRIBUTION = ROUND_ROBIN) AS WITH x AS (SELECT person_id AS person_id FROM cdm.person) SELECT person_id FROM x;',
    }),
    # select_into_schema
    ('SELECT a INTO results.t FROM b;', {
        'sql server': 'SELECT a INTO results.t FROM b;',
        'postgresql': 'CREATE TABLE results.t AS SELECT a FROM b;',
        'oracle': 'CREATE TABLE results.t AS SELECT a FROM b;',
        'bigquery': 'CREATE TABLE results.t AS SELECT a FROM b;',
        'duckdb': 'CREATE TABLE results.t AS SELECT a FROM b;',
        'sqlite': 'CREATE TABLE results.t AS SELECT a FROM b;',
        'redshift': 'CREATE TABLE results.t DISTSTYLE ALL AS SELECT a FROM b;',
        'snowflake': 'CREATE TABLE results.t AS SELECT a FROM b;',
        'spark': 'CREATE TABLE results.t AS SELECT a FROM b;',
        'synapse': 'CREATE TABLE results.t WITH (DISTRIBUTION = ROUND_ROBIN) AS SELECT a FROM b;',
    }),
    # drop_temp_if_exists
    ("IF OBJECT_ID('tempdb..#t', 'U') IS NOT NULL DROP TABLE #t;", {
        'sql server': "IF OBJECT_ID('tempdb..#t', 'U') IS NOT NULL DROP TABLE #t;",
        'postgresql': 'DROP TABLE IF EXISTS t;',
        'oracle': "BEGIN\n  EXECUTE IMMEDIATE 'TRUNCATE TABLE scratch.{p}t';\n  EXECUTE IMMEDIATE 'DROP TABLE scratch.{p}t';\nEXCEPTION\n  WHEN OTHERS THEN\n    IF SQLCODE != -942 THEN\n      RAISE;\n    END IF;\nEND;",
        'bigquery': 'DROP TABLE IF EXISTS scratch.{p}t;',
        'duckdb': 'DROP TABLE IF EXISTS t;',
        'sqlite': 'DROP TABLE IF EXISTS temp.t;',
        'redshift': 'DROP TABLE IF EXISTS t;',
        'snowflake': 'DROP TABLE IF EXISTS scratch.{p}t;',
        'spark': 'DROP TABLE IF EXISTS scratch.{p}t;',
        'synapse': "IF OBJECT_ID('tempdb..#t', 'U') IS NOT NULL DROP TABLE #t;",
    }),
    # drop_if_exists
    ("IF OBJECT_ID('results.t', 'U') IS NOT NULL DROP TABLE results.t;", {
        'sql server': "IF OBJECT_ID('results.t', 'U') IS NOT NULL DROP TABLE results.t;",
        'postgresql': 'DROP TABLE IF EXISTS results.t;',
        'oracle': "BEGIN\n  EXECUTE IMMEDIATE 'TRUNCATE TABLE results.t';\n  EXECUTE IMMEDIATE 'DROP TABLE results.t';\nEXCEPTION\n  WHEN OTHERS THEN\n    IF SQLCODE != -942 THEN\n      RAISE;\n    END IF;\nEND;",
        'bigquery': 'DROP TABLE IF EXISTS results.t;',
        'duckdb': 'DROP TABLE IF EXISTS results.t;',
        'sqlite': 'DROP TABLE IF EXISTS results.t;',
        'redshift': 'DROP TABLE IF EXISTS results.t;',
        'snowflake': 'DROP TABLE IF EXISTS results.t;',
        'spark': 'DROP TABLE IF EXISTS results.t;',
        'synapse': "IF OBJECT_ID('results.t', 'U') IS NOT NULL DROP TABLE results.t;",
    }),
    # create_if_not_exists
    ("IF OBJECT_ID('results.t', 'U') IS NULL CREATE TABLE results.t (id BIGINT NOT NULL, name VARCHAR(255));", {
        'sql server': "IF OBJECT_ID('results.t', 'U') IS NULL CREATE TABLE results.t (id BIGINT NOT NULL, name VARCHAR(255));",
        'postgresql': 'CREATE TABLE IF NOT EXISTS results.t (id BIGINT NOT NULL, name VARCHAR(255));',
        'oracle': "BEGIN\n  EXECUTE IMMEDIATE 'CREATE TABLE results.t (id NUMBER(19) NOT NULL, name VARCHAR2(255))';\nEXCEPTION\n  WHEN OTHERS THEN\n    IF SQLCODE != -955 THEN\n      RAISE;\n    END IF;\nEND;",
        'bigquery': 'CREATE TABLE IF NOT EXISTS results.t (id INT64 NOT NULL, name STRING);',
        'duckdb': 'CREATE TABLE IF NOT EXISTS results.t (id BIGINT NOT NULL, name TEXT);',
        'sqlite': 'CREATE TABLE IF NOT EXISTS results.t (id INTEGER NOT NULL, name TEXT(255));',
        'redshift': 'CREATE TABLE IF NOT EXISTS results.t (id BIGINT NOT NULL, name VARCHAR(255)) DISTSTYLE ALL;',
        'snowflake': 'CREATE TABLE IF NOT EXISTS results.t (id BIGINT NOT NULL, name VARCHAR(255));',
        'spark': 'CREATE TABLE IF NOT EXISTS results.t (id BIGINT NOT NULL, name VARCHAR(255));',
        'synapse': "IF OBJECT_ID('results.t', 'U') IS NULL CREATE TABLE results.t (id BIGINT NOT NULL, name VARCHAR(255));",
    }),
    # top
    ('SELECT TOP 10 a FROM t ORDER BY a;', {
        'sql server': 'SELECT TOP 10 a FROM t ORDER BY a;',
        'postgresql': 'SELECT a FROM t ORDER BY a NULLS FIRST LIMIT 10;',
        'oracle': 'SELECT a FROM t ORDER BY a NULLS FIRST FETCH FIRST 10 ROWS ONLY;',
        'bigquery': 'SELECT a FROM t ORDER BY a LIMIT 10;',
        'duckdb': 'SELECT a FROM t ORDER BY a NULLS FIRST LIMIT 10;',
        'sqlite': 'SELECT a FROM t ORDER BY a LIMIT 10;',
        'redshift': 'SELECT a FROM t ORDER BY a NULLS FIRST LIMIT 10;',
        'snowflake': 'SELECT a FROM t ORDER BY a NULLS FIRST LIMIT 10;',
        'spark': 'SELECT a FROM t ORDER BY a LIMIT 10;',
        'synapse': 'SELECT TOP 10 a FROM t ORDER BY a;',
    }),
    # dateadd
    ('SELECT DATEADD(day, 30, d) AS a, DATEADD(mm, 1, d) AS b, DATEADD(yyyy, -1, d) AS c FROM t;', {
        'sql server': 'SELECT DATEADD(DAY, 30, d) AS a, DATEADD(MONTH, 1, d) AS b, DATEADD(YEAR, -1, d) AS c FROM t;',
        'postgresql': "SELECT CAST(d + (30) * INTERVAL '1 DAY' AS DATE) AS a, CAST(d + (1) * INTERVAL '1 MONTH' AS DATE) AS b, CAST(d + ((-1) * 12) * INTERVAL '1 MONTH' AS DATE) AS c FROM t;",
        'oracle': "SELECT (d + 30) AS a, LEAST(ADD_MONTHS(d, 1), ADD_MONTHS(TRUNC(d, 'MM'), 1) + (d - TRUNC(d, 'MM'))) AS b, LEAST(ADD_MONTHS(d, (-1) * 12), ADD_MONTHS(TRUNC(d, 'MM'), (-1) * 12) + (d - TRUNC(d, 'MM'))) AS c FROM t;",
        'bigquery': 'SELECT DATE_ADD(CAST(d AS DATE), INTERVAL 30 DAY) AS a, DATE_ADD(CAST(d AS DATE), INTERVAL 1 MONTH) AS b, DATE_ADD(CAST(d AS DATE), INTERVAL -1 YEAR) AS c FROM t;',
        'duckdb': 'SELECT CAST(d + TO_DAYS(CAST(30 AS INT)) AS DATE) AS a, CAST(d + TO_MONTHS(CAST(1 AS INT)) AS DATE) AS b, CAST(d + TO_MONTHS(CAST((-1) * 12 AS INT)) AS DATE) AS c FROM t;',
        'sqlite': "SELECT DATE(d, CAST(30 AS INTEGER) || ' days') AS a, MIN(DATE(d, 'start of month', CAST(1 AS INTEGER) || ' months', '+1 month', '-1 day'), DATE(d, 'start of month', CAST(1 AS INTEGER) || ' months', (CAST(STRFTIME('%d', d) AS INTEGER) - 1) || ' days')) AS b, MIN(DATE(d, 'start of month', CAST((-1) * 12 AS INTEGER) || ' months', '+1 month', '-1 day'), DATE(d, 'start of month', CAST((-1) * 12 AS INTEGER) || ' months', (CAST(STRFTIME('%d', d) AS INTEGER) - 1) || ' days')) AS c FROM t;",
        'redshift': 'SELECT DATEADD(DAY, 30, d) AS a, DATEADD(MONTH, 1, d) AS b, DATEADD(YEAR, -1, d) AS c FROM t;',
        'snowflake': 'SELECT DATEADD(DAY, 30, d) AS a, DATEADD(MONTH, 1, d) AS b, DATEADD(YEAR, -1, d) AS c FROM t;',
        'spark': 'SELECT DATE_ADD(d, 30) AS a, ADD_MONTHS(d, 1) AS b, ADD_MONTHS(d, (-1) * 12) AS c FROM t;',
        'synapse': 'SELECT DATEADD(DAY, 30, d) AS a, DATEADD(MONTH, 1, d) AS b, DATEADD(YEAR, -1, d) AS c FROM t;',
    }),
    # datediff
    ('SELECT DATEDIFF(day, a, b) AS days FROM t;', {
        'sql server': 'SELECT DATEDIFF(DAY, CAST(a AS DATETIME2), CAST(b AS DATETIME2)) AS days FROM t;',
        'postgresql': 'SELECT (CAST(b AS DATE) - CAST(a AS DATE)) AS days FROM t;',
        'oracle': "SELECT (TRUNC(CAST(b AS DATE), 'DD') - TRUNC(CAST(a AS DATE), 'DD')) AS days FROM t;",
        'bigquery': 'SELECT DATE_DIFF(CAST(b AS DATE), CAST(a AS DATE), DAY) AS days FROM t;',
        'duckdb': 'SELECT (CAST(b AS DATE) - CAST(a AS DATE)) AS days FROM t;',
        'sqlite': 'SELECT CAST(JULIANDAY(DATE(b)) - JULIANDAY(DATE(a)) AS INTEGER) AS days FROM t;',
        'redshift': 'SELECT DATEDIFF(DAY, CAST(a AS DATE), CAST(b AS DATE)) AS days FROM t;',
        'snowflake': 'SELECT DATEDIFF(DAY, CAST(a AS DATE), CAST(b AS DATE)) AS days FROM t;',
        'spark': 'SELECT DATEDIFF(DAY, CAST(a AS DATE), CAST(b AS DATE)) AS days FROM t;',
        'synapse': 'SELECT DATEDIFF(DAY, CAST(a AS DATETIME2), CAST(b AS DATETIME2)) AS days FROM t;',
    }),
    # date_parts
    ('SELECT DATEFROMPARTS(2020, 2, 1) AS a, EOMONTH(d) AS b, YEAR(d) AS y, MONTH(d) AS m, DAY(d) AS dd FROM t;', {
        'sql server': 'SELECT DATEFROMPARTS(2020, 2, 1) AS a, EOMONTH(CAST(d AS DATE)) AS b, YEAR(d) AS y, MONTH(d) AS m, DAY(d) AS dd FROM t;',
        'postgresql': "SELECT MAKE_DATE(CAST(2020 AS INT), CAST(2 AS INT), CAST(1 AS INT)) AS a, CAST(DATE_TRUNC('MONTH', CAST(d AS DATE)) + INTERVAL '1 MONTH' - INTERVAL '1 DAY' AS DATE) AS b, EXTRACT(YEAR FROM CAST(d AS DATE)) AS y, EXTRACT(MONTH FROM CAST(d AS DATE)) AS m, EXTRACT(DAY FROM CAST(d AS DATE)) AS dd FROM t;",
        'oracle': "SELECT TO_DATE(TO_CHAR((2020) * 10000 + (2) * 100 + (1)), 'YYYYMMDD') AS a, TRUNC(LAST_DAY(CAST(d AS DATE))) AS b, EXTRACT(YEAR FROM CAST(d AS DATE)) AS y, EXTRACT(MONTH FROM CAST(d AS DATE)) AS m, EXTRACT(DAY FROM CAST(d AS DATE)) AS dd FROM t;",
        'bigquery': 'SELECT DATE(2020, 2, 1) AS a, LAST_DAY(CAST(d AS DATE)) AS b, EXTRACT(YEAR FROM CAST(d AS DATE)) AS y, EXTRACT(MONTH FROM CAST(d AS DATE)) AS m, EXTRACT(DAY FROM CAST(d AS DATE)) AS dd FROM t;',
        'duckdb': 'SELECT MAKE_DATE(2020, 2, 1) AS a, LAST_DAY(CAST(d AS DATE)) AS b, YEAR(CAST(d AS DATE)) AS y, MONTH(CAST(d AS DATE)) AS m, DAY(CAST(d AS DATE)) AS dd FROM t;',
        'sqlite': "SELECT DATE(PRINTF('%04d-%02d-%02d', 2020, 2, 1)) AS a, DATE(d, 'start of month', '+1 month', '-1 day') AS b, CAST(STRFTIME('%Y', d) AS INTEGER) AS y, CAST(STRFTIME('%m', d) AS INTEGER) AS m, CAST(STRFTIME('%d', d) AS INTEGER) AS dd FROM t;",
        'redshift': "SELECT TO_DATE(CAST((2020) * 10000 + (2) * 100 + (1) AS VARCHAR), 'YYYYMMDD') AS a, LAST_DAY(CAST(d AS DATE)) AS b, EXTRACT(YEAR FROM CAST(d AS DATE)) AS y, EXTRACT(MONTH FROM CAST(d AS DATE)) AS m, EXTRACT(DAY FROM CAST(d AS DATE)) AS dd FROM t;",
        'snowflake': 'SELECT DATE_FROM_PARTS(2020, 2, 1) AS a, LAST_DAY(TO_DATE(d)) AS b, YEAR(TO_DATE(d)) AS y, MONTH(TO_DATE(d)) AS m, DAY(TO_DATE(d)) AS dd FROM t;',
        'spark': 'SELECT MAKE_DATE(2020, 2, 1) AS a, LAST_DAY(TO_DATE(d)) AS b, YEAR(d) AS y, MONTH(d) AS m, DAY(d) AS dd FROM t;',
        'synapse': 'SELECT DATEFROMPARTS(2020, 2, 1) AS a, EOMONTH(CAST(d AS DATE)) AS b, YEAR(d) AS y, MONTH(d) AS m, DAY(d) AS dd FROM t;',
    }),
    # getdate
    ('SELECT GETDATE() AS now;', {
        'sql server': 'SELECT GETDATE() AS now;',
        'postgresql': 'SELECT CURRENT_DATE AS now;',
        'oracle': 'SELECT SYSDATE AS now FROM DUAL;',
        'bigquery': 'SELECT CURRENT_DATE AS now;',
        'duckdb': 'SELECT CURRENT_DATE AS now;',
        'sqlite': 'SELECT CURRENT_DATE AS now;',
        'redshift': 'SELECT CURRENT_DATE AS now;',
        'snowflake': 'SELECT CURRENT_DATE AS now;',
        'spark': 'SELECT CURRENT_DATE AS now;',
        'synapse': 'SELECT GETDATE() AS now;',
    }),
    # functions
    ("SELECT ISNULL(a, 0) AS a, IIF(b > 1, 1, 0) AS b, COUNT_BIG(*) AS n, LEN(s) AS l, CHARINDEX('x', s) AS c FROM t GROUP BY a, b, s;", {
        'sql server': "SELECT ISNULL(a, 0) AS a, IIF(b > 1, 1, 0) AS b, COUNT_BIG(*) AS n, LEN(s) AS l, CHARINDEX('x', s) AS c FROM t GROUP BY a, b, s;",
        'postgresql': "SELECT COALESCE(a, 0) AS a, CASE WHEN b > 1 THEN 1 ELSE 0 END AS b, COUNT(*) AS n, LENGTH(CAST(s AS TEXT)) AS l, POSITION('x' IN s) AS c FROM t GROUP BY a, b, s;",
        'oracle': "SELECT COALESCE(a, 0) AS a, CASE WHEN b > 1 THEN 1 ELSE 0 END AS b, COUNT(*) AS n, LENGTH(CAST(s AS CLOB)) AS l, INSTR(s, 'x') AS c FROM t GROUP BY a, b, s;",
        'bigquery': "SELECT COALESCE(a, 0) AS a, IF(b > 1, 1, 0) AS b, COUNT(*) AS n, LENGTH(CAST(s AS STRING)) AS l, INSTR(s, 'x') AS c FROM t GROUP BY a, b, s;",
        'duckdb': "SELECT COALESCE(a, 0) AS a, CASE WHEN b > 1 THEN 1 ELSE 0 END AS b, COUNT(*) AS n, LENGTH(CAST(s AS TEXT)) AS l, STRPOS(s, 'x') AS c FROM t GROUP BY a, b, s;",
        'sqlite': "SELECT COALESCE(a, 0) AS a, IIF(b > 1, 1, 0) AS b, COUNT(*) AS n, LENGTH(CAST(s AS TEXT)) AS l, INSTR(s, 'x') AS c FROM t GROUP BY a, b, s;",
        'redshift': "SELECT COALESCE(a, 0) AS a, CASE WHEN b > 1 THEN 1 ELSE 0 END AS b, COUNT(*) AS n, LENGTH(CAST(s AS VARCHAR(MAX))) AS l, POSITION('x' IN s) AS c FROM t GROUP BY a, b, s;",
        'snowflake': "SELECT COALESCE(a, 0) AS a, IFF(b > 1, 1, 0) AS b, COUNT(*) AS n, LENGTH(CAST(s AS VARCHAR)) AS l, CHARINDEX('x', s) AS c FROM t GROUP BY a, b, s;",
        'spark': "SELECT COALESCE(a, 0) AS a, IF(b > 1, 1, 0) AS b, COUNT(*) AS n, LENGTH(CAST(s AS STRING)) AS l, LOCATE('x', s) AS c FROM t GROUP BY a, b, s;",
        'synapse': "SELECT ISNULL(a, 0) AS a, IIF(b > 1, 1, 0) AS b, COUNT_BIG(*) AS n, LEN(s) AS l, CHARINDEX('x', s) AS c FROM t GROUP BY a, b, s;",
    }),
    # left_right
    ('SELECT LEFT(s, 2) AS l, RIGHT(s, 2) AS r FROM t;', {
        'sql server': 'SELECT LEFT(s, 2) AS l, RIGHT(s, 2) AS r FROM t;',
        'postgresql': 'SELECT LEFT(CAST(s AS TEXT), 2) AS l, RIGHT(CAST(s AS TEXT), 2) AS r FROM t;',
        'oracle': 'SELECT SUBSTR(CAST(s AS CLOB), 1, 2) AS l, SUBSTR(CAST(s AS CLOB), -(2)) AS r FROM t;',
        'bigquery': 'SELECT LEFT(CAST(s AS STRING), 2) AS l, RIGHT(CAST(s AS STRING), 2) AS r FROM t;',
        'duckdb': 'SELECT LEFT(CAST(s AS TEXT), 2) AS l, RIGHT(CAST(s AS TEXT), 2) AS r FROM t;',
        'sqlite': 'SELECT SUBSTR(CAST(s AS TEXT), 1, 2) AS l, SUBSTR(CAST(s AS TEXT), -(2)) AS r FROM t;',
        'redshift': 'SELECT LEFT(CAST(s AS VARCHAR(MAX)), 2) AS l, RIGHT(CAST(s AS VARCHAR(MAX)), 2) AS r FROM t;',
        'snowflake': 'SELECT LEFT(CAST(s AS VARCHAR), 2) AS l, RIGHT(CAST(s AS VARCHAR), 2) AS r FROM t;',
        'spark': 'SELECT LEFT(CAST(s AS STRING), 2) AS l, RIGHT(CAST(s AS STRING), 2) AS r FROM t;',
        'synapse': 'SELECT LEFT(s, 2) AS l, RIGHT(s, 2) AS r FROM t;',
    }),
    # newid
    ('SELECT NEWID() AS id;', {
        'sql server': 'SELECT NEWID() AS id;',
        'postgresql': 'SELECT GEN_RANDOM_UUID() AS id;',
        'oracle': 'SELECT SYS_GUID() AS id FROM DUAL;',
        'bigquery': 'SELECT GENERATE_UUID() AS id;',
        'duckdb': 'SELECT UUID() AS id;',
        'sqlite': 'SELECT LOWER(HEX(RANDOMBLOB(16))) AS id;',
        'redshift': 'SELECT GEN_RANDOM_UUID() AS id;',
        'snowflake': 'SELECT UUID_STRING() AS id;',
        'spark': 'SELECT UUID() AS id;',
        'synapse': 'SELECT NEWID() AS id;',
    }),
    # stdev_var
    ('SELECT STDEV(x) AS s, VAR(x) AS v FROM t;', {
        'sql server': 'SELECT STDEV(x) AS s, VAR(x) AS v FROM t;',
        'postgresql': 'SELECT STDDEV(x) AS s, VAR_SAMP(x) AS v FROM t;',
        'oracle': 'SELECT STDDEV(x) AS s, VAR_SAMP(x) AS v FROM t;',
        'bigquery': 'SELECT STDDEV(x) AS s, VAR_SAMP(x) AS v FROM t;',
        'duckdb': 'SELECT STDDEV(x) AS s, VAR_SAMP(x) AS v FROM t;',
        'sqlite': 'SELECT SQRT(MAX((SUM(CAST(x AS REAL) * CAST(x AS REAL)) - SUM(CAST(x AS REAL)) * SUM(CAST(x AS REAL)) / COUNT(CAST(x AS REAL))) / (COUNT(CAST(x AS REAL)) - 1), 0)) AS s, ((SUM(CAST(x AS REAL) * CAST(x AS REAL)) - SUM(CAST(x AS REAL)) * SUM(CAST(x AS REAL)) / COUNT(CAST(x AS REAL))) / (COUNT(CAST(x AS REAL)) - 1)) AS v FROM t;',
        'redshift': 'SELECT STDDEV(x) AS s, VAR_SAMP(x) AS v FROM t;',
        'snowflake': 'SELECT STDDEV(x) AS s, VAR_SAMP(x) AS v FROM t;',
        'spark': 'SELECT STDDEV(x) AS s, VAR_SAMP(x) AS v FROM t;',
        'synapse': 'SELECT STDEV(x) AS s, VAR(x) AS v FROM t;',
    }),
    # string_plus
    ("SELECT 'a' + CAST(x AS VARCHAR) + 'b' AS s FROM t;", {
        'sql server': "SELECT 'a' + CAST(x AS VARCHAR) + 'b' AS s FROM t;",
        'postgresql': "SELECT 'a' || CAST(x AS VARCHAR) || 'b' AS s FROM t;",
        'oracle': "SELECT 'a' || CAST(x AS VARCHAR2(4000)) || 'b' AS s FROM t;",
        'bigquery': "SELECT 'a' || CAST(x AS STRING) || 'b' AS s FROM t;",
        'duckdb': "SELECT 'a' || CAST(x AS TEXT) || 'b' AS s FROM t;",
        'sqlite': "SELECT 'a' || CAST(x AS TEXT) || 'b' AS s FROM t;",
        'redshift': "SELECT 'a' || CAST(x AS VARCHAR) || 'b' AS s FROM t;",
        'snowflake': "SELECT 'a' || CAST(x AS VARCHAR) || 'b' AS s FROM t;",
        'spark': "SELECT 'a' || CAST(x AS STRING) || 'b' AS s FROM t;",
        'synapse': "SELECT 'a' + CAST(x AS VARCHAR) + 'b' AS s FROM t;",
    }),
    # types
    ('CREATE TABLE results.t (a BIGINT, b INT, c FLOAT, d DATETIME, e VARCHAR(MAX), f VARCHAR(20), g DATE);', {
        'sql server': 'CREATE TABLE results.t (a BIGINT, b INTEGER, c FLOAT, d DATETIME, e VARCHAR(MAX), f VARCHAR(20), g DATE);',
        'postgresql': 'CREATE TABLE results.t (a BIGINT, b INT, c DOUBLE PRECISION, d TIMESTAMP, e TEXT, f VARCHAR(20), g DATE);',
        'oracle': 'CREATE TABLE results.t (a NUMBER(19), b INT, c DOUBLE PRECISION, d TIMESTAMP, e CLOB, f VARCHAR2(20), g DATE);',
        'bigquery': 'CREATE TABLE results.t (a INT64, b INT64, c FLOAT64, d DATETIME, e STRING, f STRING, g DATE);',
        'duckdb': 'CREATE TABLE results.t (a BIGINT, b INT, c DOUBLE, d TIMESTAMP, e TEXT, f TEXT, g DATE);',
        'sqlite': 'CREATE TABLE results.t (a INTEGER, b INTEGER, c REAL, d TIMESTAMP, e TEXT, f TEXT(20), g DATE);',
        'redshift': 'CREATE TABLE results.t (a BIGINT, b INTEGER, c DOUBLE PRECISION, d TIMESTAMP, e VARCHAR(MAX), f VARCHAR(20), g DATE) DISTSTYLE ALL;',
        'snowflake': 'CREATE TABLE results.t (a BIGINT, b INT, c DOUBLE, d TIMESTAMP, e VARCHAR, f VARCHAR(20), g DATE);',
        'spark': 'CREATE TABLE results.t (a BIGINT, b INT, c DOUBLE, d TIMESTAMP, e STRING, f VARCHAR(20), g DATE);',
        'synapse': 'CREATE TABLE results.t (a BIGINT, b INTEGER, c FLOAT, d DATETIME, e VARCHAR(MAX), f VARCHAR(20), g DATE);',
    }),
    # table_alias_no_from
    ('SELECT p.a FROM t AS p UNION SELECT 1;', {
        'sql server': 'SELECT p.a FROM t AS p UNION SELECT 1;',
        'postgresql': 'SELECT p.a FROM t AS p UNION SELECT 1;',
        'oracle': 'SELECT p.a FROM t p UNION SELECT 1 FROM DUAL;',
        'bigquery': 'SELECT p.a FROM t AS p UNION DISTINCT SELECT 1;',
        'duckdb': 'SELECT p.a FROM t AS p UNION SELECT 1;',
        'sqlite': 'SELECT p.a FROM t AS p UNION SELECT 1;',
        'redshift': 'SELECT p.a FROM t AS p UNION SELECT 1;',
        'snowflake': 'SELECT p.a FROM t AS p UNION SELECT 1;',
        'spark': 'SELECT p.a FROM t AS p UNION SELECT 1;',
        'synapse': 'SELECT p.a FROM t AS p UNION SELECT 1;',
    }),
    # truncate
    ('TRUNCATE TABLE results.t;', {
        'sql server': 'TRUNCATE TABLE results.t;',
        'postgresql': 'TRUNCATE TABLE results.t;',
        'oracle': 'TRUNCATE TABLE results.t;',
        'bigquery': 'DELETE FROM results.t WHERE TRUE;',
        'duckdb': 'TRUNCATE TABLE results.t;',
        'sqlite': 'DELETE FROM results.t;',
        'redshift': 'TRUNCATE TABLE results.t;',
        'snowflake': 'TRUNCATE TABLE results.t;',
        'spark': 'TRUNCATE TABLE results.t;',
        'synapse': 'TRUNCATE TABLE results.t;',
    }),
    # hint
    ('--HINT DISTRIBUTE_ON_KEY(person_id)\nSELECT person_id INTO #t FROM cdm.person;', {
        'sql server': 'SELECT person_id INTO #t FROM cdm.person;',
        'postgresql': 'CREATE TEMPORARY TABLE t AS SELECT person_id FROM cdm.person;\nANALYZE t;',
        'oracle': ORACLE_DROP_T + 'CREATE TABLE scratch.{p}t AS SELECT person_id FROM cdm.person;',
        'bigquery': 'CREATE OR REPLACE TABLE scratch.{p}t AS SELECT person_id FROM cdm.person;',
        'duckdb': 'CREATE TEMPORARY TABLE t AS SELECT person_id FROM cdm.person;',
        'sqlite': 'CREATE TABLE temp.t AS SELECT person_id FROM cdm.person;',
        'redshift': 'CREATE TEMPORARY TABLE t DISTKEY(person_id) AS SELECT person_id FROM cdm.person;',
        'snowflake': 'CREATE TEMPORARY TABLE scratch.{p}t AS SELECT person_id FROM cdm.person;',
        'spark': 'DROP TABLE IF EXISTS scratch.{p}t;\nCREATE TABLE scratch.{p}t AS SELECT person_id FROM cdm.person;',
        'synapse': 'CREATE TABLE #t WITH (DISTRIBUTION = HASH(person_id)) AS SELECT person_id FROM cdm.person;',
    }),
    # update_statistics
    ('UPDATE STATISTICS results.t;', {
        'sql server': 'UPDATE STATISTICS results.t;',
        'postgresql': 'ANALYZE results.t;',
        'oracle': '',
        'bigquery': '',
        'duckdb': 'ANALYZE results.t;',
        'sqlite': 'ANALYZE results.t;',
        'redshift': 'ANALYZE results.t;',
        'snowflake': '',
        'spark': '',
        'synapse': 'UPDATE STATISTICS results.t;',
    }),
    # create_index
    ('CREATE INDEX idx_t ON results.t (a);', {
        'sql server': 'CREATE INDEX idx_t ON results.t(a);',
        'postgresql': 'CREATE INDEX idx_t ON results.t(a);',
        'oracle': 'CREATE INDEX idx_t ON results.t(a);',
        'bigquery': '',
        'duckdb': 'CREATE INDEX idx_t ON results.t(a);',
        'sqlite': 'CREATE INDEX results.idx_t ON t(a);',
        'redshift': '',
        'snowflake': '',
        'spark': '',
        'synapse': 'CREATE INDEX idx_t ON results.t(a);',
    }),
    # primary_key
    ('ALTER TABLE results.t ADD CONSTRAINT pk_t PRIMARY KEY NONCLUSTERED (id);', {
        'sql server': 'ALTER TABLE results.t ADD CONSTRAINT pk_t PRIMARY KEY (id);',
        'postgresql': 'ALTER TABLE results.t ADD CONSTRAINT pk_t PRIMARY KEY (id);',
        'oracle': 'ALTER TABLE results.t ADD CONSTRAINT pk_t PRIMARY KEY (id);',
        'bigquery': '',
        'duckdb': '',
        'sqlite': '',
        'redshift': 'ALTER TABLE results.t ADD CONSTRAINT pk_t PRIMARY KEY (id);',
        'snowflake': 'ALTER TABLE results.t ADD CONSTRAINT pk_t PRIMARY KEY (id);',
        'spark': '',
        'synapse': '',
    }),
    # foreign_key
    ('ALTER TABLE results.t ADD CONSTRAINT fk_t FOREIGN KEY (id) REFERENCES results.u (id);', {
        'sql server': 'ALTER TABLE results.t ADD CONSTRAINT fk_t FOREIGN KEY (id) REFERENCES results.u (id);',
        'postgresql': 'ALTER TABLE results.t ADD CONSTRAINT fk_t FOREIGN KEY (id) REFERENCES results.u (id);',
        'oracle': 'ALTER TABLE results.t ADD CONSTRAINT fk_t FOREIGN KEY (id) REFERENCES results.u (id);',
        'bigquery': '',
        'duckdb': '',
        'sqlite': '',
        'redshift': 'ALTER TABLE results.t ADD CONSTRAINT fk_t FOREIGN KEY (id) REFERENCES results.u (id);',
        'snowflake': 'ALTER TABLE results.t ADD CONSTRAINT fk_t FOREIGN KEY (id) REFERENCES results.u (id);',
        'spark': '',
        'synapse': '',
    }),
    # create_with_pk
    ('CREATE TABLE results.t (id INT NOT NULL, PRIMARY KEY NONCLUSTERED (id));', {
        'sql server': 'CREATE TABLE results.t (id INTEGER NOT NULL, PRIMARY KEY (id));',
        'postgresql': 'CREATE TABLE results.t (id INT NOT NULL, PRIMARY KEY (id));',
        'oracle': 'CREATE TABLE results.t (id INT NOT NULL, PRIMARY KEY (id));',
        'bigquery': 'CREATE TABLE results.t (id INT64 NOT NULL);',
        'duckdb': 'CREATE TABLE results.t (id INT NOT NULL, PRIMARY KEY (id));',
        'sqlite': 'CREATE TABLE results.t (id INTEGER NOT NULL PRIMARY KEY);',
        'redshift': 'CREATE TABLE results.t (id INTEGER NOT NULL, PRIMARY KEY (id)) DISTSTYLE ALL;',
        'snowflake': 'CREATE TABLE results.t (id INT NOT NULL, PRIMARY KEY (id));',
        'spark': 'CREATE TABLE results.t (id INT NOT NULL);',
        'synapse': 'CREATE TABLE results.t (id INTEGER NOT NULL);',
    }),
    # truncate_temp (SQLite has no TRUNCATE: DELETE FROM, as SqlRender writes)
    ('TRUNCATE TABLE #x;', {
        'sql server': 'TRUNCATE TABLE #x;',
        'postgresql': 'TRUNCATE TABLE x;',
        'oracle': 'TRUNCATE TABLE scratch.{p}x;',
        'bigquery': 'DELETE FROM scratch.{p}x WHERE TRUE;',
        'duckdb': 'TRUNCATE TABLE x;',
        'sqlite': 'DELETE FROM temp.x;',
        'redshift': 'TRUNCATE TABLE x;',
        'snowflake': 'TRUNCATE TABLE scratch.{p}x;',
        'spark': 'TRUNCATE TABLE scratch.{p}x;',
        'synapse': 'TRUNCATE TABLE #x;',
    }),
    # except_minus (Oracle before 21c has only MINUS)
    ('SELECT a FROM results.t EXCEPT SELECT a FROM results.u;', {
        'sql server': 'SELECT a FROM results.t EXCEPT SELECT a FROM results.u;',
        'postgresql': 'SELECT a FROM results.t EXCEPT SELECT a FROM results.u;',
        'oracle': 'SELECT a FROM results.t MINUS SELECT a FROM results.u;',
        'bigquery': 'SELECT a FROM results.t EXCEPT DISTINCT SELECT a FROM results.u;',
        'duckdb': 'SELECT a FROM results.t EXCEPT SELECT a FROM results.u;',
        'sqlite': 'SELECT a FROM results.t EXCEPT SELECT a FROM results.u;',
        'redshift': 'SELECT a FROM results.t EXCEPT SELECT a FROM results.u;',
        'snowflake': 'SELECT a FROM results.t EXCEPT SELECT a FROM results.u;',
        'spark': 'SELECT a FROM results.t EXCEPT SELECT a FROM results.u;',
        'synapse': 'SELECT a FROM results.t EXCEPT SELECT a FROM results.u;',
    }),
    # yyyymmdd_compared (a valid 'YYYYMMDD' compared with a date-like column is an ISO date; a *_source_value stays text)
    ("SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= '20100101' AND condition_source_value <> '20100101';", {
        'sql server': "SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= '20100101' AND condition_source_value <> '20100101';",
        'postgresql': "SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= '2010-01-01' AND condition_source_value <> '20100101';",
        'oracle': "SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= TO_DATE('2010-01-01', 'YYYY-MM-DD') AND condition_source_value <> '20100101';",
        'bigquery': "SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= '2010-01-01' AND condition_source_value <> '20100101';",
        'duckdb': "SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= '2010-01-01' AND condition_source_value <> '20100101';",
        'sqlite': "SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= '2010-01-01' AND condition_source_value <> '20100101';",
        'redshift': "SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= '2010-01-01' AND condition_source_value <> '20100101';",
        'snowflake': "SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= '2010-01-01' AND condition_source_value <> '20100101';",
        'spark': "SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= '2010-01-01' AND condition_source_value <> '20100101';",
        'synapse': "SELECT person_id FROM cdm.condition_occurrence WHERE condition_start_date >= '20100101' AND condition_source_value <> '20100101';",
    }),
    # reserved_column (note_nlp.offset is reserved on PostgreSQL, DuckDB, Redshift)
    ('CREATE TABLE cdm.note_nlp (note_nlp_id INT, offset VARCHAR(50));', {
        'sql server': 'CREATE TABLE cdm.note_nlp (note_nlp_id INTEGER, offset VARCHAR(50));',
        'postgresql': 'CREATE TABLE cdm.note_nlp (note_nlp_id INT, "offset" VARCHAR(50));',
        'oracle': 'CREATE TABLE cdm.note_nlp (note_nlp_id INT, offset VARCHAR2(50));',
        'bigquery': 'CREATE TABLE cdm.note_nlp (note_nlp_id INT64, offset STRING);',
        'duckdb': 'CREATE TABLE cdm.note_nlp (note_nlp_id INT, "offset" TEXT);',
        'sqlite': 'CREATE TABLE cdm.note_nlp (note_nlp_id INTEGER, offset TEXT(50));',
        'redshift': 'CREATE TABLE cdm.note_nlp (note_nlp_id INTEGER, "offset" VARCHAR(50)) DISTSTYLE ALL;',
        'snowflake': 'CREATE TABLE cdm.note_nlp (note_nlp_id INT, offset VARCHAR(50));',
        'spark': 'CREATE TABLE cdm.note_nlp (note_nlp_id INT, offset VARCHAR(50));',
        'synapse': 'CREATE TABLE cdm.note_nlp (note_nlp_id INTEGER, offset VARCHAR(50));',
    }),
    # create_temp (emulated temp tables: an old one is dropped or replaced first)
    ('CREATE TABLE #t (id INT);', {
        'sql server': 'CREATE TABLE #t (id INTEGER);',
        'postgresql': 'CREATE TEMPORARY TABLE t (id INT);',
        'oracle': ORACLE_DROP_T + 'CREATE TABLE scratch.{p}t (id INT);',
        'bigquery': 'CREATE OR REPLACE TABLE scratch.{p}t (id INT64);',
        'duckdb': 'CREATE TEMPORARY TABLE t (id INT);',
        'sqlite': 'CREATE TABLE temp.t (id INTEGER);',
        'redshift': 'CREATE TEMPORARY TABLE t (id INTEGER) DISTSTYLE ALL;',
        'snowflake': 'CREATE TEMPORARY TABLE scratch.{p}t (id INT);',
        'spark': 'DROP TABLE IF EXISTS scratch.{p}t;\nCREATE TABLE scratch.{p}t (id INT);',
        'synapse': 'CREATE TABLE #t (id INTEGER);',
    }),
    # isnumeric (issue 17: an optionally signed decimal, by the target's regular-expression test; no regex on SQLite: GLOB)
    ('SELECT ISNUMERIC(value_source_value) AS n FROM cdm.measurement;', {
        'sql server': 'SELECT ISNUMERIC(value_source_value) AS n FROM cdm.measurement;',
        'postgresql': "SELECT CASE WHEN CAST(value_source_value AS VARCHAR) ~ '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)$' THEN 1 ELSE 0 END AS n FROM cdm.measurement;",
        'oracle': "SELECT CASE WHEN REGEXP_LIKE(TO_CHAR(value_source_value), '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)$') THEN 1 ELSE 0 END AS n FROM cdm.measurement;",
        'bigquery': "SELECT CASE WHEN REGEXP_CONTAINS(CAST(value_source_value AS STRING), '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)$') THEN 1 ELSE 0 END AS n FROM cdm.measurement;",
        'duckdb': "SELECT CASE WHEN REGEXP_MATCHES(CAST(value_source_value AS TEXT), '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)$') THEN 1 ELSE 0 END AS n FROM cdm.measurement;",
        'sqlite': "SELECT CASE WHEN value_source_value GLOB '[0-9]*' OR value_source_value GLOB '[0-9]*.[0-9]*' OR value_source_value GLOB '.[0-9]*' THEN 1 ELSE 0 END AS n FROM cdm.measurement;",
        'redshift': "SELECT CASE WHEN CAST(value_source_value AS VARCHAR) ~ '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)$' THEN 1 ELSE 0 END AS n FROM cdm.measurement;",
        'snowflake': "SELECT CASE WHEN REGEXP_LIKE(CAST(value_source_value AS VARCHAR), '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)$') THEN 1 ELSE 0 END AS n FROM cdm.measurement;",
        'spark': "SELECT CASE WHEN CAST(value_source_value AS STRING) RLIKE '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)$' THEN 1 ELSE 0 END AS n FROM cdm.measurement;",
        'synapse': 'SELECT ISNUMERIC(value_source_value) AS n FROM cdm.measurement;',
    }),
    # hashbytes (hexadecimal MD5 text; Oracle's STANDARD_HASH; nothing on SQLite)
    ("SELECT HASHBYTES('MD5', person_source_value) AS h FROM cdm.person;", {
        'sql server': "SELECT HASHBYTES('MD5', person_source_value) AS h FROM cdm.person;",
        'postgresql': 'SELECT MD5(person_source_value) AS h FROM cdm.person;',
        'oracle': "SELECT LOWER(RAWTOHEX(STANDARD_HASH(person_source_value, 'MD5'))) AS h FROM cdm.person;",
        'bigquery': 'SELECT TO_HEX(MD5(person_source_value)) AS h FROM cdm.person;',
        'duckdb': 'SELECT MD5(person_source_value) AS h FROM cdm.person;',
        'sqlite': Refused("HASHBYTES is not available on 'sqlite'"),
        'redshift': 'SELECT MD5(person_source_value) AS h FROM cdm.person;',
        'snowflake': 'SELECT MD5(person_source_value) AS h FROM cdm.person;',
        'spark': 'SELECT MD5(person_source_value) AS h FROM cdm.person;',
        'synapse': "SELECT HASHBYTES('MD5', person_source_value) AS h FROM cdm.person;",
    }),
    # varbinary (a string's bytes: UTL_RAW on Oracle, TO_BINARY(s, 'UTF-8') on Snowflake)
    ('SELECT CONVERT(VARBINARY, person_source_value) AS b FROM cdm.person;', {
        'sql server': 'SELECT CONVERT(VARBINARY, person_source_value) AS b FROM cdm.person;',
        'postgresql': 'SELECT CAST(person_source_value AS BYTEA) AS b FROM cdm.person;',
        'oracle': 'SELECT UTL_RAW.CAST_TO_RAW(person_source_value) AS b FROM cdm.person;',
        'bigquery': 'SELECT CAST(person_source_value AS BYTES) AS b FROM cdm.person;',
        'duckdb': 'SELECT CAST(person_source_value AS BLOB) AS b FROM cdm.person;',
        'sqlite': 'SELECT CAST(person_source_value AS BLOB) AS b FROM cdm.person;',
        'redshift': 'SELECT CAST(person_source_value AS VARBYTE) AS b FROM cdm.person;',
        'snowflake': "SELECT TO_BINARY(person_source_value, 'UTF-8') AS b FROM cdm.person;",
        'spark': 'SELECT CAST(person_source_value AS BINARY) AS b FROM cdm.person;',
        'synapse': 'SELECT CONVERT(VARBINARY, person_source_value) AS b FROM cdm.person;',
    }),
    # uniqueidentifier (CHAR(36) where there is no UUID type; TEXT on SQLite)
    ('SELECT CAST(NULL AS UNIQUEIDENTIFIER) AS u;', {
        'sql server': 'SELECT CAST(NULL AS UNIQUEIDENTIFIER) AS u;',
        'postgresql': 'SELECT CAST(NULL AS UUID) AS u;',
        'oracle': 'SELECT CAST(NULL AS CHAR(36)) AS u FROM DUAL;',
        'bigquery': 'SELECT CAST(NULL AS STRING) AS u;',
        'duckdb': 'SELECT CAST(NULL AS UUID) AS u;',
        'sqlite': 'SELECT CAST(NULL AS TEXT) AS u;',
        'redshift': 'SELECT CAST(NULL AS CHAR(36)) AS u;',
        'snowflake': 'SELECT CAST(NULL AS CHAR(36)) AS u;',
        'spark': 'SELECT CAST(NULL AS STRING) AS u;',
        'synapse': 'SELECT CAST(NULL AS UNIQUEIDENTIFIER) AS u;',
    }),
    # yyyymmdd_built (a string built from parts read as 'YYYYMMDD'; CONCAT's NULL-as-empty with strings inside)
    ("SELECT CAST(CONCAT(year_of_birth, '0101') AS DATE) AS d FROM cdm.person;", {
        'sql server': "SELECT CAST(CONCAT(year_of_birth, '0101') AS DATE) AS d FROM cdm.person;",
        'postgresql': "SELECT CAST(CONCAT(year_of_birth, '0101') AS DATE) AS d FROM cdm.person;",
        'oracle': "SELECT TO_DATE((year_of_birth || '0101'), 'YYYYMMDD') AS d FROM cdm.person;",
        'bigquery': "SELECT PARSE_DATE('%Y%m%d', CONCAT(COALESCE(CAST(year_of_birth AS STRING), ''), '0101')) AS d FROM cdm.person;",
        'duckdb': "SELECT CAST(STRPTIME(CONCAT(year_of_birth, '0101'), '%Y%m%d') AS DATE) AS d FROM cdm.person;",
        'sqlite': "SELECT DATE(SUBSTRING((COALESCE(year_of_birth, '') || '0101'), 1, 4) || '-' || SUBSTRING((COALESCE(year_of_birth, '') || '0101'), 5, 2) || '-' || SUBSTRING((COALESCE(year_of_birth, '') || '0101'), 7, 2)) AS d FROM cdm.person;",
        'redshift': "SELECT CAST(year_of_birth || '0101' AS DATE) AS d FROM cdm.person;",
        'snowflake': "SELECT TO_DATE(CONCAT(COALESCE(CAST(year_of_birth AS VARCHAR), ''), '0101'), 'YYYYMMDD') AS d FROM cdm.person;",
        'spark': "SELECT TO_DATE(CONCAT(COALESCE(CAST(year_of_birth AS STRING), ''), '0101'), 'yyyyMMdd') AS d FROM cdm.person;",
        'synapse': "SELECT CAST(CONCAT(year_of_birth, '0101') AS DATE) AS d FROM cdm.person;",
    }),
    # bigquery_datetime_operands (DATE_ADD / DATE_DIFF take DATEs on BigQuery)
    ("SELECT DATEADD(day, 1, visit_start_datetime) AS n, DATEDIFF(month, visit_start_datetime, '20200101') AS m FROM cdm.visit_occurrence;", {
        'sql server': "SELECT DATEADD(DAY, 1, visit_start_datetime) AS n, DATEDIFF(MONTH, CAST(visit_start_datetime AS DATETIME2), CAST('20200101' AS DATETIME2)) AS m FROM cdm.visit_occurrence;",
        'postgresql': "SELECT CAST(visit_start_datetime + (1) * INTERVAL '1 DAY' AS DATE) AS n, (EXTRACT(YEAR FROM AGE(CAST('2020-01-01' AS DATE), CAST(visit_start_datetime AS DATE))) * 12 + EXTRACT(MONTH FROM AGE(CAST('2020-01-01' AS DATE), CAST(visit_start_datetime AS DATE)))) AS m FROM cdm.visit_occurrence;",
        'oracle': "SELECT (visit_start_datetime + 1) AS n, ((EXTRACT(YEAR FROM TO_DATE('2020-01-01', 'YYYY-MM-DD')) * 12 + EXTRACT(MONTH FROM TO_DATE('2020-01-01', 'YYYY-MM-DD'))) - (EXTRACT(YEAR FROM CAST(visit_start_datetime AS DATE)) * 12 + EXTRACT(MONTH FROM CAST(visit_start_datetime AS DATE))) + (CASE WHEN TRUNC(TO_DATE('2020-01-01', 'YYYY-MM-DD'), 'DD') >= TRUNC(CAST(visit_start_datetime AS DATE), 'DD') THEN (CASE WHEN EXTRACT(DAY FROM TO_DATE('2020-01-01', 'YYYY-MM-DD')) >= EXTRACT(DAY FROM CAST(visit_start_datetime AS DATE)) THEN 0 ELSE -1 END) ELSE (CASE WHEN EXTRACT(DAY FROM TO_DATE('2020-01-01', 'YYYY-MM-DD')) <= EXTRACT(DAY FROM CAST(visit_start_datetime AS DATE)) THEN 0 ELSE 1 END) END)) AS m FROM cdm.visit_occurrence;",
        'bigquery': "SELECT DATE_ADD(CAST(visit_start_datetime AS DATE), INTERVAL 1 DAY) AS n, ((EXTRACT(YEAR FROM CAST('2020-01-01' AS DATE)) * 12 + EXTRACT(MONTH FROM CAST('2020-01-01' AS DATE))) - (EXTRACT(YEAR FROM CAST(visit_start_datetime AS DATE)) * 12 + EXTRACT(MONTH FROM CAST(visit_start_datetime AS DATE))) + (CASE WHEN CAST('2020-01-01' AS DATE) >= CAST(visit_start_datetime AS DATE) THEN (CASE WHEN EXTRACT(DAY FROM CAST('2020-01-01' AS DATE)) >= EXTRACT(DAY FROM CAST(visit_start_datetime AS DATE)) THEN 0 ELSE -1 END) ELSE (CASE WHEN EXTRACT(DAY FROM CAST('2020-01-01' AS DATE)) <= EXTRACT(DAY FROM CAST(visit_start_datetime AS DATE)) THEN 0 ELSE 1 END) END)) AS m FROM cdm.visit_occurrence;",
        'duckdb': "SELECT CAST(visit_start_datetime + TO_DAYS(CAST(1 AS INT)) AS DATE) AS n, (EXTRACT(YEAR FROM AGE(CAST('2020-01-01' AS DATE), CAST(visit_start_datetime AS DATE))) * 12 + EXTRACT(MONTH FROM AGE(CAST('2020-01-01' AS DATE), CAST(visit_start_datetime AS DATE)))) AS m FROM cdm.visit_occurrence;",
        'sqlite': "SELECT DATE(visit_start_datetime, CAST(1 AS INTEGER) || ' days') AS n, ((CAST(STRFTIME('%Y', '2020-01-01') AS INTEGER) * 12 + CAST(STRFTIME('%m', '2020-01-01') AS INTEGER)) - (CAST(STRFTIME('%Y', visit_start_datetime) AS INTEGER) * 12 + CAST(STRFTIME('%m', visit_start_datetime) AS INTEGER)) + (CASE WHEN DATE('2020-01-01') >= DATE(visit_start_datetime) THEN (CASE WHEN CAST(STRFTIME('%d', '2020-01-01') AS INTEGER) >= CAST(STRFTIME('%d', visit_start_datetime) AS INTEGER) THEN 0 ELSE -1 END) ELSE (CASE WHEN CAST(STRFTIME('%d', '2020-01-01') AS INTEGER) <= CAST(STRFTIME('%d', visit_start_datetime) AS INTEGER) THEN 0 ELSE 1 END) END)) AS m FROM cdm.visit_occurrence;",
        'redshift': "SELECT DATEADD(DAY, 1, visit_start_datetime) AS n, DATEDIFF(MONTH, CAST(visit_start_datetime AS TIMESTAMP), CAST('2020-01-01' AS TIMESTAMP)) AS m FROM cdm.visit_occurrence;",
        'snowflake': "SELECT DATEADD(DAY, 1, visit_start_datetime) AS n, DATEDIFF(MONTH, CAST(visit_start_datetime AS TIMESTAMP), CAST('2020-01-01' AS TIMESTAMP)) AS m FROM cdm.visit_occurrence;",
        'spark': "SELECT DATE_ADD(visit_start_datetime, 1) AS n, DATEDIFF(MONTH, CAST(visit_start_datetime AS DATE), CAST('2020-01-01' AS DATE)) AS m FROM cdm.visit_occurrence;",
        'synapse': "SELECT DATEADD(DAY, 1, visit_start_datetime) AS n, DATEDIFF(MONTH, CAST(visit_start_datetime AS DATETIME2), CAST('20200101' AS DATETIME2)) AS m FROM cdm.visit_occurrence;",
    }),
    # redshift_distribution (SqlRender's DISTKEY on person_id / subject_id / analysis_id, else DISTSTYLE ALL; reserved names quoted)
    ('SELECT subject_id AS sid, COUNT(*) AS tag INTO #counts FROM results.cohort GROUP BY subject_id;', {
        'sql server': 'SELECT subject_id AS sid, COUNT(*) AS tag INTO #counts FROM results.cohort GROUP BY subject_id;',
        'postgresql': 'CREATE TEMPORARY TABLE counts AS SELECT subject_id AS sid, COUNT(*) AS tag FROM results.cohort GROUP BY subject_id;\nANALYZE counts;',
        'oracle': "BEGIN\n  EXECUTE IMMEDIATE 'TRUNCATE TABLE scratch.{p}counts';\n  EXECUTE IMMEDIATE 'DROP TABLE scratch.{p}counts';\nEXCEPTION\n  WHEN OTHERS THEN\n    IF SQLCODE != -942 THEN\n      RAISE;\n    END IF;\nEND;\nCREATE TABLE scratch.{p}counts AS SELECT subject_id AS sid, COUNT(*) AS tag FROM results.cohort GROUP BY subject_id;",
        'bigquery': 'CREATE OR REPLACE TABLE scratch.{p}counts AS SELECT subject_id AS sid, COUNT(*) AS tag FROM results.cohort GROUP BY subject_id;',
        'duckdb': 'CREATE TEMPORARY TABLE counts AS SELECT subject_id AS sid, COUNT(*) AS tag FROM results.cohort GROUP BY subject_id;',
        'sqlite': 'CREATE TABLE temp.counts AS SELECT subject_id AS sid, COUNT(*) AS tag FROM results.cohort GROUP BY subject_id;',
        'redshift': 'CREATE TEMPORARY TABLE counts DISTKEY(sid) AS SELECT subject_id AS sid, COUNT(*) AS "tag" FROM results.cohort GROUP BY subject_id;',
        'snowflake': 'CREATE TEMPORARY TABLE scratch.{p}counts AS SELECT subject_id AS sid, COUNT(*) AS tag FROM results.cohort GROUP BY subject_id;',
        'spark': 'DROP TABLE IF EXISTS scratch.{p}counts;\nCREATE TABLE scratch.{p}counts AS SELECT subject_id AS sid, COUNT(*) AS tag FROM results.cohort GROUP BY subject_id;',
        'synapse': 'CREATE TABLE #counts WITH (DISTRIBUTION = ROUND_ROBIN) AS SELECT subject_id AS sid, COUNT(*) AS tag FROM results.cohort GROUP BY subject_id;',
    }),
]


def _parse_back(sql: str, dialect: str) -> None:
    """Every statement of a translation parses in the target's own sqlglot dialect."""
    target = TARGETS[dialect]
    for statement in split_sql(sql):
        if statement.startswith(("BEGIN", "IF OBJECT_ID")):
            continue  # PL/SQL blocks and OBJECT_ID tests: sqlglot does not read them, checked by layout
        sqlglot.parse_one(statement, read=target.sqlglot)


@pytest.mark.parametrize("sql,expected", MATRIX, ids=[m[0][:50] for m in MATRIX])
def test_matrix(sql: str, expected: dict) -> None:
    assert set(expected) == set(list_supported_dialects())
    prefix = get_temp_table_prefix()
    for dialect, want in expected.items():
        if isinstance(want, Refused):
            with pytest.raises(TranslationError, match=re.escape(want.text)):
                translate(sql, dialect, temp_emulation_schema="scratch")
            continue
        got = translate(sql, dialect, temp_emulation_schema="scratch")
        assert got == want.replace("{p}", prefix), dialect
        _parse_back(got, dialect)


def test_supported_dialects() -> None:
    assert list_supported_dialects() == [
        "sql server", "postgresql", "oracle", "bigquery", "duckdb", "sqlite", "redshift", "snowflake", "spark", "synapse",
    ]
    assert set(TARGETS) == set(list_supported_dialects())


def test_unknown_dialect_suggests_closest() -> None:
    with pytest.raises(UnsupportedDialectError, match="Did you mean 'postgresql'\\?") as info:
        translate("SELECT 1;", "postgres")
    assert "'sql server'" in str(info.value) and "'synapse'" in str(info.value)


def test_temp_prefix_is_fixed_per_process() -> None:
    prefix = get_temp_table_prefix()
    assert len(prefix) == 8 and prefix[0].isalpha() and prefix.isalnum()
    assert get_temp_table_prefix() == prefix


@pytest.mark.parametrize("dialect", ["oracle", "bigquery", "spark", "snowflake"])
def test_emulated_temp_tables_need_a_schema(dialect: str) -> None:
    with pytest.raises(TranslationError, match="temp_emulation_schema"):
        translate("SELECT a INTO #t FROM b;", dialect)
    assert translate("SELECT a FROM b;", dialect) == "SELECT a FROM b;"


def test_long_emulated_name_warns() -> None:
    with pytest.warns(UserWarning, match="longer than"):
        translate("SELECT a INTO #" + "x" * 60 + " FROM b;", "oracle", temp_emulation_schema="scratch")


def test_parse_error_names_line_and_text() -> None:
    script = "SELECT 1;\nSELECT 2;\n\nSELECT a FROM WHERE b = ;"
    with pytest.raises(TranslationError, match="line 4") as info:
        translate(script, "postgresql")
    assert "SELECT a FROM" in str(info.value)


def test_unparsed_tsql_is_refused_not_passed_through() -> None:
    with pytest.raises(TranslationError, match="line 2"):
        translate("SELECT 1;\nDBCC CHECKDB;", "postgresql")
    with pytest.raises(TranslationError, match="OBJECT_ID"):
        translate("SELECT OBJECT_ID('results.t') AS id;", "postgresql")
    with pytest.raises(TranslationError, match="EXEC"):
        translate("EXEC sp_refresh 1;", "duckdb")


def test_script_joining_and_trailing_semicolon() -> None:
    assert translate("SELECT 1", "postgresql") == "SELECT 1"
    assert translate("SELECT 1;", "postgresql") == "SELECT 1;"
    assert translate("SELECT 1; SELECT 2", "postgresql") == "SELECT 1;\nSELECT 2;"
    assert translate("UPDATE STATISTICS t;", "bigquery") == ""


def test_translate_single_statement() -> None:
    assert translate_single_statement("SELECT TOP 1 a FROM t;", "postgresql") == "SELECT a FROM t LIMIT 1"
    with pytest.raises(TranslationError, match="one statement"):
        translate_single_statement("SELECT 1; SELECT 2;", "postgresql")


def test_sqlite_alter_add_several_columns_becomes_several_statements() -> None:
    assert translate("ALTER TABLE t ADD a INT, b INT;", "sqlite") == (
        "ALTER TABLE t ADD COLUMN a INTEGER;\nALTER TABLE t ADD COLUMN b INTEGER;"
    )


def test_same_text_twice_gives_the_same_translation_from_the_statement_cache() -> None:
    """The second translation of a script is served by the statement cache (its speed is measured in
    extras/benchmarks/bench_cpu.py, not asserted here)."""
    from rcdm.sql.translate import _translate_statement

    script = ";\n".join(
        f"IF OBJECT_ID('tempdb..#t{i}', 'U') IS NOT NULL DROP TABLE #t{i};\n"
        f"SELECT TOP 5 person_id, DATEADD(day, {i}, d) AS d INTO #t{i} FROM cdm.person WHERE ISNULL(x, 0) = {i}"
        for i in range(15)
    )
    first = translate(script, "duckdb")
    before = _translate_statement.cache_info()
    second = translate(script, "duckdb")
    after = _translate_statement.cache_info()
    assert first == second
    assert after.misses == before.misses, "no statement is translated again"
    assert after.hits - before.hits >= 30
