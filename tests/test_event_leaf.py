"""An event's leaf is RFC 8785 canonical JSON of the whole leaf object, though it encodes the
details once and places them (docket.custody.events.Event._leaf)."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785

from docket.custody import merkle
from docket.custody.events import LEAF_FORMAT, Event

DETAILS: list[dict[str, Any]] = [
    {},
    {"n": 5},
    {"name": 'quote " back\\slash \n\t\x01 \u2028 é 😀', "reset": False, "none": None},
    {"z": 1, "a": [1.5, -0.0, 1e21, {"é": "x", "\U0001f600": 2, "\uffff": 3}], "B": {}},
]


@pytest.mark.parametrize("details", DETAILS)
@pytest.mark.parametrize("item", [None, "ab" * 32])
def test_a_leaf_is_the_canonical_json_of_the_whole_leaf_object(
    details: dict[str, Any], item: str | None
) -> None:
    event = Event(
        seq=2**40 + 7,
        time="2026-11-27T07:00:00.000000Z",
        actor='ada "the admin"\\',
        action="user.créé",
        item=item,
        details=details,
    )
    whole: dict[str, Any] = {
        "v": LEAF_FORMAT,
        "seq": event.seq,
        "time": event.time,
        "actor": event.actor,
        "action": event.action,
        "item": event.item,
        "details": details,
    }
    assert event.leaf() == rfc8785.dumps(whole)
    assert event.leaf_hash() == merkle.leaf_hash(rfc8785.dumps(whole))
    assert event.stored() == (rfc8785.dumps(details).decode(), event.leaf_hash())
    assert event.details_text() == rfc8785.dumps(details).decode()
