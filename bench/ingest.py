"""Ingest speed: photos/s and MB/s of `docket ingest`, beside `sha256sum` + `exiftool -json`.

Run by hand: .venv/bin/python bench/ingest.py [--photos 300] [--large 2] [--large-mib 1024]
Targets (issue 2): >= 100 photos/s end to end on 2 cores; large files hashed at >= 80% of
sha256sum's speed. Issue 16: `docket ingest --defer-analysis` at >= 1.5x the speed of
sha256sum + exiftool over the same photos, measured in the same run (the machine may be shared:
the load average is printed before and after). Files are made fresh in a temporary folder;
all of them sit in the page cache for both tools, so the figures compare the work done, not
the disk.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _photos import twelve_megapixel_jpeg, unique_copies


def large_files(folder: Path, count: int, mib: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    block = os.urandom(1 << 20)
    for i in range(count):
        path = folder / f"large{i}.bin"
        with path.open("wb") as handle:
            for j in range(mib):
                handle.write(block[:-8] + (i * mib + j).to_bytes(8, "big"))
        paths.append(path)
    return paths


def timed(command: list[str]) -> float:
    os.sync()
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def docket(*args: str) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--large", type=int, default=2)
    parser.add_argument("--large-mib", type=int, default=1024)
    args = parser.parse_args()
    if args.photos < 1 or args.large < 1 or args.large_mib < 1:
        sys.exit("bench: give --photos, --large and --large-mib of at least 1")
    for tool in ("sha256sum", "exiftool"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is needed")

    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        root = Path(scratch)
        photos = unique_copies(twelve_megapixel_jpeg(), root / "photos", args.photos)
        photo_mb = sum(p.stat().st_size for p in photos) / 1e6
        big = large_files(root / "large", args.large, args.large_mib)
        big_mb = sum(p.stat().st_size for p in big) / 1e6
        names = [str(p) for p in photos]
        os.sync()  # the generated files' own write-back must not compete with the runs

        exiftool = subprocess.run(["exiftool", "-ver"], capture_output=True, text=True)
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, exiftool {exiftool.stdout.strip()}, load average "
            f"{os.getloadavg()[0]:.1f} at the start (the machine may be shared)"
        )
        print(
            f"photos: {len(photos)} x 12 MP JPEG, {photo_mb / len(photos):.1f} MB each; "
            f"large: {len(big)} x {args.large_mib} MiB"
        )

        base_hash = timed(["sha256sum", *names])
        base_exif = timed(["exiftool", "-json", "-G1", "-a", "-u", "-n", *names])
        locker = root / "locker"
        subprocess.run(docket("init", str(locker)), check=True, stdout=subprocess.DEVNULL)
        ours = timed(
            docket(
                "ingest",
                "--defer-analysis",
                "--json",
                "--locker",
                str(locker),
                str(root / "photos"),
            )
        )
        full_locker = root / "full"
        subprocess.run(docket("init", str(full_locker)), check=True, stdout=subprocess.DEVNULL)
        full = timed(docket("ingest", "--json", "--locker", str(full_locker), str(root / "photos")))
        baseline = base_hash + base_exif
        print("\nphotos (end to end: hash, store with fsync, catalogue, custody log, ExifTool)")
        for label, seconds in (
            ("docket ingest --defer-analysis", ours),
            ("docket ingest (+ previews, PDQ)", full),
            ("sha256sum + exiftool -json", baseline),
        ):
            print(
                f"  {label:<32} {len(photos) / seconds:8.1f} photos/s "
                f"{photo_mb / seconds:8.1f} MB/s  ({seconds:.2f} s)"
            )
        print(
            f"  (baseline: sha256sum {base_hash:.2f} s + exiftool {base_exif:.2f} s; docket "
            "also computes SHA-512 and keeps a durable copy)"
        )
        print(f"  --defer-analysis / baseline {baseline / ours:8.2f}x  (issue 16: >= 1.5x)")

        big_names = [str(p) for p in big]
        base_big = timed(["sha256sum", *big_names])
        ours_big = timed(docket("ingest", "--json", "--locker", str(locker), *big_names))
        print("\nlarge files (docket also computes SHA-512 and writes a durable copy)")
        print(f"  docket ingest   {big_mb / ours_big:8.1f} MB/s  ({ours_big:.2f} s)")
        print(f"  sha256sum       {big_mb / base_big:8.1f} MB/s  ({base_big:.2f} s)")
        print(f"  ratio           {base_big / ours_big * 100:8.1f} % of sha256sum's speed")
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
