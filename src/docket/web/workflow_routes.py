"""The review workflow in the web app: an item's status, assignee and comments; the case
dashboard (counts by status, flag and type, recent activity); bulk work on many items of the
grid at once (tag, flag, status, assign, link to an incident); and the item list as CSV or
JSON. Pages and the same under /api.

Every change goes through docket.review, docket.protect.flags and docket.incidents (the CLI's
own functions), one custody event per item (an item already linked to the incident is left
as it is, with no event),
with the rule of docket.access and docket.scope that the single-item routes use: a bulk change
names its case, every item must be in it, the person must be allowed to annotate there, and
either every item changes or none does (one transaction).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy import Connection, select

from docket import access, incidents, review, scope
from docket.accounts import User
from docket.catalogue import queries, schema
from docket.catalogue.database import reading
from docket.custody.events import Event, event_from_row
from docket.errors import DocketError, NotFoundError
from docket.locker import Locker
from docket.protect import flags
from docket.web import grid_pages, tiles
from docket.web.case_routes import Filters, case_items
from docket.web.guard import (
    MAX_ID,
    TEMPLATES,
    CaseId,
    ItemId,
    LockerDep,
    Person,
    allowed_case,
    check_csrf,
    transaction,
)
from docket.web.item_routes import CaseChoice

router = APIRouter()
MAX_BULK = 1000
ACTIVITY = 25
ACTIVITY_BATCH = 500  # the most events of the activity read at a time (see _activity)
BULK_ACTIONS = ("tag", "flag", "status", "assign", "link")
# The columns of the item list's exports: what the grid shows of each item.
EXPORT_FIELDS = (
    "sha256",
    "name",
    "media_type",
    "size",
    "seen",
    "kind",
    "captured",
    "duration",
    "group",
    "flag",
    "status",
    "assignee",
    "acquisitions",
)


def _set_status(
    locker: Locker, user: User, sha256: str, case: int | None, fields: dict[str, Any]
) -> review.Status:
    def text(key: str) -> str | None:
        value = fields.get(key)
        return None if value is None else str(value)

    with transaction(locker) as conn:
        view = scope.of_item(conn, user, sha256, "annotate", case)
        return review.set_status(
            conn,
            user.name,
            sha256,
            view,
            text("status") or None,
            text("assignee"),
            text("comment") or None,
        )


@router.post("/items/{sha256}/status")
def status_page(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    status: Annotated[str, Form()] = "",
    assignee: Annotated[str | None, Form()] = None,
    comment: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    case: CaseChoice = None,
) -> Response:
    check_csrf(who[1], csrf)
    fields = {"status": status, "assignee": assignee, "comment": comment}
    _set_status(locker, who[0], sha256, case, fields)
    suffix = "" if case is None else f"?case={case}"
    return RedirectResponse(f"/items/{sha256}{suffix}", status_code=303)


@router.post("/api/items/{sha256}/status")
def api_status(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    body: dict[str, str | None],
    case: CaseChoice = None,
) -> dict[str, Any]:
    """Set the item's status, assignee ("" for nobody) and/or a comment; absent fields keep
    what is in force."""
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    return _set_status(locker, who[0], sha256, case, body).__dict__


def _bulk(
    locker: Locker, user: User, case_id: int, items: list[str], action: str, value: str
) -> int:
    if action not in BULK_ACTIONS:
        raise DocketError(f"{action!r}: a bulk action is one of {', '.join(BULK_ACTIONS)}")
    chosen = list(dict.fromkeys(items))
    if not chosen or len(chosen) > MAX_BULK:
        raise DocketError(f"choose 1 to {MAX_BULK} items")
    changed = 0
    with transaction(locker) as conn:
        incident = _incident_in(conn, user, case_id, value) if action == "link" else 0
        for sha256 in chosen:
            view = scope.of_item(conn, user, sha256, "annotate", case_id)
            if action == "link":
                if _linked(conn, incident, sha256):
                    continue
                incidents.link(conn, user.name, incident, sha256)
            elif action == "tag":
                review.add_tag(conn, user.name, sha256, value, view)
            elif action == "flag":
                flags.flag(conn, user.name, sha256, value, view)
            elif action == "status":
                review.set_status(conn, user.name, sha256, view, status=value)
            else:
                review.set_status(conn, user.name, sha256, view, assignee=value)
            changed += 1
    return changed


def _incident_in(conn: Connection, user: User, case_id: int, value: str) -> int:
    """The incident a bulk link names (by its number), once it is one of this case's that
    the person may link evidence to."""
    number = value.strip().removeprefix("#")
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= MAX_ID:
        raise DocketError(f"{value!r}: a bulk link names an incident by its number")
    incident = int(number)
    try:
        found = access.require_incident(conn, user, incident, "annotate")
    except NotFoundError:
        found = None
    if found != case_id:  # the same words for another case's incident as for none
        raise NotFoundError(f"case {case_id} has no incident {incident}")
    return incident


def _linked(conn: Connection, incident: int, sha256: str) -> bool:
    links = schema.incident_links.c
    found = conn.execute(
        select(links.id).where(
            links.incident_id == incident,
            links.item_sha256 == sha256,
            links.annotation_id.is_(None),
        )
    )
    return found.first() is not None


@router.post("/cases/{case_id}/bulk")
def bulk_page(
    case_id: CaseId,
    who: Person,
    locker: LockerDep,
    action: Annotated[str, Form()],
    value: Annotated[str, Form()] = "",
    items: Annotated[list[str] | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """One form from the grid: tag, flag, set the status of, assign or link to an incident
    (the value: its number) every ticked item."""
    check_csrf(who[1], csrf)
    _bulk(locker, who[0], case_id, items or [], action, value)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/api/cases/{case_id}/bulk")
def api_bulk(
    request: Request, case_id: CaseId, who: Person, locker: LockerDep, body: dict[str, Any]
) -> dict[str, int]:
    """{"items": [sha256, ...], "action": "tag|flag|status|assign|link", "value": "..."}
    (for link, the incident's number); "changed": the items changed (an item already linked
    to the incident is not)."""
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise DocketError("items is a list of item SHA-256s")
    changed = _bulk(
        locker, who[0], case_id, items, str(body.get("action", "")), str(body.get("value", ""))
    )
    return {"changed": changed}


def _dashboard(conn: Connection, user: User, case_id: int) -> dict[str, Any]:
    case_name, role = allowed_case(conn, user, case_id, "view")
    view = scope.of_case(conn, user, case_id, "view")
    # Counted by the database: a case of a million items is never read into memory. Its
    # count is the sum of its counts by type (a row a type, migration 0020).
    by_type = queries.type_counts(conn, case_id)
    items = sum(by_type.values())
    kinds: Counter[str] = Counter()
    for media_type, counted in by_type.items():
        kinds[tiles.kind_of(media_type)] += counted
    return {
        "case": {"id": case_id, "name": case_name},
        "role": role,
        "items": items,
        "by_status": review.status_counts(conn, case_id, items),
        "by_flag": flags.flag_counts(conn, view, items),
        "by_type": dict(kinds.most_common()),
        "activity": _activity(conn, view, case_id),
    }


def _activity(conn: Connection, view: scope.Scope, case_id: int) -> list[dict[str, Any]]:
    """The latest custody events of the case's items that the case shows, newest first
    (queries.case_events).

    Read back by key in batches until enough are shown: other cases' work on shared bytes is
    skipped however much of it there is, never allowed to push this case's own work off. The
    first batch is twice what is shown, each next one twice the last, up to ACTIVITY_BATCH:
    a case whose events are mostly shown reads (and parses) 50 events, not 500."""
    shown: list[Event] = []
    before: int | None = None
    size = min(2 * ACTIVITY, ACTIVITY_BATCH)
    while len(shown) < ACTIVITY:
        query = queries.case_events(case_id, before).limit(size)
        batch = [event_from_row(row) for row in conn.execute(query).mappings()]
        if not batch:
            break
        shown += scope.visible_events(conn, view, batch)
        before = batch[-1].seq
        size = min(2 * size, ACTIVITY_BATCH)
    shown = shown[:ACTIVITY]
    return [
        {"seq": e.seq, "time": e.time, "actor": e.actor, "action": e.action, "item": e.item}
        for e in shown
    ]


@router.get("/cases/{case_id}/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, case_id: CaseId, who: Person, locker: LockerDep) -> Response:
    with reading(locker.engine) as conn:
        board = _dashboard(conn, who[0], case_id)
    return TEMPLATES.TemplateResponse(
        request, "dashboard.html", {"user": who[0], "csrf": who[1], "board": board}
    )


@router.get("/api/cases/{case_id}/dashboard")
def api_dashboard(case_id: CaseId, who: Person, locker: LockerDep) -> dict[str, Any]:
    with reading(locker.engine) as conn:
        return _dashboard(conn, who[0], case_id)


EXPORT_PAGE = 2_000  # items read at a time into an export of the grid


def _export_pages(
    locker: Locker, user: User, case_id: int, filters: Filters
) -> Iterator[list[dict[str, Any]]]:
    """The grid's items, with its filters, every page, in pages of EXPORT_PAGE read by key,
    each in a reading transaction of its own: a case of a million items is never held in
    memory nor bound as one parameter, and no transaction stays open while the client reads.
    The first page is read (and the person's access checked) when the first is asked for."""
    after: str | None = None
    while True:
        with reading(locker.engine) as conn:
            cut = grid_pages.Cut(EXPORT_PAGE, after=after)
            rows = case_items(conn, user, case_id, filters, cut)[2]
        yield [{k: row.get(k) for k in EXPORT_FIELDS} for row in rows]
        if len(rows) < EXPORT_PAGE:
            return
        after = rows[-1]["sha256"]


def _streamed(
    pages: Iterator[list[dict[str, Any]]], write: Callable[[list[dict[str, Any]], bool], str]
) -> Iterator[str]:
    """`write(page, first)` of each page, the first read before the response starts: a
    person without access, or a malformed filter, gets an error rather than a cut-off file."""
    first = next(pages)
    yield write(first, True)
    for page in pages:
        yield write(page, False)


def _export(content: Iterator[str], media_type: str, name: str) -> StreamingResponse:
    ready = [next(content)]  # raises here, before the status line is sent
    return StreamingResponse(
        itertools.chain(ready, content),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/cases/{case_id}/items.csv")
def export_csv(
    case_id: CaseId, who: Person, locker: LockerDep, filters: Annotated[Filters, Depends()]
) -> Response:
    """The grid's items, with its filters (every page), as CSV (cells that a spreadsheet would
    run as a formula are prefixed with ')."""

    def write(page: list[dict[str, Any]], first: bool) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, EXPORT_FIELDS)
        if first:
            writer.writeheader()
        for row in page:
            writer.writerow({k: _cell(v) for k, v in row.items()})
        return out.getvalue()

    content = _streamed(_export_pages(locker, who[0], case_id, filters), write)
    return _export(content, "text/csv; charset=utf-8", f"case-{case_id}-items.csv")


@router.get("/cases/{case_id}/items.json")
def export_json(
    case_id: CaseId, who: Person, locker: LockerDep, filters: Annotated[Filters, Depends()]
) -> Response:
    """The grid's items, with its filters (every page), as JSON (the same fields as the CSV):
    one array, written as json.dumps(rows, indent=1) writes it."""
    written = [0]

    def write(page: list[dict[str, Any]], first: bool) -> str:
        rows = [textwrap.indent(json.dumps(row, ensure_ascii=False, indent=1), " ") for row in page]
        start = "[\n" if written[0] == 0 else ",\n"
        written[0] += len(page)
        return start + ",\n".join(rows) if rows else ""

    def closed(content: Iterator[str]) -> Iterator[str]:
        yield from content
        yield "\n]" if written[0] else "[]"

    content = closed(_streamed(_export_pages(locker, who[0], case_id, filters), write))
    return _export(content, "application/json", f"case-{case_id}-items.json")


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
