"""A still taken from a video between its scene changes is matched to the video (issue 18):
the first minute of a video is hashed every quarter second, so a still of a panning shot at
1.0 s or 3.0 s, or at any moment, is found. The recall is printed (pytest -s shows it)."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

from media import sample, still
from PIL import Image
from sqlalchemy import Connection

from docket.ingest.run import IngestOptions, ingest
from docket.locker import Locker
from docket.similarity import NoUsableHashError, similar

WIDTH, HEIGHT, FPS, SECONDS, SPEED = 480, 360, 15, 8, 60  # a pan of 60 px (1/8 frame) a second


def panning_video(target: Path) -> Path:
    """A camera panning across four sample photographs set side by side."""
    parts = [sample(name) for name in ("chelsea", "coffee", "rocket", "astronaut")]
    parts = [p.resize((p.width * HEIGHT // p.height, HEIGHT)) for p in parts]
    strip = Image.new("RGB", (sum(p.width for p in parts), HEIGHT))
    left = 0
    for part in parts:
        strip.paste(part, (left, 0))
        left += part.width
    frames = b"".join(
        strip.crop((SPEED * i // FPS, 0, SPEED * i // FPS + WIDTH, HEIGHT)).tobytes()
        for i in range(FPS * SECONDS)
    )
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS)]
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", *raw, "-i", "-", "-pix_fmt", "yuv420p", str(target)],
        input=frames,
        check=True,
        timeout=120,
    )
    return target


def matches(conn: Connection, item: str) -> list[str]:
    try:
        return [match.item for match in similar(conn, item)]
    except NoUsableHashError:
        return []


def test_stills_between_keyframes_are_matched_to_their_video(tmp_path: Path) -> None:
    video = panning_video(tmp_path / "pan.mp4")
    rng = random.Random(18)
    times = [1.0, 3.0, *(round(rng.uniform(0.0, SECONDS - 0.2), 2) for _ in range(10))]
    stills = [still(video, at, tmp_path / f"still-{at}.jpg") for at in times]
    with Locker.create(tmp_path / "locker", actor="tester") as locker:
        paths = [os.fsencode(p) for p in (video, *stills)]
        summary = ingest(locker, paths, IngestOptions(collector="tester"))
        video_sha, *still_shas = (outcome.sha256 or "" for outcome in summary.outcomes)
        with locker.engine.connect() as conn, conn.begin():
            found = {
                at: video_sha in matches(conn, sha)
                for at, sha in zip(times, still_shas, strict=True)
            }
    recall = sum(found.values()) / len(found)
    missed = sorted(at for at, hit in found.items() if not hit)
    print(f"stills matched to their video: {recall:.0%} of {len(found)} (missed at {missed})")
    assert found[1.0] and found[3.0]
    assert recall >= 0.9
