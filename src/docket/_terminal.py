"""Progress on a terminal (done of total, rate, time left); nothing when output is piped.

rich, which draws the bar, is imported only when there is a terminal to draw on: a tenth of a
second of every command's start otherwise (most never show progress, and none when piped).
"""

from __future__ import annotations

import sys

from docket.progress import Progress


def progress_for_terminal(label: str = "ingest", by_bytes: bool = True) -> Progress | None:
    if not sys.stderr.isatty():
        return None
    from docket._terminal_bar import TerminalProgress

    return TerminalProgress(label, by_bytes)
