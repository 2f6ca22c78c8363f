"""Team management: accounts (admins list, disable, enable and reset them), one's own account
(password and API tokens), and the members of a case (owners and admins): pages and the same
under /api.

Who may do what is decided by docket.access; each change is made, and logged as a custody
event, by docket.accounts or docket.access. A new token's secret is shown once, in the answer
to the request that made it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from docket import access, accounts
from docket.accounts import User
from docket.catalogue.database import reading
from docket.errors import DocketError, NotFoundError
from docket.web import throttle
from docket.web.guard import (
    COOKIE,
    MAX_ID,
    TEMPLATES,
    CaseId,
    LockerDep,
    Person,
    allowed_case,
    check_csrf,
    transaction,
)

NAME_LENGTH = 255
PASSWORD_LENGTH = 1024
UserId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
TokenId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
PasswordField = Annotated[str, Form(max_length=PASSWORD_LENGTH)]
Csrf = Annotated[str, Form(max_length=200)]

router = APIRouter()


class PasswordBody(BaseModel):
    password: str = Field(max_length=PASSWORD_LENGTH)


class PasswordChangeBody(BaseModel):
    current: str = Field(max_length=PASSWORD_LENGTH)
    new: str = Field(max_length=PASSWORD_LENGTH)


class TokenBody(BaseModel):
    label: str = Field(default="api", max_length=accounts.LABEL_LENGTH)
    days: int = Field(default=accounts.TOKEN_DAYS, ge=1, le=MAX_ID)


class RoleBody(BaseModel):
    role: str = Field(max_length=20)


def _account(conn: Connection, who: User) -> dict[str, Any]:
    """The account as the users list shows it."""
    return next(u for u in accounts.list_users(conn) if u["id"] == who.id)


def _api_csrf(request: Request, who: tuple[User, str | None]) -> None:
    check_csrf(who[1], request.headers.get("x-csrf-token"))


# Accounts, for admins


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, who: Person, locker: LockerDep) -> Response:
    access.require_admin(who[0], "list accounts")
    with reading(locker.engine) as conn:
        users = accounts.list_users(conn)
    return TEMPLATES.TemplateResponse(
        request, "users.html", {"user": who[0], "csrf": who[1], "users": users}
    )


@router.get("/api/users")
def api_users(who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    """Every account: name, role, disabled or not, created, last sign-in (admins only)."""
    access.require_admin(who[0], "list accounts")
    with reading(locker.engine) as conn:
        return accounts.list_users(conn)


def _disable(locker: LockerDep, who: User, user_id: int) -> dict[str, Any]:
    access.require_admin(who, "disable accounts")
    with transaction(locker) as conn:
        subject = accounts.user_by_id(conn, user_id)
        access.require_disable(who, subject)
        accounts.disable_user(conn, who.name, subject)
        return _account(conn, subject)


def _enable(locker: LockerDep, who: User, user_id: int) -> dict[str, Any]:
    access.require_admin(who, "enable accounts")
    with transaction(locker) as conn:
        subject = accounts.user_by_id(conn, user_id)
        accounts.enable_user(conn, who.name, subject)
        return _account(conn, subject)


def _reset(locker: LockerDep, who: User, user_id: int, password: str) -> None:
    access.require_admin(who, "reset passwords")
    new = accounts.NewPassword.of(password)  # Argon2 before the shared commit, not in it
    with transaction(locker) as conn:
        accounts.reset_password(conn, who.name, accounts.user_by_id(conn, user_id), new)


@router.post("/users/{user_id}/disable")
def disable_page(user_id: UserId, who: Person, locker: LockerDep, csrf: Csrf = "") -> Response:
    check_csrf(who[1], csrf)
    _disable(locker, who[0], user_id)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/enable")
def enable_page(user_id: UserId, who: Person, locker: LockerDep, csrf: Csrf = "") -> Response:
    check_csrf(who[1], csrf)
    _enable(locker, who[0], user_id)
    return RedirectResponse("/users", status_code=303)


@router.post("/users/{user_id}/password")
def reset_page(
    user_id: UserId, who: Person, locker: LockerDep, password: PasswordField, csrf: Csrf = ""
) -> Response:
    check_csrf(who[1], csrf)
    _reset(locker, who[0], user_id, password)
    return RedirectResponse("/users", status_code=303)


@router.post("/api/users/{user_id}/disable")
def api_disable(
    request: Request, user_id: UserId, who: Person, locker: LockerDep
) -> dict[str, Any]:
    """Disable an account: its sessions end and its tokens are revoked at once."""
    _api_csrf(request, who)
    return _disable(locker, who[0], user_id)


@router.post("/api/users/{user_id}/enable")
def api_enable(request: Request, user_id: UserId, who: Person, locker: LockerDep) -> dict[str, Any]:
    """Let a disabled account sign in again (its revoked tokens stay revoked)."""
    _api_csrf(request, who)
    return _enable(locker, who[0], user_id)


@router.put("/api/users/{user_id}/password", status_code=204)
def api_reset(
    request: Request, user_id: UserId, who: Person, locker: LockerDep, body: PasswordBody
) -> None:
    """Set a new password for an account (admins only); its sessions end."""
    _api_csrf(request, who)
    _reset(locker, who[0], user_id, body.password)


# One's own account, and anyone's tokens for admins


def _tokens_page(
    request: Request, who: tuple[User, str | None], subject: User, **shown: Any
) -> Response:
    with reading(request.app.state.locker.engine) as conn:
        tokens = accounts.list_tokens(conn, subject)
    return TEMPLATES.TemplateResponse(
        request,
        "tokens.html",
        {
            "user": who[0],
            "csrf": who[1],
            "subject": subject,
            "own": subject.id == who[0].id,
            "tokens": tokens,
            "default_days": accounts.TOKEN_DAYS,
            "max_days": accounts.max_token_days(),
            **shown,
        },
    )


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, who: Person) -> Response:
    return _tokens_page(request, who, who[0])


@router.get("/users/{user_id}/tokens", response_class=HTMLResponse)
def user_tokens_page(request: Request, user_id: UserId, who: Person, locker: LockerDep) -> Response:
    access.require_tokens_of(who[0], user_id)
    with reading(locker.engine) as conn:
        subject = accounts.user_by_id(conn, user_id)
    return _tokens_page(request, who, subject)


def _change_own_password(
    request: Request, who: tuple[User, str | None], current: str, new: str
) -> None:
    """Change the person's password, keeping the session this request came in (if any).
    Wrong current passwords count as failed sign-ins of the account from this client, so a
    stolen session cannot guess the password faster than the sign-in form could."""
    throttles: throttle.Throttle = request.app.state.throttle
    client = throttle.client_key(request.client.host if request.client else None)
    attempt = throttles.begin(who[0].name, client)  # counted as failed until it succeeds
    if attempt.wait > 0:
        raise DocketError(f"too many tries; wait {max(1, round(attempt.wait))} s and try again")
    session = request.cookies.get(COOKIE) if who[1] is not None else None
    locker = request.app.state.locker
    # Argon2 (checking, then hashing) before the shared commit, not in it; a wrong password
    # raises, and stays counted
    with reading(locker.engine) as conn:
        checked = accounts.checked_current(conn, who[0], current)
    throttles.succeeded(who[0].name, client, attempt)
    hashed = accounts.NewPassword.of(new)
    with transaction(locker) as conn:
        accounts.change_password(conn, who[0], checked, hashed, session)


@router.post("/account/password")
def password_page(
    request: Request,
    who: Person,
    current: PasswordField,
    new: PasswordField,
    csrf: Csrf = "",
) -> Response:
    check_csrf(who[1], csrf)
    _change_own_password(request, who, current, new)
    return _tokens_page(request, who, who[0], notice="Password changed; other sessions ended.")


@router.post("/account/tokens", response_class=HTMLResponse)
def issue_page(
    request: Request,
    who: Person,
    locker: LockerDep,
    label: Annotated[str, Form(max_length=accounts.LABEL_LENGTH)] = "api",
    days: Annotated[int, Form(ge=1, le=MAX_ID)] = accounts.TOKEN_DAYS,
    csrf: Csrf = "",
) -> Response:
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        issued = accounts.new_token(conn, who[0], label, days)
    return _tokens_page(request, who, who[0], issued=issued)


@router.post("/tokens/{token_id}/revoke")
def revoke_page(token_id: TokenId, who: Person, locker: LockerDep, csrf: Csrf = "") -> Response:
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        owner = access.require_token(conn, who[0], token_id)
        accounts.revoke_token(conn, who[0].name, token_id)
    back = "/account" if owner.id == who[0].id else f"/users/{owner.id}/tokens"
    return RedirectResponse(back, status_code=303)


@router.get("/api/account/tokens")
def api_my_tokens(who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    """Your API tokens: label, created, expires, last used (to the hour), state."""
    with reading(locker.engine) as conn:
        return accounts.list_tokens(conn, who[0])


@router.get("/api/users/{user_id}/tokens")
def api_user_tokens(user_id: UserId, who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    """An account's API tokens (your own, or anyone's for an admin)."""
    access.require_tokens_of(who[0], user_id)
    with reading(locker.engine) as conn:
        return accounts.list_tokens(conn, accounts.user_by_id(conn, user_id))


@router.post("/api/account/tokens", status_code=201)
def api_issue(request: Request, who: Person, locker: LockerDep, body: TokenBody) -> dict[str, Any]:
    """A new API token for you, living `days` days (its secret is in this answer only).
    Signed-in sessions only: a token does not make tokens."""
    _api_csrf(request, who)
    access.require_session(who[1] is None, "make tokens")
    with transaction(locker) as conn:
        issued = accounts.new_token(conn, who[0], body.label, body.days)
    return {"id": issued.id, "token": issued.secret, "label": body.label, "expires": issued.expires}


@router.delete("/api/tokens/{token_id}", status_code=204)
def api_revoke(request: Request, token_id: TokenId, who: Person, locker: LockerDep) -> None:
    """Revoke a token (your own, or anyone's for an admin)."""
    _api_csrf(request, who)
    with transaction(locker) as conn:
        access.require_token(conn, who[0], token_id)
        accounts.revoke_token(conn, who[0].name, token_id)


@router.put("/api/account/password", status_code=204)
def api_change_password(request: Request, who: Person, body: PasswordChangeBody) -> None:
    """Change your password (the current one first); your other sessions end."""
    _api_csrf(request, who)
    _change_own_password(request, who, body.current, body.new)


# Members of a case, for its owners and admins


@router.get("/cases/{case_id}/members", response_class=HTMLResponse)
def members_page(request: Request, case_id: CaseId, who: Person, locker: LockerDep) -> Response:
    with reading(locker.engine) as conn:
        case_name, _ = allowed_case(conn, who[0], case_id, "manage")
        members = access.list_members(conn, who[0], case_id)
    return TEMPLATES.TemplateResponse(
        request,
        "members.html",
        {
            "user": who[0],
            "csrf": who[1],
            "case_id": case_id,
            "case_name": case_name,
            "members": members,
            "roles": access.CASE_ROLES,
        },
    )


@router.post("/cases/{case_id}/members/add")
def add_member_page(
    case_id: CaseId,
    who: Person,
    locker: LockerDep,
    name: Annotated[str, Form(max_length=NAME_LENGTH)],
    role: Annotated[str, Form(max_length=20)],
    csrf: Csrf = "",
) -> Response:
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        access.require_case(conn, who[0], case_id, "manage")
        access.add_member(conn, who[0], case_id, accounts.user_named(conn, name), role)
    return RedirectResponse(f"/cases/{case_id}/members", status_code=303)


def _member(conn: Connection, who: User, case_id: int, user_id: int) -> User:
    """A member of the case, by user id (anyone else is not found, whether or not the account
    exists, so that owners cannot probe accounts by id)."""
    for member in access.list_members(conn, who, case_id):
        if member["user_id"] == user_id:
            return accounts.user_by_id(conn, user_id)
    raise NotFoundError(f"user {user_id}: not a member of case {case_id}")


def _change_role(locker: LockerDep, who: User, case_id: int, user_id: int, role: str) -> None:
    with transaction(locker) as conn:
        member = _member(conn, who, case_id, user_id)
        access.change_member_role(conn, who, case_id, member, role)


def _remove(locker: LockerDep, who: User, case_id: int, user_id: int) -> None:
    with transaction(locker) as conn:
        access.remove_member(conn, who, case_id, _member(conn, who, case_id, user_id))


@router.post("/cases/{case_id}/members/{user_id}/role")
def role_page(
    case_id: CaseId,
    user_id: UserId,
    who: Person,
    locker: LockerDep,
    role: Annotated[str, Form(max_length=20)],
    csrf: Csrf = "",
) -> Response:
    check_csrf(who[1], csrf)
    _change_role(locker, who[0], case_id, user_id, role)
    return RedirectResponse(f"/cases/{case_id}/members", status_code=303)


@router.post("/cases/{case_id}/members/{user_id}/remove")
def remove_page(
    case_id: CaseId, user_id: UserId, who: Person, locker: LockerDep, csrf: Csrf = ""
) -> Response:
    check_csrf(who[1], csrf)
    _remove(locker, who[0], case_id, user_id)
    return RedirectResponse(f"/cases/{case_id}/members", status_code=303)


@router.get("/api/cases/{case_id}/members")
def api_members(case_id: CaseId, who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    """The case's members and their roles (owners and admins)."""
    with reading(locker.engine) as conn:
        return access.list_members(conn, who[0], case_id)


@router.put("/api/cases/{case_id}/members/{user_id}", status_code=204)
def api_change_role(
    request: Request,
    case_id: CaseId,
    user_id: UserId,
    who: Person,
    locker: LockerDep,
    body: RoleBody,
) -> None:
    """Change a member's role (the case's last owner is never demoted)."""
    _api_csrf(request, who)
    _change_role(locker, who[0], case_id, user_id, body.role)


@router.delete("/api/cases/{case_id}/members/{user_id}", status_code=204)
def api_remove(
    request: Request, case_id: CaseId, user_id: UserId, who: Person, locker: LockerDep
) -> None:
    """Remove a member from the case (never its last owner)."""
    _api_csrf(request, who)
    _remove(locker, who[0], case_id, user_id)
