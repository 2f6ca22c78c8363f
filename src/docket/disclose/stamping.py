"""`docket timestamp`: an RFC 3161 token for a checkpoint, kept in the catalogue and logged.

The TSA is named by DOCKET_TSA_URL; DOCKET_TSA_ROOT names the PEM file of the root
certificate we trust for it (it travels in packages so receivers can check the token).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import Connection, insert, select

from docket.catalogue import schema
from docket.custody import log
from docket.custody.ledger import StoredCheckpoint
from docket.disclose.timestamps import TimestampError, request_token, verify_token
from docket.errors import DocketError


def tsa_url() -> str | None:
    return os.environ.get("DOCKET_TSA_URL") or None


def tsa_root() -> bytes | None:
    path = os.environ.get("DOCKET_TSA_ROOT")
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DocketError(f"DOCKET_TSA_ROOT={path}: cannot read ({exc.strerror})") from exc


def stamp(conn: Connection, actor: str, checkpoint: StoredCheckpoint, url: str) -> bytes:
    """Fetch a token over the checkpoint's note body, check it if a root is configured, store
    it and log it. Runs outside long transactions: the network is slow."""
    message = checkpoint.checkpoint.body().encode()
    token = request_token(url, message)
    root = tsa_root()
    details: dict[str, object] = {
        "checkpoint": checkpoint.id,
        "tsa": url,
        "token_sha256": hashlib.sha256(token).hexdigest(),
    }
    if root is not None:
        facts = verify_token(token, message, root)
        details["time"] = facts.time.isoformat()
    event = log.append(conn, actor, "checkpoint.timestamped", details=details)
    conn.execute(
        insert(schema.timestamps).values(
            checkpoint_id=checkpoint.id, tsa=url, token=token, event_seq=event.seq
        )
    )
    return token


def token_for(conn: Connection, checkpoint_id: int) -> bytes | None:
    found = conn.execute(
        select(schema.timestamps.c.token)
        .where(schema.timestamps.c.checkpoint_id == checkpoint_id)
        .order_by(schema.timestamps.c.id.desc())
        .limit(1)
    ).scalar()
    return None if found is None else bytes(found)


__all__ = ["TimestampError", "stamp", "token_for", "tsa_root", "tsa_url"]
