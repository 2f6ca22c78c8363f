"""Key-slot changes as custody events: which slot, its kind and label, never a secret.

vault.slot_added {slot, kind, label[, shares: [k, n]]}; vault.slot_removed {slot, kind,
label}; vault.passphrase_changed {slot (the new one), replaced (the old), label}. The caller
appends the event in the transaction around the change to keys/vault.json, so a failed change
logs nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from docket.custody import log
from docket.custody.events import Event
from docket.vault.slots import SlotInfo

ADDED = "vault.slot_added"
REMOVED = "vault.slot_removed"
CHANGED = "vault.passphrase_changed"


def details(slot: SlotInfo) -> dict[str, Any]:
    found: dict[str, Any] = {"slot": slot.id, "kind": slot.kind, "label": slot.label}
    if slot.shares is not None:
        found["shares"] = list(slot.shares)
    return found


def added(conn: Connection, actor: str, slot: SlotInfo) -> Event:
    return log.append(conn, actor, ADDED, details=details(slot))


def removed(conn: Connection, actor: str, slot: SlotInfo) -> Event:
    return log.append(conn, actor, REMOVED, details=details(slot))


def changed(conn: Connection, actor: str, old: SlotInfo, new: SlotInfo) -> Event:
    return log.append(conn, actor, CHANGED, details={**details(new), "replaced": old.id})
