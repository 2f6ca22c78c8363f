"""Commands that protect sources and reviewers: redact, strip, approve, flag, reveal."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import click
from sqlalchemy import select

from docket import scope
from docket._cli_common import locker_option, open_locker, print_json
from docket.catalogue import queries, schema
from docket.errors import DocketError
from docket.locker import Locker, default_actor
from docket.protect import approval, copying, flags
from docket.protect.redaction import METHODS
from docket.protect.steps import RedactStep, StripStep
from docket.scope import Scope

CASE_HELP = "The case the copy is made in (needed when several cases hold the item)."


def _item(locker: Locker, item_id: str, case: str | None) -> tuple[str, str, Scope]:
    """The item, its media type, and the case a copy of it is made in (docket.scope)."""
    with locker.engine.connect() as conn, conn.begin():
        sha256 = queries.resolve_item(conn, item_id)
        media_type = conn.execute(
            select(schema.items.c.media_type).where(schema.items.c.sha256 == sha256)
        ).scalar_one()
        view = scope.for_locker(conn, sha256, case)
    return sha256, str(media_type), view


def _region(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(part) for part in text.split(","))
    except ValueError as exc:
        raise DocketError(f"--region {text}: give X,Y,W,H in pixels, e.g. 120,40,200,160") from exc
    if w <= 0 or h <= 0:
        raise DocketError(f"--region {text}: width and height must be positive")
    return x, y, w, h


@click.command(name="redact")
@click.argument("item_id")
@click.option("--faces", is_flag=True, help="Cover every face the detector finds.")
@click.option(
    "--region",
    "regions",
    multiple=True,
    metavar="X,Y,W,H",
    help="Cover this rectangle too (repeatable), in pixels of the upright picture.",
)
@click.option("--from", "start", type=float, help="Video: redact from this second on.")
@click.option("--to", "end", type=float, help="Video: redact up to this second.")
@click.option("--method", type=click.Choice(METHODS), default="mosaic", show_default=True)
@click.option(
    "--keep-metadata",
    is_flag=True,
    help="Do not strip the redacted copy's metadata (the choice is logged).",
)
@click.option(
    "--model",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Face model (ONNX) to use instead of the bundled CenterFace.",
)
@click.option(
    "--preview",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Only write a contact sheet of what would be covered to this file.",
)
@click.option("--case", help=CASE_HELP)
@click.option("--json", "as_json", is_flag=True)
@locker_option
def redact_command(
    item_id: str,
    faces: bool,
    regions: Sequence[str],
    start: float | None,
    end: float | None,
    method: str,
    keep_metadata: bool,
    model: Path | None,
    preview: Path | None,
    case: str | None,
    as_json: bool,
    locker_path: Path | None,
) -> None:
    """Make a redacted copy of a picture or video; the original stays untouched."""
    if not faces and not regions:
        raise DocketError("nothing to redact: give --faces and/or --region X,Y,W,H")
    step = RedactStep(
        faces=faces,
        regions=[_region(r) for r in regions],
        start=start,
        end=end,
        method=method,
        strip=not keep_metadata,
        model=model,
    )
    with open_locker(locker_path) as locker:
        sha256, media_type, view = _item(locker, item_id, case)
        if preview is not None:
            # The sheet shows the original's content: that is a view, and is logged as one.
            with locker.engine.connect() as conn, conn.begin():
                flags.reveal(conn, default_actor(), sha256, "redaction preview", view)
            with locker.store.plain_file(sha256) as original:
                answer = step.preview(original, media_type, preview)
            click.echo(f"contact sheet: {preview} ({len(answer['boxes'])} boxes)")
            return
        done = copying.redact(locker, sha256, media_type, step, default_actor(), view.case)
    metadata = "stripped" if done.stripped else "kept (as asked)"
    path, covered, frames = done.copy.shown, done.regions, done.frames
    if as_json:
        print_json({"path": path, "regions": covered, "frames": frames, "metadata": metadata})
        return
    over = "" if frames is None else f" over {frames} frame{'s' * (frames != 1)}"
    click.echo(f"redacted copy: {path}")
    click.echo(f"covered {covered} region{'s' * (covered != 1)}{over}; metadata {metadata}")


@click.command(name="strip")
@click.argument("item_id")
@click.option("--case", help=CASE_HELP)
@click.option("--json", "as_json", is_flag=True)
@locker_option
def strip_command(item_id: str, case: str | None, as_json: bool, locker_path: Path | None) -> None:
    """Make a publication copy without identifying metadata (pixels and streams kept)."""
    with open_locker(locker_path) as locker:
        sha256, media_type, view = _item(locker, item_id, case)
        made = copying.make_copy(
            locker, sha256, media_type, StripStep(), default_actor(), view.case
        )
    path, removed = made.shown, made.data["removed"]
    if as_json:
        print_json({"path": path, "removed": removed, "remaining": made.data["remaining"]})
        return
    click.echo(f"stripped copy: {path}")
    for group, count in sorted(removed.items()):
        click.echo(f"removed {group}: {count} tag{'' if count == 1 else 's'}")
    if not removed:
        click.echo("the original carried no metadata to remove")


@click.command(name="approve")
@click.argument("item_id")
@click.argument("derivative", required=False)
@click.option("--case", help="The case it is approved in (needed when several cases hold it).")
@click.option(
    "--acknowledge-faces",
    "faces",
    type=int,
    default=0,
    show_default=True,
    metavar="N",
    help="Faces you know the copy still shows and accept publishing (in any one frame).",
)
@click.option("--note", help="What you checked or acknowledged (kept in the custody log).")
@click.option("--revoke", is_flag=True, help="Withdraw the approval in force instead.")
@locker_option
def approve_command(
    item_id: str,
    derivative: str | None,
    case: str | None,
    faces: int,
    note: str | None,
    revoke: bool,
    locker_path: Path | None,
) -> None:
    """Approve one redacted or stripped copy of an item for publication in a case
    (DERIVATIVE: a unique prefix of the copy's SHA-256, as `docket show` lists them). A
    publication export publishes exactly this copy, after re-checking it, or nothing."""
    if revoke == (derivative is not None):
        raise DocketError("give the copy to approve (DERIVATIVE) or --revoke, not both")
    with open_locker(locker_path) as locker:
        sha256, _, view = _item(locker, item_id, case)
        with locker.engine.connect() as conn, conn.begin():
            if derivative is None:
                event = approval.revoke(conn, default_actor(), sha256, view)
                click.echo(f"item {sha256[:12]}: approval revoked (event {event.seq})")
                return
            event = approval.approve(conn, default_actor(), sha256, derivative, view, faces, note)
    chosen = event.details["derivative"]
    click.echo(
        f"item {sha256[:12]}: {event.details['kind']} copy {chosen[:12]} approved for "
        f"publication in {view.case or 'no case'} (event {event.seq})"
    )


@click.command(name="flag")
@click.argument("item_id")
@click.argument("value", type=click.Choice(flags.FLAGS))
@click.option("--case", help="The case to flag it in (needed when several cases hold it).")
@click.option("--json", "as_json", is_flag=True)
@locker_option
def flag_command(
    item_id: str, value: str, case: str | None, as_json: bool, locker_path: Path | None
) -> None:
    """Flag an item graphic, sensitive or clear in a case (only clear items are ever shown
    unblurred, and only in the case that cleared them)."""
    with open_locker(locker_path) as locker:
        sha256, _, view = _item(locker, item_id, case)
        with locker.engine.connect() as conn, conn.begin():
            event = flags.flag(conn, default_actor(), sha256, value, view)
    if as_json:
        print_json({"item": sha256, "flag": value, "case": view.case, "event": event.seq})
        return
    click.echo(f"item {sha256[:12]} flagged {value} (event {event.seq})")


@click.command(name="reveal")
@click.argument("item_id")
@click.option("--open", "open_it", is_flag=True, help="Open it with the desktop's viewer.")
@click.option("--case", help="The case it is revealed for (needed when several cases hold it).")
@locker_option
def reveal_command(item_id: str, open_it: bool, case: str | None, locker_path: Path | None) -> None:
    """Show the full original of an item; the reveal is recorded in the custody log first."""
    with open_locker(locker_path) as locker:
        sha256, _, view = _item(locker, item_id, case)
        with locker.engine.connect() as conn, conn.begin():
            event = flags.reveal(conn, default_actor(), sha256, scope=view)
        path = locker.store.shown_path(sha256)
        click.echo(f"revealed (event {event.seq}): {path or 'encrypted in the vault'}")
        if open_it:
            opener = shutil.which("xdg-open") or shutil.which("open")
            if opener is None:
                raise DocketError("no desktop viewer found (xdg-open); open the path above")
            # A vault's original exists decrypted only in memory, and only until Enter.
            with locker.store.plain_file(sha256) as original:
                subprocess.run([opener, str(original)], check=False)
                if path is None:
                    click.prompt(
                        "Press Enter once the viewer is closed (its decrypted copy is then "
                        "removed)",
                        default="",
                        show_default=False,
                        err=True,
                    )


__all__ = [
    "approve_command",
    "flag_command",
    "redact_command",
    "reveal_command",
    "strip_command",
]
