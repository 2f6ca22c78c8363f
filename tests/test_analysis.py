"""Analysis steps: previews, keyframes and hashes are derivatives; failures are recorded."""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from json import loads as json_loads
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FACTS, photo, take
from media import jpeg, sample, slideshow
from PIL import Image, ImageFilter
from sqlalchemy import delete, select

from docket.analyse import steps
from docket.analyse.batch import analyse
from docket.analyse.exiftool import ExifTool
from docket.analyse.sandbox import AnalysisError, ImageWorker
from docket.catalogue import schema
from docket.errors import MetadataError
from docket.locker import Locker
from docket.verify import verify


def derivatives(locker: Locker, sha256: str) -> list[dict[str, Any]]:
    with locker.engine.connect() as conn, conn.begin():
        rows = conn.execute(
            select(schema.derivatives).where(schema.derivatives.c.item_sha256 == sha256)
        ).mappings()
        return [dict(row) for row in rows]


def detail(image: Image.Image) -> float:
    """Edge energy: how much recognisable structure a picture still has."""
    edges = np.asarray(image.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    return float(edges[2:-2, 2:-2].mean())


def test_picture_gets_a_thumbnail_and_a_safe_preview(locker: Locker, tmp_path: Path) -> None:
    source = tmp_path / "astronaut.jpg"
    source.write_bytes(jpeg(sample("astronaut")))
    original_bytes = source.read_bytes()
    sha256 = take(locker, source).outcomes[0].sha256 or ""
    made = {row["kind"]: row for row in derivatives(locker, sha256)}
    assert set(made) == {"thumbnail", "safe_preview"}
    with Image.open(locker.store.path(made["thumbnail"]["sha256"])) as thumb:
        assert max(thumb.size) == 320 and thumb.mode == "RGB"
        thumb_detail = detail(thumb)
    with Image.open(locker.store.path(made["safe_preview"]["sha256"])) as safe:
        assert safe.mode == "L" and max(safe.size) == 320
        safe_detail = detail(safe)
    print(f"\nedge energy: thumbnail {thumb_detail:.2f}, safe preview {safe_detail:.2f}")
    assert safe_detail < thumb_detail / 10
    assert locker.store.path(sha256).read_bytes() == original_bytes
    assert verify(locker).ok


@pytest.mark.parametrize("backend", ["sqlite"])  # ffmpeg's frames: no catalogue work
def test_video_keyframes_cover_every_scene_and_every_few_seconds(
    locker: Locker, tmp_path: Path
) -> None:
    video = slideshow(tmp_path / "v", ["coffee", "rocket", "chelsea", "astronaut"], seconds=3.0)
    sha256 = take(locker, video).outcomes[0].sha256 or ""
    made = derivatives(locker, sha256)
    times = sorted(row["frame_time"] for row in made if row["kind"] == "keyframe")
    assert times[0] == 0.0
    assert all(b - a <= steps.KEYFRAME_INTERVAL + 0.1 for a, b in itertools.pairwise(times))
    assert times[-1] >= 12.0 - steps.KEYFRAME_INTERVAL - 0.1
    for change in (3.0, 6.0, 9.0):  # each scene change has a keyframe within a few frames
        assert any(0 <= t - change < 0.25 for t in times), (change, times)
    assert {row["kind"] for row in made} == {"keyframe", "thumbnail", "safe_preview"}
    with locker.engine.connect() as conn, conn.begin():
        hashed = (
            conn.execute(
                select(schema.perceptual_hashes.c.frame_time).where(
                    schema.perceptual_hashes.c.item_sha256 == sha256
                )
            )
            .scalars()
            .all()
        )
    assert sorted(set(hashed)) == times
    assert verify(locker).ok


def test_malformed_video_is_held_and_its_failures_recorded(locker: Locker, tmp_path: Path) -> None:
    video = slideshow(tmp_path / "v", ["coffee"], seconds=2.0)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(video.read_bytes()[:2000])
    summary = take(locker, broken)
    assert summary.count("new") == 1
    failed = {step for _, step, _ in summary.analysis_failures}
    assert {"previews", "keyframes"} <= failed
    assert all("ffmpeg" in reason for _, _, reason in summary.analysis_failures if _ != "metadata")
    assert verify(locker).ok


def test_analyse_runs_only_what_is_missing_or_changed(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha256 = take(locker, photo(tmp_path / "in")).outcomes[0].sha256 or ""
    assert analyse(locker, [sha256], "tester").done == []
    monkeypatch.setattr(steps.PerceptualStep, "version", "2")
    again = analyse(locker, None, "tester")
    assert again.done == [(sha256, "perceptual")]
    assert again.checkpoint is not None
    forced = analyse(locker, [sha256], "tester", force=True)
    assert sorted(step for _, step in forced.done) == [
        "content-credentials",
        "metadata",
        "metadata-signals",
        "perceptual",
        "picture-signals",
        "previews",
    ]
    assert verify(locker).ok


def test_analyse_records_nothing_twice_that_another_recorded_meanwhile(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `analyse` runs (or one and a worker) that chose the same item before either
    recorded: the later one adds no result and no custody event for what is there."""
    sha256 = take(locker, photo(tmp_path / "in")).outcomes[0].sha256 or ""

    def counts() -> tuple[int, int]:
        with locker.engine.connect() as conn:
            results = conn.execute(select(schema.results)).all()
            events = conn.execute(select(schema.events)).all()
        return len(results), len(events)

    before = counts()
    # As if chosen before the ingest's own analysis was recorded: every step looks due.
    monkeypatch.setattr("docket.analyse.batch.step_versions", lambda _conn, _item: {})
    again = analyse(locker, [sha256], "tester")
    assert {step for _, step in again.done} >= {"metadata", "perceptual", "previews"}
    assert counts()[0] == before[0]
    assert counts()[1] <= before[1] + 1  # at most the checkpoint's own event
    assert verify(locker).ok


def test_tampered_derivative_is_found(locker: Locker, tmp_path: Path) -> None:
    sha256 = take(locker, photo(tmp_path / "in")).outcomes[0].sha256 or ""
    safe = next(r for r in derivatives(locker, sha256) if r["kind"] == "safe_preview")
    blob = locker.store.path(safe["sha256"])
    os.chmod(blob, 0o644)
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    os.chmod(blob, 0o444)  # a writable blob is a problem of its own (blob permissions)
    problems = [str(p) for p in verify(locker).problems]
    assert len(problems) == 1 and problems[0].startswith(
        f"item {sha256[:16]}: its safe_preview: blob content changed"
    )


def test_deleted_hash_row_is_found(locker: Locker, tmp_path: Path) -> None:
    sha256 = take(locker, photo(tmp_path / "in")).outcomes[0].sha256 or ""
    with locker.engine.begin() as conn:
        first = conn.execute(select(schema.perceptual_hashes.c.id).limit(1)).scalar_one()
        conn.execute(delete(schema.perceptual_hashes).where(schema.perceptual_hashes.c.id == first))
    [problem] = [str(p) for p in verify(locker, quick=True).problems]
    assert problem.startswith(f"item {sha256[:16]}: a perceptual_hashes row recorded by event ")
    assert problem.endswith(" is missing")


def test_a_hung_decoder_is_stopped_and_the_next_file_still_works(tmp_path: Path) -> None:
    source = tmp_path / "a.jpg"
    source.write_bytes(jpeg(sample("coffee")))
    worker = ImageWorker(tmp_path, timeout=0.0001)
    with pytest.raises(AnalysisError, match="longer than"):
        worker.describe(source, None, hashes=True)
    worker.timeout = 60
    assert len(worker.describe(source, None, hashes=True)["hashes"]) >= 4
    worker.close()


def test_show_gives_the_safe_preview_and_cluster(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    original = tmp_path / "in" / "chelsea.jpg"
    original.parent.mkdir()
    original.write_bytes(jpeg(sample("chelsea")))
    (tmp_path / "in" / "small.jpg").write_bytes(jpeg(sample("chelsea").resize((200, 150)), 50))
    cli("ingest", "--locker", locker, tmp_path / "in")
    listed = cli("ls", "--locker", locker, "--json").json()
    assert {row["cluster"] for row in listed} == {1}
    shown = cli("show", "--locker", locker, listed[0]["sha256"][:8], "--json").json()
    assert Path(shown["safe_preview"]).is_file()
    assert shown["cluster"]["number"] == 1 and len(shown["cluster"]["items"]) == 2


def test_show_marks_an_item_incomplete_with_the_reason(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    cli("init", locker)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(jpeg(sample("coffee"))[:900])
    sha256 = cli("ingest", "--locker", locker, "--json", broken).out.splitlines()[0]
    shown = cli("show", "--locker", locker, json_loads(sha256)["sha256"], "--json").json()
    assert shown["incomplete"] is True
    failed = {run["step"]: run["error"] for run in shown["analysis"] if run["status"] != "ok"}
    assert set(failed) == {"previews", "perceptual"}
    assert all("cannot decode the picture" in reason for reason in failed.values())


def test_exiftool_parses_an_unchanged_file_once_and_a_changed_one_again(tmp_path: Path) -> None:
    """The metadata step and metadata-signals read one file in turn: one parse serves both,
    but never once the file has changed."""
    starts = tmp_path / "starts.log"
    counting = tmp_path / "exiftool"
    counting.write_text(f'#!/bin/sh\necho "$*" >> {starts}\nexec exiftool "$@"\n')
    counting.chmod(0o755)
    source = photo(tmp_path / "in")
    with ExifTool(tmp_path, executable=str(counting)) as tool:
        first = tool.read(source)
        first["IFD0:Make"] = "changed by a caller"
        tool.kill()  # a second parse would have to start ExifTool again
        again = tool.read(source)
        assert again["IFD0:Make"] == "Larkspur"
        assert again["ExifIFD:DateTimeOriginal"] == FACTS.capture_time
        photo(tmp_path / "in", facts=replace(FACTS, capture_time="2021:05:06 07:08:09"))
        tool.kill()
        changed = tool.read(source)
        assert changed["ExifIFD:DateTimeOriginal"] == "2021:05:06 07:08:09"
    assert starts.read_text().count("-stay_open") == 2


def test_the_picture_worker_computes_on_one_thread(tmp_path: Path) -> None:
    """One worker per core: a library's own thread pool (OpenBLAS under numpy) would only
    oversubscribe the cores."""
    source = tmp_path / "a.jpg"
    source.write_bytes(jpeg(sample("coffee")))
    worker = ImageWorker(tmp_path)
    try:
        worker.describe(source, None, hashes=True)
        process = worker._process
        assert process is not None
        assert len(os.listdir(f"/proc/{process.pid}/task")) == 1
    finally:
        worker.close()


def test_an_exiftool_that_does_not_answer_its_version_is_a_metadata_error(tmp_path: Path) -> None:
    """A stalled machine once held `exiftool -ver` past its deadline: that is the step's
    failure, with a reason, never a TimeoutExpired traceback that stops the batch."""
    stalled = tmp_path / "exiftool"
    stalled.write_text("#!/bin/sh\nsleep 30\n")
    stalled.chmod(0o755)
    with pytest.raises(MetadataError, match=r"-ver did not answer within 0.5 s"):
        ExifTool(tmp_path, executable=str(stalled), timeout=0.5)
