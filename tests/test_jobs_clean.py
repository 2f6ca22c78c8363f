"""`docket jobs clean --older-than DAYS` (issue 16): the jobs that finished more than DAYS
days ago leave the queue with their events; a failed job stays until retried unless --failed,
and then its reason goes with it; a queued job and a recent one stay; the analysis the jobs
recorded stays, and `verify` passes. Days cannot pass in a test: the jobs' events are moved
back in time in the database instead (the times procrastinate's query reads)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import docket_command, photo, take
from sqlalchemy import func, select, text

from docket.catalogue import schema
from docket.jobs import failures, queue
from docket.locker import Locker


def statuses(locker: Locker) -> dict[str, str]:
    """Each job's item (its first 12 digits) and status."""
    with locker.engine.connect() as conn:
        return {str(job.args["item"])[:12]: job.status for job in queue.jobs(conn)}


def age(locker: Locker, item: str, days: int) -> None:
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(
            text(
                "UPDATE procrastinate_events SET at = at - make_interval(days => :days) "
                "WHERE job_id IN (SELECT id FROM procrastinate_jobs WHERE args->>'item' = :item)"
            ),
            {"days": days, "item": item},
        )


def test_old_finished_jobs_leave_the_queue_and_failed_ones_only_when_asked(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")
    taken = take(
        locker, *(photo(tmp_path / "in", f"p{s}.jpg", s) for s in (1, 2, 3)), defer_analysis=True
    )
    old, recent, broken = (str(o.sha256) for o in taken.outcomes)
    blob = locker.path / "objects" / broken[:2] / broken[2:]
    blob.rename(tmp_path / "aside")  # this worker cannot read it: its job fails
    worker = subprocess.run(
        [*docket_command(), "worker", "--until-empty", "--locker", str(locker.path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert worker.returncode == 0, worker.stderr
    (tmp_path / "aside").rename(blob)
    waiting = str(
        take(locker, photo(tmp_path / "later", seed=4), defer_analysis=True).outcomes[0].sha256
    )
    for item in (old, broken, waiting):
        age(locker, item, 3)
    assert statuses(locker) == {
        old[:12]: "done",
        recent[:12]: "done",
        broken[:12]: "failed",
        waiting[:12]: "queued",
    }
    with locker.engine.connect() as conn:
        results = conn.execute(select(func.count()).select_from(schema.results)).scalar_one()
        [failed_id] = [job.id for job in queue.jobs(conn, "failed")]
        assert failures.latest(conn, [failed_id])

    cleaned = cli("jobs", "clean", "--older-than", "2", "--locker", locker.path)
    assert cleaned.code == 0, cleaned.err
    assert cleaned.out == "removed 1 job(s) that finished more than 2 day(s) ago\n"
    assert statuses(locker) == {recent[:12]: "done", broken[:12]: "failed", waiting[:12]: "queued"}

    cleaned = cli("jobs", "clean", "--older-than", "2", "--failed", "--locker", locker.path)
    assert cleaned.code == 0 and cleaned.out.startswith("removed 1 job(s)")
    assert statuses(locker) == {recent[:12]: "done", waiting[:12]: "queued"}
    with locker.engine.connect() as conn:
        assert failures.latest(conn, [failed_id]) == {}  # its reason went with it
        left = conn.execute(
            text(
                "SELECT count(*) FROM procrastinate_events e WHERE NOT "
                "EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.id = e.job_id)"
            )
        )
        assert left.scalar_one() == 0
        after = conn.execute(select(func.count()).select_from(schema.results)).scalar_one()
    assert after == results  # the analysis the jobs recorded stays

    assert cli("jobs", "clean", "--older-than", "0", "--locker", locker.path).out.startswith(
        "removed 1 job(s)"
    )
    assert statuses(locker) == {waiting[:12]: "queued"}  # never a job still to run
    assert cli("verify", "--locker", locker.path).code == 0


def test_clean_on_sqlite_says_there_is_no_queue(locker: Locker, cli: Any) -> None:
    if locker.engine.dialect.name != "sqlite":
        pytest.skip("SQLite has no queue")
    done = cli("jobs", "clean", "--older-than", "1", "--locker", locker.path)
    assert done.code == 1 and "which has no job queue" in done.err
