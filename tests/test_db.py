"""The database layer against real databases: DuckDB and SQLite files, and the session's PostgreSQL server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import uuid

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import rcdm
from rcdm.db import (
    bulk,
    connect,
    create_schema,
    execute_sql,
    existing_indexes_and_constraints,
    exists_table,
    insert_table,
    query_sql,
)
from rcdm.db.backends import BACKENDS as REGISTRY
from rcdm.db.connection import dialect_of, url_from_connection_string
from rcdm.db.urls import Fields
from rcdm.errors import DatabaseError, IdentifierError, MissingDriverError, UnsupportedDialectError, UsageError

BACKENDS = ["duckdb", "sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path):
    """(connection, schema) on a fresh database: a new file, or a new schema on the PostgreSQL server."""
    kind = request.param
    if kind == "duckdb":
        conn = connect(tmp_path / "cdm.duckdb")
    elif kind == "sqlite":
        conn = connect(tmp_path / "cdm.db")
    else:
        conn = connect(request.getfixturevalue("postgres_url"))
    schema = "cdm" if kind != "postgresql" else f"cdm_{uuid.uuid4().hex[:10]}"
    create_schema(conn, schema)
    yield conn, schema
    if kind == "postgresql":
        execute_sql(conn, f"DROP SCHEMA {schema} CASCADE;")
    conn.close()


def statements_run(conn) -> list[str]:
    """A list that fills with every statement the driver is asked to run on ``conn`` from now on."""
    seen: list[str] = []
    sa.event.listen(conn.engine, "before_cursor_execute", lambda c, cur, stmt, *a: seen.append(stmt))
    return seen


# ------------------------------------------------------------------------------------------------------------
# connect


def test_connect_without_argument_uses_rcdm_duckdb_in_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RCDM_DATABASE", raising=False)
    with connect() as conn:
        assert conn.dialect == "duckdb"
        assert conn.database_path == (tmp_path / "rcdm.duckdb").resolve()
    assert (tmp_path / "rcdm.duckdb").exists()


def test_connect_without_argument_honours_rcdm_database(tmp_path, monkeypatch):
    monkeypatch.setenv("RCDM_DATABASE", str(tmp_path / "sub" / "site.duckdb"))
    with connect() as conn:
        assert conn.dialect == "duckdb"
    assert (tmp_path / "sub" / "site.duckdb").exists()


@pytest.mark.parametrize(
    "name, dialect",
    [("a.duckdb", "duckdb"), ("a.db", "sqlite"), ("a.sqlite", "sqlite"), ("a.sqlite3", "sqlite")],
)
def test_connect_by_path_picks_engine_from_suffix(tmp_path, name, dialect):
    with connect(tmp_path / name) as conn:
        assert conn.dialect == dialect
        assert query_sql(conn, "SELECT 1 AS one;")["one"].tolist() == [1]
    assert (tmp_path / name).exists()


def test_connect_by_sqlalchemy_url(tmp_path):
    with connect(f"duckdb:///{tmp_path / 'u.duckdb'}") as conn:
        assert conn.dialect == "duckdb"
    with connect(f"sqlite:///{tmp_path / 'u.db'}") as conn:
        assert conn.dialect == "sqlite"


def test_connect_by_databaseconnector_fields_for_files(tmp_path):
    with connect(dbms="sqlite", server=str(tmp_path / "f.sqlite")) as conn:
        assert conn.dialect == "sqlite"
    with connect(dbms="duckdb", server=str(tmp_path / "f.duckdb")) as conn:
        assert conn.dialect == "duckdb"


def test_connect_postgresql_by_url_and_plain_postgresql_scheme(postgres_url):
    with connect(postgres_url) as conn:
        assert conn.dialect == "postgresql"
        assert conn.engine.url.drivername == "postgresql+psycopg"
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with connect(plain) as conn:
        assert conn.engine.url.drivername == "postgresql+psycopg"
        assert query_sql(conn, "SELECT 2 AS two;")["two"].tolist() == [2]


def test_connect_postgresql_by_databaseconnector_fields_with_float_port(postgres_url):
    url = make_url(postgres_url)
    conn = connect(dbms="postgresql", server=f"127.0.0.1/{url.database}", user=url.username,
                   port=float(url.port), temp_emulation_schema="scratch")
    with conn:
        assert conn.dialect == "postgresql"
        assert conn.temp_emulation_schema == "scratch"
        assert query_sql(conn, "SELECT current_database() AS db;")["db"].tolist() == [url.database]


def test_connect_postgresql_by_jdbc_connection_string(postgres_url):
    url = make_url(postgres_url)
    jdbc = f"jdbc:postgresql://127.0.0.1:{url.port}/{url.database}"
    with connect(dbms="postgresql", connection_string=jdbc, user=url.username) as conn:
        assert conn.dialect == "postgresql"


def test_dbms_overrides_dialect_of_url(tmp_path):
    with connect(tmp_path / "x.duckdb", dbms="duckdb") as conn:
        assert conn.dialect == "duckdb"
    with pytest.raises(UnsupportedDialectError, match="Unknown dbms 'mysql'"):
        connect(dbms="mysql", server="h/db")


@pytest.mark.parametrize("port", [5432.5, "abc", 0, 70000])
def test_bad_port_refused(port):
    with pytest.raises(UsageError, match="port"):
        connect(dbms="postgresql", server="127.0.0.1/db", port=port)


def test_postgresql_server_without_database_refused():
    with pytest.raises(UsageError, match="<host>/<database>"):
        connect(dbms="postgresql", server="127.0.0.1")


def test_duckdb_file_named_like_its_schema_and_shared_by_two_connections(tmp_path):
    """``cdm.duckdb`` holding schema ``cdm`` would be ambiguous in plain DuckDB; two connections share one file."""
    path = tmp_path / "cdm.duckdb"
    with connect(path) as first, connect(path) as second:
        create_schema(first, "cdm")
        insert_table(first, "cdm", "person", {"person_id": [1, 2]}, create_table=True)
        assert query_sql(second, "SELECT COUNT(*) AS n FROM cdm.person;")["n"].tolist() == [2]
    with connect(path) as again:
        assert exists_table(again, "cdm", "person")


def test_unopenable_duckdb_file_raises_database_error(tmp_path):
    (tmp_path / "folder.duckdb").mkdir()
    with pytest.raises(DatabaseError, match="Could not connect to DuckDB"):
        connect(tmp_path / "folder.duckdb")


def test_connection_is_a_context_manager_and_closes(tmp_path):
    with connect(tmp_path / "c.duckdb") as conn:
        pass
    with pytest.raises(UsageError, match="closed"):
        query_sql(conn, "SELECT 1;")
    conn.close()  # idempotent


# ------------------------------------------------------------------------------------------------------------
# dialects and URLs of the backends that cannot run here: one input, the expected result side by side


@pytest.mark.parametrize(
    "url, dialect",
    [
        ("duckdb:///x.duckdb", "duckdb"),
        ("sqlite:///x.db", "sqlite"),
        ("postgresql+psycopg://u@h/db", "postgresql"),
        ("mssql+pyodbc://u:p@h/db", "sql server"),
        ("oracle+oracledb://u:p@h:1521/xe", "oracle"),
        ("bigquery://project/dataset", "bigquery"),
        ("snowflake://u:p@account/db/schema", "snowflake"),
        ("databricks://token:t@host?http_path=/sql", "spark"),
        ("redshift+redshift_connector://u:p@h:5439/db", "redshift"),
    ],
)
def test_dialect_of_url(url, dialect):
    assert dialect_of(make_url(url)) == dialect


def test_unknown_url_scheme_refused():
    with pytest.raises(UnsupportedDialectError, match="mysql"):
        connect("mysql://u@h/db")


@pytest.mark.parametrize(
    "dbms, fields, expected",
    [
        ("postgresql", Fields("h/cdm", "u", "pw", None, "sslmode=require"),
         "postgresql+psycopg://u:***@h:5432/cdm?sslmode=require"),
        ("redshift", Fields("h/cdm", "u", "pw", 5439, None), "postgresql+psycopg://u:***@h:5439/cdm"),
        ("sql server", Fields("h", "u", "pw", 1433, "database=cdm;encrypt=yes"),
         "mssql+pyodbc://u:***@h:1433/cdm?driver=ODBC+Driver+18+for+SQL+Server&encrypt=yes"),
        ("sql server", Fields("h;database=cdm", None, None, None, None),
         "mssql+pyodbc://h:1433/cdm?Trusted_Connection=yes&driver=ODBC+Driver+18+for+SQL+Server"),
        ("oracle", Fields("h/xe", "u", "pw", None, None), "oracle+oracledb://u:***@h:1521/xe"),
        ("oracle", Fields("xe", "u", "pw", None, None), "oracle+oracledb://u:***@127.0.0.1:1521/xe"),
        ("bigquery", Fields("proj/cdm", None, None, None, "credentials_path=/k.json"),
         "bigquery://proj/cdm?credentials_path=%2Fk.json"),
        ("snowflake", Fields("acct.snowflakecomputing.com/db/cdm", "u", "pw", None, "warehouse=WH"),
         "snowflake://u:***@acct/db/cdm?warehouse=WH"),
        ("spark", Fields("adb.net", "token", "pw", None, "httpPath=/sql/1.0/w/x;catalog=main"),
         "databricks://token:***@adb.net:443?catalog=main&http_path=%2Fsql%2F1.0%2Fw%2Fx"),
    ],
)
def test_url_from_databaseconnector_fields(dbms, fields, expected):
    assert REGISTRY[dbms].url_from_fields(fields).render_as_string(hide_password=True) == expected


@pytest.mark.parametrize(
    "jdbc, dbms, expected",
    [
        ("jdbc:postgresql://h:5433/cdm?ssl=true", None, "postgresql+psycopg://u:***@h:5433/cdm?ssl=true"),
        ("jdbc:redshift://h:5439/cdm", None, "postgresql+psycopg://u:***@h:5439/cdm"),
        ("jdbc:sqlserver://h:1433;databaseName=cdm;encrypt=true", None,
         "mssql+pyodbc://u:***@h:1433/cdm?driver=ODBC+Driver+18+for+SQL+Server&encrypt=true"),
        ("jdbc:oracle:thin:@h:1521:xe", None, "oracle+oracledb://u:***@h:1521/xe"),
        ("jdbc:oracle:thin:@//h:1521/orclpdb", None,
         "oracle+oracledb://u:***@h:1521?service_name=orclpdb"),
        ("jdbc:snowflake://acct.snowflakecomputing.com/?db=DB&schema=CDM&warehouse=WH", None,
         "snowflake://u:***@acct/DB/CDM?warehouse=WH"),
        ("jdbc:databricks://adb.net:443/default;transportMode=http;httpPath=/sql/x", None,
         "databricks://u:***@adb.net:443?http_path=%2Fsql%2Fx"),
    ],
)
def test_url_from_jdbc_connection_string(jdbc, dbms, expected):
    url = url_from_connection_string(jdbc, dbms, "u", "pw")
    assert url.render_as_string(hide_password=True) == expected


# ------------------------------------------------------------------------------------------------------------
# failures at connect


def test_unreachable_postgresql_raises_database_error_without_password():
    secret = "s3cret-Pa55word"
    with pytest.raises(DatabaseError) as info:
        connect(dbms="postgresql", server="127.0.0.1/rcdm_test", port=1, user="someone", password=secret)
    message = str(info.value)
    assert secret not in message
    assert "PostgreSQL" in message and "127.0.0.1" in message
    assert "***" in message  # the URL is shown with the password hidden


@pytest.mark.skipif(importlib.util.find_spec("pyodbc") is not None, reason="pyodbc is installed here")
def test_missing_sqlserver_driver_names_the_extra():
    with pytest.raises(MissingDriverError, match=r"SQL Server needs the pyodbc driver: pip install 'rcdm\[sqlserver\]'"):
        connect("mssql+pyodbc://sa:pw@127.0.0.1:1/cdm?driver=ODBC+Driver+18+for+SQL+Server")
    with pytest.raises(MissingDriverError, match=r"rcdm\[sqlserver\]"):
        connect(dbms="sql server", server="127.0.0.1", user="sa", password="pw", extra_settings="database=cdm")


@pytest.mark.parametrize(
    "url, module, extra",
    [
        ("oracle+oracledb://u:p@127.0.0.1:1/xe", "oracledb", "oracle"),
        ("bigquery://project/dataset", "sqlalchemy_bigquery", "bigquery"),
        ("snowflake://u:p@account/db", "snowflake.sqlalchemy", "snowflake"),
        ("databricks://token:t@127.0.0.1?http_path=/x", "databricks.sqlalchemy", "spark"),
    ],
)
def test_missing_drivers_name_their_extra(url, module, extra):
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if found:
        pytest.skip(f"{module} is installed here")
    with pytest.raises(MissingDriverError, match=rf"pip install 'rcdm\[{extra}\]'"):
        connect(url)


# ------------------------------------------------------------------------------------------------------------
# execute_sql, query_sql


def test_execute_sql_runs_a_script_and_commits(db, tmp_path):
    conn, schema = db
    execute_sql(conn, """
        CREATE TABLE @schema.person_x (person_id INT, name VARCHAR(50));
        INSERT INTO @schema.person_x (person_id, name) VALUES (1, 'a');
        INSERT INTO @schema.person_x (person_id, name) VALUES (2, 'b');
    """, schema=schema)
    frame = query_sql(conn, "SELECT person_id, name FROM @schema.person_x ORDER BY person_id;",
                      parameters={"schema": schema})
    assert frame.to_dict("list") == {"person_id": [1, 2], "name": ["a", "b"]}


def test_query_sql_column_names_are_lower_case(db):
    conn, _ = db
    frame = query_sql(conn, 'SELECT 1 AS "MixedCase", 2 AS UPPER_NAME;')
    assert list(frame.columns) == ["mixedcase", "upper_name"]


def test_query_sql_keeps_percent_signs(db):
    conn, _ = db
    frame = query_sql(conn, "SELECT '100%' AS pct, CASE WHEN 'abc' LIKE 'a%' THEN 1 ELSE 0 END AS hit;")
    assert frame.to_dict("list") == {"pct": ["100%"], "hit": [1]}


def test_query_sql_binds_values_never_splices_them(db):
    conn, schema = db
    execute_sql(conn, f"CREATE TABLE {schema}.names (id INT, name VARCHAR(100));")
    hostile = "O'Brien'); DROP TABLE names; --"
    execute_sql(conn, f"INSERT INTO {schema}.names (id, name) VALUES (:id, :name);",
                bind={"id": 7, "name": hostile})
    frame = query_sql(conn, f"SELECT id, name FROM {schema}.names WHERE name = :name;", bind={"name": hostile})
    assert frame.to_dict("list") == {"id": [7], "name": [hostile]}
    assert exists_table(conn, schema, "names")


def test_query_sql_refuses_scripts(db):
    conn, _ = db
    with pytest.raises(UsageError, match="one statement"):
        query_sql(conn, "SELECT 1; SELECT 2;")


def test_error_names_the_failing_statement_and_keeps_earlier_ones(db):
    conn, schema = db
    script = (f"CREATE TABLE {schema}.before_error (x INT);\n"
              f"SELECT * FROM {schema}.no_such_table_here;\n"
              f"CREATE TABLE {schema}.after_error (x INT);")
    with pytest.raises(DatabaseError) as info:
        execute_sql(conn, script)
    message = str(info.value)
    assert "Statement 2 of 3" in message
    assert "no_such_table_here" in message
    assert exists_table(conn, schema, "before_error")
    assert not exists_table(conn, schema, "after_error")
    # the connection is still usable after the failure (PostgreSQL's aborted transaction was rolled back)
    assert query_sql(conn, "SELECT 1 AS ok;")["ok"].tolist() == [1]


def test_error_preview_is_cut_at_300_characters(db):
    conn, _ = db
    long_sql = "SELECT * FROM no_such_table_at_all WHERE " + " OR ".join(f"x = {i}" for i in range(200)) + ";"
    with pytest.raises(DatabaseError) as info:
        execute_sql(conn, long_sql)
    statement_line = str(info.value).split("Statement: ", 1)[1]
    assert len(statement_line) <= 300 + len(" ...")


def test_execute_sql_with_progress_bar(db, capsys):
    conn, schema = db
    script = "\n".join(f"CREATE TABLE {schema}.p{i} (x INT);" for i in range(5))
    execute_sql(conn, script, progress=True)
    assert all(exists_table(conn, schema, f"p{i}") for i in range(5))
    assert "Executing SQL" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------------
# insert_table


def sample_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "person_id": [1, 2, 3],
        "name": ["김민준", "Zoë", None],
        "birth_date": [dt.date(1980, 1, 31), None, dt.date(2001, 12, 1)],
        "visit_datetime": [dt.datetime(2020, 5, 6, 7, 8, 9), dt.datetime(2021, 1, 1), None],
        "weight": [70.5, None, 55.25],
    })


def read_back(conn, schema, table) -> dict:
    """The rows as plain Python values (None for NULL), whatever types the backend returns."""
    frame = query_sql(conn, f"SELECT person_id, name, birth_date, visit_datetime, weight FROM {schema}.{table} "
                            "ORDER BY person_id;")

    def plain(value, convert):
        return None if pd.isna(value) else convert(value)

    return {
        "person_id": [int(v) for v in frame["person_id"]],
        "name": [plain(v, str) for v in frame["name"]],
        "birth_date": [plain(v, lambda x: pd.Timestamp(x).date()) for v in frame["birth_date"]],
        "visit_datetime": [plain(v, lambda x: pd.Timestamp(x).to_pydatetime()) for v in frame["visit_datetime"]],
        "weight": [plain(v, float) for v in frame["weight"]],
    }


def expected_rows() -> dict:
    return {
        "person_id": [1, 2, 3],
        "name": ["김민준", "Zoë", None],
        "birth_date": [dt.date(1980, 1, 31), None, dt.date(2001, 12, 1)],
        "visit_datetime": [dt.datetime(2020, 5, 6, 7, 8, 9), dt.datetime(2021, 1, 1), None],
        "weight": [70.5, None, 55.25],
    }


@pytest.mark.parametrize("kind", ["dataframe", "arrow", "record_batch", "dict"])
def test_insert_table_creates_and_round_trips(db, kind):
    conn, schema = db
    frame = sample_frame()
    data = {
        "dataframe": frame,
        "arrow": pa.Table.from_pandas(frame, preserve_index=False),
        "record_batch": pa.RecordBatch.from_pandas(frame, preserve_index=False),
        "dict": {c: [None if pd.isna(v) else v for v in frame[c].tolist()] for c in frame.columns},
    }[kind]
    assert insert_table(conn, schema, "people", data, create_table=True) == 3
    assert exists_table(conn, schema, "people")
    assert read_back(conn, schema, "people") == expected_rows()


def test_insert_table_matches_columns_by_name(db):
    conn, schema = db
    execute_sql(conn, f"CREATE TABLE {schema}.ordered (a INT, b VARCHAR(10), c FLOAT);")
    insert_table(conn, schema, "ordered", {"c": [1.5, 2.5], "a": [1, 2], "b": ["x", "y"]})
    insert_table(conn, schema, "ordered", pd.DataFrame({"b": ["z"], "a": [3]}))  # c left NULL
    frame = query_sql(conn, f"SELECT a, b, c FROM {schema}.ordered ORDER BY a;")
    assert frame["a"].tolist() == [1, 2, 3]
    assert frame["b"].tolist() == ["x", "y", "z"]
    assert frame["c"].tolist()[:2] == [1.5, 2.5] and pd.isna(frame["c"].tolist()[2])


def test_insert_table_drop_table_if_exists_replaces_the_table(db):
    conn, schema = db
    insert_table(conn, schema, "again", {"x": [1, 2, 3]}, create_table=True)
    insert_table(conn, schema, "again", {"y": ["only"]}, create_table=True, drop_table_if_exists=True)
    assert query_sql(conn, f"SELECT * FROM {schema}.again;").to_dict("list") == {"y": ["only"]}


def test_insert_table_drop_implies_create(db):
    conn, schema = db
    insert_table(conn, schema, "fresh", {"x": [1]}, drop_table_if_exists=True)
    insert_table(conn, schema, "fresh", {"x": [2]}, drop_table_if_exists=True)
    assert query_sql(conn, f"SELECT x FROM {schema}.fresh;")["x"].tolist() == [2]


def test_insert_table_failure_is_a_database_error_and_connection_survives(db):
    conn, schema = db
    execute_sql(conn, f"CREATE TABLE {schema}.narrow (a INT);")
    with pytest.raises(DatabaseError, match=rf"into {schema}.narrow \(a, no_such_column\)"):
        insert_table(conn, schema, "narrow", {"a": [1], "no_such_column": [2]})
    assert query_sql(conn, f"SELECT COUNT(*) AS n FROM {schema}.narrow;")["n"].tolist() == [0]


def test_inserted_dates_work_with_translated_date_functions(db):
    """The stored representation (on SQLite: what the translator's date functions read) is consistent."""
    conn, schema = db
    insert_table(conn, schema, "events", {"event_date": [dt.date(2020, 2, 28)],
                                          "event_datetime": [dt.datetime(2020, 2, 28, 23, 30)]}, create_table=True)
    frame = query_sql(conn, f"SELECT YEAR(event_date) AS y, MONTH(event_date) AS m, "
                            f"DATEADD(day, 2, event_date) AS next_date, "
                            f"DATEDIFF(day, event_date, event_datetime) AS gap FROM {schema}.events;")
    assert int(frame["y"][0]) == 2020 and int(frame["m"][0]) == 2
    assert pd.Timestamp(frame["next_date"][0]).date() == dt.date(2020, 3, 1)
    assert int(frame["gap"][0]) == 0


def test_insert_table_appends_without_create(db):
    conn, schema = db
    insert_table(conn, schema, "grow", {"x": [1]}, create_table=True)
    insert_table(conn, schema, "grow", {"x": [2]})
    assert query_sql(conn, f"SELECT x FROM {schema}.grow ORDER BY x;")["x"].tolist() == [1, 2]


def test_insert_table_into_temp_table(db):
    conn, _ = db
    insert_table(conn, None, "scratch_rows", {"x": [1, 2]}, temp_table=True, create_table=True)
    assert query_sql(conn, "SELECT COUNT(*) AS n FROM #scratch_rows;")["n"].tolist() == [2]


def test_insert_table_empty_data_creates_table_only(db):
    conn, schema = db
    assert insert_table(conn, schema, "empty_one", pa.table({"x": pa.array([], pa.int64())}),
                        create_table=True) == 0
    assert exists_table(conn, schema, "empty_one")


def test_insert_table_keeps_integer_nulls_booleans_and_categoricals(db):
    conn, schema = db
    data = pd.DataFrame({"flag": [True, False], "kind": pd.Categorical(["CT", "MR"])})
    insert_table(conn, schema, "typed", data, create_table=True)
    insert_table(conn, schema, "typed", {"flag": [None], "kind": [None]})
    insert_table(conn, schema, "ints", {"n": [1, None, 3]}, create_table=True)
    frame = query_sql(conn, f"SELECT flag, kind FROM {schema}.typed;")  # NULLs sort differently per backend
    rows = {(None if pd.isna(f) else int(f), None if pd.isna(k) else k) for f, k in zip(frame["flag"], frame["kind"])}
    assert rows == {(1, "CT"), (0, "MR"), (None, None)}
    ints = query_sql(conn, f"SELECT n FROM {schema}.ints;")["n"]
    assert sorted(int(v) for v in ints if not pd.isna(v)) == [1, 3] and ints.isna().sum() == 1


def test_insert_table_rejects_unknown_data():
    with pytest.raises(UsageError, match="DataFrame"):
        insert_table(None, "cdm", "t", [1, 2, 3])


LARGE = 100_000


def large_table() -> pa.Table:
    ids = pa.array(range(LARGE), pa.int64())
    return pa.table({
        "id": ids,
        "label": pa.array([f"행 {i}" for i in range(LARGE)]),
        "event_date": pa.array([dt.date(2000, 1, 1) + dt.timedelta(days=i % 9000) for i in range(LARGE)]),
    })


@pytest.mark.slow
def test_bulk_100k_rows_duckdb_uses_arrow_registration(tmp_path, monkeypatch):
    import duckdb_engine

    registered = []

    def spy_register(self, name, obj):
        registered.append((name, type(obj)))
        return getattr(self, "_ConnectionWrapper__c").register(name, obj)

    monkeypatch.setattr(duckdb_engine.ConnectionWrapper, "register", spy_register, raising=False)
    with connect(tmp_path / "big.duckdb") as conn:
        create_schema(conn, "cdm")
        seen = statements_run(conn)
        assert insert_table(conn, "cdm", "big", large_table(), create_table=True) == LARGE
        assert query_sql(conn, "SELECT COUNT(*) AS n, COUNT(DISTINCT label) AS d FROM cdm.big;").iloc[0].tolist() \
            == [LARGE, LARGE]
    assert registered and registered[0][1] is pa.Table
    assert not any(s.lstrip().upper().startswith("INSERT") for s in seen)  # no row-by-row INSERT via SQLAlchemy


def test_bulk_100k_rows_postgresql_uses_copy(postgres_url, monkeypatch):
    import psycopg

    copies = []
    original = psycopg.Cursor.copy

    def spy_copy(self, statement, *args, **kwargs):
        copies.append(str(statement))
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", spy_copy)
    schema = f"big_{uuid.uuid4().hex[:8]}"
    with connect(postgres_url) as conn:
        create_schema(conn, schema)
        try:
            seen = statements_run(conn)
            assert insert_table(conn, schema, "big", large_table(), create_table=True) == LARGE
            frame = query_sql(conn, f"SELECT COUNT(*) AS n, MAX(label) AS m, MIN(event_date) AS d FROM {schema}.big;")
            assert frame["n"].tolist() == [LARGE]
            assert frame["d"].tolist() == [dt.date(2000, 1, 1)]  # DATE stays a date
            assert not any(s.lstrip().upper().startswith("INSERT") for s in seen)
        finally:
            execute_sql(conn, f"DROP SCHEMA {schema} CASCADE;")
    assert copies == [f"COPY {schema}.big (\"id\", \"label\", \"event_date\") FROM STDIN (FORMAT csv, ENCODING 'UTF8')"]


@pytest.mark.slow
def test_bulk_100k_rows_sqlite_uses_its_loader(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(REGISTRY, "sqlite", dataclasses.replace(
        REGISTRY["sqlite"], bulk_load=lambda *a: calls.append(a[1]) or bulk.load_sqlite(*a)))
    with connect(tmp_path / "big.db") as conn:
        create_schema(conn, "cdm")
        assert insert_table(conn, "cdm", "big", large_table(), create_table=True, progress=True) == LARGE
        frame = query_sql(conn, "SELECT COUNT(*) AS n, MIN(event_date) AS first_date FROM cdm.big;")
        assert frame["n"].tolist() == [LARGE]
        assert frame["first_date"].tolist() == [dt.date(2000, 1, 1)]
    assert calls == ["cdm.big"]


def test_generic_loader_binds_values(tmp_path):
    """The SQLAlchemy executemany fallback (used for Redshift and Spark), run here on DuckDB."""
    with connect(tmp_path / "g.duckdb") as conn:
        create_schema(conn, "cdm")
        execute_sql(conn, "CREATE TABLE cdm.g (a INT, b VARCHAR(50));")
        bulk.load_generic(conn, "cdm.g", pa.table({"b": ["it's", "한국"], "a": [1, 2]}), False)
        assert query_sql(conn, "SELECT a, b FROM cdm.g ORDER BY a;").to_dict("list") == {
            "a": [1, 2], "b": ["it's", "한국"]}


def test_every_dialect_has_a_loader():
    assert all(callable(backend.bulk_load) for backend in rcdm.db.BACKENDS.values())


# ------------------------------------------------------------------------------------------------------------
# exists_table, identifiers, schemas


def test_exists_table_is_case_insensitive(db):
    conn, schema = db
    execute_sql(conn, f"CREATE TABLE {schema}.some_table (x INT);")
    assert exists_table(conn, schema, "some_table")
    assert exists_table(conn, schema, "SOME_TABLE")
    assert exists_table(conn, schema.upper(), "Some_Table")
    assert not exists_table(conn, schema, "other_table")
    assert not exists_table(conn, "no_such_schema", "some_table")


BAD_NAMES = ["cdm; DROP TABLE person", "person--", "a b", "x'y", "", "1abc", "cdm.dbo.x"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_identifiers_refused_before_any_sql(db, bad):
    conn, schema = db
    seen = statements_run(conn)
    with pytest.raises(IdentifierError):
        insert_table(conn, bad, "t", {"x": [1]}, create_table=True)
    with pytest.raises(IdentifierError):
        insert_table(conn, schema, bad, {"x": [1]}, create_table=True)
    with pytest.raises(IdentifierError):
        insert_table(conn, schema, "t", {bad or "?": [1]}, create_table=True)
    with pytest.raises(IdentifierError):
        exists_table(conn, bad, "t")
    with pytest.raises(IdentifierError):
        exists_table(conn, schema, bad)
    with pytest.raises(IdentifierError):
        create_schema(conn, bad)
    assert seen == []


def test_bad_temp_emulation_schema_refused():
    with pytest.raises(IdentifierError):
        connect(":memory:", temp_emulation_schema="x; DROP TABLE y")


def test_sqlite_schema_is_an_attached_file_found_again_on_connect(tmp_path):
    main = tmp_path / "site.db"
    with connect(main) as conn:
        create_schema(conn, "results")
        create_schema(conn, "main")  # built in: nothing to do
        execute_sql(conn, "CREATE TABLE results.cohort (cohort_definition_id INT);")
        insert_table(conn, "results", "cohort", {"cohort_definition_id": [4]})
    assert (tmp_path / "site.results.db").exists()
    with connect(main) as conn:
        assert conn.sqlite_schemas == {"results": str(tmp_path / "site.results.db")}
        assert query_sql(conn, "SELECT cohort_definition_id FROM results.cohort;")["cohort_definition_id"] \
            .tolist() == [4]
        # a fresh pooled connection gets the schema too
        with conn.engine.connect() as other:
            assert other.exec_driver_sql("SELECT COUNT(*) FROM results.cohort").scalar() == 1


def test_sqlite_in_memory_schema(tmp_path):
    with connect("sqlite:///:memory:") as conn:
        create_schema(conn, "cdm")
        insert_table(conn, "cdm", "t", {"x": [1, 2]}, create_table=True)
        assert query_sql(conn, "SELECT SUM(x) AS s FROM cdm.t;")["s"].tolist() == [3]


def test_existing_indexes_and_constraints(db):
    conn, schema = db
    # SQLite refuses a schema-qualified REFERENCES target, so the foreign key is tried elsewhere only
    foreign_key = (f", CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES {schema}.parent_t (id)"
                   if conn.dialect != "sqlite" else "")
    execute_sql(conn, f"""
        CREATE TABLE {schema}.parent_t (id INT NOT NULL, CONSTRAINT xpk_parent_t PRIMARY KEY (id));
        CREATE TABLE {schema}.child_t (id INT, parent_id INT{foreign_key});
        CREATE INDEX idx_child_parent ON {schema}.child_t (parent_id);
    """)
    child = {n.lower() for n in existing_indexes_and_constraints(conn, schema, "child_t")}
    assert "idx_child_parent" in child
    if conn.dialect == "postgresql":
        assert "fk_child_parent" in child
        assert "xpk_parent_t" in {n.lower() for n in existing_indexes_and_constraints(conn, schema, "PARENT_T")}
    if conn.dialect == "duckdb":  # DuckDB names foreign keys itself
        assert any(n.endswith("_fkey") for n in child)
    assert existing_indexes_and_constraints(conn, schema, "no_such_table") == []


def test_connection_display_url_hides_password(postgres_url):
    with connect(postgres_url) as conn:
        assert conn.display_url.startswith("postgresql+psycopg://")
    with pytest.raises(DatabaseError):
        connect(dbms="postgresql", server="127.0.0.1/db", port=1, user="u", password="hunter2")


def test_create_schema_is_idempotent(db):
    conn, schema = db
    create_schema(conn, schema)
    create_schema(conn, schema)
    execute_sql(conn, f"CREATE TABLE {schema}.t (x INT);")
    assert exists_table(conn, schema, "t")


def test_top_level_reexports():
    assert rcdm.connect is connect and rcdm.query_sql is query_sql and rcdm.insert_table is insert_table
    assert rcdm.execute_sql is execute_sql and rcdm.exists_table is exists_table


# --------------------------------------------------------------------------------------------------------------
# transaction: statements, queries and bulk loads commit together or not at all


def test_transaction_commits_statements_and_bulk_loads_together(db):
    from rcdm.db import transaction

    conn, schema = db
    execute_sql(conn, f"CREATE TABLE {schema}.tx_t (a BIGINT, b VARCHAR(20));")
    with transaction(conn):
        execute_sql(conn, f"INSERT INTO {schema}.tx_t (a, b) VALUES (1, 'x');")
        insert_table(conn, schema, "tx_t", pa.table({"a": [2, 3], "b": ["y", "z"]}))
        inside = query_sql(conn, f"SELECT COUNT(*) AS n FROM {schema}.tx_t;")["n"][0]
        assert inside == 3  # the transaction sees its own rows
        assert conn.in_transaction
    assert not conn.in_transaction
    assert query_sql(conn, f"SELECT COUNT(*) AS n FROM {schema}.tx_t;")["n"][0] == 3


def test_transaction_rolls_back_everything_on_error(db):
    from rcdm.db import transaction

    conn, schema = db
    execute_sql(conn, f"CREATE TABLE {schema}.tx_r (a BIGINT);")
    insert_table(conn, schema, "tx_r", pa.table({"a": [1]}))
    with pytest.raises(RuntimeError):
        with transaction(conn):
            execute_sql(conn, f"DELETE FROM {schema}.tx_r;")
            insert_table(conn, schema, "tx_r", pa.table({"a": [7, 8, 9]}))
            with transaction(conn):  # nested blocks join the outer one
                execute_sql(conn, f"INSERT INTO {schema}.tx_r (a) VALUES (10);")
            raise RuntimeError("boom")
    assert sorted(query_sql(conn, f"SELECT a FROM {schema}.tx_r;")["a"]) == [1]
    # the connection is usable afterwards, and a failing statement inside also rolls back
    with pytest.raises(DatabaseError):
        with transaction(conn):
            insert_table(conn, schema, "tx_r", pa.table({"a": [5]}))
            execute_sql(conn, f"INSERT INTO {schema}.no_such_table (a) VALUES (1);")
    assert sorted(query_sql(conn, f"SELECT a FROM {schema}.tx_r;")["a"]) == [1]


def test_a_refused_bulk_load_in_a_transaction_says_why(db):
    """The database's own reason reaches the error (the ETL quarantines a refused row with it), not what a
    clean-up in the aborted transaction said (DuckDB: "Current transaction is aborted")."""
    from rcdm.db import transaction

    conn, schema = db
    execute_sql(conn, f"CREATE TABLE {schema}.tx_u (a BIGINT NOT NULL, PRIMARY KEY (a));")
    with pytest.raises(DatabaseError) as refused:
        with transaction(conn):
            insert_table(conn, schema, "tx_u", pa.table({"a": [1, 2]}))
            insert_table(conn, schema, "tx_u", pa.table({"a": [2]}))
    message = str(refused.value).lower()
    assert "aborted" not in message and any(word in message for word in ("duplicate", "unique", "primary key"))
    insert_table(conn, schema, "tx_u", pa.table({"a": [3]}))  # usable afterwards; nothing of the block kept
    assert sorted(query_sql(conn, f"SELECT a FROM {schema}.tx_u;")["a"]) == [3]


def test_transaction_is_invisible_to_other_connections_until_commit(tmp_path, postgres_url):
    from rcdm.db import transaction

    schema = f"tx_{uuid.uuid4().hex[:10]}"
    with connect(postgres_url) as a, connect(postgres_url) as b:
        create_schema(a, schema)
        try:
            execute_sql(a, f"CREATE TABLE {schema}.t (a BIGINT);")
            with transaction(a):
                insert_table(a, schema, "t", pa.table({"a": [1, 2]}))
                assert query_sql(b, f"SELECT COUNT(*) AS n FROM {schema}.t;")["n"][0] == 0
            assert query_sql(b, f"SELECT COUNT(*) AS n FROM {schema}.t;")["n"][0] == 2
        finally:
            execute_sql(a, f"DROP SCHEMA IF EXISTS {schema} CASCADE;")


def test_password_masked_as_a_word_only():
    from rcdm.db.messages import scrub as _scrub

    message = 'connection to server at "127.0.0.1", port 1 failed: password p2 rejected for user'
    assert _scrub(message, "p") == message
    assert _scrub(message, "p2") == message.replace("p2", "***")
    assert _scrub("x s3cr3t! y", "s3cr3t!") == "x *** y"


def test_unreachable_server_message_is_readable_and_hides_the_password():
    import pytest as _pytest

    from rcdm import connect
    from rcdm.errors import DatabaseError

    with _pytest.raises(DatabaseError) as exc:
        connect("postgresql+psycopg://u:p@127.0.0.1:1/db")
    text = str(exc.value)
    assert "port 1" in text and "accepting" in text and ":p@" not in text


def test_postgresql_bulk_insert_into_a_column_named_like_a_reserved_word(postgres_url):
    from rcdm import connect, execute_sql, insert_table, query_sql

    with connect(postgres_url) as conn:
        execute_sql(conn, "DROP SCHEMA IF EXISTS reserved_test CASCADE; CREATE SCHEMA reserved_test;")
        insert_table(conn, "reserved_test", "note_nlp", {"note_nlp_id": [1, 2], "offset": ["10", "20"]},
                     create_table=True)
        assert query_sql(conn, "SELECT COUNT(*) AS n FROM reserved_test.note_nlp;")["n"][0] == 2


def test_query_keeps_63_bit_integers_exact_beside_nulls() -> None:
    """A BIGINT column with a NULL must not go through float64 (ids beyond 2^53 would be rounded)."""
    conn = connect("duckdb:///:memory:")
    frame = query_sql(conn, "SELECT * FROM (VALUES (CAST(9007199254740993 AS BIGINT), 1.5, TRUE), "
                            "(NULL, NULL, NULL)) AS t(id, x, flag);")
    assert frame["id"].dtype == "Int64" and frame["id"].tolist()[0] == 9007199254740993
    assert frame["x"].dtype == "float64"
    assert frame["flag"].dtype == "boolean" and frame["flag"].tolist() == [True, pd.NA]


def test_insert_table_takes_reserved_words_as_column_names(db) -> None:
    """A data frame with columns "at" and "order": the CREATE TABLE quotes the reserved word and the bulk
    paths quote their column lists, on every backend."""
    conn, schema = db
    frame = pd.DataFrame({"at": [1, 2], "order": ["a", None]})
    insert_table(conn, schema, "reserved_words", frame, create_table=True)
    insert_table(conn, schema, "reserved_words", frame, create_table=False)
    back = query_sql(conn, f'SELECT "at", "order" FROM {schema}.reserved_words ORDER BY "at";')
    assert back.to_dict("list") == {"at": [1, 1, 2, 2], "order": ["a", "a", None, None]}
