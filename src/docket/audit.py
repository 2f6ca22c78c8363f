"""A case's audit: who revealed, exported or changed what in it, read from the custody log.

Only the case's own events are listed, never another case's: a person's work on an item
counts when docket.scope puts it in this case (so a reveal or tag recorded in case B on bytes
this case holds too is left out), an export when its event names this case, a change of
members or an admin's entry when its event names this case. Events from before they carried
a case, which scope gives to no case, are left out too.

The list is newest first and paged by key: a page holds the events below a log position
(`before`), and says where the next page starts, so a page stays the same while the log grows.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection, Select, select

from docket.catalogue import queries, schema
from docket.custody.events import Event, event_from_row
from docket.errors import DocketError
from docket.scope import Scope, recorded_in

PAGE = 50
_BATCH = 500
_STREAMS_MOST = 4  # actions read each by itself (the most a kind has), merged by log position
# What the audit lists, by kind: the custody actions of each.
KINDS: dict[str, tuple[str, ...]] = {
    "reveal": ("item.revealed",),
    "export": ("package.exported",),
    "status": ("item.status_set",),
    "flag": ("item.flagged",),
    "tag": ("item.tagged",),
    "annotation": ("item.annotated",),
    "incident": ("incident.recorded", "incident.updated", "incident.linked", "incident.unlinked"),
    "approval": ("derivative.approved", "derivative.approval_revoked"),
    "arrival": ("item.acquired",),
    "members": ("case.member_added", "case.member_removed", "case.member_role_changed"),
    "admin-read": ("case.read_by_admin",),
}
_KIND_OF = {action: kind for kind, actions in KINDS.items() for action in actions}
# Events of no item, placed in a case by a detail: the case's name or its id.
_BY_NAME = ("package.exported", "case.read_by_admin")
_BY_ID = KINDS["members"]
# The details each kind shows (never the whole event: an export's lists are long).
_SHOWN = (
    "shown",
    "flag",
    "tag",
    "status",
    "assignee",
    "comment",
    "kind",
    "text",
    "incident",
    "title",
    "profile",
    "recipient",
    "package",
    "user",
    "role",
    "from",
    "request",
    "derivative",
)


@dataclass(frozen=True)
class Entry:
    """One line of the audit: a custody event of the case, with what it changed."""

    seq: int
    time: str
    actor: str
    kind: str
    action: str
    item: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next_before: int | None  # where the next (older) page starts; None: this is the last


def _entry(event: Event) -> Entry:
    shown = {k: event.details[k] for k in _SHOWN if event.details.get(k) not in (None, "")}
    if event.action == "package.exported":
        shown["items"] = len(event.details.get("items") or [])
    return Entry(
        event.seq, event.time, event.actor, _KIND_OF[event.action], event.action, event.item, shown
    )


def _of_case(conn: Connection, view: Scope, event: Event) -> bool:
    if event.action in _BY_NAME:
        return event.details.get("case") == view.case
    if event.action in _BY_ID:
        return event.details.get("case") == view.case_id
    personal, case = recorded_in(conn, event)
    return personal and case is not None and case == view.case


def _candidates(
    conn: Connection,
    view: Scope,
    actions: tuple[str, ...],
    actor: str,
    before: int | None,
    first: int,
) -> Iterator[Event]:
    """Events of these actions, newest first below `before`, on the case's items (its own rows,
    queries.case_events) or of no item: a superset of the case's, which _of_case narrows."""
    events = schema.events.c
    assert view.case_id is not None
    case_id = view.case_id
    chosen = [events.action.in_(actions)] + ([events.actor == actor] if actor else [])

    def of_items(cursor: int | None, action: str | None = None) -> Select[Any]:
        return queries.case_events(case_id, cursor, action, actor or None).where(*chosen)

    def of_no_item(cursor: int | None) -> Select[Any]:
        found = select(schema.events).where(events.item_sha256.is_(None), *chosen)
        found = found if cursor is None else found.where(events.seq < cursor)
        return found.order_by(events.seq.desc())

    # One person's work from the case's index by actor; else a kind's few actions each from
    # its index by action (a kind the case has none of reads nothing); else the case's rows.
    streams = (
        [_read_back(conn, partial(of_items, action=action), before, first) for action in actions]
        if len(actions) <= _STREAMS_MOST and not actor
        else [_read_back(conn, of_items, before, first)]
    )
    yield from heapq.merge(
        *streams, _read_back(conn, of_no_item, before, first), key=lambda event: -event.seq
    )


def _read_back(
    conn: Connection, query: Callable[[int | None], Select[Any]], before: int | None, first: int
) -> Iterator[Event]:
    """What `query(cursor)` gives (newest first, below `cursor`), read in batches by key:
    `first` rows, then twice as many each time up to _BATCH. A page of 50 read 500 events
    (each parsed) where most pages need 51."""
    cursor, batch = before, min(first, _BATCH)
    while True:
        rows = conn.execute(query(cursor).limit(batch)).mappings().all()
        for row in rows:
            yield event_from_row(row)
        if len(rows) < batch:
            return
        cursor, batch = int(rows[-1]["seq"]), min(2 * batch, _BATCH)


def case_audit(
    conn: Connection,
    view: Scope,
    kind: str = "",
    actor: str = "",
    before: int | None = None,
    size: int = PAGE,
) -> Page:
    """A page of the case's audit (`view` is one case's, docket.scope.of_case), newest
    first: events below log position `before`, of one `kind` and/or by one `actor` if given."""
    if view.case_id is None:
        raise DocketError("an audit is of one case; choose it")
    if kind and kind not in KINDS:
        raise DocketError(f"{kind!r}: an audit kind is one of {', '.join(KINDS)}")
    actions = KINDS[kind] if kind else tuple(_KIND_OF)
    found: list[Entry] = []
    for event in _candidates(conn, view, actions, actor.strip(), before, size + 1):
        if not _of_case(conn, view, event):
            continue
        if len(found) == size:
            return Page(found, found[-1].seq)
        found.append(_entry(event))
    return Page(found, None)
