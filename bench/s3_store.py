"""A locker on a bucket beside one in a folder: `docket ingest` MB/s and `docket verify` time.

Run by hand: .venv/bin/python bench/s3_store.py [--files 100] [--kib 256]
The bucket is moto's S3 emulator in server mode on loopback, in this process: its figures
show Docket's own overhead (spooling, hashing, one PUT and checks per blob, listings in
verify), not a real server's network or disks. Analysis is deferred in both runs, so only
storing is timed. moto copies every object's bytes on each listing of versions (a real
server does not), so its memory grows with files x size x listings: keep the data small;
this process is capped at 8 GiB so that moto fails here rather than the machine.
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

import boto3
from moto.server import ThreadedMotoServer

CREDENTIALS = {  # moto takes any; these name no account
    "AWS_ACCESS_KEY_ID": "bench-key",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def files(folder: Path, count: int, kib: int) -> list[Path]:
    folder.mkdir(parents=True)
    block = os.urandom(kib << 10)
    paths = []
    for i in range(count):
        path = folder / f"file{i:05}.bin"
        path.write_bytes(block[:-8] + i.to_bytes(8, "big"))
        paths.append(path)
    return paths


def timed(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "docket.cli", *args], check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--kib", type=int, default=256)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
    os.environ.update(CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(
            Bucket="bench", ObjectLockEnabledForBucket=True
        )
        with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
            root = Path(scratch)
            inputs = files(root / "in", args.files, args.kib)
            mb = sum(p.stat().st_size for p in inputs) / 1e6
            print(
                f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
                f"{platform.python_version()}; {len(inputs)} files x {args.kib} KiB "
                f"({mb:.0f} MB); bucket: moto (an emulator) on loopback, in this process"
            )
            lockers = {
                "folder": [],
                "bucket": [
                    "--store",
                    f"s3://bench/locker?endpoint={endpoint}&region=us-east-1",
                    "--retention-days",
                    "1",
                ],
            }
            for name, store in lockers.items():
                locker = str(root / name)
                timed("init", locker, *store)
                ingest = timed("ingest", "--locker", locker, "--defer-analysis", str(root / "in"))
                quick = timed("verify", "--locker", locker, "--quick")
                full = timed("verify", "--locker", locker)
                print(
                    f"{name:>6}: ingest {ingest:6.2f} s ({mb / ingest:6.1f} MB/s, "
                    f"{len(inputs) / ingest:6.1f} files/s); verify --quick {quick:5.2f} s; "
                    f"verify (re-hash) {full:5.2f} s"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
