"""Redaction in the browser: a page per picture or video where a person draws boxes (or
types them), accepts or rejects the faces the detector proposes, chooses mosaic or fill, a
time range for video and whether to keep the metadata, previews the result and saves it;
and the same under /api.

Who may: those who may annotate an item in its case (docket.access: owners, investigators,
reviewers) make redacted copies; a viewer is refused (403), anyone outside the case finds
no such item (404). Approving a copy for publication stays on the item page, with those who
may export.

What the page shows follows the item preview's rule (docket.protect.flags): the picture, or
the video's frame at the chosen time, is grey and blurred beyond recognition unless the item
is flagged clear in the case; plain only after a reveal, recorded in the custody log before
a byte is sent, and fed by a ticket for that item's still at that time alone
(docket.web.tickets), as the error-level picture's reveal is. The preview of the result
follows the same rule. Stills are made from the original by the sandboxed redaction worker
(RedactStep.still); nothing is stored until the person saves.

Saving runs the same step on the same path as `docket redact` (docket.protect.copying): one
`redact.recorded` custody event with every parameter, including whether the metadata was
kept. Boxes are in pixels of the upright picture (the page's script converts what is drawn
on the shown picture); a box reaching outside the picture is refused with its reason.

Where the locker has a job queue (PostgreSQL), saving queues the redaction as a job once
those checks pass (docket.jobs.redaction) and answers at once: the page goes back to the item
page with "redaction queued", the API answers 202 with the job's id, and a worker makes the
copy. The item page lists the case's redactions not made yet (queued, running, or failed with
the reason: `pending`, shown by templates/_redactions_queued.html). With SQLite the copy is
made before the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from docket import access, scope
from docket.accounts import User
from docket.catalogue import schema
from docket.catalogue.database import reading
from docket.errors import DocketError
from docket.jobs import redaction
from docket.jobs.queue import has_queue
from docket.locker import Locker
from docket.protect import copying, flags
from docket.protect.redaction import METHODS
from docket.protect.steps import RedactStep
from docket.web import tickets
from docket.web.guard import MAX_ID, TEMPLATES, ItemId, LockerDep, Person, check_csrf, transaction
from docket.web.serving import SANDBOX

router = APIRouter()
CaseChoice = Annotated[int | None, Query(ge=1, le=MAX_ID)]
REDACT = "annotate"  # the access action that lets a person make a redacted copy
MAX_REGIONS = 200
MAX_SECONDS = 10**7
HEADERS = {
    "Content-Security-Policy": SANDBOX,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Plan:
    """What a person asked for: boxes in pixels of the upright picture, the faces they
    accepted, how to cover, over which seconds of a video, which frame they look at."""

    regions: list[tuple[int, int, int, int]] = field(default_factory=list)
    faces: list[tuple[int, int, int, int]] = field(default_factory=list)
    every_frame: bool = False  # video: cover every face the detector finds, frame by frame
    method: str = "mosaic"
    keep_metadata: bool = False
    start: float | None = None
    end: float | None = None
    at: float = 0.0

    def step(self) -> RedactStep:
        if self.method not in METHODS:
            raise DocketError(f"{self.method!r}: the method is one of {', '.join(METHODS)}")
        return RedactStep(
            faces=self.every_frame,
            regions=[*self.regions, *(f for f in self.faces if f not in self.regions)],
            start=self.start,
            end=self.end,
            method=self.method,
            strip=not self.keep_metadata,
        )

    def query(self) -> dict[str, str]:
        """The plan as a preview's query string."""
        boxes = ";".join(",".join(map(str, box)) for box in self.step().regions)
        found = {"regions": boxes, "method": self.method, "faces": "1" * self.every_frame}
        found |= {"from": _text(self.start), "to": _text(self.end)}
        return {k: v for k, v in found.items() if v}


def _text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _seconds(text: str | float | None, name: str) -> float | None:
    if text is None or str(text).strip() == "":
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise DocketError(f"{name}: give seconds, e.g. 1.5, not {str(text)[:20]!r}") from exc
    if not 0 <= value <= MAX_SECONDS:
        raise DocketError(f"{name}: {value:g} s is not a time in a video")
    return value


def _box(values: Any, where: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(str(v).strip()) for v in values)
    except ValueError as exc:
        raise DocketError(f"{where}: X, Y, W and H are whole pixels") from exc
    return x, y, w, h


def _boxes(text: str) -> list[tuple[int, int, int, int]]:
    """Boxes written X,Y,W,H;X,Y,W,H (a preview's query, an accepted face)."""
    parts = [p for p in text.split(";") if p.strip()]
    if len(parts) > MAX_REGIONS:
        raise DocketError(f"more than {MAX_REGIONS} boxes")
    return [_box(p.split(","), f"box {p[:40]!r}") for p in parts]


