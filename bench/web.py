"""Web app load: requests/s and p95 latency of the item grid (JSON, first and last page), the
item page and the item API, the case's dashboard, audit and timeline, 20 concurrent clients
on loopback, driven by wrk (a C load generator, so the clients take little of the server's
CPU).

The locker holds --items items in one case, made one of three ways:
  default      ingested through the CLI: --photos (default 2,000) analysed photos (metadata,
               previews, PDQ hashes) and the rest short text files;
  --generated  written straight into the catalogue by bench/_catalogue.py (rows and tiny
               blobs, a metadata result each: a capture time on one of 730 days, a position
               for every other item; no previews or hashes): a million items in minutes;
  --locker P   an existing locker (e.g. one generated before), with a case named Bench.

Run by hand: .venv/bin/python bench/web.py [--items 10000] [--generated] [--duration 10]
  [--workers N] [--threads T]
The server is `docket serve --workers N --threads T` (uvicorn; N processes, default 1, each
working on T requests at once, default serve's); its CPU time is its processes' together.
Needs wrk: apt-get install -y wrk
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from _catalogue import generate

from docket._samples import PhotoFacts, draw_scene, exif_for
from docket.locker import Locker
from docket.web import DEFAULT_THREADS, grid_pages
from docket.web.case_routes import DEEPEST_BY_NUMBER
from docket.web.workers import GRACE

PASSWORD = "correct horse battery"
CLIENTS = 20
PAGE_SIZE = 100  # the grid's (docket.web.case_routes.PAGE_SIZE)

# wrk's Lua hooks: count every answer that is not 2xx (wrk itself counts only >= 400) and
# print one line the bench parses: requests, seconds, bad answers, socket errors, p95 and
# mean latency in ms.
WRK_SCRIPT = """
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) bad = 0 end
response = function(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  local nonok = 0
  for _, thread in ipairs(threads) do nonok = nonok + thread:get("bad") end
  local e = summary.errors
  io.write(string.format("BENCH %d %.3f %d %d %.1f %.1f\\n", summary.requests,
    summary.duration / 1e6, nonok, e.connect + e.read + e.write + e.timeout,
    latency:percentile(95) / 1000, latency.mean / 1000))
end
"""


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


def ingest_locker(root: Path, locker: Path, items: int, photos: int) -> None:
    make_files(root / "files", items - photos)
    make_photos(root / "photos", photos)
    started = time.perf_counter()
    for folder, extra in ((root / "photos", ()), (root / "files", ("--defer-analysis",))):
        subprocess.run(
            docket(
                "ingest", *extra, "--json", "--case", "Bench", "--locker", str(locker), str(folder)
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    took = time.perf_counter() - started
    print(f"ingested {items} items ({photos} photos analysed) in {took:.0f} s")


def generated_locker(locker: Path, items: int) -> None:
    started = time.perf_counter()
    with Locker.open(locker) as opened:
        generate(opened, items, analysed=True)
    print(f"generated {items} items in {time.perf_counter() - started:.0f} s")


def api_token(locker: Path) -> str:
    """A token of an admin "bench" (added when the locker has none)."""
    subprocess.run(
        docket(
            "user", "add", "bench", "--role", "admin", "--password-stdin", "--locker", str(locker)
        ),
        input=PASSWORD,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return subprocess.run(
        docket("user", "token", "bench", "--locker", str(locker)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def last_page_key(locker: Path, case_id: int, last_page: int) -> str:
    """The item before the last page (its `after` key), read from the catalogue: pages by
    number past DEEPEST_BY_NUMBER are refused, and walking a million items by key is slow."""
    with Locker.open(locker) as opened, opened.engine.connect() as conn:
        offset = max(0, (last_page - 1) * PAGE_SIZE - 1)
        return grid_pages.page(conn, case_id, grid_pages.Cut(1, offset))[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the server has used, its worker processes' with it: the
    server's cost per request, whatever else the machine runs."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue  # a process that ended while the list was read
    ticks = 0
    for one in pids:
        try:
            fields = _stat(one)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def serving(locker: Path, workers: int, threads: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    server = subprocess.Popen(
        docket(
            "serve",
            "--no-replay",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--port",
            str(port),
            "--locker",
            str(locker),
        )
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(f"{base}/api/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base, server.pid
    finally:
        server.terminate()
        try:  # uvicorn waits for requests in flight; a parent of workers, GRACE s at most
            server.wait(GRACE + 30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wrk(url: str, token: str, seconds: int, script: Path, server: int) -> str:
    """One wrk run against `url`: its figures, or what went wrong (never a good figure then)."""
    cpu = cpu_seconds(server)
    run = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CLIENTS}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next((row for row in run.stdout.splitlines() if row.startswith("BENCH ")), None)
    if line is None:
        return f"wrk printed no figures: {run.stdout.strip()[-200:]}"
    count, duration, nonok, socket_errors, p95, mean = line.split()[1:]
    if int(count) == 0:
        return f"FAILED: no answer within the {seconds} s run"
    if int(nonok) or int(socket_errors):
        return f"FAILED: {nonok} non-2xx answers, {socket_errors} socket errors of {count}"
    rate = int(count) / float(duration)
    per_request = (cpu_seconds(server) - cpu) / int(count) * 1000
    return (
        f"{rate:8.1f} requests/s   p95 {float(p95):7.1f} ms   mean {float(mean):6.1f} ms   "
        f"server CPU {per_request:5.1f} ms/request"
    )


def _load() -> str:
    """The load averages over 1, 5 and 15 minutes, as `uptime` prints them."""
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--photos", type=int, default=2_000)
    parser.add_argument("--generated", action="store_true", help="rows written in bulk")
    parser.add_argument("--locker", type=Path, help="measure this locker as it is")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    parser.add_argument("--workers", type=int, default=1, help="docket serve --workers")
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help="docket serve --threads"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        root = Path(scratch)
        script = root / "bench.lua"
        script.write_text(WRK_SCRIPT)
        locker = args.locker or root / "locker"
        if args.locker is None:
            subprocess.run(docket("init", str(locker)), check=True, stdout=subprocess.DEVNULL)
            if args.generated:
                generated_locker(locker, args.items)
            else:
                ingest_locker(root, locker, args.items, args.photos)
        token = api_token(locker)
        with serving(locker, args.workers, args.threads) as (base, server):
            headers = {"Authorization": f"Bearer {token}"}
            cases = httpx.get(f"{base}/api/cases", headers=headers).json()
            case = next(c["id"] for c in cases if c["name"] == "Bench")
            grid = f"{base}/api/cases/{case}/items"
            first = httpx.get(grid, headers=headers, timeout=600).json()[0]
            item = first["sha256"]
            count = args.items
            last_page = max(1, -(-count // PAGE_SIZE))
            deepest = min(last_page, DEEPEST_BY_NUMBER)  # deeper pages go by key
            made = "ingested" if not (args.generated or args.locker) else "generated"
            key = last_page_key(locker, case, last_page)
            print(
                f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
                f"{platform.python_version()}, load average {_load()} before; "
                f"{count} items in one case ({made}); "
                f"{version.splitlines()[0].split(' Copyright')[0]}, -t2 -c{CLIENTS} "
                f"-d{args.duration}s; server: docket serve --workers {args.workers} "
                f"--threads {args.threads}; loopback"
            )
            for label, url in (
                ("item grid (JSON, page 1)", grid),
                (f"item grid (JSON, page {last_page} by key)", f"{grid}?after={key}"),
                ("item page (HTML)", f"{base}/items/{item}"),
                ("item (JSON API)", f"{base}/api/items/{item}"),
                (f"item grid (JSON, page {deepest} by number)", f"{grid}?page={deepest}"),
                ("item grid filtered, all pass (JSON)", f"{grid}?type=text/&status=new"),
                ("item grid filtered, few pass (JSON)", f"{grid}?status=verified"),
                ("item grid, a capture day (JSON)", f"{grid}?since=2024-03-01&until=2024-03-01"),
                ("item grid, a capture month (JSON)", f"{grid}?since=2024-03-01&until=2024-03-31"),
                ("item grid, with a position (JSON)", f"{grid}?gps=true"),
                ("case dashboard (JSON)", f"{base}/api/cases/{case}/dashboard"),
                ("case audit (JSON)", f"{base}/api/cases/{case}/audit"),
                (
                    "case audit, one kind none has (JSON)",
                    f"{base}/api/cases/{case}/audit?kind=reveal",
                ),
                ("case timeline (JSON)", f"{base}/api/cases/{case}/timeline"),
            ):
                print(f"  {label:<40} {wrk(url, token, args.duration, script, server)}", flush=True)
            print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
