"""The incident part of `verify`: incident rows, links and the violation vocabulary against
the custody events that made them, both ways."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, select

from docket.catalogue import schema
from docket.custody.events import Event

FACTS = (
    "title",
    "description",
    "occurred_from",
    "occurred_to",
    "place",
    "latitude",
    "longitude",
    "violations",
    "actors",
)


def _whole(value: Any) -> Any:
    """Whole floats as ints, as canonical JSON (RFC 8785) writes them."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _latest(events: Mapping[int, Event], actions: tuple[str, ...], key: str) -> dict[Any, Event]:
    latest: dict[Any, Event] = {}
    for seq in sorted(events):
        event = events[seq]
        if event.action in actions:
            latest[event.details.get(key)] = event
    return latest


def incident_problems(conn: Connection, events: Mapping[int, Event]) -> Iterator[tuple[str, str]]:
    yield from _incidents(conn, events)
    yield from _links(conn, events)
    yield from _vocabulary(conn, events)


def _incidents(conn: Connection, events: Mapping[int, Event]) -> Iterator[tuple[str, str]]:
    latest = _latest(events, ("incident.recorded", "incident.updated"), "incident")
    rows = {row["id"]: row for row in conn.execute(select(schema.incidents)).mappings()}
    for incident_id, row in rows.items():
        subject = f"incident {incident_id}"
        event = latest.get(incident_id)
        if event is None:
            yield subject, "no custody event recorded it"
            continue
        mine = {f: _whole(row[f]) for f in FACTS}
        mine["violations"] = json.loads(row["violations"])
        mine["actors"] = json.loads(row["actors"])
        logged = {f: _whole(event.details.get(f)) for f in FACTS}
        if (
            mine != logged
            or row["event_seq"] != event.seq
            or row["case_id"] != event.details.get("case")
        ):
            yield subject, f"differs from what event {event.seq} recorded"
    for incident_id, event in latest.items():
        if incident_id not in rows:
            yield f"incident {incident_id}", f"recorded in event {event.seq} but missing"


def _links(conn: Connection, events: Mapping[int, Event]) -> Iterator[tuple[str, str]]:
    removed = {
        e.details.get("linked_in") for e in events.values() if e.action == "incident.unlinked"
    }
    live = {
        seq: e for seq, e in events.items() if e.action == "incident.linked" and seq not in removed
    }
    seen = set()
    for row in conn.execute(select(schema.incident_links)).mappings():
        subject = f"link {row['id']} of incident {row['incident_id']}"
        event = live.get(row["event_seq"])
        if event is None:
            yield subject, f"no live incident.linked event {row['event_seq']} made it"
            continue
        if event.seq in seen:
            yield subject, f"a second row for the one link event {event.seq} recorded"
            continue
        seen.add(event.seq)
        logged = (event.details.get("incident"), event.item, event.details.get("annotation"))
        if logged != (row["incident_id"], row["item_sha256"], row["annotation_id"]):
            yield subject, f"differs from what event {event.seq} recorded"
    for seq in sorted(set(live) - seen):
        yield f"event {seq}", "the incident link it recorded is missing"


def _vocabulary(conn: Connection, events: Mapping[int, Event]) -> Iterator[tuple[str, str]]:
    latest = _latest(events, ("vocabulary.changed",), "violation")
    table = schema.violation_types
    rows = {row["name"]: row for row in conn.execute(select(table)).mappings()}
    for name in sorted(set(rows) | set(latest)):
        row, event = rows.get(name), latest.get(name)
        if row is None or event is None:
            yield f"violation type {name!r}", "its row and its custody events disagree"
        elif bool(row["active"]) != event.details.get("active") or row["event_seq"] != event.seq:
            yield f"violation type {name!r}", f"differs from what event {event.seq} recorded"
