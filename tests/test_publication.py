"""Publication never guesses: exactly the copy a person approved, in the exported case, re-checked
by ExifTool and the face detector before it leaves; `strip` keeps a portrait upright."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FACTS, photo, sign_in, take
from media import sample, slideshow
from PIL import Image
from sqlalchemy import update

from docket import scope
from docket._samples import exif_for
from docket.analyse.batch import run_step
from docket.analyse.steps import DerivativeFile, StepOutput, Tools
from docket.catalogue import schema
from docket.custody import log
from docket.disclose.package import STAGING, export
from docket.disclose.publication import (
    NOT_APPROVED,
    NothingToPublish,
    covered,
    identifying_fields,
)
from docket.locker import Locker
from docket.protect import approval
from docket.protect.faces import FaceDetector
from docket.protect.steps import RedactStep, StripStep
from docket.scope import for_locker
from docket.verify import verify

_which = shutil.which


def astronaut_with_gps(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "astronaut.jpg"
    sample("astronaut").save(path, "JPEG", quality=95, exif=exif_for(FACTS))
    return path


def made(locker: Locker, item: str, media_type: str, step: Any, case: str | None = None) -> str:
    """Run a step that makes one copy (as work of `case`); the copy's SHA-256."""
    run = run_step(locker, item, media_type, step, "tester", case)
    assert run.error is None, run.error
    [(_, blob)] = run.stored
    return str(blob.digest.sha256)


def approve(locker: Locker, item: str, copy: str, case: str | None = None, faces: int = 0) -> None:
    with locker.engine.connect() as conn, conn.begin():
        view = for_locker(conn, item, case)
        approval.approve(conn, "editor-7", item, copy[:10], view, faces)


def published(package: Path) -> dict[str, bytes]:
    """The item files of a publication package (not metadata.json), by item."""
    return {
        path.parent.name: path.read_bytes()
        for path in (package / "data" / "items").rglob("*")
        if path.is_file() and path.name != "metadata.json"
    }


def nothing_published(
    locker: Locker, items: list[str], output: Path, case: str | None = None
) -> list[tuple[str, str]]:
    """Export items that are all refused: a one-line error naming each item's reason, and
    nothing on disk or in the log. Returns the (item, reason) pairs."""
    with locker.engine.connect() as conn:
        before = log.size(conn)
    with pytest.raises(NothingToPublish) as raised:
        export(locker, items, "publication", output, "tester", case=case)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"{output}: not written")
    for item, reason in raised.value.refused:
        assert f"{item[:12]}: {reason}" in message
    assert not output.exists() and not (output.parent / STAGING).exists()
    with locker.engine.connect() as conn:
        assert log.size(conn) == before
    return raised.value.refused


def faces_in(path: Path) -> int:
    with Image.open(path) as opened:
        bgr = np.asarray(opened.convert("RGB"))[:, :, ::-1].copy()
    return len(FaceDetector().detect(bgr))


def test_face_then_corner_redaction_publishes_only_the_approved_face_free_copy(
    locker: Locker, tmp_path: Path
) -> None:
    item = take(locker, astronaut_with_gps(tmp_path / "in"), case="North").outcomes[0].sha256
    assert item is not None
    faces = made(locker, item, "image/jpeg", RedactStep(faces=True))
    corner = made(locker, item, "image/jpeg", RedactStep(faces=False, regions=[(0, 0, 40, 40)]))
    approve(locker, item, corner)  # the newest copy, which shows the face
    [(refused, reason)] = nothing_published(locker, [item], tmp_path / "p1", case="North")
    assert refused == item and "face detector finds 1 face" in reason, reason
    approve(locker, item, faces)  # a later approval replaces the earlier
    summary = export(locker, [item], "publication", tmp_path / "p2", "tester", case="North")
    assert summary.left_out == [] and summary.items == [item]
    files = published(tmp_path / "p2")
    assert files == {item: locker.store.path(faces).read_bytes()}
    assert faces_in(next((tmp_path / "p2" / "data" / "items").rglob("redacted.png"))) == 0
    assert verify(locker).ok


