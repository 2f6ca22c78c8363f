"""Collection fields: how, where from and when a collector got a file (the Berkeley
Protocol's minimum), checked before anything is stored so an acquisition never records a
method nobody can read, a URL that is not one, or a time without its offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from docket.errors import CollectionFieldError

# How files reach the locker. The first three Docket sets itself; the rest a collector says.
METHODS = (
    "import",
    "upload",
    "capture",
    "handed-over",
    "downloaded",
    "captured",
    "messenger",
    "email",
    "device-extraction",
)
MAX_URL = 8192
CLOCK_SKEW = timedelta(minutes=5)  # a collector's clock may run a little ahead of ours


def method(value: str) -> str:
    if value not in METHODS:
        raise CollectionFieldError(
            f"method {value!r} is not one of: {', '.join(METHODS)}; nothing was stored"
        )
    return value


def url_of_origin(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    parts = urlsplit(text)
    spaced = any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in text)
    if spaced or not parts.scheme or not (parts.netloc or parts.path) or len(text) > MAX_URL:
        raise CollectionFieldError(
            f"URL of origin {value[:80]!r} is not an absolute URL; nothing was stored"
        )
    return text


def collected_at(value: str | None) -> str | None:
    """ISO 8601 with an offset, as given (the collector's offset is part of the record)."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CollectionFieldError(
            f"collected-at {value[:80]!r} is not an ISO 8601 time; nothing was stored"
        ) from None
    if moment.utcoffset() is None:
        raise CollectionFieldError(
            f"collected-at {value[:80]!r} has no UTC offset (add Z or +HH:MM); nothing was stored"
        )
    if moment - CLOCK_SKEW > datetime.now(UTC):
        raise CollectionFieldError(
            f"collected-at {value[:80]!r} is in the future; nothing was stored"
        )
    return moment.isoformat()
