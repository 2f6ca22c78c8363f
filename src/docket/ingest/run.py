"""The ingest run: one ordered loop that preserves, records, reads metadata, then checkpoints.

Per file: the bytes are made durable in the store first; then the item, the acquisition and
the custody event are committed; only then is the file reported as stored. Files are taken
in batches: the files stored so far (up to BATCH_FILES) are published together (a local
store fsyncs each folder they are linked into once per batch: publish_staged), their rows
are committed in one transaction, and then each is reported, in input order. A file that
cannot be read is refused before its batch's transaction, so it never holds back the others.
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
from docket.store.filesystem import FilesystemStore, Spooled

Status = Literal["new", "held", "refused"]
MAX_PENDING_ANALYSIS = 64
STORE_WORKERS = 2
STORE_AHEAD = 16  # files hashed and written ahead of the catalogue
BATCH_FILES = 16  # at most this many files' rows in one commit


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


@dataclass(frozen=True)
class _Recorded:
    """An arrival whose rows are written in a transaction not yet committed."""

    outcome: Outcome
    done: dict[str, str]  # the item's steps already recorded, and their versions


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

    def preserve(self, stream: IO[bytes], arrival: Arrival, label: str) -> None:
        """Store one archive member durably, commit its arrival, then report it as stored."""
        blob = self.locker.store.put(stream, label=label)
        with self.conn.begin():
            recorded = self.record(blob, arrival)
            self.record_ready_analysis()
        self.acknowledge(recorded)

    def record(self, blob: StoredBlob, arrival: Arrival) -> _Recorded:
        """Write the arrival of a durable blob in the caller's transaction."""
        media_type = mediatype.sniff(blob.head)
        new, event = record_arrival(self.conn, blob.digest, media_type, arrival)
        done = step_versions(self.conn, blob.digest.sha256)
        # On PostgreSQL the item's analysis job commits with it; analysed here, it is
        # withdrawn once recorded; deferred, it is due at once, for `docket worker`.
        deferring = self.options.defer_analysis
        job = defer_analysis(
            self.conn,
            blob.digest.sha256,
            media_type,
            done,
            arrival.collector,
            0 if deferring else INGEST_GRACE,
        )
        if job is not None and not deferring:
            self.jobs.setdefault(blob.digest.sha256, []).append(job)
        name = display_name(arrival.original_path_raw)
        if arrival.path_in_container_raw is not None:
            name += "!/" + display_name(arrival.path_in_container_raw)
        outcome = Outcome(
            "new" if new else "held",
            name,
            sha256=blob.digest.sha256,
            media_type=media_type,
            size=blob.digest.size,
            event=event.seq,
            reason=nested_note(media_type, arrival.path_in_container_raw is not None),
        )
        return _Recorded(outcome, done)

    def acknowledge(self, recorded: _Recorded) -> None:
        """Report a committed arrival as stored, and queue the item's analysis that is due."""
        outcome = recorded.outcome
        self.emit(outcome)
        assert outcome.sha256 is not None and outcome.media_type is not None
        due = [
            step
            for step in self.analyser.applicable(outcome.media_type)
            if recorded.done.get(step.name) != step.version
            and (outcome.sha256, step.name) not in self.queued
        ]
        if due:
            self.queue_analysis(outcome.sha256, outcome.media_type, due, outcome.name)

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

    def take_files(self, batch: list[tuple[FileInput, Future[StoredBlob | Spooled]]]) -> None:
        """Record a batch of files whose bytes worker threads stored (see `_store_file`) in one
        commit, then report each, in order; a file that could not be read is refused. A zip
        may only end a batch: its members are taken after it, before the next file."""
        taken: list[tuple[FileInput, StoredBlob | Spooled | str]] = []
        stop: BaseException | None = None
        for entry, stored in batch:
            try:
                taken.append((entry, stored.result()))
            except OSError as exc:
                taken.append((entry, f"cannot read: {exc.strerror or exc}"))
            except BaseException as exc:  # the locker's disk or bucket: the files before it stay
                stop = exc
                break
        staged = [value for _entry, value in taken if isinstance(value, Spooled)]
        published = iter(self.publish(staged))
        recorded: list[_Recorded | str] = []
        with self.conn.begin():
            for entry, value in taken:
                if isinstance(value, str):
                    recorded.append(value)
                    continue
                blob = next(published) if isinstance(value, Spooled) else value
                recorded.append(self.record(blob, self.arrival(entry.raw_path, entry.mtime)))
            self.record_ready_analysis()
        for (entry, _value), result in zip(taken, recorded, strict=True):
            if isinstance(result, str):
                self.refuse(entry.raw_path, result)
                continue
            self.acknowledge(result)
            if result.outcome.media_type == "application/zip":
                assert result.outcome.sha256 is not None
                self.take_archive(entry.raw_path, result.outcome.sha256)
        if stop is not None:
            raise stop

    def publish(self, staged: list[Spooled]) -> list[StoredBlob]:
        """The batch's staged files as durable blobs (only a local store stages files)."""
        store = self.locker.store
        if not staged:
            return []
        assert isinstance(store, FilesystemStore)
        return store.publish_staged(staged)

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
            # Analysis lags behind storing: wait for a batch's worth in one commit, not one
            # commit per file stored.
            with self.conn.begin():
                self.record_ready_analysis(keep=MAX_PENDING_ANALYSIS - BATCH_FILES)

    def record_ready_analysis(self, keep: int | None = None) -> None:
        """Record finished analysis steps, inside the caller's transaction (one commit for an
        arrival and the analysis that finished meanwhile), in the order they were queued;
        with `keep`, wait until no more than that many are left running."""
        while self.pending and (
            self.pending[0][1].done() or (keep is not None and len(self.pending) > keep)
        ):
            name, future = self.pending.popleft()
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
            self.record_ready_analysis(keep=0)
            self.analysis_progress.finish()
            self.summary.checkpoint = make_checkpoint(
                self.conn, self.locker.signing_key, self.locker.origin, self.options.collector
            )


