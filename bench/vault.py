"""What a vault costs: ingest photos/s and large-file MB/s, and `verify` time, in a vault
beside the same in a plain locker.

Run by hand: .venv/bin/python bench/vault.py [--photos 100] [--large 1] [--large-mib 512]
Target (issue 15): a vault costs at most 15% of ingest throughput. Each locker is made fresh
in a temporary folder; the inputs sit in the page cache for both. The vault is measured
twice: in an unlocked session (`docket unlock`, its agent holds the key: the cost of the
encryption itself), and with the passphrase from a file (DOCKET_PASSPHRASE_FILE), where each
command also pays one Argon2id derivation (its time is shown on its own). The load average
is printed at the start and the end: figures taken on a busy machine say little.
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

from _photos import twelve_megapixel_jpeg, unique_copies
from ingest import large_files

CPU: dict[str, float] = {}  # CPU seconds (user + system) of each measured command, by label


def timed(command: list[str], env: dict[str, str], label: str = "") -> float:
    """Wall seconds of `command`; its CPU seconds, with its children's (the analysis
    workers), go into CPU under `label`: a figure a busy machine disturbs less."""
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[label] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall


def docket(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *map(str, args)]


def measure(
    locker: Path, vault: bool, photos: Path, large: Path, env: dict[str, str], session: bool
) -> dict[str, float]:
    """Ingest times and verify time in a new locker; a vault's `session`: unlocked once first
    (the agent holds the key, no passphrase file), locked again after."""
    subprocess.run(
        docket("init", *(["--vault"] if vault else []), locker),
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    if session:
        subprocess.run(
            docket("unlock", "--for", "1h", "--locker", locker),
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        env = {k: v for k, v in env.items() if k != "DOCKET_PASSPHRASE_FILE"}
    try:
        name = locker.name
        return {
            "photos": timed(docket("ingest", "--locker", locker, photos), env, f"{name} photos"),
            "large": timed(
                docket("ingest", "--locker", locker, "--defer-analysis", large),
                env,
                f"{name} large",
            ),
            "verify": timed(docket("verify", "--locker", locker), env, f"{name} verify"),
        }
    finally:
        if session:
            subprocess.run(docket("lock", "--locker", locker), stdout=subprocess.DEVNULL, env=env)


def unlock_time(locker: Path, env: dict[str, str]) -> float:
    """One Argon2id derivation and slot unwrap, as every command of a locked vault pays."""
    code = (
        "import sys, time; from pathlib import Path; from docket.locker import read_config; "
        "from docket.vault import unlocking; p = Path(sys.argv[1]); "
        "i = str(read_config(p)['locker_id']); t = time.perf_counter(); "
        "unlocking.obtain_key(p, i, use_agent=False); print(time.perf_counter() - t)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(locker)], check=True, capture_output=True, env=env
    )
    return float(done.stdout)


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
        photos_in, large_in = root / "photos", root / "large"
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
        runs = {
            "plain": measure(root / "plain", False, photos_in, large_in, env, session=False),
            "vault (unlocked session)": measure(
                root / "session", True, photos_in, large_in, env, session=True
            ),
            "vault (passphrase file)": measure(
                root / "vault", True, photos_in, large_in, env, session=False
            ),
        }
        plain = runs["plain"]
        for name, figures in runs.items():
            print(
                f"{name}: {len(photos) / figures['photos']:.2f} photos/s, "
                f"{big_mb / figures['large']:.0f} MB/s large, verify {figures['verify']:.1f} s"
            )
        for name, figures in list(runs.items())[1:]:
            for what in ("photos", "large"):
                cost = 1 - plain[what] / figures[what]
                print(f"{name} cost, {what}: {cost:.0%} of throughput (target: at most 15%)")
            print(f"{name} verify: {figures['verify'] / plain['verify']:.2f}x the plain time")
        for folder, name in (("session", "unlocked session"), ("vault", "passphrase file")):
            for what in ("photos", "large", "verify"):
                ratio = CPU[f"{folder} {what}"] / CPU[f"plain {what}"]
                print(
                    f"CPU seconds, {what}: plain {CPU[f'plain {what}']:.1f}, vault ({name}) "
                    f"{CPU[f'{folder} {what}']:.1f} ({ratio - 1:+.0%})"
                )
        print(f"one unlock (Argon2id and slot): {unlock_time(root / 'vault', env):.2f} s")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
