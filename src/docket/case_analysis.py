"""A case's own record of the analysis its bytes already had.

Analysis runs when bytes first reach the locker, and its events name the person who brought
them. A case that receives those bytes later must not be able to tell from its trail that they
were held before (docket.scope): a case shows facts of the bytes only from its first arrival
on, so on that arrival the latest result of each analysis step the bytes had is recorded again,
word for word, as an event of the person arriving, with the same catalogue rows (results,
derivatives, perceptual hashes) under the new event. A case's trail then reads as it would
had it come first: its arrival, then the analysis (docs/explanation/scope.md names the
channels that remain). Each repeated result row names the case it was repeated for
(results.repeated_for), and only that case shows it: the cases that had the analysis first
would learn from it that another case received the bytes.

A person's work on an item (a redaction, a stripped copy, an aid run with inputs of their own)
belongs to the case it was done in and is never repeated.
"""

from __future__ import annotations

from sqlalchemy import Connection, exists, insert, select

from docket.catalogue import schema
from docket.custody import log
from docket.custody.events import Event, records_a_result


def _current_steps(media_type: str) -> dict[str, str]:
    """The analysis steps an arrival of `media_type` goes through, with their versions."""
    from docket.analyse.steps import builtin_steps  # the parsers: only when bytes come again

    return {step.name: step.version for step in builtin_steps() if step.applies_to(media_type)}


def repeat_for_arrival(conn: Connection, item: str, actor: str, case_id: int) -> list[Event]:
    """Record again, as `actor`'s events for their arrival in case `case_id`, each analysis
    step's latest result on `item` when it succeeded at the step's current version, in the
    steps' order (in the caller's transaction, under the log's lock); the events recorded. A
    step whose latest result failed or is of an older version is not repeated (the arrival's
    own analysis runs what is due, as it would for bytes new to the locker), so a repeat is
    always the same as the latest result run, whoever reads "the latest" (docket.catalogue)."""
    results = schema.results
    media_type = conn.execute(
        select(schema.items.c.media_type).where(schema.items.c.sha256 == item)
    ).scalar_one()
    current = _current_steps(str(media_type))
    rows = conn.execute(
        select(results)
        .where(results.c.item_sha256 == item, results.c.repeated_for.is_(None))
        .order_by(results.c.id)
    ).mappings()
    latest = {str(row["step"]): dict(row) for row in rows}  # of each step, the last run
    repeatable: list[tuple[dict[str, object], Event]] = []
    for step, version in current.items():
        result = latest.get(step)
        if result is None or result["status"] != "ok" or result["step_version"] != version:
            continue
        source = log.get(conn, int(str(result["event_seq"])))
        if source is not None and records_a_result(source):
            repeatable.append((result, source))
    repeated = []
    for result, source in repeatable:
        event = log.append(conn, actor, source.action, item=item, details=dict(source.details))
        values = {k: v for k, v in result.items() if k != "id"}
        conn.execute(
            insert(results).values(
                **values
                | {"created_at": event.time, "event_seq": event.seq, "repeated_for": case_id}
            )
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
    """Repeat the analysis for the arrivals that did not have it repeated: a case's first
    arrival of bytes that were not new to the locker, with no result repeated for its case and
    none recorded for its person since (made before arrivals repeated the analysis, or while
    the first case's analysis was still running). `docket analyse` runs this, in a transaction
    of its own; how many arrivals had it repeated. Until then such a case shows no analysis of
    the item that another case's person recorded."""
    members, arrivals, items = schema.case_items.c, schema.acquisitions.c, schema.items.c
    results, events = schema.results.c, schema.events.c
    repeated = exists().where(
        results.item_sha256 == members.item_sha256, results.repeated_for == members.case_id
    )
    since = exists().where(  # a result run for the arrival's person since
        results.item_sha256 == members.item_sha256,
        results.repeated_for.is_(None),
        results.event_seq > arrivals.event_seq,
        events.seq == results.event_seq,
        events.actor == arrivals.collector,
    )
    analysed = exists().where(results.item_sha256 == members.item_sha256)
    late = (
        select(members.item_sha256, arrivals.collector, members.case_id)
        .join(schema.acquisitions, arrivals.id == members.first_acquisition)
        .join(schema.items, items.sha256 == members.item_sha256)
        .where(arrivals.event_seq > items.event_seq, analysed, ~repeated, ~since)
        .order_by(arrivals.event_seq)
    )
    log.lock(conn)  # looked for under the lock: two runs at once repeat each arrival once
    found = conn.execute(late).all()
    count = 0
    for item, collector, case_id in found:
        count += bool(repeat_for_arrival(conn, str(item), str(collector), int(case_id)))
    return count
