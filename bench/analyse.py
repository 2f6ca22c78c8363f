"""Analysis speed: photos/s for the steps run on 12-megapixel JPEGs (metadata, previews, PDQ).

Run by hand: .venv/bin/python bench/analyse.py [--photos 200]
Target (issue 16): >= 45 photos/s on this 2-core machine. The photos are ingested first; the
timed part is `docket analyse --all --force`: every step an ingest runs on a photo (metadata,
previews, perceptual, and the aids picture-signals, metadata-signals, content-credentials),
each JPEG decoded once (draft mode, 1/8 scale) in a sandboxed worker per core, every result
recorded with its custody event. The ceiling printed beside it is that decode alone: a 1/8
draft decode of the bench photo on one core, timed in the same run, times the cores. The
conditions (load average before and after, versions) are printed with the figures, as the
machine is shared.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import PIL
from _photos import twelve_megapixel_jpeg, unique_copies
from PIL import Image, features

DECODE_SAMPLES = 20


def docket(*args: str) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *args]


def load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def draft_decode_seconds(photos: list[Path]) -> float:
    """The fastest of DECODE_SAMPLES 1/8-scale draft decodes (as the analysis worker does)."""
    best = float("inf")
    for path in photos[:DECODE_SAMPLES]:
        start = time.perf_counter()
        with Image.open(path) as image:
            image.draft("RGB", (320, 320))
            image.load()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(
        f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}, "
        f"Pillow {PIL.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}"
    )
    print(f"load average at start (1/5/15 min): {load()}")
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        root = Path(scratch)
        photos = unique_copies(twelve_megapixel_jpeg(), root / "photos", args.photos)
        size_mb = sum(p.stat().st_size for p in photos) / 1e6 / len(photos)
        with Image.open(photos[0]) as first:
            width, height = first.size
        print(
            f"photos: {len(photos)} x {width}x{height} ({width * height / 1e6:.0f} MP) JPEG, "
            f"{size_mb:.1f} MB each"
        )
        locker = root / "locker"
        subprocess.run(docket("init", str(locker)), check=True, stdout=subprocess.DEVNULL)
        start = time.perf_counter()
        subprocess.run(
            docket("ingest", "--json", "--locker", str(locker), str(root / "photos")),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        ingest_seconds = time.perf_counter() - start
        os.sync()
        decode = draft_decode_seconds(photos)
        cpu, start = children_cpu(), time.perf_counter()
        subprocess.run(
            docket("analyse", "--all", "--force", "--locker", str(locker)),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - start
        cpu = children_cpu() - cpu
    print(
        f"ceiling: 1/8 draft decode {decode * 1000:.1f} ms/photo on one core x {cores} cores = "
        f"{cores / decode:.1f} photos/s"
    )
    print(
        f"analyse --all --force (every ingest step): {len(photos) / seconds:.1f} photos/s "
        f"({seconds:.2f} s; CPU {cpu * 1000 / len(photos):.0f} ms/photo, all processes)"
    )
    print(
        f"ingest with the same steps at ingest time: {len(photos) / ingest_seconds:.1f} "
        f"photos/s ({ingest_seconds:.2f} s)"
    )
    print(f"load average at end (1/5/15 min): {load()}")


if __name__ == "__main__":
    main()
