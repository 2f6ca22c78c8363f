"""Workers in processes of their own, on a real PostgreSQL catalogue (skipped without
DOCKET_TEST_POSTGRES_URL): an ingest killed after an item's commit leaves the item's job; two
workers and an ingest at once, with a worker killed by SIGKILL mid-job, finish every job once in
effect and `verify` passes; a failed job keeps its reason and runs again when retried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import POSTGRES_URL, docket_command, fresh_database, photo
from sqlalchemy import func, select

from docket.analyse.steps import builtin_steps
from docket.catalogue import schema
from docket.jobs import queue
from docket.jobs.analysis import INGEST_GRACE, defer_analysis
from docket.locker import Locker

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="the job queue needs PostgreSQL: set DOCKET_TEST_POSTGRES_URL"
)
# Short, so a killed worker's job runs again within seconds (the default is 30 s).
WORKER = ["--heartbeat", "0.5", "--stalled-after", "5"]
PATIENCE = 180.0  # seconds before a wait is called stuck (a bound, not a measure)


@pytest.fixture
def locker_path(tmp_path: Path) -> Iterator[Path]:
    with fresh_database("postgresql") as url:
        Locker.create(tmp_path / "locker", actor="tester", database_url=url).close()
        yield tmp_path / "locker"


def photos(folder: Path, count: int, first_seed: int) -> Path:
    for seed in range(first_seed, first_seed + count):
        photo(folder, f"p{seed}.jpg", seed=seed)
    return folder


def docket(locker: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*docket_command(), *[str(a) for a in args], "--locker", str(locker)],
        capture_output=True,
        text=True,
        check=False,
    )


def start(locker: Path, *args: str | Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*docket_command(), *[str(a) for a in args], "--locker", str(locker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def jobs(locker: Path) -> list[queue.Job]:
    with Locker.open(locker) as opened, opened.engine.connect() as conn:
        return queue.jobs(conn)


def wait_until(what: str, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not done():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


def results_per_key(locker: Path) -> tuple[set[str], Counter[tuple[str, str, str]], int]:
    """The items, the ok results per (item, step, version), and the result events."""
    with Locker.open(locker) as opened, opened.engine.connect() as conn:
        items = set(conn.execute(select(schema.items.c.sha256)).scalars())
        r = schema.results.c
        ok = Counter(
            (row.item_sha256, row.step, row.step_version)
            for row in conn.execute(
                select(r.item_sha256, r.step, r.step_version).where(r.status == "ok")
            )
        )
        events = schema.events.c
        recorded = len(
            conn.execute(select(events.seq).where(events.action.like("%.recorded"))).all()
        )
    return items, ok, recorded


def assert_each_step_once(locker: Path) -> None:
    items, ok, recorded = results_per_key(locker)
    wanted = {step.name: step.version for step in builtin_steps() if step.applies_to("image/jpeg")}
    for item in items:
        for name, version in wanted.items():
            assert ok[(item, name, version)] == 1, (item[:12], name)
    assert sum(ok.values()) == recorded  # one custody event per result, none twice
    with Locker.open(locker) as opened, opened.engine.connect() as conn:
        size = len(conn.execute(select(schema.events.c.seq)).all())
        signed = conn.execute(select(func.max(schema.checkpoints.c.tree_size))).scalar_one()
    assert signed == size - 1  # the workers' last checkpoint covers all but its own event


def acknowledge_one(process: subprocess.Popen[bytes]) -> None:
    """Read an ingest's JSON lines until one file is acknowledged (its item committed)."""
    assert process.stdout is not None
    while line := process.stdout.readline():
        if json.loads(line).get("type") == "file":
            return
    raise AssertionError("the ingest ended without acknowledging a file")


def test_an_ingest_killed_after_an_item_commit_leaves_the_items_job(
    locker_path: Path, tmp_path: Path
) -> None:
    batch = photos(tmp_path / "in", 4, first_seed=1)
    ingest = start(locker_path, "ingest", "--json", "--defer-analysis", batch)
    acknowledge_one(ingest)
    ingest.send_signal(signal.SIGKILL)
    ingest.wait()
    items, _ok, _recorded = results_per_key(locker_path)
    assert items  # at least the acknowledged one
    assert {str(job.args["item"]) for job in jobs(locker_path)} == items
    done = docket(locker_path, "worker", "--until-empty", *WORKER)
    assert done.returncode == 0, done.stderr
    assert {job.status for job in jobs(locker_path)} == {"done"}
    assert_each_step_once(locker_path)
    checked = docket(locker_path, "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_an_ingest_that_analyses_itself_leaves_no_item_without_its_job_or_analysis(
    locker_path: Path, tmp_path: Path
) -> None:
    """Killed while analysing in-process: every item has its analysis recorded (its job
    withdrawn in the same transaction) or its job, kept back for the ingest's grace."""
    ingest = start(locker_path, "ingest", "--json", photos(tmp_path / "in", 4, first_seed=1))
    acknowledge_one(ingest)
    ingest.send_signal(signal.SIGKILL)
    ingest.wait()
    items, ok, _recorded = results_per_key(locker_path)
    queued = {str(job.args["item"]): job for job in jobs(locker_path)}
    wanted = {(s.name, s.version) for s in builtin_steps() if s.applies_to("image/jpeg")}
    assert items
    for item in items:
        analysed = all(ok[(item, name, version)] == 1 for name, version in wanted)
        assert analysed != (item in queued), item[:12]  # one or the other, never neither
    assert all(job.status == "queued" and job.scheduled_at for job in queued.values())


