"""What a tile of the item grid says of each item beyond its name: its kind (picture, video,
archive...), capture date, duration, near-duplicate group in the case, and whether it has a
preview at all (a tile without one shows a placeholder naming its kind, never a broken image).
All facts of the bytes, or of the case's own grouping: nothing another case recorded."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select

from docket import similarity
from docket.catalogue import prebuilt, schema
from docket.custody import log

_KEPT = 16  # cases whose groups are kept at once

KINDS = {
    "image": "picture",
    "video": "video",
    "audio": "sound",
    "application/zip": "archive",
    "application/pdf": "PDF",
    "text/html": "web page",
}


def kind_of(media_type: str) -> str:
    """The word a person uses for a media type ("file" when there is none)."""
    return KINDS.get(media_type) or KINDS.get(media_type.split("/")[0]) or "file"


def describe(conn: Connection, case: str, rows: list[dict[str, Any]]) -> None:
    """Add kind, captured (YYYY-MM-DD or None), duration (s or None), group (number or None)
    and has_preview to each of `rows` (items of `case`)."""
    made = prebuilt.statements(conn, _build)
    shas = {prebuilt.LISTED: prebuilt.values(conn.dialect.name, [row["sha256"] for row in rows])}
    previews = set(conn.execute(made.previews, shas).scalars())
    durations: dict[str, float | None] = {}
    capture_times: dict[str, str | None] = {}
    for sha, captured, seconds in conn.execute(made.metadata, shas):  # the latest result wins
        capture_times[sha] = captured
        durations[sha] = _seconds(seconds)
    hashed = conn.execute(made.hashed, shas | {"quality": similarity.MIN_QUALITY}).first()
    groups = _groups(conn, case) if hashed else {}
    for row in rows:
        sha = row["sha256"]
        captured = capture_times.get(sha)
        row["kind"] = kind_of(str(row["media_type"]))
        row["captured"] = None if captured is None else captured[:10].replace(":", "-")
        row["duration"] = durations.get(sha)
        row["group"] = groups.get(sha)
        row["has_preview"] = sha in previews


@dataclass(frozen=True)
class _Statements:
    previews: Select[Any]  # the items with a safe preview
    metadata: Select[Any]  # capture time and duration of their metadata results, oldest first
    hashed: Select[Any]  # one of them with a perceptual hash good enough to group by, if any


def _build(dialect: str) -> _Statements:
    derivatives, results, hashes = (
        schema.derivatives.c,
        schema.results.c,
        schema.perceptual_hashes.c,
    )
    return _Statements(
        previews=select(derivatives.item_sha256).where(
            prebuilt.listed(dialect, derivatives.item_sha256),
            derivatives.kind == "safe_preview",
        ),
        metadata=select(
            results.item_sha256,
            similarity.normalised(dialect, "capture_time"),
            similarity.normalised(dialect, "duration"),
        )
        .where(
            prebuilt.listed(dialect, results.item_sha256),
            results.step == "metadata",
            results.status == "ok",
        )
        .order_by(results.id),
        # A page of items without one (documents, generated rows) needs no grouping of the case.
        hashed=select(hashes.id)
        .where(prebuilt.listed(dialect, hashes.item_sha256), hashes.quality >= bindparam("quality"))
        .limit(1),
    )


def _seconds(text: str | None) -> float | None:
    """A duration as the database gives it (text on PostgreSQL), or None unless positive."""
    try:
        seconds = float(text) if text is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds > 0 else None


_GROUPS: dict[tuple[str, str, int], dict[str, int]] = {}
_GROUPS_LOCK = threading.Lock()


def _groups(conn: Connection, case: str) -> dict[str, int]:
    """Each grouped item's group number in `case`, kept while the custody log stays the
    size it was: every row grouping reads (hashes, arrivals) is written with an event, so a
    page reads one row to know its groups are current instead of grouping the case again."""
    stamp = (str(conn.engine.url), case, log.size(conn))
    with _GROUPS_LOCK:
        if stamp in _GROUPS:
            return _GROUPS[stamp]
    groups = {sha: g.number for g in similarity.clusters(conn, case) for sha in g.items}
    with _GROUPS_LOCK:
        if len(_GROUPS) >= _KEPT:
            _GROUPS.clear()
        _GROUPS[stamp] = groups
    return groups
