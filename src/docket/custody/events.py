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
        return self._leaf(canonical_json(dict(self.details)))

    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.leaf())

    def details_text(self) -> str:
        return canonical_json(dict(self.details)).decode("utf-8")

    def stored(self) -> tuple[str, bytes]:
        """`details_text()` and `leaf_hash()` from one canonical encoding of the details."""
        details = canonical_json(dict(self.details))
        return details.decode("utf-8"), merkle.leaf_hash(self._leaf(details))

    def _leaf(self, details: bytes) -> bytes:
        """The leaf object's canonical JSON around `details`, already canonical: the same
        bytes as canonical_json of the whole object (RFC 8785 nests a member's own canonical
        form; the keys below are in its order, by UTF-16 code units), without encoding the
        details a second time."""
        return b"".join(
            (
                b'{"action":',
                canonical_json(self.action),
                b',"actor":',
                canonical_json(self.actor),
                b',"details":',
                details,
                b',"item":',
                canonical_json(self.item),
                b',"seq":',
                canonical_json(self.seq),
                b',"time":',
                canonical_json(self.time),
                b',"v":',
                canonical_json(LEAF_FORMAT),
                b"}",
            )
        )


def event_from_row(row: Mapping[Any, Any]) -> Event:
    return Event(
        seq=int(row["seq"]),
        time=str(row["time"]),
        actor=str(row["actor"]),
        action=str(row["action"]),
        item=row["item_sha256"],
        details=json.loads(row["details"]),
    )


def records_a_result(event: Event) -> bool:
    """Whether `event` is one docket.catalogue.records.record_result appends:
    "<step>.recorded" or "<step>.failed" with the result's facts."""
    details = event.details
    step = details.get("step")
    return (
        isinstance(step, str)
        and "data_sha256" in details
        and event.action in (f"{step}.recorded", f"{step}.failed")
    )
