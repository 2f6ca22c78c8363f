"""`docket verify` re-hashing 1 GiB of blobs, beside `sha256sum` over the same files.

Run by hand: .venv/bin/python bench/verify.py [--files 32] [--mib 1024] [--rounds 3]
Target (issue 16): `verify` >= 1.8x `sha256sum`'s speed (both cores busy). `verify` computes
SHA-256 and SHA-512 of every blob and checks the whole catalogue and log, from the start of
a process; `sha256sum` only hashes. Also shown: the re-hash alone, in this process, on every
core (as verify runs it) and on one thread (as verify did before). The runs alternate and
the best of each is kept, as the machine is shared; every file sits in the page cache.
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

from docket import rehash
from docket.locker import Locker


def docket(*args: str) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *args]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def make_inputs(folder: Path, files: int, mib: int) -> None:
    folder.mkdir()
    block = os.urandom(1 << 20)
    for i in range(files):
        with (folder / f"blob{i:04}.bin").open("wb") as handle:
            for j in range(mib // files):
                handle.write(block[:-8] + (i * mib + j).to_bytes(8, "big"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=32)
    parser.add_argument("--mib", type=int, default=1024, help="all files together")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.files < 1 or args.mib < args.files or args.rounds < 1:
        sys.exit("bench: give --files >= 1, --mib >= --files and --rounds >= 1")
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        root = Path(scratch)
        make_inputs(root / "in", args.files, args.mib)
        locker_path = root / "locker"
        subprocess.run(docket("init", str(locker_path)), check=True, stdout=subprocess.DEVNULL)
        subprocess.run(
            docket("ingest", "--defer-analysis", "--locker", str(locker_path), str(root / "in")),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        blobs = sorted(str(p) for p in (locker_path / "objects").glob("*/*"))
        size_mb = sum(os.path.getsize(p) for p in blobs) / 1e6
        os.sync()
        version = subprocess.run(["sha256sum", "--version"], capture_output=True, text=True)
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f} at the start, Python {platform.python_version()}, "
            f"{version.stdout.splitlines()[0]}"
        )
        print(f"blobs: {len(blobs)} files, {size_mb:,.0f} MB in all, in the page cache")
        best = dict.fromkeys(("verify", "sha256sum", "one thread", "all threads"), float("inf"))
        with Locker.open(locker_path, writable=False) as locker:
            names = [Path(p).parent.name + Path(p).name for p in blobs]
            for _ in range(args.rounds):
                best["sha256sum"] = min(best["sha256sum"], timed(["sha256sum", *blobs]))
                verify = docket("verify", "--locker", str(locker_path))
                best["verify"] = min(best["verify"], timed(verify))
                for label, threads in (("one thread", 1), ("all threads", None)):
                    start = time.perf_counter()
                    for _digest in rehash.digests(locker.store, names, threads=threads):
                        pass
                    best[label] = min(best[label], time.perf_counter() - start)
        print(f"best of {args.rounds} runs each:")
        for label, seconds in (
            ("docket verify (SHA-256 + SHA-512, all checks)", best["verify"]),
            (f"re-hash alone, {os.cpu_count()} threads (as verify does)", best["all threads"]),
            ("re-hash alone, one thread (as verify did before)", best["one thread"]),
            ("sha256sum", best["sha256sum"]),
        ):
            print(f"  {label:<48} {size_mb / seconds:8.1f} MB/s  ({seconds:.2f} s)")
        print(f"  verify / sha256sum speed: {best['sha256sum'] / best['verify']:.2f}x")


if __name__ == "__main__":
    main()