def _store_file(locker: Locker, entry: FileInput, label: str) -> StoredBlob | Spooled:
    """A local store's file is staged, for its batch to make durable; others are stored."""
    with open_input(entry) as stream:
        if isinstance(locker.store, FilesystemStore):
            return locker.store.stage(stream, label=label)
        return locker.store.put(stream, label=label)


def _batch(
    entries: list[FileInput | Refusal],
    start: int,
    storing: dict[int, Future[StoredBlob | Spooled]],
) -> list[tuple[FileInput, Future[StoredBlob | Spooled]]]:
    """The file at `start` (waited for) and the files after it already stored, up to
    BATCH_FILES, ending at a refusal, at a file still being stored, or after a zip."""
    batch: list[tuple[FileInput, Future[StoredBlob | Spooled]]] = []
    index = start
    while index < len(entries) and len(batch) < BATCH_FILES:
        entry, future = entries[index], storing.get(index)
        if not isinstance(entry, FileInput) or future is None or (batch and not future.done()):
            break
        batch.append((entry, storing.pop(index)))
        index += 1
        if future.exception() is None and mediatype.sniff(future.result().head) == (
            "application/zip"
        ):
            break
    return batch


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
    commits earlier ones, a batch at a time, in input order, so the log's order is the
    input's order. `progress`
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
        storing: dict[int, Future[StoredBlob | Spooled]] = {}
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
            index = 0
            while index < len(entries):
                entry = entries[index]
                if isinstance(entry, Refusal):
                    run.refuse(entry.raw_path, entry.reason)
                    index += 1
                    continue
                store_ahead()
                batch = _batch(entries, index, storing)
                index += len(batch)
                run.take_files(batch)
                for file, _stored in batch:
                    done_files += 1
                    done_bytes += file.size
                    progress.advance(done_files, done_bytes)
            progress.finish()  # every file is stored: the analysis still running is shown next
            run.finish()
        except Exception as exc:
            for future in storing.values():
                future.cancel()  # what was stored ahead stays in tmp/ (scratch.clean)
            progress.finish()
            run.analysis_progress.finish()
            if not is_disk_full(exc) and not isinstance(exc, ObjectStoreError):
                raise
            raise run.stopped_by(exc) from exc
    return run.summary
