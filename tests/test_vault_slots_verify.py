"""verify and a vault's key slots: the slot file whole and fitting the key, and every slot's
arrival and departure accounted for in the custody log, so a slot added or removed without an
event (a change killed between its two writes, or an edit outside docket) is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docket.locker import Locker
from docket.vault import slots

PASSPHRASE = "the heron waits at the east quay"


@pytest.fixture
def vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    file = tmp_path / "passphrase"
    file.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(file))
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    Locker.create(tmp_path / "vault", actor="setup", vault_passphrase=PASSPHRASE).close()
    return tmp_path / "vault"


def verified(cli: Any, vault: Path) -> Any:
    return cli("verify", "--quick", "--locker", vault)


def test_slots_changed_by_docket_are_accounted_for(vault: Path, cli: Any, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.write_text("a second passphrase for the desk\n")
    added = cli(
        "vault",
        "add-passphrase",
        "--label",
        "Desk",
        "--new-passphrase-file",
        other,
        "--locker",
        vault,
    )
    assert added.code == 0, added.err
    result = verified(cli, vault)
    assert result.code == 0, result.out
    assert "key slots: 3 slot(s), each accounted for in the custody log" in result.out
    assert "no custody event" not in result.out


def test_a_slot_added_or_removed_without_an_event_is_named(vault: Path, cli: Any) -> None:
    with Locker.open(vault) as locker:
        key, locker_id = locker.vault_key, locker.locker_id
    assert key is not None
    extra = slots.add_passphrase(vault, key, "added behind docket's back", "someone")
    result = verified(cli, vault)
    assert f"slot {extra.id} (passphrase) has no custody event" in result.out, result.out
    assert "see the notes" in result.out
    recovery = next(s for s in slots.list_slots(vault, locker_id) if s.kind == "recovery")
    added = cli("vault", "remove-slot", str(extra.id), "--locker", vault)  # logged: accounted for
    assert added.code == 0, added.err
    assert "no custody event" not in verified(cli, vault).out
    slots.remove_slot(vault, key, recovery.id)  # no event
    assert verified(cli, vault).code == 0  # the vault still opens and holds all it held
    # The recovery slot was made with the vault: its removal, unlogged, is not named (nothing
    # logged its arrival either); a logged arrival with no departure is.
    changed = cli("vault", "add-recovery-key", "--locker", vault)
    assert changed.code == 0, changed.err
    latest = max(s.id for s in slots.list_slots(vault, locker_id))
    slots.remove_slot(vault, key, latest)
    gone = verified(cli, vault)
    assert f"slot {latest} is logged as added but is not in the file" in gone.out, gone.out


def test_a_damaged_slot_file_fails_verify_locked_or_not(
    vault: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = vault / "keys" / "vault.json"
    file.write_text(file.read_text().replace('"key_check": "', '"key_check": "00', 1))
    unlocked = verified(cli, vault)  # the key cannot even be checked: refused on opening
    assert unlocked.code != 0 and "keys/vault.json" in unlocked.out + unlocked.err
    monkeypatch.delenv("DOCKET_PASSPHRASE_FILE")
    file.write_text(file.read_text().replace('"key_check": "00', '"key_check": "', 1))
    data = json.loads(file.read_text())
    wrapped = data["slots"][0]["wrapped"]
    data["slots"][0]["wrapped"] = ("A" if wrapped[0] != "A" else "B") + wrapped[1:]
    file.write_text(json.dumps(data))  # a slot damaged: seen without the key, by its checksum
    locked = cli("verify", "--locker", vault)
    assert locked.code != 0 and "slot 0 is damaged" in locked.out, locked.out
