"""Commands for copies of a locker (replicate, audit-copies, repair, restore): docket/copies/."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from docket._cli_common import locker_option, open_locker, print_json
from docket.copies.audit import SAMPLE, audit
from docket.copies.bucket import Bucket
from docket.copies.destination import Folder
from docket.copies.repair import repair, repair_from_bucket
from docket.copies.replicate import replicate
from docket.copies.restore import restore, restore_from_bucket
from docket.errors import DocketError
from docket.locker import default_actor, default_path
from docket.store import scratch
from docket.store.s3 import SCHEME, S3Bucket


@click.command(name="replicate")
@click.argument("dest")
@click.option(
    "--include-private-key",
    is_flag=True,
    help="Copy keys/signing.key too (the copy can then sign; keep it as safe as the locker).",
)
@click.option(
    "--retention-days",
    type=click.IntRange(min=1),
    default=None,
    help="For an s3:// destination: days each object stays locked (S3 Object Lock).",
)
@locker_option
def replicate_command(
    dest: str, include_private_key: bool, retention_days: int | None, locker_path: Path | None
) -> None:
    """Copy the locker to DEST (a folder on another disk, or s3://bucket/prefix?endpoint=...);
    run again to copy only what is new."""
    with open_locker(locker_path) as locker:
        if dest.startswith(SCHEME):
            if retention_days is None:
                raise DocketError(f"{dest}: give --retention-days N for a bucket copy")
            # On the locker's disk: a vault's scratch is in memory, and what goes up here is
            # ciphertext only (sealed files, the encrypted catalogue), perhaps gigabytes of it.
            with scratch.folder(locker.store.tmp, "replicate") as work:
                target = Bucket(S3Bucket.open(dest), retention_days, work)
                copied = replicate(locker, target, default_actor(), private_key=include_private_key)
        else:
            if retention_days is not None:
                raise DocketError("--retention-days is for an s3:// destination")
            copied = replicate(
                locker, Folder(Path(dest)), default_actor(), private_key=include_private_key
            )
    click.echo(
        f"replicated to {copied.destination}: {copied.blobs_copied} blob(s) copied "
        f"({copied.bytes_copied} bytes), {copied.blobs_held} held, tree size "
        f"{copied.tree_size} (event {copied.event})"
    )


@click.command(name="audit-copies")
@click.argument("copies", nargs=-1, required=True)
@click.option("--deep", is_flag=True, help="Re-hash every blob of every copy (slow).")
@click.option(
    "--sample",
    type=click.IntRange(min=0),
    default=SAMPLE,
    show_default=True,
    help="Without --deep: blobs re-hashed per copy, chosen at random (sizes of all compared).",
)
@click.option("--json", "as_json", is_flag=True)
@locker_option
def audit_command(
    copies: tuple[str, ...], deep: bool, sample: int, as_json: bool, locker_path: Path | None
) -> None:
    """Compare this locker with each COPY (a folder, or s3://...) and the copies with each
    other; name every difference."""
    report = audit(locker_path or default_path(), list(copies), deep=deep, sample=sample)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "checks": [
                    {"name": c.name, "passed": c.passed, "detail": c.detail} for c in report.checks
                ],
                "differences": [
                    {"subject": p.subject, "message": p.message} for p in report.problems
                ],
                "notes": report.notes,
            }
        )
    else:
        for check in report.checks:
            click.echo(f"{check.label:<12} {check.name}: {check.detail}")
        for problem in report.problems:
            click.echo(f"DIFFERENCE   {problem}")
        for note in report.notes:
            click.echo(f"note         {note}")
        click.echo(
            "copies agree" if report.ok else f"copies DIFFER: {len(report.problems)} difference(s)"
        )
    if not report.ok:
        sys.exit(1)


@click.command(name="repair")
@click.option(
    "--from",
    "copy",
    required=True,
    metavar="COPY",
    help="A copy of this locker made by `docket replicate`: a folder, or s3://bucket/prefix?...",
)
@locker_option
def repair_command(copy: str, locker_path: Path | None) -> None:
    """Restore missing or damaged blobs and a lost catalogue tail from a consistent copy."""
    path = locker_path or default_path()
    if copy.startswith(SCHEME):
        done = repair_from_bucket(path, S3Bucket.open(copy), default_actor())
    else:
        done = repair(path, Path(copy), default_actor())
    for name in done.restored:
        click.echo(f"restored  blob {name}")
    for name in done.replaced:
        click.echo(f"replaced  blob {name} (was damaged)")
    if done.catalogue:
        click.echo(f"restored  catalogue: {done.catalogue[0]} -> {done.catalogue[1]} events")
    if done.checkpoints_log:
        click.echo("restored  checkpoints.log")
    for name, reason in done.unrepaired:
        click.echo(f"NOT repaired  blob {name}: {reason}")
    logged = "a copy: no event logged" if done.event is None else f"event {done.event}"
    click.echo(
        f"repaired from {done.source} ({logged}); run `docket verify`"
        if done.changed
        else f"nothing to repair from {done.source}"
    )
    if done.unrepaired:
        sys.exit(1)


@click.command(name="restore")
@click.argument("copy")
@click.argument("directory", type=click.Path(path_type=Path))
def restore_command(copy: str, directory: Path) -> None:
    """Bring a whole locker back from COPY (a folder, or s3://...) into the new folder
    DIRECTORY."""
    if copy.startswith(SCHEME):
        done = restore_from_bucket(Bucket(S3Bucket.open(copy), 1), directory, default_actor())
    else:
        done = restore(Path(copy), directory, default_actor())
    click.echo(
        f"restored {done.destination} from {copy}: {done.blobs_held} blob(s), tree size "
        f"{done.tree_size} (event {done.event}); run `docket verify --locker {directory}`"
    )
