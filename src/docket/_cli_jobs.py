"""Commands for the job queue (worker, jobs): docket/jobs/."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import click

from docket._cli_common import locker_option, open_locker, print_json
from docket.analyse.runner import WORKERS
from docket.catalogue.database import reading
from docket.jobs import queue
from docket.jobs.capture import CAPTURE
from docket.jobs.export import EXPORT
from docket.jobs.queue import conninfo
from docket.locker import default_actor
from docket.names import one_line

_STATUSES = ("queued", "running", "done", "failed", "cancelled", "aborted")
_URL_SHOWN = 80  # characters of a capture's URL in a job's line


def _short(url: str) -> str:
    return url if len(url) <= _URL_SHOWN else url[: _URL_SHOWN - 1] + "…"


def _subject(task: str, args: dict[str, object]) -> str:
    """What a job is for, shortly: a capture's URL and case, an export's profile, case and
    requester, else the item's first digits."""
    if task == CAPTURE:
        return f"{_short(str(args.get('url', '')))} (case {args.get('case')})"
    if task == EXPORT:
        who = args.get("requester")
        return f"{args.get('profile')} package (case {args.get('case')}, for {who})"
    return str(args.get("item", ""))[:12]


@click.command(name="worker")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Jobs run at once, each in a thread (default: one per core, as in-process analysis).",
)
@click.option("--until-empty", is_flag=True, help="Stop once no job is left to take.")
@click.option(
    "--stalled-after",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds without a heartbeat before a worker's jobs are run again by another.",
)
@click.option(
    "--heartbeat",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds between this worker's heartbeats (keep it well under --stalled-after).",
)
@locker_option
def worker_command(
    concurrency: int | None,
    until_empty: bool,
    stalled_after: float,
    heartbeat: float,
    locker_path: Path | None,
) -> None:
    """Run the locker's queued jobs (PostgreSQL catalogue) until stopped with Ctrl-C or SIGTERM;
    any machine that reaches the catalogue and the store can run one."""
    from docket.jobs.worker import WorkerOptions, work  # procrastinate: only when needed

    # procrastinate logs each failure with its traceback; the reason is reported here instead.
    logging.getLogger("procrastinate").addHandler(logging.NullHandler())

    def report(job_id: int, task: str, item: str, reason: str | None) -> None:
        outcome = "done" if reason is None else f"failed: {reason}"
        what = _short(item) if task == CAPTURE else item[:12]  # a capture's URL, else an item
        click.echo(one_line(f"job {job_id} {task} {what}: {outcome}"), err=reason is not None)

    options = WorkerOptions(
        default_actor(),
        concurrency or WORKERS,
        until_empty,
        heartbeat=heartbeat,
        stalled_after=stalled_after,
        report=report,
    )
    with open_locker(locker_path) as locker:
        work(locker, options)


@click.group(name="jobs", invoke_without_command=True)
@click.option("--status", type=click.Choice(_STATUSES), default=None, help="Only jobs in it.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Newest jobs listed.",
)
@click.option("--json", "as_json", is_flag=True)
@locker_option
@click.pass_context
def jobs_group(
    context: click.Context,
    status: str | None,
    limit: int,
    as_json: bool,
    locker_path: Path | None,
) -> None:
    """List the queue's newest jobs after a count of each status: queued, running, done and
    failed (with the reason), and how often each was retried. `docket jobs retry ID` queues a
    failed job again."""
    if context.invoked_subcommand is not None:
        return
    with open_locker(locker_path) as locker:
        conninfo(locker)  # SQLite: one line saying there is no queue
        with reading(locker.engine) as conn:
            found = queue.jobs(conn, status, limit)
            counted = queue.counts(conn)
    if as_json:
        print_json({"counts": counted, "jobs": [vars(job) for job in found]})
        return
    click.echo(", ".join(f"{count} {name}" for name, count in sorted(counted.items())) or "no jobs")
    for job in found:
        item = _subject(job.task, job.args)
        retried = f" (retried {job.retried}x, {job.attempts} attempts)" if job.retried else ""
        reason = f": {job.reason}" if job.status == "failed" and job.reason else ""
        held = job.status == "queued" and job.scheduled_at is not None
        after = f" (not before {job.scheduled_at})" if held else ""
        # A failure's reason can quote a file's words: one printable line (names.one_line).
        what = one_line(f"{job.task} {item}{after}{retried}{reason}")
        click.echo(f"{job.id}\t{job.status}\t{what}")


@jobs_group.command(name="retry")
@click.argument("job_id", type=int)
@locker_option
def retry_command(job_id: int, locker_path: Path | None) -> None:
    """Queue the failed job JOB_ID again, to run now."""
    with open_locker(locker_path) as locker:
        conninfo(locker)
        with locker.engine.connect() as conn, conn.begin():
            queue.retry(conn, job_id)
    click.echo(f"job {job_id} queued again")


@jobs_group.command(name="clean")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=0),
    required=True,
    metavar="DAYS",
    help="Remove the jobs that finished more than DAYS days ago.",
)
@click.option(
    "--failed", is_flag=True, help="Failed jobs too, with their reasons (kept by default)."
)
@click.option(
    "--packages-older-than",
    "package_days",
    type=click.FloatRange(min=0),
    default=7,
    show_default=True,
    metavar="DAYS",
    help="Remove the packages made from the web app more than DAYS days ago.",
)
@locker_option
def clean_command(days: int, failed: bool, package_days: float, locker_path: Path | None) -> None:
    """Remove old finished jobs (done, cancelled, aborted) and their events from the queue;
    a failed job stays until retried, unless --failed. The analysis they recorded stays.
    Packages made by export jobs (the package area) older than --packages-older-than go too:
    they are copies, so nothing is logged, and their export events stay."""
    from docket.jobs.export import remove_expired  # the export machinery: only when needed

    with open_locker(locker_path) as locker:
        conninfo(locker)
        with locker.engine.connect() as conn, conn.begin():
            removed = queue.clean(conn, days, failed)
        packages = remove_expired(locker, package_days)
    click.echo(f"removed {removed} job(s) that finished more than {days} day(s) ago")
    for name, modified in packages:
        made = datetime.fromtimestamp(modified, UTC).isoformat(timespec="seconds")
        click.echo(f"removed package {name} (made {made})")
    if packages:  # none: the jobs' line alone, as before packages were made here
        click.echo(f"removed {len(packages)} package(s) made more than {package_days:g} day(s) ago")
