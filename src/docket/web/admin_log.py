"""Admins see every case, and that is logged: the first time in a sign-in that an admin enters
a case they are not a member of (docket.access notes it, for pages and API alike), a
`case.read_by_admin` custody event names the admin, the case and the request, and it is
durable before the answer's first byte is sent; if it cannot be written, nothing is sent.

Once per admin, case and sign-in (a session cookie or an API token), not once per request: an
admin browsing a case would otherwise bury the log under their page views. The sign-ins
already logged are kept in this process's memory (as digests), so a restarted server logs
each of them once more. The event joins the process's group commit (web.guard.transaction), as
every other write of a request does, and is answered after that commit is durable.
"""

from __future__ import annotations

import hashlib
import threading

import anyio.to_thread
from sqlalchemy import select
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docket import access
from docket.catalogue import schema
from docket.custody import log
from docket.locker import Locker
from docket.web.guard import COOKIE, transaction


def _sign_in(scope: Scope) -> str:
    """A digest of the request's credential (the session cookie, or else the API token)."""
    headers = Headers(scope=scope)
    authorization = headers.get("authorization", "")
    credential = cookie_parser(headers.get("cookie", "")).get(COOKIE, "")
    if authorization.lower().startswith("bearer "):
        credential = authorization[7:].strip()
    return hashlib.sha256(credential.encode("utf-8", "surrogateescape")).hexdigest()


class AdminLog:
    """ASGI middleware: collects the cases admins enter during a request, logs the new ones."""

    def __init__(self, app: ASGIApp, locker: Locker) -> None:
        self.app, self.locker = app, locker
        self._logged: set[tuple[str, str, int]] = set()  # (sign-in, admin, case id)
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with access.admin_entries() as entered:

            async def logged_first(message: Message) -> None:
                if message["type"] == "http.response.start" and entered:
                    sign_in = _sign_in(scope)
                    if self._fresh(sign_in, entered):  # else no thread is taken for nothing
                        await anyio.to_thread.run_sync(self._log, scope, sign_in, set(entered))
                await send(message)

            await self.app(scope, receive, logged_first)

    def _fresh(self, sign_in: str, entered: set[tuple[str, int]]) -> list[tuple[str, int]]:
        with self._lock:
            return self._unlogged(sign_in, entered)

    def _unlogged(self, sign_in: str, entered: set[tuple[str, int]]) -> list[tuple[str, int]]:
        """The entries of `entered` not logged yet for this sign-in (hold the lock)."""
        return sorted(e for e in entered if (sign_in, *e) not in self._logged)

    def _log(self, scope: Scope, sign_in: str, entered: set[tuple[str, int]]) -> None:
        with self._lock:
            fresh = self._unlogged(sign_in, entered)
            if not fresh:
                return
            with transaction(self.locker) as conn:  # with the writers of the moment
                for admin, case_id in fresh:
                    name = conn.execute(
                        select(schema.cases.c.name).where(schema.cases.c.id == case_id)
                    ).scalar_one()
                    details = {
                        "case": name,
                        "case_id": case_id,
                        "request": f"{scope['method']} {scope['path']}",
                    }
                    log.append(conn, admin, "case.read_by_admin", details=details)
            self._logged.update((sign_in, *e) for e in fresh)
