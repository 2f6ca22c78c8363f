"""Items: the detail page, safe previews, reveals of originals and keyframes, flags,
near-duplicates, tags, annotations and custody-event inclusion proofs: pages and the same
under /api.

Access is decided by docket.access: anyone in one of an item's cases sees it; owners,
investigators and reviewers reveal, flag, tag and annotate it. Every reveal is a custody
event before a byte of the original is sent.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, select

from docket import access, incidents, review, similarity
from docket.accounts import User
from docket.catalogue import queries, schema
from docket.catalogue.database import reading
from docket.custody import ledger, log
from docket.errors import DocketError, NotFoundError
from docket.locker import Locker
from docket.protect import flags
from docket.web import tickets
from docket.web.guard import (
    TEMPLATES,
    EventSeq,
    FrameNumber,
    ItemId,
    LockerDep,
    Person,
    check_csrf,
    may,
    transaction,
)
from docket.web.offline_map import MapPoint, svg_map

router = APIRouter()
HIDDEN = "(an event of a case you are not in)"


def _may_view_incident(conn: Connection, user: User, incident_id: int) -> bool:
    try:
        access.require_incident(conn, user, incident_id, "view")
    except DocketError:
        return False
    return True


def _linkable_incidents(conn: Connection, user: User, cases: list[str]) -> list[dict[str, Any]]:
    """Incidents of the item's cases in which this person may link evidence."""
    found = []
    for case_id, name, role in access.visible_cases(conn, user):
        if name in cases and role in access.ALLOWED["annotate"]:
            found += [{**i, "case_name": name} for i in incidents.of_case(conn, case_id)]
    return found


def _annotation(text: str, region: str, start: str, end: str) -> review.Annotation:
    try:
        box = tuple(int(v) for v in region.split(",")) if region.strip() else None
        begin = float(start) if start.strip() else None
        finish = float(end) if end.strip() else None
    except ValueError as exc:
        raise DocketError("region is x,y,w,h in pixels; start and end are seconds") from exc
    if box is not None and len(box) != 4:
        raise DocketError("region is x,y,w,h in pixels")
    kind = "region" if box else "span" if begin is not None or finish is not None else "note"
    return review.Annotation(kind, text, box, begin, finish)


def _item_detail(conn: Connection, user: User, sha256: str) -> dict[str, Any]:
    access.require_item(conn, user, sha256, "view")
    detail = queries.describe_item(conn, sha256)
    if not user.is_admin:  # the other cases holding it are not this person's to know
        detail["cases"] = sorted(set(detail["cases"]) & access.visible_case_names(conn, user))
    detail["flag"] = flags.current_flag(conn, sha256)
    detail["events"] = [
        e.__dict__
        if access.event_visible(conn, user, e)
        else {"seq": e.seq, "time": e.time, "actor": "", "action": HIDDEN, "details": {}}
        for e in log.events(conn, sha256)
    ]
    hidden = {e["seq"] for e in detail["events"] if e["action"] == HIDDEN}
    detail["acquisitions"] = [a for a in detail["acquisitions"] if a["event"] not in hidden]
    detail["tags"] = review.tags_of(conn, sha256)
    detail["annotations"] = review.annotations_of(conn, sha256)
    detail["keyframes"] = [time for time, _ in queries.keyframes(conn, sha256)]
    detail["incidents"] = [
        link
        for link in incidents.of_item(conn, sha256)
        if _may_view_incident(conn, user, link["incident"])
    ]
    return detail


def _near_duplicates(conn: Connection, user: User, sha256: str) -> list[dict[str, Any]]:
    """Near-duplicates this person may see (others are not hinted at)."""
    try:
        found = similarity.similar(conn, sha256)
    except similarity.NoUsableHashError:
        return []
    visible = [m for m in found if may(conn, user, m.item, "view")]
    names = {
        row["sha256"]: row["name"]
        for row in queries.list_items(conn, only=[m.item for m in visible])
    }
    return [{**m.__dict__, "name": names.get(m.item, "")} for m in visible]


def _set_flag(locker: Locker, user: User, sha256: str, value: str) -> str:
    with transaction(locker) as conn:
        access.require_item(conn, user, sha256, "annotate")
        flags.flag(conn, user.name, sha256, value)
        return flags.current_flag(conn, sha256)


