"""Video signals (video-signals: ffprobe in a sandboxed worker) on videos made by ffmpeg with
chosen metadata: a phone's tags on FFmpeg's output, a file dressed as a phone's, times that
disagree, and a broken file (a failed analysis, the file held)."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import take
from sqlalchemy import select

from docket.aids import video
from docket.catalogue import schema
from docket.locker import Locker

IPHONE = [
    *("-metadata", "com.apple.quicktime.make=Apple"),
    *("-metadata", "com.apple.quicktime.model=iPhone 12"),
]


def made(path: Path, codec: str, *metadata: str, container: str = "mov") -> Path:
    """One second of a test pattern, encoded by ffmpeg with `codec` and the given metadata."""
    subprocess.run(
        [
            *("ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi"),
            *("-i", "testsrc=size=160x120:rate=10", "-t", "1", "-c:v", codec),
            *("-pix_fmt", "yuv420p", "-map_metadata", "-1", *metadata),
            *("-movflags", "use_metadata_tags", "-f", container, str(path)),
        ],
        check=True,
        timeout=120,
    )
    return path


def dressed_as_a_phone(path: Path) -> Path:
    """FFmpeg always names itself in the track's vendor and compressor name; a forger (and this
    test) overwrites both bytes in place with what an iPhone writes, and drops the muxer tag
    with -fflags +bitexact."""
    data = path.read_bytes()
    assert data.count(b"FFMP") == 1
    start = data.index(b"Lavc")
    length = data[start - 1]
    name = b"H.264"
    data = data.replace(b"FFMP", b"appl")
    data = (
        data[: start - 1] + bytes([len(name)]) + name.ljust(length, b"\0") + data[start + length :]
    )
    path.write_bytes(data)
    return path


def probed(path: Path, tmp_path: Path) -> dict[str, dict[str, Any]]:
    return {s.name: s.as_dict() for s in video.signals(path, tmp_path)}


def test_a_phones_tags_on_ffmpegs_output_are_a_re_encoding_signal(tmp_path: Path) -> None:
    path = made(tmp_path / "claimed.mp4", "libx264", *IPHONE, container="mp4")
    found = probed(path, tmp_path)
    again = found["re-encoding"]
    assert again["finding"] == "signal"
    assert again["summary"].startswith("claims Apple iPhone 12 but written by Lavf")
    assert "encoded by Lavc" in again["summary"] and "x264's settings message" in again["summary"]
    history = found["video-encoders"]
    assert history["finding"] == "signal"
    assert history["details"]["major_brand"] == "isom"
    assert history["details"]["muxer"].startswith("Lavf")
    assert history["details"]["streams"][0]["handler_name"] == "VideoHandler"
    assert history["details"]["x264"].startswith("x264 - core ")


def test_a_file_dressed_as_a_phones_is_quiet_unless_x264_left_its_message(
    tmp_path: Path,
) -> None:
    plain = ["-fflags", "+bitexact", "-flags:v", "+bitexact", *IPHONE]
    plain += ["-metadata:s:v", "handler_name=Core Media Video"]
    clean = dressed_as_a_phone(made(tmp_path / "phone.mov", "mpeg4", *plain))
    found = probed(clean, tmp_path)
    assert found["video-encoders"]["finding"] == "no signal"
    assert found["re-encoding"]["finding"] == "no signal"
    assert found["re-encoding"]["summary"] == "claims Apple iPhone 12; no FFmpeg or x264 marks"
    assert "authentic" not in str(found).lower()

    forged = dressed_as_a_phone(made(tmp_path / "forged.mov", "libx264", *plain))
    caught = probed(forged, tmp_path)["re-encoding"]
    assert caught["finding"] == "signal"
    assert len(caught["details"]["marks"]) == 1  # only x264's own message is left
    assert caught["details"]["marks"][0].startswith("x264's settings message (x264 - core ")


def test_a_video_naming_no_camera_is_not_checked_for_re_encoding(tmp_path: Path) -> None:
    path = made(tmp_path / "plain.mkv", "libx264", container="matroska")
    found = probed(path, tmp_path)
    assert found["re-encoding"]["finding"] == "not checked"
    assert found["video-encoders"]["finding"] == "signal"  # Lavf, x264
    assert found["creation-times"]["finding"] == "not checked"


@pytest.mark.parametrize(
    ("local", "finding"),
    [("2026-03-01T11:00:00+0100", "no signal"), ("2026-03-01T13:30:00+0100", "signal")],
)
def test_apples_local_creation_date_against_the_containers(
    tmp_path: Path, local: str, finding: str
) -> None:
    times = ["-metadata", "creation_time=2026-03-01T10:00:00Z"]
    times += ["-metadata", f"com.apple.quicktime.creationdate={local}"]
    found = probed(made(tmp_path / "timed.mov", "mpeg4", *IPHONE, *times), tmp_path)
    said = found["creation-times"]
    assert said["finding"] == finding
    assert said["details"]["seconds_apart"]["stream 0"] == 0  # FFmpeg copies the time over
    assert said["details"]["seconds_apart"]["Apple's creation date"] in (0, 9000)
    if finding == "signal":
        assert "Apple's creation date 150 min apart" in said["summary"]


def test_a_track_created_apart_from_its_container_is_a_signal(tmp_path: Path) -> None:
    path = made(tmp_path / "cut.mov", "mpeg4", "-metadata", "creation_time=2026-03-01T10:00:00Z")
    subprocess.run(
        [
            "exiftool",
            "-q",
            "-overwrite_original",
            "-MediaCreateDate=2026:03:01 09:00:00",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    said = probed(path, tmp_path)["creation-times"]
    assert said["finding"] == "signal"
    assert said["summary"] == "the container's creation time: stream 0 60 min apart"


def test_ingest_records_video_signals_and_a_broken_video_fails_with_its_reason(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    good = made(tmp_path / "claimed.mp4", "libx264", *IPHONE, container="mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(good.read_bytes()[:600])
    take(locker, good, broken)
    with locker.engine.connect() as conn:
        rows = conn.execute(
            select(
                schema.results.c.item_sha256, schema.results.c.status, schema.results.c.error
            ).where(schema.results.c.step == "video-signals")
        ).all()
        actions = set(conn.execute(select(schema.events.c.action)).scalars())
    by_item = {sha: (status, error) for sha, status, error in rows}
    good_sha = hashlib.sha256(good.read_bytes()).hexdigest()
    broken_sha = hashlib.sha256(broken.read_bytes()).hexdigest()
    assert by_item[good_sha] == ("ok", None)
    assert by_item[broken_sha][0] == "failed"
    assert "ffprobe (ffmpeg) could not read the video" in str(by_item[broken_sha][1])
    assert {"video-signals.recorded", "video-signals.failed"} <= actions
    assert locker.store.path(broken_sha).read_bytes() == broken.read_bytes()
    shown = cli("show", "--locker", locker.path, good_sha[:12]).out
    assert "aid          video-signals: signal, re-encoding: claims Apple iPhone 12 but" in shown
    steps = {
        r["step"]: r
        for r in cli("aids", "--locker", locker.path, good_sha[:12], "--json").json()["results"]
    }
    assert steps["video-signals"]["tools"]["ffprobe"]
