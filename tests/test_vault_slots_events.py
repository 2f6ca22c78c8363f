"""Each key-slot change is a custody event naming the slot, never its secret, written in the
transaction around the change as `docket vault ...` does; a refused change logs nothing.
(The catalogue here is a plain locker's: the events are the same in a vault's.)"""

from __future__ import annotations

import json

import pytest

from docket.custody import log
from docket.errors import DocketError
from docket.locker import Locker
from docket.vault import slot_events, slots

PASSPHRASE = "Invented passphrase of Fen"


def test_slot_changes_are_logged_without_their_secrets(locker: Locker) -> None:
    created = slots.create(locker.path, locker.locker_id, PASSPHRASE, "Invented Fen")
    key = created.key
    with locker.engine.begin() as conn:
        added = slots.add_passphrase(locker.path, key, "Invented second secret", "Invented Gil")
        slot_events.added(conn, "tester", added)
        shares, mnemonics = slots.add_shares(locker.path, key, 2, 3, "Invented trustees")
        slot_events.added(conn, "tester", shares)
        old, new = slots.change_passphrase(locker.path, key, 0, "Invented third secret")
        slot_events.changed(conn, "tester", old, new)
        removed = slots.remove_slot(locker.path, key, added.id)
        slot_events.removed(conn, "tester", removed)
    with locker.engine.connect() as conn:
        events = [e for e in log.events(conn) if e.action.startswith("vault.")]
    assert [(e.action, dict(e.details)) for e in events] == [
        ("vault.slot_added", {"slot": 2, "kind": "passphrase", "label": "Invented Gil"}),
        (
            "vault.slot_added",
            {"slot": 3, "kind": "shares", "label": "Invented trustees", "shares": [2, 3]},
        ),
        (
            "vault.passphrase_changed",
            {"slot": 4, "kind": "passphrase", "label": "Invented Fen", "replaced": 0},
        ),
        ("vault.slot_removed", {"slot": 2, "kind": "passphrase", "label": "Invented Gil"}),
    ]
    logged = b"".join(e.leaf() for e in events) + json.dumps([e.details for e in events]).encode()
    secrets = [PASSPHRASE, "Invented second secret", "Invented third secret"]
    secrets += [created.recovery_key, key.master.hex(), *mnemonics]
    for secret in secrets:
        assert secret.encode() not in logged


def test_a_refused_change_logs_nothing(locker: Locker) -> None:
    key = slots.create(locker.path, locker.locker_id, PASSPHRASE, "Invented Fen").key
    slots.remove_slot(locker.path, key, 1)
    with locker.engine.connect() as conn:
        before = log.size(conn)
    with pytest.raises(DocketError, match="last one"), locker.engine.begin() as conn:
        slot_events.removed(conn, "tester", slots.remove_slot(locker.path, key, 0))
    with locker.engine.connect() as conn:
        assert log.size(conn) == before
    assert slots.open_with_passphrase(locker.path, locker.locker_id, PASSPHRASE) == key
