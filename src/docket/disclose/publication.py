"""What a publication export publishes of an item: exactly the copy a person approved in the
exported case (docket.protect.approval), re-checked just before it leaves, or nothing.

It never guesses (the newest copy is not the safest: a corner-only redaction made after a
face redaction shows the face) and never makes a copy by itself. An item is refused, with a
reason, when no copy is approved, or when the approved copy fails a re-check:

- ExifTool finds an identifying field (IDENTIFYING_* below; `identifying_fields`): any GPS
  or location tag; serial numbers; owner, artist, author, creator, by-line, copyright and
  credit names; camera make and model and unique IDs (image, device, document and instance
  IDs, the host computer); embedded thumbnails and previews (an unredacted picture inside the
  redacted one); free text (comments, descriptions, titles, captions, keywords); and dates,
  unless all zero (a capture time ties the copy to a moment, the original and its sender).
  The tags that only describe the file (ExifTool's File, Composite and System groups, but a
  JPEG comment) are not looked at.
- The face detector (CenterFace, run sandboxed over the picture or every frame of the video)
  finds more faces in a frame than the approver acknowledged, not counting faces that lie
  inside that frame's redaction boxes (the middle of the face, the detector's box without its
  margin, at least COVERED of it under the boxes). A stripped copy has no boxes: any face
  counts.
- The copy holds more than its picture, or its video's pictures and sound: a chunk, segment
  or stream outside an allowlist of what they need (docket.protect.hidden_data), such as a
  PNG's private chunk or a video's subtitle or GPS track, which ExifTool neither names nor
  removes. Only JPEG and PNG pictures pass (strip writes any other picture as a PNG).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from docket import scope
from docket.analyse.exiftool import ExifTool
from docket.analyse.sandbox import AnalysisError
from docket.catalogue import schema
from docket.errors import DocketError, MetadataError
from docket.locker import Locker
from docket.protect import approval
from docket.protect.faces import MARGIN
from docket.protect.hidden_data import picture_extras, video_extras
from docket.protect.steps import KEPT_FILE_TAGS, STRUCTURAL_GROUPS, RedactStep

NOT_APPROVED = (
    "not approved for publication: approve a redacted or stripped copy with `docket approve`"
)
COVERED = 0.9
IDENTIFYING_GROUPS = ("GPS",)
IDENTIFYING_NAMES = re.compile(
    r"GPS|Location|City|Country|Province|Serial|Owner|Artist|Author|Creator|By-?line|Writer|"
    r"Copyright|Rights|Credit|Contact|^Make$|Model$|^LensMake$|UniqueID|DeviceID|DocumentID|"
    r"InstanceID|HostComputer|Thumbnail|Preview(Image|PIM)|JpgFromRaw|MakerNote|Comment|"
    r"^(Image)?Description$|^Title$|Caption|Headline|Keywords|Date",
    re.IGNORECASE,
)
_ZERO_DATE = re.compile(r"[0:\s+\-.TZ]*")


class Refused(DocketError):
    """An item the publication export leaves out, with the reason."""


class NothingToPublish(DocketError):
    """A publication export whose every item was refused: no package, each item's reason."""

    def __init__(self, output: str, refused: list[tuple[str, str]]) -> None:
        self.refused = refused
        reasons = "; ".join(f"{item[:12]}: {reason}" for item, reason in refused)
        super().__init__(f"{output}: not written, every item was refused ({reasons})")


@dataclass(frozen=True)
class FrameFaces:
    """Faces the detector found outside the redaction boxes, in the worst frame."""

    count: int
    at: float | None  # the frame's time in a video


def identifying_fields(record: dict[str, Any]) -> list[str]:
    """The `Group:Tag` names of an ExifTool record (-G1 -n) that may identify a source."""
    found = []
    for key, value in record.items():
        group, _, tag = key.partition(":")
        if not tag or (group in STRUCTURAL_GROUPS and tag not in KEPT_FILE_TAGS):
            continue
        if not (group in IDENTIFYING_GROUPS or IDENTIFYING_NAMES.search(tag)):
            continue
        if "date" in tag.lower() and _ZERO_DATE.fullmatch(str(value)):
            continue  # all zero: what ffmpeg writes when asked for no time
        found.append(key)
    return sorted(found)


def _core(box: list[int]) -> tuple[int, int, int, int]:
    """The detector's box without the margin it was grown by (faces.MARGIN on each side)."""
    x, y, w, h = box
    dx, dy = round(w * MARGIN / (1 + 2 * MARGIN)), round(h * MARGIN / (1 + 2 * MARGIN))
    return x + dx, y + dy, max(1, w - 2 * dx), max(1, h - 2 * dy)


def covered(face: list[int], boxes: list[list[int]]) -> bool:
    """At least COVERED of the face's core lies under the redaction boxes."""
    import numpy as np  # here, not at the top: every command's start would pay for it

    x, y, w, h = _core(face)
    under = np.zeros((h, w), dtype=bool)
    for bx, by, bw, bh in boxes:
        left, top = max(bx - x, 0), max(by - y, 0)
        right, bottom = min(bx + bw - x, w), min(by + bh - y, h)
        if right > left and bottom > top:
            under[top:bottom, left:right] = True
        if under.mean() >= COVERED:
            return True
    return bool(under.mean() >= COVERED)


