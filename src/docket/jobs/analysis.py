"""The analysis job: run on one item every built-in step it has not had at its version, and
record each result once.

A step's result is keyed by item, step and version. `record_once` takes the log's lock (so
concurrent recorders wait for each other) and then records a run only when no ok result with
its key is there, and a failure only when the same failure is not already recorded for the key
and the same person's arrival:
a retried job, a duplicated one, or an ingest and a worker analysing the same item at once each
leave one result per key, in the catalogue and the custody log alike.

A job fails (and keeps its reason, docket.jobs.failures) only for what is not the item's fault:
its blob cannot be found in this machine's store, the disk is full, the bucket cannot be
reached. A step that fails on the item is recorded as that step's failed result, as in-process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, exists, select

from docket.analyse.runner import Analyser, StepRun, record_step_run
from docket.analyse.steps import Step, builtin_steps
from docket.catalogue import schema
from docket.catalogue.records import step_versions
from docket.custody import log
from docket.jobs import queue
from docket.jobs.queue import JobError
from docket.locker import Locker

ANALYSE = "analyse"
# How long a job deferred by an ingest that analyses in-process waits before a worker may take
# it: the ingest withdraws it once it has recorded the analysis; a killed ingest leaves it due.
INGEST_GRACE = 600.0


def due_steps(media_type: str, done: Mapping[str, str]) -> list[Step]:
    """The built-in steps that apply to `media_type` and have not succeeded at their version."""
    return [
        step
        for step in builtin_steps()
        if step.applies_to(media_type) and done.get(step.name) != step.version
    ]


def defer_analysis(
    conn: Connection,
    item: str,
    media_type: str,
    done: Mapping[str, str],
    actor: str,
    delay: float = 0,
) -> int | None:
    """Queue the analysis of `item` for the arrival `actor` brought in, in the caller's
    transaction, when a step is due; the job's id, or None (SQLite, or nothing due). The job
    records its results as `actor`'s, as an ingest analysing in-process does (docket.scope: a
    case shows the analysis of its own arrivals). Jobs of one item due now never run at the
    same time; one held back for a `delay` takes no lock (procrastinate would hold the item's
    later jobs behind it until then)."""
    if not queue.has_queue(conn) or not due_steps(media_type, done):
        return None
    lock = None if delay else f"item:{item}"
    return queue.defer(conn, ANALYSE, {"item": item, "actor": actor}, lock=lock, delay=delay)


def _recorded(conn: Connection, run: StepRun, actor: str) -> bool:
    results, events = schema.results.c, schema.events.c
    key = (
        (results.item_sha256 == run.item)
        & (results.step == run.step.name)
        & (results.step_version == run.step.version)
    )
    if conn.execute(select(exists().where(key & (results.status == "ok")))).scalar():
        return True
    if run.error is None:
        return False
    # The same failure for the same person's arrival: another person's arrival (into another
    # case, docket.case_analysis) has its own failure recorded, as it would on SQLite.
    same_failure = (
        key
        & (results.status == "failed")
        & (results.error == run.error)
        & (events.seq == results.event_seq)
        & (events.actor == actor)
    )
    return bool(conn.execute(select(exists().where(same_failure))).scalar())


def record_once(conn: Connection, actor: str, runs: Sequence[StepRun]) -> list[StepRun]:
    """Record the runs whose key holds no result yet (see the module docstring); those recorded."""
    log.lock(conn)
    recorded = []
    for run in runs:
        if not _recorded(conn, run, actor):
            record_step_run(conn, actor, run)
            recorded.append(run)
    return recorded


def record_runs(conn: Connection, actor: str, runs: Sequence[StepRun]) -> None:
    """How the in-process ingest records an item's runs: once per key where a queue's workers
    may be recording the same item (PostgreSQL), else each run, as it always has."""
    if queue.has_queue(conn):
        record_once(conn, actor, runs)
    else:
        for run in runs:
            record_step_run(conn, actor, run)


def analyse_item(
    locker: Locker, item: str, actor: str, analyser: Analyser | None = None
) -> list[StepRun]:
    """The job: run the steps due on `item` (in `analyser`'s threads, else in an Analyser of its
    own) and record them once; those it recorded. The caller signs a checkpoint over them."""
    with locker.engine.connect() as conn:
        with conn.begin():
            media_type = conn.execute(
                select(schema.items.c.media_type).where(schema.items.c.sha256 == item)
            ).scalar()
            if media_type is None:
                raise JobError(f"item {item[:12]}: not in the catalogue")
            steps = due_steps(media_type, step_versions(conn, item))
        if not steps:
            return []
        if not locker.store.has(item):
            raise JobError(
                f"item {item[:12]}: its blob is not in the store this worker reads "
                f"({locker.path}); retry the job once it can be read"
            )
        if analyser is None:
            with Analyser(locker.store, steps, workers=1) as own:
                runs = own.submit(item, media_type, steps).result()
        else:
            runs = analyser.submit(item, media_type, steps).result()
        with conn.begin():
            return record_once(conn, actor, runs)
