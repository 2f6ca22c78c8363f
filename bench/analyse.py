"""Analysis speed: photos/s for the steps run on 12-megapixel JPEGs (metadata, previews, PDQ).

Run by hand: .venv/bin/python bench/analyse.py [--photos 200]
Target (issue 3): >= 50 photos/s on this 2-core machine. The photos are ingested first; the
timed part is `docket analyse --all --force`, which decodes each JPEG once (draft mode, 1/8
scale) in a sandboxed worker per core, writes two previews and six PDQ hashes, and records
everything with its custody events.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _photos import twelve_megapixel_jpeg, unique_copies


def docket(*args: str) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        root = Path(scratch)
        photos = unique_copies(twelve_megapixel_jpeg(), root / "photos", args.photos)
        size_mb = sum(p.stat().st_size for p in photos) / 1e6 / len(photos)
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
        start = time.perf_counter()
        subprocess.run(
            docket("analyse", "--all", "--force", "--locker", str(locker)),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - start
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}"
        )
        print(f"photos: {len(photos)} x 12 MP JPEG, {size_mb:.1f} MB each")
        print(
            f"analyse --all --force (metadata, previews, perceptual): "
            f"{len(photos) / seconds:.1f} photos/s ({seconds:.2f} s)"
        )
        print(
            f"ingest with the same steps at ingest time:             "
            f"{len(photos) / ingest_seconds:.1f} photos/s ({ingest_seconds:.2f} s)"
        )


if __name__ == "__main__":
    main()
