"""How an original or a keyframe leaves the server: as a file, never as a page of our origin.

Evidence is whatever someone uploaded, so an HTML or SVG file may hold script. Served inline
under our origin, that script would run with the reviewer's session. So every original,
keyframe and download goes out through `evidence_response`:

- inline only for types a browser shows inertly (JPEG, PNG, WebP, GIF, MP4 and WebM video,
  audio, PDF); everything else as an attachment of type application/octet-stream;
- `X-Content-Type-Options: nosniff`, so the browser never guesses a type of its own;
- `Content-Security-Policy: sandbox; default-src 'none'`: even a document the browser does
  render is a unique, opaque origin with no script, no requests and no forms. Chromium still
  shows images, video, audio and (in its built-in viewer, run outside the document) PDF.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import FileResponse

SANDBOX = "sandbox; default-src 'none'; frame-ancestors 'none'"
_INERT = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "application/pdf": ".pdf",
}


def shown_inline(media_type: str) -> bool:
    """Whether a browser shows this type without running anything of it."""
    return media_type in _INERT or media_type.startswith("audio/")


def evidence_response(path: Path, media_type: str, sha256: str) -> FileResponse:
    """The file, with the headers that keep it from acting in our origin (see above)."""
    inline = shown_inline(media_type)
    suffix = _INERT.get(media_type, "") if inline else ".bin"
    return FileResponse(
        path,
        media_type=media_type if inline else "application/octet-stream",
        filename=f"{sha256[:12]}{suffix}",
        content_disposition_type="inline" if inline else "attachment",
        headers={
            "Content-Security-Policy": SANDBOX,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
