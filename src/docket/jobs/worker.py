"""`docket worker`: a procrastinate worker that runs the locker's jobs, on any machine that
reaches its PostgreSQL catalogue and its store.

It runs four tasks: `analyse` (docket.jobs.analysis), `redact`, a redacted copy saved in
the browser (docket.jobs.redaction), `capture`, a web page captured into a case from the
browser (docket.jobs.capture), and `export`, a package asked for from a case in the browser
(docket.jobs.export). Each job runs in a worker thread, with one Analyser (its parser
processes) shared by the analysis jobs the worker runs. An attempt that fails keeps its
reason (docket.jobs.failures) and leaves the job failed until `docket jobs retry`. A worker
killed mid-job (SIGKILL, a lost machine) stops beating its heart; every worker looks every
STALLED_CHECK seconds for jobs held by a worker whose heartbeat is older than `stalled_after`
seconds and puts them back in the queue (procrastinate's get_stalled_jobs and retry_job),
where another worker runs them again: jobs are idempotent (docket.jobs.analysis,
docket.jobs.redaction, docket.jobs.capture, docket.jobs.export), so each finishes once in
effect. What the jobs record is covered by a checkpoint the worker signs every few seconds
and as it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.exceptions import ConnectorException

from docket.analyse.runner import Analyser
from docket.custody.ledger import make_checkpoint
from docket.errors import DocketError
from docket.jobs import export as export_job
from docket.jobs import failures, queue
from docket.jobs.analysis import ANALYSE, analyse_item
from docket.jobs.capture import CAPTURE, capture_request
from docket.jobs.queue import conninfo
from docket.jobs.redaction import REDACT, redact_item
from docket.locker import Locker

STALLED_CHECK = 1.0


def _not_about_our_own_cancel(record: logging.LogRecord) -> bool:
    """psycopg warns when a query it was cancelling is interrupted again; a worker that stops
    cancels its own queue's queries (procrastinate's graceful stop), so those words are noise
    on the worker's stderr, where its one line saying why it stopped must stand alone."""
    return not str(record.msg).startswith(
        ("query cancellation interrupted", "query not terminated")
    )


@dataclass(frozen=True)
class WorkerOptions:
    actor: str
    concurrency: int = 1  # jobs at once, each in a thread
    until_empty: bool = False  # stop once no job is left to take, instead of waiting for more
    heartbeat: float = 10.0  # seconds between heartbeats
    stalled_after: float = 30.0  # seconds without a heartbeat before a worker's jobs run again
    checkpoint_every: float = 5.0  # seconds between checkpoints over what its jobs recorded
    # Told of each attempt that ended: the job, its task, its item (a capture: its URL), and None
    # or why it failed.
    report: Callable[[int, str, str, str | None], None] = field(
        default=lambda _id, _task, _item, _why: None
    )


