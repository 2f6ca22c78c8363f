"""A progress bar drawn with rich (done of total, rate, time left); _terminal.py decides when."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from docket.progress import Progress


class _RateColumn(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed or 0:.1f} {self.unit}/s")


class TerminalProgress(Progress):
    """Ingest counts files and measures bytes (MB/s); other work counts items."""

    def __init__(self, label: str, by_bytes: bool) -> None:
        columns: list[ProgressColumn] = [TextColumn(label), BarColumn()]
        if by_bytes:
            columns += [
                TextColumn("{task.fields[count]}/{task.fields[total_count]} files"),
                TransferSpeedColumn(),
            ]
        else:
            columns += [MofNCompleteColumn(), _RateColumn("items")]
        self._bar = RichProgress(*columns, TimeRemainingColumn(), transient=True)
        self._task = 0

    def start(self, count: int, amount: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("", total=max(amount, 1), count=0, total_count=count)

    def advance(self, count: int, amount: int) -> None:
        self._bar.update(self._task, completed=amount, count=count)  # type: ignore[arg-type]

    def finish(self) -> None:
        self._bar.stop()
