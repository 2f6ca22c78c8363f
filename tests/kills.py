"""kill -9 at a random moment of an ingest that reports each stored file as a JSON line, for
the tests that then check nothing acknowledged was lost (test_crash, test_s3_store)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from conftest import docket_command


def ingest_killed(
    locker: Path, batch: Path, rng: random.Random, most_lines: int, most_pause: float
) -> tuple[bool, dict[str, str]]:
    """Ingest `batch` in a process of its own and SIGKILL it after a random number of output
    lines (up to `most_lines`) and a random pause (up to `most_pause` seconds), so kills land
    in every stage. Returns whether it was still running when killed, and the files it
    acknowledged (stored or held) before it died: SHA-256 -> name."""
    process = subprocess.Popen(
        [*docket_command(), "ingest", "--locker", str(locker), "--json", str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[bytes] = []
    wanted = rng.randint(0, most_lines)
    while len(lines) < wanted and (line := process.stdout.readline()):
        lines.append(line)
    time.sleep(rng.uniform(0, most_pause))
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    lines.extend(process.stdout.read().splitlines())
    process.wait()
    acknowledged = {}
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the kill can cut the last line short; it was not acknowledged
        if record.get("type") == "file" and record["status"] in ("new", "held"):
            acknowledged[record["sha256"]] = record["name"]
    return killed, acknowledged
