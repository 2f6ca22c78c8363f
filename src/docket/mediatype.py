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


# HEIF pictures (an iPhone's HEIC photos, AVIF) are ISO media files like MP4, and puremagic
# calls a HEIC video/mp4: their `ftyp` box's brands settle it (ISO/IEC 23008-12, annex B).
_HEIF_MAJOR_BRANDS = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"hevc": "image/heic-sequence",
    b"hevx": "image/heic-sequence",
    b"avif": "image/avif",
    b"avis": "image/avif",
}
# A generic HEIF brand as the major one: the compatible brands say which codec it holds.
_HEIF_GENERIC_BRANDS = {b"mif1": "image/heif", b"msf1": "image/heif-sequence"}


def _heif_type(head: bytes) -> str | None:
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    major = head[8:12]
    if major in _HEIF_MAJOR_BRANDS:
        return _HEIF_MAJOR_BRANDS[major]
    if major not in _HEIF_GENERIC_BRANDS:
        return None
    box_size = min(int.from_bytes(head[0:4], "big"), len(head))
    compatible = {head[at : at + 4] for at in range(16, box_size - 3, 4)}
    if b"avif" in compatible:
        return "image/avif"
    sequence = major == b"msf1"
    if compatible & {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}:
        return "image/heic-sequence" if sequence else "image/heic"
    return _HEIF_GENERIC_BRANDS[major]


def sniff(head: bytes) -> str:
    """The media type of a file from its first bytes (8 KiB is plenty)."""
    if not head:
        return "application/x-empty"
    for signature, media_type in _PREFERRED.items():
        if head.startswith(signature):
            return media_type
    heif = _heif_type(head)
    if heif is not None:
        return heif
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
    "image/heic": "heic",
    "image/heic-sequence": "heics",
    "image/heif": "heif",
    "image/heif-sequence": "heifs",
    "image/avif": "avif",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/x-matroska": "mkv",
    "video/webm": "webm",
}


def extension(media_type: str) -> str:
    """The usual file name extension of a media type Docket writes copies in (no dot)."""
    return _EXTENSIONS.get(media_type, "mp4" if media_type.startswith("video/") else "bin")
