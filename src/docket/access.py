"""Who may do what: the one place authorisation is decided, for the web pages, the JSON API
and anything else that acts for a person.

A person sees only the cases they belong to; an item is reachable only through a case that
holds it (an item in no case: admins only). A case or item someone may not see is reported as
not found, so IDs cannot be probed. What of an item a case shows (its records, events, flags)
is docket.scope's rule.

Admins may enter every case, and that is logged: each case an admin enters without being a
member of it is collected while a caller holds `admin_entries()` open (the web app, for each
request), and the caller writes it to the custody log (docket.web.admin_log).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from docket import accounts
from docket.accounts import User
from docket.catalogue import schema
from docket.custody import log
from docket.errors import DocketError, NotFoundError

CASE_ROLES = ("owner", "investigator", "reviewer", "viewer")
ALLOWED = {
    "view": {"owner", "investigator", "reviewer", "viewer"},
    "reveal": {"owner", "investigator", "reviewer"},
    "annotate": {"owner", "investigator", "reviewer"},
    "record": {"owner", "investigator"},  # record and revise incidents
    "upload": {"owner", "investigator"},
    "export": {"owner", "investigator"},
    "manage": {"owner"},
}


class ForbiddenError(DocketError):
    """The person may see the thing but not do this to it."""


# Built once: every request asks these (building a statement cost more than running it).
_CASE_EXISTS = select(schema.cases.c.id).where(schema.cases.c.id == bindparam("case_id"))
_MEMBER_ROLE = select(schema.memberships.c.role).where(
    schema.memberships.c.case_id == bindparam("case_id"),
    schema.memberships.c.user_id == bindparam("user_id"),
)
_HOLDING_CASE_IDS = select(schema.case_items.c.case_id).where(
    schema.case_items.c.item_sha256 == bindparam("sha256")
)
_ITEM_EXISTS = select(schema.items.c.sha256).where(schema.items.c.sha256 == bindparam("sha256"))


def case_role(conn: Connection, user: User, case_id: int) -> str | None:
    if user.is_admin:
        exists = conn.execute(_CASE_EXISTS, {"case_id": case_id})
        return "owner" if exists.first() else None
    found = conn.execute(_MEMBER_ROLE, {"case_id": case_id, "user_id": user.id}).scalar()
    return None if found is None else str(found)


def require_case(conn: Connection, user: User, case_id: int, action: str) -> str:
    role = case_role(conn, user, case_id)
    if role is None:
        raise NotFoundError(f"case {case_id}: no such case")
    if role not in ALLOWED[action]:
        raise ForbiddenError(f"case {case_id}: a {role} may not {action}")
    entered(conn, user, case_id)
    return role


_ENTRIES: ContextVar[set[tuple[str, int]] | None] = ContextVar("admin_entries", default=None)


@contextmanager
def admin_entries() -> Iterator[set[tuple[str, int]]]:
    """Collect (admin's name, case id) of every case an admin enters without being a member,
    while the block runs (in this context: a request and the threads it hands work to)."""
    found: set[tuple[str, int]] = set()
    token = _ENTRIES.set(found)
    try:
        yield found
    finally:
        _ENTRIES.reset(token)


def entered(conn: Connection, user: User, case_id: int) -> None:
    """Note that `user` looks into the case (for the log, when they are an admin from outside)."""
    found = _ENTRIES.get()
    if found is None or not user.is_admin or (user.name, case_id) in found:
        return
    member = conn.execute(_MEMBER_ROLE, {"case_id": case_id, "user_id": user.id}).first()
    if member is None:
        found.add((user.name, case_id))


def visible_cases(conn: Connection, user: User) -> list[tuple[int, str, str]]:
    """(id, name, the person's role) of every case the person belongs to."""
    if user.is_admin:
        every = conn.execute(
            select(schema.cases.c.id, schema.cases.c.name).order_by(schema.cases.c.name)
        ).all()
        return [(int(i), str(n), "owner") for i, n in every]
    mine = conn.execute(
        select(schema.cases.c.id, schema.cases.c.name, schema.memberships.c.role)
        .join(schema.memberships, schema.memberships.c.case_id == schema.cases.c.id)
        .where(schema.memberships.c.user_id == user.id)
        .order_by(schema.cases.c.name)
    ).all()
    return [(int(i), str(n), str(r)) for i, n, r in mine]


def require_item(conn: Connection, user: User, sha256: str, action: str) -> None:
    """Allowed when some case holding the item lets this person do `action`."""
    cases = conn.execute(_HOLDING_CASE_IDS, {"sha256": sha256}).scalars().all()
    if conn.execute(_ITEM_EXISTS, {"sha256": sha256}).first() is None:
        raise NotFoundError(f"item {sha256[:12]}: no such item")
    if user.is_admin:
        return
    roles = [role for case_id in cases if (role := case_role(conn, user, case_id))]
    if not roles:
        raise NotFoundError(f"item {sha256[:12]}: no such item")
    if not any(role in ALLOWED[action] for role in roles):
        raise ForbiddenError(f"item {sha256[:12]}: you may not {action} it")


def require_incident(conn: Connection, user: User, incident_id: int, action: str) -> int:
    """The incident's case, once the person may do `action` in it (else not found/forbidden)."""
    case_id = conn.execute(
        select(schema.incidents.c.case_id).where(schema.incidents.c.id == incident_id)
    ).scalar()
    if case_id is None or case_role(conn, user, int(case_id)) is None:
        raise NotFoundError(f"incident {incident_id}: no such incident")
    require_case(conn, user, int(case_id), action)
    return int(case_id)


def require_admin(user: User, action: str) -> None:
    """Accounts are an admin's to list, disable, enable and reset."""
    if not user.is_admin:
        raise ForbiddenError(f"only an admin may {action}")


def require_disable(actor: User, subject: User) -> None:
    """An admin disables anyone but themselves (so a locker is never left with no admin by
    a slip)."""
    require_admin(actor, "disable accounts")
    if actor.id == subject.id:
        raise ForbiddenError("you may not disable your own account")


def require_tokens_of(actor: User, user_id: int) -> None:
    """A person lists their own tokens; an admin anyone's."""
    if not actor.is_admin and actor.id != user_id:
        raise ForbiddenError("you may see only your own tokens")


def require_session(by_token: bool, action: str) -> None:
    """Some changes need a person signed in, not a program holding an API token: a stolen
    token must not make tokens that outlive it."""
    if by_token:
        raise ForbiddenError(f"an API token may not {action}; sign in, or use the command line")


def require_token(conn: Connection, actor: User, token_id: int) -> User:
    """The token's owner, once `actor` may revoke it: their own, or anyone's for an admin.
    Someone else's token is reported as not found, so IDs cannot be probed."""
    try:
        owner = accounts.token_owner(conn, token_id)
    except NotFoundError:
        owner = None
    if owner is None or not (actor.is_admin or owner.id == actor.id):
        raise NotFoundError(f"token {token_id}: no such token")
    return owner


def _member_role(conn: Connection, case_id: int, member: User) -> str | None:
    found = conn.execute(
        select(schema.memberships.c.role).where(
            schema.memberships.c.case_id == case_id, schema.memberships.c.user_id == member.id
        )
    ).scalar()
    return None if found is None else str(found)


def _check_case_role(role: str) -> None:
    if role not in CASE_ROLES:
        raise DocketError(f"{role!r}: a case role is one of {', '.join(CASE_ROLES)}")


def add_member(conn: Connection, actor: User, case_id: int, member: User, role: str) -> None:
    require_case(conn, actor, case_id, "manage")
    _check_case_role(role)
    if _member_role(conn, case_id, member) is not None:
        raise DocketError(f"{member.name} is already a member of this case")
    log.append(
        conn,
        actor.name,
        "case.member_added",
        details={"case": case_id, "user": member.name, "role": role},
    )
    conn.execute(insert(schema.memberships).values(case_id=case_id, user_id=member.id, role=role))


def list_members(conn: Connection, actor: User, case_id: int) -> list[dict[str, Any]]:
    """The case's members (owners and admins see them): user id, name, case role, disabled."""
    require_case(conn, actor, case_id, "manage")
    users, members = schema.users.c, schema.memberships.c
    rows = conn.execute(
        select(users.id, users.name, users.disabled_at, members.role)
        .join(schema.memberships, members.user_id == users.id)
        .where(members.case_id == case_id)
        .order_by(users.name)
    ).all()
    return [
        {
            "user_id": int(row.id),
            "name": str(row.name),
            "role": str(row.role),
            "disabled": row.disabled_at is not None,
        }
        for row in rows
    ]


def _current_member(conn: Connection, actor: User, case_id: int, member: User) -> str:
    require_case(conn, actor, case_id, "manage")
    role = _member_role(conn, case_id, member)
    if role is None:
        raise NotFoundError(f"{member.name} is not a member of case {case_id}")
    return role


def _keep_an_owner(conn: Connection, case_id: int, member: User, role: str) -> None:
    """A case keeps at least one owner: the last one is neither removed nor demoted."""
    if role != "owner":
        return
    owners = conn.execute(
        select(func.count()).where(
            schema.memberships.c.case_id == case_id, schema.memberships.c.role == "owner"
        )
    ).scalar_one()
    if int(owners) <= 1:
        raise ForbiddenError(f"{member.name} is the last owner of case {case_id}")


def change_member_role(
    conn: Connection, actor: User, case_id: int, member: User, role: str
) -> None:
    before = _current_member(conn, actor, case_id, member)
    _check_case_role(role)
    if role == before:
        raise DocketError(f"{member.name} is already {role} of this case")
    _keep_an_owner(conn, case_id, member, before)
    log.append(
        conn,
        actor.name,
        "case.member_role_changed",
        details={"case": case_id, "user": member.name, "from": before, "role": role},
    )
    memberships = schema.memberships.c
    conn.execute(
        update(schema.memberships)
        .where(memberships.case_id == case_id, memberships.user_id == member.id)
        .values(role=role)
    )


def remove_member(conn: Connection, actor: User, case_id: int, member: User) -> None:
    before = _current_member(conn, actor, case_id, member)
    _keep_an_owner(conn, case_id, member, before)
    log.append(
        conn,
        actor.name,
        "case.member_removed",
        details={"case": case_id, "user": member.name, "role": before},
    )
    memberships = schema.memberships.c
    conn.execute(
        delete(schema.memberships).where(
            memberships.case_id == case_id, memberships.user_id == member.id
        )
    )
