"""Cases: the list, new cases, the paged and filtered item grid, members, upload, export and
near-duplicate groups: pages and the same under /api.

Access is decided by docket.access: anyone in a case sees its grid and groups; owners and
investigators upload and export; owners add members; only admins create cases. What a case
shows is decided by docket.scope: names, arrivals, flags and search are the case's own.

On PostgreSQL an export is a job (docket.jobs.export): the package is made by a worker into
the package area and fetched by the person who asked, whose case page lists it until then.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from sqlalchemy import ColumnElement, Connection, insert, select
from starlette.background import BackgroundTask

from docket import (
    access,
    accounts,
    incidents,
    item_filters,
    locale,
    review,
    saved_searches,
    scope,
    search,
    similarity,
)
from docket.accounts import User
from docket.catalogue import prebuilt, queries, schema
from docket.catalogue.database import reading
from docket.custody import log
from docket.disclose.package import PROFILES, export, file_name, items_of_case
from docket.errors import DocketError, NotFoundError
from docket.ingest.run import ingest
from docket.item_filters import ItemFilter
from docket.jobs import capture as capture_job
from docket.jobs import export as export_job
from docket.jobs.queue import has_queue
from docket.locker import Locker
from docket.protect import flags
from docket.store import scratch
from docket.web import grid_pages, i18n, tiles, uploads
from docket.web.guard import (
    TEMPLATES,
    CaseId,
    LockerDep,
    Person,
    allowed_case,
    check_csrf,
    transaction,
)

PAGE_SIZE = 100
MAX_RECIPIENT = 255
MAX_PAGE = 10**6
# Pages by number are read by skipping the items before them (OFFSET), dearer the deeper:
# at a million items page 10,000 took over 10 s of a serving thread (a filtered one, as long
# as walking the case). Past this page the grid, filtered or not, goes by key (`after`,
# `before`), as its own links do, as a search engine caps its windows.
DEEPEST_BY_NUMBER = 100
# A status or media-type filter is driven by the items that may pass it (ever set to that
# status; of those types) when there are no more than this many: a walk of a million-item
# case took seconds for a filter only a few items pass. Past it, the case is walked, which
# finds a page quickly when many items pass.
DRIVEN_MOST = 20_000
# Items captured in a date range are read by the case's index of capture times and sorted
# when there are no more than this many; counting them reads at most this many index
# entries, where a walk of the case in order reads about 100 x case / passing memberships
# for a page: past 5,000 passing, at most 20,000 of a million-item case, and 200 when half of
# it passes (counting to 20,000 cost those pages 2 ms each). Items with a position need no
# count: their index reads them in the grid's order (migration 0022).
MEMBERSHIP_DRIVEN_MOST = 5_000

router = APIRouter()


@dataclass
class Filters:
    """Grid filters, from the query string: text search, media type, flag, has GPS, capture
    dates (YYYY-MM-DD, inclusive), near-duplicate group, workflow status, and the page
    (PAGE_SIZE items each; the item lists of big cases are never sent whole)."""

    q: str = ""
    type: str = ""
    flag: str = ""
    gps: bool = False
    since: str = ""
    until: str = ""
    cluster: Annotated[str, Query(pattern=r"^[0-9]{0,6}$")] = ""  # a group number; "" for any
    status: str = ""  # a workflow status (docket.review); "" for any
    page: int = 1
    # The page after this item, or the page just before this one (their SHA-256s): keys, so a
    # deep page costs what the first does.
    after: Annotated[str, Query(pattern=r"^([0-9a-f]{64})?$")] = ""
    before: Annotated[str, Query(pattern=r"^([0-9a-f]{64})?$")] = ""

    def __post_init__(self) -> None:
        # Any number a query string holds is a page: past the last one shows none (a number
        # too big to format once made the grid a server error).
        self.page = min(max(self.page, 1), MAX_PAGE)

    def narrowing(self, conn: Connection, view: scope.Scope) -> grid_pages.Narrowing:
        """What this filter asks of each item of the case: its media type, GPS, dates, flag
        and status as conditions the database tests; its text search and group as the items
        they find."""
        chosen = ItemFilter(
            self.type,
            self.flag,
            self.gps,
            self.since,
            self.until,
            int(self.cluster) if self.cluster else None,
        )
        dialect = conn.dialect.name
        among: list[set[str]] = []
        if self.q.strip():
            among.append(set(search.matching(conn, self.q, view)))
        if chosen.cluster is not None:
            among.append(chosen.group(conn, view.case))
        driver = None
        if view.case_id is not None:
            among.extend(self._driving(conn, view, view.case_id).values())
            driver = self._membership_driver(conn, view.case_id)

        def conditions(member: Any) -> list[ColumnElement[bool]]:
            item = member.c.item_sha256
            in_case = member if view.case_id is not None else None
            found = chosen.conditions(dialect, item, in_case, driver)
            if self.flag:
                found.append(flags.flag_is(dialect, item, self.flag))
            if self.status:
                found.append(review.status_is(item, view.case_id or 0, self.status))
            return found

        only = set.intersection(*among) if among else None
        return grid_pages.Narrowing(conditions, only, sorted_after=driver == "dates")

    def _driving(self, conn: Connection, view: scope.Scope, case_id: int) -> dict[str, set[str]]:
        """Items that include every one this filter's status, media type and flag keep, each
        when they are few enough to drive the page (DRIVEN_MOST) rather than walk the case,
        by what they are of."""
        found: dict[str, set[str] | None] = {}
        if self.status and self.status != review.Status().status:
            found["status"] = review.ever_set_to(conn, case_id, self.status, DRIVEN_MOST)
        if self.type:
            held = queries.case_types(conn, case_id)
            types = [media_type for media_type in held if media_type.startswith(self.type)]
            found["type"] = queries.items_of_types(conn, case_id, types, DRIVEN_MOST)
        if self.flag:
            found["flag"] = flags.ever_flagged(conn, view, self.flag, DRIVEN_MOST)
        return {what: items for what, items in found.items() if items is not None}

    def _membership_driver(self, conn: Connection, case_id: int) -> str | None:
        """The condition on what each membership carries that drives the page: "dates" when
        the items captured in the range are few enough (MEMBERSHIP_DRIVEN_MOST) to be read
        from their index and sorted; else "gps" when the filter asks for a position (that
        index is in the grid's order); None when the case is to be walked in order until a
        page passes."""
        dated = self.since or self.until
        if dated and item_filters.captures_are_few(
            conn, case_id, self.since, self.until, MEMBERSHIP_DRIVEN_MOST
        ):
            return "dates"
        return "gps" if self.gps else None

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    @property
    def narrows(self) -> bool:
        return bool(
            self.q.strip()
            or self.type
            or self.flag
            or self.gps
            or self.since
            or self.until
            or self.cluster
            or self.status
        )

    def query(self, **changes: Any) -> str:
        """This filter as a query string, with `changes` (for paging links)."""
        fields = {k: v for k, v in {**self.__dict__, **changes}.items() if v not in ("", 0, False)}
        return urlencode(fields)

    def whole(self) -> str:
        """This filter as a query string for the whole list, without a page or a page's key
        (a saved search, an export of every page)."""
        return self.query(page=0, after="", before="")


def case_items(
    conn: Connection,
    user: User,
    case_id: int,
    filters: Filters,
    cut: grid_pages.Cut | None = None,
) -> tuple[str, str, list[Any]]:
    """The case's name, the person's role, and the items of the filter's page (or of `cut`,
    for exports), each with its flag, status, assignee and what its tile says (web.tiles)."""
    case_name, role = allowed_case(conn, user, case_id, "view")
    view = scope.Scope(case_id, case_name, user.is_admin)  # scope.of_case, checked just above
    if cut is None:
        by_key = filters.after or filters.before
        cut = (
            grid_pages.Cut(PAGE_SIZE, after=filters.after or None, before=filters.before or None)
            if by_key
            else grid_pages.Cut(PAGE_SIZE, filters.offset)
        )
    if cut.size is not None and cut.offset > (DEEPEST_BY_NUMBER - 1) * PAGE_SIZE:
        raise DocketError(
            f"page {filters.page}: pages past {DEEPEST_BY_NUMBER} are reached by key; give "
            "after=<the SHA-256 of the last item of the page before> (or before=<the first "
            "of the page after>)"
        )
    if not filters.narrows:  # the common case: the database cuts the page
        found = grid_pages.page(conn, case_id, cut)
    else:
        narrowing = filters.narrowing(conn, view)
        viewed = prebuilt.view(view.case_id, view.cases)
        found = grid_pages.filtered_page(conn, case_id, narrowing, viewed, cut)
    items = grid_pages.rows(conn, case_id, found)
    shas = [row["sha256"] for row in items]
    current = flags.current_flags(conn, shas, view)
    workflow = review.statuses_of(conn, shas, view)
    for row in items:  # the grid blurs all but items flagged clear
        row["flag"] = current[row["sha256"]]
        row["status"] = workflow[row["sha256"]].status
        row["assignee"] = workflow[row["sha256"]].assignee
    tiles.describe(conn, case_name, items)
    return case_name, role, items


def _case_groups(conn: Connection, case_name: str) -> list[dict[str, Any]]:
    """The case's near-duplicate groups, numbered as the grid's cluster filter numbers them."""
    groups = similarity.clusters(conn, case_name)
    names = {
        row["sha256"]: row["name"]
        for row in queries.list_items(conn, case_name, only=[g.earliest for g in groups])
    }
    return [
        {
            "number": g.number,
            "size": len(g.items),
            "earliest": g.earliest,
            "name": names[g.earliest],
        }
        for g in groups
    ]


@router.get("/", response_class=HTMLResponse)
def cases_page(request: Request, who: Person, locker: LockerDep) -> Response:
    with reading(locker.engine) as conn:
        cases = access.visible_cases(conn, who[0])
    return TEMPLATES.TemplateResponse(
        request, "cases.html", {"user": who[0], "csrf": who[1], "cases": cases}
    )


@router.post("/cases")
def create_case(
    who: Person, locker: LockerDep, name: Annotated[str, Form()], csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(who[1], csrf)
    if not who[0].is_admin:
        raise access.ForbiddenError("only an admin creates cases")
    with transaction(locker) as conn:
        taken = conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == name))
        if taken.first() is not None:
            raise DocketError(f"case {name!r} already exists")
        event = log.append(conn, who[0].name, "case.created", details={"name": name})
        conn.execute(insert(schema.cases).values(name=name, created_at=event.time))
    return RedirectResponse("/", status_code=303)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request,
    case_id: CaseId,
    who: Person,
    locker: LockerDep,
    filters: Annotated[Filters, Depends()],
) -> Response:
    with reading(locker.engine) as conn:
        case_name, role, items = case_items(conn, who[0], case_id, filters)
        saved = saved_searches.of_case(conn, who[0], case_id)
        linkable = incidents.of_case(conn, case_id)
        captures = capture_job.pending(conn, case_id)
        exports = requested_exports(locker, conn, who[0], case_id)
    return TEMPLATES.TemplateResponse(
        request,
        "case.html",
        {
            "user": who[0],
            "csrf": who[1],
            "case_id": case_id,
            "case_name": case_name,
            "role": role,
            "items": items,
            "filters": filters,
            "page_size": PAGE_SIZE,
            "deepest_by_number": DEEPEST_BY_NUMBER,
            "methods": uploads.METHODS,
            "statuses": review.STATUSES,
            "flags": flags.FLAGS,
            "may_annotate": role in access.ALLOWED["annotate"],
            "saved": saved,
            "incidents": linkable,
            "captures": captures,
            "exports": exports,
            "exports_queued": has_queue(locker.engine),  # a worker makes the package
        },
    )


@router.get("/cases/{case_id}/groups", response_class=HTMLResponse)
def groups_page(request: Request, case_id: CaseId, who: Person, locker: LockerDep) -> Response:
    with reading(locker.engine) as conn:
        case_name, _ = allowed_case(conn, who[0], case_id, "view")
        groups = _case_groups(conn, case_name)
    return TEMPLATES.TemplateResponse(
        request,
        "groups.html",
        {
            "user": who[0],
            "csrf": who[1],
            "case_id": case_id,
            "case_name": case_name,
            "groups": groups,
        },
    )


@router.get("/api/cases/{case_id}/groups")
def api_groups(case_id: CaseId, who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    with reading(locker.engine) as conn:
        case_name, _ = allowed_case(conn, who[0], case_id, "view")
        return _case_groups(conn, case_name)


@router.get("/api/cases")
def api_cases(who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    with reading(locker.engine) as conn:
        return [{"id": i, "name": n, "role": r} for i, n, r in access.visible_cases(conn, who[0])]


@router.get("/api/cases/{case_id}/items")
def api_case_items(
    case_id: CaseId, who: Person, locker: LockerDep, filters: Annotated[Filters, Depends()]
) -> list[dict[str, Any]]:
    with reading(locker.engine) as conn:
        return case_items(conn, who[0], case_id, filters)[2]


@router.post("/api/cases/{case_id}/members")
def api_add_member(
    request: Request, case_id: CaseId, who: Person, locker: LockerDep, body: dict[str, str]
) -> dict[str, str]:
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    with transaction(locker) as conn:
        # The right to manage the case first: only then is it told whether an account exists
        # (as the members page does), so no one else can learn account names by trying them.
        access.require_case(conn, who[0], case_id, "manage")
        member = accounts.user_named(conn, str(body.get("user", "")))
        access.add_member(conn, who[0], case_id, member, str(body.get("role", "")))
    return {"user": member.name, "role": str(body.get("role", ""))}


@router.post("/cases/{case_id}/upload", openapi_extra=uploads.OPENAPI)
async def upload(request: Request, case_id: CaseId, who: Person, locker: LockerDep) -> Any:
    """Files from the browser take the same ingest path as the CLI's (durable first,
    then recorded, then analysed), into this case. A page for browsers, JSON for programs.
    Who may upload is decided before a byte of the body is read; the files stream into the
    locker's own tmp/, and that scratch is gone when the request ends. Everything that
    touches the catalogue runs on a request thread: this route is async (it streams the body),
    and a wait on the database here would hold up every request of the process."""
    case_name = await run_in_threadpool(_case_to_upload_to, locker, who[0], case_id)
    with uploads.scratch(locker, "upload") as scratch:
        fields = await uploads.receive(request, scratch)
        check_csrf(who[1], fields.get("csrf"))
        summary = await run_in_threadpool(
            ingest,
            locker,
            [os.fsencode(scratch)],
            uploads.ingest_options(locker, who[0].name, case_name, scratch, fields),
        )
    outcomes = [o.__dict__ for o in summary.outcomes]
    if "text/html" in request.headers.get("accept", ""):
        return TEMPLATES.TemplateResponse(
            request,
            "uploaded.html",
            {"user": who[0], "csrf": who[1], "case_id": case_id, "outcomes": outcomes},
        )
    return {"outcomes": outcomes}


def _case_to_upload_to(locker: Locker, user: User, case_id: int) -> str:
    with reading(locker.engine) as conn:
        return allowed_case(conn, user, case_id, "upload")[0]


@router.post("/cases/{case_id}/export")
def export_case(
    request: Request,
    case_id: CaseId,
    who: Person,
    locker: LockerDep,
    profile: Annotated[str, Form()],
    recipient: Annotated[str, Form()] = "",
    items: Annotated[list[str] | None, Form()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """The case as a package, its reports in the reader's language; only the `items` ticked
    on the grid when given (each must be in the case). Where there is a queue (PostgreSQL), a
    worker makes it (docket.jobs.export): 202 {"job", "request", "status": "queued",
    "package"} for the API, a page saying where it will be for a browser. With SQLite (a vault
    too) the package is made in the request and downloaded at once."""
    check_csrf(who[1], csrf)
    with reading(locker.engine) as conn:
        case_name, _ = allowed_case(conn, who[0], case_id, "export")
        held = items_of_case(conn, case_name)
    chosen = None
    if items:
        chosen = list(dict.fromkeys(items))
        outside = sorted(set(chosen) - set(held))
        if outside:  # the same words for another case's item as for none
            raise NotFoundError(f"item {outside[0][:12]}: no such item in case {case_id}")
        held = chosen
    lang = i18n.of(request).code
    if has_queue(locker.engine):
        return _queue_export(request, who, locker, case_id, held, chosen, profile, recipient, lang)
    # The store's scratch: the locker's tmp/, or memory for a vault (the package holds originals).
    folder = scratch.make_folder(locker.store.scratch_root, "web-export")
    package = folder / file_name(case_name, profile)
    try:
        export(locker, held, profile, package, who[0].name, recipient or None, case_name, lang=lang)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        package,
        media_type="application/zip",
        filename=package.name,
        background=BackgroundTask(shutil.rmtree, folder, True),
    )


def _queue_export(
    request: Request,
    who: tuple[User, str | None],
    locker: Locker,
    case_id: int,
    held: list[str],
    chosen: list[str] | None,
    profile: str,
    recipient: str,
    lang: str,
) -> Response:
    """Refuse now what the export would refuse before writing anything, then queue it, the
    person's right to export checked again in its transaction."""
    if profile not in PROFILES:
        raise DocketError(f"{profile!r}: a profile is one of {', '.join(PROFILES)}")
    if not held:
        raise DocketError("nothing to export: no items given or the case is empty")
    if len(recipient) > MAX_RECIPIENT:
        raise DocketError(f"recipient: at most {MAX_RECIPIENT} characters")
    locale.language(lang)
    with transaction(locker) as conn:
        allowed_case(conn, who[0], case_id, "export")
        queued = export_job.defer_export(
            conn, case_id, who[0].name, chosen, profile, recipient or None, lang
        )
    assert queued is not None  # the locker has a queue
    job, digest = queued
    where = f"/cases/{case_id}/exports/{digest}"
    if "text/html" not in request.headers.get("accept", ""):
        answer = {"job": job, "request": digest, "status": "queued", "package": where}
        return JSONResponse(answer, status_code=202)
    context = {"user": who[0], "csrf": who[1], "case_id": case_id, "job": job, "package": where}
    return TEMPLATES.TemplateResponse(request, "exporting.html", context, status_code=202)


