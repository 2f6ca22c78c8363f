"""Capturing a web page from a case: the same capture as `docket capture`, into that case,
by those who may upload to it; a page for browsers, JSON for programs.

The server never captures its own network: `file:`, `data:` and loopback, private and
link-local addresses are refused, and nothing sent from a browser lifts that, so the web app
cannot be made a scanner of the network it runs in. A server whose captures must leave
through a proxy (Tor, say) names it in DOCKET_CAPTURE_PROXY when it starts.

The form offers the browser profiles kept in the locker that belong to the case
(capture/profiles.py: a profile belongs to the case of its first capture) to those who may
capture into the case, and takes only one of those by name; without one, every capture starts
from a fresh, empty profile. The capture's custody event names the profile chosen.

Where the locker has a job queue (PostgreSQL), a capture is queued once the person, the
case, the profile's name and the URL have passed these checks (a refused address still
answers 400 at once), and a worker captures it (docket.jobs.capture): the page says so and
lists the case's captures not made yet (queued, running, or failed with the reason:
templates/_captures_queued.html), the API answers 202 with the job's id and
/api/cases/{id}/captures lists them. With SQLite the capture is made before the answer.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from docket.accounts import User
from docket.capture import profiles, wacz_signing
from docket.capture.guard import Guard, proxy_for_browser
from docket.capture.run import CaptureOptions, capture
from docket.catalogue.database import reading
from docket.jobs import capture as capture_job
from docket.jobs.capture import PROXY_VARIABLE, proxy
from docket.jobs.queue import has_queue
from docket.locker import Locker
from docket.web.guard import (
    TEMPLATES,
    CaseId,
    LockerDep,
    Person,
    allowed_case,
    check_csrf,
    transaction,
)

__all__ = ["PROXY_VARIABLE", "router"]
MAX_URL = 8192

router = APIRouter()


@router.get("/cases/{case_id}/capture", response_class=HTMLResponse)
def capture_form(request: Request, case_id: CaseId, who: Person, locker: LockerDep) -> Response:
    with transaction(locker) as conn:
        case_name, _ = allowed_case(conn, who[0], case_id, "upload")
    context = _context(locker, who, case_id, case_name)
    return TEMPLATES.TemplateResponse(request, "capture.html", context | {"done": None})


def pending(locker: Locker, case_id: int) -> list[capture_job.Pending]:
    """The case's captures not made yet: what the capture page lists (and the case page may,
    with templates/_captures_queued.html)."""
    with reading(locker.engine) as conn:
        return capture_job.pending(conn, case_id)


@router.get("/api/cases/{case_id}/captures")
def api_pending(case_id: CaseId, who: Person, locker: LockerDep) -> list[dict[str, Any]]:
    """The case's captures not made yet, newest first: [{"job", "url", "status": "queued" |
    "running" | "failed", "reason"}]; empty with SQLite (no queue)."""
    with transaction(locker) as conn:
        allowed_case(conn, who[0], case_id, "view")
    return [vars(found) for found in pending(locker, case_id)]


def _wacz_key(locker: Locker) -> str | None:
    """The fingerprint of the key the capture's WACZ is signed with (capture/wacz_signing.py)."""
    public = wacz_signing.published_key(locker.path)
    return None if public is None else wacz_signing.fingerprint(public)


def _profiles_of(locker: Locker, case_name: str) -> list[str]:
    with reading(locker.engine) as conn:
        return profiles.for_case(conn, locker, case_name)


def _context(
    locker: Locker, who: tuple[User, str | None], case_id: int, case_name: str
) -> dict[str, Any]:
    return {
        "user": who[0],
        "csrf": who[1],
        "case_id": case_id,
        "case": case_name,
        "profiles": _profiles_of(locker, case_name),
        "queued": has_queue(locker.engine),  # capturing queues a job (see the docstring)
        "captures": pending(locker, case_id),
    }


def _queue(locker: Locker, user: User, case_id: int, url: str, options: CaptureOptions) -> int:
    """Refuse now what the worker would refuse before loading anything (the URL, the proxy),
    then queue the capture, the person's right to capture checked again in its transaction."""
    Guard(options.allow_private_network, proxied=options.proxy is not None).check(url)
    if options.proxy is not None:
        proxy_for_browser(options.proxy)
    with transaction(locker) as conn:
        allowed_case(conn, user, case_id, "upload")
        job = capture_job.defer_capture(
            conn, url, case_id, user.name, options.note, options.profile
        )
    assert job is not None  # the locker has a queue
    return job


@router.post("/cases/{case_id}/capture")
def capture_page(
    request: Request,
    case_id: CaseId,
    who: Person,
    locker: LockerDep,
    url: Annotated[str, Form(max_length=MAX_URL)],
    note: Annotated[str, Form(max_length=4096)] = "",
    profile: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Any:
    """Capture `url` into the case, in the kept browser profile `profile` if one is chosen (a
    DocketError, such as a refused address or a profile not kept, answers 400 with its one
    line); where there is a queue, queue it (202 {"job": id, "status": "queued"} for the API)."""
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        case_name, _ = allowed_case(conn, who[0], case_id, "upload")
        chosen = profiles.chosen_for_case(conn, locker, case_name, profile) if profile else None
    options = CaptureOptions(
        collector=who[0].name,
        case=case_name,
        note=note.strip() or None,
        proxy=proxy(),
        profile=chosen,
    )
    html = "text/html" in request.headers.get("accept", "")
    if has_queue(locker.engine):
        job = _queue(locker, who[0], case_id, url.strip(), options)
        if not html:
            return JSONResponse({"job": job, "status": "queued"}, status_code=202)
        context = _context(locker, who, case_id, case_name) | {"done": None, "job": job}
        return TEMPLATES.TemplateResponse(request, "capture.html", context, status_code=202)
    done = capture(locker, url.strip(), options)
    if html:
        context = _context(locker, who, case_id, case_name) | {"wacz_key": _wacz_key(locker)}
        return TEMPLATES.TemplateResponse(request, "capture.html", context | {"done": done})
    return done.summary()
