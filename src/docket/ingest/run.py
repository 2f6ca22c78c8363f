"""The ingest run: one ordered loop that preserves, records, reads metadata, then checkpoints.

Per file: the bytes are made durable in the store first; then the item, the acquisition and
the custody event are committed in one transaction; only then is the file reported as stored.
ExifTool reads the stored copy in a worker thread while the next file is being hashed.
"""

from __future__ import annotations

import zipfile
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from sqlalchemy import Connection

from docket import clock, mediatype
from docket.analyse.exiftool import ExifTool
from docket.analyse.metadata import STEP, STEP_VERSION, MetadataOutcome, read_metadata
from docket.catalogue.records import Arrival, latest_result, record_arrival, record_result
from docket.custody.ledger import StoredCheckpoint, make_checkpoint
from docket.errors import DocketError
from docket.ingest.archives import ArchiveError, ArchiveLimits, Member, members, open_archive
from docket.ingest.sources import FileInput, Refusal, open_input, walk
from docket.locker import Locker
from docket.names import display_name
from docket.store import StoredBlob

Status = Literal["new", "held", "refused"]
MAX_PENDING_METADATA = 32
STORE_WORKERS = 2
STORE_AHEAD = 4


@dataclass(frozen=True)
class IngestOptions:
    collector: str
    case: str | None = None
    source: str | None = None
    note: str | None = None
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)


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
    metadata_failures: list[tuple[str, str]] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None

    def count(self, status: Status) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)


class Progress:
    """Callbacks for a progress display; the library itself never prints."""

    def start(self, files: int, total_bytes: int) -> None: ...

    def advance(self, files: int, done_bytes: int) -> None: ...

    def finish(self) -> None: ...


