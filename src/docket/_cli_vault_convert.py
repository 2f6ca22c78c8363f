"""`docket vault convert`: make a plain locker a vault in place (docket/vault/convert.py)."""

from __future__ import annotations

import datetime
from pathlib import Path

import click

from docket._cli_common import locker_option
from docket._terminal import progress_for_terminal
from docket.locker import default_actor, default_path, is_vault, read_config
from docket.progress import Progress
from docket.vault import convert, unlocking


@click.command(name="convert")
@locker_option
def convert_command(locker_path: Path | None) -> None:
    """Encrypt a plain locker in place, making it a vault: its blobs, catalogue, signing
    keys and kept browser profiles, under a new passphrase (DOCKET_PASSPHRASE_FILE, else typed
    twice). Stop other docket processes first. Interrupted, run it again: it carries on where
    it stopped. A locker in a bucket may keep plain objects under Object Lock: run it again
    after their lock ends to remove them."""
    path = locker_path or default_path()
    if is_vault(read_config(path)) and convert.has_plain_left(path):
        key = unlocking.obtain_key(path, str(read_config(path)["locker_id"]))
        _say_left(convert.remove_plain_left(path, key, default_actor()).left, removed=True)
        return
    begun = convert.begin(
        path, lambda: unlocking.new_passphrase(f"the vault {path}"), default_actor()
    )
    if begun.recovery_key is not None:
        click.echo(f"recovery key (shown only now): {begun.recovery_key}")
        click.echo(
            "write it down and keep it offline, away from this computer: it opens the vault "
            "if the passphrase is lost"
        )
    key = begun.key or unlocking.obtain_key(path, str(read_config(path)["locker_id"]))
    progress: Progress = progress_for_terminal("sealing blobs", by_bytes=False) or Progress()
    done = convert.finish(path, key, default_actor(), progress)
    click.echo(f"{path} is now a vault: {done.sealed} blob(s) sealed by this run")
    _say_left(done.left, removed=False)


def _say_left(left: dict[str, str], removed: bool) -> None:
    """One line on the plain objects the bucket still holds under Object Lock, if any."""
    if not left:
        if removed:
            click.echo("the plain objects the conversion left are all removed")
        return
    until = max(datetime.datetime.fromisoformat(u) for u in left.values())
    click.echo(
        f"{len(left)} plain object version(s) left in the bucket: S3 Object Lock keeps them "
        f"until {until:%Y-%m-%d %H:%M} UTC at the latest; `docket verify` names them, and "
        "`docket vault convert` run after then removes them",
        err=True,
    )
