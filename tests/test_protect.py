"""Redaction, stripping, flags and reveals, on real faces (scikit-image's astronaut)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import take
from media import sample, slideshow
from PIL import Image
from sqlalchemy import delete, select

from docket.analyse.batch import run_step
from docket.catalogue import schema
from docket.custody import log
from docket.locker import Locker
from docket.protect import flags
from docket.protect.faces import FaceDetector
from docket.protect.steps import RedactStep, StripStep
from docket.scope import for_locker
from docket.verify import verify

IDENTIFYING = {
    "GPS",
    "ExifIFD",
    "IFD0",
    "IFD1",
    "XMP-dc",
    "XMP-x",
    "IPTC",
    "ItemList",
    "UserData",
    "Keys",
}


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def store_png(locker: Locker, tmp_path: Path) -> tuple[str, np.ndarray]:
    source = tmp_path / "astronaut.png"
    sample("astronaut").save(source)
    sha256 = take(locker, source).outcomes[0].sha256 or ""
    return sha256, np.asarray(sample("astronaut"))


def output(run: Any) -> dict[str, Any]:
    assert run.output is not None, run.error
    data: dict[str, Any] = run.output.data
    return data


def derivative_path(locker: Locker, run: Any) -> Path:
    assert run.error is None, run.error
    [(_, blob)] = run.stored
    return locker.store.path(blob.digest.sha256)


def test_faces_are_covered_and_nothing_else_changes(
    locker: Locker, tmp_path: Path, detector: FaceDetector
) -> None:
    sha256, original = store_png(locker, tmp_path)
    assert len(detector.detect(bgr(Image.fromarray(original)))) == 1
    run = run_step(locker, sha256, "image/png", RedactStep(faces=True), "tester")
    with Image.open(derivative_path(locker, run)) as opened:
        redacted = np.asarray(opened.convert("RGB"))
    assert detector.detect(bgr(Image.fromarray(redacted))) == []
    outside = np.ones(original.shape[:2], dtype=bool)
    for x, y, w, h in output(run)["boxes"]:
        outside[y : y + h, x : x + w] = False
    assert np.array_equal(redacted[outside], original[outside])
    assert not np.array_equal(redacted[~outside], original[~outside])
    detector_facts = output(run)["detector"]
    assert detector_facts["name"] == "centerface" and len(detector_facts["model_sha256"]) == 64
    assert output(run)["stripped"] is True
    assert locker.store.hash_blob(sha256).sha256 == sha256
    with locker.engine.connect() as conn, conn.begin():
        actions = [e.action for e in log.events(conn, sha256)]
    assert "redact.recorded" in actions
    assert verify(locker).ok


def test_fill_paints_regions_black(locker: Locker, tmp_path: Path) -> None:
    sha256, original = store_png(locker, tmp_path)
    step = RedactStep(faces=False, regions=[(10, 20, 50, 40)], method="fill", strip=False)
    run = run_step(locker, sha256, "image/png", step, "tester")
    redacted = np.asarray(Image.open(derivative_path(locker, run)).convert("RGB"))
    assert not redacted[20:60, 10:60].any()
    assert np.array_equal(redacted[60:], original[60:])
    assert output(run)["stripped"] is False


@pytest.mark.parametrize("backend", ["sqlite"])  # the frames' pixels: no catalogue work
def test_video_faces_redacted_frame_for_frame(
    locker: Locker, tmp_path: Path, detector: FaceDetector
) -> None:
    video = slideshow(tmp_path / "v", ["astronaut", "coffee"], seconds=1.0, fps=10)
    sha256 = take(locker, video).outcomes[0].sha256 or ""
    run = run_step(locker, sha256, "video/mp4", RedactStep(faces=True, end=0.95), "tester")
    copy = derivative_path(locker, run)
    assert probe(copy) == probe(video)
    frames = decoded_frames(copy)
    assert len(frames) == probe(video)[0]
    assert all(detector.detect(frame) == [] for frame in frames[:10])
    assert len(detector.detect(decoded_frames(video)[3])) == 1
    assert {round(time, 1) for time, *_ in output(run)["boxes"]} == {
        round(i / 10, 1) for i in range(10)
    }


def probe(path: Path) -> tuple[int, float]:
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames:format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(done.stdout)
    return int(info["streams"][0]["nb_read_frames"]), round(float(info["format"]["duration"]), 1)


def decoded_frames(path: Path) -> list[np.ndarray]:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
        capture_output=True,
        check=True,
    )
    width, height = 480, 360
    raw = np.frombuffer(done.stdout, dtype=np.uint8)
    return list(raw.reshape(-1, height, width, 3))


def test_preview_stores_nothing_and_is_logged_as_a_view(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    source = tmp_path / "astronaut.png"
    sample("astronaut").save(source)
    sha256 = json.loads(cli("ingest", "--locker", locker, "--json", source).out.splitlines()[0])[
        "sha256"
    ]
    blobs_before = sorted((locker / "objects").rglob("*"))
    sheet = tmp_path / "sheet.jpg"
    result = cli("redact", "--locker", locker, sha256[:8], "--faces", "--preview", sheet)
    assert result.code == 0 and "1 boxes" in result.out
    assert Image.open(sheet).size[0] > 0
    assert sorted((locker / "objects").rglob("*")) == blobs_before
    events = [json.loads(e) for e in cli("log", "--locker", locker, "--json").out.splitlines()]
    assert events[-1]["action"] == "item.revealed"
    assert events[-1]["details"]["shown"] == "redaction preview"


def metadata_file(tmp_path: Path) -> Path:
    from conftest import photo

    target = photo(tmp_path / "meta", "witness.jpg")
    thumb = tmp_path / "thumb.jpg"
    sample("coffee").resize((160, 120)).save(thumb)
    subprocess.run(
        [
            "exiftool",
            "-q",
            "-overwrite_original",
            "-XMP-dc:Creator=Witness 9",
            "-IPTC:By-line=W9",
            "-Comment=taken near the market",
            f"-ThumbnailImage<={thumb}",
            str(target),
        ],
        check=True,
    )
    return target


def exiftool_groups(path: Path) -> dict[str, list[str]]:
    done = subprocess.run(
        ["exiftool", "-j", "-G1", "-a", str(path)], capture_output=True, text=True, check=True
    )
    groups: dict[str, list[str]] = {}
    for key in json.loads(done.stdout)[0]:
        group, _, tag = key.partition(":")
        groups.setdefault(group, []).append(tag)
    return groups


def test_strip_removes_identifying_metadata_and_keeps_pixels(
    locker: Locker, tmp_path: Path
) -> None:
    source = metadata_file(tmp_path)
    before = exiftool_groups(source)
    assert {"GPS", "ExifIFD", "IFD1", "XMP-dc", "IPTC"} <= set(before)
    assert "SerialNumber" in before["ExifIFD"] and "ThumbnailImage" in before["IFD1"]
    sha256 = take(locker, source).outcomes[0].sha256 or ""
    run = run_step(locker, sha256, "image/jpeg", StripStep(), "tester")
    copy = derivative_path(locker, run)
    after = exiftool_groups(copy)
    assert not IDENTIFYING & set(after), after
    assert "Comment" not in after.get("File", [])
    assert {"GPS", "ExifIFD", "IFD1", "XMP", "IPTC"} <= set(output(run)["removed"])
    assert all(isinstance(count, int) and count > 0 for count in output(run)["removed"].values())
    assert np.array_equal(np.asarray(Image.open(copy)), np.asarray(Image.open(source)))
    assert locker.store.hash_blob(sha256).sha256 == sha256
    assert verify(locker).ok


def test_strip_video_keeps_streams_without_re_encoding(locker: Locker, tmp_path: Path) -> None:
    plain = slideshow(tmp_path / "v", ["rocket"], seconds=1.0)
    tagged = tmp_path / "tagged.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(plain),
            "-metadata",
            "title=Witness footage",
            "-metadata",
            "location=+33.5043+036.2842/",
            "-c",
            "copy",
            str(tagged),
        ],
        check=True,
    )
    assert "UserData" in exiftool_groups(tagged)
    sha256 = take(locker, tagged).outcomes[0].sha256 or ""
    copy = derivative_path(locker, run_step(locker, sha256, "video/mp4", StripStep(), "tester"))
    after = exiftool_groups(copy)
    assert not IDENTIFYING & set(after), after
    # Not re-encoded: the same pictures decoded. The coded stream itself lost its SEI messages
    # (x264's settings here), so it is not the same bytes.
    assert pictures_digest(copy) == pictures_digest(tagged)
    assert stream_digest(copy) != stream_digest(tagged)


def pictures_digest(path: Path) -> str:
    """The MD5 of every decoded picture, in order."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def stream_digest(path: Path) -> str:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-c", "copy", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_unparseable_file_gives_a_clear_error_and_stores_nothing(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 300)
    sha256 = json.loads(cli("ingest", "--locker", locker, "--json", broken).out.splitlines()[0])[
        "sha256"
    ]
    blobs_before = sorted((locker / "objects").rglob("*"))
    result = cli("redact", "--locker", locker, sha256[:8], "--faces")
    assert result.code == 1
    assert result.err.startswith(f"docket: redact failed on item {sha256[:12]}: ")
    assert result.err.count("\n") == 1
    assert sorted((locker / "objects").rglob("*")) == blobs_before
    assert cli("verify", "--locker", locker).code == 0


