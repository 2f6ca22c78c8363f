"""Replay of a captured page inside Docket, offline: ReplayWeb.page (its npm package's ui.js
and sw.js, fetched at set-up by `make replay` into vendor/replaywebpage/, or found at
$DOCKET_REPLAY_DIR; AGPL-3.0, so never part of this repository) served by Docket itself, so
nothing is loaded from the internet.

A replay is a reveal: `POST /items/{sha256}/replay` checks that the person may reveal the item
in the case it is looked at through (docket.scope) and that it is a capture's WACZ in that case,
records `item.revealed` (shown: "capture replay (web)") before a byte of the WACZ is sent, and
answers a page of our own strict policy holding a sandboxed frame. The frame's page runs
ReplayWeb.page, whose service worker (/replay/sw.js, scope /replay/) reads the WACZ by URL in
ranges; the frame page and the WACZ need the person's session and a ticket of that reveal
(docket.web.tickets), so neither answers anyone who was not just shown it.

Off unless `docket serve --replay-same-origin`: the replayed page's own scripts run in this
origin, kept from the app only by ReplayWeb.page's rewriting, so a hostile capture that
escaped it could act as the reviewer. Serving replay from a separate origin that knows no
session is the fix still to come.

The frame is sandboxed to `allow-scripts allow-same-origin`, the least ReplayWeb.page runs
with: a service worker can only be registered by a document of a real origin. No forms,
pop-ups, downloads or top navigation. The frame page's own policy (FRAME_POLICY) allows
script, workers, frames, fetches and styles from our origin only; the replayed page is served
by the service worker under ReplayWeb.page's own policy, which keeps it from the live web.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import Connection, select

from docket import access, scope
from docket.accounts import User
from docket.catalogue import schema
from docket.catalogue.database import reading
from docket.errors import DocketError, NotFoundError
from docket.protect import flags
from docket.web import tickets
from docket.web.guard import MAX_ID, TEMPLATES, ItemId, LockerDep, Person, check_csrf, transaction
from docket.web.security import page_policy
from docket.web.serving import evidence_response


def _offered(request: Request) -> None:
    """Replay answers only when `serve --replay-same-origin` asked for it (create_app): the
    replayed page's scripts run in this origin, sandboxed by ReplayWeb.page's rewriting alone."""
    if not request.app.state.replay:
        raise NotFoundError("replay of captured pages is off (serve --replay-same-origin)")


router = APIRouter(dependencies=[Depends(_offered)])
DIRECTORY_VARIABLE = "DOCKET_REPLAY_DIR"
VENDORED = Path(__file__).resolve().parents[3] / "vendor" / "replaywebpage"
SHOWN = "capture replay (web)"
# The frame page: ReplayWeb.page's script (by this request's nonce), its service worker and
# web worker, its inner frame, its fetches and pictures from our own origin; nothing else.
FRAME_POLICY = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
    "worker-src 'self'; frame-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self' data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
# What the frame's first load finds before the service worker answers (see replay_start).
START_POLICY = (
    "default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors 'self'; base-uri 'none'; "
    "form-action 'none'"
)
# The service worker's own fetches (the WACZ, ui.js for the frame) go to our origin only.
WORKER_POLICY = "default-src 'none'; connect-src 'self'; script-src 'self'"
CaseChoice = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Ticket = Annotated[str, Query(max_length=200)]


class ReplayMissingError(DocketError):
    """ReplayWeb.page's files are not where Docket looks for them."""


def replay_directory() -> Path:
    """The folder holding ReplayWeb.page's ui.js and sw.js, or a one-line refusal saying how
    to get them."""
    folder = Path(os.environ.get(DIRECTORY_VARIABLE) or VENDORED)
    if not ((folder / "ui.js").is_file() and (folder / "sw.js").is_file()):
        raise ReplayMissingError(
            f"{folder}: ReplayWeb.page is not there (no ui.js and sw.js); run `make replay` "
            f"or set {DIRECTORY_VARIABLE} to the folder of its npm package"
        )
    return folder


