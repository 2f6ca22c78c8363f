"""The queue itself: deferring a job inside the caller's transaction, withdrawing it, listing
and retrying jobs. It is procrastinate's (migration 0010 applies its schema) and exists only on
PostgreSQL; on SQLite `defer` returns None and the caller runs the work in-process.

A job is deferred by calling procrastinate's SQL function `procrastinate_defer_jobs_v1` on the
caller's SQLAlchemy connection: it is what procrastinate's own `defer` runs (queries.sql,
`defer_jobs`), with the same row type and arguments, but procrastinate's `defer` takes a
connection of its own, so its job would commit apart from the caller's rows: a kill between
the two commits would leave a stored item without its job, or a job for rows rolled back.
Called here, the job commits or rolls back with the rows it is for.

Old finished jobs are removed with procrastinate's own query (`delete_old_jobs`, what its
builtin task `remove_old_jobs` runs), here in one statement with the reasons of the failed
jobs it removes (docket.jobs.failures), so that neither is left without the other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, String, bindparam, text

from docket.errors import DocketError
from docket.jobs import failures
from docket.locker import Locker

QUEUE = "docket"

_DEFER = text(
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock, NULL, "
    "CAST(:args AS jsonb), CASE WHEN CAST(:delay AS float) > 0 "
    "THEN now() + make_interval(secs => CAST(:delay AS float)) END)]"
    "::procrastinate_job_to_defer_v1[]))"
)
_SHOWN = {"todo": "queued", "doing": "running", "succeeded": "done"}
_STORED = {  # each status as Job.status says it: procrastinate's name for it
    "queued": "todo",
    "running": "doing",
    "done": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "aborted": "aborted",
}


class JobError(DocketError):
    """A job cannot be found or acted on, or its attempt failed for what is not the item's fault."""


class NoQueueError(DocketError):
    """The locker's catalogue is SQLite: it has no queue for a worker to run."""


