"""Commands that let evidence leave and arrive: export, check, import, timestamp."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from docket._cli_common import locker_option, open_locker, print_json
from docket._cli_store import resumed_line
from docket.catalogue import queries
from docket.custody import ledger
from docket.disclose import check as checker
from docket.disclose import stamping
from docket.disclose.importer import import_package
from docket.disclose.package import PROFILES, export, items_of_case
from docket.disclose.timestamps import trusted_roots
from docket.errors import DocketError
from docket.locale import LANGUAGES
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
@click.option(
    "--lang",
    type=click.Choice(list(LANGUAGES)),
    default="en",
    show_default=True,
    help="The language of the report's labels (en, ar Arabic, ckb Kurdish Sorani).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was exported as JSON.")
@locker_option
def export_command(
    item_ids: Sequence[str],
    case: str | None,
    profile: str,
    output: Path,
    recipient: str | None,
    lang: str,
    as_json: bool,
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
        summary = export(
            locker, items, profile, output, default_actor(), recipient, case, lang=lang
        )
    if as_json:
        print_json(
            {
                "output": str(output),
                "profile": profile,
                "items": list(summary.items),
                "left_out": [{"item": i, "reason": r} for i, r in summary.left_out],
                "checkpoint": summary.checkpoint,
                "fingerprint": checker.fingerprint(summary.public_key),
                "verifier_sha256": checker.verifier_sha256(),
            }
        )
        return
    for item, reason in summary.left_out:
        click.echo(f"left out  {item[:12]}: {reason}")
    click.echo(
        f"exported {len(summary.items)} item(s) to {output} ({profile} profile, "
        f"checkpoint {summary.checkpoint}); the recipient checks it with your key "
        f"{checker.fingerprint(summary.public_key)}, and the verifier inside it by its SHA-256 "
        f"{checker.verifier_sha256()} (send both apart from the package)"
    )


@click.command(name="check", epilog="\b\n" + checker.EXIT_CODES)
@click.argument("package", type=click.Path(path_type=Path, exists=True))
@click.option("--key", help="The sender's public key: hex, a key file, or its SHA256: fingerprint.")
@click.option(
    "--tsa-root",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="PEM file of the TSA roots you trust (default: the system's trust store).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_command(package: Path, key: str | None, tsa_root: Path | None, as_json: bool) -> None:
    """Verify a package offline: bag, files, proofs, signer, timestamp."""
    roots = None if tsa_root is None else trusted_roots(tsa_root)
    report = checker.check(package, None if key is None else checker.read_key(key), roots)
    if as_json:
        print_json(report.as_dict())
    else:
        click.echo(checker.render(report))
    if report.exit_code:
        raise SystemExit(report.exit_code)


@click.command(name="import")
@click.argument("package", type=click.Path(path_type=Path, exists=True))
@click.option("--case", help="Add the imported items to this case.")
@click.option("--key", help="The sender's public key: hex, a key file, or its SHA256: fingerprint.")
@click.option(
    "--trust-new-key",
    is_flag=True,
    help="Without --key: take the package's own key on trust (recorded in the custody log).",
)
@click.option(
    "--tsa-root",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="PEM file of the TSA roots you trust (default: the system's trust store).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as JSON.")
@locker_option
def import_command(
    package: Path,
    case: str | None,
    key: str | None,
    trust_new_key: bool,
    tsa_root: Path | None,
    as_json: bool,
    locker_path: Path | None,
) -> None:
    """Take in a package another locker exported, continuing its chain of custody."""
    if key is not None and trust_new_key:
        raise DocketError("give --key or --trust-new-key, not both")
    sender = None if key is None else checker.read_key(key)
    roots = None if tsa_root is None else trusted_roots(tsa_root)
    with open_locker(locker_path) as locker:
        summary = import_package(
            locker, package, default_actor(), case, sender, trust_new_key, roots
        )
    if as_json:
        print_json(
            {
                "package": str(package),
                "new": summary.new,
                "held": summary.held,
                "prior_custody": summary.prior_custody,
                "resumed": summary.resumed,
            }
        )
    else:
        if summary.resumed:
            click.echo(resumed_line(summary.resumed))
        click.echo(
            f"{len(summary.new)} new, {len(summary.held)} already held, from {package}; the "
            f"sender's custody kept as {summary.prior_custody[:12]}"
        )


@click.command(name="key")
@click.option("--fingerprint", is_flag=True, help="Print the key's SHA256: fingerprint instead.")
@locker_option
def key_command(fingerprint: bool, locker_path: Path | None) -> None:
    """Print the locker's public key (hex), to publish or to give to `docket-check --key`."""
    with open_locker(locker_path) as locker:
        public = locker.public_key
    click.echo(checker.fingerprint(public) if fingerprint else public.hex())


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
