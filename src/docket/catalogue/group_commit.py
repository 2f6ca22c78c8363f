"""Group commit: writers of one process share one database transaction and one durable commit.

Each commit costs one fsync (SQLite's WAL with synchronous=FULL, PostgreSQL's WAL flush), so
writers that commit one by one get at most 1/fsync-latency transactions a second. Here a
writer that arrives while a batch transaction is open joins it instead:

- Writers take turns on the batch's one connection; each one's block runs inside its own
  SAVEPOINT, so an error rolls back only that writer's work and is raised to it alone.
- The writer whose turn ends when nobody is waiting to join (or when the batch is full)
  commits the batch; there is no timer. Writers arriving during that commit wait and form the
  next batch, so batches grow by themselves as load grows.
- Every writer of a batch returns only after the batch's commit has returned, that is, once
  the database says it is durable; if the commit fails, every writer of the batch gets an
  error and none of their work was saved.
- A writer's `database.after_commit` actions run in its own thread once the batch commit is
  durable, and an error they raise reaches that writer alone; a rolled-back block's are
  dropped.

A block must not open another write transaction on the same engine, nor wait for another
thread that does: that thread waits for the batch, and the batch for the block. The same block
nested in itself is refused. Blocks that read and then write see one consistent view: the
transaction they share has every earlier writer's work of the batch and nothing that is not
committed by anyone else.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, RootTransaction

from docket.catalogue import driver_sql, held
from docket.catalogue.database import _AFTER_COMMIT  # the after-commit hooks' own queue
from docket.errors import disk_full_error, is_disk_full

_OPEN = "SAVEPOINT docket_writer"
_RELEASE = "RELEASE SAVEPOINT docket_writer"
_UNDO = "ROLLBACK TO SAVEPOINT docket_writer"
MOST_WRITERS = 500  # a batch's most writers: bounds its first writer's wait under steady load


class BatchCommitError(Exception):
    """The commit of a batch this writer's work was in failed: none of the batch was saved."""


def _signal() -> threading.Lock:
    """A one-shot signal: `acquire()` blocks until another thread calls `release()` once.
    A bare lock, fresh for each wait: a Condition or an Event costs several times as much,
    and makes the woken thread take a shared lock again, which its waker may still hold."""
    signal = threading.Lock()
    signal.acquire()
    return signal


@dataclass
class _Batch:
    conn: Connection
    transaction: RootTransaction
    writers: int = 0
    broken: BaseException | None = None  # the shared transaction cannot go on (see _undo)
    failure: BaseException | None = None  # set once, before `committed` are signalled
    committed: list[threading.Lock] = field(default_factory=list)  # writers awaiting the commit
    fresh: bool = True  # no block has done work in `transaction` yet (see _run_block)


