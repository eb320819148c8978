"""Run OHDSI SQL on a connection: ``execute_sql``, ``query_sql`` (and their already-translated forms) and
``transaction``.

Templates are rendered and translated to the connection's dialect, then split into statements; ``:name``
placeholders are bound by the driver, never spliced into SQL text. What differs by platform (how a transaction
begins, the driver's error class) comes from the connection's Backend.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from tqdm.auto import tqdm

from rcdm.db.messages import driver_errors, driver_message, preview, scrub
from rcdm.errors import DatabaseError, UsageError
from rcdm.fetch import arrow_to_frame, fetch_arrow
from rcdm.sql import render, split_sql, translate

if TYPE_CHECKING:
    from rcdm.db.connection import Connection


def render_translate(conn: Connection, sql: str, parameters: Mapping[str, Any] | None,
                     kwargs: Mapping[str, Any], bind: Mapping[str, Any] | None = None) -> list[str]:
    """Render the template, translate it to the connection's dialect and split it into statements.

    ``:name`` placeholders of ``bind`` are swapped for plain identifiers while the translator works (sqlglot
    would rewrite them into each driver's own style) and put back afterwards for SQLAlchemy's ``text()``.
    """
    rendered = render(sql, parameters=parameters, **kwargs)
    tokens: dict[str, str] = {}
    if bind:
        for i, name in enumerate(bind):
            token = f"rcdmbind{i}z"
            rendered, count = re.subn(rf"(?<![:\w]):{re.escape(name)}\b", token, rendered)
            if count:
                tokens[token] = name
    translated = translate(rendered, conn.dialect, temp_emulation_schema=conn.temp_emulation_schema)
    if tokens:
        translated = re.sub(r"\b(rcdmbind\d+z)\b", lambda m: ":" + tokens.get(m[1].lower(), m[1]), translated,
                            flags=re.IGNORECASE)
    return [s for s in split_sql(translated) if s.strip()]


def _run(conn: Connection, statement: str, bind: Mapping[str, Any] | None = None) -> sa.CursorResult[Any]:
    """Run one statement as it is: bound values through ``text()``, otherwise straight to the driver.

    Without ``bind`` the statement goes to the driver with no parameters at all, so a ``%`` in the SQL text
    stays a ``%`` even on psycopg.
    """
    sa_conn = conn.sqlalchemy_connection
    if bind:
        return sa_conn.execute(sa.text(statement), dict(bind))
    return sa_conn.exec_driver_sql(statement, execution_options={"no_parameters": True})


def _fail(conn: Connection, exc: sa.exc.DBAPIError, statement: str, number: int, total: int) -> DatabaseError:
    try:
        conn.sqlalchemy_connection.rollback()
    except sa.exc.DBAPIError:
        pass
    return DatabaseError(
        f"Statement {number} of {total} failed on {conn.backend.label}: "
        f"{scrub(driver_message(exc), conn.engine.url.password)}\nStatement: {preview(statement)}"
    )


def execute_sql(
    conn: Connection,
    sql: str,
    parameters: Mapping[str, Any] | None = None,
    progress: bool = False,
    *,
    bind: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Render, translate and run an OHDSI SQL script, committing each statement as it runs.

    ``parameters`` and ``**kwargs`` are the template's ``@name`` parameters (as ``render`` takes them);
    ``bind`` holds values for ``:name`` placeholders, bound by the driver, never spliced into the text.
    A failing statement raises DatabaseError naming its number and its first 300 characters; the
    statements before it stay committed, like DatabaseConnector's ``executeSql``.
    """
    statements = render_translate(conn, sql, parameters, kwargs, bind)
    execute_statements(conn, statements, progress=progress, bind=bind)


def execute_statements(conn: Connection, statements: Iterable[str], progress: bool = False,
                       bind: Mapping[str, Any] | None = None) -> None:
    """Run statements that are already in the connection's dialect, one commit each."""
    statements = list(statements)
    total = len(statements)
    numbered: Iterable[tuple[int, str]] = enumerate(statements, start=1)
    if progress:
        numbered = tqdm(numbered, total=total, desc="Executing SQL", unit="statement")
    for number, statement in numbered:
        used = _used_binds(statement, bind)
        try:
            _run(conn, statement, used)
            conn.commit_unless_in_transaction()
        except sa.exc.DBAPIError as exc:
            raise _fail(conn, exc, statement, number, total) from None


def _used_binds(statement: str, bind: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The subset of ``bind`` whose ``:name`` placeholders occur in this statement."""
    if not bind:
        return None
    used = {k: v for k, v in bind.items() if re.search(rf"(?<![:\w]):{re.escape(k)}\b", statement)}
    return used or None


def query_sql(
    conn: Connection,
    sql: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    bind: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Render, translate and run one query; return its rows as a DataFrame with lower-case column names.

    ``bind`` gives values for ``:name`` placeholders (``WHERE person_id = :pid``), bound by the driver.
    Each column is typed from the database's result types (:mod:`rcdm.fetch`): DATE columns hold
    ``datetime.date``, integers int64 (``Int64`` with NULLs, 64-bit ids exact), timestamps datetime64.
    """
    statements = render_translate(conn, sql, parameters, kwargs, bind)
    if len(statements) != 1:
        raise UsageError(f"query_sql runs one statement, got {len(statements)}: use execute_sql for scripts.")
    return query_statement(conn, statements[0], bind=bind)


def query_statement(conn: Connection, statement: str, bind: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run one statement already in the connection's dialect and return a DataFrame (lower-case names).

    Columns are typed from the database's result types (see :mod:`rcdm.fetch`).
    """
    return arrow_to_frame(query_arrow_statement(conn, statement, bind))


def query_arrow_statement(conn: Connection, statement: str, bind: Mapping[str, Any] | None = None) -> pa.Table:
    """Run one statement already in the connection's dialect; its rows as an Arrow table (lower-case names).

    DuckDB hands over Arrow itself; other drivers are fetched in batches (:func:`rcdm.fetch.fetch_arrow`).
    """
    try:
        result = _run(conn, statement, _used_binds(statement, bind))
        try:
            if result.returns_rows:
                names = [str(c).lower() for c in result.keys()]
                table = fetch_arrow(result.cursor, names, conn.backend.result_typing)
            else:
                table = pa.table({})
        finally:
            result.close()
        conn.commit_unless_in_transaction()
    except sa.exc.DBAPIError as exc:
        raise _fail(conn, exc, statement, 1, 1) from None
    return table


@contextlib.contextmanager
def transaction(conn: Connection) -> Iterator[Connection]:
    """Run everything inside the block in one database transaction: all of it commits at the end, or none.

    ``execute_sql``, ``query_sql``, ``exists_table`` and ``insert_table`` (including the bulk paths: DuckDB's
    Arrow insert, PostgreSQL's COPY, SQLite's executemany) skip their own commits while the block is open.
    An exception rolls the whole block back and propagates; a process killed inside the block leaves nothing
    behind (the database rolls an uncommitted transaction back). Nested blocks join the outer one.
    DDL inside the block is transactional on DuckDB, SQLite and PostgreSQL, not on Oracle or MySQL-likes.
    """
    if conn.transaction_depth:
        conn.transaction_depth += 1
        try:
            yield conn
        finally:
            conn.transaction_depth -= 1
        return
    sa_conn = conn.sqlalchemy_connection
    if sa_conn.in_transaction():
        sa_conn.commit()
    raw: Any = sa_conn.connection.driver_connection
    conn.backend.begin(sa_conn)
    conn.transaction_depth = 1
    try:
        yield conn
    except BaseException:
        conn.transaction_depth = 0
        rollback_quietly(conn)
        raise
    conn.transaction_depth = 0
    try:
        if sa_conn.in_transaction():
            sa_conn.commit()
        raw.commit()  # the bulk paths ran on the driver connection, which SQLAlchemy may not know is in use
    except sa.exc.DBAPIError as exc:
        rollback_quietly(conn)
        raise DatabaseError(f"Commit failed on {conn.backend.label}: {driver_message(exc)}") from None
    except driver_errors(conn.engine) as exc:
        rollback_quietly(conn)
        raise DatabaseError(f"Commit failed on {conn.backend.label}: {exc}") from None


def rollback_quietly(conn: Connection) -> None:
    """Roll back both SQLAlchemy's view of the transaction and the driver connection's (best effort), so the
    connection stays usable after a failure (PostgreSQL refuses everything in an aborted transaction)."""
    try:
        conn.sqlalchemy_connection.rollback()
    except Exception:  # noqa: BLE001 - the original error matters more
        pass
    try:
        raw: Any = conn.sqlalchemy_connection.connection.driver_connection
        raw.rollback()
    except Exception:  # noqa: BLE001 - DuckDB says "no transaction is active" after SQLAlchemy's rollback
        pass
