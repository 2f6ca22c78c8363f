"""`docket vault convert`: make a plain locker a vault in place (docket/vault/convert.py)."""

from __future__ import annotations

from pathlib import Path

import click

from docket._cli_common import locker_option
from docket._terminal import progress_for_terminal
from docket.locker import default_actor, default_path, read_config
from docket.progress import Progress
from docket.vault import convert, unlocking


@click.command(name="convert")
@locker_option
def convert_command(locker_path: Path | None) -> None:
    """Encrypt a plain locker in place, making it a vault: its blobs, catalogue and signing
    key, under a new passphrase (DOCKET_PASSPHRASE_FILE, else typed twice). Stop other docket
    processes first. Interrupted, run it again: it carries on where it stopped."""
    path = locker_path or default_path()
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
    sealed = convert.finish(path, key, default_actor(), progress)
    click.echo(f"{path} is now a vault: {sealed} blob(s) sealed by this run")
