"""Hot statements run straight on the driver's connection under a SQLAlchemy Connection.

SQLAlchemy's execution layer (execution context, events, result object) costs several times
what SQLite takes to run a one-row statement: about 40 us against 4 us for the custody log's
size bump (issue 16). The custody log's append and the group committer's savepoints, run for
every write, go through here instead. They run in the Connection's transaction, begun first
if it is not yet (as SQLAlchemy's autobegin would); a driver error comes out as SQLAlchemy's
wrapped error, the connection invalidated if the error says it is gone, as from
`conn.execute`. They do not fire SQLAlchemy's cursor events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError


def execute(conn: Connection, statement: str, params: Sequence[Any] | None = None) -> Any:
    """Run `statement`, its parameters written `?`, and return the driver's cursor. Without
    parameters, psycopg takes several statements separated by `;` in one round trip."""
    if not conn.in_transaction():
        conn.begin()
    dialect = conn.dialect
    raw = conn.connection.dbapi_connection
    assert raw is not None  # an open Connection's
    try:
        return run(raw, dialect, statement, params)
    except dialect.loaded_dbapi.Error as exc:
        gone = dialect.is_disconnect(exc, raw, None)
        if gone:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            statement,
            params,
            exc,
            dialect.loaded_dbapi.Error,
            connection_invalidated=gone,
            dialect=dialect,
        ) from exc


def run(raw: Any, dialect: Dialect, statement: str, params: Any = None, many: bool = False) -> Any:
    """Run `statement` on the DBAPI connection `raw` and return its cursor; with `many`,
    once for each of `params`. The driver's own errors come out as they are."""
    if dialect.paramstyle in ("format", "pyformat"):  # psycopg
        statement = statement.replace("?", "%s")
    elif dialect.paramstyle != "qmark":  # sqlite3, SQLCipher
        raise NotImplementedError(f"no driver statements for paramstyle {dialect.paramstyle}")
    cursor = raw.cursor()
    if many:
        cursor.executemany(statement, params)
    elif params is None:
        cursor.execute(statement)
    else:
        cursor.execute(statement, params)
    return cursor