def test_two_workers_and_an_ingest_with_a_worker_killed_mid_job(
    locker_path: Path, tmp_path: Path
) -> None:
    first = start(locker_path, "worker", *WORKER)
    ingest = start(
        locker_path, "ingest", "--json", "--defer-analysis", photos(tmp_path / "a", 3, 1)
    )
    wait_until("a running job", lambda: any(j.status == "running" for j in jobs(locker_path)))
    first.send_signal(signal.SIGKILL)
    first.wait()
    stalled = {job.id for job in jobs(locker_path) if job.status == "running"}
    assert stalled  # the killed worker's job, left running with no one beating its heart
    ingest.wait()
    others = [start(locker_path, "worker", *WORKER) for _ in range(2)]
    second = start(
        locker_path, "ingest", "--json", "--defer-analysis", photos(tmp_path / "b", 3, 4)
    )
    try:
        assert second.wait() == 0
        items = results_per_key(locker_path)[0]
        assert len(items) == 6
        wait_until(
            "every job done",
            lambda: (
                {j.status for j in jobs(locker_path)} == {"done"}
                and len(jobs(locker_path)) == len(items)
            ),
        )
    finally:
        for worker in others:
            worker.send_signal(signal.SIGTERM)
        for worker in others:
            worker.wait()
    retried = {job.id: job.retried for job in jobs(locker_path)}
    assert all(retried[job] >= 1 for job in stalled)
    assert_each_step_once(locker_path)
    checked = docket(locker_path, "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_failed_job_keeps_its_reason_and_runs_again_when_retried(
    locker_path: Path, tmp_path: Path
) -> None:
    taken = docket(
        locker_path, "ingest", "--json", "--defer-analysis", photos(tmp_path / "in", 1, 1)
    )
    [item] = [r["sha256"] for r in map(json.loads, taken.stdout.splitlines()) if r.get("sha256")]
    blob = locker_path / "objects" / item[:2] / item[2:]
    aside = tmp_path / "aside"
    blob.rename(aside)  # this worker's store cannot give it: not the item's fault
    assert docket(locker_path, "worker", "--until-empty", *WORKER).returncode == 0
    [job] = jobs(locker_path)
    assert job.status == "failed" and job.reason is not None
    assert item[:12] in job.reason and "not in the store" in job.reason
    listed = docket(locker_path, "jobs", "--status", "failed")
    assert listed.stdout.splitlines()[0] == "1 failed"
    assert f"{job.id}\tfailed\tanalyse {item[:12]}" in listed.stdout
    assert "not in the store" in listed.stdout
    aside.rename(blob)
    assert docket(locker_path, "jobs", "retry", str(job.id)).returncode == 0
    again = docket(locker_path, "jobs", "retry", str(job.id))  # queued now, not failed
    assert again.returncode == 1 and "only a failed job" in again.stderr
    assert docket(locker_path, "worker", "--until-empty", *WORKER).returncode == 0
    [job] = jobs(locker_path)
    # At least the retry by hand (a worker slowed by a loaded machine can be taken for
    # stalled and its job put back once more: harmless, the job being idempotent).
    assert job.status == "done" and job.retried >= 1 and job.attempts >= 2
    assert_each_step_once(locker_path)
    checked = docket(locker_path, "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_job_held_back_for_an_ingest_does_not_hold_back_the_items_job_due_now(
    locker_path: Path, tmp_path: Path
) -> None:
    taken = docket(
        locker_path, "ingest", "--json", "--defer-analysis", photos(tmp_path / "in", 1, 1)
    )
    [item] = [r["sha256"] for r in map(json.loads, taken.stdout.splitlines()) if r.get("sha256")]
    with Locker.open(locker_path) as opened, opened.engine.connect() as conn, conn.begin():
        [first] = queue.jobs(conn)
        assert queue.withdraw(conn, first.id)
        held = defer_analysis(conn, item, "image/jpeg", {}, "tester", delay=INGEST_GRACE)
        due = defer_analysis(conn, item, "image/jpeg", {}, "tester")
    assert docket(locker_path, "worker", "--until-empty", *WORKER).returncode == 0
    status = {job.id: job.status for job in jobs(locker_path)}
    assert status == {held: "queued", due: "done"}
    listed = docket(locker_path, "jobs", "--status", "queued").stdout.splitlines()
    assert listed[1].startswith(f"{held}\tqueued\tanalyse {item[:12]} (not before 20")
    assert_each_step_once(locker_path)


def test_a_worker_that_cannot_sign_its_checkpoint_stops_and_says_why(
    locker_path: Path, tmp_path: Path
) -> None:
    """Its periodic checkpoint cannot be appended to checkpoints.log (a folder in its way):
    the worker stops by itself, after the job, with one line naming the file."""
    log = locker_path / "checkpoints.log"
    log.rename(tmp_path / "checkpoints.log")
    log.mkdir()
    worker = subprocess.Popen(
        [*docket_command(), "worker", *WORKER, "--locker", str(locker_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    batch = photos(tmp_path / "in", 1, 1)
    taken = docket(locker_path, "ingest", "--defer-analysis", batch)
    assert taken.returncode == 1 and "checkpoints.log" in taken.stderr  # the ingest's own
    out, err = worker.communicate(timeout=PATIENCE)
    assert worker.returncode == 1
    assert out.splitlines()[-1].endswith(": done")
    lines = err.splitlines()
    assert len(lines) == 1, err
    [line] = lines
    assert line.startswith(f"docket: {log}: checkpoint") and "could not be appended" in line
