"""How many requests one serving process works on at once.

Synchronous routes run on anyio's worker threads, 40 at a time by default. Under load that
is the slow choice: every thread that runs a query lets go of the interpreter and takes it
back again, row by row, and SQLite's connections take turns at its locks, so with 20 clients a
grid request cost 21 ms of CPU at 40 threads and 9 ms at 2 (bench/web.py, 2 cores). A few
threads per process, and a process per core (`serve --workers`), keep each request cheap;
requests beyond them wait on the event loop, in order, instead of competing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from docket.web import collector


def limited_to(threads: int) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that lets `threads` synchronous requests (and dependencies, and pieces of
    streamed answers) run at once in the app's event loop, once the process has started and
    its long-lived objects are out of the collector's way (collector.settle)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        collector.settle()
        yield

    return lifespan
