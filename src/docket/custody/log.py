"""Appending to and reading the custody log. Appends run inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, select

from docket import clock
from docket.catalogue import held, schema
from docket.custody.events import Event, event_from_row


def lock(conn: Connection) -> int:
    """Take the log's write lock for this transaction and return the log's size.

    Call it first in any transaction that decides something from what the log holds (is this
    item new?) and then appends, so that a concurrent writer waits instead of racing.
    SQLite's BEGIN IMMEDIATE already serialises writers; on PostgreSQL this row lock does.
    """
    query = select(schema.log_head.c.size).where(schema.log_head.c.id == 1).with_for_update()
    return int(conn.execute(query).scalar_one())


# Run on the driver's connection: SQLAlchemy's execution costs more than these do (issue 16).
_BUMP_SIZE = "UPDATE log_head SET size = size + 1 WHERE id = 1 RETURNING size"
# PostgreSQL only (SQLite's WITH takes no UPDATE): both in one round trip, for a sequence
# number guessed beforehand; it does nothing at all unless the head still says that number.
_APPEND_AT = (
    "WITH bump AS (UPDATE log_head SET size = size + 1 WHERE id = 1 AND size = ? RETURNING 1) "
    "INSERT INTO events (seq, time, actor, action, item_sha256, details, leaf_hash) "
    "SELECT ?, ?, ?, ?, ?, ?, ? FROM bump"
)
_NEXT = "docket_log_next"  # in conn.info: the sequence number after this connection's last append


def append(
    conn: Connection,
    actor: str,
    action: str,
    item: str | None = None,
    details: Mapping[str, Any] | None = None,
    time: str | None = None,
) -> Event:
    """Add one event as the next leaf. Taking the head row first serialises concurrent appends.

    The transaction's first append bumps the head: it waits for anyone else's appends to
    commit, and holds the head until this transaction ends. The transaction's next appends
    know their numbers and are held back until a statement or the commit needs them (see
    catalogue/held.py). On PostgreSQL a connection that appended in an earlier transaction
    first tries the number after its last append, in one statement; when anyone else appended
    since, that does nothing and the append takes the head row as usual. Either way, no other
    append came between this one's time and its place in the log."""
    holding = held.of(conn)
    if holding is not None and holding.next_seq is not None:
        event = _event(holding.next_seq, actor, action, item, details, time)
        holding.hold(_row(event))
    else:
        event = _written(conn, actor, action, item, details, time)
        if holding is not None:
            holding.next_seq = event.seq + 1
    if conn.dialect.name == "postgresql":
        conn.info[_NEXT] = event.seq + 1
    return event


def _written(
    conn: Connection,
    actor: str,
    action: str,
    item: str | None,
    details: Mapping[str, Any] | None,
    time: str | None,
) -> Event:
    """Append at once: bump the head, then write the row."""
    guess = conn.info.get(_NEXT) if conn.dialect.name == "postgresql" else None
    if guess is not None:
        event = _event(guess, actor, action, item, details, time)
        if held.execute(conn, _APPEND_AT, (guess, *_row(event))).rowcount == 1:
            return event
    (size,) = held.execute(conn, _BUMP_SIZE).fetchone()
    event = _event(int(size) - 1, actor, action, item, details, time)
    held.execute(conn, held.INSERT_EVENT, _row(event))
    return event


def _event(
    seq: int,
    actor: str,
    action: str,
    item: str | None,
    details: Mapping[str, Any] | None,
    time: str | None,
) -> Event:
    return Event(seq, time or clock.now(), actor, action, item, dict(details or {}))


def _row(event: Event) -> tuple[Any, ...]:
    """The events row of `event`, in held.INSERT_EVENT's order."""
    text, leaf_hash = event.stored()
    return (event.seq, event.time, event.actor, event.action, event.item, text, leaf_hash.hex())


def size(conn: Connection) -> int:
    return int(
        conn.execute(select(schema.log_head.c.size).where(schema.log_head.c.id == 1)).scalar_one()
    )


def leaf_hashes(conn: Connection, upto: int | None = None) -> list[bytes]:
    """Stored leaf hashes in order (as recorded when appended, not recomputed)."""
    query = select(schema.events.c.leaf_hash).order_by(schema.events.c.seq)
    if upto is not None:
        query = query.where(schema.events.c.seq < upto)
    return [bytes.fromhex(h) for (h,) in conn.execute(query)]


_ALL_EVENTS = select(schema.events).order_by(schema.events.c.seq)
# Built once: every request for an item asks these.
_EVENTS_OF = _ALL_EVENTS.where(schema.events.c.item_sha256 == bindparam("item"))
_EVENT_AT = select(schema.events).where(schema.events.c.seq == bindparam("seq"))


def events(conn: Connection, item: str | None = None) -> Iterator[Event]:
    found = conn.execute(_ALL_EVENTS) if item is None else conn.execute(_EVENTS_OF, {"item": item})
    for row in found.mappings():
        yield event_from_row(row)


def get(conn: Connection, seq: int) -> Event | None:
    row = conn.execute(_EVENT_AT, {"seq": seq}).mappings().first()
    return None if row is None else event_from_row(row)
