"""Redaction speed: faces redacted per second on 720p video frames and on 12-megapixel photos,
side by side with the deface tool run on the same files.

Run by hand: .venv/bin/python bench/redact.py [--seconds 5] [--photos 4]
Targets: no slower than deface on photos (issue 4); on 720p video at least twice deface's
faces per second in the same run (issue 16). Both use the same CenterFace model through
OpenCV; deface searches frames at full size, Docket at faces.VIDEO_DETECT_SCALE with faces
carried between frames. Docket's figure includes its locker work (storing, stripping, the
custody event). The load average is printed at the start and end: on a busy machine the
ratio of the two tools is the figure to read, not either rate alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import skimage.data
from PIL import Image

from docket.protect.faces import SMALLEST_VIDEO_FACE, VIDEO_DETECT_SCALE


def docket(*args: str) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *args]


def make_media(folder: Path, seconds: int, photos: int) -> tuple[Path, list[Path]]:
    face = Image.fromarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]
    frame = Image.new("RGB", (1280, 720), (40, 40, 40))
    frame.paste(face.resize((700, 700)), (290, 10))
    frame.save(folder / "frame.png")
    video = folder / "clip720p.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-loop",
            "1",
            "-i",
            str(folder / "frame.png"),
            "-t",
            str(seconds),
            "-r",
            "25",
            "-pix_fmt",
            "yuv420p",
            str(video),
        ],
        check=True,
    )
    paths = []
    for i in range(photos):
        photo = Image.new("RGB", (4000, 3000), (90 + i, 90, 90))
        photo.paste(face.resize((1500, 1500)), (1200, 700))
        path = folder / f"photo{i}.jpg"
        photo.save(path, quality=90)
        paths.append(path)
    return video, paths


def load() -> str:
    return ", ".join(f"{n:.2f}" for n in os.getloadavg())


def deface_version(deface: str) -> str:
    done = subprocess.run([deface, "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip() or "unknown"


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--photos", type=int, default=4)
    args = parser.parse_args()
    deface = shutil.which("deface", path=str(Path(sys.executable).parent)) or shutil.which("deface")
    if deface is None:
        sys.exit("bench: the deface command is needed (pip install deface)")
    started = load()
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        root = Path(scratch)
        video, photos = make_media(root, args.seconds, args.photos)
        frames = args.seconds * 25
        locker = root / "locker"
        subprocess.run(docket("init", str(locker)), check=True, stdout=subprocess.DEVNULL)
        _, out = timed(
            docket(
                "ingest",
                "--defer-analysis",
                "--json",
                "--locker",
                str(locker),
                str(video),
                *map(str, photos),
            )
        )
        ids = [
            json.loads(line)["sha256"]
            for line in out.splitlines()
            if json.loads(line)["type"] == "file"
        ]

        ours_video, _ = timed(docket("redact", "--locker", str(locker), ids[0], "--faces"))
        ours_photos = sum(
            timed(docket("redact", "--locker", str(locker), sha, "--faces"))[0] for sha in ids[1:]
        )
        theirs_video, _ = timed(
            [deface, str(video), "-o", str(root / "deface.mp4"), "--replacewith", "mosaic"]
        )
        theirs_photos = sum(
            timed([deface, str(p), "-o", str(root / f"deface{i}.jpg"), "--replacewith", "mosaic"])[
                0
            ]
            for i, p in enumerate(photos)
        )
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, OpenCV {cv2.__version__}, "
            f"deface {deface_version(deface)}; one face per frame or photo, CenterFace on CPU"
        )
        print(f"load average (1, 5, 15 min): at start {started}; at end {load()}")
        print(
            f"720p video, {frames} frames ({args.seconds} s at 25 fps); Docket searches frames "
            f"at {VIDEO_DETECT_SCALE:g} of their size (faces from {SMALLEST_VIDEO_FACE} px high):"
        )
        print(f"  docket redact --faces  {frames / ours_video:6.1f} faces/s ({ours_video:.1f} s)")
        print(
            f"  deface (mosaic)        {frames / theirs_video:6.1f} faces/s ({theirs_video:.1f} s)"
        )
        print(f"  docket / deface        {theirs_video / ours_video:6.2f}x (target >= 2x)")
        print(f"12 MP photos, {len(photos)}:")
        print(
            f"  docket redact --faces  {len(photos) / ours_photos:6.2f} faces/s "
            f"({ours_photos:.1f} s)"
        )
        print(
            f"  deface (mosaic)        {len(photos) / theirs_photos:6.2f} faces/s "
            f"({theirs_photos:.1f} s)"
        )


if __name__ == "__main__":
    main()
