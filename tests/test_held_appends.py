"""Custody log rows held back in their transaction (docket.catalogue.held): a block that only
appends runs no statement; every statement, and the commit, sees each append as written; an
undone block, a rolled-back savepoint or a dropped transaction takes its own appends with it
and gives their numbers back, and nothing else."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, event, insert, select
from sqlalchemy.exc import IntegrityError
from test_group_commit import Gate, assert_log_sound, commits_of, in_threads
from test_group_commit_handoff import until

from docket.catalogue import driver_sql, schema
from docket.catalogue.database import after_commit
from docket.catalogue.group_commit import GroupCommitter
from docket.custody import log
from docket.custody.events import Event
from docket.locker import Locker


class Statements:
    """Every statement run through the locker's engine, SQLAlchemy's and the driver's own,
    with whether it ran inside a block the test marked (`inside`)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []
        self._marked = threading.local()

    def note(self, statement: str) -> None:
        self.seen.append((statement, getattr(self._marked, "yes", False)))

    @contextmanager
    def inside(self) -> Iterator[None]:
        self._marked.yes = True
        try:
            yield
        finally:
            self._marked.yes = False

    def marked(self) -> list[str]:
        return [statement for statement, inside in self.seen if inside]

    def count(self, start: str) -> int:
        return sum(statement.startswith(start) for statement, _ in self.seen)


@pytest.fixture
def statements(locker: Locker, monkeypatch: pytest.MonkeyPatch) -> Iterator[Statements]:
    found = Statements()
    run = driver_sql.run

    def counted_run(raw: Any, dialect: Any, statement: str, *args: Any, **kwargs: Any) -> Any:
        found.note(statement)
        return run(raw, dialect, statement, *args, **kwargs)

    def before(_conn: Connection, _cursor: Any, statement: str, *_rest: Any) -> None:
        found.note(statement)

    monkeypatch.setattr(driver_sql, "run", counted_run)
    event.listen(locker.engine, "before_cursor_execute", before)
    yield found
    event.remove(locker.engine, "before_cursor_execute", before)


def test_writers_that_only_append_run_no_statement_of_their_own(
    locker: Locker, statements: Statements
) -> None:
    committer = GroupCommitter(locker.engine)
    gate = Gate(committer)
    commits = commits_of(locker)

    def first() -> Event:
        with committer.transaction() as conn:
            made = log.append(conn, "first", "test.note")
            gate.hold_for(5)
            return made

    def appender(name: str) -> Callable[[], list[Event]]:
        def append_twice() -> list[Event]:
            gate.behind()
            with committer.transaction() as conn, statements.inside():
                return [log.append(conn, name, "test.note", details={"n": n}) for n in (1, 2)]

        return append_twice

    results = in_threads(first, *(appender(f"w{i}") for i in range(5)))
    assert statements.marked() == []  # ten appends, not one statement among them
    # none at all: the batch's first block needs none, and the others ran no statement
    assert statements.count("SAVEPOINT docket_writer") == 0
    assert len(commits) == 1
    found = assert_log_sound(locker)
    made = [results[0], *(event for events in results[1:] for event in events)]
    assert sorted(made, key=lambda e: e.seq) == found[1:]
    assert [e.time for e in found] == sorted(e.time for e in found)


def test_a_block_sees_its_own_held_appends_and_those_before_it(locker: Locker) -> None:
    committer = GroupCommitter(locker.engine)
    gate = Gate(committer)
    item = "ab" * 32

    def first() -> Event:
        with committer.transaction() as conn:
            made = log.append(conn, "first", "test.note")
            gate.hold_for(2)
            return made

    def held_only() -> Event:
        gate.behind()
        with committer.transaction() as conn:
            return log.append(conn, "held", "test.note", item=item)

    def reader() -> tuple[list[Event], int, int, Event | None, list[Event]]:
        # queued behind held_only: while `first` holds its turn, only held_only can be waiting
        until(lambda: gate.held.is_set() and committer._waiting > 0, "held_only never queued")
        with committer.transaction() as conn:
            own = [log.append(conn, "reader", "test.note", item=item) for _ in range(3)]
            of_item = list(log.events(conn, item))
            return own, log.size(conn), log.lock(conn), log.get(conn, own[-1].seq), of_item

    results = in_threads(first, held_only, reader)
    own, size, locked, last, of_item = results[2]
    assert size == locked == own[-1].seq + 1
    assert last == own[-1]
    assert of_item == [results[1], *own]
    assert assert_log_sound(locker)[-4:] == of_item


def test_a_failing_block_that_ran_no_statement_gives_its_numbers_back(locker: Locker) -> None:
    committer = GroupCommitter(locker.engine)
    gate = Gate(committer)
    order: list[str] = []

    def first() -> Event:
        with committer.transaction() as conn:
            made = log.append(conn, "first", "test.note")
            gate.hold_for(1)
            return made

    def failing() -> Event:
        gate.behind()
        with committer.transaction() as conn:
            log.append(conn, "failing", "test.note")
            log.append(conn, "failing", "test.note")
            order.append("failing")
            until(lambda: committer._waiting > 0, "`last` never joined this batch")
            raise ValueError("a block's own error, no statement run")

    def last() -> Event:
        until(lambda: bool(order), "the failing block never ran")  # then join its batch
        with committer.transaction() as conn:
            return log.append(conn, "last", "test.note")

    results = in_threads(first, failing, last)
    assert isinstance(results[1], ValueError)
    found = assert_log_sound(locker)
    assert [e.actor for e in found] == ["tester", "first", "last"]
    assert results[2].seq == results[0].seq + 1


