"""kill -9 of a process appending to the custody log from several threads through the group
committer: every append it acknowledged is in the log afterwards, and `docket verify` passes."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys

import pytest
from sqlalchemy import select

from docket.catalogue import identity, schema
from docket.custody import log
from docket.locker import Locker
from docket.verify import verify

# Appends from six threads until killed; prints "seq actor n" once each append has returned.
WRITER = """
import sys, threading
from pathlib import Path
from docket.catalogue.group_commit import committer
from docket.custody import log
from docket.locker import Locker

locker = Locker.open(Path(sys.argv[1]))
grouped = committer(locker.engine)
printing = threading.Lock()

def writer(index):
    n = 0
    while True:
        with grouped.transaction() as conn:
            made = log.append(conn, f"writer-{index}", "test.note", details={"n": n})
        with printing:
            sys.stdout.write(f"{made.seq} {made.actor} {n}\\n")
            sys.stdout.flush()
        n += 1

threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
for thread in threads:
    thread.start()
"""


def appends_killed(
    locker: Locker, rng: random.Random, most_lines: int
) -> tuple[bool, dict[int, tuple[str, int]]]:
    """Run WRITER on the locker and SIGKILL it after a random number of acknowledged appends
    (up to `most_lines`) and a random pause; whether it was still running when killed, and
    what it acknowledged: seq -> (actor, n)."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(locker.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[bytes] = []
    wanted = rng.randint(1, most_lines)
    while len(lines) < wanted and (line := process.stdout.readline()):
        lines.append(line)
    # a random moment: the appends go on while up to 4 KiB more of their lines are read
    reader = process.stdout
    assert isinstance(reader, io.BufferedReader)  # read1: what the buffer holds, or one read
    lines.append(reader.read1(rng.randint(1, 4096)))
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    lines.append(process.stdout.read())
    process.wait()
    acknowledged = {}
    for line in b"".join(lines).splitlines(keepends=True):
        fields = line.split()
        if line.endswith(b"\n") and len(fields) == 3:  # the kill can cut the last one short
            acknowledged[int(fields[0])] = (fields[1].decode(), int(fields[2]))
    return killed, acknowledged


def test_kill_9_loses_no_acknowledged_grouped_append(
    locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    if locker.engine.dialect.name != "sqlite":
        monkeypatch.setenv(identity.ENV, locker.engine.url.render_as_string(hide_password=False))
    rng = random.Random(16)
    locker.close()
    for _ in range(5):
        killed, acknowledged = appends_killed(locker, rng, most_lines=400)
        assert killed, "the writer stopped before it was killed"
        assert acknowledged
        with Locker.open(locker.path) as reopened:
            with reopened.engine.connect() as conn:
                size = log.size(conn)
                seqs = [s for (s,) in conn.execute(select(schema.events.c.seq).order_by("seq"))]
                events = {e.seq: e for e in log.events(conn)}
            assert seqs == list(range(size))
            for seq, (actor, n) in acknowledged.items():
                assert seq in events, f"acknowledged event {seq} was lost"
                assert events[seq].actor == actor and events[seq].details == {"n": n}
            report = verify(reopened)
            assert report.ok, report.problems
