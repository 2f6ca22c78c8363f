"""A case's own record of the analysis its bytes already had.

Analysis runs when bytes first reach the locker, and its events name the person who brought
them. A case that receives those bytes later must not be able to tell from its trail that they
were held before (docket.scope): a case shows facts of the bytes only from its first arrival
on, so on that arrival the latest result of each analysis step the bytes had is recorded again,
word for word, as an event of the person arriving, with the same catalogue rows (results,
derivatives, perceptual hashes) under the new event. Every case's trail then reads the same,
whichever case came first: its arrival, then the analysis. The other cases do not show the
repeat (docket.scope._facts_shown).

A person's work on an item (a redaction, a stripped copy, an aid run with inputs of their own)
belongs to the case it was done in and is never repeated.
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, insert, select

from docket import scope
from docket.catalogue import schema
from docket.custody import log
from docket.custody.events import Event, records_a_result


def repeat_for_arrival(conn: Connection, item: str, actor: str) -> list[Event]:
    """Record again, as `actor`'s events, the latest result of each analysis step on `item`
    (in the caller's transaction, under the log's lock); the events recorded."""
    results = schema.results
    rows = (
        conn.execute(select(results).where(results.c.item_sha256 == item).order_by(results.c.id))
        .mappings()
        .all()
    )
    latest: dict[str, tuple[dict[str, object], Event]] = {}
    for row in rows:
        source = log.get(conn, int(row["event_seq"]))
        if source is None or not records_a_result(source) or source.action in scope.PERSONAL:
            continue
        if scope.recorded_in(conn, source)[0]:
            continue
        latest[str(row["step"])] = (dict(row), source)
    repeated = []
    for result, source in latest.values():
        event = log.append(conn, actor, source.action, item=item, details=dict(source.details))
        values = {k: v for k, v in result.items() if k != "id"}
        conn.execute(
            insert(results).values(**values | {"created_at": event.time, "event_seq": event.seq})
        )
        for table in (schema.derivatives, schema.perceptual_hashes):
            copied = conn.execute(
                select(table).where(table.c.event_seq == source.seq).order_by(table.c.id)
            ).mappings()
            entries = [
                {k: v for k, v in r.items() if k != "id"} | {"event_seq": event.seq} for r in copied
            ]
            if entries:
                conn.execute(insert(table), entries)
        repeated.append(event)
    return repeated


def repeat_missing(conn: Connection) -> int:
    """Repeat the analysis for the arrivals recorded before arrivals repeated it: a case's first
    arrival of bytes analysed before it, with no result recorded since (`docket analyse` runs
    this); how many arrivals had it repeated. Such a case shows no analysis of the item until
    then, since a case shows no fact of the bytes recorded before its first arrival."""
    members, arrivals, items = schema.case_items.c, schema.acquisitions.c, schema.items.c
    results = schema.results.c
    before = exists().where(
        results.item_sha256 == members.item_sha256, results.event_seq < arrivals.event_seq
    )
    since = exists().where(
        results.item_sha256 == members.item_sha256, results.event_seq > arrivals.event_seq
    )
    late = (
        select(members.item_sha256, arrivals.collector)
        .join(schema.acquisitions, arrivals.id == members.first_acquisition)
        .join(schema.items, items.sha256 == members.item_sha256)
        .where(arrivals.event_seq > items.event_seq, before, ~since)
        .order_by(arrivals.event_seq)
    )
    log.lock(conn)  # looked for under the lock: two runs at once repeat each arrival once
    found = conn.execute(late).all()
    for item, collector in found:
        repeat_for_arrival(conn, str(item), str(collector))
    return len(found)