def _kind(locker: Locker, sha256: str) -> tuple[str, str]:
    with reading(locker.engine) as conn:
        media_type = str(
            conn.execute(
                select(schema.items.c.media_type).where(schema.items.c.sha256 == sha256)
            ).scalar_one()
        )
    if not media_type.startswith(("image/", "video/")):
        raise DocketError(f"item {sha256[:12]}: only pictures and videos can be redacted here")
    return media_type, "video" if media_type.startswith("video/") else "picture"


def _view(locker: Locker, user: User, sha256: str, case: int | None) -> scope.Scope:
    """The case the item is redacted in, once the person may redact it there."""
    with transaction(locker) as conn:
        return scope.of_item(conn, user, sha256, REDACT, case)


def _still(
    locker: Locker, sha256: str, media_type: str, step: RedactStep, at: float, **how: bool
) -> tuple[dict[str, Any], bytes]:
    """The redaction worker's still of the item (RedactStep.still) and its bytes."""
    with locker.store.scratch("redaction-still") as folder, locker.store.plain_file(sha256) as blob:
        target = folder / "still"
        answer = step.still(blob, media_type, target, at, **how)
        return answer, target.read_bytes()


def _ticketed(sha256: str, kind: str, at: float) -> str:
    """What a reveal's ticket names: this item's still (at this time, for a video)."""
    return f"{sha256}/redaction-still" + (f"@{at:.3f}" if kind == "video" else "")


def _fresh(locker: Locker, user: User, ticket: str, sha256: str, kind: str, at: float) -> bool:
    return tickets.valid(tickets.ticket_key(locker), ticket, user.id, _ticketed(sha256, kind, at))


