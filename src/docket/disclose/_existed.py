""" "Existed by": for each item of a package, the earliest checkpoint stamped by a TSA that
already held the item's first arrival in the package, with that checkpoint's note, its
token and the arrival's inclusion proof against it. They exist before the export, so the
export event lists them by hash like any payload file (custody/existed.json and
custody/stamped/<checkpoint>.txt|.tsr); docket-check verifies each against the roots the
receiver trusts and prints when each item existed by."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from docket.catalogue import schema
from docket.custody import ledger, log, merkle
from docket.custody.events import Event


def write(
    conn: Connection, custody: Path, origin: str, public_key: bytes, events: list[Event]
) -> list[str]:
    """Write the proofs; returns the paths written, relative to the payload."""
    stamped = conn.execute(
        select(schema.timestamps.c.checkpoint_id, schema.timestamps.c.token)
        .join(schema.checkpoints, schema.checkpoints.c.id == schema.timestamps.c.checkpoint_id)
        .order_by(schema.checkpoints.c.tree_size, schema.timestamps.c.id)
    ).all()
    arrivals: dict[str, Event] = {}
    for event in events:
        if event.action == "item.acquired" and event.item is not None:
            arrivals.setdefault(event.item, event)
    records: list[dict[str, Any]] = []
    written: set[str] = set()
    for item, arrival in sorted(arrivals.items()):
        for checkpoint_id, token in stamped:
            held = ledger.get_checkpoint(conn, origin, int(checkpoint_id))
            size = held.checkpoint.tree_size
            if size <= arrival.seq:
                continue
            name = f"custody/stamped/{held.id}"
            if name not in written:
                (custody / "stamped").mkdir(exist_ok=True)
                (custody / "stamped" / f"{held.id}.txt").write_text(
                    held.checkpoint.signed_note(public_key)
                )
                (custody / "stamped" / f"{held.id}.tsr").write_bytes(bytes(token))
                written.add(name)
            leaves = log.leaf_hashes(conn, upto=size)
            path = merkle.inclusion_proof(arrival.seq, leaves)
            records.append(
                {
                    "item": item,
                    "event": arrival.seq,
                    "checkpoint": f"{name}.txt",
                    "token": f"{name}.tsr",
                    "audit_path": [h.hex() for h in path],
                }
            )
            break
    if not records:
        return []
    (custody / "existed.json").write_text(json.dumps(records, indent=1))
    return ["custody/existed.json", *(f"{n}.{e}" for n in sorted(written) for e in ("txt", "tsr"))]
