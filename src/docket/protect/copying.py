"""Making a redacted or stripped copy of an item, for the command line and the web alike.

The step runs through docket.analyse.batch.run_step, so a copy is recorded the same way
whoever asks: its result, its derivative and one custody event (`redact.recorded`,
`strip.recorded`) with every parameter, including whether the metadata was kept; a step
that fails is recorded as failed and nothing is stored. A redaction's regions are checked
against the upright picture's size (`check_regions`) before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from docket.analyse.batch import run_step
from docket.analyse.runner import StepRun
from docket.analyse.steps import Step
from docket.errors import DocketError
from docket.locker import Locker
from docket.protect.steps import RedactStep


class CopyFailedError(DocketError):
    """The step that makes a copy failed on the item (the failure is recorded)."""


class RegionOutsideError(DocketError):
    """A region to cover is empty or reaches outside the picture."""


@dataclass(frozen=True)
class MadeCopy:
    """A copy just made: its blob, where the locker shows it, and what the step answered."""

    sha256: str
    shown: str  # a path, or a note that the vault holds it encrypted
    data: dict[str, Any]


@dataclass(frozen=True)
class Redaction:
    """What a redaction covered: distinct regions, over how many frames (None: a picture)."""

    copy: MadeCopy
    regions: int
    frames: int | None
    stripped: bool


def make_copy(
    locker: Locker, sha256: str, media_type: str, step: Step, actor: str, case: str | None
) -> MadeCopy:
    """Run `step` on the item and record it as work of `case` (docket.scope: a copy made in
    one case is not offered in another); the copy it made."""
    run: StepRun = run_step(locker, sha256, media_type, step, actor, case)
    if run.error is not None or run.output is None:
        raise CopyFailedError(
            f"{run.step.name} failed on item {sha256[:12]}: {run.error} "
            "(recorded; nothing was stored)"
        )
    ((_, blob),) = run.stored
    made = blob.digest.sha256
    shown = locker.store.shown_path(made) or f"blob {made} (encrypted in the vault)"
    return MadeCopy(made, shown, dict(run.output.data))


def redact(
    locker: Locker, sha256: str, media_type: str, step: RedactStep, actor: str, case: str | None
) -> Redaction:
    """Make a redacted copy of the item with `step`, as work of `case`; what it covered."""
    made = make_copy(locker, sha256, media_type, step, actor, case)
    boxes = made.data["boxes"]
    frames = len({box[0] for box in boxes}) if "frames" in made.data else None
    covered = len({tuple(box[1:] if frames is not None else box) for box in boxes})
    return Redaction(made, covered, frames, step.strip)


def check_regions(
    regions: Sequence[Sequence[int]], width: int, height: int, where: str
) -> list[tuple[int, int, int, int]]:
    """The regions as (x, y, w, h), once each lies inside a `width` x `height` picture."""
    checked = []
    for region in regions:
        if len(region) != 4:
            raise RegionOutsideError(f"{where}: a region is X,Y,W,H in pixels, not {region}")
        x, y, w, h = (int(v) for v in region)
        if w <= 0 or h <= 0:
            raise RegionOutsideError(f"{where}: region {x},{y},{w},{h} has no area")
        if x < 0 or y < 0 or x + w > width or y + h > height:
            raise RegionOutsideError(
                f"{where}: region {x},{y},{w},{h} reaches outside the {width}x{height} picture"
            )
        checked.append((x, y, w, h))
    return checked
