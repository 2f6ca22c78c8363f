"""Short-lived tickets that let a browser's video player fetch an original it was just shown
a reveal for (a player asks for the file many times, in ranges, by plain GET).

A ticket names the person, the item and its expiry, and carries an HMAC with a key derived
from the locker's signing key, so every server process of the locker accepts it and nothing
needs storing. The reveal itself is the custody event; a ticket only lets that reveal play.
"""

from __future__ import annotations

import hmac
import re
import time
from hashlib import sha256 as sha256_hash

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from docket.locker import Locker

TICKET_SECONDS = 600
_SHAPE = re.compile(r"[0-9]{1,12}\.[0-9a-f]{64}")


def ticket_key(locker: Locker) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"docket web reveal tickets").derive(
        locker.signing_key.private_bytes_raw()
    )


def picture_of(item: str, blob: str) -> str:
    """What a ticket for a picture made from an item (a keyframe, the error-level picture)
    names: that item's picture, since two items may share one and a reveal is of one item."""
    return f"{item}/{blob}"


def _mac(key: bytes, user_id: int, item: str, expiry: int) -> str:
    return hmac.new(key, f"{user_id}:{item}:{expiry}".encode(), sha256_hash).hexdigest()


def issue(key: bytes, user_id: int, item: str, now: float | None = None) -> str:
    expiry = int(now if now is not None else time.time()) + TICKET_SECONDS
    return f"{expiry}.{_mac(key, user_id, item, expiry)}"


def valid(key: bytes, ticket: str, user_id: int, item: str, now: float | None = None) -> bool:
    if not _SHAPE.fullmatch(ticket):
        return False
    expiry_text, _, mac = ticket.partition(".")
    expiry = int(expiry_text)
    fresh = (now if now is not None else time.time()) <= expiry
    return fresh and hmac.compare_digest(mac, _mac(key, user_id, item, expiry))
