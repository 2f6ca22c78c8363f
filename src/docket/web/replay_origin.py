"""The replay origin: a listener of its own that serves ReplayWeb.page and the WACZ of a
revealed capture, and nothing else (docket.web.replay_routes records the reveal).

A replayed page's scripts run in this origin. It holds nothing they could use: no session
(it reads no session cookie, only the interface language's, and sets none), no page of the
app, no other item. Its frame page and the WACZ answer only the holder of a fresh reveal's
ticket (docket.web.tickets), checked against the person's access to the item each time; a
ticket names one person and one item. The app
itself is another origin (another port or host), so the browser keeps the replayed page from
its pages, storage and service worker, and the app's CSRF tokens and same-origin check keep
it from writing there.

Its frame page may be framed only by the app's origin (`frame-ancestors`, which browsers
obey over the X-Frame-Options every response carries). The frame page's
policy allows script, workers, frames, fetches and styles from this origin only; the
replayed page is served by ReplayWeb.page's service worker under its own policy, which keeps
it from the live web.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware

from docket import access, accounts
from docket.catalogue.database import reading
from docket.errors import DocketError, NotFoundError
from docket.locker import Locker
from docket.web import security, tickets
from docket.web.guard import MAX_ID, TEMPLATES, ItemId
from docket.web.serving import evidence_response

DIRECTORY_VARIABLE = "DOCKET_REPLAY_DIR"
VENDORED = Path(__file__).resolve().parents[3] / "vendor" / "replaywebpage"
# The frame page: ReplayWeb.page's script (by this request's nonce), its service worker and
# web worker, its inner frame, its fetches and pictures from this origin; framed by the app.
FRAME_POLICY = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
    "worker-src 'self'; frame-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self' data:; frame-ancestors {app}; base-uri 'none'; form-action 'none'"
)
# What the inner frame's first load finds before the service worker answers (replay_start);
# frame-ancestors speaks for every frame above, the app's page at the top included.
START_POLICY = (
    "default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors 'self' {app}; "
    "base-uri 'none'; form-action 'none'"
)
# The service worker's own fetches (the WACZ, ui.js for the frame) go to this origin only.
WORKER_POLICY = "default-src 'none'; connect-src 'self'; script-src 'self'"
UserId = Annotated[int, Query(ge=1, le=MAX_ID)]
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


class ReplayOriginError(DocketError):
    """The replay origin given to `serve` is not an http(s) origin."""


def origin_of(url: str) -> str:
    """`url` as an origin (scheme://host[:port]); anything more is refused."""
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ReplayOriginError(
            f"{url}: a replay origin is scheme://host:port (http or https), nothing more"
        )
    return f"{parts.scheme}://{parts.netloc}"


def frame_url(origin: str, sha256: str, user_id: int, ticket: str, page: str) -> str:
    """Where the app's replay page points its frame for this reveal."""
    query = urlencode({"user": user_id, "ticket": ticket, "url": page})
    return f"{origin}/frame/{sha256}?{query}"


def _holder(locker: Locker, user_id: int, sha256: str, ticket: str) -> None:
    """The ticket is this person's for this item and fresh, and they may still reveal it."""
    if not tickets.valid(tickets.ticket_key(locker), ticket, user_id, sha256):
        raise access.ForbiddenError("this replay has expired or is not yours; replay it again")
    with reading(locker.engine) as conn:
        user = accounts.user_by_id(conn, user_id)
        if not accounts.is_enabled(conn, user):
            raise access.ForbiddenError("this replay has expired or is not yours; replay it again")
        access.require_item(conn, user, sha256, "reveal")


def ancestors(app_hosts: Sequence[str]) -> str:
    """The CSP sources of the app's pages, which alone may frame the replay: its host names on
    any port and scheme (a reverse proxy may stand in front on another)."""
    names = [f"[{host}]" if ":" in host else host for host in app_hosts]
    return " ".join(f"{scheme}://{name}:*" for name in names for scheme in ("http", "https"))


def create_replay_app(
    locker: Locker, app_hosts: Sequence[str], allowed_hosts: Sequence[str] = ("*",)
) -> FastAPI:
    """The replay origin's app: only the app's pages, on `app_hosts`, may frame it; it
    answers requests for `allowed_hosts`."""
    framed_by = ancestors(app_hosts)
    app = FastAPI(title="Docket replay", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(security.SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.exception_handler(DocketError)
    def on_error(_request: Request, exc: DocketError) -> Response:
        status = {access.ForbiddenError: 403, NotFoundError: 404}.get(type(exc), 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    def script(name: str, headers: dict[str, str] | None = None) -> FileResponse:
        return FileResponse(
            replay_directory() / name, media_type="text/javascript", headers=headers
        )

    @app.get("/replay/ui.js")
    def ui_script() -> Response:
        return script("ui.js")

    @app.get("/replay/sw.js")
    def service_worker() -> Response:
        return script("sw.js", {"Content-Security-Policy": WORKER_POLICY})

    @app.get("/replay/", response_class=HTMLResponse)
    def replay_start(request: Request) -> Response:
        """What the inner frame's first load finds before the service worker controls it (on
        a busy machine it may start late): a page that loads itself again once it runs."""
        return TEMPLATES.TemplateResponse(
            request,
            "replay_start.html",
            {},
            headers={
                "Content-Security-Policy": START_POLICY.format(
                    nonce=request.state.csp_nonce, app=framed_by
                )
            },
        )

    @app.get("/frame/{sha256}", response_class=HTMLResponse)
    def replay_frame(
        request: Request,
        sha256: ItemId,
        user: UserId,
        url: Annotated[str, Query(max_length=8192)] = "",
        ticket: Ticket = "",
    ) -> Response:
        """ReplayWeb.page, reading this item's WACZ; only for the holder of a reveal's ticket."""
        _holder(locker, user, sha256, ticket)
        replay_directory()
        source = f"/wacz/{sha256}?{urlencode({'user': user, 'ticket': ticket})}"
        policy = FRAME_POLICY.format(nonce=request.state.csp_nonce, app=framed_by)
        return TEMPLATES.TemplateResponse(
            request,
            "replay_frame.html",
            {"source": source, "url": url},
            headers={"Content-Security-Policy": policy},
        )

    @app.get("/wacz/{sha256}")
    def capture_archive(sha256: ItemId, user: UserId, ticket: Ticket = "") -> Response:
        """The WACZ, read by ReplayWeb.page's service worker in ranges."""
        _holder(locker, user, sha256, ticket)
        return evidence_response(locker.store, sha256, "application/zip")

    return app
