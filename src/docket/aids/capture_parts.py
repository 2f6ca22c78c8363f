"""The web captures an item belongs to, each with all its parts together, as recorded.

A capture (docket.capture) records one acquisition per part, method `capture`: the WACZ with
no container, and the screenshot, the PDF print and each image and video inside it (their
container is the WACZ's SHA-256, their path in it the part's name: `screenshot.png`,
`print.pdf`, or the media's own URL). Seeing the parts side by side is context for weighing
any one of them: the page a picture came from, when it was taken from it, and what else the
page held. Only acquisitions of the cases shown are read (docket.scope decides which).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from docket.catalogue import schema
from docket.catalogue.queries import in_cases

METHOD = "capture"  # docket.capture.run.METHOD (importing it would load the browser's tools)
NAMED = {"screenshot.png": "screenshot", "print.pdf": "print"}


@dataclass(frozen=True)
class CapturedPart:
    kind: str  # wacz, screenshot, print, image, video, audio, other
    sha256: str
    media_type: str
    url: str | None  # the page's final URL (WACZ, screenshot, print) or the media's own
    collected_at: str | None  # the capture time

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Captured:
    wacz: str  # its SHA-256
    url_asked: str
    parts: tuple[CapturedPart, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "wacz": self.wacz,
            "url_asked": self.url_asked,
            "parts": [p.as_dict() for p in self.parts],
        }


def _kind(container: str | None, name: str | None, media_type: str) -> str:
    if container is None:
        return "wacz"
    if name in NAMED:
        return NAMED[name]
    top = media_type.split("/", 1)[0]
    return top if top in ("image", "video", "audio") else "other"


def captures_of(
    conn: Connection, sha256: str, cases_shown: Collection[int | None] | None = None
) -> list[Captured]:
    """Every capture holding the item (as a part, or as its WACZ), oldest first; of the cases
    `cases_shown` only (a docket.scope view's `cases`), or of every case when None."""
    acq = schema.acquisitions.c
    mine = select(acq.container_sha256, acq.item_sha256).where(
        acq.item_sha256 == sha256, acq.method == METHOD
    )
    if cases_shown is not None:
        mine = mine.where(in_cases(acq.case_id, cases_shown))
    containers = sorted({c if c is not None else item for c, item in conn.execute(mine)})
    if not containers:
        return []
    query = (
        select(
            acq.item_sha256,
            acq.container_sha256,
            acq.path_in_container,
            acq.url_of_origin,
            acq.collected_at,
            acq.original_path,
            schema.items.c.media_type,
        )
        .join(schema.items, schema.items.c.sha256 == acq.item_sha256)
        .where(
            acq.method == METHOD,
            or_(
                acq.container_sha256.in_(containers),
                and_(acq.container_sha256.is_(None), acq.item_sha256.in_(containers)),
            ),
        )
        .order_by(acq.id)
    )
    if cases_shown is not None:
        query = query.where(in_cases(acq.case_id, cases_shown))
    found: dict[str, list[Any]] = {container: [] for container in containers}
    asked: dict[str, str] = {}
    for row in conn.execute(query).mappings():
        wacz = row["container_sha256"] or row["item_sha256"]
        asked.setdefault(wacz, str(row["original_path"]))
        part = CapturedPart(
            _kind(row["container_sha256"], row["path_in_container"], str(row["media_type"])),
            str(row["item_sha256"]),
            str(row["media_type"]),
            row["url_of_origin"],
            row["collected_at"],
        )
        if part not in found[wacz]:  # the same bytes captured twice into one WACZ: once
            found[wacz].append(part)
    captured = [Captured(w, asked.get(w, ""), tuple(p)) for w, p in found.items() if p]
    return sorted(captured, key=lambda c: (c.parts[0].collected_at or "", c.wacz))
