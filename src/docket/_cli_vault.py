"""Commands for a vault locker's keys (docket/vault/): the `vault` group, unlock and lock."""

from __future__ import annotations

import click


@click.group(name="vault")
def vault_group() -> None:
    """Key slots of a vault locker (one whose blobs, catalogue and signing key are encrypted)."""


COMMANDS: list[click.Command] = [vault_group]
