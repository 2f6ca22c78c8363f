"""What a vault costs: ingest photos/s and large-file MB/s, and `verify` time, in a vault
beside the same in a plain locker.

Run by hand: .venv/bin/python bench/vault.py [--photos 100] [--large 1] [--large-mib 512]
Target (issue 15): a vault costs at most 15% of ingest throughput. Each locker is made fresh
in a temporary folder; the inputs sit in the page cache for both; the passphrase comes from a
file (DOCKET_PASSPHRASE_FILE), so each vault command also pays one Argon2id unlock.
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
from ingest import large_files


def timed(command: list[str], env: dict[str, str]) -> float:
    os.sync()
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def docket(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *map(str, args)]


def measure(
    root: Path, vault: bool, photos: Path, large: Path, env: dict[str, str]
) -> dict[str, float]:
    locker = root / ("vault" if vault else "plain")
    subprocess.run(
        docket("init", *(["--vault"] if vault else []), locker),
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    return {
        "photos": timed(docket("ingest", "--locker", locker, photos), env),
        "large": timed(docket("ingest", "--locker", locker, "--defer-analysis", large), env),
        "verify": timed(docket("verify", "--locker", locker), env),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--large", type=int, default=1)
    parser.add_argument("--large-mib", type=int, default=512)
    args = parser.parse_args()
    if args.photos < 1 or args.large < 1 or args.large_mib < 1:
        sys.exit("bench: give --photos, --large and --large-mib of at least 1")
    with tempfile.TemporaryDirectory(prefix="docket-bench-vault-") as scratch:
        root = Path(scratch)
        photos = unique_copies(twelve_megapixel_jpeg(), root / "photos", args.photos)
        big = large_files(root / "large", args.large, args.large_mib)
        big_mb = sum(p.stat().st_size for p in big) / 1e6
        secret = root / "passphrase"
        secret.write_text("bench passphrase\n")
        env = {**os.environ, "DOCKET_PASSPHRASE_FILE": str(secret)}
        env.pop("DOCKET_DATABASE_URL", None)
        os.sync()
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start"
        )
        print(f"photos: {len(photos)} x 12 MP JPEG; large: {len(big)} x {args.large_mib} MiB")
        plain = measure(root, False, root / "photos", root / "large", env)
        vault = measure(root, True, root / "photos", root / "large", env)
        for name, figures in (("plain", plain), ("vault", vault)):
            print(
                f"{name}: {len(photos) / figures['photos']:.1f} photos/s, "
                f"{big_mb / figures['large']:.0f} MB/s large, verify {figures['verify']:.1f} s"
            )
        for what in ("photos", "large"):
            cost = 1 - plain[what] / vault[what]
            print(f"vault cost, {what}: {cost:.0%} of throughput (target: at most 15%)")
        print(f"verify: {vault['verify'] / plain['verify']:.2f}x the plain locker's time")


if __name__ == "__main__":
    main()
