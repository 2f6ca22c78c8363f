"""Who is asking, and may they: the session or token behind a request, the CSRF check, and the
typed path parameters every route shares. Decisions themselves live in docket.access."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection, select

from docket import access, accounts
from docket.accounts import User
from docket.catalogue import group_commit, schema
from docket.catalogue.database import reading
from docket.errors import DocketError, NotFoundError
from docket.locker import Locker
from docket.web import labels

COOKIE = "docket_session"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters.update(labels.FILTERS)
MAX_ID = 2**62


class NotSignedIn(DocketError):
    """No valid session or token."""


class BadCsrf(DocketError):
    """A form was posted without this session's CSRF token."""


def locker_of(request: Request) -> Locker:
    locker: Locker = request.app.state.locker
    return locker


def person(request: Request) -> tuple[User, str | None]:
    """The signed-in person and their session's CSRF token (None for API tokens)."""
    header = request.headers.get("authorization", "")
    with reading(locker_of(request).engine) as conn:
        bearer = (
            accounts.bearer(conn, header[7:].strip())
            if header.lower().startswith("bearer ")
            else None
        )
        cookie = request.cookies.get(COOKIE)
        found = accounts.session_user(conn, cookie) if cookie and bearer is None else None
    if bearer is not None:
        if bearer.stale:  # "last used", written at most once an hour a token
            with transaction(locker_of(request)) as conn:
                accounts.note_token_used(conn, bearer.token_id)
        return bearer.user, None
    if found is None:
        raise NotSignedIn("sign in first")
    return found


Person = Annotated[tuple[User, str | None], Depends(person)]
LockerDep = Annotated[Locker, Depends(locker_of)]
CaseId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
IncidentId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
FrameNumber = Annotated[int, PathParam(ge=0, le=MAX_ID)]
LinkId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
EventSeq = Annotated[int, PathParam(ge=0, le=MAX_ID)]
ItemId = Annotated[str, PathParam(pattern="^[0-9a-f]{64}$")]


@contextmanager
def transaction(locker: Locker) -> Iterator[Connection]:
    """A write transaction shared with the requests writing at the same moment: one durable
    commit for all of them (catalogue/group_commit.py); an error rolls back this block alone.
    The block must not open another write transaction itself (it would wait for this one)."""
    with group_commit.committer(locker.engine).transaction() as conn:
        yield conn


def check_csrf(session_csrf: str | None, sent: str | None) -> None:
    """Cookie sessions must send their token; API tokens are not sent by browsers on their own."""
    if session_csrf is not None and sent != session_csrf:
        raise BadCsrf("the form is stale or forged; reload the page")


def may(conn: Connection, user: User, sha256: str, action: str) -> bool:
    """Whether the person may do `action` to the item (False too when they may not see it)."""
    try:
        access.require_item(conn, user, sha256, action)
    except (access.ForbiddenError, NotFoundError):
        return False
    return True


def allowed_case(conn: Connection, user: User, case_id: int, action: str) -> tuple[str, str]:
    """The case's name and the person's role, once they may do `action` in it."""
    role = access.require_case(conn, user, case_id, action)
    name = conn.execute(select(schema.cases.c.name).where(schema.cases.c.id == case_id))
    return str(name.scalar_one()), role
