"""`docket timestamp`: an RFC 3161 token for a checkpoint, kept in the catalogue and logged.

The TSA is named by DOCKET_TSA_URL; DOCKET_TSA_ROOT names the PEM file of the root
certificate we trust for it (the system's trust store when unset); an answer that does not
verify is refused when it arrives.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import Connection, insert, select

from docket.catalogue import schema
from docket.custody import log
from docket.custody.ledger import StoredCheckpoint
from docket.disclose.timestamps import TimestampError, request_token, trusted_roots, verify_token


def tsa_url() -> str | None:
    return os.environ.get("DOCKET_TSA_URL") or None


def tsa_root() -> Path | None:
    path = os.environ.get("DOCKET_TSA_ROOT")
    return Path(path) if path else None


def probe(url: str) -> None:
    """Ask the TSA for a token over a fixed message and verify it, so that an export refuses
    an untrusted TSA before it logs anything (its package would fail its own check)."""
    message = b"docket: is this timestamp authority trusted?"
    try:
        verify_token(request_token(url, message), message, trusted_roots(tsa_root()))
    except TimestampError as exc:
        raise TimestampError(
            f"{url}: its answers are not trusted here ({exc}); set DOCKET_TSA_ROOT to the "
            "PEM of its root; nothing was exported"
        ) from exc


def stamp(conn: Connection, actor: str, checkpoint: StoredCheckpoint, url: str) -> bytes:
    """Fetch a token over the checkpoint's note body, verify it at once against
    DOCKET_TSA_ROOT (or the system's trust store), refusing it with the reason when it does
    not verify, then store it and log it with the TSA's name, serial and time. Runs outside
    long transactions: the network is slow."""
    message = checkpoint.checkpoint.body().encode()
    token = request_token(url, message)
    try:
        facts = verify_token(token, message, trusted_roots(tsa_root()))
    except TimestampError as exc:
        raise TimestampError(f"{url}: answer refused: {exc} (set DOCKET_TSA_ROOT)") from exc
    event = log.append(
        conn,
        actor,
        "checkpoint.timestamped",
        details={
            "checkpoint": checkpoint.id,
            "tsa": url,
            "token_sha256": hashlib.sha256(token).hexdigest(),
            "time": facts.time.isoformat(),
            "serial": facts.serial,
            "signer": facts.tsa,
        },
    )
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