def _reveal_keyframe(locker: Locker, user: User, sha256: str, number: int) -> Response:
    with transaction(locker) as conn:
        access.require_item(conn, user, sha256, "reveal")
        frames = queries.keyframes(conn, sha256)
        if not 0 <= number < len(frames):
            raise NotFoundError(f"item {sha256[:12]}: no keyframe {number}")
        time, blob = frames[number]
        flags.reveal(conn, user.name, sha256, f"keyframe at {time} s (web)")
    return FileResponse(
        locker.store.path(blob), media_type="image/jpeg", headers={"Cache-Control": "no-store"}
    )


def _reveal(
    locker: Locker, user: User, sha256: str, page: Request | None = None, csrf: str | None = None
) -> Response:
    """Log the reveal, then send the original; a page request for a video gets a player
    that starts muted (the sound of a graphic video is exposure too), fed by a ticket."""
    with transaction(locker) as conn:
        access.require_item(conn, user, sha256, "reveal")
        media_type = str(
            conn.execute(
                select(schema.items.c.media_type).where(schema.items.c.sha256 == sha256)
            ).scalar_one()
        )
        player = page is not None and media_type.startswith("video/")
        shown = "original (web, muted player)" if player else "original (web)"
        flags.reveal(conn, user.name, sha256, shown)
    if page is not None and player:
        ticket = tickets.issue(tickets.ticket_key(locker), user.id, sha256)
        return TEMPLATES.TemplateResponse(
            page,
            "revealed_video.html",
            {
                "user": user,
                "csrf": csrf,
                "sha256": sha256,
                "media_type": media_type,
                "source": f"/items/{sha256}/original?{urlencode({'ticket': ticket})}",
                "minutes": tickets.TICKET_SECONDS // 60,
            },
            headers={"Cache-Control": "no-store"},
        )
    return FileResponse(
        locker.store.path(sha256), media_type=media_type, headers={"Cache-Control": "no-store"}
    )


