"""`docket vault ...` on a real vault locker (init --vault: SQLCipher catalogue, sealed
signing key): list, add a passphrase, a recovery key and shares, change and remove; each
change a custody event that verify accepts; no secret in any output but the one shown once."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import vault_terminal

from docket.custody import log
from docket.locker import Locker
from docket.vault import slots

PASSPHRASE = "Invented first passphrase of Hana"


@pytest.fixture
def vault(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(secret))
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # no agent of another test is asked
    path = tmp_path / "vault"
    made = cli("init", "--vault", path)
    assert made.code == 0, made.err
    recovery_key = made.out.split("recovery key (shown only now): ")[1].split()[0]
    return path, recovery_key


def vault_events(path: Path) -> list[tuple[str, dict[str, Any]]]:
    with Locker.open(path) as locker, locker.engine.connect() as conn:
        return [
            (e.action, dict(e.details)) for e in log.events(conn) if e.action.startswith("vault.")
        ]


def test_slot_commands_change_the_slots_and_log_each_change(
    vault: tuple[Path, str], cli: Any, tmp_path: Path
) -> None:
    path, recovery_key = vault
    listed = cli("vault", "slots", "--locker", path)
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert [line.split()[:2] for line in lines] == [["0", "passphrase"], ["1", "recovery"]]

    new_file = tmp_path / "new"
    new_file.write_text("Invented second passphrase\n")
    added = cli(
        "vault", "add-passphrase", "--label", "Invented Ines", "--new-passphrase-file", new_file,
        "--locker", path,
    )  # fmt: skip
    assert (added.code, added.out.strip()) == (0, "added passphrase slot 2 (Invented Ines)")

    shares = cli("vault", "add-shares", "-k", "2", "-n", "3", "--locker", path)
    assert shares.code == 0, shares.err
    mnemonics = [line.strip() for line in shares.out.splitlines() if len(line.split()) == 33]
    assert len(mnemonics) == 3
    locker_id = json.loads((path / "docket.json").read_text())["locker_id"]
    key = slots.open_with_shares(path, locker_id, mnemonics[1:])
    assert slots.open_with_passphrase(path, locker_id, "Invented second passphrase") == key

    new_file.write_text("Invented third passphrase\n")
    changed = cli(
        "vault", "change-passphrase", "0", "--new-passphrase-file", new_file, "--locker", path
    )
    assert (changed.code, changed.out.strip()) == (
        0,
        "passphrase of slot 0 changed: it is now slot 4",
    )
    refused = cli("vault", "remove-slot", "2", "--locker", path)  # the old passphrase is gone
    assert refused.code == 1
    assert "no slot opens with this passphrase" in refused.err
    (tmp_path / "passphrase").write_text("Invented third passphrase\n")
    removed = cli("vault", "remove-slot", "2", "--locker", path)
    assert (removed.code, removed.out.strip()) == (0, "removed slot 2 (passphrase)")
    assert slots.open_with_passphrase(path, locker_id, "Invented third passphrase") == key

    listed = cli("vault", "slots", "--json", "--locker", path)
    assert [(s["slot"], s["kind"]) for s in listed.json()] == [
        (1, "recovery"),
        (3, "shares"),
        (4, "passphrase"),
    ]
    assert vault_events(path) == [
        ("vault.slot_added", {"slot": 2, "kind": "passphrase", "label": "Invented Ines"}),
        ("vault.slot_added", {"slot": 3, "kind": "shares", "label": "trustees", "shares": [2, 3]}),
        (
            "vault.passphrase_changed",
            {"slot": 4, "kind": "passphrase", "label": listed.json()[2]["label"], "replaced": 0},
        ),
        ("vault.slot_removed", {"slot": 2, "kind": "passphrase", "label": "Invented Ines"}),
    ]
    verified = cli("verify", "--locker", path)
    assert verified.code == 0, verified.out + verified.err
    every_output = listed.out + added.out + changed.out + removed.out + refused.err + shares.err
    for secret in (PASSPHRASE, "Invented second", "Invented third", recovery_key, key.master.hex()):
        assert secret not in every_output


def test_the_last_slot_stays_and_a_wrong_id_is_one_line(vault: tuple[Path, str], cli: Any) -> None:
    path, _ = vault
    assert cli("vault", "remove-slot", "1", "--locker", path).code == 0
    last = cli("vault", "remove-slot", "0", "--locker", path)
    assert last.code == 1
    assert last.err.strip().endswith("slot 0 is the last one; add another first")
    missing = cli("vault", "remove-slot", "9", "--locker", path)
    assert (missing.code, missing.err.count("\n")) == (1, 1)
    assert "no slot 9" in missing.err
    assert [a for a, _ in vault_events(path)] == ["vault.slot_removed"]


def test_slot_commands_refuse_a_plain_locker(tmp_path: Path, cli: Any) -> None:
    assert cli("init", tmp_path / "plain").code == 0
    refused = cli("vault", "slots", "--locker", tmp_path / "plain")
    assert refused.code == 1
    assert "not a vault locker" in refused.err


def test_add_passphrase_asks_on_the_terminal_twice_and_shows_nothing_typed(
    vault: tuple[Path, str], tmp_path: Path
) -> None:
    """Unlocked by a prompt, then the new passphrase typed twice: two that differ change
    nothing; two that agree add the slot. Nothing typed is ever shown."""
    path, _ = vault
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)}
    env.pop("DOCKET_PASSPHRASE_FILE")
    command = ["vault", "add-passphrase", "--label", "Invented Jo", "--locker", str(path)]
    typed = [PASSPHRASE, "Invented new one", "Invented other one"]
    code, shown = vault_terminal.run(command, env, typed)
    assert code == 1, shown
    assert "the two passphrases differ; nothing was changed" in shown
    assert shown.index("Passphrase, recovery key") < shown.index("New passphrase for Invented Jo")
    locker_id = json.loads((path / "docket.json").read_text())["locker_id"]
    assert len(slots.list_slots(path, locker_id)) == 2
    code, shown_again = vault_terminal.run(command, env, typed[:2] + typed[1:2])
    assert code == 0, shown_again
    assert "added passphrase slot 2 (Invented Jo)" in shown_again
    for secret in typed:
        assert secret not in shown + shown_again
    assert slots.open_with_passphrase(path, locker_id, "Invented new one")


def test_a_new_recovery_key_is_shown_once_and_opens(vault: tuple[Path, str], cli: Any) -> None:
    path, first_recovery_key = vault
    added = cli("vault", "add-recovery-key", "--label", "Invented safe", "--locker", path)
    assert added.code == 0, added.err
    assert "shown this once" in added.out and "offline" in added.out
    shown = added.out.split("shown this once:")[1].split()[0]
    assert shown != first_recovery_key and len(shown.replace("-", "")) == 52
    locker_id = json.loads((path / "docket.json").read_text())["locker_id"]
    key = slots.open_with_recovery_key(path, locker_id, shown)
    assert slots.open_with_recovery_key(path, locker_id, first_recovery_key) == key
    assert shown.encode() not in (path / "keys" / "vault.json").read_bytes()
    listed = cli("vault", "slots", "--locker", path)
    assert shown not in listed.out and "Invented safe" in listed.out
    assert vault_events(path)[-1] == (
        "vault.slot_added",
        {"slot": 2, "kind": "recovery", "label": "Invented safe"},
    )
