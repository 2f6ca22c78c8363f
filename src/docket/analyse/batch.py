"""`docket analyse`: run the steps an item has not had yet (or whose version changed).

An item is *unanalysed* when not one step result (ok or failed) is recorded for it. Every
ingest records at least the metadata step of each item it takes, and an item's steps are
recorded together in one transaction, after the transaction of its arrival: so an unanalysed
item is one whose ingest or import was killed between the two. `unanalysed` finds them, and
ingest, import and `docket gc` finish them with `analyse`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy import Connection, exists, select

from docket.analyse.runner import Analyser, StepRun, record_step_run
from docket.analyse.steps import Step
from docket.catalogue import schema
from docket.catalogue.records import step_versions
from docket.custody.ledger import StoredCheckpoint, make_checkpoint
from docket.errors import DiskFullError, disk_full_error, is_disk_full
from docket.jobs.analysis import record_once
from docket.locker import Locker
from docket.progress import Progress


def run_step(
    locker: Locker, item: str, media_type: str, step: Step, actor: str, case: str | None = None
) -> StepRun:
    """Run one step (such as a redaction with its parameters) on one item and record it,
    with a checkpoint, whether it succeeded or failed; as work of `case` when given."""
    with Analyser(locker.store, [step], workers=1) as analyser:
        [run] = analyser.submit(item, media_type, [step]).result()
    with locker.engine.connect() as conn, conn.begin():
        record_step_run(conn, actor, run, case)
        make_checkpoint(conn, locker.signing_key, locker.origin, actor)
    return run


def unanalysed(conn: Connection) -> list[str]:
    """Items recorded without a single step result, oldest first (see the module docstring)."""
    had = exists().where(schema.results.c.item_sha256 == schema.items.c.sha256)
    query = select(schema.items.c.sha256).where(~had).order_by(schema.items.c.first_seen)
    return list(conn.execute(query).scalars())


@dataclass
class AnalyseSummary:
    done: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None


def analyse(
    locker: Locker,
    items: Sequence[str] | None,
    actor: str,
    force: bool = False,
    report: Callable[[StepRun], None] = lambda _run: None,
    progress: Progress | None = None,
) -> AnalyseSummary:
    """Analyse `items` (all items when None); a step runs when it never succeeded on the item,
    when its version changed, or always with `force`."""
    summary = AnalyseSummary()
    with Analyser(locker.store) as analyser, locker.engine.connect() as conn:
        with conn.begin():
            query = select(schema.items.c.sha256, schema.items.c.media_type).order_by(
                schema.items.c.first_seen
            )
            if items is not None:
                query = query.where(schema.items.c.sha256.in_(list(items)))
            targets = []
            for sha256, media_type in conn.execute(query).all():
                done = step_versions(conn, sha256)
                due = [
                    step
                    for step in analyser.applicable(media_type)
                    if force or done.get(step.name) != step.version
                ]
                if due:
                    targets.append((sha256, media_type, due))
        progress = progress or Progress()
        progress.start(len(targets), len(targets))
        finished = 0
        pending: deque[Future[list[StepRun]]] = deque(
            analyser.submit(sha256, media_type, due) for sha256, media_type, due in targets
        )
        try:
            while pending:
                pending[0].result()
                recorded: list[StepRun] = []
                with conn.begin():
                    while pending and pending[0].done():
                        runs = pending.popleft().result()
                        if force:  # asked for again: recorded again
                            for run in runs:
                                record_step_run(conn, actor, run)
                        else:  # another analyse or a worker may have recorded it meanwhile
                            record_once(conn, actor, runs)
                        recorded.extend(runs)
                        finished += 1
                # Reported once committed, so a full disk never leaves a report unrecorded.
                for run in recorded:
                    if run.error is None:
                        summary.done.append((run.item, run.step.name))
                    else:
                        summary.failed.append((run.item, run.step.name, run.error))
                    report(run)
                progress.advance(finished, finished)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            for future in pending:
                future.cancel()
            progress.finish()
            raise _stopped_by(exc, conn, locker, actor, summary) from exc
        progress.finish()
        if targets:
            with conn.begin():
                summary.checkpoint = make_checkpoint(conn, locker.signing_key, locker.origin, actor)
    return summary


def _stopped_by(
    exc: BaseException, conn: Connection, locker: Locker, actor: str, summary: AnalyseSummary
) -> DiskFullError:
    """The disk filled up: results already recorded stay; try a checkpoint, say it on one line."""
    try:
        with conn.begin():
            summary.checkpoint = make_checkpoint(conn, locker.signing_key, locker.origin, actor)
        after = f"checkpoint {summary.checkpoint.id} signed"
    except Exception as again:
        if not is_disk_full(again):
            raise
        after = "no checkpoint could be signed"
    recorded = len(summary.done) + len(summary.failed)
    return DiskFullError(
        f"{disk_full_error(exc)}; the analysis stopped there: the {recorded} step results "
        f"recorded before it stay ({after}); free some space and run `docket analyse` again"
    )
