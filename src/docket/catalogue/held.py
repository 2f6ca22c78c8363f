"""Custody log rows held back in their transaction until a statement or the commit needs them.

Under load the group committer (group_commit.py) runs many writers' blocks one after another
in one transaction. Written at once, each append cost a round trip to the server, and each
block's savepoint two more: on PostgreSQL a writer that only appended waited on three round
trips (issue 16). Here, once a transaction has bumped the log's head (its first append: SQLite's
write lock, or PostgreSQL's row lock, held to the end of the transaction), the next appends
know their sequence numbers and only add their rows to a list. The rows are written, in order,
with the head's new size:

- before any other statement runs on the connection, SQLAlchemy's (an engine event) or the
  driver's (`execute` here), so every statement sees the log as if each append had been
  written at once;
- before the commit, in the same transaction (`write_before_commit`), so what is acknowledged
  is what was committed.

A rollback drops them. A rollback to a savepoint drops them too and forgets the head's size:
the next append reads it again.

A group-committed block's savepoint is opened the same way, before the block's first statement
rather than when the block begins (`begin_block`), so a block that only appends runs no
statement at all: its rows go with the batch's. Rows held before the block began are written
before its savepoint, the block's own after it, so undoing the block undoes only its own.

Only engines opened by `catalogue.database.open_engine` hold rows (`install`); on any other an
append writes at once, as it always did.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event

from docket.catalogue import driver_sql

INSERT_EVENT = (
    "INSERT INTO events (seq, time, actor, action, item_sha256, details, leaf_hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SET_SIZE = "UPDATE log_head SET size = ? WHERE id = 1"
_KEY = "docket_held"  # in the DBAPI connection's info: this transaction's Held
_HOLDING: weakref.WeakSet[Engine] = weakref.WeakSet()


@dataclass
class Held:
    """What a connection's transaction holds back, and its group-committed block's state."""

    next_seq: int | None = None  # the next append's number; None until this transaction knows
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # events rows, in seq order
    savepoint: str | None = None  # SQL opening the block's savepoint, due before a statement
    opened: bool = False  # the block's savepoint was opened
    block_rows: int = 0  # how many of `rows` the block found held when it began
    block_next: int | None = None  # `next_seq` when the block began

    def hold(self, row: tuple[Any, ...]) -> None:
        """Hold the row of the append numbered `next_seq`."""
        self.rows.append(row)
        self.next_seq = row[0] + 1


def install(engine: Engine) -> None:
    """Let appends through `engine` hold their rows; writes them before every statement."""
    _HOLDING.add(engine)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Connection, _cursor: Any, statement: str, *_rest: Any) -> None:
        before_statement(conn, statement)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Connection) -> None:
        conn.info.pop(_KEY, None)

    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi: Any, record: Any, _state: Any) -> None:
        record.info.pop(_KEY, None)  # returned to the pool without a commit


def of(conn: Connection) -> Held | None:
    """The transaction's held state; None when `conn`'s engine does not hold rows, or when
    `conn` commits each statement by itself (AUTOCOMMIT): it holds no head between them."""
    if conn.engine not in _HOLDING:
        return None
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return None
    found: Held | None = conn.info.get(_KEY)
    if found is None:
        found = conn.info[_KEY] = Held()
    return found


def execute(conn: Connection, statement: str, params: Any = None) -> Any:
    """`driver_sql.execute`, once what is held is written (see `before_statement`)."""
    before_statement(conn, statement)
    return driver_sql.execute(conn, statement, params)


def before_statement(conn: Connection, statement: str) -> None:
    """Open a block's due savepoint and write the held rows, before `statement` runs. A
    rollback (to a savepoint) drops them instead, and the head's size is read again after."""
    held: Held | None = conn.info.get(_KEY)
    if held is None:
        return
    if statement.lstrip()[:8].upper() == "ROLLBACK":
        held.rows.clear()
        held.next_seq = None
        return
    if not held.rows and held.savepoint is None:
        return
    raw = conn.connection.dbapi_connection
    if held.savepoint is not None:
        _write(raw, conn.dialect, held.rows[: held.block_rows])
        driver_sql.run(raw, conn.dialect, held.savepoint)
        held.savepoint, held.opened = None, True
        del held.rows[: held.block_rows]
    _write(raw, conn.dialect, held.rows)
    held.rows.clear()


def write_before_commit(dbapi_connection: Any, dialect: Any) -> None:
    """Write what the transaction holds, just before its commit (catalogue.database)."""
    held: Held | None = dbapi_connection.info.pop(_KEY, None)
    if held is not None:
        _write(dbapi_connection, dialect, held.rows)


def _write(raw: Any, dialect: Any, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        driver_sql.run(raw, dialect, INSERT_EVENT, rows, many=True)
        driver_sql.run(raw, dialect, _SET_SIZE, (rows[-1][0] + 1,))


def begin_block(conn: Connection, savepoint: str) -> bool:
    """A group-committed block begins: `savepoint` (SQL) will run before its first statement.
    False when the engine holds nothing back: then the caller opens it now."""
    held = of(conn)
    if held is None:
        return False
    held.savepoint, held.opened = savepoint, False
    held.block_rows, held.block_next = len(held.rows), held.next_seq
    return True


def opened(conn: Connection) -> bool:
    """Whether the running block's savepoint was opened (it ran a statement)."""
    held: Held | None = conn.info.get(_KEY)
    return held is None or held.opened


def end_block(conn: Connection, undone: bool) -> None:
    """The block ended; `undone`: it failed, and its savepoint (if opened) was rolled back to,
    so its rows and its numbers are given back."""
    held: Held | None = conn.info.get(_KEY)
    if held is None:
        return
    if undone:
        if held.opened:
            held.rows.clear()  # those held before it were written before its savepoint
        else:
            del held.rows[held.block_rows :]
        held.next_seq = held.block_next
    held.savepoint, held.opened = None, False