@pytest.mark.parametrize(
    "backend", ["sqlite"]
)  # a video's frames and faces; approvals are tested on both
def test_video_stripped_after_redaction_publishes_the_approved_redacted_copy(
    backend: str, locker: Locker, tmp_path: Path
) -> None:
    video = slideshow(tmp_path / "v", ["astronaut", "coffee"], seconds=1.0, fps=10)
    item = take(locker, video).outcomes[0].sha256 or ""
    redacted = made(locker, item, "video/mp4", RedactStep(faces=True))
    stripped = made(locker, item, "video/mp4", StripStep())
    approve(locker, item, redacted)
    summary = export(locker, [item], "publication", tmp_path / "press", "tester")
    assert summary.left_out == []
    assert published(tmp_path / "press") == {item: locker.store.path(redacted).read_bytes()}
    approve(locker, item, stripped)  # the face in full: refused, with the frame named
    [(_, reason)] = nothing_published(locker, [item], tmp_path / "press2")
    assert "face(s) at " in reason and "acknowledged 0" in reason, reason
    approve(locker, item, stripped, faces=1)  # a face meant to be shown, acknowledged
    summary = export(locker, [item], "publication", tmp_path / "press3", "tester")
    assert summary.left_out == []
    assert published(tmp_path / "press3") == {item: locker.store.path(stripped).read_bytes()}


def test_an_unapproved_item_is_refused_and_no_copy_is_made(locker: Locker, tmp_path: Path) -> None:
    item = take(locker, photo(tmp_path / "in", "street.jpg", 5)).outcomes[0].sha256 or ""
    made(locker, item, "image/jpeg", StripStep())
    with locker.engine.connect() as conn:
        copies_before = len(approval.copies(conn, item, scope.for_locker(conn, item, None)))
    assert nothing_published(locker, [item], tmp_path / "press") == [(item, NOT_APPROVED)]
    with locker.engine.connect() as conn:
        assert len(approval.copies(conn, item, scope.for_locker(conn, item, None))) == copies_before


class LeakyStrip:
    """A strip that missed the metadata (a broken tool): its copy is the original's bytes."""

    name = "strip"
    version = "0-leaky"

    def applies_to(self, media_type: str) -> bool:
        return True

    def run(self, blob: Path, media_type: str, scratch: Path, tools: Tools) -> StepOutput:
        target = scratch / "stripped.jpg"
        shutil.copyfile(blob, target)
        return StepOutput({}, derivatives=[DerivativeFile(target, "stripped", media_type)])


def test_an_approved_copy_that_still_holds_gps_is_refused(locker: Locker, tmp_path: Path) -> None:
    leaky = take(locker, photo(tmp_path / "in", "a.jpg", 3)).outcomes[0].sha256 or ""
    clean = take(locker, photo(tmp_path / "in", "b.jpg", 4)).outcomes[0].sha256 or ""
    approve(locker, leaky, made(locker, leaky, "image/jpeg", LeakyStrip()))
    approve(locker, clean, made(locker, clean, "image/jpeg", StripStep()))
    summary = export(locker, [leaky, clean], "publication", tmp_path / "press", "tester")
    [(refused, reason)] = summary.left_out
    assert refused == leaky and "identifying metadata" in reason and "GPS:" in reason, reason
    assert list(published(tmp_path / "press")) == [clean]  # the rest is still written


def test_approval_belongs_to_the_case_it_was_made_in(locker: Locker, tmp_path: Path) -> None:
    source = photo(tmp_path / "in", "harbour.jpg", 6)
    item = take(locker, source, case="Case A").outcomes[0].sha256 or ""
    take(locker, source, case="Case B")
    copy = made(locker, item, "image/jpeg", StripStep(), case="Case B")  # B's work
    approve(locker, item, copy, case="Case B")
    in_a = nothing_published(locker, [item], tmp_path / "a", case="Case A")
    assert in_a == [(item, NOT_APPROVED)]
    in_b = export(locker, [item], "publication", tmp_path / "b", "tester", case="Case B")
    assert in_b.left_out == [] and list(published(tmp_path / "b")) == [item]
    [(_, reason)] = nothing_published(locker, [item], tmp_path / "c")
    assert "several cases" in reason


