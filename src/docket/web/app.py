"""The FastAPI app: pages for people, the same actions as JSON under /api for programs.

Every route decides access through docket.access (never in a template); every reveal is a
custody event before a byte of the original is sent; forms carry a CSRF token bound to the
session; sessions live in an HttpOnly, SameSite=Strict cookie.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import Connection, insert, select
from starlette.background import BackgroundTask

from docket import access, accounts, clock, incidents, review, similarity
from docket.accounts import User
from docket.catalogue import queries, schema
from docket.catalogue.database import reading
from docket.catalogue.records import latest_result
from docket.custody import ledger, log
from docket.disclose.package import export, items_of_case
from docket.errors import DocketError, NotFoundError
from docket.ingest.run import IngestOptions, ingest
from docket.locker import Locker
from docket.protect import flags
from docket.web import incident_routes
from docket.web.guard import (
    COOKIE,
    TEMPLATES,
    BadCsrf,
    CaseId,
    EventSeq,
    FrameNumber,
    ItemId,
    NotSignedIn,
    Person,
    allowed_case,
    check_csrf,
    may,
    transaction,
)

PAGE_SIZE = 100
MAX_PAGE = 10**6
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Filters:
    """Grid filters, from the query string: text search, media type, flag, has GPS, capture
    dates (YYYY-MM-DD, inclusive), near-duplicate group, and the page (PAGE_SIZE items each;
    the item lists of big cases are never sent whole)."""

    q: str = ""
    type: str = ""
    flag: str = ""
    gps: bool = False
    since: str = ""
    until: str = ""
    cluster: Annotated[int, Query(ge=0, le=MAX_PAGE)] = 0
    page: int = 1

    def apply(
        self, conn: Connection, case: str, items: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        if self.q.strip():
            kept = set(review.search(conn, [row["sha256"] for row in items], self.q))
            items = [row for row in items if row["sha256"] in kept]
        if self.type:
            items = [row for row in items if str(row["media_type"]).startswith(self.type)]
        if self.flag:
            items = [row for row in items if flags.current_flag(conn, row["sha256"]) == self.flag]
        if self.gps:
            items = [row for row in items if _has_gps(conn, row["sha256"])]
        if self.since or self.until:
            items = self._captured_between(conn, items)
        if self.cluster:
            groups = similarity.clusters(conn, case)
            members = set(groups[self.cluster - 1].items) if self.cluster <= len(groups) else set()
            items = [row for row in items if row["sha256"] in members]
        return items[self.offset : self.offset + PAGE_SIZE]

    def _captured_between(
        self, conn: Connection, items: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        for bound in (self.since, self.until):
            if bound and not _DAY.fullmatch(bound):
                raise DocketError(f"{bound!r}: dates are YYYY-MM-DD")
        origins = similarity.provenance(conn, [row["sha256"] for row in items])
        low, high = self.since or "0000-00-00", self.until or "9999-99-99"
        return [
            row
            for row in items
            if (captured := origins[row["sha256"]].capture_time) is not None
            and low <= captured[:10] <= high
        ]

    @property
    def offset(self) -> int:
        return (min(max(self.page, 1), MAX_PAGE) - 1) * PAGE_SIZE

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
        )

    def query(self, **changes: Any) -> str:
        """This filter as a query string, with `changes` (for paging links)."""
        fields = {k: v for k, v in {**self.__dict__, **changes}.items() if v not in ("", 0, False)}
        return urlencode(fields)


def _has_gps(conn: Connection, sha256: str) -> bool:
    found = latest_result(conn, sha256, "metadata")
    normalised = {} if found is None else found["data"].get("normalised", {})
    return normalised.get("gps_latitude") is not None


def _may_view_incident(conn: Connection, user: User, incident_id: int) -> bool:
    try:
        access.require_incident(conn, user, incident_id, "view")
    except DocketError:
        return False
    return True


def _linkable_incidents(conn: Connection, user: User, cases: list[str]) -> list[dict[str, Any]]:
    """Incidents of the item's cases in which this person may link evidence."""
    found = []
    for case_id, name, role in access.visible_cases(conn, user):
        if name in cases and role in access.ALLOWED["annotate"]:
            found += [{**i, "case_name": name} for i in incidents.of_case(conn, case_id)]
    return found