def _captured_page(conn: Connection, sha256: str, view: scope.Scope) -> str:
    """The URL of the page a capture's WACZ holds, from its acquisition in the case looked
    through; an item that is no capture's WACZ there is refused."""
    acquisitions = schema.acquisitions.c
    found = conn.execute(
        select(acquisitions.url_of_origin, acquisitions.case_id)
        .where(acquisitions.item_sha256 == sha256, acquisitions.method == "capture")
        .where(acquisitions.container_sha256.is_(None))
        .order_by(acquisitions.id)
    ).all()
    urls = [str(url) for url, case_id in found if view.shows(case_id) and url]
    if not urls:
        raise NotFoundError(f"item {sha256[:12]}: not a captured page's WACZ; nothing to replay")
    return urls[0]


def _ticket_holder(locker: LockerDep, user: User, sha256: str, ticket: str) -> None:
    with reading(locker.engine) as conn:
        access.require_item(conn, user, sha256, "reveal")
    if not tickets.valid(tickets.ticket_key(locker), ticket, user.id, sha256):
        raise access.ForbiddenError("this replay has expired or is not yours; replay it again")


def _script(name: str, headers: dict[str, str] | None = None) -> FileResponse:
    return FileResponse(replay_directory() / name, media_type="text/javascript", headers=headers)


@router.get("/replay/ui.js", include_in_schema=False)
def ui_script() -> Response:
    return _script("ui.js")


@router.get("/replay/sw.js", include_in_schema=False)
def service_worker() -> Response:
    return _script("sw.js", {"Content-Security-Policy": WORKER_POLICY})


@router.get("/replay/", response_class=HTMLResponse, include_in_schema=False)
def replay_start(request: Request, who: Person) -> Response:
    """What the frame's first load finds before the service worker controls it (on a busy
    machine it may start late): a page that may be framed by ours and loads itself again once
    the service worker runs, which answers then."""
    return TEMPLATES.TemplateResponse(
        request,
        "replay_start.html",
        {},
        headers={
            "Content-Security-Policy": START_POLICY.format(nonce=request.state.csp_nonce),
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@router.post("/items/{sha256}/replay", response_class=HTMLResponse)
def replay_page(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    csrf: Annotated[str, Form()] = "",
    case: CaseChoice = None,
) -> Response:
    """The reveal: logged, then the page holding the sandboxed replay frame."""
    check_csrf(who[1], csrf)
    replay_directory()  # say it is missing before a reveal is recorded for nothing
    with transaction(locker) as conn:
        view = scope.of_item(conn, who[0], sha256, "reveal", case)
        page = _captured_page(conn, sha256, view)
        flags.reveal(conn, who[0].name, sha256, SHOWN, view)
    ticket = tickets.issue(tickets.ticket_key(locker), who[0].id, sha256)
    query = {"ticket": ticket, "url": page}
    # Our pages' policy (docket.web.security), with frames from our own origin allowed.
    policy = page_policy(request.state.csp_nonce) + "; frame-src 'self'"
    return TEMPLATES.TemplateResponse(
        request,
        "replay.html",
        {
            "user": who[0],
            "csrf": who[1],
            "sha256": sha256,
            "page": page,
            "frame": f"/items/{sha256}/replay-frame?{urlencode(query)}",
            "minutes": tickets.TICKET_SECONDS // 60,
            "scoped": "" if view.case_id is None else f"?case={view.case_id}",
        },
        headers={"Content-Security-Policy": policy},
    )


@router.get("/items/{sha256}/replay-frame", response_class=HTMLResponse)
def replay_frame(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    url: Annotated[str, Query(max_length=8192)] = "",
    ticket: Ticket = "",
) -> Response:
    """ReplayWeb.page, reading this item's WACZ; only for the holder of a reveal's ticket."""
    _ticket_holder(locker, who[0], sha256, ticket)
    replay_directory()
    source = f"/items/{sha256}/capture.wacz?{urlencode({'ticket': ticket})}"
    return TEMPLATES.TemplateResponse(
        request,
        "replay_frame.html",
        {"source": source, "url": url},
        headers={
            "Content-Security-Policy": FRAME_POLICY.format(nonce=request.state.csp_nonce),
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@router.get("/items/{sha256}/capture.wacz")
def capture_archive(
    sha256: ItemId, who: Person, locker: LockerDep, ticket: Ticket = ""
) -> Response:
    """The WACZ, read by ReplayWeb.page's service worker in ranges."""
    _ticket_holder(locker, who[0], sha256, ticket)
    return evidence_response(locker.store.path(sha256), "application/zip", sha256)
