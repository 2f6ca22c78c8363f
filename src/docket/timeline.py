"""A case's timeline: its incidents (by when they happened) and its items (by capture time from
their metadata), day by day, read a day at a time in order so that a page of days costs what
those days hold. Items without a capture time are not placed: a first-seen time says when we
received a file, not when it was made. Names are the case's own (docket.scope).

Items are found through ix_case_items_case_captured (migration 0018): the case's own items in
capture order (each membership carries its item's capture time), so a page reads its own days'
items and nothing of other cases, each named by its first arrival in the case, which that index
carries (0022). A day's count is a row the database keeps (case_day_counts, 0023). Counting the
items without a capture time counts the case's index: only the full listing (the command line)
does it. Incidents are few (people record them one by one) and are read whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, select

from docket import incidents
from docket.catalogue import prebuilt, schema

ITEMS_PER_DAY = 24
DAYS_PER_PAGE = 31


@dataclass
class Day:
    day: str  # YYYY-MM-DD, as the capture time or incident date gives it
    incidents: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    item_count: int = 0


@dataclass
class Timeline:
    days: list[Day]
    undated_incidents: list[dict[str, Any]]
    next: str | None = None  # the last day shown, when later days follow (?after=)
    undated_items: int | None = None  # counted by the full listing only

    def as_dict(self) -> dict[str, Any]:
        """The timeline as dataclasses.asdict gives it, without asdict's deep copy of every
        item and incident (4 ms of a page's 11 at a million items): for writing out only."""
        days = [
            {"day": d.day, "incidents": d.incidents, "items": d.items, "item_count": d.item_count}
            for d in self.days
        ]
        return {
            "days": days,
            "undated_incidents": self.undated_incidents,
            "next": self.next,
            "undated_items": self.undated_items,
        }


def page(
    conn: Connection,
    case_id: int,
    after: str | None = None,
    count: int = DAYS_PER_PAGE,
    per_day: int = ITEMS_PER_DAY,
) -> Timeline:
    """The first `count` days after the day `after` (YYYY-MM-DD; from the first day if None)."""
    shown = list(islice(days(conn, case_id, after, per_day), count + 1))
    later = shown[count - 1].day if len(shown) > count else None
    return Timeline(shown[:count], _undated_incidents(conn, case_id), later)


def case_timeline(conn: Connection, case_id: int, per_day: int = ITEMS_PER_DAY) -> Timeline:
    """Every day of the case, and how many of its items have no capture time."""
    return Timeline(
        list(days(conn, case_id, None, per_day)),
        _undated_incidents(conn, case_id),
        undated_items=undated_count(conn, case_id),
    )


def days(
    conn: Connection, case_id: int, after: str | None = None, per_day: int = ITEMS_PER_DAY
) -> Iterator[Day]:
    """The case's days after `after` in order, each with its incidents and its first `per_day`
    items (and how many it holds), read a day at a time, or several when they hold few
    (_whole_days)."""
    incidents_on: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for incident in incidents.of_case(conn, case_id):
        if incident["occurred_from"] is not None:
            incidents_on[incident["occurred_from"][:10]].append(_summary(incident))
    incident_days = sorted(d for d in incidents_on if after is None or d > after)
    made = prebuilt.statements(conn, _build)
    start: str | None = "" if after is None else _day_after(after)
    # The items from `start` on, up to a day's worth and one: the first day's whole, and the
    # days after it whole too, but for the last one when the read stopped at its limit.
    rows: list[Any] | None = None
    cut = False  # whether `rows` stopped at the read's limit
    counted: dict[str, int] = {}  # the counts of the days being shown, read a page at a time
    while True:
        if rows is None:
            rows = [] if start is None else _first(conn, made, case_id, start, per_day)
            cut = len(rows) > per_day
        item_day = str(rows[0][0])[:10] if rows else None
        if item_day is None and not incident_days:
            return
        day = min(d for d in (item_day, *incident_days[:1]) if d is not None)
        if incident_days and incident_days[0] == day:
            incident_days.pop(0)
        found = Day(day, incidents_on.get(day, []))
        if item_day == day:
            placed = [row for row in rows if str(row[0])[:10] == day]
            found.item_count = len(placed)
            if len(placed) > per_day:  # counted by the database (migration 0023)
                if day not in counted:
                    counted = _counts_from(conn, made, case_id, day)
                found.item_count = counted.get(day, 0)
            found.items = [
                {"sha256": str(sha), "name": _name(path, inner), "captured": str(captured)}
                for captured, sha, path, inner in placed[:per_day]
            ]
            start, rows = _day_after(day), _whole_days(rows[len(placed) :], cut)
            cut = False
        yield found


def undated_count(conn: Connection, case_id: int) -> int:
    """How many of the case's items have no capture time (counts the whole case's index)."""
    members = schema.case_items.c
    return int(
        conn.execute(
            select(func.count()).where(members.case_id == case_id, members.capture_time.is_(None))
        ).scalar_one()
    )


@dataclass(frozen=True)
class _Statements:
    """The timeline's statements, built once per dialect (building them on every day of a
    page cost more than the database's answers), the case bound as `case`."""

    # (capture time, item, path and path in its container of its first arrival in the case)
    # from the bound `start` on, `most` of them
    first: Select[Any]
    counts_from: Select[Any]  # (day, how many were captured on it) from `start` on, `most`


def _build(dialect: str) -> _Statements:
    members, acquisitions, counts = (
        schema.case_items.c,
        schema.acquisitions.c,
        schema.case_day_counts,
    )
    # The memberships' capture times, compared as bytes on either database (as
    # ix_case_items_case_captured orders them).
    captured: ColumnElement[Any] = members.capture_time
    if dialect == "postgresql":
        captured = captured.collate("C")
    dated = select(captured.label("captured"), members.item_sha256).where(
        members.case_id == bindparam("case"),
        members.capture_time.is_not(None),
        captured >= bindparam("start"),
    )

    # Each item named as the grid names it (docket.web.grid_pages.rows): by the path of its
    # first arrival in the case, which its membership names (migration 0021) and the
    # capture-time index carries (0022).
    named = dated.add_columns(acquisitions.original_path, acquisitions.path_in_container).join(
        schema.acquisitions, acquisitions.id == members.first_acquisition, isouter=True
    )
    return _Statements(
        first=named.order_by(captured, members.item_sha256).limit(bindparam("most")),
        counts_from=select(counts.c.day, counts.c["items"])
        .where(counts.c.case_id == bindparam("case"), counts.c.day >= bindparam("start"))
        .order_by(counts.c.day)
        .limit(bindparam("most")),
    )


def _first(
    conn: Connection, made: _Statements, case_id: int, start: str, per_day: int
) -> list[Any]:
    given = {"case": case_id, "start": start, "most": per_day + 1}
    return list(conn.execute(made.first, given))


def _whole_days(rows: list[Any], cut: bool) -> list[Any] | None:
    """The rows read after a day's, kept for the days after it when they hold them whole: all
    of them, or all but the last day's when the read stopped at its limit (that day may hold
    more). None when nothing is kept: the next day is read from the database. A case with a
    few items a day so reads a page of days in a few statements, not one a day."""
    if cut and rows:
        last = str(rows[-1][0])[:10]
        rows = [row for row in rows if str(row[0])[:10] != last]
    return rows or None


def _counts_from(conn: Connection, made: _Statements, case_id: int, day: str) -> dict[str, int]:
    """How many items the case holds captured on each day from `day` on, for a page of days
    (one query, not one a day)."""
    given = {"case": case_id, "start": day, "most": DAYS_PER_PAGE + 1}
    return {str(on): int(items) for on, items in conn.execute(made.counts_from, given)}


def _name(path: str | None, inner: str | None) -> str:
    return (path or "") + (f"!/{inner}" if inner else "")


def _day_after(day: str) -> str | None:
    """The date after `day` (None after the last date there is: nothing can follow it)."""
    try:
        return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    except OverflowError:
        return None


def _summary(incident: dict[str, Any]) -> dict[str, Any]:
    return {k: incident[k] for k in ("id", "title", "occurred_from", "occurred_to", "place")}


def _undated_incidents(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    return [_summary(i) for i in incidents.of_case(conn, case_id) if i["occurred_from"] is None]
