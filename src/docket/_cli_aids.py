"""`docket aids ITEM`: an item's verification aids (docket/aids/), run first where missing."""

from __future__ import annotations

from pathlib import Path

import click

from docket._cli_common import locker_option, open_locker, print_json
from docket.catalogue import queries
from docket.locker import default_actor
from docket.names import one_line


@click.command(name="aids")
@click.argument("item_id")
@click.option("--json", "as_json", is_flag=True)
@click.option("--no-run", is_flag=True, help="Only show what is recorded; run nothing.")
@locker_option
def aids_command(item_id: str, as_json: bool, no_run: bool, locker_path: Path | None) -> None:
    """Print an item's verification aids: forensic, metadata, time-and-place and content-
    credential signals, each with its tools (signals for a person to weigh, never a verdict).
    Aids not yet run on the item (or run by an older version), such as picture-forensics,
    which decodes the full picture, are run and recorded first, unless --no-run."""
    from docket.aids.results import aid_results, error_levels_blob, item_media_type, pending
    from docket.aids.steps import verification_steps
    from docket.analyse.batch import run_step

    ran: list[dict[str, str | None]] = []
    with open_locker(locker_path) as locker:
        with locker.engine.connect() as conn:
            sha256 = queries.resolve_item(conn, item_id)
            media_type = item_media_type(conn, sha256)
            missing = [] if no_run else pending(conn, sha256)
        for step in verification_steps():
            if step.name in missing:
                run = run_step(locker, sha256, media_type, step, default_actor())
                ran.append({"step": step.name, "error": run.error})
        with locker.engine.connect() as conn:
            results = aid_results(conn, sha256)
            blob = error_levels_blob(conn, sha256)
        picture = None if blob is None else locker.store.shown_path(blob)

    def say(text: str) -> None:  # a file's own words, as one printable line (names.one_line)
        click.echo(one_line(text))

    if as_json:
        shown = [r.as_dict() for r in results]
        print_json({"item": sha256, "ran": ran, "results": shown, "error_levels": picture})
        return
    say(f"verification aids for {sha256[:12]} (signals to weigh, not a verdict)")
    for done in ran:
        outcome = f"failed: {done['error']}" if done["error"] else "recorded"
        say(f"ran {done['step']} now ({outcome})")
    for result in results:
        tools = ", ".join(f"{k} {v}" for k, v in sorted(result.tools.items()))
        version = f" v{result.version}" if result.version else ""
        say(f"\n{result.step}{version} [{result.status}] {tools}".rstrip())
        if result.error:
            say(f"  failed: {result.error}")
        for signal in result.signals:
            say(f"  {signal.finding:<11} {signal.name}: {signal.summary}")
    if picture:
        say(f"\nerror-level picture: {picture}")
