"""Commands that let evidence leave and arrive: export, check, import, timestamp."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from docket._cli_common import locker_option, open_locker
from docket.catalogue import queries
from docket.custody import ledger
from docket.disclose import check as checker
from docket.disclose import stamping
from docket.disclose.importer import import_package
from docket.disclose.package import PROFILES, export, items_of_case
from docket.errors import DocketError
from docket.locker import default_actor


@click.command(name="export")
@click.argument("item_ids", nargs=-1)
@click.option("--case", help="Every item of this case.")
@click.option("--profile", type=click.Choice(PROFILES), required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="The package: a folder, or a .zip file.",
)
@click.option("--recipient", help="Who receives it (kept in the custody log).")
@locker_option
def export_command(
    item_ids: Sequence[str],
    case: str | None,
    profile: str,
    output: Path,
    recipient: str | None,
    locker_path: Path | None,
) -> None:
    """Make a self-verifying BagIt package of items, for a court or for publication."""
    if bool(item_ids) == bool(case):
        raise DocketError("give item IDs or --case NAME (one of the two)")
    with open_locker(locker_path) as locker:
        with locker.engine.connect() as conn, conn.begin():
            items = (
                items_of_case(conn, case)
                if case
                else [queries.resolve_item(conn, i) for i in item_ids]
            )
        summary = export(locker, items, profile, output, default_actor(), recipient, case)
    for item, reason in summary.left_out:
        click.echo(f"left out  {item[:12]}: {reason}")
    click.echo(
        f"exported {len(summary.items)} item(s) to {output} ({profile} profile, "
        f"checkpoint {summary.checkpoint})"
    )


@click.command(name="check")
@click.argument("package", type=click.Path(path_type=Path, exists=True))
@click.option("--key", help="The sender's public key (hex) you expect, from another channel.")
def check_command(package: Path, key: str | None) -> None:
    """Verify a package offline: bag, hashes, proofs, signature, timestamp."""
    report = checker.check(package, bytes.fromhex(key) if key else None)
    click.echo(checker.render(report))
    if not report.ok:
        raise SystemExit(1)


@click.command(name="import")
@click.argument("package", type=click.Path(path_type=Path, exists=True))
@click.option("--case", help="Add the imported items to this case.")
@locker_option
def import_command(package: Path, case: str | None, locker_path: Path | None) -> None:
    """Take in a package another locker exported, continuing its chain of custody."""
    with open_locker(locker_path) as locker:
        summary = import_package(locker, package, default_actor(), case)
    click.echo(f"{len(summary.new)} new, {len(summary.held)} already held, from {package}")


@click.command(name="timestamp")
@locker_option
def timestamp_command(locker_path: Path | None) -> None:
    """Get an RFC 3161 token for the latest checkpoint from $DOCKET_TSA_URL."""
    url = stamping.tsa_url()
    if url is None:
        raise DocketError("no timestamp authority: set DOCKET_TSA_URL (and DOCKET_TSA_ROOT)")
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        latest = ledger.latest_checkpoint(conn, locker.origin)
        if latest is None:
            raise DocketError("no checkpoint yet: run `docket checkpoint` first")
        stamping.stamp(conn, default_actor(), latest, url)
    click.echo(f"checkpoint {latest.id} (size {latest.checkpoint.tree_size}) timestamped by {url}")
