"""Running analysis steps on items, in worker threads that each own their parser processes.

Each step works in its own scratch folder under the locker's tmp/ (never the system's), and
each thread's parser processes keep their temporary files in another (see store/scratch.py).
A step's output files are put in the store (durable, hashed) by the worker thread; the
caller records the result, its derivatives and hashes, and the custody event, in its own
transaction (see record_step_run), so the catalogue is written from one thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert

from docket.analyse.steps import DerivativeFile, Step, StepOutput, Tools, builtin_steps
from docket.catalogue import schema
from docket.catalogue.records import record_result
from docket.custody.events import Event
from docket.errors import DiskFullError, DocketError, ObjectStoreError
from docket.store import BlobStore, StoredBlob, scratch

WORKERS = max(2, os.cpu_count() or 2)


@dataclass(frozen=True)
class StepRun:
    item: str
    step: Step
    output: StepOutput | None
    stored: tuple[tuple[DerivativeFile, StoredBlob], ...]
    error: str | None


class Analyser:
    def __init__(
        self, store: BlobStore, steps: Sequence[Step] | None = None, workers: int = WORKERS
    ) -> None:
        self.store = store
        self.steps = list(steps) if steps is not None else builtin_steps()
        self._local = threading.local()
        self._all_tools: list[Tools] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docket-analyse")

    def _tools(self) -> Tools:
        tools: Tools | None = getattr(self._local, "tools", None)
        if tools is None:
            tools = Tools(scratch.make_folder(self.store.scratch_root, "parsers"))
            self._local.tools = tools
            with self._lock:
                self._all_tools.append(tools)
        return tools

    def applicable(self, media_type: str) -> list[Step]:
        return [step for step in self.steps if step.applies_to(media_type)]

    def submit(self, item: str, media_type: str, steps: Sequence[Step]) -> Future[list[StepRun]]:
        """Run an item's steps one after another in one thread (and so one picture worker,
        which then decodes the picture once for all of them)."""
        return self._pool.submit(self._run_all, item, media_type, list(steps))

    def _run_all(self, item: str, media_type: str, steps: list[Step]) -> list[StepRun]:
        """One file of the original for all the item's steps: a vault decrypts it once, and
        the picture worker, which keeps the last picture it decoded by path, decodes it once."""
        try:
            with self.store.plain_file(item) as original:
                return [self._run(item, original, media_type, step) for step in steps]
        except (DiskFullError, ObjectStoreError):
            raise
        except DocketError as exc:  # the original cannot be read (a vault blob that is damaged)
            return [StepRun(item, step, None, (), str(exc)) for step in steps]

    def _run(self, item: str, original: Path, media_type: str, step: Step) -> StepRun:
        with self.store.scratch(step.name) as folder:
            try:
                output = step.run(original, media_type, folder, self._tools())
                stored = []
                for derivative in output.derivatives:
                    with derivative.path.open("rb") as stream:
                        label = f"the {derivative.kind} file of item {item[:12]}"
                        stored.append((derivative, self.store.put(stream, label=label)))
            except (DiskFullError, ObjectStoreError):
                raise  # not the item's failure: the caller stops, and a later run redoes it
            except DocketError as exc:
                if scratch.no_room(folder):  # a parser could not write: not the item's fault
                    # (its own words would blame the file: ExifTool names the original)
                    raise DiskFullError(
                        f"locker disk full while analysing item {item[:12]} ({step.name}: no "
                        f"space left on device for its output in {folder.parent})"
                    ) from exc
                return StepRun(item, step, None, (), str(exc))
        return StepRun(item, step, output, tuple(stored), None)

    def close(self) -> None:
        """Stop the parsers while their threads still live (they die with those threads),
        then the threads. Callers collect every result before closing."""
        for tools in self._all_tools:
            tools.close()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Analyser:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def record_step_run(conn: Connection, actor: str, run: StepRun, case: str | None = None) -> Event:
    """Record a step's result (or failure) with its derivatives and hashes, in one event;
    `case` for a step a person ran as work of a case (a redaction, docket.scope)."""
    if run.output is None:
        return record_result(
            conn, actor, run.item, run.step.name, run.step.version, None, run.error, case
        )
    derivatives = [
        {
            "sha256": blob.digest.sha256,
            "kind": derivative.kind,
            "media_type": derivative.media_type,
            "size": blob.digest.size,
            "frame_time": derivative.frame_time,
        }
        for derivative, blob in run.stored
    ]
    hashes = [
        {"variant": h.variant, "pdq": h.pdq, "quality": h.quality, "frame_time": h.frame_time}
        for h in run.output.hashes
    ]
    data: dict[str, Any] = dict(run.output.data)
    if derivatives:
        data["derivatives"] = derivatives
    if hashes:
        data["hashes"] = hashes
    event = record_result(conn, actor, run.item, run.step.name, run.step.version, data, case=case)
    if derivatives:
        conn.execute(
            insert(schema.derivatives),
            [{**d, "item_sha256": run.item, "event_seq": event.seq} for d in derivatives],
        )
    if hashes:
        conn.execute(
            insert(schema.perceptual_hashes),
            [{**h, "item_sha256": run.item, "event_seq": event.seq} for h in hashes],
        )
    return event
