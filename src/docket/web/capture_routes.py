"""Capturing a web page from a case: the same capture as `docket capture`, into that case,
by those who may upload to it; a page for browsers, JSON for programs.

The server never captures its own network: `file:`, `data:` and loopback, private and
link-local addresses are refused, and nothing sent from a browser lifts that, so the web app
cannot be made a scanner of the network it runs in. A server whose captures must leave
through a proxy (Tor, say) names it in DOCKET_CAPTURE_PROXY when it starts.

The form offers the browser profiles kept in the locker (capture/profiles.py) to those who may
capture into the case, and takes only one of those by name; without one, every capture starts
from a fresh, empty profile. The capture's custody event names the profile chosen.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from docket.accounts import User
from docket.capture import profiles, wacz_signing
from docket.capture.run import CaptureOptions, capture
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

PROXY_VARIABLE = "DOCKET_CAPTURE_PROXY"
MAX_URL = 8192

router = APIRouter()


@router.get("/cases/{case_id}/capture", response_class=HTMLResponse)
def capture_form(request: Request, case_id: CaseId, who: Person, locker: LockerDep) -> Response:
    with transaction(locker) as conn:
        case_name, _ = allowed_case(conn, who[0], case_id, "upload")
    context = _context(locker, who, case_id, case_name)
    return TEMPLATES.TemplateResponse(request, "capture.html", context | {"done": None})


def _wacz_key(locker: Locker) -> str | None:
    """The fingerprint of the key the capture's WACZ is signed with (capture/wacz_signing.py)."""
    public = wacz_signing.published_key(locker.path)
    return None if public is None else wacz_signing.fingerprint(public)


def _context(
    locker: Locker, who: tuple[User, str | None], case_id: int, case_name: str
) -> dict[str, Any]:
    return {
        "user": who[0],
        "csrf": who[1],
        "case_id": case_id,
        "case": case_name,
        "profiles": profiles.kept(locker.path, locker.vault_key),
    }


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
    line)."""
    check_csrf(who[1], csrf)
    with transaction(locker) as conn:
        case_name, _ = allowed_case(conn, who[0], case_id, "upload")
    options = CaptureOptions(
        collector=who[0].name,
        case=case_name,
        note=note.strip() or None,
        proxy=os.environ.get(PROXY_VARIABLE) or None,
        profile=profiles.existing(locker.path, profile, locker.vault_key) if profile else None,
    )
    done = capture(locker, url.strip(), options)
    if "text/html" in request.headers.get("accept", ""):
        context = _context(locker, who, case_id, case_name) | {"wacz_key": _wacz_key(locker)}
        return TEMPLATES.TemplateResponse(request, "capture.html", context | {"done": done})
    return done.summary()
