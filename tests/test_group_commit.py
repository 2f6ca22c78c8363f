"""Group commit (docket.catalogue.group_commit): concurrent writers share one transaction and
one durable commit; one writer's error is its own; a failed commit reaches every writer."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, event, insert, select, text
from sqlalchemy.exc import IntegrityError, InternalError

from docket.catalogue import schema
from docket.catalogue.database import after_commit
from docket.catalogue.group_commit import BatchCommitError, GroupCommitter
from docket.custody import ledger, log, witness
from docket.custody.events import Event
from docket.locker import Locker
from docket.verify import verify


class Gate:
    """Lets one writer hold its turn until the others wait to join its batch."""

    def __init__(self, committer: GroupCommitter) -> None:
        self.committer = committer
        self.held = threading.Event()

    def hold_for(self, count: int) -> None:
        """In the first writer's block: return once `count` other writers wait."""
        self.held.set()
        deadline = time.monotonic() + 120
        while self.committer._waiting < count:
            assert time.monotonic() < deadline, f"{count} writers never queued"
            time.sleep(0.001)

    def behind(self) -> None:
        """Before another writer's transaction: wait until the first one holds its turn."""
        assert self.held.wait(120), "the first writer never took its turn"


def in_threads(*work: Callable[[], Any]) -> list[Any]:
    """Run each callable in a thread of its own; its result, or the exception it raised."""
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        try:
            results[index] = work[index]()
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def commits_of(locker: Locker) -> list[int]:
    """A list that counts the commits made through the locker's engine from now on."""
    counted: list[int] = []
    event.listen(locker.engine, "commit", lambda _conn: counted.append(1))
    return counted


def all_events(locker: Locker) -> list[Event]:
    with locker.engine.connect() as conn:
        return list(log.events(conn))


def assert_log_sound(locker: Locker) -> list[Event]:
    found = all_events(locker)
    with locker.engine.connect() as conn:
        assert log.size(conn) == len(found)
    assert [e.seq for e in found] == list(range(len(found)))
    report = verify(locker)
    assert report.ok, report.problems
    return found


def test_many_threads_appending_at_once_are_each_in_the_log_once(locker: Locker) -> None:
    committer = GroupCommitter(locker.engine)

    def writer(index: int) -> list[Event]:
        made = []
        for n in range(25):
            with committer.transaction() as conn:
                made.append(log.append(conn, f"writer-{index}", "test.note", details={"n": n}))
        return made

    results = in_threads(*[lambda i=i: writer(i) for i in range(12)])
    returned = [e for made in results for e in made]
    found = {e.seq: e for e in assert_log_sound(locker)}
    assert len({e.seq for e in returned}) == len(returned) == 300
    for made in returned:
        assert found[made.seq] == made
    assert len(found) == 301  # and locker.created


def test_writers_that_arrive_together_share_one_commit(locker: Locker) -> None:
    committer = GroupCommitter(locker.engine)
    gate = Gate(committer)
    commits = commits_of(locker)

    def first() -> Event:
        with committer.transaction() as conn:
            made = log.append(conn, "first", "test.note")
            gate.hold_for(3)
            return made

    def later(name: str) -> Callable[[], Event]:
        def append() -> Event:
            gate.behind()
            with committer.transaction() as conn:
                return log.append(conn, name, "test.note")

        return append

    results = in_threads(first, later("a"), later("b"), later("c"))
    assert all(isinstance(r, Event) for r in results), results
    assert len(commits) == 1
    assert sorted(e.actor for e in assert_log_sound(locker)[1:]) == ["a", "b", "c", "first"]


def test_a_failing_block_rolls_back_only_its_own_work(locker: Locker) -> None:
    committer = GroupCommitter(locker.engine)
    gate = Gate(committer)
    ran: list[str] = []

    def first() -> Event:
        with committer.transaction() as conn:
            made = log.append(conn, "first", "test.note")
            after_commit(conn, lambda: ran.append("first"))
            gate.hold_for(2)
            return made

    def failing() -> Event:
        gate.behind()
        with committer.transaction() as conn:
            made = log.append(conn, "failing", "test.note")
            after_commit(conn, lambda: ran.append("failing"))
            # a database error: on PostgreSQL it aborts the whole transaction until rolled back
            conn.execute(insert(schema.log_head).values(id=1, size=0))
            return made

    def other() -> Event:
        gate.behind()
        with committer.transaction() as conn:
            made = log.append(conn, "other", "test.note")
            after_commit(conn, lambda: ran.append("other"))
            return made

    results = in_threads(first, failing, other)
    assert isinstance(results[0], Event) and isinstance(results[2], Event)
    assert "log_head" in str(results[1]) or "UNIQUE" in str(results[1]), results[1]
    found = assert_log_sound(locker)
    assert {e.actor for e in found} == {"tester", "first", "other"}
    assert found[results[0].seq] == results[0] and found[results[2].seq] == results[2]
    assert sorted(ran) == ["first", "other"]


