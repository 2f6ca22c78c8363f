"""CLI commands for capture (docket/capture/); registered in cli.py (ELSEWHERE)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from docket._cli_common import locker_option, open_locker
from docket._terminal import progress_for_terminal
from docket.capture.limits import MAX_BYTES, TIMEOUT
from docket.errors import DocketError
from docket.locker import default_actor
from docket.names import one_line
from docket.progress import Progress

if TYPE_CHECKING:
    from docket.capture.run import Capture


def _urls(urls: tuple[str, ...], from_file: Path | None) -> list[str]:
    found = list(urls)
    if from_file is not None:
        try:
            lines = from_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DocketError(f"{from_file}: cannot read the list of URLs: {exc}") from exc
        found += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not found:
        raise DocketError("give at least one URL, or --from-file with one URL per line")
    return found


def _echo(done: Capture) -> None:
    """The capture, one printable line per fact: a page's addresses, names and notes are the
    site's words and never reach the terminal as escape sequences (names.one_line)."""
    timed_out = " (timed out: kept what had arrived)" if done.timed_out else ""

    def say(text: str) -> None:
        click.echo(one_line(text))

    say(
        f"captured {done.url} -> {done.final_url} HTTP {done.status}{timed_out} "
        f"(event {done.event})"
    )
    for part in done.parts:
        state = "new " if part.new else "held"
        say(f"  {state} {part.kind:<10} {part.sha256}  {part.name}")
    for note in done.notes:
        say(f"  note: {note}")


@click.command(
    name="capture",
    help="Capture each URL in a headless Chromium: the page as WACZ (WARC 1.1), a full-page "
    "screenshot, a PDF print, and its images and video, each stored as an item, with one "
    f"custody event per capture. Each capture is capped at {MAX_BYTES // 2**20} MB.",
)
@click.argument("urls", nargs=-1)
@click.option(
    "--from-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A text file of URLs, one per line (# starts a comment).",
)
@click.option("--case", help="Add every part to this case (created if new).")
@click.option("--source", help="Pseudonym of the source who pointed to the page.")
@click.option("--note", help="A note kept with each acquisition.")
@click.option(
    "--proxy",
    metavar="URL",
    help="Send every request through this proxy (http://, socks5://; e.g. Tor): the browser's "
    "and every download's; nothing leaves the machine another way.",
)
@click.option(
    "--profile",
    metavar="NAME",
    help="Use the browser profile NAME kept in the locker (profiles/NAME, made if new, "
    "mode 0700; in a vault, sealed, and unpacked only in memory for the capture): its "
    "cookies stay from one capture to the next, so a site signed in to stays signed in. "
    "It belongs to the --case of its first capture into a case, and no other case may use "
    "it. Without it, every capture starts from a fresh, empty profile.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=TIMEOUT,
    show_default=True,
    help="Seconds to wait for a page to load; a page still loading is kept as it stands.",
)
@click.option(
    "--allow-private-network",
    is_flag=True,
    help="Allow loopback, private and link-local addresses (refused by default).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines: one line per capture.")
@locker_option
def capture_command(
    urls: tuple[str, ...],
    from_file: Path | None,
    case: str | None,
    source: str | None,
    note: str | None,
    proxy: str | None,
    profile: str | None,
    timeout: float,
    allow_private_network: bool,
    as_json: bool,
    locker_path: Path | None,
) -> None:
    from docket.capture.run import CaptureOptions, capture  # the browser, WARC and WACZ: heavy

    targets = _urls(urls, from_file)
    options = CaptureOptions(
        collector=default_actor(),
        case=case,
        source=source,
        note=note,
        proxy=proxy,
        profile=profile,
        timeout=timeout,
        allow_private_network=allow_private_network,
    )
    failed = 0
    progress: Progress = progress_for_terminal("capture", by_bytes=False) or Progress()
    with open_locker(locker_path) as locker:
        progress.start(len(targets), len(targets))
        for index, url in enumerate(targets, 1):
            try:
                done = capture(locker, url, options)
            except DocketError as exc:
                failed += 1
                if as_json:
                    click.echo(json.dumps({"url": url, "error": str(exc)}, ensure_ascii=False))
                else:
                    click.echo(one_line(f"failed   {exc}"))
            else:
                if as_json:
                    click.echo(json.dumps(done.summary(), ensure_ascii=False))
                else:
                    _echo(done)
            progress.advance(index, index)
        progress.finish()
    if failed:
        sys.exit(1)


@click.command(
    name="wacz-key",
    help="Print the locker's WACZ signing key: the publicKey every capture's WACZ carries in "
    "datapackage-digest.json (base64 of its SubjectPublicKeyInfo, ECDSA P-384) and its SHA-256 "
    "fingerprint, made if new (in a vault, a key left in the clear by a conversion is "
    "sealed). Give it to those who will check the captures: a WACZ signed by another key was "
    "not made by this locker.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON: publicKey and fingerprint.")
@locker_option
def wacz_key_command(as_json: bool, locker_path: Path | None) -> None:
    from docket.capture import wacz_signing

    with open_locker(locker_path) as locker:
        if locker.locked:
            public = wacz_signing.published_key(locker.path)
            if public is None:
                raise DocketError(f"{locker.path}: no WACZ key yet, and the vault is locked")
        else:  # made if new; in a vault, a key still in the clear is sealed
            public = wacz_signing.locker_key(locker.path, locker.vault_key).public
    fingerprint = wacz_signing.fingerprint(public)
    if as_json:
        click.echo(json.dumps({"publicKey": public, "fingerprint": fingerprint}))
    else:
        click.echo(f"publicKey: {public}\nfingerprint: {fingerprint}")
