"""The group committer's turn passes from writer to writer (docket.catalogue.group_commit): a
writer interrupted while it waits for its turn (Ctrl-C reaches the main thread) leaves the
queue, or passes on a turn handed to it meanwhile, so that no other writer waits for it."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from docket.catalogue.group_commit import GroupCommitter
from docket.custody import log
from docket.custody.events import Event
from docket.locker import Locker
from docket.verify import verify


class Interrupted(Exception):
    """What the test's signal handler raises in the main thread, as Ctrl-C would."""


def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


@contextmanager
def interrupt_handler(handler: Callable[[int, Any], None]) -> Iterator[None]:
    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


def interrupt_main_thread() -> None:
    main = threading.main_thread().ident
    assert main is not None
    signal.pthread_kill(main, signal.SIGUSR1)


def holder(
    committer: GroupCommitter, in_turn: Callable[[], None]
) -> tuple[threading.Thread, list[Any]]:
    """A thread that appends in a grouped transaction and calls `in_turn` inside its block."""
    result: list[Any] = []
    taken = threading.Event()

    def run() -> None:
        try:
            with committer.transaction() as conn:
                made = log.append(conn, "holder", "test.note")
                taken.set()
                in_turn()
            result.append(made)
        except BaseException as exc:
            result.append(exc)
            taken.set()

    thread = threading.Thread(target=run, daemon=True)  # a failing test may leave it stuck
    thread.start()
    assert taken.wait(120), "the holder never took its turn"
    return thread, result


def interrupted_waiting(committer: GroupCommitter) -> None:
    with pytest.raises(Interrupted), committer.transaction() as conn:
        log.append(conn, "interrupted", "test.note")


def test_a_writer_interrupted_while_queued_leaves_the_queue(locker: Locker) -> None:
    committer = GroupCommitter(locker.engine)

    def in_turn() -> None:
        until(lambda: committer._waiting == 1, "the main thread never queued")
        interrupt_main_thread()
        until(lambda: committer._waiting == 0, "the interrupted writer stayed in the queue")

    def on_signal(_number: int, _frame: Any) -> None:
        raise Interrupted

    with interrupt_handler(on_signal):
        thread, result = holder(committer, in_turn)
        interrupted_waiting(committer)
    thread.join(120)
    assert not thread.is_alive(), "the holder never got its commit"
    assert isinstance(result[0], Event), result
    with committer.transaction() as conn:
        log.append(conn, "after", "test.note")
    with locker.engine.connect() as conn:
        assert [e.actor for e in log.events(conn)][-2:] == ["holder", "after"]
    assert verify(locker).ok


def test_a_writer_interrupted_once_handed_the_turn_passes_it_on(locker: Locker) -> None:
    """The holder hands the turn over while the main thread is still in its signal handler:
    the main thread commits the holder's batch instead of leaving it open."""
    committer = GroupCommitter(locker.engine)

    def in_turn() -> None:
        until(lambda: committer._waiting == 1, "the main thread never queued")
        interrupt_main_thread()

    def on_signal(_number: int, _frame: Any) -> None:
        until(lambda: committer._waiting == 0, "the holder never handed over its turn")
        raise Interrupted

    with interrupt_handler(on_signal):
        thread, result = holder(committer, in_turn)
        interrupted_waiting(committer)
    thread.join(120)
    assert not thread.is_alive(), "the holder's batch was left open"
    assert isinstance(result[0], Event), result
    with committer.transaction() as conn:
        log.append(conn, "after", "test.note")
    with locker.engine.connect() as conn:
        assert [e.actor for e in log.events(conn)][-2:] == ["holder", "after"]
    assert verify(locker).ok