class _Checkpoints:
    """Signs a checkpoint over what this worker's jobs recorded: at most every
    `checkpoint_every` seconds while they record, and once more as the worker stops. (One per
    job would read the whole log under its lock each time; a worker killed before signing
    leaves its results in the log for the next checkpoint, as a killed ingest does.)"""

    def __init__(self, locker: Locker, actor: str) -> None:
        self.locker = locker
        self.actor = actor
        self._owed = False
        self._lock = threading.Lock()

    def owe(self) -> None:
        with self._lock:
            self._owed = True

    def sign_if_owed(self) -> None:
        with self._lock:
            owed, self._owed = self._owed, False
        if owed:
            with self.locker.engine.connect() as conn, conn.begin():
                make_checkpoint(conn, self.locker.signing_key, self.locker.origin, self.actor)

    async def sign_now_and_then(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await asyncio.to_thread(self.sign_if_owed)


def _reason(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, DocketError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def _attempt(
    locker: Locker,
    context: JobContext,
    options: WorkerOptions,
    worker: str,
    item: str,
    work: Callable[[], object],
) -> None:
    """Run one attempt of a job; a failure's reason is committed before the job is failed."""
    job_id, task = context.job.id, context.job.task_name
    assert job_id is not None
    try:
        work()
    except Exception as exc:
        reason = _reason(exc)
        with locker.engine.connect() as conn, conn.begin():
            failures.record(conn, job_id, context.job.attempts + 1, worker, reason)
        options.report(job_id, task, item, reason)
        raise
    options.report(job_id, task, item, None)


def make_app(
    locker: Locker,
    analyser: Analyser,
    checkpoints: _Checkpoints,
    options: WorkerOptions,
    worker: str,
) -> App:
    app = App(connector=PsycopgConnector(conninfo=conninfo(locker)))

    def analysis(item: str, actor: str) -> None:
        if analyse_item(locker, item, actor, analyser):
            checkpoints.owe()

    @app.task(name=ANALYSE, queue=queue.QUEUE, pass_context=True)
    def analyse(context: JobContext, item: str, actor: str | None = None) -> None:
        # Recorded as the arrival's person's (jobs queued before they said: the worker's).
        by = actor or options.actor
        _attempt(locker, context, options, worker, item, lambda: analysis(item, by))

    @app.task(name=REDACT, queue=queue.QUEUE, pass_context=True)
    def redact(context: JobContext, item: str, plan: dict[str, Any], actor: str, case: int) -> None:
        # copying.redact signs a checkpoint over the copy it records, as `docket redact` does.
        def redaction() -> None:
            redact_item(locker, item, plan, actor, case)

        _attempt(locker, context, options, worker, item, redaction)

    @app.task(name=CAPTURE, queue=queue.QUEUE, pass_context=True)
    def capture(context: JobContext, /, **request: Any) -> None:
        # capture.run.capture analyses its parts and signs a checkpoint, as `docket capture` does.
        url = str(request.get("url", ""))
        _attempt(locker, context, options, worker, url, lambda: capture_request(locker, request))

    @app.task(name=export_job.EXPORT, queue=queue.QUEUE, pass_context=True)
    def export(context: JobContext, /, **request: Any) -> None:
        # disclose.package.export signs the checkpoint its package carries.
        digest = export_job.request_digest(request)
        _attempt(
            locker,
            context,
            options,
            worker,
            digest,
            lambda: export_job.export_request(locker, request),
        )

    return app


# A job is put back only while the silent worker still holds it: the list of stalled jobs is
# read first, and meanwhile another watcher may have put one back and a live worker taken it
# (putting it back again took the job from that worker and counted a second retry).
_PUT_BACK_IF_STILL_HELD = (
    "WITH held AS (SELECT id FROM procrastinate_jobs WHERE id = %(job_id)s "
    "AND status = 'doing' AND worker_id IS NOT DISTINCT FROM %(worker_id)s FOR UPDATE) "
    "SELECT count(procrastinate_retry_job_v2(id, now(), NULL, NULL, NULL)) AS put_back FROM held"
)


async def _retry_stalled(app: App, stalled_after: float) -> int:
    """Put the jobs of workers gone silent back in the queue; how many were."""
    retried = 0
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        try:
            row = await app.connector.execute_query_one_async(
                query=_PUT_BACK_IF_STILL_HELD, job_id=job.id, worker_id=job.worker_id
            )
        except ConnectorException:  # another worker put it back first
            continue
        retried += int(row["put_back"])
    return retried


async def _watch_stalled(app: App, stalled_after: float) -> None:
    while True:
        await asyncio.sleep(STALLED_CHECK)
        await _retry_stalled(app, stalled_after)


async def _work(app: App, checkpoints: _Checkpoints, options: WorkerOptions, worker: str) -> None:
    """The worker, with its two side tasks; a side task that fails (they only end that way)
    stops the worker, its running jobs finished first, and its error comes out."""
    async with app.open_async():
        await _retry_stalled(app, options.stalled_after)
        side = {
            asyncio.create_task(_watch_stalled(app, options.stalled_after)),
            asyncio.create_task(checkpoints.sign_now_and_then(options.checkpoint_every)),
        }
        running = asyncio.create_task(
            app.run_worker_async(
                queues=[queue.QUEUE],
                name=worker,
                concurrency=options.concurrency,
                wait=not options.until_empty,
                update_heartbeat_interval=options.heartbeat,
                stalled_worker_timeout=options.stalled_after,
            )
        )
        try:
            await asyncio.wait({running, *side}, return_when=asyncio.FIRST_COMPLETED)
            if not running.done():  # cancelling it is how procrastinate stops it gracefully
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            for task in side:
                if task.done():
                    task.result()
            running.result()
        finally:
            for task in side:
                task.cancel()
            await asyncio.to_thread(checkpoints.sign_if_owed)


def work(locker: Locker, options: WorkerOptions) -> None:
    """Run jobs until stopped (SIGINT, SIGTERM: the running jobs finish first), or with
    `until_empty`, until none is left to take."""
    if options.heartbeat * 2 > options.stalled_after:
        raise DocketError(
            f"a heartbeat every {options.heartbeat:g} s must be at most half of --stalled-after "
            f"({options.stalled_after:g} s), else a live worker's jobs would be taken as stalled"
        )
    locker.require_signing_key()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    conninfo(locker)
    checkpoints = _Checkpoints(locker, options.actor)
    psycopg_log = logging.getLogger("psycopg")
    if _not_about_our_own_cancel not in psycopg_log.filters:
        psycopg_log.addFilter(_not_about_our_own_cancel)
    with Analyser(locker.store, workers=max(1, options.concurrency)) as analyser:
        app = make_app(locker, analyser, checkpoints, options, worker)
        try:
            asyncio.run(_work(app, checkpoints, options, worker))
        except ConnectorException as exc:  # the database's words name no password
            said = " ".join(str(exc.__cause__ or exc).split())
            raise DocketError(
                f"{locker.path}: the job queue in its catalogue cannot be used ({said})"
            ) from exc
