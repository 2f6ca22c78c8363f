"""Replay of a captured page inside Docket, offline: ReplayWeb.page (its npm package's ui.js
and sw.js, fetched at set-up by `make replay` into vendor/replaywebpage/, or found at
$DOCKET_REPLAY_DIR; AGPL-3.0, so never part of this repository) served by Docket itself, so
nothing is loaded from the internet.

A replay is a reveal: `POST /items/{sha256}/replay` checks that the person may reveal the item
in the case it is looked at through (docket.scope) and that it is a capture's WACZ in that case,
records `item.revealed` (shown: "capture replay (web)") before a byte of the WACZ is sent, and
answers a page of our own strict policy holding a sandboxed frame from the replay origin
(docket.web.replay_origin): a listener of its own, another origin than the app's, where the
replayed page's scripts run with no session and nothing of the app within reach. The frame and
the WACZ there answer only the holder of this reveal's ticket.

The frame is sandboxed to `allow-scripts allow-same-origin`, the least ReplayWeb.page runs
with: a service worker can only be registered by a document of a real origin (the replay
origin's own, not the app's). No forms, pop-ups, downloads or top navigation.

Replay is offered when `serve` starts the replay origin (by default on the next port).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection, select

from docket import scope
from docket.catalogue import schema
from docket.errors import NotFoundError
from docket.protect import flags
from docket.web import tickets
from docket.web.guard import MAX_ID, TEMPLATES, ItemId, LockerDep, Person, check_csrf, transaction
from docket.web.replay_origin import frame_url, replay_directory
from docket.web.security import page_policy


def _offered(request: Request) -> None:
    """Replay answers only when the replay origin runs (`serve`, create_app's replay_origin)."""
    if not request.app.state.replay:
        raise NotFoundError("replay of captured pages is off (serve --no-replay, or no origin)")


router = APIRouter(dependencies=[Depends(_offered)])
SHOWN = "capture replay (web)"
CaseChoice = Annotated[int | None, Query(ge=1, le=MAX_ID)]


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


@router.post("/items/{sha256}/replay", response_class=HTMLResponse)
def replay_page(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    csrf: Annotated[str, Form()] = "",
    case: CaseChoice = None,
) -> Response:
    """The reveal: logged, then the page holding the sandboxed frame from the replay origin."""
    check_csrf(who[1], csrf)
    replay_directory()  # say it is missing before a reveal is recorded for nothing
    with transaction(locker) as conn:
        view = scope.of_item(conn, who[0], sha256, "reveal", case)
        page = _captured_page(conn, sha256, view)
        flags.reveal(conn, who[0].name, sha256, SHOWN, view)
    ticket = tickets.issue(tickets.ticket_key(locker), who[0].id, sha256)
    origin: str = request.app.state.replay
    # Our pages' policy (docket.web.security), with frames from the replay origin allowed.
    policy = page_policy(request.state.csp_nonce) + f"; frame-src {origin}"
    return TEMPLATES.TemplateResponse(
        request,
        "replay.html",
        {
            "user": who[0],
            "csrf": who[1],
            "sha256": sha256,
            "page": page,
            "frame": frame_url(origin, sha256, who[0].id, ticket, page),
            "minutes": tickets.TICKET_SECONDS // 60,
            "scoped": "" if view.case_id is None else f"?case={view.case_id}",
        },
        headers={"Content-Security-Policy": policy},
    )