class GroupCommitter:
    """Shares transactions and commits among the threads that write through one engine.

    The turn (the batch's connection) passes straight from one writer to the next waiting
    one by releasing that writer's own signal: one wake-up per turn, no shared lock to take
    again once woken."""

    def __init__(self, engine: Engine, most_writers: int = MOST_WRITERS) -> None:
        if most_writers < 1:
            raise ValueError("a batch needs room for at least one writer")
        self._engine = weakref.ref(engine)  # `committer` keeps one per engine, not the engine
        self._most = most_writers
        self._state = threading.Lock()  # guards the three below, held only briefly
        self._queue: deque[threading.Lock] = deque()  # signals of writers awaiting their turn
        self._busy = False  # a thread has the batch's connection (its block, or the commit)
        self._batch: _Batch | None = None
        self._inside = threading.local()

    @property
    def _waiting(self) -> int:
        """How many writers wait for their turn."""
        return len(self._queue)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in a transaction shared with other writers; on a clean exit, the
        block's work is committed and durable; on an error, it alone is rolled back."""
        if getattr(self._inside, "yes", False):
            raise RuntimeError("a grouped transaction cannot be nested in another")
        batch = self._take_turn()
        actions: list[Callable[[], None]] = []
        try:
            self._inside.yes = True
            try:
                actions = yield from self._run_block(batch)
            finally:
                self._inside.yes = False
        except BaseException:
            self._end_turn(batch)
            raise
        committed = _signal()
        batch.committed.append(committed)  # this thread has the turn: nobody else appends
        self._end_turn(batch)
        committed.acquire()
        if batch.failure is not None:
            if is_disk_full(batch.failure):
                raise disk_full_error(batch.failure) from batch.failure
            reason = str(batch.failure).strip().splitlines()[0] if str(batch.failure) else ""
            raise BatchCommitError(
                f"the catalogue's commit failed, nothing of this request was saved: "
                f"{type(batch.failure).__name__} {reason}".strip()
            ) from batch.failure
        for action in actions:
            action()

    def _run_block(self, batch: _Batch) -> Generator[Connection, None, list[Callable[[], None]]]:
        """Run the caller's block in a savepoint; its after-commit actions, once it released.
        The savepoint is SQL of our own, run on the driver's connection, not SQLAlchemy's
        begin_nested: that costs as much as an append itself, and a block's own begin_nested
        still nests inside ours. It is opened before the block's first statement (held.py):
        a block that only appends opens none. The transaction's first block needs none at
        all: should it fail, the whole transaction is rolled back and begun again (`_restart`),
        which is all a writer alone in its batch pays for."""
        conn = batch.conn
        conn.info.pop(_AFTER_COMMIT, None)
        first = batch.fresh
        if not first and not held.begin_block(conn, _OPEN):
            driver_sql.execute(conn, _OPEN)
        try:
            yield conn
            if not first and held.opened(conn):
                held.execute(conn, _RELEASE)
        except BaseException:
            conn.info.pop(_AFTER_COMMIT, None)
            if first:
                self._restart(batch)
            else:
                self._undo(batch)
                held.end_block(conn, undone=True)
            raise
        if not first:
            held.end_block(conn, undone=False)
        batch.fresh = False
        actions: list[Callable[[], None]] = conn.info.pop(_AFTER_COMMIT, [])
        return actions

    @staticmethod
    def _restart(batch: _Batch) -> None:
        """Undo the transaction's first block: roll the transaction back, begin another."""
        try:
            batch.transaction.rollback()
            batch.transaction = batch.conn.begin()
        except BaseException as exc:
            batch.broken = exc

    @staticmethod
    def _undo(batch: _Batch) -> None:
        """Roll back one block. SQLite ends the whole transaction itself on some errors (a full
        disk, an I/O error): then no savepoint is left, and the batch cannot commit."""
        if not held.opened(batch.conn):
            return  # it ran no statement: end_block gives back what it held
        try:
            held.execute(batch.conn, _UNDO)
            held.execute(batch.conn, _RELEASE)
        except BaseException as exc:
            batch.broken = exc

    def _take_turn(self) -> _Batch:
        with self._state:
            turn = None
            if self._busy:
                turn = _signal()
                self._queue.append(turn)
            self._busy = True
        if turn is not None:
            self._wait_turn(turn)
        batch = self._batch  # only the turn's holder sets or clears it
        if batch is not None:
            batch.writers += 1
            return batch
        try:
            engine = self._engine()
            if engine is None:
                raise RuntimeError("the engine of this group committer was dropped")
            conn = engine.connect()
            try:
                batch = _Batch(conn, conn.begin(), writers=1)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            self._hand_on()
            raise
        self._batch = batch
        return batch

    def _wait_turn(self, turn: threading.Lock) -> None:
        """Wait for `turn` to be handed over; interrupted (KeyboardInterrupt), leave the queue,
        or pass on a turn handed over meanwhile, so that no writer waits for this one."""
        try:
            turn.acquire()
        except BaseException:
            with self._state:
                queued = turn in self._queue
                if queued:
                    self._queue.remove(turn)
            if not queued:
                if self._batch is None:
                    self._hand_on()
                else:
                    self._end_turn(self._batch)
            raise

    def _end_turn(self, batch: _Batch) -> None:
        """Hand the connection to a waiting writer, or commit the batch when none waits."""
        with self._state:
            if batch.broken is None and self._queue and batch.writers < self._most:
                self._queue.popleft().release()
                return
        self._batch = None
        try:
            if batch.broken is not None:
                raise batch.broken
            batch.transaction.commit()
        except BaseException as exc:
            batch.failure = exc
            # A failed COMMIT can leave the transaction open (SQLite, on a deferred foreign key):
            # the connection is thrown away, not put back in the pool still in it.
            batch.conn.invalidate()
        finally:
            try:
                batch.conn.close()
            finally:
                self._hand_on()
                for committed in batch.committed:
                    committed.release()

    def _hand_on(self) -> None:
        """Give the turn to the first waiting writer, or leave it free."""
        with self._state:
            if self._queue:
                self._queue.popleft().release()
            else:
                self._busy = False


_COMMITTERS: weakref.WeakKeyDictionary[Engine, GroupCommitter] = weakref.WeakKeyDictionary()
_COMMITTERS_LOCK = threading.Lock()


def committer(engine: Engine) -> GroupCommitter:
    """The one group committer of `engine` in this process."""
    with _COMMITTERS_LOCK:
        found = _COMMITTERS.get(engine)
        if found is None:
            found = _COMMITTERS[engine] = GroupCommitter(engine)
        return found
