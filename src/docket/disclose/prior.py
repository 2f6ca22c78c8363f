"""Prior custody: what an import keeps of the sender's chain, and what an export carries.

An imported package's custody folder (the sender's signed checkpoint, its export event, every
event with its inclusion proof, tokens) is kept whole as one content-addressed blob in the
store: a JSON bundle of the sender's origin, public key and each custody file's bytes. Every
arrival of that import names the bundle's SHA-256 and size in its package facts, so this
locker's log commits to it (and `gc` and `verify` count it as referenced, never a stray).

A court export of items that came so carries each bundle their proven arrivals name, as
`custody/prior/<sender locker>/<sha256>.json`, and lists the paths in the export event;
`docket-check` and the package's own verifier check each prior leg against the sender's key
the arrival recorded, and the link: the arrival names the bundle, and the item is among what
the sender's export sent. A publication export carries none (its arrivals stay home).
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from docket.catalogue import schema
from docket.custody.events import Event
from docket.locker import Locker

BUNDLE_FORMAT = 1
PRIOR_CUSTODY = "custody_sha256"  # in an arrival's package facts, with "custody_size"
FOLDER = "custody/prior"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def bundle(root: Path, manifest: dict[str, Any]) -> bytes:
    """The bundle of an unpacked, checked package (its bag folder and its package.json)."""
    payload = root / "data"
    files = {
        path.relative_to(payload).as_posix(): base64.b64encode(path.read_bytes()).decode()
        for path in sorted((payload / "custody").rglob("*"))
        if path.is_file()
    }
    kept = {
        "format": BUNDLE_FORMAT,
        "origin": manifest["origin"],
        "public_key": manifest["public_key"],
        "profile": manifest["profile"],
        "files": files,
    }
    return json.dumps(kept, indent=1, sort_keys=True).encode()


def keep(locker: Locker, root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Store the bundle; returns the facts each arrival of the import records about it."""
    data = bundle(root, manifest)
    blob = locker.store.put(io.BytesIO(data), label="the prior custody of a package")
    return {PRIOR_CUSTODY: blob.digest.sha256, "custody_size": len(data)}


def named(events: list[Event]) -> dict[str, str]:
    """The bundles the given arrival events name, with their senders' origins."""
    found: dict[str, str] = {}
    for event in events:
        facts = event.details.get("acquisition") if event.action == "item.acquired" else None
        package = facts.get("package") if isinstance(facts, dict) else None
        if isinstance(package, dict) and isinstance(package.get(PRIOR_CUSTODY), str):
            found[package[PRIOR_CUSTODY]] = str(package["sender_origin"])
    return found


def path_of(sha256: str, origin: str) -> str:
    """Where a package carries a bundle: under the sender's locker ID, named by its hash."""
    sender = _UNSAFE.sub("_", origin.rsplit("/", 1)[-1]).strip("._") or "sender"
    return f"{FOLDER}/{sender[:64]}/{sha256}.json"


def blobs(conn: Connection) -> dict[str, int]:
    """Every kept bundle, by SHA-256, with its size as the arrivals that name it recorded:
    referenced blobs, never strays (docket.gc, docket.verify)."""
    found: dict[str, int] = {}
    table = schema.acquisitions
    for text in conn.execute(select(table.c.package).where(table.c.package.is_not(None))).scalars():
        facts = json.loads(text)
        if isinstance(facts.get(PRIOR_CUSTODY), str):
            found[facts[PRIOR_CUSTODY]] = int(facts["custody_size"])
    return found
