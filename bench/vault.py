"""What a vault costs: ingest photos/s and large-file MB/s, and `verify` time, in a vault
beside the same in a plain locker.

Run by hand: .venv/bin/python bench/vault.py [--photos 100] [--large 1] [--large-mib 512]
[--rounds 3] (each round measures the three in another order; medians are shown).
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
from statistics import median

from _photos import twelve_megapixel_jpeg, unique_copies
from ingest import large_files


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of `command`, and its CPU seconds (user + system) with its children's
    (the analysis workers): a figure a busy machine disturbs less."""
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def docket(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *map(str, args)]


def measure(
    locker: Path, vault: bool, photos: Path, large: Path, env: dict[str, str], session: bool
) -> dict[str, tuple[float, float]]:
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
        return {
            "photos": timed(docket("ingest", "--locker", locker, photos), env),
            "large": timed(docket("ingest", "--locker", locker, "--defer-analysis", large), env),
            "verify": timed(docket("verify", "--locker", locker), env),
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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if min(args.photos, args.large, args.large_mib, args.rounds) < 1:
        sys.exit("bench: give --photos, --large, --large-mib and --rounds of at least 1")
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
        kinds = {  # name: (folder, vault, session)
            "plain": ("plain", False, False),
            "vault (unlocked session)": ("session", True, True),
            "vault (passphrase file)": ("vault", True, False),
        }
        found: dict[str, dict[str, list[tuple[float, float]]]] = {k: {} for k in kinds}
        order = list(kinds)
        for turn in range(args.rounds):  # each round in another order: drift in load evens out
            for name in order[turn % 3 :] + order[: turn % 3]:
                folder, vault, session = kinds[name]
                figures = measure(
                    root / f"{folder}{turn}", vault, photos_in, large_in, env, session
                )
                for what, pair in figures.items():
                    found[name].setdefault(what, []).append(pair)
        runs = {
            name: {
                what: (median(w for w, _ in pairs), median(c for _, c in pairs))
                for what, pairs in figures.items()
            }
            for name, figures in found.items()
        }
        plain = runs["plain"]
        print(f"medians of {args.rounds} round(s):")
        for name, figures in runs.items():
            print(
                f"{name}: {len(photos) / figures['photos'][0]:.2f} photos/s, "
                f"{big_mb / figures['large'][0]:.0f} MB/s large, "
                f"verify {figures['verify'][0]:.1f} s"
            )
        for name, figures in list(runs.items())[1:]:
            for what in ("photos", "large"):
                cost = 1 - plain[what][0] / figures[what][0]
                print(f"{name} cost, {what}: {cost:.0%} of throughput (target: at most 15%)")
            print(f"{name} verify: {figures['verify'][0] / plain['verify'][0]:.2f}x the plain time")
            for what in ("photos", "large", "verify"):
                print(
                    f"{name} CPU seconds, {what}: {figures[what][1]:.1f} against plain "
                    f"{plain[what][1]:.1f} ({figures[what][1] / plain[what][1] - 1:+.0%})"
                )
        print(f"one unlock (Argon2id and slot): {unlock_time(root / 'vault0', env):.2f} s")
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
