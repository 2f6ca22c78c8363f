"""Items: the detail page, safe previews, reveals of originals and keyframes, flags,
near-duplicates, tags, annotations, approval of a copy for publication and custody-event
inclusion proofs: pages and the same under /api.

Access is decided by docket.access: anyone in one of an item's cases sees it; owners,
investigators and reviewers reveal, flag, tag and annotate it; those who may export it
(owners, investigators) approve its copies for publication. Every reveal is a custody
event before a byte of the original is sent. What an item shows is decided by docket.scope: it
is looked at through one case (`?case=ID`, needed only when it is in several of the person's
cases), and shows that case's records only; flags, tags and annotations set here are that
case's.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, select

from docket import access, incidents, review, scope, similarity
from docket.accounts import User
from docket.aids.results import aid_results
from docket.catalogue import queries, schema
from docket.catalogue.database import reading
from docket.custody import ledger, log, subtrees
from docket.errors import DocketError, NotFoundError
from docket.jobs.redaction import pending as queued_redactions
from docket.locker import Locker
from docket.protect import approval, flags
from docket.web import tickets
from docket.web.guard import (
    MAX_ID,
    TEMPLATES,
    EventSeq,
    FrameNumber,
    ItemId,
    LockerDep,
    Person,
    check_csrf,
    transaction,
)
from docket.web.offline_map import MapPoint, svg_map
from docket.web.serving import evidence_response, shown_inline

router = APIRouter()
# The case an item is looked at through (docket.scope); needed when it is in several of yours.
CaseChoice = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _item_url(sha256: str, view: scope.Scope) -> str:
    return f"/items/{sha256}" + ("" if view.case_id is None else f"?case={view.case_id}")


def _linkable_incidents(conn: Connection, view: scope.Scope) -> list[dict[str, Any]]:
    """Incidents of the case the item is looked at through (where evidence may be linked)."""
    if view.case_id is None:
        return []
    return [{**i, "case_name": view.case} for i in incidents.of_case(conn, view.case_id)]


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


def _item_detail(conn: Connection, view: scope.Scope, sha256: str) -> dict[str, Any]:
    """The item as the case `view` looks through shows it (docket.scope)."""
    events = scope.events_of(conn, view, sha256)
    detail = queries.describe_item(conn, sha256, view.cases, {e.seq for e in events})
    detail["case"] = {"id": view.case_id, "name": view.case}
    detail["flag"] = flags.current_flag(conn, sha256, view)
    detail["events"] = [e.__dict__ for e in events]
    detail["title"] = _title(detail)
    if view.case_id is not None:
        detail["workflow"] = review.statuses_of(conn, [sha256], view)[sha256].__dict__
        detail["workflow_history"] = review.status_history(conn, sha256, view)
    detail["tags"] = review.tags_of(conn, sha256, view)
    detail["annotations"] = review.annotations_of(conn, sha256, view)
    detail["keyframes"] = [time for time, _ in queries.keyframes(conn, sha256)]
    detail["incidents"] = (
        [] if view.case_id is None else incidents.of_item(conn, sha256, view.case_id)
    )
    in_force = approval.approved(conn, sha256, view)
    detail["copies"] = [
        {**c.__dict__, "approved": in_force is not None and in_force.derivative == c.sha256}
        for c in approval.copies(conn, sha256, view, {e.seq for e in events})
    ]
    # Verification aids: facts of the bytes, shared by every case holding them (docket.aids),
    # but an aid a person ran on request is their case's record.
    detail["verification"] = [r.as_dict() for r in aid_results(conn, sha256, view)]
    return detail


def _title(detail: dict[str, Any]) -> str:
    """An item's best name: its first original file name in the case, else its capture time,
    else the start of its hash."""
    for arrival in detail.get("acquisitions") or []:
        name = str(arrival.get("path_in_container") or arrival.get("original_path") or "")
        if name.strip("/"):
            return name.rstrip("/").rsplit("/", 1)[-1]
    captured = (detail.get("metadata") or {}).get("capture_time")
    return f"captured {captured}" if captured else f"item {detail['sha256'][:12]}"


def _near_duplicates(conn: Connection, view: scope.Scope, sha256: str) -> list[dict[str, Any]]:
    """Near-duplicates in the same case (others are not hinted at), as that case knows them
    (its own arrivals date them)."""
    if view.case is None:
        return []
    try:
        found = similarity.similar(conn, sha256, case=view.case)
    except similarity.NoUsableHashError:
        return []
    if not found:
        return []
    names = {
        row["sha256"]: row["name"]
        for row in queries.list_items(conn, view.case, only=[m.item for m in found])
    }
    return [{**m.__dict__, "name": names[m.item]} for m in found if m.item in names]


def _set_flag(locker: Locker, user: User, sha256: str, case: int | None, value: str) -> str:
    with transaction(locker) as conn:
        view = scope.of_item(conn, user, sha256, "annotate", case)
        flags.flag(conn, user.name, sha256, value, view)
        return flags.current_flag(conn, sha256, view)


def _keyframe_blob(conn: Connection, sha256: str, number: int) -> tuple[float | None, str]:
    frames = queries.keyframes(conn, sha256)
    if not 0 <= number < len(frames):
        raise NotFoundError(f"item {sha256[:12]}: no keyframe {number}")
    return frames[number]


def _reveal_keyframe(
    locker: Locker,
    user: User,
    sha256: str,
    number: int,
    case: int | None,
    page: Request | None = None,
    csrf: str | None = None,
) -> Response:
    """Log the reveal of one keyframe, then send it (to programs), or (to a page's form) the
    reveal page showing it, fed by a ticket for that keyframe only (never the original)."""
    with transaction(locker) as conn:
        view = scope.of_item(conn, user, sha256, "reveal", case)
        time, blob = _keyframe_blob(conn, sha256, number)
        flags.reveal(conn, user.name, sha256, f"keyframe at {time} s (web)", view)
        detail = None if page is None else _item_detail(conn, view, sha256)
    if page is None or detail is None:
        return evidence_response(locker.store, blob, "image/jpeg")
    ticket = tickets.issue(tickets.ticket_key(locker), user.id, tickets.picture_of(sha256, blob))
    return TEMPLATES.TemplateResponse(
        page,
        "revealed.html",
        {
            "user": user,
            "csrf": csrf,
            "sha256": sha256,
            "title": f"{detail['title']}, keyframe at {time} s",
            "flag": detail["flag"],
            "kind": "picture",
            "opens_inline": True,
            "back": _item_url(sha256, view),
            "media_type": "image/jpeg",
            "source": f"/items/{sha256}/keyframes/{number}?{urlencode({'ticket': ticket})}",
            "minutes": tickets.TICKET_SECONDS // 60,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/items/{sha256}/keyframes/{number}")
def keyframe_for_page(
    sha256: ItemId,
    number: FrameNumber,
    who: Person,
    locker: LockerDep,
    ticket: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """A keyframe, for the reveal page of it this person was just shown (and logged)."""
    with reading(locker.engine) as conn:
        access.require_item(conn, who[0], sha256, "reveal")
        _, blob = _keyframe_blob(conn, sha256, number)
    shown = tickets.picture_of(sha256, blob)
    if not tickets.valid(tickets.ticket_key(locker), ticket, who[0].id, shown):
        raise access.ForbiddenError("this reveal has expired or is not yours; reveal it again")
    return evidence_response(locker.store, blob, "image/jpeg")


def _kind_shown(media_type: str) -> str:
    """How a reveal page shows an original: picture, video, audio, or file (a link)."""
    if media_type.startswith("image/") and shown_inline(media_type):
        return "picture"
    if media_type.startswith(("video/", "audio/")):
        return media_type.split("/", 1)[0]
    return "file"


def _reveal(
    locker: Locker,
    user: User,
    sha256: str,
    case: int | None,
    page: Request | None = None,
    csrf: str | None = None,
) -> Response:
    """Log the reveal, then send the original (to programs), or (to a page's form) a page
    with the item's header, its content warning and a way back, showing the original fed by
    a ticket: a picture, a player that starts muted for video and audio (the sound of a
    graphic video is exposure too), a link for any other file (sent as evidence_response
    sends it: a sandboxed attachment unless the browser shows it inertly)."""
    with transaction(locker) as conn:
        view = scope.of_item(conn, user, sha256, "reveal", case)
        media_type = str(
            conn.execute(
                select(schema.items.c.media_type).where(schema.items.c.sha256 == sha256)
            ).scalar_one()
        )
        kind = _kind_shown(media_type)
        player = page is not None and kind in ("video", "audio")
        shown = "original (web, muted player)" if player else "original (web)"
        flags.reveal(conn, user.name, sha256, shown, view)
        detail = None if page is None else _item_detail(conn, view, sha256)
    if page is not None and detail is not None:
        ticket = tickets.issue(tickets.ticket_key(locker), user.id, sha256)
        return TEMPLATES.TemplateResponse(
            page,
            "revealed.html",
            {
                "user": user,
                "csrf": csrf,
                "sha256": sha256,
                "title": detail["title"],
                "flag": detail["flag"],
                "kind": kind,
                "opens_inline": shown_inline(media_type),
                "back": _item_url(sha256, view),
                "media_type": media_type,
                "source": f"/items/{sha256}/original?{urlencode({'ticket': ticket})}",
                "minutes": tickets.TICKET_SECONDS // 60,
            },
            headers={"Cache-Control": "no-store"},
        )
    return evidence_response(locker.store, sha256, media_type)


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
    return evidence_response(locker.store, sha256, str(media_type))


# The custody trail on an item's page: its newest events, and older ones by key (?before=).
TRAIL_SHOWN = 100
BeforeEvent = Annotated[int | None, Query(ge=0, le=MAX_ID)]


def _trail_page(
    events: list[dict[str, Any]], before: int | None, link: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The newest TRAIL_SHOWN of the item's events before `before`, and the link to older."""
    earlier = [e for e in events if before is None or e["seq"] < before]
    shown = earlier[-TRAIL_SHOWN:]
    if len(shown) == len(earlier):
        return shown, None
    return shown, link + ("&" if "?" in link else "?") + urlencode({"before": shown[0]["seq"]})


@router.get("/items/{sha256}", response_class=HTMLResponse)
def item_page(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    case: CaseChoice = None,
    before: BeforeEvent = None,
) -> Response:
    with reading(locker.engine) as conn:
        view = scope.of_item(conn, who[0], sha256, "view", case)
        detail = _item_detail(conn, view, sha256)
        role = "owner" if view.case_id is None else access.case_role(conn, who[0], view.case_id)
        may_reveal = role in access.ALLOWED["reveal"]
        may_annotate = role in access.ALLOWED["annotate"] and view.case_id is not None
        may_approve = role in access.ALLOWED["export"] and view.case_id is not None
        similar = _near_duplicates(conn, view, sha256)
        linkable = _linkable_incidents(conn, view) if may_annotate else []
        members = review.assignable(conn, view.case_id) if may_annotate and view.case_id else []
        redactions = queued_redactions(conn, sha256, view.case_id)  # on PostgreSQL's queue
    trail, older = _trail_page(detail["events"], before, _item_url(sha256, view))
    return TEMPLATES.TemplateResponse(
        request,
        "item.html",
        {
            "user": who[0],
            "csrf": who[1],
            "item": detail,
            "flag": detail["flag"],
            "flags": flags.FLAGS,
            "events": trail,
            "older_events": older,
            "may_reveal": may_reveal,
            "may_annotate": may_annotate,
            "may_approve": may_approve,
            "statuses": review.STATUSES,
            "members": members,
            "similar": similar,
            "linkable": linkable,
            "redactions": redactions,
            "map": _item_map(detail),
            "scoped": "" if view.case_id is None else f"?case={view.case_id}",
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
def api_similar(
    sha256: ItemId, who: Person, locker: LockerDep, case: CaseChoice = None
) -> list[dict[str, Any]]:
    with reading(locker.engine) as conn:
        return _near_duplicates(conn, scope.of_item(conn, who[0], sha256, "view", case), sha256)


@router.post("/items/{sha256}/flag")
def flag_page(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    flag: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    case: CaseChoice = None,
) -> Response:
    check_csrf(who[1], csrf)
    _set_flag(locker, who[0], sha256, case, flag)
    suffix = "" if case is None else f"?case={case}"
    return RedirectResponse(f"/items/{sha256}{suffix}", status_code=303)


@router.post("/api/items/{sha256}/flag")
def api_flag(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    body: dict[str, str],
    case: CaseChoice = None,
) -> dict[str, str]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    return {"flag": _set_flag(locker, who[0], sha256, case, str(body.get("flag", "")))}


@router.post("/items/{sha256}/keyframes/{number}/reveal")
def keyframe_page(
    request: Request,
    sha256: ItemId,
    number: FrameNumber,
    who: Person,
    locker: LockerDep,
    csrf: Annotated[str, Form()] = "",
    case: CaseChoice = None,
) -> Response:
    check_csrf(who[1], csrf)
    return _reveal_keyframe(locker, who[0], sha256, number, case, request, who[1])


@router.post("/api/items/{sha256}/keyframes/{number}/reveal")
def api_keyframe(
    request: Request,
    sha256: ItemId,
    number: FrameNumber,
    who: Person,
    locker: LockerDep,
    case: CaseChoice = None,
) -> Response:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    return _reveal_keyframe(locker, who[0], sha256, number, case)


@router.get("/items/{sha256}/safe-preview")
def safe_preview(
    sha256: ItemId, who: Person, locker: LockerDep, case: CaseChoice = None
) -> Response:
    """The blurred, grey preview; the plain thumbnail only for an item a reviewer flagged
    clear in the case it is looked at through (the same rule as the command line's)."""
    with reading(locker.engine) as conn:
        view = scope.of_item(conn, who[0], sha256, "view", case)
        previews = queries.derivative_paths(conn, sha256)
        clear = flags.may_show_unblurred(conn, sha256, view) and "thumbnail" in previews
        blob = previews.get("thumbnail" if clear else "safe_preview")
    if blob is None:
        raise NotFoundError(f"item {sha256[:12]}: no safe preview (not a picture or video)")
    return evidence_response(locker.store, blob, "image/jpeg")


@router.post("/items/{sha256}/reveal")
def reveal_page(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    csrf: Annotated[str, Form()] = "",
    case: CaseChoice = None,
) -> Response:
    check_csrf(who[1], csrf)
    return _reveal(locker, who[0], sha256, case, request, who[1])


@router.get("/api/items/{sha256}")
def api_item(
    sha256: ItemId, who: Person, locker: LockerDep, case: CaseChoice = None
) -> dict[str, Any]:
    with reading(locker.engine) as conn:
        return _item_detail(conn, scope.of_item(conn, who[0], sha256, "view", case), sha256)


@router.post("/api/items/{sha256}/reveal")
def api_reveal(
    request: Request, sha256: ItemId, who: Person, locker: LockerDep, case: CaseChoice = None
) -> Response:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    return _reveal(locker, who[0], sha256, case)


@router.get("/api/events/{seq}/proof")
def api_proof(seq: EventSeq, who: Person, locker: LockerDep) -> dict[str, Any]:
    with reading(locker.engine) as conn:
        event = log.get(conn, seq)
        try:
            if event is None:
                raise NotFoundError("no such event")
            scope.event_scope(conn, who[0], event)
        except NotFoundError:  # never name the item: it may be another case's
            raise NotFoundError(f"event {seq}: no such event") from None
        tree = subtrees.Subtrees(conn)
        proof = ledger.prove_inclusion(conn, locker.origin, seq, tree)
    if tree.learned:  # the first proofs of a part of the log fill the cache
        with transaction(locker) as conn:
            tree.save(conn)
    return proof.as_dict(locker.public_key)


@router.post("/items/{sha256}/tags")
def tag_page(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    tag: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    case: CaseChoice = None,
) -> Response:
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        view = scope.of_item(conn, who[0], sha256, "annotate", case)
        review.add_tag(conn, who[0].name, sha256, tag, view)
    return RedirectResponse(_item_url(sha256, view), status_code=303)


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
    case: CaseChoice = None,
) -> Response:
    check_csrf(who[1], csrf)
    note = _annotation(text, region, start, end)
    with transaction(locker) as conn:
        view = scope.of_item(conn, who[0], sha256, "annotate", case)
        review.annotate(conn, who[0].name, sha256, note, view)
    return RedirectResponse(_item_url(sha256, view), status_code=303)


@router.post("/api/items/{sha256}/tags")
def api_tag(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    body: dict[str, str],
    case: CaseChoice = None,
) -> dict[str, Any]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    with transaction(locker) as conn:
        view = scope.of_item(conn, who[0], sha256, "annotate", case)
        review.add_tag(conn, who[0].name, sha256, str(body.get("tag", "")), view)
        return {"tags": review.tags_of(conn, sha256, view)}


@router.post("/api/items/{sha256}/annotations")
def api_annotate(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    body: dict[str, str],
    case: CaseChoice = None,
) -> dict[str, Any]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    note = _annotation(
        str(body.get("text", "")),
        str(body.get("region", "")),
        str(body.get("start", "")),
        str(body.get("end", "")),
    )
    with transaction(locker) as conn:
        view = scope.of_item(conn, who[0], sha256, "annotate", case)
        return {"id": review.annotate(conn, who[0].name, sha256, note, view)}


def _faces(value: Any) -> int:
    try:
        return int(str(value or 0))
    except ValueError as exc:
        raise DocketError("acknowledged faces: give a whole number") from exc


def _approve(
    locker: Locker,
    user: User,
    sha256: str,
    case: int | None,
    derivative: str | None,
    faces: int = 0,
    note: str | None = None,
) -> scope.Scope:
    """Approve a copy for publication in the case (or revoke, with no derivative): only those
    who may export from the case (docket.access)."""
    with transaction(locker) as conn:
        view = scope.of_item(conn, user, sha256, "export", case)
        if derivative is None:
            approval.revoke(conn, user.name, sha256, view)
        else:
            approval.approve(conn, user.name, sha256, derivative, view, faces, note or None)
    return view


@router.post("/items/{sha256}/approval")
def approve_page(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    derivative: Annotated[str, Form(max_length=64)] = "",
    acknowledge_faces: Annotated[str, Form(max_length=8)] = "0",
    note: Annotated[str, Form(max_length=2000)] = "",
    revoke: Annotated[str, Form(max_length=1)] = "",
    csrf: Annotated[str, Form()] = "",
    case: CaseChoice = None,
) -> Response:
    check_csrf(who[1], csrf)
    chosen = None if revoke else derivative
    view = _approve(locker, who[0], sha256, case, chosen, _faces(acknowledge_faces), note)
    return RedirectResponse(_item_url(sha256, view), status_code=303)


@router.post("/api/items/{sha256}/approval")
def api_approve(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    body: dict[str, str | int | bool | None],
    case: CaseChoice = None,
) -> dict[str, Any]:
    """{"derivative": SHA-256 prefix, "acknowledged_faces": N, "note": text}, or
    {"revoke": true}; answers the item's copies as the case now sees them."""
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    chosen = None if body.get("revoke") is True else str(body.get("derivative") or "")
    note = body.get("note")
    view = _approve(
        locker,
        who[0],
        sha256,
        case,
        chosen,
        _faces(body.get("acknowledged_faces")),
        None if note is None else str(note),
    )
    with reading(locker.engine) as conn:
        return {"copies": _item_detail(conn, view, sha256)["copies"]}
