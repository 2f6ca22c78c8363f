"""The `gc` command: housekeeping of the store (docket/gc.py)."""

from __future__ import annotations

from pathlib import Path

import click

from docket._cli_common import locker_option, open_locker
from docket.gc import collect
from docket.locker import default_actor


@click.command(name="gc")
@click.option(
    "--delete",
    is_flag=True,
    help="Remove the stray blobs listed (logged as a custody event); never while the "
    "catalogue lacks a signed checkpoint.",
)
@locker_option
def gc_command(delete: bool, locker_path: Path | None) -> None:
    """List blobs no record references, and remove dead processes' partial writes."""
    with open_locker(locker_path) as locker:
        found = collect(locker, default_actor(), delete=delete)
    for stray in found.strays:
        click.echo(f"{'removed' if found.deleted else 'stray':<8} {stray.sha256}  {stray.size}")
    total = sum(stray.size for stray in found.strays)
    done = f"removed (event {found.event})" if found.deleted else "kept (--delete removes them)"
    click.echo(
        f"{len(found.strays)} stray blob(s), {total} bytes, {done}; "
        f"{found.scratch_removed} leftover(s) of dead processes removed from tmp/"
    )
