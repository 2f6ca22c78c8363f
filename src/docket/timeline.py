"""A case's timeline: its incidents (by when they happened) and its items (by capture time from
their metadata), day by day. Items without a capture time are counted, not placed: a first-seen
time says when we received a file, not when it was made. Names are the case's own (docket.scope).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from docket import incidents
from docket.catalogue import queries, schema
from docket.similarity import provenance

ITEMS_PER_DAY = 24


@dataclass
class Day:
    day: str  # YYYY-MM-DD, as the capture time or incident date gives it
    incidents: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    item_count: int = 0


@dataclass
class Timeline:
    days: list[Day]
    undated_items: int
    undated_incidents: list[dict[str, Any]]


def case_timeline(conn: Connection, case_id: int, per_day: int = ITEMS_PER_DAY) -> Timeline:
    members = conn.execute(
        select(schema.case_items.c.item_sha256).where(schema.case_items.c.case_id == case_id)
    )
    shas = [str(sha) for sha in members.scalars()]
    origins = provenance(conn, shas, case_id)
    case = conn.execute(select(schema.cases.c.name).where(schema.cases.c.id == case_id)).scalar()
    days: dict[str, Day] = defaultdict(lambda: Day(""))
    dated = sorted(
        (origins[sha].sort_key(), str(origins[sha].capture_time), sha)
        for sha in shas
        if origins[sha].capture_time is not None
    )
    placed: list[tuple[Day, str, str]] = []
    for _key, captured, sha in dated:
        day = days[captured[:10]]
        day.item_count += 1
        if day.item_count <= per_day:
            placed.append((day, captured, sha))
    # Names only for the items shown (a case may hold 100,000 items).
    names = {
        row["sha256"]: row["name"]
        for row in queries.list_items(conn, str(case), only=[s for *_, s in placed])
    }
    for day, captured, sha in placed:
        day.items.append({"sha256": sha, "name": names[sha], "captured": captured})
    undated = len(shas) - len(dated)
    undated_incidents = []
    for incident in incidents.of_case(conn, case_id):
        summary = {k: incident[k] for k in ("id", "title", "occurred_from", "occurred_to", "place")}
        if incident["occurred_from"] is None:
            undated_incidents.append(summary)
        else:
            days[incident["occurred_from"][:10]].incidents.append(summary)
    for key, day in days.items():
        day.day = key
    return Timeline(sorted(days.values(), key=lambda d: d.day), undated, undated_incidents)