def test_approve_and_revoke_on_the_command_line_are_logged_and_verified(
    cli: Any, tmp_path: Path
) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    cli("ingest", "--locker", locker, "--case", "North", photo(tmp_path / "in", "s.jpg", 2))
    item = cli("ls", "--locker", locker, "--json").json()[0]["sha256"]
    cli("strip", "--locker", locker, item[:8])
    [copy] = [c for c in cli("show", "--locker", locker, item[:8], "--json").json()["copies"]]
    done = cli("approve", "--locker", locker, item[:8], copy["sha256"][:8], "--note", "checked")
    assert done.code == 0 and "approved for publication in North" in done.out, done.err
    shown = cli("show", "--locker", locker, item[:8])
    assert f"stripped {copy['sha256']} (stripped, approved for publication)" in shown.out
    log = [json.loads(line) for line in cli("log", "--locker", locker, "--json").out.splitlines()]
    [event] = [e for e in log if e["action"] == "derivative.approved"]
    assert event["details"] == {
        "case": "North",
        "derivative": copy["sha256"],
        "kind": "stripped",
        "acknowledged_faces": 0,
        "note": "checked",
    }
    assert cli("approve", "--locker", locker, item[:8], "--revoke").code == 0
    assert "approved for publication" not in cli("show", "--locker", locker, item[:8]).out
    assert cli("verify", "--locker", locker).code == 0
    with Locker.open(locker) as opened, opened.engine.connect() as conn, conn.begin():
        conn.execute(update(schema.approvals).values(acknowledged_faces=3))
    problems = cli("verify", "--locker", locker)
    assert problems.code == 1 and "approval of item" in problems.out


