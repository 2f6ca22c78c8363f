"""Progress on a terminal (files, MB/s, time left); nothing at all when output is piped."""

from __future__ import annotations

import sys

from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from docket.ingest.run import Progress as IngestProgress


class TerminalProgress(IngestProgress):
    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("ingest"),
            BarColumn(),
            TextColumn("{task.fields[files]}/{task.fields[total_files]} files"),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._task = 0

    def start(self, files: int, total_bytes: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task(
            "ingest", total=max(total_bytes, 1), files=0, total_files=files
        )

    def advance(self, files: int, done_bytes: int) -> None:
        self._bar.update(self._task, completed=done_bytes, files=files)  # type: ignore[arg-type]

    def finish(self) -> None:
        self._bar.stop()


def progress_for_terminal() -> IngestProgress | None:
    return TerminalProgress() if sys.stderr.isatty() else None
