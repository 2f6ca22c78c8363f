"""The ingest run: one ordered loop that preserves, records, reads metadata, then checkpoints.

Per file: the bytes are made durable in the store first; then the item, the acquisition and
the custody event are committed in one transaction; only then is the file reported as stored.
The analysis steps (metadata, previews, hashes, keyframes) read the stored copy in worker
threads while the next files are hashed, and are recorded as they finish, in order. With
`finish_interrupted`, items an earlier ingest or import recorded but was killed before
analysing (analyse.batch.unanalysed) are queued first, so the run finishes what it left.
"""

from __future__ import annotations

import zipfile
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import IO, Literal

from sqlalchemy import Connection, select

from docket import clock, mediatype
from docket.analyse.batch import unanalysed
from docket.analyse.runner import WORKERS, Analyser, StepRun
from docket.analyse.steps import MetadataStep, Step
from docket.catalogue import schema
from docket.catalogue.records import Arrival, record_arrival, step_versions
from docket.custody.ledger import StoredCheckpoint, make_checkpoint
from docket.errors import (
    DiskFullError,
    DocketError,
    ObjectStoreError,
    disk_full_error,
    is_disk_full,
)
from docket.ingest import collection
from docket.ingest.archives import (
    ArchiveError,
    ArchiveLimits,
    Member,
    MemberRefused,
    members,
    nested_note,
    open_archive,
)
from docket.ingest.sources import FileInput, Refusal, open_input, walk
from docket.jobs.analysis import INGEST_GRACE, defer_analysis, record_runs
from docket.jobs.queue import withdraw
from docket.locker import Locker
from docket.names import display_name
from docket.progress import Progress
from docket.store import StoredBlob

Status = Literal["new", "held", "refused"]
MAX_PENDING_ANALYSIS = 64
STORE_WORKERS = 2
STORE_AHEAD = 4


@dataclass(frozen=True)
class IngestOptions:
    collector: str
    case: str | None = None
    source: str | None = None
    note: str | None = None
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    # Only read metadata now; previews, hashes and keyframes wait for `docket analyse`.
    defer_analysis: bool = False
    method: str = "import"  # how the files arrived (docket.ingest.collection.METHODS)
    url_of_origin: str | None = None  # where the collector got them
    collected_at: str | None = None  # when the collector got them (ISO 8601 with offset)
    # Record paths relative to this folder (an upload's scratch folder is nobody's business).
    relative_to: bytes | None = None
    # First analyse the items an interrupted ingest or import left unanalysed (any case's:
    # for the locker's owner at the command line, not for a web upload into one case).
    finish_interrupted: bool = False


@dataclass(frozen=True)
class Outcome:
    """What happened to one input; `stored` outcomes are durable when reported."""

    status: Status
    name: str
    sha256: str | None = None
    media_type: str | None = None
    size: int | None = None
    reason: str | None = None
    event: int | None = None


@dataclass
class IngestSummary:
    outcomes: list[Outcome] = field(default_factory=list)
    analysis_failures: list[tuple[str, str, str]] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None
    resumed: list[str] = field(default_factory=list)  # items an interrupted run left unanalysed

    def count(self, status: Status) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)


