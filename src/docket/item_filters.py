"""Filters of an item list, the same for the web app's case grid and `docket ls`: media type,
flag, has GPS, capture dates and near-duplicate group (text search is docket.search's).

Media type, GPS and dates are conditions the database tests (`conditions`), so the grid of a
case of a million items is filtered and cut into pages there, never read into memory.

Capture dates are YYYY-MM-DD, inclusive, compared with the capture time as the camera's clock
wrote it (its local date); items whose capture time is unknown are left out by a date filter.
Group numbers are docket.similarity.clusters' numbers for the same case, so a number read in
`docket clusters` or the groups page picks the same group here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, exists, func, select, true

from docket import similarity
from docket.catalogue import prebuilt, queries, schema
from docket.errors import DocketError

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class FilterError(DocketError):
    """A filter value that means nothing (a date not YYYY-MM-DD)."""


@dataclass(frozen=True)
class ItemFilter:
    type: str = ""  # a media type or its start: "image/", "video/mp4"
    flag: str = ""
    gps: bool = False
    since: str = ""
    until: str = ""
    cluster: int | None = None

    def __post_init__(self) -> None:
        for bound in (self.since, self.until):
            if bound and not _DAY.fullmatch(bound):
                raise FilterError(f"{bound!r}: dates are YYYY-MM-DD")

    @property
    def narrows(self) -> bool:
        return bool(self.type or self.flag or self.gps or self.since or self.until or self.cluster)

    def conditions(
        self,
        dialect: str,
        item: ColumnElement[str],
        member: Any = None,
        driver: str | None = None,
    ) -> list[ColumnElement[bool]]:
        """Media type, GPS and capture dates as conditions on `item` (a column of SHA-256s);
        the flag and the group are the caller's (they depend on the view and the case).

        In a case, `member` is the item's membership row (a schema.case_items table or alias
        the query reads), and the media type, GPS and dates are tested on what it carries
        (migrations 0015 and 0018, kept by records, checked by verify): the row the grid reads
        anyway, where the latest metadata result's JSON cost 20 us an item (a page of a
        capture month at a million items tested 2,400 of them). These are the times the
        timeline places items by; the results' JSON differs only for a capture time too long
        to be one (CAPTURE_TIME_MOST), which neither counts as dated.

        Only the `driver`'s condition is written so that an index may serve it: "gps", whose
        index reads the items with a position in the grid's order (migration 0022), or
        "dates", when the items captured in the range are few enough to be read by their
        index and sorted. The others are expressions no index serves, and with no driver the
        case is walked in order.
        SQLite's planner, which guesses that a date range keeps a sixty-fourth of a case,
        otherwise read a capture month (42,000 of a million items) by its index and sorted it
        (26 ms) instead of walking the 2,400 memberships that fill a page."""
        if member is not None:
            return self._of_member(dialect, member, driver)
        found: list[ColumnElement[bool]] = []
        if self.type:
            items = schema.items.alias().c  # `item` may be a column of schema.items itself
            # Compared as bytes, as Python's startswith does: SQLite's LIKE ignores case.
            starts = func.substr(items.media_type, 1, len(self.type)) == self.type
            found.append(exists().where(items.sha256 == item, starts))
        if self.gps:
            latitude = _latest_metadata(dialect, item, "gps_latitude", ok_only=False)
            found.append(latitude.is_not(None))
        if self.since or self.until:
            day: ColumnElement[Any] = func.substr(
                _latest_metadata(dialect, item, "capture_time", ok_only=True), 1, 10
            )
            if dialect == "postgresql":  # compared as bytes, as Python compares them
                day = day.collate("C")
            found.append(day.between(self.since or "0000-00-00", self.until or "9999-99-99"))
        return found

    def _of_member(
        self, dialect: str, member: Any, driver: str | None
    ) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.type:
            found.append(func.substr(member.c.media_type, 1, len(self.type)) == self.type)
        if self.gps:
            placed = member.c.has_position
            if driver == "gps":  # `= true`, which PostgreSQL's index serves (IS TRUE it does not)
                found.append(placed == true())
            else:
                found.append(func.coalesce(placed, False).is_(True))
        if self.since or self.until:
            captured = member.c.capture_time
            captured = captured if driver == "dates" else captured.concat("")
            found.append(_captured_between(dialect, self.since, self.until, captured))
        return found

    def apply(
        self,
        conn: Connection,
        items: list[dict[str, Any]],
        flag_of: Mapping[str, str],
        case: str | None,
    ) -> list[dict[str, Any]]:
        """The rows of `items` (each with its "sha256") that pass; `flag_of`: each item's
        current flag in the view the list is of; `case`: the list's case."""
        if self.flag:
            items = [row for row in items if flag_of.get(row["sha256"]) == self.flag]
        dialect, sha256 = conn.dialect.name, schema.items.c.sha256
        conditions = self.conditions(dialect, sha256)
        if conditions and items:
            listed = prebuilt.values(dialect, [row["sha256"] for row in items])
            passing = select(sha256).where(prebuilt.listed(dialect, sha256), *conditions)
            kept = set(conn.execute(passing, {prebuilt.LISTED: listed}).scalars())
            items = [row for row in items if row["sha256"] in kept]
        if self.cluster is not None:
            members = self.group(conn, case)
            items = [row for row in items if row["sha256"] in members]
        return items

    def group(self, conn: Connection, case: str | None) -> set[str]:
        """The items of the near-duplicate group the filter names (none if there is none)."""
        groups = similarity.clusters(conn, case)
        number = self.cluster or 0
        return set(groups[number - 1].items) if 0 < number <= len(groups) else set()


def captures_are_few(conn: Connection, case_id: int, since: str, until: str, most: int) -> bool:
    """Whether no more than `most` of the case's items were captured between `since` and
    `until` (YYYY-MM-DD, inclusive; "" for open), counted in the case's own index on the
    capture time each membership carries (migration 0018), compared as bytes."""
    members = schema.case_items.c
    captured = _captured_between(conn.dialect.name, since, until, members.capture_time)
    dated = select(members.item_sha256).where(members.case_id == case_id, captured)
    return not queries.more_than(conn, dated, most)


# After every character a capture time holds: "2024-03-01" + this is after "2024-03-01T...".
_LAST_CHARACTER = "\U0010ffff"


def _captured_between(
    dialect: str, since: str, until: str, captured: ColumnElement[Any]
) -> ColumnElement[bool]:
    """The capture time a membership carries (`captured`) is on a day between `since` and
    `until` (inclusive; "" for open), compared as bytes, as its index orders them."""
    if dialect == "postgresql":
        captured = captured.collate("C")
    low, high = since or "0000-00-00", (until or "9999-99-99") + _LAST_CHARACTER
    return captured.between(low, high)


def _latest_metadata(
    dialect: str, item: ColumnElement[str], field: str, *, ok_only: bool
) -> ColumnElement[str | None]:
    """A normalised field of the item's latest metadata result (its latest that succeeded,
    when `ok_only`): what docket.similarity.provenance and the item page read."""
    results = schema.results.c
    latest = select(similarity.normalised(dialect, field)).where(
        results.item_sha256 == item, results.step == "metadata"
    )
    if ok_only:
        latest = latest.where(results.status == "ok")
    return latest.order_by(results.id.desc()).limit(1).scalar_subquery()
