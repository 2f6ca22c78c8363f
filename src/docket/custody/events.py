"""Custody events and the canonical bytes (RFC 8785 JSON) that become Merkle leaves."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785

from docket.custody import merkle

LEAF_FORMAT = 1


def canonical_json(value: Any) -> bytes:
    return bytes(rfc8785.dumps(value))


@dataclass(frozen=True)
class Event:
    """One entry of the custody log; `leaf()` is exactly what the Merkle tree commits to."""

    seq: int
    time: str
    actor: str
    action: str
    item: str | None
    details: Mapping[str, Any]

    def leaf(self) -> bytes:
        return canonical_json(
            {
                "v": LEAF_FORMAT,
                "seq": self.seq,
                "time": self.time,
                "actor": self.actor,
                "action": self.action,
                "item": self.item,
                "details": dict(self.details),
            }
        )

    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.leaf())

    def details_text(self) -> str:
        return canonical_json(dict(self.details)).decode("utf-8")


def event_from_row(row: Mapping[Any, Any]) -> Event:
    return Event(
        seq=int(row["seq"]),
        time=str(row["time"]),
        actor=str(row["actor"]),
        action=str(row["action"]),
        item=row["item_sha256"],
        details=json.loads(row["details"]),
    )