class _Run:
    def __init__(
        self,
        locker: Locker,
        conn: Connection,
        options: IngestOptions,
        report: Callable[[Outcome], None],
        analyser: Analyser,
    ) -> None:
        self.locker = locker
        self.conn = conn
        self.options = options
        self.report = report
        self.analyser = analyser
        self.summary = IngestSummary()
        self.pending: deque[tuple[str, Future[list[StepRun]]]] = deque()
        self.queued: set[tuple[str, str]] = set()  # (item, step) already queued in this run
        self.jobs: dict[str, list[int]] = {}  # item: its queued jobs this run withdraws once done
        self.analyses = self.analysed = 0  # items queued for analysis, and recorded
        self.analysis_progress = Progress()  # shown once every file is stored (`finish`)
        self.showing_analysis = False

    def emit(self, outcome: Outcome) -> None:
        self.summary.outcomes.append(outcome)
        self.report(outcome)

    def recorded_path(self, raw_path: bytes) -> bytes:
        folder = self.options.relative_to
        if folder is not None and raw_path.startswith(folder.rstrip(b"/") + b"/"):
            return raw_path[len(folder.rstrip(b"/")) + 1 :]
        return raw_path

    def refuse(self, raw_name: bytes, reason: str) -> None:
        self.emit(Outcome("refused", display_name(self.recorded_path(raw_name)), reason=reason))

    def preserve(self, stream: IO[bytes], arrival: Arrival, label: str) -> StoredBlob:
        return self.record(self.locker.store.put(stream, label=label), arrival)

    def record(self, blob: StoredBlob, arrival: Arrival) -> StoredBlob:
        """Commit the arrival of a durable blob, then report it as stored."""
        media_type = mediatype.sniff(blob.head)
        with self.conn.begin():
            new, event = record_arrival(self.conn, blob.digest, media_type, arrival)
            done = step_versions(self.conn, blob.digest.sha256)
            # On PostgreSQL the item's analysis job commits with it; analysed here, it is
            # withdrawn once recorded; deferred, it is due at once, for `docket worker`.
            deferring = self.options.defer_analysis
            job = defer_analysis(
                self.conn, blob.digest.sha256, media_type, done, 0 if deferring else INGEST_GRACE
            )
            if job is not None and not deferring:
                self.jobs.setdefault(blob.digest.sha256, []).append(job)
            self.record_ready_analysis()
        name = display_name(arrival.original_path_raw)
        if arrival.path_in_container_raw is not None:
            name += "!/" + display_name(arrival.path_in_container_raw)
        self.emit(
            Outcome(
                "new" if new else "held",
                name,
                sha256=blob.digest.sha256,
                media_type=media_type,
                size=blob.digest.size,
                event=event.seq,
                reason=nested_note(media_type, arrival.path_in_container_raw is not None),
            )
        )
        due = [
            step
            for step in self.analyser.applicable(media_type)
            if done.get(step.name) != step.version
            and (blob.digest.sha256, step.name) not in self.queued
        ]
        if due:
            self.queue_analysis(blob.digest.sha256, media_type, due, name)
        return blob

    def resume(self) -> None:
        """Queue the analysis of the items an interrupted ingest or import left unanalysed."""
        with self.conn.begin():
            left = unanalysed(self.conn)
            media_types = dict(
                self.conn.execute(
                    select(schema.items.c.sha256, schema.items.c.media_type).where(
                        schema.items.c.sha256.in_(left)
                    )
                ).all()
            )
        for sha256 in left:
            self.summary.resumed.append(sha256)
            media_type = media_types[sha256]
            steps = self.analyser.applicable(media_type)
            self.queue_analysis(sha256, media_type, steps, f"item {sha256[:12]}")

    def arrival(self, raw_path: bytes, mtime: float | None, **extra: object) -> Arrival:
        return Arrival(
            collector=self.options.collector,
            method=self.options.method,
            original_path_raw=self.recorded_path(raw_path),
            source=self.options.source,
            file_mtime=None if mtime is None else clock.from_timestamp(mtime),
            note=self.options.note,
            case=self.options.case,
            url_of_origin=self.options.url_of_origin,
            collected_at=self.options.collected_at,
            **extra,  # type: ignore[arg-type]
        )

    def take_file(self, entry: FileInput, stored: Future[StoredBlob]) -> None:
        """Record a file whose bytes a worker thread is storing (see `_store_file`)."""
        try:
            blob = self.record(stored.result(), self.arrival(entry.raw_path, entry.mtime))
        except OSError as exc:
            self.refuse(entry.raw_path, f"cannot read: {exc.strerror or exc}")
            return
        if mediatype.sniff(blob.head) == "application/zip":
            self.take_archive(entry.raw_path, blob.digest.sha256)

    def take_archive(self, raw_path: bytes, sha256: str) -> None:
        try:
            with self.locker.store.open(sha256) as blob, open_archive(blob) as archive:
                for member in members(archive, raw_path, self.options.limits):
                    if isinstance(member, Refusal):
                        self.refuse(member.raw_path, member.reason)
                    else:
                        self.take_member(member, raw_path, sha256)
        except ArchiveError as exc:
            self.refuse(raw_path + b"!/", f"archive not expanded: {exc} (the archive is held)")

    def take_member(self, member: Member, raw_path: bytes, container: str) -> None:
        arrival = self.arrival(
            raw_path,
            None,
            container_sha256=container,
            path_in_container_raw=member.raw_name,
        )
        try:
            with member.open() as stream:
                name = self.recorded_path(raw_path) + b"!/" + member.raw_name
                self.preserve(stream, arrival, display_name(name))
        except MemberRefused as exc:
            self.refuse(raw_path + b"!/" + member.raw_name, str(exc))
        except DiskFullError:
            raise  # the locker's fault, not the member's: the batch stops (see `stopped_by`)
        except (zipfile.BadZipFile, OSError, EOFError, DocketError, NotImplementedError) as exc:
            self.refuse(raw_path + b"!/" + member.raw_name, f"member cannot be read: {exc}")

    def queue_analysis(self, sha256: str, media_type: str, steps: list[Step], name: str) -> None:
        self.queued.update((sha256, step.name) for step in steps)
        self.pending.append((name, self.analyser.submit(sha256, media_type, steps)))
        self.analyses += 1
        if len(self.pending) > MAX_PENDING_ANALYSIS:
            with self.conn.begin():
                self.record_ready_analysis(wait_for_one=True)

    def record_ready_analysis(self, wait_for_one: bool = False, wait_for_all: bool = False) -> None:
        """Record finished analysis steps, inside the caller's transaction (one commit for an
        arrival and the analysis that finished meanwhile), in the order they were queued."""
        while self.pending and (wait_for_all or wait_for_one or self.pending[0][1].done()):
            name, future = self.pending.popleft()
            wait_for_one = False
            runs = future.result()
            for run in runs:
                if run.error is not None:
                    self.summary.analysis_failures.append((name, run.step.name, run.error))
            record_runs(self.conn, self.options.collector, runs)
            for job in self.jobs.pop(runs[0].item, []) if runs else []:
                withdraw(self.conn, job)
            self.analysed += 1
            if self.showing_analysis:
                self.analysis_progress.advance(self.analysed, self.analysed)

    def stopped_by(self, exc: BaseException) -> DocketError:
        """The disk filled up or the bucket failed: what was acknowledged stays; record the
        analysis that finished and try a checkpoint, then say what happened on one line."""
        kept = self.summary.count("new") + self.summary.count("held")
        try:
            with self.conn.begin():
                while self.pending:
                    _name, future = self.pending.popleft()
                    if future.exception() is None:
                        record_runs(self.conn, self.options.collector, future.result())
                self.summary.checkpoint = make_checkpoint(
                    self.conn, self.locker.signing_key, self.locker.origin, self.options.collector
                )
            after = f"checkpoint {self.summary.checkpoint.id} signed"
        except Exception as again:
            if not is_disk_full(again):
                raise
            after = "no checkpoint could be signed"
        if isinstance(exc, ObjectStoreError):
            return ObjectStoreError(
                f"{exc}; the batch stopped there: {kept} files stored before it stay stored "
                f"({after}); run the same ingest again once the bucket can be used"
            )
        return DiskFullError(
            f"{disk_full_error(exc)}; the batch stopped there: {kept} files stored before it "
            f"stay stored ({after}); free some space and run the same ingest again"
        )

    def finish(self) -> None:
        """Record the analysis still running (its progress shown from what is done so far),
        then sign a checkpoint."""
        self.analysis_progress.start(self.analyses, self.analyses)
        self.analysis_progress.advance(self.analysed, self.analysed)
        self.showing_analysis = True
        with self.conn.begin():
            self.record_ready_analysis(wait_for_all=True)
            self.analysis_progress.finish()
            self.summary.checkpoint = make_checkpoint(
                self.conn, self.locker.signing_key, self.locker.origin, self.options.collector
            )