def conninfo(locker: Locker) -> str:
    """libpq's URL of the locker's catalogue, for procrastinate's psycopg connector."""
    url = locker.engine.url
    if url.get_backend_name() != "postgresql":
        raise NoQueueError(
            f"{locker.path}: its catalogue is SQLite, which has no job queue: analysis runs "
            "in-process with `docket ingest` and `docket analyse`; no worker is needed"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def has_queue(conn: Connection | Engine) -> bool:
    """Whether the catalogue behind `conn` (a connection or the engine) has the queue."""
    return conn.dialect.name == "postgresql"


def defer(
    conn: Connection,
    task: str,
    args: Mapping[str, Any],
    lock: str | None = None,
    delay: float = 0,
) -> int | None:
    """Queue `task` with `args` in the caller's transaction (see the module docstring); its id,
    or None on SQLite. Jobs with the same `lock` never run at the same time; a `delay` (seconds)
    leaves the job to the caller until then (a worker takes it only if the caller died)."""
    if not has_queue(conn):
        return None
    found = conn.execute(
        _DEFER,
        {
            "queue": QUEUE,
            "task": task,
            "lock": lock,
            "args": json.dumps(dict(args)),
            "delay": delay,
        },
    ).scalar_one()
    return int(found)


@contextmanager
def advisory_lock_held(locker: Locker, digest: str) -> Iterator[None]:
    """PostgreSQL's session advisory lock named by the first 64 bits of `digest` (hex), held
    on a connection of its own until the block ends: a job holds it while it looks for what
    an earlier run of it made and makes it when nothing is there. A killed worker's lock goes
    with its connection."""
    key = int.from_bytes(bytes.fromhex(digest[:16]), "big", signed=True)
    with locker.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def withdraw(conn: Connection, job_id: int) -> bool:
    """Delete a job no worker has taken yet, in the caller's transaction (its work was done
    there); False when a worker already has it (procrastinate's `procrastinate_cancel_job_v1`)."""
    found = conn.execute(
        text("SELECT procrastinate_cancel_job_v1(:id, false, true)"), {"id": job_id}
    ).scalar()
    return found is not None


@dataclass(frozen=True)
class Job:
    id: int
    task: str
    args: dict[str, Any]
    status: str  # queued, running, done, failed, cancelled, aborted
    attempts: int  # times a worker started it
    retried: int  # times it was put back in the queue: after a stalled worker, or by hand
    scheduled_at: str | None  # not to run before (an ingest's grace for its own analysis)
    reason: str | None  # why its last failed attempt failed


# Each put-back writes one event (procrastinate's status trigger): 'deferred_for_retry' when a
# running job goes back to the queue (a stalled worker's, docket.jobs.worker), 'retried' when a
# failed one does (`retry`); the 'scheduled' event either also writes is not one.
_JOBS = (
    "SELECT j.id, j.task_name, j.args, j.status::text, j.scheduled_at, "
    "count(e.id) FILTER (WHERE e.type = 'started'), "
    "count(e.id) FILTER (WHERE e.type IN ('deferred_for_retry', 'retried')) "
    "FROM (SELECT * FROM procrastinate_jobs {chosen} ORDER BY id DESC LIMIT :limit) j "
    "LEFT JOIN procrastinate_events e ON e.job_id = j.id "
    "GROUP BY j.id, j.task_name, j.args, j.status, j.scheduled_at ORDER BY j.id DESC"
)


def jobs(conn: Connection, status: str | None = None, limit: int = 100) -> list[Job]:
    """The newest `limit` jobs, newest first; only those in `status` (as Job.status says it)
    when given. Chosen and counted in the database: the queue may hold millions."""
    if status is None:
        query = text(_JOBS.format(chosen=""))
    else:  # compared as procrastinate's enum, so that its (status, id) index serves (0011)
        if status not in _STORED:
            raise JobError(f"{status!r}: no such job status (one of {', '.join(_STORED)})")
        chosen = "WHERE status = CAST(:status AS procrastinate_job_status)"
        query = text(_JOBS.format(chosen=chosen)).bindparams(
            bindparam("status", _STORED[status], type_=String)
        )
    rows = conn.execute(query, {"limit": limit}).all()
    reasons = failures.latest(conn, [row[0] for row in rows])
    return [
        Job(
            id=int(row[0]),
            task=row[1],
            args=dict(row[2]),
            status=_SHOWN.get(str(row[3]), str(row[3])),
            attempts=int(row[5]),
            retried=int(row[6]),
            scheduled_at=None if row[4] is None else row[4].isoformat(),
            reason=reasons.get(int(row[0])),
        )
        for row in rows
    ]


def counts(conn: Connection) -> dict[str, int]:
    """How many jobs are in each status (as Job.status says it)."""
    rows = conn.execute(
        text("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status")
    )
    return {_SHOWN.get(str(name), str(name)): int(number) for name, number in rows}


def retry(conn: Connection, job_id: int) -> None:
    """Queue a failed job again, now (procrastinate's `procrastinate_retry_job_v2`)."""
    status = conn.execute(
        text("SELECT status::text FROM procrastinate_jobs WHERE id = :id FOR UPDATE"),
        {"id": job_id},
    ).scalar()
    if status is None:
        raise JobError(f"job {job_id}: no such job in the queue")
    if status != "failed":
        shown = _SHOWN.get(status, status)
        raise JobError(f"job {job_id}: it is {shown}; only a failed job can be retried")
    conn.execute(
        text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)"), {"id": job_id}
    )


# Finished and never acted on again: removed by `clean`; failed jobs only when asked, as they
# wait for a person to retry them.
_FINISHED = ("succeeded", "cancelled", "aborted")
_CLEAN = (
    "WITH gone AS ({delete} RETURNING id), "
    "reasons AS (DELETE FROM job_failures WHERE job_id IN (SELECT id FROM gone)) "
    "SELECT count(*) FROM gone"
)


def clean(conn: Connection, older_than_days: int, failed: bool = False) -> int:
    """Remove the jobs that finished (done, cancelled, aborted; failed too with `failed`, and
    their reasons) more than `older_than_days` days ago, with their events; how many."""
    from procrastinate import sql  # procrastinate: only when needed

    delete = sql.queries["delete_old_jobs"]
    statuses = [*_FINISHED, "failed"] if failed else list(_FINISHED)
    found = conn.exec_driver_sql(
        _CLEAN.format(delete=delete),
        {"statuses": statuses, "queue": QUEUE, "nb_hours": older_than_days * 24},
    ).scalar_one()
    return int(found)
