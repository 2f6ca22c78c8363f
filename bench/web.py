"""Web app load: requests/s for the item grid and the item page, 20 concurrent clients on
loopback, against a locker of --items items (default 10,000) in one case, of which --photos
(default 2,000) are analysed photos (metadata, previews, PDQ hashes: the item page looks up
near-duplicates) and the rest short text files.

Run by hand: .venv/bin/python bench/web.py [--items 10000] [--photos 2000] [--requests 400]
The server is `docket serve` (uvicorn, one process); the clients are threads in this script
on the same 2-core machine, so both share the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from docket._samples import PhotoFacts, draw_scene, exif_for

PASSWORD = "correct horse battery"


def docket(*args: str) -> list[str]:
    return [sys.executable, "-m", "docket.cli", *args]


def make_files(folder: Path, count: int) -> None:
    folder.mkdir()
    for i in range(count):
        (folder / f"note{i:05}.txt").write_bytes(f"witness statement {i}\n".encode() * 4)


def make_photos(folder: Path, count: int) -> None:
    """Distinct small photos with EXIF (time, GPS), drawn by code."""
    folder.mkdir()
    facts = PhotoFacts("2024:03:01 12:34:56", "+03:00", 33.5043, 36.2842, 712.5)
    for i in range(count):
        draw_scene(i, (640, 480)).save(folder / f"IMG_{i:05}.jpg", "JPEG", exif=exif_for(facts))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def load(client_count: int, requests: int, url: str, token: str) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []

    def one(_: int) -> None:
        start = time.perf_counter()
        httpx.get(url, headers=headers, timeout=60).raise_for_status()
        latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(client_count) as pool:
        list(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return requests / elapsed, latencies[int(len(latencies) * 0.95)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--photos", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        root = Path(scratch)
        locker = root / "locker"
        make_files(root / "files", args.items - args.photos)
        make_photos(root / "photos", args.photos)
        subprocess.run(docket("init", str(locker)), check=True, stdout=subprocess.DEVNULL)
        started = time.perf_counter()
        subprocess.run(
            docket(
                "ingest", "--json", "--case", "Bench", "--locker", str(locker), str(root / "photos")
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(
            f"ingested and analysed {args.photos} photos in {time.perf_counter() - started:.0f} s"
        )
        subprocess.run(
            docket(
                "ingest",
                "--defer-analysis",
                "--json",
                "--case",
                "Bench",
                "--locker",
                str(locker),
                str(root / "files"),
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            docket(
                "user", "add", "ada", "--role", "admin", "--password-stdin", "--locker", str(locker)
            ),
            input=PASSWORD,
            text=True,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        token = subprocess.run(
            docket("user", "token", "ada", "--locker", str(locker)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        port = free_port()
        server = subprocess.Popen(docket("serve", "--port", str(port), "--locker", str(locker)))
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    httpx.get(f"{base}/api/health", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            headers = {"Authorization": f"Bearer {token}"}
            cases = httpx.get(f"{base}/api/cases", headers=headers).json()
            grid = f"{base}/api/cases/{cases[0]['id']}/items"
            first = httpx.get(grid, headers=headers, timeout=60).json()[0]
            assert first["media_type"] == "image/jpeg", first  # the photos arrived first
            item = first["sha256"]
            case = cases[0]["id"]
            print(
                f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
                f"{platform.python_version()}; {args.items} items ({args.photos} photos) in one "
                "case; 20 clients, "
                f"{args.requests} requests each run, loopback"
            )
            for label, url, count in (
                ("item grid (JSON, page of 100)", grid, max(20, args.requests // 10)),
                ("item page (HTML, a photo)", f"{base}/items/{item}", args.requests),
                ("item (JSON API)", f"{base}/api/items/{item}", args.requests),
                ("near-duplicates (JSON API)", f"{base}/api/items/{item}/similar", args.requests),
                (
                    "case timeline (HTML)",
                    f"{base}/cases/{case}/timeline",
                    max(20, args.requests // 20),
                ),
            ):
                rate, p95 = load(20, count, url, token)
                print(f"  {label:<28} {rate:8.1f} requests/s   p95 {p95 * 1000:7.1f} ms")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
