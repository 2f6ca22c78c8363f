"""Commands for a vault locker's keys (docket/vault/): the `vault` group, unlock and lock."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import click
from sqlalchemy import Connection

from docket import clock
from docket._cli_common import locker_option, print_json
from docket._cli_vault_convert import convert_command
from docket.custody.events import Event
from docket.errors import DocketError
from docket.locker import Locker, default_actor, default_path, is_vault, read_config
from docket.vault import agent, slot_events, slots, unlocking
from docket.vault.keys import VaultKey

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType[float]):
    """2h, 90m, 1h30m, 45s, or plain seconds."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        text = str(value).strip().lower()
        if text.isascii() and text.isdigit():
            seconds = int(text)
        elif re.fullmatch(r"([0-9]+[smhd])+", text):
            seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"([0-9]+)([smhd])", text))
        else:
            self.fail(f"{value!r}: a duration such as 2h, 90m, 1h30m or 45s")
        if seconds <= 0:
            self.fail(f"{value!r}: a duration above zero")
        return float(seconds)


def _vault(locker_path: Path | None) -> tuple[Path, str]:
    """The locker's folder and id; refused unless it is a vault."""
    path = locker_path or default_path()
    config = read_config(path)
    if not is_vault(config):
        raise DocketError(f"{path}: not a vault locker; it has no key to unlock")
    return path, str(config["locker_id"])


def _unlocked(locker_path: Path | None) -> tuple[Path, VaultKey]:
    path, locker_id = _vault(locker_path)
    return path, unlocking.obtain_key(path, locker_id)


def _logged(
    unlocked: tuple[Path, VaultKey],
    change: Callable[[Path, VaultKey], slots.SlotInfo],
    record: Callable[[Connection, str, slots.SlotInfo], Event],
) -> slots.SlotInfo:
    """Make a slot change inside the transaction that logs it (see slot_events)."""
    path, key = unlocked
    with Locker.open(path, vault_key=key) as locker, locker.engine.begin() as conn:
        slot = change(path, key)
        record(conn, default_actor(), slot)
    return slot


@click.command(name="unlock")
@click.option(
    "--for",
    "seconds",
    type=Duration(),
    default="2h",
    show_default=True,
    help="How long the key is held (2h, 90m, 45s).",
)
@locker_option
def unlock_command(seconds: float, locker_path: Path | None) -> None:
    """Unlock a vault for a working session: the key is held in memory by an agent process
    until the time is up or `docket lock`. The passphrase comes from DOCKET_PASSPHRASE_FILE
    or is asked for."""
    path, locker_id = _vault(locker_path)
    key = unlocking.obtain_key(path, locker_id, use_agent=False)
    agent.start(locker_id, key.master, seconds)
    until = clock.from_timestamp(time.time() + seconds)
    click.echo(f"unlocked {path} until {until}; `docket lock` forgets the key at once")


@click.command(name="lock")
@locker_option
def lock_command(locker_path: Path | None) -> None:
    """Forget a vault's key at once (stop its unlock agent)."""
    path, locker_id = _vault(locker_path)
    held = agent.lock(locker_id)
    click.echo(f"locked {path}" if held else f"{path} was not unlocked; nothing held")


@click.group(name="vault")
def vault_group() -> None:
    """Key slots of a vault locker (one whose blobs, catalogue and signing key are encrypted)."""


@vault_group.command(name="slots")
@click.option("--json", "as_json", is_flag=True)
@locker_option
def slots_command(as_json: bool, locker_path: Path | None) -> None:
    """List the key slots: id, kind, label, when made; never a secret. Labels are sealed, so
    they show only when the vault can be unlocked."""
    path, locker_id = _vault(locker_path)
    try:
        key: VaultKey | None = unlocking.obtain_key(path, locker_id)
    except DocketError:
        key = None
    listed = slots.list_slots(path, locker_id, key)
    if as_json:
        print_json(
            [{**slot_events.details(s), "created": s.created, "damage": s.damage} for s in listed]
        )
        return
    for s in listed:
        label = s.label if s.label is not None else "(label sealed: locked)"
        extra = f" {s.shares[0]} of {s.shares[1]}" if s.shares else ""
        if s.damage:
            click.echo(f"{s.id:>3}  DAMAGED     {s.damage}")
        else:
            click.echo(f"{s.id:>3}  {s.kind + extra:<10}  {s.created}  {label}")


