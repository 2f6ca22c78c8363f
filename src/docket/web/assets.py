"""Docket's own script and style files, served from the package (never from a CDN): the page
policy lets a page run only what carries its nonce, and these files are all a page loads.

Only the files named in ASSETS are served, each with its media type and a no-sniff header."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from docket.errors import NotFoundError

FOLDER = Path(__file__).parent / "static"
ASSETS = {
    "review.js": "text/javascript; charset=utf-8",
    "docket.css": "text/css; charset=utf-8",
    "redact.js": "text/javascript; charset=utf-8",
    "redact.css": "text/css; charset=utf-8",
}

router = APIRouter()


@router.get("/static/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFoundError(f"{name}: no such file")
    return FileResponse(
        FOLDER / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"}
    )