def test_flags_and_reveals_are_custody_events(locker: Locker, tmp_path: Path) -> None:
    sha256, _ = store_png(locker, tmp_path)
    with locker.engine.connect() as conn, conn.begin():
        view = for_locker(conn, sha256, None)
        assert flags.current_flag(conn, sha256, view) == "unreviewed"
        assert not flags.may_show_unblurred(conn, sha256, view)
        flags.flag(conn, "reviewer-2", sha256, "graphic", view)
        flags.reveal(conn, "reviewer-2", sha256)
        assert flags.current_flag(conn, sha256, view) == "graphic"
        actions = [(e.actor, e.action) for e in log.events(conn, sha256)][-2:]
    assert actions == [("reviewer-2", "item.flagged"), ("reviewer-2", "item.revealed")]
    assert verify(locker).ok
    with locker.engine.begin() as conn:
        conn.execute(delete(schema.flags))
    [problem] = [str(p) for p in verify(locker, quick=True).problems]
    assert problem.endswith("the flag it recorded is missing from the catalogue")


def test_classifier_hook_proposes_a_flag_that_a_hand_flag_overrides(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKET_CLASSIFIER", "sample_classifier:everything_graphic")
    sha256, _ = store_png(locker, tmp_path)
    with locker.engine.connect() as conn, conn.begin():
        view = for_locker(conn, sha256, None)
        assert flags.current_flag(conn, sha256, view) == "graphic"
        flags.flag(conn, "reviewer-2", sha256, "clear", view)
        assert flags.current_flag(conn, sha256, view) == "clear"
        steps = (
            conn.execute(
                select(schema.results.c.step).where(schema.results.c.item_sha256 == sha256)
            )
            .scalars()
            .all()
        )
    assert "classify" in steps


def test_unblurred_thumbnail_is_shown_only_for_items_flagged_clear(
    cli: Any, tmp_path: Path
) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    source = tmp_path / "astronaut.png"
    sample("astronaut").save(source)
    cli("ingest", "--locker", locker, source)
    [row] = cli("ls", "--locker", locker, "--json").json()
    assert row["flag"] == "unreviewed"
    shown = cli("show", "--locker", locker, row["sha256"][:8], "--json").json()
    assert shown["thumbnail"] is None and Path(shown["safe_preview"]).is_file()
    cli("flag", "--locker", locker, row["sha256"][:8], "graphic")
    assert cli("show", "--locker", locker, row["sha256"][:8], "--json").json()["thumbnail"] is None
    cli("flag", "--locker", locker, row["sha256"][:8], "clear")
    shown = cli("show", "--locker", locker, row["sha256"][:8], "--json").json()
    assert shown["flag"] == "clear" and Path(shown["thumbnail"]).is_file()


def test_a_still_covers_or_only_finds_and_stores_nothing(locker: Locker, tmp_path: Path) -> None:
    sha256, original = store_png(locker, tmp_path)
    held = sorted(locker.store.digests())
    step = RedactStep(faces=True, regions=[(0, 0, 40, 30)], method="fill")
    with locker.store.plain_file(sha256) as blob:
        found = step.still(blob, "image/png", tmp_path / "found.png", blur=False)
        covered = step.still(blob, "image/png", tmp_path / "covered.png", cover=True, blur=False)
        step.still(blob, "image/png", tmp_path / "blurred.jpg", cover=True)
    assert (found["width"], found["height"]) == (512, 512)
    assert found["boxes"][0] == [0, 0, 40, 30] and len(found["boxes"]) == 2  # and the face
    assert covered["boxes"] == found["boxes"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "found.png")), original)
    shown = np.asarray(Image.open(tmp_path / "covered.png").convert("RGB"))
    x, y, w, h = found["boxes"][1]
    assert not shown[:30, :40].any() and not shown[y : y + h, x : x + w].any()
    with Image.open(tmp_path / "blurred.jpg") as small:
        assert small.format == "JPEG" and max(small.size) == 320 and small.mode == "L"
    assert sorted(locker.store.digests()) == held


def test_a_still_of_a_video_past_its_end_is_a_frame_near_its_end(tmp_path: Path) -> None:
    video = slideshow(tmp_path / "v", ["coffee", "astronaut"], seconds=1.0, fps=10)
    step = RedactStep(faces=True, regions=[(0, 0, 10, 10)], start=1.0)
    early = step.still(video, "video/mp4", tmp_path / "early.jpg", at=0.5)
    late = step.still(video, "video/mp4", tmp_path / "late.jpg", at=10**6)
    assert early["boxes"] == []  # before the range's start nothing is covered or found
    assert 1.7 <= late["at"] < late["duration"] and late["duration"] >= 1.9
    assert late["boxes"][0] == [0, 0, 10, 10] and len(late["boxes"]) == 2  # and the face