@router.get("/items/{sha256}/original")
def original_for_player(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    ticket: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The original, for the player of a reveal this person was just shown (and logged)."""
    with reading(locker.engine) as conn:
        access.require_item(conn, who[0], sha256, "reveal")
        media_type = conn.execute(
            select(schema.items.c.media_type).where(schema.items.c.sha256 == sha256)
        ).scalar_one()
    if not tickets.valid(tickets.ticket_key(locker), ticket, who[0].id, sha256):
        raise access.ForbiddenError("this reveal has expired or is not yours; reveal it again")
    return FileResponse(
        locker.store.path(sha256), media_type=str(media_type), headers={"Cache-Control": "no-store"}
    )


@router.get("/items/{sha256}", response_class=HTMLResponse)
def item_page(request: Request, sha256: ItemId, who: Person, locker: LockerDep) -> Response:
    with reading(locker.engine) as conn:
        detail = _item_detail(conn, who[0], sha256)
        may_reveal = may(conn, who[0], sha256, "reveal")
        may_annotate = may(conn, who[0], sha256, "annotate")
        similar = _near_duplicates(conn, who[0], sha256)
        linkable = _linkable_incidents(conn, who[0], detail["cases"]) if may_annotate else []
    return TEMPLATES.TemplateResponse(
        request,
        "item.html",
        {
            "user": who[0],
            "csrf": who[1],
            "item": detail,
            "flag": detail["flag"],
            "flags": flags.FLAGS,
            "events": detail["events"],
            "may_reveal": may_reveal,
            "may_annotate": may_annotate,
            "similar": similar,
            "linkable": linkable,
            "map": _item_map(detail),
        },
    )


def _item_map(detail: dict[str, Any]) -> str | None:
    """Where the metadata says the picture was taken, drawn offline (no tiles)."""
    metadata = detail.get("metadata") or {}
    lat, lon = metadata.get("gps_latitude"), metadata.get("gps_longitude")
    if lat is None or lon is None:
        return None
    return svg_map([MapPoint(float(lat), float(lon), "GPS position in the metadata")])


@router.get("/api/items/{sha256}/similar")
def api_similar(sha256: ItemId, who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    with reading(locker.engine) as conn:
        access.require_item(conn, who[0], sha256, "view")
        return _near_duplicates(conn, who[0], sha256)


@router.post("/items/{sha256}/flag")
def flag_page(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    flag: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who[1], csrf)
    _set_flag(locker, who[0], sha256, flag)
    return RedirectResponse(f"/items/{sha256}", status_code=303)


@router.post("/api/items/{sha256}/flag")
def api_flag(
    request: Request, sha256: ItemId, who: Person, locker: LockerDep, body: dict[str, str]
) -> dict[str, str]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    return {"flag": _set_flag(locker, who[0], sha256, str(body.get("flag", "")))}


@router.post("/items/{sha256}/keyframes/{number}/reveal")
def keyframe_page(
    sha256: ItemId,
    number: FrameNumber,
    who: Person,
    locker: LockerDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who[1], csrf)
    return _reveal_keyframe(locker, who[0], sha256, number)


@router.post("/api/items/{sha256}/keyframes/{number}/reveal")
def api_keyframe(
    request: Request, sha256: ItemId, number: FrameNumber, who: Person, locker: LockerDep
) -> Response:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    return _reveal_keyframe(locker, who[0], sha256, number)


@router.get("/items/{sha256}/safe-preview")
def safe_preview(sha256: ItemId, who: Person, locker: LockerDep) -> Response:
    """The blurred, grey preview; the plain thumbnail only for an item a reviewer flagged
    clear (the same rule as the command line's)."""
    with reading(locker.engine) as conn:
        access.require_item(conn, who[0], sha256, "view")
        previews = queries.derivative_paths(conn, sha256)
        clear = flags.may_show_unblurred(conn, sha256) and "thumbnail" in previews
        blob = previews.get("thumbnail" if clear else "safe_preview")
    if blob is None:
        raise NotFoundError(f"item {sha256[:12]}: no safe preview (not a picture or video)")
    return FileResponse(locker.store.path(blob), media_type="image/jpeg")


@router.post("/items/{sha256}/reveal")
def reveal_page(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who[1], csrf)
    return _reveal(locker, who[0], sha256, request, who[1])


@router.get("/api/items/{sha256}")
def api_item(sha256: ItemId, who: Person, locker: LockerDep) -> dict[str, Any]:
    with reading(locker.engine) as conn:
        return _item_detail(conn, who[0], sha256)


@router.post("/api/items/{sha256}/reveal")
def api_reveal(request: Request, sha256: ItemId, who: Person, locker: LockerDep) -> Response:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    return _reveal(locker, who[0], sha256)


@router.get("/api/events/{seq}/proof")
def api_proof(seq: EventSeq, who: Person, locker: LockerDep) -> dict[str, Any]:
    with reading(locker.engine) as conn:
        event = log.get(conn, seq)
        if event is None or (event.item is None and not who[0].is_admin):
            raise NotFoundError(f"event {seq}: no such event")
        if event.item is not None:
            access.require_item(conn, who[0], event.item, "view")
        if not access.event_visible(conn, who[0], event):
            raise NotFoundError(f"event {seq}: no such event")
        proof = ledger.prove_inclusion(conn, locker.origin, seq)
    return proof.as_dict(locker.public_key)


@router.post("/items/{sha256}/tags")
def tag_page(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    tag: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        access.require_item(conn, who[0], sha256, "annotate")
        review.add_tag(conn, who[0].name, sha256, tag)
    return RedirectResponse(f"/items/{sha256}", status_code=303)


@router.post("/items/{sha256}/annotations")
def annotate_page(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    text: Annotated[str, Form()],
    region: Annotated[str, Form()] = "",
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who[1], csrf)
    note = _annotation(text, region, start, end)
    with transaction(locker) as conn:
        access.require_item(conn, who[0], sha256, "annotate")
        review.annotate(conn, who[0].name, sha256, note)
    return RedirectResponse(f"/items/{sha256}", status_code=303)


@router.post("/api/items/{sha256}/tags")
def api_tag(
    request: Request, sha256: ItemId, who: Person, locker: LockerDep, body: dict[str, str]
) -> dict[str, Any]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    with transaction(locker) as conn:
        access.require_item(conn, who[0], sha256, "annotate")
        review.add_tag(conn, who[0].name, sha256, str(body.get("tag", "")))
        return {"tags": review.tags_of(conn, sha256)}


@router.post("/api/items/{sha256}/annotations")
def api_annotate(
    request: Request, sha256: ItemId, who: Person, locker: LockerDep, body: dict[str, str]
) -> dict[str, Any]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    note = _annotation(
        str(body.get("text", "")),
        str(body.get("region", "")),
        str(body.get("start", "")),
        str(body.get("end", "")),
    )
    with transaction(locker) as conn:
        access.require_item(conn, who[0], sha256, "annotate")
        return {"id": review.annotate(conn, who[0].name, sha256, note)}