def make_commit_fail(conn: Connection) -> None:
    """A row whose foreign key is checked only at COMMIT, and fails there (both backends)."""
    conn.execute(text("INSERT INTO probe_child (parent) VALUES (1)"))


def test_a_failed_commit_reaches_every_writer_of_the_batch(locker: Locker) -> None:
    with locker.engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe_parent (id INTEGER PRIMARY KEY)"))
        conn.execute(
            text(
                "CREATE TABLE probe_child (parent INTEGER REFERENCES probe_parent (id) "
                "DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    committer = GroupCommitter(locker.engine)
    gate = Gate(committer)
    ran: list[str] = []

    def first() -> Event:
        with committer.transaction() as conn:
            made = log.append(conn, "first", "test.note")
            after_commit(conn, lambda: ran.append("first"))
            gate.hold_for(2)
            return made

    def spoiler() -> Event:
        gate.behind()
        with committer.transaction() as conn:
            make_commit_fail(conn)
            return log.append(conn, "spoiler", "test.note")

    def other() -> Event:
        gate.behind()
        with committer.transaction() as conn:
            return log.append(conn, "other", "test.note")

    results = in_threads(first, spoiler, other)
    for result in results:
        assert isinstance(result, BatchCommitError), results
        assert "nothing of this request was saved" in str(result)
        assert "\n" not in str(result)
    assert ran == []
    with committer.transaction() as conn:  # the committer goes on with a fresh transaction
        after = log.append(conn, "after", "test.note")
    with locker.engine.begin() as conn:
        conn.execute(text("DROP TABLE probe_child"))
        conn.execute(text("DROP TABLE probe_parent"))
    assert [e.actor for e in assert_log_sound(locker)] == ["tester", "after"]
    assert after.seq == 1


def test_after_commit_actions_run_after_the_batch_commit(locker: Locker) -> None:
    """A checkpoint signed in a grouped block reaches checkpoints.log only once committed."""
    committer = GroupCommitter(locker.engine)
    seen: list[int] = []

    def look() -> None:  # another connection sees the commit by the time the action runs
        with locker.engine.connect() as other:
            seen.append(int(other.execute(select(schema.log_head.c.size)).scalar_one()))

    with committer.transaction() as conn:
        log.append(conn, "signer", "test.note")
        after_commit(conn, look)
        stored = ledger.make_checkpoint(conn, locker.signing_key, locker.origin, "signer")
    assert seen == [3]  # locker.created, the note, checkpoint.made
    written = (locker.path / witness.FILE_NAME).read_bytes()
    assert written.endswith(witness.line(stored.id, stored.checkpoint))
    assert_log_sound(locker)


def test_a_grouped_transaction_cannot_nest(locker: Locker) -> None:
    committer = GroupCommitter(locker.engine)
    with committer.transaction() as conn:
        log.append(conn, "outer", "test.note")
        with pytest.raises(RuntimeError, match="nested"), committer.transaction():
            pass
    assert [e.actor for e in assert_log_sound(locker)] == ["tester", "outer"]


def test_a_block_that_swallows_a_database_error_spoils_no_other_writer(locker: Locker) -> None:
    """On PostgreSQL a failed statement aborts the transaction even when the block catches
    its error: that block's release fails and it is rolled back; the others still commit."""
    committer = GroupCommitter(locker.engine)
    gate = Gate(committer)

    def first() -> Event:
        with committer.transaction() as conn:
            made = log.append(conn, "first", "test.note")
            gate.hold_for(1)
            return made

    def swallower() -> Event:
        gate.behind()
        with committer.transaction() as conn:
            made = log.append(conn, "swallower", "test.note")
            with contextlib.suppress(IntegrityError):
                conn.execute(insert(schema.log_head).values(id=1, size=0))
            return made

    results = in_threads(first, swallower)
    with committer.transaction() as conn:
        log.append(conn, "after", "test.note")
    actors = [e.actor for e in assert_log_sound(locker)]
    assert isinstance(results[0], Event)
    if locker.engine.dialect.name == "sqlite":  # the failed statement alone was undone
        assert isinstance(results[1], Event)
        assert actors == ["tester", "first", "swallower", "after"]
    else:
        assert isinstance(results[1], InternalError), results[1]
        assert actors == ["tester", "first", "after"]
