"""Media types sniffed from content, never from a file's name."""

from __future__ import annotations

import puremagic

UNKNOWN = "application/octet-stream"

# puremagic answers with several candidates; these signatures are unambiguous enough to settle.
_PREFERRED = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"PK\x03\x04": "application/zip",
    b"PK\x05\x06": "application/zip",
    b"%PDF-": "application/pdf",
}


def sniff(head: bytes) -> str:
    """The media type of a file from its first bytes (8 KiB is plenty)."""
    if not head:
        return "application/x-empty"
    for signature, media_type in _PREFERRED.items():
        if head.startswith(signature):
            return media_type
    try:
        found = puremagic.from_string(head, mime=True)
    except (puremagic.PureError, ValueError):
        return UNKNOWN
    return str(found) if found else UNKNOWN


_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/tiff": "tif",
    "image/gif": "gif",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/x-matroska": "mkv",
    "video/webm": "webm",
}


def extension(media_type: str) -> str:
    """The usual file name extension of a media type Docket writes copies in (no dot)."""
    return _EXTENSIONS.get(media_type, "mp4" if media_type.startswith("video/") else "bin")
