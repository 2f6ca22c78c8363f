"""The web app's outer defences, as ASGI middleware around every request (outermost first):

1. Headers on every response: a strict Content-Security-Policy for pages (no script or style
   unless its element carries this request's nonce, `frame-ancestors 'none'`, forms only to
   ourselves), `Referrer-Policy: no-referrer`, `X-Content-Type-Options: nosniff`, and
   `Cache-Control: no-store` (every response is dynamic; an evidence page or preview must
   not stay in a shared or on-disk cache). A response that sets its own policy (originals,
   see docket.web.serving) keeps it.
2. Query strings longer than MAX_QUERY bytes are refused (414) before any route parses them.
3. Cross-site writes are refused: a POST, PUT, PATCH or DELETE must come from our own origin.
   A browser's `Sec-Fetch-Site` must say `same-origin`; an `Origin` header must name our
   origin (the `Host` asked for), and without one so must the `Referer`. Our own pages send
   `Referrer-Policy: no-referrer`, under which browsers send their form posts with `Origin:
   null`; that is accepted only together with `Sec-Fetch-Site: same-origin` (which every
   current browser sends, and which a sandboxed document or another site cannot claim).
   A request with none of these headers is not a browser's (browsers send Origin on every
   cross-site write), so it passes on to the session and CSRF checks. Calls with a Bearer
   token are exempt: browsers never attach one on their own.
4. Limits before work: no request body is read before its sender is known. A write needs a
   valid session cookie or API token (else 401, or the sign-in page for a browser) and a
   body within its cap (else 413): the sign-in form LOGIN_BODY bytes, an upload the locker's
   upload cap, anything else FORM_BODY. Declared lengths are refused up front; a streamed
   body is counted as it arrives and stops with BodyTooLarge at the cap.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response

from docket import accounts
from docket.catalogue.database import reading
from docket.errors import DocketError
from docket.locker import Locker
from docket.web.guard import COOKIE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_QUERY = 8192
LOGIN_BODY = 4096
FORM_BODY = 1 << 20
UPLOAD_PATH = re.compile(r"/cases/[0-9]+/upload")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class BodyTooLarge(DocketError):
    """A request body went past its cap while it was being read."""


def page_policy(nonce: str) -> str:
    """The policy of every page: nothing runs or loads unless it is ours and says so."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "img-src 'self'; media-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


class SecurityHeaders:
    """Layer 1: a fresh nonce in `request.state.csp_nonce`, and the headers on the way out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})["csp_nonce"] = nonce

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", page_policy(nonce))
                headers.setdefault("Cache-Control", "no-store")
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers.setdefault("X-Frame-Options", "DENY")
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Cross-Origin-Resource-Policy"] = "same-origin"
            await send(message)

        await self.app(scope, receive, with_headers)


def _refuse(scope: Scope, status: int, detail: str) -> Response:
    """A JSON refusal for programs; a browser's page request without a session is sent to
    the sign-in page instead."""
    if status == 401 and not str(scope["path"]).startswith("/api"):
        return RedirectResponse("/login", status_code=303)
    return JSONResponse({"detail": detail}, status_code=status)


def same_origin(headers: Headers) -> bool:
    """Whether a write came from our own pages (see layer 3 in the module docstring)."""
    if headers.get("authorization", "").lower().startswith("bearer "):
        return True
    site = headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    origin = headers.get("origin")
    if origin == "null":
        return site == "same-origin"
    if origin is None:
        referer = headers.get("referer")
        if referer is None:
            return True
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    parts = urlsplit(origin)
    host = headers.get("host", "")
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc == host


class Gate:
    """Layers 2 to 4: the query's length, the origin of writes, the sender and size of bodies."""

    def __init__(self, app: ASGIApp, locker: Locker, max_upload: int) -> None:
        self.app, self.locker, self.max_upload = app, locker, max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = await self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        cap = self._cap(scope)
        taken = 0

        async def counted() -> Message:
            nonlocal taken
            message = await receive()
            taken += len(message.get("body", b""))
            if taken > cap:
                raise BodyTooLarge(f"the request body is over its limit of {cap} bytes")
            return message

        await self.app(scope, counted, send)

    def _cap(self, scope: Scope) -> int:
        if scope["path"] == "/login":
            return LOGIN_BODY
        return self.max_upload if UPLOAD_PATH.fullmatch(scope["path"]) else FORM_BODY

    async def _refusal(self, scope: Scope) -> Response | None:
        if len(scope.get("query_string", b"")) > MAX_QUERY:
            return _refuse(scope, 414, f"the query is over {MAX_QUERY} bytes")
        if scope["method"] not in WRITES:
            return None
        headers = Headers(scope=scope)
        if not same_origin(headers):
            return _refuse(scope, 403, "a request from another site is refused")
        if scope["path"] != "/login" and not await anyio.to_thread.run_sync(self._known, headers):
            return _refuse(scope, 401, "sign in first")
        declared = headers.get("content-length", "0")
        if not (declared.isascii() and declared.isdigit()):
            return _refuse(scope, 400, "the request's Content-Length is not a number")
        if int(declared) > self._cap(scope):
            return _refuse(scope, 413, f"the request body is over {self._cap(scope)} bytes")
        return None

    def _known(self, headers: Headers) -> bool:
        """Whether the request carries a valid API token or session (who they are, and what
        they may do, is for the route to decide)."""
        authorization = headers.get("authorization", "")
        cookie = cookie_parser(headers.get("cookie", "")).get(COOKIE, "")
        with reading(self.locker.engine) as conn:
            bearer = authorization.lower().startswith("bearer ")
            if bearer and accounts.token_user(conn, authorization[7:].strip()) is not None:
                return True
            return bool(cookie) and accounts.session_user(conn, cookie) is not None
