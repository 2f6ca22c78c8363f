"""Export speed: MB/s of `docket export --profile court`, beside bagit-python making a bag of the
same files (the peer tool for BagIt packages) and `sha256sum` over them.

Run by hand: .venv/bin/python bench/export.py [--photos 100]
Docket's export does more than the bag: it re-hashes every original it copies, writes the
custody events, their inclusion proofs and a signed checkpoint, the HTML and PDF reports and
the stdlib verifier, and zips the whole. bagit-python is run with SHA-256 and SHA-512 so
both hash the same bytes twice; its bag is a folder (no zip), so a zip of it is timed too.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _photos import twelve_megapixel_jpeg, unique_copies


def timed(command: list[str]) -> float:
    os.sync()
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def docket(*args: str) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        root = Path(scratch)
        photos = unique_copies(twelve_megapixel_jpeg(), root / "photos", args.photos)
        mb = sum(p.stat().st_size for p in photos) / 1e6
        locker = str(root / "locker")
        subprocess.run(docket("init", locker), check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            docket(
                "ingest",
                "--case",
                "Bench",
                "--source",
                "W-1",
                "--locker",
                locker,
                str(root / "photos"),
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; {len(photos)} x 12 MP JPEG, {mb:.0f} MB in all"
        )
        ours = timed(
            docket(
                "export",
                "--locker",
                locker,
                "--case",
                "Bench",
                "--profile",
                "court",
                "--recipient",
                "Bench court",
                "-o",
                str(root / "court.zip"),
            )
        )
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        shutil.copytree(root / "photos", root / "bag")
        bag = timed([sys.executable, "-m", "bagit", "--sha256", "--sha512", str(root / "bag")])
        zipped = timed(["python3", "-m", "zipfile", "-c", str(root / "bag.zip"), str(root / "bag")])
        sha = timed(["sha256sum", *map(str, photos)])
        print("\ncourt export of one case (docket) beside a bag of the same files (bagit-python)")
        for label, seconds in (
            ("docket export --profile court", ours),
            ("bagit.py --sha256 --sha512", bag),
            ("bagit.py + zip of the bag", bag + zipped),
            ("sha256sum", sha),
        ):
            print(f"  {label:<32} {mb / seconds:8.1f} MB/s  ({seconds:.2f} s)")
        print(f"  docket's largest process: {rss:.0f} MiB resident (ingest or export)")
        print(f"  package: {(root / 'court.zip').stat().st_size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