def _store_file(locker: Locker, entry: FileInput, label: str) -> StoredBlob:
    with open_input(entry) as stream:
        return locker.store.put(stream, label=label)


def ingest(
    locker: Locker,
    paths: Iterable[bytes],
    options: IngestOptions,
    report: Callable[[Outcome], None] = lambda _outcome: None,
    progress: Progress | None = None,
    analysis_progress: Progress | None = None,
) -> IngestSummary:
    """Take every file under `paths` into the locker; one bad input never stops the rest.

    Up to STORE_AHEAD files are hashed and written by worker threads while the main thread
    commits earlier ones in input order, so the log's order is the input's order. `progress`
    counts files stored; `analysis_progress`, once they all are, the items whose analysis is
    recorded (counted in items).
    """
    locker.require_signing_key()
    options = replace(
        options,
        method=collection.method(options.method),
        url_of_origin=collection.url_of_origin(options.url_of_origin),
        collected_at=collection.collected_at(options.collected_at),
    )
    entries = list(walk(paths))
    progress = progress or Progress()
    files = [entry for entry in entries if isinstance(entry, FileInput)]
    progress.start(len(files), sum(entry.size for entry in files))
    with (
        Analyser(
            locker.store,
            [MetadataStep()] if options.defer_analysis else None,
            workers=1 if options.defer_analysis else WORKERS,
        ) as analyser,
        ThreadPoolExecutor(max_workers=STORE_WORKERS) as store_pool,
        locker.engine.connect() as conn,
    ):
        run = _Run(locker, conn, options, report, analyser)
        run.analysis_progress = analysis_progress or Progress()
        storing: dict[int, Future[StoredBlob]] = {}
        upcoming = (i for i, entry in enumerate(entries) if isinstance(entry, FileInput))

        def store_ahead() -> None:
            while len(storing) < STORE_AHEAD and (index := next(upcoming, None)) is not None:
                entry = entries[index]
                assert isinstance(entry, FileInput)
                label = display_name(run.recorded_path(entry.raw_path))
                storing[index] = store_pool.submit(_store_file, locker, entry, label)

        done_files = done_bytes = 0
        try:
            if options.finish_interrupted:
                run.resume()
            for index, entry in enumerate(entries):
                if isinstance(entry, Refusal):
                    run.refuse(entry.raw_path, entry.reason)
                    continue
                store_ahead()
                run.take_file(entry, storing.pop(index))
                done_files += 1
                done_bytes += entry.size
                progress.advance(done_files, done_bytes)
            progress.finish()  # every file is stored: the analysis still running is shown next
            run.finish()
        except Exception as exc:
            progress.finish()
            run.analysis_progress.finish()
            if not is_disk_full(exc) and not isinstance(exc, ObjectStoreError):
                raise
            raise run.stopped_by(exc) from exc
    return run.summary