def _page(
    request: Request,
    locker: Locker,
    who: tuple[User, str | None],
    sha256: str,
    view: scope.Scope,
    plan: Plan,
    ticket: str = "",
    preview: bool = False,
) -> Response:
    media_type, kind = _kind(locker, sha256)
    found, _ = _still(locker, sha256, media_type, RedactStep(faces=True), plan.at)
    at = float(found.get("at", 0.0))
    if preview:
        where = f"item {sha256[:12]}"
        copying.check_regions(plan.step().regions, found["width"], found["height"], where)
    with reading(locker.engine) as conn:
        flag = flags.current_flag(conn, sha256, view)
    revealed = bool(ticket) and _fresh(locker, who[0], ticket, sha256, kind, at)
    scoped = {} if view.case_id is None else {"case": str(view.case_id)}
    shown = {**scoped, **({"at": f"{at:.3f}"} if kind == "video" else {})}
    shown |= {"ticket": ticket} if revealed else {}
    still = f"/items/{sha256}/redact/still?"
    accepted = set(plan.faces)
    proposals = [
        {"box": tuple(box), "accepted": not preview or tuple(box) in accepted}
        for box in found["boxes"]
    ]
    return TEMPLATES.TemplateResponse(
        request,
        "redact.html",
        {
            "user": who[0],
            "csrf": who[1],
            "sha256": sha256,
            "case_id": view.case_id,
            "kind": kind,
            "flag": flag,
            "plain": flag == "clear" or revealed,
            "revealed": revealed,
            "ticket": ticket if revealed else "",
            "width": found["width"],
            "height": found["height"],
            "at": at,
            "duration": found.get("duration"),
            "proposals": proposals,
            "plan": replace(plan, at=at),
            "methods": METHODS,
            "scoped": f"?{urlencode(scoped)}" if scoped else "",
            "back": f"/items/{sha256}" + (f"?{urlencode(scoped)}" if scoped else ""),
            "still": still + urlencode(shown),
            "preview": still + urlencode({**shown, "cover": "1", **plan.query()})
            if preview
            else None,
            "minutes": tickets.TICKET_SECONDS // 60,
            "queued": has_queue(locker.engine),  # saving queues a job (see the docstring)
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/items/{sha256}/redact")
def redact_page(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    case: CaseChoice = None,
    at: Annotated[float, Query(ge=0, le=MAX_SECONDS)] = 0.0,
) -> Response:
    """The redaction page, the picture (or the frame at `at` seconds) blurred unless cleared."""
    view = _view(locker, who[0], sha256, case)
    return _page(request, locker, who, sha256, view, Plan(at=at))


@router.get("/items/{sha256}/redact/still")
def still(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    case: CaseChoice = None,
    at: Annotated[float, Query(ge=0, le=MAX_SECONDS)] = 0.0,
    cover: Annotated[str, Query(max_length=1)] = "",
    regions: Annotated[str, Query(max_length=6000)] = "",
    method: Annotated[str, Query(max_length=10)] = "mosaic",
    faces: Annotated[str, Query(max_length=1)] = "",
    start: Annotated[str, Query(alias="from", max_length=20)] = "",
    end: Annotated[str, Query(alias="to", max_length=20)] = "",
    ticket: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """The picture (or the frame at `at`), with the boxes covered when `cover`: blurred as
    the safe preview is unless the item is cleared in the case or the ticket of a fresh
    reveal of this still is shown."""
    view = _view(locker, who[0], sha256, case)
    media_type, kind = _kind(locker, sha256)
    plan = Plan(
        regions=_boxes(regions) if cover else [],
        every_frame=bool(cover and faces),
        method=method,
        start=_seconds(start, "from"),
        end=_seconds(end, "to"),
    )
    with reading(locker.engine) as conn:
        plain = flags.may_show_unblurred(conn, sha256, view)
        if ticket:
            access.require_item(conn, who[0], sha256, "reveal")
    if ticket:
        # A video's ticket names the time its reveal was of; the still is taken there.
        if not _fresh(locker, who[0], ticket, sha256, kind, at):
            raise access.ForbiddenError("this reveal has expired or is not yours; reveal it again")
        plain = True
    _, picture = _still(
        locker, sha256, media_type, plan.step(), at, cover=bool(cover), blur=not plain
    )
    return Response(picture, media_type="image/png" if plain else "image/jpeg", headers=HEADERS)


@router.post("/items/{sha256}/redact/reveal")
def reveal_page(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    csrf: Annotated[str, Form()] = "",
    at: Annotated[float, Form(ge=0, le=MAX_SECONDS)] = 0.0,
    case: CaseChoice = None,
) -> Response:
    """Log the reveal of the still, then show the page with it plain (for this still only)."""
    check_csrf(who[1], csrf)
    view = _view(locker, who[0], sha256, case)
    media_type, kind = _kind(locker, sha256)
    if kind == "video":  # the time of the frame shown (a time past the end shows the last)
        at = float(_still(locker, sha256, media_type, RedactStep(faces=False), at)[0]["at"])
    with transaction(locker) as conn:
        view = scope.of_item(conn, who[0], sha256, "reveal", case)
        shown = "picture" if kind == "picture" else f"video frame at {at:.3f} s"
        flags.reveal(conn, who[0].name, sha256, f"{shown}, for redaction (web)", view)
    ticket = tickets.issue(tickets.ticket_key(locker), who[0].id, _ticketed(sha256, kind, at))
    return _page(request, locker, who, sha256, view, Plan(at=at), ticket)


def _redact(
    locker: Locker, user: User, sha256: str, plan: Plan, view: scope.Scope
) -> copying.Redaction | int:
    """Check the plan's boxes against the picture, then queue the redaction (its job's id)
    where there is a queue, else make the copy as `docket redact` does."""
    media_type, _ = _kind(locker, sha256)
    step = plan.step()
    if not step.regions and not step.faces:
        raise DocketError(f"item {sha256[:12]}: nothing to redact: draw a box or accept a face")
    size, _ = _still(locker, sha256, media_type, RedactStep(faces=False), plan.at)
    copying.check_regions(step.regions, size["width"], size["height"], f"item {sha256[:12]}")
    if has_queue(locker.engine) and view.case_id is not None:
        with transaction(locker) as conn:  # who may, again: the check and the job commit as one
            scope.of_item(conn, user, sha256, REDACT, view.case_id)
            job = redaction.defer_redaction(conn, sha256, step, user.name, view.case_id)
        if job is not None:
            return job
    return copying.redact(locker, sha256, media_type, step, user.name, view.case)


@router.post("/items/{sha256}/redact")
def redact_form(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    csrf: Annotated[str, Form()] = "",
    x: Annotated[list[str] | None, Form(max_length=12)] = None,
    y: Annotated[list[str] | None, Form(max_length=12)] = None,
    w: Annotated[list[str] | None, Form(max_length=12)] = None,
    h: Annotated[list[str] | None, Form(max_length=12)] = None,
    face: Annotated[list[str] | None, Form(max_length=60)] = None,
    every_frame: Annotated[str, Form(max_length=1)] = "",
    method: Annotated[str, Form(max_length=10)] = "mosaic",
    keep_metadata: Annotated[str, Form(max_length=1)] = "",
    start: Annotated[str, Form(alias="from", max_length=20)] = "",
    end: Annotated[str, Form(alias="to", max_length=20)] = "",
    at: Annotated[float, Form(ge=0, le=MAX_SECONDS)] = 0.0,
    ticket: Annotated[str, Form(max_length=200)] = "",
    action: Annotated[str, Form(max_length=10)] = "preview",
    case: CaseChoice = None,
) -> Response:
    """Preview the plan (the page again, with the result blurred as every preview), or save
    it as a redacted copy and go back to the item page, where the copy is listed."""
    check_csrf(who[1], csrf)
    view = _view(locker, who[0], sha256, case)
    rows = list(zip(x or [], y or [], w or [], h or [], strict=False))
    if len(rows) > MAX_REGIONS:
        raise DocketError(f"more than {MAX_REGIONS} boxes")
    plan = Plan(
        regions=[_box(r, f"box {i + 1}") for i, r in enumerate(rows) if any(v.strip() for v in r)],
        faces=_boxes(";".join(face or [])),
        every_frame=bool(every_frame),
        method=method,
        keep_metadata=bool(keep_metadata),
        start=_seconds(start, "from"),
        end=_seconds(end, "to"),
        at=at,
    )
    if action != "save":
        plan.step()  # an unknown method is refused before the worker runs
        return _page(request, locker, who, sha256, view, plan, ticket, preview=True)
    done = _redact(locker, who[0], sha256, plan, view)
    back = f"/items/{sha256}" + ("" if view.case_id is None else f"?case={view.case_id}")
    if isinstance(done, int):  # the page's note (templates/_redactions_queued.html)
        back += ("&" if "?" in back else "?") + "redaction=queued#redactions"
    return RedirectResponse(back, status_code=303)


@router.get("/api/items/{sha256}/redact/faces")
def api_faces(
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    case: CaseChoice = None,
    at: Annotated[float, Query(ge=0, le=MAX_SECONDS)] = 0.0,
) -> dict[str, Any]:
    """The faces the detector proposes on the picture (or the frame at `at`), in pixels of
    the upright picture, with its width and height (and, for video, the frame's time)."""
    _view(locker, who[0], sha256, case)
    media_type, _ = _kind(locker, sha256)
    found, _ = _still(locker, sha256, media_type, RedactStep(faces=True), at)
    return {**{k: v for k, v in found.items() if k != "boxes"}, "faces": found["boxes"]}


@router.post("/api/items/{sha256}/redact")
def api_redact(
    request: Request,
    sha256: ItemId,
    who: Person,
    locker: LockerDep,
    body: dict[str, Any],
    case: CaseChoice = None,
) -> Response:
    """{"regions": [[x, y, w, h], ...], "faces": false, "method": "mosaic" | "fill", "from":
    s, "to": s, "keep_metadata": false}: a redacted copy, made as `docket redact` makes it
    (`faces`: cover every face the detector finds, in every frame); where there is a queue,
    202 {"job": id, "status": "queued"} and a worker makes it."""
    check_csrf(who[1], request.headers.get("x-csrf-token"))
    view = _view(locker, who[0], sha256, case)
    regions = body.get("regions") or []
    if not isinstance(regions, list) or len(regions) > MAX_REGIONS:
        raise DocketError(f"regions: a list of at most {MAX_REGIONS} [x, y, w, h]")
    plan = Plan(
        regions=[
            _box(r if isinstance(r, list) and len(r) == 4 else [], f"region {i + 1}")
            for i, r in enumerate(regions)
        ],
        every_frame=body.get("faces") is True,
        method=str(body.get("method") or "mosaic"),
        keep_metadata=body.get("keep_metadata") is True,
        start=_seconds(body.get("from"), "from"),
        end=_seconds(body.get("to"), "to"),
    )
    done = _redact(locker, who[0], sha256, plan, view)
    if isinstance(done, int):
        return JSONResponse({"job": done, "status": "queued"}, status_code=202)
    return JSONResponse(
        {
            "derivative": done.copy.sha256,
            "regions": done.regions,
            "frames": done.frames,
            "metadata": "stripped" if done.stripped else "kept (as asked)",
        }
    )


def pending(locker: Locker, sha256: str, view: scope.Scope) -> list[redaction.Pending]:
    """The redactions of the item asked for in the case `view` looks through and not made
    yet: what the item page lists (templates/_redactions_queued.html)."""
    with reading(locker.engine) as conn:
        return redaction.pending(conn, sha256, view.case_id)


@router.get("/api/items/{sha256}/redactions")
def api_pending(
    sha256: ItemId, who: Person, locker: LockerDep, case: CaseChoice = None
) -> list[dict[str, Any]]:
    """The case's redactions of the item not made yet, newest first: [{"job", "status":
    "queued" | "running" | "failed", "reason"}]; empty with SQLite (no queue)."""
    with reading(locker.engine) as conn:
        view = scope.of_item(conn, who[0], sha256, "view", case)
    return [vars(found) for found in pending(locker, sha256, view)]