class _Run:
    def __init__(
        self,
        locker: Locker,
        conn: Connection,
        options: IngestOptions,
        report: Callable[[Outcome], None],
        exiftool: ExifTool,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.locker = locker
        self.conn = conn
        self.options = options
        self.report = report
        self.exiftool = exiftool
        self.pool = pool
        self.summary = IngestSummary()
        self.pending: deque[tuple[str, str, Future[MetadataOutcome]]] = deque()

    def emit(self, outcome: Outcome) -> None:
        self.summary.outcomes.append(outcome)
        self.report(outcome)

    def refuse(self, raw_name: bytes, reason: str) -> None:
        self.emit(Outcome("refused", display_name(raw_name), reason=reason))

    def preserve(self, stream: IO[bytes], arrival: Arrival, limit: int | None = None) -> StoredBlob:
        return self.record(self.locker.store.put(stream, limit=limit), arrival)

    def record(self, blob: StoredBlob, arrival: Arrival) -> StoredBlob:
        """Commit the arrival of a durable blob, then report it as stored."""
        media_type = mediatype.sniff(blob.head)
        with self.conn.begin():
            new, event = record_arrival(self.conn, blob.digest, media_type, arrival)
            done = latest_result(self.conn, blob.digest.sha256, STEP)
            self.record_ready_metadata()
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
            )
        )
        if done is None or done["status"] != "ok" or done["step_version"] != STEP_VERSION:
            self.queue_metadata(blob.digest.sha256, name)
        return blob

    def arrival(self, raw_path: bytes, mtime: float | None, **extra: object) -> Arrival:
        return Arrival(
            collector=self.options.collector,
            method="import",
            original_path_raw=raw_path,
            source=self.options.source,
            file_mtime=None if mtime is None else clock.from_timestamp(mtime),
            note=self.options.note,
            case=self.options.case,
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
            with open_archive(self.locker.store.path(sha256)) as archive:
                for member in members(archive, raw_path, self.options.limits):
                    if isinstance(member, Refusal):
                        self.refuse(member.raw_path, member.reason)
                    else:
                        self.take_member(archive, member, raw_path, sha256)
        except ArchiveError as exc:
            self.refuse(raw_path + b"!/", f"archive not expanded: {exc} (the archive is held)")

    def take_member(
        self, archive: zipfile.ZipFile, member: Member, raw_path: bytes, container: str
    ) -> None:
        arrival = self.arrival(
            raw_path,
            None,
            container_sha256=container,
            path_in_container_raw=member.raw_name,
        )
        try:
            with archive.open(member.info) as stream:
                self.preserve(stream, arrival, limit=member.info.file_size)
        except (zipfile.BadZipFile, OSError, EOFError, DocketError, NotImplementedError) as exc:
            self.refuse(raw_path + b"!/" + member.raw_name, f"member cannot be read: {exc}")

    def queue_metadata(self, sha256: str, name: str) -> None:
        path = self.locker.store.path(sha256)
        future = self.pool.submit(read_metadata, self.exiftool, Path(path))
        self.pending.append((sha256, name, future))
        if len(self.pending) > MAX_PENDING_METADATA:
            with self.conn.begin():
                self.record_ready_metadata(wait_for_one=True)

    def record_ready_metadata(self, wait_for_one: bool = False, wait_for_all: bool = False) -> None:
        """Record finished ExifTool reads, inside the caller's transaction (one commit for
        an arrival and the metadata that finished meanwhile)."""
        while self.pending and (wait_for_all or wait_for_one or self.pending[0][2].done()):
            sha256, name, future = self.pending.popleft()
            wait_for_one = False
            try:
                outcome = future.result()
            except DocketError as exc:
                self.summary.metadata_failures.append((name, str(exc)))
                record_result(
                    self.conn, self.options.collector, sha256, STEP, STEP_VERSION, None, str(exc)
                )
            else:
                data = {
                    "normalised": outcome.normalised.as_dict(),
                    "raw": outcome.raw,
                    "exiftool": self.exiftool.version,
                }
                record_result(self.conn, self.options.collector, sha256, STEP, STEP_VERSION, data)

    def finish(self) -> None:
        with self.conn.begin():
            self.record_ready_metadata(wait_for_all=True)
            self.summary.checkpoint = make_checkpoint(
                self.conn, self.locker.signing_key, self.locker.origin, self.options.collector
            )


def _store_file(locker: Locker, entry: FileInput) -> StoredBlob:
    with open_input(entry) as stream:
        return locker.store.put(stream)


def ingest(
    locker: Locker,
    paths: Iterable[bytes],
    options: IngestOptions,
    report: Callable[[Outcome], None] = lambda _outcome: None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Take every file under `paths` into the locker; one bad input never stops the rest.

    Up to STORE_AHEAD files are hashed and written by worker threads while the main thread
    commits earlier ones in input order, so the log's order is the input's order.
    """
    entries = list(walk(paths))
    progress = progress or Progress()
    files = [entry for entry in entries if isinstance(entry, FileInput)]
    progress.start(len(files), sum(entry.size for entry in files))
    with (
        ExifTool() as exiftool,
        ThreadPoolExecutor(max_workers=1) as metadata_pool,
        ThreadPoolExecutor(max_workers=STORE_WORKERS) as store_pool,
        locker.engine.connect() as conn,
    ):
        run = _Run(locker, conn, options, report, exiftool, metadata_pool)
        storing: dict[int, Future[StoredBlob]] = {}
        upcoming = (i for i, entry in enumerate(entries) if isinstance(entry, FileInput))

        def store_ahead() -> None:
            while len(storing) < STORE_AHEAD and (index := next(upcoming, None)) is not None:
                entry = entries[index]
                assert isinstance(entry, FileInput)
                storing[index] = store_pool.submit(_store_file, locker, entry)

        done_files = done_bytes = 0
        for index, entry in enumerate(entries):
            if isinstance(entry, Refusal):
                run.refuse(entry.raw_path, entry.reason)
                continue
            store_ahead()
            run.take_file(entry, storing.pop(index))
            done_files += 1
            done_bytes += entry.size
            progress.advance(done_files, done_bytes)
        run.finish()
        progress.finish()
    return run.summary