def _by_frame(boxes: list[list[float]], video: bool) -> dict[float | None, list[list[int]]]:
    """Boxes keyed by frame time (rounded as the redaction worker rounds it), or None."""
    frames: dict[float | None, list[list[int]]] = {}
    for entry in boxes:
        key = round(float(entry[0]), 3) if video else None
        frames.setdefault(key, []).append([int(v) for v in (entry[1:] if video else entry)])
    return frames


def uncovered_faces(
    faces: list[list[float]], redaction: list[list[float]], video: bool
) -> FrameFaces:
    """The most faces outside the redaction boxes in any one frame."""
    boxes = _by_frame(redaction, video)
    outside: Counter[float | None] = Counter()
    for at, found in _by_frame(faces, video).items():
        outside[at] += sum(not covered(face, boxes.get(at, [])) for face in found)
    if not outside:
        return FrameFaces(0, None)
    at, count = outside.most_common(1)[0]
    return FrameFaces(count, at)


class Checker:
    """Chooses and re-checks the publication copies of one export (one ExifTool process and
    one scratch folder of the store (memory-backed in a vault), removed when done)."""

    def __init__(self, locker: Locker, folder: Path, exiftool: ExifTool) -> None:
        self.locker = locker
        self.folder = folder
        self.exiftool = exiftool

    def select(self, item: str, case: str | None) -> approval.Copy:
        """The approved copy of `item` in `case` (None: its only case), once it passes the
        re-checks; else Refused with the reason."""
        with self.locker.engine.connect() as conn, conn.begin():
            copy, acknowledged, boxes = _approved_copy(conn, item, case)
        short = copy.sha256[:12]
        with self.locker.store.plain_file(copy.sha256) as path:
            try:
                fields = identifying_fields(self.exiftool.read(path))
            except MetadataError as exc:
                raise Refused(
                    f"the approved copy {short} could not be read by ExifTool ({exc})"
                ) from exc
            if fields:
                raise Refused(
                    f"the approved copy {short} still holds identifying metadata "
                    f"({', '.join(fields[:8])}): strip it and approve the stripped copy"
                )
            try:
                extras = self.extras(path, copy.media_type)
            except AnalysisError as exc:
                raise Refused(f"the approved copy {short} could not be read ({exc})") from exc
            if extras:
                raise Refused(
                    f"the approved copy {short} holds more than its picture and sound "
                    f"({', '.join(extras[:4])}): strip it again and approve the new copy"
                )
            try:
                found = RedactStep(faces=True).preview(
                    path, copy.media_type, self.folder / f"{copy.sha256}-sheet.jpg"
                )["boxes"]
            except AnalysisError as exc:
                raise Refused(
                    f"the approved copy {short} could not be searched for faces ({exc})"
                ) from exc
        video = copy.media_type.startswith("video/")
        worst = uncovered_faces(found, boxes, video)
        if worst.count > acknowledged:
            where = "" if worst.at is None else f" at {worst.at:g} s"
            raise Refused(
                f"the face detector finds {worst.count} face(s){where} not under a redaction "
                f"box in the approved copy {short} (the approver acknowledged {acknowledged}): "
                "redact them and approve the new copy"
            )
        return copy

    def extras(self, path: Path, media_type: str) -> list[str]:
        """What the copy holds besides its picture, or its video's pictures and sound: the
        parts ExifTool neither names nor removes (docket.protect.hidden_data)."""
        if media_type.startswith("video/"):
            return video_extras(path, self.folder)
        return picture_extras(path, media_type, self.folder)


def _approved_copy(
    conn: Connection, item: str, case: str | None
) -> tuple[approval.Copy, int, list[list[float]]]:
    """The copy approved in the case, the faces acknowledged, and its redaction boxes."""
    try:
        view = (
            scope.export_of(conn, case) if case is not None else scope.for_locker(conn, item, None)
        )
    except scope.ChooseCaseError as exc:
        raise Refused(f"{exc} to export the copy approved there") from exc
    approved = approval.approved(conn, item, view)
    if approved is None:
        raise Refused(NOT_APPROVED)
    found = [c for c in approval.copies(conn, item, view) if c.sha256 == approved.derivative]
    if not found:
        raise Refused(f"the approved copy {approved.derivative[:12]} is no longer recorded")
    copy = found[0]
    boxes: list[list[float]] = []
    if copy.kind == "redacted":
        data = conn.execute(
            select(schema.results.c.data).where(schema.results.c.event_seq == copy.event_seq)
        ).scalar_one()
        boxes = list(json.loads(data).get("boxes", []))
    return copy, approved.acknowledged_faces, boxes


@contextmanager
def checker(locker: Locker) -> Iterator[Checker]:
    with locker.store.scratch("publication") as folder:
        exiftool = ExifTool(folder)
        try:
            yield Checker(locker, folder, exiftool)
        finally:
            exiftool.close()