def _requested_package(conn: Connection, user: User, case_id: int, request: str) -> export_job.Made:
    """The export event of the package, for the person who asked for it, in its case, who
    may still export from it; anyone else is refused as for a package that does not exist."""
    missing = NotFoundError(f"export {request[:12]}: no such package in case {case_id}")
    made = export_job.made_already(conn, request) if export_job.DIGEST.match(request) else None
    if made is None or made.actor != user.name:
        raise missing
    case = conn.execute(select(schema.cases.c.name).where(schema.cases.c.id == case_id)).scalar()
    if case is None or made.case != case:
        raise missing
    try:
        access.require_case(conn, user, case_id, "export")
    except DocketError as exc:
        raise missing from exc
    return made


@router.get("/cases/{case_id}/exports/{request}")
def download_export(case_id: CaseId, request: str, who: Person, locker: LockerDep) -> Response:
    """The package a worker made for this person (docket.jobs.export), streamed. Its export
    event marks the making, not the fetching: downloading records nothing in custody (a note
    beside the package, once sent whole, takes it off the person's list). Anyone else gets
    the words of a package that does not exist."""
    with reading(locker.engine) as conn:
        made = _requested_package(conn, who[0], case_id, request)
    package = export_job.package_path(locker, request)
    if not package.is_file():  # expired (`docket jobs clean`) or never moved into place
        raise NotFoundError(f"export {request[:12]}: no such package in case {case_id}")
    return FileResponse(
        package,
        media_type="application/zip",
        filename=file_name(made.case, made.profile),
        background=BackgroundTask(export_job.mark_fetched, package),
    )


def requested_exports(
    locker: Locker, conn: Connection, user: User, case_id: int
) -> list[dict[str, Any]]:
    """The person's exports from the case not fetched yet: queued, running, failed (with the
    reason) or ready, with where each package is (or will be)."""
    found = export_job.requested(locker, conn, case_id, user.name)
    return [vars(r) | {"package": f"/cases/{case_id}/exports/{r.request}"} for r in found]


@router.get("/api/cases/{case_id}/exports")
def api_exports(case_id: CaseId, who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    """The person's own exports from the case not fetched yet, newest first: [{"job",
    "request", "profile", "status": "queued" | "running" | "failed" | "ready", "reason",
    "package"}]; empty with SQLite (no queue)."""
    with reading(locker.engine) as conn:
        allowed_case(conn, who[0], case_id, "view")
        return requested_exports(locker, conn, who[0], case_id)
