"""A case's audit page (docket.audit): who revealed, exported or changed what in the case,
newest first, filtered by person and kind, paged by log position; the same under /api.

Admins and the case's members read it (docket.access's "view" in the case); what it lists is
the case's own events only (docket.audit, through docket.scope)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from docket import audit, review, scope
from docket.accounts import User
from docket.catalogue import queries
from docket.catalogue.database import reading
from docket.web.guard import MAX_ID, TEMPLATES, CaseId, LockerDep, Person, allowed_case

router = APIRouter()
Kind = Annotated[str, Query(max_length=40)]
Actor = Annotated[str, Query(max_length=255)]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _audit(
    conn: Connection, user: User, case_id: int, kind: str, actor: str, before: int | None
) -> dict[str, Any]:
    case_name, _ = allowed_case(conn, user, case_id, "view")
    view = scope.of_case(conn, user, case_id, "view")
    page = audit.case_audit(conn, view, kind, actor, before)
    shown = {e.item for e in page.entries if e.item is not None}
    names = {
        row["sha256"]: str(row["name"]).rsplit("/", 1)[-1]
        for row in queries.list_items(conn, case_name, only=shown)
    }  # each item's first name in this case (docket.scope)
    return {
        "case": {"id": case_id, "name": case_name},
        "kind": kind,
        "actor": actor,
        "entries": [
            {**asdict(e), "item_name": None if e.item is None else names.get(e.item)}
            for e in page.entries
        ],
        "next_before": page.next_before,
    }


@router.get("/cases/{case_id}/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    case_id: CaseId,
    who: Person,
    locker: LockerDep,
    kind: Kind = "",
    actor: Actor = "",
    before: Before = None,
) -> Response:
    with reading(locker.engine) as conn:
        found = _audit(conn, who[0], case_id, kind, actor, before)
        members = review.assignable(conn, case_id)
    return TEMPLATES.TemplateResponse(
        request,
        "audit.html",
        {
            "user": who[0],
            "csrf": who[1],
            "audit": found,
            "kinds": list(audit.KINDS),
            "members": members,
            "older": urlencode(
                {
                    k: v
                    for k, v in {
                        "kind": kind,
                        "actor": actor,
                        "before": found["next_before"],
                    }.items()
                    if v
                }
            ),
        },
    )


@router.get("/api/cases/{case_id}/audit")
def api_audit(
    case_id: CaseId,
    who: Person,
    locker: LockerDep,
    kind: Kind = "",
    actor: Actor = "",
    before: Before = None,
) -> dict[str, Any]:
    """The case's custody events of people's work, newest first: `kind` and `actor` narrow
    it; `next_before` is the `before` of the next page (null on the last)."""
    with reading(locker.engine) as conn:
        return _audit(conn, who[0], case_id, kind, actor, before)
