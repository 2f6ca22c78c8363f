"""The shadow tool's answer: GET /items/{sha256}/shadow (a page) or /api/items/{sha256}/shadow
(JSON) with the marks made on the item's picture (docket.aids.shadow), for those who may see
the item (docket.scope decides).

Query: base, top, tip as `x,y` picture pixels; optionally `up` (the compass bearing of the
picture's up), and `lat`, `lon`, `date` (YYYY-MM-DD) for the place and day to test, else the
item's own from its metadata, and `at` (ISO 8601 with offset) for the moment to test, else
the item's stated capture time, with `tolerance` (degrees of elevation). The answer: the
implied elevation and direction, the times of that day when the sun stood there with its
direction then, the sun at the item's stated capture time when it is known, and the places
where the shadow fits at the moment (docket.aids.shadow_places; on the page, a world map
drawn offline by docket.web.shadow_map). GET calculates only and records nothing; POST of
the same query (with the form's CSRF token, or the API's header) records the places as the
item's analysis, as `docket shadow-places` does, for those who may annotate the item. Also
serves the tool's script (shadow.js, Docket's own; the item page loads it with its nonce).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import Connection

from docket import scope
from docket.accounts import User
from docket.aids import shadow, shadow_places
from docket.aids._time import Position, position
from docket.aids.consistency import utc_capture
from docket.aids.sun import position_of_sun
from docket.catalogue.database import reading
from docket.catalogue.records import latest_result
from docket.errors import DocketError
from docket.web import i18n
from docket.web.guard import (
    TEMPLATES,
    ItemId,
    LockerDep,
    Person,
    check_csrf,
    may,
    transaction,
)
from docket.web.shadow_map import svg_world

router = APIRouter()
SCRIPT = Path(__file__).with_name("shadow.js")
Mark = Annotated[str, Query(pattern=r"^-?[0-9]{1,6}(\.[0-9]{1,3})?,-?[0-9]{1,6}(\.[0-9]{1,3})?$")]
CaseChoice = Annotated[int | None, Query(ge=1)]
Tolerance = Annotated[float, Query(ge=shadow_places.MIN_TOLERANCE, le=10)]


def _point(text: str) -> shadow.Point:
    x, y = text.split(",")
    return float(x), float(y)


def _place(
    record: dict[str, Any], lat: float | None, lon: float | None, day: str | None
) -> tuple[Position | None, date | None]:
    where = position(record)
    if lat is not None and lon is not None:
        where = Position(lat, lon)
    taken = utc_capture(record)
    when = taken.date() if taken is not None else None
    if day:
        try:
            when = date.fromisoformat(day)
        except ValueError as exc:
            raise DocketError(f"date {day!r} is not YYYY-MM-DD") from exc
    return where, when


@router.get("/api/items/{sha256}/shadow", response_model=None)
@router.get("/items/{sha256}/shadow", response_model=None)
def shadow_answer(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    base: Mark,
    top: Mark,
    tip: Mark,
    up: Annotated[float | None, Query(ge=0, lt=360)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
    at: Annotated[str | None, Query(max_length=40)] = None,
    tolerance: Tolerance = 1.0,
    case: CaseChoice = None,
) -> dict[str, Any] | Response:
    """The answer as JSON under /api, else as a page (the tool's form, which the page's
    policy lets submit to Docket where it would refuse a script's fetch)."""
    with reading(locker.engine) as conn:
        scope.of_item(conn, who[0], sha256, "view", case)
        record = _metadata(conn, sha256)
        may_record = may(conn, who[0], sha256, "annotate")
    answer, fit = _answer(record, (base, top, tip, up), lat, lon, day, at, tolerance)
    return _respond(request, who, sha256, case, answer, fit, may_record)


@router.post("/api/items/{sha256}/shadow", response_model=None)
@router.post("/items/{sha256}/shadow", response_model=None)
def record_answer(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    base: Mark,
    top: Mark,
    tip: Mark,
    up: Annotated[float | None, Query(ge=0, lt=360)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
    at: Annotated[str | None, Query(max_length=40)] = None,
    tolerance: Tolerance = 1.0,
    case: CaseChoice = None,
    csrf: Annotated[str, Form()] = "",
) -> dict[str, Any] | Response:
    """The same answer, its places recorded as the item's analysis (step shadow-places,
    with its custody event), by those who may annotate the item."""
    api = request.url.path.startswith("/api/")
    check_csrf(who[1], request.headers.get("x-csrf-token") if api else csrf)
    with reading(locker.engine) as conn:
        scope.of_item(conn, who[0], sha256, "annotate", case)
        record = _metadata(conn, sha256)
    answer, fit = _answer(record, (base, top, tip, up), lat, lon, day, at, tolerance)
    if fit is None:
        raise DocketError(f"nothing to record: {answer['places_note']}")
    with transaction(locker) as conn:
        view = scope.of_item(conn, who[0], sha256, "annotate", case)
        answer["recorded"] = shadow_places.record(conn, who[0].name, sha256, fit, view.case).seq
    return _respond(request, who, sha256, case, answer, fit, True)


def _metadata(conn: Connection, sha256: str) -> dict[str, Any]:
    found = latest_result(conn, sha256, "metadata")
    return dict((found or {}).get("data", {}).get("raw") or {}) if found else {}


def _answer(
    record: dict[str, Any],
    marked: tuple[str, str, str, float | None],
    lat: float | None,
    lon: float | None,
    day: str | None,
    at: str | None,
    tolerance: float,
) -> tuple[dict[str, Any], shadow_places.Fit | None]:
    base, top, tip, up = marked
    marks = shadow.implied(_point(base), _point(top), _point(tip), up)
    where, when = _place(record, lat, lon, day)
    answer: dict[str, Any] = {
        "elevation": round(marks.elevation, 2),
        "shadow_angle": round(marks.shadow_angle, 2),
        "azimuth": None if marks.azimuth is None else round(marks.azimuth, 2),
        "place": None if where is None else [where.latitude, where.longitude],
        "date": None if when is None else when.isoformat(),
        "times": [],
        "nearest": None,
        "at_capture": None,
    }
    if where is None or when is None:
        answer["note"] = "no place or day: give lat, lon and date"
    else:
        _times(answer, record, where, when, marks)
    return answer, _places(answer, record, where, marks, at, tolerance)


def _respond(
    request: Request,
    who: tuple[User, str | None],
    sha256: str,
    case: int | None,
    answer: dict[str, Any],
    fit: shadow_places.Fit | None,
    may_record: bool,
) -> dict[str, Any] | Response:
    if request.url.path.startswith("/api/"):
        return answer
    direction = i18n.of(request).direction
    context = {
        "user": who[0],
        "csrf": who[1],
        "sha256": sha256,
        "answer": answer,
        "case": case,
        "map": None if fit is None else svg_world(fit, i18n.words(request), direction),
        "may_record": may_record,
        "query": str(request.url.query),
    }
    return TEMPLATES.TemplateResponse(request, "shadow_answer.html", context)


def _places(
    answer: dict[str, Any],
    record: dict[str, Any],
    where: Position | None,
    marks: shadow.Implied,
    at: str | None,
    tolerance: float,
) -> shadow_places.Fit | None:
    """Where the shadow fits at the moment to test, into `answer["places"]`; a reason in
    `answer["places_note"]` when it cannot be said."""
    answer["places"] = None
    moment = utc_capture(record)
    if at:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError as exc:
            raise DocketError(f"at {at!r}: give an ISO 8601 time with its offset") from exc
    if moment is None:
        answer["places_note"] = "no time: give the moment to test (at) to find where it fits"
        return None
    ratio = 1 / math.tan(math.radians(marks.elevation))
    pointing = None if marks.azimuth is None else (marks.azimuth + 180) % 360
    try:
        fit = shadow_places.fit(ratio, moment, pointing, where, tolerance)
    except shadow.ShadowError as exc:
        answer["places_note"] = str(exc)
        return None
    answer["places"] = fit.as_dict()
    return fit


def _times(
    answer: dict[str, Any],
    record: dict[str, Any],
    where: Position,
    when: date,
    marks: shadow.Implied,
) -> None:
    try:
        times = shadow.times_at(where, when, marks.elevation)
    except shadow.ShadowError as exc:  # a day the equations do not cover
        answer["note"] = str(exc)
        return
    answer["times"] = [
        {"time": t.when.isoformat(), "azimuth": round(t.azimuth, 2), "part": t.part} for t in times
    ]
    best = shadow.nearest(times, marks.azimuth)
    answer["nearest"] = None if best is None else best.part
    if not times:
        answer["note"] = "the sun never stands that high there on that day"
    taken = utc_capture(record)
    if taken is not None:
        direction, height = position_of_sun(where, taken)
        answer["at_capture"] = {
            "utc": taken.isoformat(),
            "azimuth": round(direction, 2),
            "elevation": round(height, 2),
        }


@router.get("/shadow/shadow.js", include_in_schema=False)
def script() -> FileResponse:
    return FileResponse(SCRIPT, media_type="text/javascript; charset=utf-8")
