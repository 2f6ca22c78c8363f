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

The bytes are read through the store (`BlobStore.open`), never from a path: a vault's blob
is decrypted as it is sent, a segment at a time, and nothing decrypted is written anywhere.
One byte range (`Range: bytes=...`, for a video's player) is answered with 206; several, or
one that cannot be parsed, with the whole blob; one past the end with 416. `Cache-Control:
no-store` keeps every response out of caches. A blob that does not authenticate is an error
before the first byte is sent; a segment that fails later ends the response cut short.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Literal

from anyio import to_thread
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from docket.store import BlobStore

SANDBOX = "sandbox; default-src 'none'; frame-ancestors 'none'"
_PIECE = 1 << 16  # bytes sent at a time
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
_INERT = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/avif": ".avif",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "application/pdf": ".pdf",
}


def shown_inline(media_type: str) -> bool:
    """Whether a browser shows this type without running anything of it."""
    return media_type in _INERT or media_type.startswith("audio/")


def evidence_response(store: BlobStore, sha256: str, media_type: str) -> Response:
    """The blob, with the headers that keep it from acting in our origin (see above)."""
    inline = shown_inline(media_type)
    suffix = _INERT.get(media_type, "") if inline else ".bin"
    disposition = "inline" if inline else "attachment"
    return BlobResponse(
        store,
        sha256,
        {
            "Content-Type": media_type if inline else "application/octet-stream",
            "Content-Disposition": f'{disposition}; filename="{sha256[:12]}{suffix}"',
            "Content-Security-Policy": SANDBOX,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Accept-Ranges": "bytes",
        },
    )


def byte_range(header: str | None, size: int) -> tuple[int, int] | Literal[False] | None:
    """The (start, end-exclusive) a Range header asks of a blob of `size` bytes; None to
    send the whole blob (no header, several ranges, or one that cannot be parsed); False
    when it asks only for bytes past the end (416)."""
    found = _RANGE.fullmatch(header.strip()) if header is not None else None
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.group(1), found.group(2)
    if first == "":  # the last N bytes
        return (max(size - int(last), 0), size) if int(last) > 0 and size > 0 else False
    start = int(first)
    end = size if last == "" else min(int(last) + 1, size)
    if last != "" and int(last) < start:
        return None
    return (start, end) if start < size else False


class BlobResponse(Response):
    """A blob streamed from its store, with one byte range if asked (see the docstring)."""

    def __init__(self, store: BlobStore, sha256: str, headers: dict[str, str]) -> None:
        super().__init__(headers=headers)
        self.store = store
        self.sha256 = sha256
        self.fixed = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream: BinaryIO = await to_thread.run_sync(self.store.open, self.sha256)
        try:
            size = await to_thread.run_sync(lambda: stream.seek(0, 2))
            asked = dict(scope["headers"]).get(b"range")
            span = byte_range(None if asked is None else asked.decode("latin-1"), size)
            headers = {k.lower(): v for k, v in self.fixed.items()}
            if span is False:
                headers["content-range"] = f"bytes */{size}"
                await self._start(send, 416, headers, 0)
                await send({"type": "http.response.body", "body": b""})
                return
            start, end = (0, size) if span is None else span
            if span is not None:
                headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
            await self._start(send, 200 if span is None else 206, headers, end - start)
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            await to_thread.run_sync(stream.seek, start)
            left = end - start
            while left > 0:
                piece = await to_thread.run_sync(stream.read, min(_PIECE, left))
                if not piece:
                    break
                left -= len(piece)
                await send({"type": "http.response.body", "body": piece, "more_body": left > 0})
            if left > 0:
                await send({"type": "http.response.body", "body": b""})
        finally:
            stream.close()

    @staticmethod
    async def _start(send: Send, status: int, headers: dict[str, str], length: int) -> None:
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
