"""Filters of an item list, the same for the web app's case grid and `docket ls`: media type,
flag, has GPS, capture dates and near-duplicate group (text search is docket.search's).

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

from sqlalchemy import Connection

from docket import similarity
from docket.catalogue.records import latest_result
from docket.errors import DocketError

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


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

    @property
    def narrows(self) -> bool:
        return bool(self.type or self.flag or self.gps or self.since or self.until or self.cluster)

    def apply(
        self,
        conn: Connection,
        items: list[dict[str, Any]],
        flag_of: Mapping[str, str],
        case: str | None,
    ) -> list[dict[str, Any]]:
        """The rows of `items` (each with its "sha256", "media_type") that pass; `flag_of`:
        each item's current flag in the view the list is of; `case`: the list's case."""
        if self.type:
            items = [row for row in items if str(row["media_type"]).startswith(self.type)]
        if self.flag:
            items = [row for row in items if flag_of.get(row["sha256"]) == self.flag]
        if self.gps:
            items = [row for row in items if has_gps(conn, row["sha256"])]
        if self.since or self.until:
            items = self._captured_between(conn, items)
        if self.cluster is not None:
            groups = similarity.clusters(conn, case)
            number = self.cluster
            members = set(groups[number - 1].items) if 0 < number <= len(groups) else set()
            items = [row for row in items if row["sha256"] in members]
        return items

    def _captured_between(
        self, conn: Connection, items: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        for bound in (self.since, self.until):
            if bound and not _DAY.fullmatch(bound):
                raise FilterError(f"{bound!r}: dates are YYYY-MM-DD")
        origins = similarity.provenance(conn, [row["sha256"] for row in items])
        low, high = self.since or "0000-00-00", self.until or "9999-99-99"
        return [
            row
            for row in items
            if (captured := origins[row["sha256"]].capture_time) is not None
            and low <= captured[:10] <= high
        ]


def has_gps(conn: Connection, sha256: str) -> bool:
    found = latest_result(conn, sha256, "metadata")
    normalised = {} if found is None else found["data"].get("normalised", {})
    return normalised.get("gps_latitude") is not None
