"""A case's timeline: its incidents (by when they happened) and its items (by capture time from
their metadata), day by day. Items without a capture time are counted, not placed: a first-seen
time says when we received a file, not when it was made.
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
    name = conn.execute(
        select(schema.cases.c.name).where(schema.cases.c.id == case_id)
    ).scalar_one()
    items = queries.list_items(conn, str(name))
    origins = provenance(conn, [row["sha256"] for row in items])
    days: dict[str, Day] = defaultdict(lambda: Day(""))
    undated = 0
    dated = []
    for row in items:
        captured = origins[row["sha256"]].capture_time
        if captured is None:
            undated += 1
            continue
        dated.append((origins[row["sha256"]].sort_key(), captured, row))
    for _key, captured, row in sorted(dated, key=lambda entry: entry[0]):
        day = days[captured[:10]]
        day.item_count += 1
        if len(day.items) < per_day:
            day.items.append({"sha256": row["sha256"], "name": row["name"], "captured": captured})
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
