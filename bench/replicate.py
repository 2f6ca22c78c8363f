"""Replication speed: MB/s of a first and an incremental `docket replicate` to a folder, beside
`rsync -a` of the same locker to a folder.

Run by hand: .venv/bin/python bench/replicate.py [--items 10000] [--item-kib 16] [--new 100]
[--s3]  (--s3 also copies to moto, an S3 emulator, on loopback: a bucket with Object Lock)
Targets (issue 12): an incremental run with nothing new under 2 s (10,000 items); a first
copy at no less than 80% of rsync's speed. Both copy within one file system here, with the
page cache warm for both; docket also re-hashes every blob it copies, fsyncs each one and
its folder, and copies the catalogue with SQLite's backup API; rsync does neither.
docket is timed twice: the whole command (`docket replicate`, which includes Python's start-up
and the CLI's imports, 1-2 s on a loaded 2-core machine) and the call itself (`replicate()` in
this process, what the command spends after start-up).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from docket.copies.destination import Folder
from docket.copies.replicate import replicate
from docket.ingest.run import IngestOptions, ingest
from docket.locker import Locker


def timed(command: list[str]) -> float:
    os.sync()
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def in_process(locker_path: Path, dest: Path) -> float:
    with Locker.open(locker_path) as locker:
        os.sync()
        start = time.perf_counter()
        replicate(locker, Folder(dest), "bench", private_key=False)
        return time.perf_counter() - start


def to_moto(locker_path: Path, locker_mb: float) -> None:
    """First and nothing-new copies to a locked bucket of moto (an emulator) on loopback."""
    import boto3
    from moto.server import ThreadedMotoServer

    from docket.copies.bucket import Bucket
    from docket.store.s3 import S3Bucket

    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(
            Bucket="bench", ObjectLockEnabledForBucket=True
        )
        url = f"s3://bench/copy?endpoint={endpoint}&region=us-east-1"
        times = []
        with Locker.open(locker_path) as locker:
            for _ in range(2):
                with locker.store.scratch("bench") as work:
                    start = time.perf_counter()
                    replicate(
                        locker, Bucket(S3Bucket.open(url), 1, work), "bench", private_key=False
                    )
                    times.append(time.perf_counter() - start)
    finally:
        server.stop()
    print("\nto moto's S3 server on loopback (an emulator; replicate() call)")
    print(f"  first copy        {locker_mb / times[0]:8.1f} MB/s  ({times[0]:.2f} s)")
    print(f"  nothing new       {times[1]:.2f} s")


def docket(*args: str) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *args]


def make_items(folder: Path, count: int, kib: int, start: int = 0) -> list[bytes]:
    """`count` distinct files of `kib` KiB (random bytes: no media to analyse)."""
    folder.mkdir(parents=True)
    block = os.urandom(kib << 10)
    paths = []
    for i in range(start, start + count):
        path = folder / f"item{i:06d}.bin"
        path.write_bytes(i.to_bytes(8, "big") + block[8:])
        paths.append(os.fsencode(path))
    return paths


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--item-kib", type=int, default=16)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--s3", action="store_true", help="also to moto's S3 server on loopback")
    args = parser.parse_args()
    if shutil.which("rsync") is None:
        sys.exit("bench: rsync is needed")

    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        root = Path(scratch)
        locker_path = root / "locker"
        with Locker.create(locker_path, actor="bench") as locker:
            started = time.perf_counter()
            ingest(
                locker,
                make_items(root / "in", args.items, args.item_kib),
                IngestOptions(collector="bench", defer_analysis=True),
            )
            made = time.perf_counter() - started
        blobs_mb = size_of(locker_path / "objects") / 1e6
        locker_mb = size_of(locker_path) / 1e6
        rsync = subprocess.run(["rsync", "--version"], capture_output=True, text=True)
        fs = subprocess.run(["df", "-T", str(root)], capture_output=True, text=True)
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {rsync.stdout.splitlines()[0]}"
        )
        print(f"file system: {fs.stdout.splitlines()[-1]}")
        print(
            f"locker: {args.items} items of {args.item_kib} KiB ({blobs_mb:.1f} MB of blobs, "
            f"{locker_mb:.1f} MB in all; made in {made:.0f} s)"
        )

        replica = root / "replica"
        first = timed(docket("replicate", "--locker", str(locker_path), str(replica)))
        nothing = timed(docket("replicate", "--locker", str(locker_path), str(replica)))
        call_first = in_process(locker_path, root / "replica-call")
        call_nothing = in_process(locker_path, root / "replica-call")
        mirror = root / "rsync"
        rsync_first = timed(["rsync", "-a", f"{locker_path}/", f"{mirror}/"])
        rsync_nothing = timed(["rsync", "-a", f"{locker_path}/", f"{mirror}/"])

        with Locker.open(locker_path) as locker:
            ingest(
                locker,
                make_items(root / "new", args.new, args.item_kib, start=args.items),
                IngestOptions(collector="bench", defer_analysis=True),
            )
        new_mb = args.new * args.item_kib * 1024 / 1e6
        some = timed(docket("replicate", "--locker", str(locker_path), str(replica)))
        call_some = in_process(locker_path, root / "replica-call")
        rsync_some = timed(["rsync", "-a", f"{locker_path}/", f"{mirror}/"])

        print(f"\nfirst copy ({locker_mb:.1f} MB)")
        rows = (
            ("docket replicate", first),
            ("replicate() call", call_first),
            ("rsync -a", rsync_first),
        )
        for label, seconds in rows:
            print(f"  {label:<18} {locker_mb / seconds:8.1f} MB/s  ({seconds:.2f} s)")
        print(f"  ratio (command)    {rsync_first / first * 100:8.1f} % of rsync's speed")
        print(f"  ratio (call)       {rsync_first / call_first * 100:8.1f} % of rsync's speed")
        print("\nincremental, nothing new")
        for label, seconds in (
            ("docket replicate", nothing),
            ("replicate() call", call_nothing),
            ("rsync -a", rsync_nothing),
        ):
            print(f"  {label:<18} {seconds:.2f} s")
        print(f"\nincremental, {args.new} new items ({new_mb:.1f} MB of new blobs)")
        for label, seconds in (
            ("docket replicate", some),
            ("replicate() call", call_some),
            ("rsync -a", rsync_some),
        ):
            print(f"  {label:<18} {new_mb / seconds:8.1f} MB/s  ({seconds:.2f} s)")
        if args.s3:
            to_moto(locker_path, locker_mb)
        load = os.getloadavg()
        print(f"\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