def case_groups(conn: Connection, case_name: str) -> list[dict[str, Any]]:
    """The case's near-duplicate groups, numbered as the grid's cluster filter numbers them."""
    groups = similarity.clusters(conn, case_name)
    names = {
        row["sha256"]: row["name"]
        for row in queries.list_items(conn, only=[g.earliest for g in groups])
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


def _annotation(text: str, region: str, start: str, end: str) -> review.Annotation:
    try:
        box = tuple(int(v) for v in region.split(",")) if region.strip() else None
        begin = float(start) if start.strip() else None
        finish = float(end) if end.strip() else None
    except ValueError as exc:
        raise DocketError("region is x,y,w,h in pixels; start and end are seconds") from exc
    if box is not None and len(box) != 4:
        raise DocketError("region is x,y,w,h in pixels")
    kind = "region" if box else "span" if begin is not None or finish is not None else "note"
    return review.Annotation(kind, text, box, begin, finish)


def create_app(locker: Locker) -> FastAPI:
    app = FastAPI(title="Docket", version="0.1.0")
    app.state.locker = locker
    app.include_router(incident_routes.router)

    def reader() -> AbstractContextManager[Connection]:
        return reading(locker.engine)

    @app.exception_handler(DocketError)
    def on_error(request: Request, exc: DocketError) -> Response:
        if isinstance(exc, NotSignedIn) and not request.url.path.startswith("/api"):
            return RedirectResponse("/login", status_code=303)
        status = {
            NotSignedIn: 401,
            BadCsrf: 403,
            access.ForbiddenError: 403,
            NotFoundError: 404,
        }.get(type(exc), 400)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"user": None})

    @app.post("/login")
    def login(
        request: Request, name: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> Response:
        with transaction(locker) as conn:
            user = accounts.authenticate(conn, name, password)
            token = None if user is None else accounts.start_session(conn, user)[0]
        if token is None:
            return TEMPLATES.TemplateResponse(
                request,
                "login.html",
                {"user": None, "error": "wrong name or password"},
                status_code=401,
            )
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response

    @app.post("/logout")
    def logout(request: Request, who: Person, csrf: Annotated[str, Form()] = "") -> Response:
        check_csrf(who[1], csrf)
        with transaction(locker) as conn:
            accounts.end_session(conn, request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse)
    def cases_page(request: Request, who: Person) -> Response:
        with reader() as conn:
            cases = access.visible_cases(conn, who[0])
        return TEMPLATES.TemplateResponse(
            request, "cases.html", {"user": who[0], "csrf": who[1], "cases": cases}
        )

    @app.post("/cases")
    def create_case(
        who: Person, name: Annotated[str, Form()], csrf: Annotated[str, Form()] = ""
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

    def case_items(
        conn: Connection, user: User, case_id: int, filters: Filters | None = None
    ) -> tuple[str, str, list[Any]]:
        case_name, role = allowed_case(conn, user, case_id, "view")
        filters = filters or Filters()
        if not filters.narrows:  # the common case: let the database cut the page
            return case_name, role, queries.list_items(conn, case_name, PAGE_SIZE, filters.offset)
        return case_name, role, filters.apply(conn, case_name, queries.list_items(conn, case_name))

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    def case_page(
        request: Request, case_id: CaseId, who: Person, filters: Annotated[Filters, Depends()]
    ) -> Response:
        with reader() as conn:
            case_name, role, items = case_items(conn, who[0], case_id, filters)
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
            },
        )

    def item_detail(conn: Connection, user: User, sha256: str) -> dict[str, Any]:
        access.require_item(conn, user, sha256, "view")
        detail = queries.describe_item(conn, sha256)
        detail["flag"] = flags.current_flag(conn, sha256)
        detail["events"] = [e.__dict__ for e in log.events(conn, sha256)]
        detail["tags"] = review.tags_of(conn, sha256)
        detail["annotations"] = review.annotations_of(conn, sha256)
        detail["keyframes"] = [time for time, _ in queries.keyframes(conn, sha256)]
        detail["incidents"] = [
            link
            for link in incidents.of_item(conn, sha256)
            if _may_view_incident(conn, user, link["incident"])
        ]
        return detail

    def near_duplicates(conn: Connection, user: User, sha256: str) -> list[dict[str, Any]]:
        """Near-duplicates this person may see (others are not hinted at)."""
        try:
            found = similarity.similar(conn, sha256)
        except similarity.NoUsableHashError:
            return []
        visible = [m for m in found if may(conn, user, m.item, "view")]
        names = {
            row["sha256"]: row["name"]
            for row in queries.list_items(conn, only=[m.item for m in visible])
        }
        return [{**m.__dict__, "name": names.get(m.item, "")} for m in visible]

    @app.get("/items/{sha256}", response_class=HTMLResponse)
    def item_page(request: Request, sha256: ItemId, who: Person) -> Response:
        with reader() as conn:
            detail = item_detail(conn, who[0], sha256)
            may_reveal = may(conn, who[0], sha256, "reveal")
            may_annotate = may(conn, who[0], sha256, "annotate")
            similar = near_duplicates(conn, who[0], sha256)
            linkable = _linkable_incidents(conn, who[0], detail["cases"]) if may_annotate else []
        return TEMPLATES.TemplateResponse(
            request,
            "item.html",
            {
                "user": who[0],
                "csrf": who[1],
                "item": detail,
                "flag": detail["flag"],
                "flags": flags.FLAGS,
                "events": detail["events"],
                "may_reveal": may_reveal,
                "may_annotate": may_annotate,
                "similar": similar,
                "linkable": linkable,
            },
        )

    @app.get("/api/items/{sha256}/similar")
    def api_similar(sha256: ItemId, who: Person) -> list[dict[str, Any]]:
        with reader() as conn:
            access.require_item(conn, who[0], sha256, "view")
            return near_duplicates(conn, who[0], sha256)

    def set_flag(who: tuple[User, str | None], sha256: str, value: str) -> str:
        with transaction(locker) as conn:
            access.require_item(conn, who[0], sha256, "annotate")
            flags.flag(conn, who[0].name, sha256, value)
            return flags.current_flag(conn, sha256)

    @app.post("/items/{sha256}/flag")
    def flag_page(
        sha256: ItemId, who: Person, flag: Annotated[str, Form()], csrf: Annotated[str, Form()] = ""
    ) -> Response:
        check_csrf(who[1], csrf)
        set_flag(who, sha256, flag)
        return RedirectResponse(f"/items/{sha256}", status_code=303)

    @app.post("/api/items/{sha256}/flag")
    def api_flag(
        request: Request, sha256: ItemId, who: Person, body: dict[str, str]
    ) -> dict[str, str]:
        check_csrf(who[1], request.headers.get("x-csrf-token"))
        return {"flag": set_flag(who, sha256, str(body.get("flag", "")))}

    def reveal_keyframe(who: tuple[User, str | None], sha256: str, number: int) -> Response:
        with transaction(locker) as conn:
            access.require_item(conn, who[0], sha256, "reveal")
            frames = queries.keyframes(conn, sha256)
            if not 0 <= number < len(frames):
                raise NotFoundError(f"item {sha256[:12]}: no keyframe {number}")
            time, blob = frames[number]
            flags.reveal(conn, who[0].name, sha256, f"keyframe at {time} s (web)")
        return FileResponse(
            locker.store.path(blob), media_type="image/jpeg", headers={"Cache-Control": "no-store"}
        )

    @app.post("/items/{sha256}/keyframes/{number}/reveal")
    def keyframe_page(
        sha256: ItemId, number: FrameNumber, who: Person, csrf: Annotated[str, Form()] = ""
    ) -> Response:
        check_csrf(who[1], csrf)
        return reveal_keyframe(who, sha256, number)

    @app.post("/api/items/{sha256}/keyframes/{number}/reveal")
    def api_keyframe(
        request: Request, sha256: ItemId, number: FrameNumber, who: Person
    ) -> Response:
        check_csrf(who[1], request.headers.get("x-csrf-token"))
        return reveal_keyframe(who, sha256, number)

    @app.get("/cases/{case_id}/groups", response_class=HTMLResponse)
    def groups_page(request: Request, case_id: CaseId, who: Person) -> Response:
        with reader() as conn:
            case_name, _ = allowed_case(conn, who[0], case_id, "view")
            groups = case_groups(conn, case_name)
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

    @app.get("/api/cases/{case_id}/groups")
    def api_groups(case_id: CaseId, who: Person) -> list[dict[str, Any]]:
        with reader() as conn:
            case_name, _ = allowed_case(conn, who[0], case_id, "view")
            return case_groups(conn, case_name)

    @app.get("/items/{sha256}/safe-preview")
    def safe_preview(sha256: ItemId, who: Person) -> Response:
        with reader() as conn:
            access.require_item(conn, who[0], sha256, "view")
            blob = queries.derivative_paths(conn, sha256).get("safe_preview")
        if blob is None:
            raise NotFoundError(f"item {sha256[:12]}: no safe preview (not a picture or video)")
        return FileResponse(locker.store.path(blob), media_type="image/jpeg")

    def reveal(who: tuple[User, str | None], sha256: str) -> Response:
        with reader() as conn:
            access.require_item(conn, who[0], sha256, "reveal")
            media_type = conn.execute(
                select(schema.items.c.media_type).where(schema.items.c.sha256 == sha256)
            ).scalar_one()
            flags.reveal(conn, who[0].name, sha256, "original (web)")
        return FileResponse(
            locker.store.path(sha256),
            media_type=str(media_type),
            headers={"Cache-Control": "no-store"},
        )

    @app.post("/items/{sha256}/reveal")
    def reveal_page(sha256: ItemId, who: Person, csrf: Annotated[str, Form()] = "") -> Response:
        check_csrf(who[1], csrf)
        return reveal(who, sha256)

    @app.get("/api/cases")
    def api_cases(who: Person) -> list[dict[str, Any]]:
        with reader() as conn:
            return [
                {"id": i, "name": n, "role": r} for i, n, r in access.visible_cases(conn, who[0])
            ]

    @app.get("/api/cases/{case_id}/items")
    def api_case_items(
        case_id: CaseId, who: Person, filters: Annotated[Filters, Depends()]
    ) -> list[dict[str, Any]]:
        with reader() as conn:
            return case_items(conn, who[0], case_id, filters)[2]

    @app.get("/api/items/{sha256}")
    def api_item(sha256: ItemId, who: Person) -> dict[str, Any]:
        with reader() as conn:
            return item_detail(conn, who[0], sha256)

    @app.post("/api/items/{sha256}/reveal")
    def api_reveal(request: Request, sha256: ItemId, who: Person) -> Response:
        check_csrf(who[1], request.headers.get("x-csrf-token"))
        return reveal(who, sha256)

    @app.get("/api/events/{seq}/proof")
    def api_proof(seq: EventSeq, who: Person) -> dict[str, Any]:
        with reader() as conn:
            event = log.get(conn, seq)
            if event is None or (event.item is None and not who[0].is_admin):
                raise NotFoundError(f"event {seq}: no such event")
            if event.item is not None:
                access.require_item(conn, who[0], event.item, "view")
            proof = ledger.prove_inclusion(conn, locker.origin, seq)
        return proof.as_dict(locker.public_key)

    @app.post("/api/cases/{case_id}/members")
    def api_add_member(
        request: Request, case_id: CaseId, who: Person, body: dict[str, str]
    ) -> dict[str, str]:
        check_csrf(who[1], request.headers.get("x-csrf-token"))
        with transaction(locker) as conn:
            row = conn.execute(
                select(schema.users).where(schema.users.c.name == body.get("user", ""))
            ).first()
            if row is None:
                raise NotFoundError(f"user {body.get('user')!r}: no such user")
            member = User(int(row.id), str(row.name), str(row.role))
            access.add_member(conn, who[0], case_id, member, body.get("role", ""))
        return {"user": member.name, "role": body["role"]}

    @app.post("/cases/{case_id}/upload")
    async def upload(
        case_id: CaseId, who: Person, files: list[UploadFile], csrf: Annotated[str, Form()] = ""
    ) -> dict[str, Any]:
        """Files from the browser take the same ingest path as the CLI's (durable first,
        then recorded, then analysed), into this case."""
        check_csrf(who[1], csrf)
        with transaction(locker) as conn:
            case_name, _ = allowed_case(conn, who[0], case_id, "upload")
        with tempfile.TemporaryDirectory(prefix="docket-upload-") as scratch:
            for number, upload in enumerate(files):
                name = Path(upload.filename or f"upload-{number}").name or f"upload-{number}"
                target = Path(scratch) / f"{number:04d}-{name}"
                with target.open("wb") as out:
                    while chunk := await upload.read(1 << 20):
                        out.write(chunk)
            summary = await run_in_threadpool(
                ingest,
                locker,
                [os.fsencode(scratch)],
                IngestOptions(
                    collector=who[0].name, case=case_name, note="uploaded in the browser"
                ),
            )
        return {"outcomes": [o.__dict__ for o in summary.outcomes]}

    @app.post("/cases/{case_id}/export")
    def export_case(
        case_id: CaseId,
        who: Person,
        profile: Annotated[str, Form()],
        recipient: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(who[1], csrf)
        with transaction(locker) as conn:
            case_name, _ = allowed_case(conn, who[0], case_id, "export")
            items = items_of_case(conn, case_name)
        folder = Path(tempfile.mkdtemp(prefix="docket-web-export-"))
        package = folder / f"{_UNSAFE.sub('_', case_name)}-{profile}.zip"
        export(locker, items, profile, package, who[0].name, recipient or None)
        return FileResponse(
            package,
            media_type="application/zip",
            filename=package.name,
            background=BackgroundTask(shutil.rmtree, folder, True),
        )

    @app.post("/items/{sha256}/tags")
    def tag_page(
        sha256: ItemId, who: Person, tag: Annotated[str, Form()], csrf: Annotated[str, Form()] = ""
    ) -> Response:
        check_csrf(who[1], csrf)
        with transaction(locker) as conn:
            access.require_item(conn, who[0], sha256, "annotate")
            review.add_tag(conn, who[0].name, sha256, tag)
        return RedirectResponse(f"/items/{sha256}", status_code=303)

    @app.post("/items/{sha256}/annotations")
    def annotate_page(
        sha256: ItemId,
        who: Person,
        text: Annotated[str, Form()],
        region: Annotated[str, Form()] = "",
        start: Annotated[str, Form()] = "",
        end: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(who[1], csrf)
        note = _annotation(text, region, start, end)
        with transaction(locker) as conn:
            access.require_item(conn, who[0], sha256, "annotate")
            review.annotate(conn, who[0].name, sha256, note)
        return RedirectResponse(f"/items/{sha256}", status_code=303)

    @app.post("/api/items/{sha256}/tags")
    def api_tag(
        request: Request, sha256: ItemId, who: Person, body: dict[str, str]
    ) -> dict[str, Any]:
        check_csrf(who[1], request.headers.get("x-csrf-token"))
        with transaction(locker) as conn:
            access.require_item(conn, who[0], sha256, "annotate")
            review.add_tag(conn, who[0].name, sha256, str(body.get("tag", "")))
            return {"tags": review.tags_of(conn, sha256)}

    @app.post("/api/items/{sha256}/annotations")
    def api_annotate(
        request: Request, sha256: ItemId, who: Person, body: dict[str, str]
    ) -> dict[str, Any]:
        check_csrf(who[1], request.headers.get("x-csrf-token"))
        note = _annotation(
            str(body.get("text", "")),
            str(body.get("region", "")),
            str(body.get("start", "")),
            str(body.get("end", "")),
        )
        with transaction(locker) as conn:
            access.require_item(conn, who[0], sha256, "annotate")
            return {"id": review.annotate(conn, who[0].name, sha256, note)}

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "time": clock.now()}

    return app
