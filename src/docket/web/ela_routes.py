"""The error-level picture (docket.aids.ela) on the item page, under the item preview's rules.

The picture outlines what the original shows, so it is shown as the preview is (docket.protect
.flags): plain only for an item flagged clear in the case it is looked at through, else grey
and blurred beyond recognition; the plain picture of any other item takes a reveal, recorded
in the custody log before a byte is sent, and is then fed to the reveal page by a ticket for
that item's picture only (docket.web.tickets), as a keyframe's reveal is. The blurred copy is
made here from Docket's own PNG (made by Pillow in the sandboxed worker, at most ela.MAX_SIDE
pixels a side, its size checked before it is decoded), never from the original.
"""

from __future__ import annotations

import io
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from PIL import Image, ImageFilter, ImageOps
from sqlalchemy import Connection

from docket import access, scope
from docket.accounts import User
from docket.aids.ela import MAX_SIDE
from docket.aids.results import error_levels_blob
from docket.catalogue.database import reading
from docket.errors import DocketError, NotFoundError
from docket.locker import Locker
from docket.protect import flags
from docket.store import BlobStore
from docket.web import i18n, tickets
from docket.web.guard import MAX_ID, TEMPLATES, ItemId, LockerDep, Person, check_csrf, transaction
from docket.web.serving import SANDBOX, evidence_response

router = APIRouter()
CaseChoice = Annotated[int | None, Query(ge=1, le=MAX_ID)]
SHOWN = "error-level picture (web)"
BLUR_DETAIL = 20  # pixels on the long side the blurred copy keeps, as the safe preview's
BLUR_SIZE = 320
BLUR_RADIUS = 6


def _blob(conn: Connection, sha256: str) -> str:
    blob = error_levels_blob(conn, sha256)
    if blob is None:
        raise NotFoundError(
            f"item {sha256[:12]}: no error-level picture yet (docket aids {sha256[:12]} makes it)"
        )
    return blob


def _blurred(store: BlobStore, blob: str) -> bytes:
    """The error-level picture grey and blurred as the safe preview is (analyse._imaging)."""
    with store.open(blob) as stream, Image.open(stream, formats=["PNG"]) as image:
        if max(image.size) > MAX_SIDE:
            raise DocketError(f"error-level picture {blob[:12]}: larger than Docket makes them")
        grey = ImageOps.grayscale(image)
    tiny = grey.copy()
    tiny.thumbnail((BLUR_DETAIL, BLUR_DETAIL), Image.Resampling.BOX)
    scale = BLUR_SIZE / max(grey.size)
    size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
    out = io.BytesIO()
    blurred = tiny.resize(size, Image.Resampling.BICUBIC).filter(
        ImageFilter.GaussianBlur(BLUR_RADIUS)
    )
    blurred.save(out, "JPEG", quality=85)
    return out.getvalue()


@router.get("/items/{sha256}/error-levels")
def error_levels(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    case: CaseChoice = None,
    ticket: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The picture as the item's preview rule allows it: plain for an item cleared in the
    case, or for the holder of a fresh reveal's ticket; else blurred."""
    with reading(locker.engine) as conn:
        view = scope.of_item(conn, who[0], sha256, "view", case)
        blob = _blob(conn, sha256)
        if ticket:
            access.require_item(conn, who[0], sha256, "reveal")
        plain = flags.may_show_unblurred(conn, sha256, view)
    if ticket:
        if not tickets.valid(
            tickets.ticket_key(locker), ticket, who[0].id, tickets.picture_of(sha256, blob)
        ):
            raise access.ForbiddenError("this reveal has expired or is not yours; reveal it again")
        plain = True
    if plain:
        return evidence_response(locker.store, blob, "image/png")
    headers = {
        "Content-Security-Policy": SANDBOX,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }
    return Response(_blurred(locker.store, blob), media_type="image/jpeg", headers=headers)


def _reveal(
    locker: Locker,
    user: User,
    sha256: str,
    case: int | None,
    page: Request | None = None,
    csrf: str | None = None,
) -> Response:
    """Log the reveal of the error-level picture, then send it (to programs), or (to a page's
    form) the reveal page showing it, fed by a ticket for it alone."""
    with transaction(locker) as conn:
        view = scope.of_item(conn, user, sha256, "reveal", case)
        blob = _blob(conn, sha256)
        flags.reveal(conn, user.name, sha256, SHOWN, view)
        flag = flags.current_flag(conn, sha256, view)
    if page is None:
        return evidence_response(locker.store, blob, "image/png")
    ticket = tickets.issue(tickets.ticket_key(locker), user.id, tickets.picture_of(sha256, blob))
    scoped = {} if view.case_id is None else {"case": str(view.case_id)}
    back = f"/items/{sha256}" + (f"?{urlencode(scoped)}" if scoped else "")
    _ = i18n.words(page)
    title = _("error-level picture of item %(item)s") % {"item": sha256[:12]}
    return TEMPLATES.TemplateResponse(
        page,
        "revealed.html",
        {
            "user": user,
            "csrf": csrf,
            "sha256": sha256,
            "title": title,
            "flag": flag,
            "kind": "picture",
            "opens_inline": True,
            "back": back,
            "media_type": "image/png",
            "source": f"/items/{sha256}/error-levels?{urlencode({**scoped, 'ticket': ticket})}",
            "minutes": tickets.TICKET_SECONDS // 60,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/items/{sha256}/error-levels/reveal")
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


@router.post("/api/items/{sha256}/error-levels/reveal")
def api_reveal(
    request: Request, sha256: ItemId, who: Person, locker: LockerDep, case: CaseChoice = None
) -> Response:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    return _reveal(locker, who[0], sha256, case)