def test_an_undone_block_keeps_the_rows_held_before_it(
    locker: Locker, statements: Statements
) -> None:
    """Held rows of an earlier writer are written before the failing block's savepoint, so
    rolling back to it undoes that block alone."""
    committer = GroupCommitter(locker.engine)
    gate = Gate(committer)
    held_in_block = threading.Event()

    def first() -> Event:
        with committer.transaction() as conn:
            made = log.append(conn, "first", "test.note")
            gate.hold_for(1)
            return made

    def held_only() -> Event:
        gate.behind()
        with committer.transaction() as conn:  # the batch's second block: not the first
            made = log.append(conn, "held", "test.note")
            held_in_block.set()
            gate.hold_for(1)  # the failing writer queues behind this one, in this batch
            return made

    def failing() -> Event:
        assert held_in_block.wait(120), "held_only never ran its block"
        with committer.transaction() as conn:
            log.append(conn, "failing", "test.note")
            conn.execute(insert(schema.log_head).values(id=1, size=0))  # a database error
            raise AssertionError("the insert above fails")

    def after() -> Event:
        with committer.transaction() as conn:
            return log.append(conn, "after", "test.note")

    results = in_threads(first, held_only, failing)
    assert isinstance(results[2], IntegrityError), results[2]
    follower = after()
    found = assert_log_sound(locker)
    assert [e.actor for e in found] == ["tester", "first", "held", "after"]
    assert found[-2] == results[1] and found[-1] == follower
    assert statements.count("ROLLBACK TO SAVEPOINT docket_writer") == 1


def test_a_rolled_back_savepoint_takes_its_held_appends_with_it(locker: Locker) -> None:
    with locker.engine.connect() as conn:
        before = log.append(conn, "tester", "test.before")
        nested = conn.begin_nested()
        dropped = [log.append(conn, "tester", "test.dropped") for _ in range(3)]
        nested.rollback()
        kept = log.append(conn, "tester", "test.kept")
        inner = conn.begin_nested()
        released = log.append(conn, "tester", "test.released")
        inner.commit()
        conn.commit()
    found = assert_log_sound(locker)
    assert [e.action for e in found][-3:] == ["test.before", "test.kept", "test.released"]
    assert kept.seq == before.seq + 1 == dropped[0].seq
    assert found[-2:] == [kept, released]


def test_appends_of_a_transaction_never_committed_are_dropped_and_forgotten(
    locker: Locker,
) -> None:
    with locker.engine.connect() as conn:
        size = log.size(conn)
    with locker.engine.connect() as conn:
        for _ in range(3):
            log.append(conn, "tester", "test.dropped")
    with locker.engine.connect() as conn:  # the pool's same connection, most likely
        first = log.append(conn, "tester", "test.kept")
        second = log.append(conn, "tester", "test.kept")
        conn.rollback()
        again = log.append(conn, "tester", "test.kept")
        conn.commit()
    assert first.seq == again.seq == size and second.seq == size + 1
    found = assert_log_sound(locker)
    assert [e.action for e in found[size:]] == ["test.kept"]
    assert found[size] == again


def test_connections_taking_turns_with_several_appends_each_stay_dense(locker: Locker) -> None:
    made: list[Event] = []
    with locker.engine.connect() as one, locker.engine.connect() as other:
        for n in range(3):
            for conn in (one, other, other):
                made += [
                    log.append(conn, "tester", "test.turns", details={"n": n, "k": k})
                    for k in (1, 2, 3)
                ]
                conn.commit()
    found = assert_log_sound(locker)
    assert found[-len(made) :] == made
    assert [e.time for e in found] == sorted(e.time for e in found)


def test_an_autocommit_connection_writes_each_append_at_once(locker: Locker) -> None:
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("AUTOCOMMIT is used on PostgreSQL alone (the job queue's advisory locks)")
    with locker.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        made = [log.append(conn, "tester", "test.autocommit") for _ in range(2)]
        with locker.engine.connect() as other:  # seen by another before any commit
            seen = list(
                other.execute(select(schema.events.c.seq).where(schema.events.c.seq >= made[0].seq))
            )
    assert [seq for (seq,) in seen] == [e.seq for e in made]
    assert_log_sound(locker)


def test_a_failing_first_block_takes_only_its_own_work_with_it(
    locker: Locker, statements: Statements
) -> None:
    """The batch's first block runs without a savepoint: when it fails, the transaction is
    rolled back and begun again, and the writers queued behind it commit in the new one."""
    committer = GroupCommitter(locker.engine)
    gate = Gate(committer)
    commits = commits_of(locker)
    ran: list[str] = []

    def failing_first() -> Event:
        with committer.transaction() as conn:
            log.append(conn, "failing", "test.note")
            log.append(conn, "failing", "test.note")
            after_commit(conn, lambda: ran.append("failing"))
            gate.hold_for(2)
            conn.execute(insert(schema.log_head).values(id=1, size=0))  # a database error
            raise AssertionError("the insert above fails")

    def other(name: str) -> Callable[[], Event]:
        def append() -> Event:
            gate.behind()
            with committer.transaction() as conn:
                after_commit(conn, lambda: ran.append(name))
                return log.append(conn, name, "test.note")

        return append

    results = in_threads(failing_first, other("b"), other("c"))
    assert isinstance(results[0], IntegrityError), results[0]
    assert sorted(ran) == ["b", "c"] and len(commits) == 1
    found = assert_log_sound(locker)
    assert sorted(e.actor for e in found) == ["b", "c", "tester"]
    assert statements.count("SAVEPOINT docket_writer") == 0