new_file_option = click.option(
    "--new-passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Read the new passphrase from this file instead of asking twice.",
)


@vault_group.command(name="add-passphrase")
@click.option("--label", required=True, help="Whose passphrase (sealed; shown only unlocked).")
@new_file_option
@locker_option
def add_passphrase_command(
    label: str, new_passphrase_file: Path | None, locker_path: Path | None
) -> None:
    """Add a key slot opened by a new passphrase."""
    unlocked = _unlocked(locker_path)  # before the new passphrase is asked for
    passphrase = unlocking.new_passphrase(label, new_passphrase_file, from_env=False)
    slot = _logged(
        unlocked, lambda p, k: slots.add_passphrase(p, k, passphrase, label), slot_events.added
    )
    click.echo(f"added passphrase slot {slot.id} ({label})")


@vault_group.command(name="add-recovery-key")
@click.option("--label", default="recovery key", show_default=True)
@locker_option
def add_recovery_key_command(label: str, locker_path: Path | None) -> None:
    """Add a slot opened by a new recovery key, printed once: write it down, keep it offline."""
    shown: list[str] = []

    def change(path: Path, key: VaultKey) -> slots.SlotInfo:
        slot, text = slots.add_recovery_key(path, key, label)
        shown.append(text)
        return slot

    slot = _logged(_unlocked(locker_path), change, slot_events.added)
    click.echo(
        f"added recovery slot {slot.id}; the recovery key, shown this once:\n\n  {shown[0]}\n"
    )
    click.echo("Write it down and keep it offline, apart from the locker.")


@vault_group.command(name="add-shares")
@click.option("-k", "threshold", type=int, required=True, help="Shares needed to open.")
@click.option("-n", "count", type=int, required=True, help="Shares made (one per trustee).")
@click.option("--label", default="trustees", show_default=True)
@locker_option
def add_shares_command(threshold: int, count: int, label: str, locker_path: Path | None) -> None:
    """Add a slot opened by any K of N SLIP-39 shares, printed once: give one to each trustee."""
    shown: list[str] = []

    def change(path: Path, key: VaultKey) -> slots.SlotInfo:
        slot, mnemonics = slots.add_shares(path, key, threshold, count, label)
        shown.extend(mnemonics)
        return slot

    slot = _logged(_unlocked(locker_path), change, slot_events.added)
    click.echo(
        f"added shares slot {slot.id}: any {threshold} of these {count} open it (shown once)"
    )
    for number, mnemonic in enumerate(shown, 1):
        click.echo(f"\nshare {number} of {count}:\n  {mnemonic}")


@vault_group.command(name="remove-slot")
@click.argument("slot_id", type=int)
@locker_option
def remove_slot_command(slot_id: int, locker_path: Path | None) -> None:
    """Remove key slot SLOT_ID (never the last one): its secret no longer opens the vault."""
    slot = _logged(
        _unlocked(locker_path), lambda p, k: slots.remove_slot(p, k, slot_id), slot_events.removed
    )
    click.echo(f"removed slot {slot.id} ({slot.kind})")


@vault_group.command(name="change-passphrase")
@click.argument("slot_id", type=int)
@new_file_option
@locker_option
def change_passphrase_command(
    slot_id: int, new_passphrase_file: Path | None, locker_path: Path | None
) -> None:
    """Replace passphrase slot SLOT_ID with a new passphrase (a new slot, written before the
    old one is removed)."""
    path, key = _unlocked(locker_path)
    passphrase = unlocking.new_passphrase(f"slot {slot_id}", new_passphrase_file, from_env=False)
    with Locker.open(path, vault_key=key) as locker, locker.engine.begin() as conn:
        old, new = slots.change_passphrase(path, key, slot_id, passphrase)
        slot_events.changed(conn, default_actor(), old, new)
    click.echo(f"passphrase of slot {old.id} changed: it is now slot {new.id}")


vault_group.add_command(convert_command)
