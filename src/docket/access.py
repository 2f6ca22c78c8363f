"""Who may do what: the one place authorisation is decided, for the web pages, the JSON API
and anything else that acts for a person.

A person sees only the cases they belong to; an item is reachable only through a case that
holds it (an item in no case: admins only). A case or item someone may not see is reported as
not found, so IDs cannot be probed. What of an item a case shows (its records, events, flags)
is docket.scope's rule.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

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


def case_role(conn: Connection, user: User, case_id: int) -> str | None:
    if user.is_admin:
        exists = conn.execute(select(schema.cases.c.id).where(schema.cases.c.id == case_id))
        return "owner" if exists.first() else None
    found = conn.execute(
        select(schema.memberships.c.role).where(
            schema.memberships.c.case_id == case_id, schema.memberships.c.user_id == user.id
        )
    ).scalar()
    return None if found is None else str(found)


def require_case(conn: Connection, user: User, case_id: int, action: str) -> str:
    role = case_role(conn, user, case_id)
    if role is None:
        raise NotFoundError(f"case {case_id}: no such case")
    if role not in ALLOWED[action]:
        raise ForbiddenError(f"case {case_id}: a {role} may not {action}")
    return role


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
    cases = (
        conn.execute(
            select(schema.case_items.c.case_id).where(schema.case_items.c.item_sha256 == sha256)
        )
        .scalars()
        .all()
    )
    exists = conn.execute(select(schema.items.c.sha256).where(schema.items.c.sha256 == sha256))
    if exists.first() is None:
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


def add_member(conn: Connection, actor: User, case_id: int, member: User, role: str) -> None:
    require_case(conn, actor, case_id, "manage")
    if role not in CASE_ROLES:
        raise DocketError(f"{role!r}: a case role is one of {', '.join(CASE_ROLES)}")
    log.append(
        conn,
        actor.name,
        "case.member_added",
        details={"case": case_id, "user": member.name, "role": role},
    )
    conn.execute(insert(schema.memberships).values(case_id=case_id, user_id=member.id, role=role))
