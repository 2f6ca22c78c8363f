"""Saved searches of a case's grid (docket.saved_searches): saved from the grid's filters,
listed on the case page, deleted by their owner; pages and the same under /api."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from docket import saved_searches
from docket.catalogue.database import reading
from docket.web.guard import CaseId, LinkId, LockerDep, Person, check_csrf, transaction

router = APIRouter()
Name = Annotated[str, Form(max_length=saved_searches.MAX_NAME)]
QueryText = Annotated[str, Form(max_length=saved_searches.MAX_QUERY)]


@router.post("/cases/{case_id}/searches")
def save_page(
    case_id: CaseId,
    who: Person,
    locker: LockerDep,
    name: Name = "",
    query: QueryText = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Save the grid's filters under a name, then show the grid they narrow."""
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        saved_searches.save(conn, who[0], case_id, name, query)
    kept = saved_searches.canonical(query)
    return RedirectResponse(f"/cases/{case_id}?{kept}", status_code=303)


@router.post("/cases/{case_id}/searches/{search_id}/delete")
def delete_page(
    case_id: CaseId,
    search_id: LinkId,
    who: Person,
    locker: LockerDep,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        saved_searches.remove(conn, who[0], case_id, search_id)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.get("/api/cases/{case_id}/searches")
def api_searches(case_id: CaseId, who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    """The case's saved searches: id, name, query (the grid's query string), owner."""
    with reading(locker.engine) as conn:
        return [asdict(s) for s in saved_searches.of_case(conn, who[0], case_id)]


@router.post("/api/cases/{case_id}/searches")
def api_save(
    request: Request, case_id: CaseId, who: Person, locker: LockerDep, body: dict[str, str]
) -> dict[str, Any]:
    """{"name": "...", "query": "flag=graphic&status=new"}: saved, or replaced by name."""
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    with transaction(locker) as conn:
        found = saved_searches.save(
            conn, who[0], case_id, body.get("name", ""), body.get("query", "")
        )
    return {"id": found, "query": saved_searches.canonical(body.get("query", ""))}


@router.delete("/api/cases/{case_id}/searches/{search_id}")
def api_delete(
    request: Request, case_id: CaseId, search_id: LinkId, who: Person, locker: LockerDep
) -> dict[str, int]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    with transaction(locker) as conn:
        saved_searches.remove(conn, who[0], case_id, search_id)
    return {"deleted": search_id}
