"""The `gc` command: housekeeping of the store (docket/gc.py), and of analysis an interrupted
ingest or import left undone (analyse.batch.unanalysed)."""

from __future__ import annotations

from pathlib import Path

import click

from docket._cli_common import locker_option, open_locker
from docket.analyse.batch import analyse, unanalysed
from docket.gc import collect
from docket.locker import default_actor


def resumed_line(items: list[str]) -> str:
    """The line that says a command finished what an interrupted ingest or import left."""
    return (
        f"analysed {len(items)} item(s) an interrupted ingest or import had recorded but "
        "not analysed"
    )


@click.command(name="gc")
@click.option(
    "--delete",
    is_flag=True,
    help="Remove the stray blobs listed (logged as a custody event); never while the "
    "catalogue lacks a signed checkpoint.",
)
@locker_option
def gc_command(delete: bool, locker_path: Path | None) -> None:
    """List blobs no record references, remove dead processes' partial writes, and analyse
    the items an interrupted ingest or import left unanalysed."""
    with open_locker(locker_path) as locker:
        found = collect(locker, default_actor(), delete=delete)
        with locker.engine.connect() as conn, conn.begin():
            left = unanalysed(conn)
        if left:
            analyse(locker, left, default_actor())
    for stray in found.strays:
        click.echo(f"{'removed' if found.deleted else 'stray':<8} {stray.sha256}  {stray.size}")
    total = sum(stray.size for stray in found.strays)
    done = f"removed (event {found.event})" if found.deleted else "kept (--delete removes them)"
    click.echo(
        f"{len(found.strays)} stray blob(s), {total} bytes, {done}; "
        f"{found.scratch_removed} leftover(s) of dead processes removed from tmp/"
    )
    if found.scratch_foreign:
        click.echo(
            f"{found.scratch_foreign} entr{'y' if found.scratch_foreign == 1 else 'ies'} in "
            "tmp/ of processes in another container or on another machine kept: whether they "
            "still run cannot be told from here (a docket process there removes them once "
            "they are gone; if that container or machine is gone for good, remove them by hand)"
        )
    if found.uploads_aborted:
        click.echo(f"{found.uploads_aborted} unfinished upload(s) of dead processes aborted")
    if left:
        click.echo(resumed_line(left))