@pytest.mark.parametrize("with_jpegtran", [True, False])
@pytest.mark.parametrize("backend", ["sqlite"])  # pixels: no catalogue work
def test_strip_turns_a_portrait_upright_before_dropping_its_orientation(
    backend: str,
    locker: Locker,
    tmp_path: Path,
    with_jpegtran: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if with_jpegtran and shutil.which("jpegtran") is None:
        pytest.skip("jpegtran is not installed")
    if not with_jpegtran:
        monkeypatch.setattr(
            shutil, "which", lambda name: None if name == "jpegtran" else _which(name)
        )
    stored = Image.new("RGB", (64, 32), (0, 0, 255))  # landscape as stored, red at its left
    stored.paste((255, 0, 0), (0, 0, 16, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: a portrait, red at the top
    (tmp_path / "in").mkdir()
    stored.save(tmp_path / "in" / "portrait.jpg", "JPEG", quality=95, exif=exif)
    item = take(locker, tmp_path / "in" / "portrait.jpg").outcomes[0].sha256 or ""
    run = run_step(locker, item, "image/jpeg", StripStep(), "tester")
    assert run.output is not None, run.error
    [(_, blob)] = run.stored
    with Image.open(locker.store.path(blob.digest.sha256)) as copy:
        assert copy.getexif().get(0x0112) is None
        pixels = np.asarray(copy.convert("RGB")).astype(int)
    assert pixels.shape[:2] == (64, 32)  # 64 high, 32 wide: upright
    assert pixels[:12].mean(axis=(0, 1)) @ [1, 0, -1] > 150  # red on top
    assert pixels[-40:].mean(axis=(0, 1)) @ [-1, 0, 1] > 150  # blue below
    turned = run.output.data["orientation"]
    assert turned["exif_orientation"] == 6
    assert turned["pixels_turned_by"] == (  # without jpegtran, a PNG of the decoded pixels
        "jpegtran -perfect (lossless)" if with_jpegtran else "JPEG written again as PNG (lossless)"
    )
    assert run.output.data["media_type"] == ("image/jpeg" if with_jpegtran else "image/png")


def test_web_approval_is_for_those_who_may_export(world: dict[str, Any], locker: Locker) -> None:
    client, item, north = world["client"], world["north"], world["cases"]["North"]
    copy = made(locker, item, "image/jpeg", StripStep())
    csrf = sign_in(client, "reviewer-1")
    page = client.get(f"/items/{item}")
    assert copy[:16] in page.text and "Approve for publication" not in page.text
    refused = client.post(
        f"/api/items/{item}/approval", json={"derivative": copy}, headers={"x-csrf-token": csrf}
    )
    assert refused.status_code == 403
    csrf = sign_in(client, "investigator-1")
    form = client.post(
        f"/items/{item}/approval?case={north}",
        data={"derivative": copy, "acknowledge_faces": "0", "note": "checked", "csrf": csrf},
        follow_redirects=False,
    )
    assert form.status_code == 303
    page = client.get(f"/items/{item}")
    assert "approved for publication in this case" in page.text and "Revoke approval" in page.text
    revoked = client.post(
        f"/api/items/{item}/approval", json={"revoke": True}, headers={"x-csrf-token": csrf}
    )
    assert revoked.status_code == 200 and revoked.json()["copies"][0]["approved"] is False
    with locker.engine.connect() as conn:
        actions = [e.action for e in log.events(conn, item)]
        assert actions[-2:] == ["derivative.approved", "derivative.approval_revoked"]
        assert approval.approved(conn, item, for_locker(conn, item, "North")) is None


def test_only_a_redacted_or_stripped_copy_of_the_item_can_be_approved(
    cli: Any, tmp_path: Path
) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    cli("ingest", "--locker", locker, photo(tmp_path / "in", "s.jpg", 2))
    item = cli("ls", "--locker", locker, "--json").json()[0]["sha256"]
    preview = Path(cli("show", "--locker", locker, item[:8], "--json").json()["safe_preview"])
    blob = preview.parent.name + preview.name  # objects/ab/cdef...: the preview's SHA-256
    assert len(blob) == 64
    refused = cli("approve", "--locker", locker, item[:8], blob[:10])
    assert refused.code == 1 and "no redacted or stripped copy" in refused.err
    assert refused.err.count("\n") == 1
    nothing = cli("approve", "--locker", locker, item[:8], "--revoke")
    assert nothing.code == 1 and "no copy is approved" in nothing.err
    both = cli("approve", "--locker", locker, item[:8], "ab12", "--revoke")
    assert both.code == 1 and "not both" in both.err


def test_identifying_fields_and_covered_faces() -> None:
    record = {
        "File:FileType": "MP4",
        "File:Comment": "near the market",
        "QuickTime:CreateDate": "0000:00:00 00:00:00",
        "Track1:MediaCreateDate": "2024:03:01 09:40:00",
        "Track1:HandlerDescription": "VideoHandler",
        "IFD0:Orientation": 1,
        "ExifIFD:BodySerialNumber": "LK7-000417",
        "XMP-dc:Creator": "Witness 9",
        "IFD1:ThumbnailImage": "(Binary data)",
    }
    assert identifying_fields(record) == [
        "ExifIFD:BodySerialNumber",
        "File:Comment",
        "IFD1:ThumbnailImage",
        "Track1:MediaCreateDate",
        "XMP-dc:Creator",
    ]
    face = [100, 100, 150, 150]  # grown by a quarter each side: its core is 100 wide at 125
    assert covered(face, [[120, 120, 110, 110]])
    assert covered(face, [[100, 100, 80, 150], [180, 100, 70, 150]])  # two boxes together
    assert not covered(face, [[100, 100, 150, 90]])  # the upper half only


def test_the_cli_refuses_a_publication_of_nothing_in_one_line(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    item = take(locker, photo(tmp_path / "in", "street.jpg", 5)).outcomes[0].sha256 or ""
    output = tmp_path / "press.zip"
    refused = cli("export", "--locker", locker.path, item, "--profile", "publication", "-o", output)
    assert refused.code == 1 and refused.err.count("\n") == 1, refused.err
    assert f"{item[:12]}: {NOT_APPROVED}" in refused.err and "not written" in refused.err
    assert not output.exists() and not (tmp_path / STAGING).exists()
