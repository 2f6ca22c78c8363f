"""Sign-in throttling after OWASP's authentication guidance: growing delays, never a lock.

A lock that anyone can trigger by typing a name is a way to keep a team out, and one that
only known names can trigger tells which names exist. So failures are counted per key, and
after a few free ones each further try must wait longer (1 s, 2 s, 4 s, ... up to
MAX_DELAY). The keys are:

- the account name together with the client: a person hammering an account slows only
  themselves; its owner signs in from their own machine as usual;
- the client alone, with more free failures: one machine spraying many names is slowed too.

Unknown names are counted exactly like known ones, so the throttle says nothing about which
names exist. A client is its IP address (an IPv6 client its /64 network, which one device
usually holds whole); behind a reverse proxy, uvicorn takes it from X-Forwarded-For when the
proxy is trusted (its --forwarded-allow-ips, loopback by default).

State lives in this server's memory, never in the catalogue (a per-account column cannot key
by client, and would let anyone lock an account): an in-memory SQLite database for a server of
one process; for `docket serve --workers N`, a SQLite file in the private RAM folder the
workers share (web/workers.py), so every worker counts every guess. Bounded to MAX_KEYS keys,
the least recently failed forgotten first, and a key is forgotten FORGET_SECONDS after its
last failure. A restart forgets all. Admins list and clear the keys (the /throttles page and
/api/throttles).
"""

from __future__ import annotations

import ipaddress
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FREE_PER_ACCOUNT = 5
FREE_PER_CLIENT = 20
MAX_DELAY = 900.0
FORGET_SECONDS = 3600.0
MAX_KEYS = 10_000

# (account name, client); the name None is the key of the client alone.
Key = tuple[str | None, str]


def client_key(host: str | None) -> str:
    """The client a request came from, as throttles count it."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return host or "unknown"
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


@dataclass(frozen=True)
class Attempt:
    """A sign-in try as the throttle answered it: `wait` seconds before the client may try
    (0: this try was let through and counted); the client's last failure before it."""

    wait: float
    client_last: float | None


def _delay(failures: int, free: int) -> float:
    return 0.0 if failures < free else min(2.0 ** (failures - free), MAX_DELAY)


class Throttle:
    """Failures by key. `path`: the file shared by a server's worker processes (each opens
    it for itself, after the fork); None keeps them in this process alone. `clock` must read
    alike in every process sharing the file (time.monotonic does, on one machine)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, path: Path | None = None
    ) -> None:
        self._clock = clock
        self._path = path
        self._lock = threading.Lock()
        self._memory = None if path is not None else self._open(":memory:")

    @staticmethod
    def _open(where: str) -> sqlite3.Connection:
        db = sqlite3.connect(where, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA synchronous=OFF")  # in RAM, and gone at a restart anyway
        db.execute(
            "CREATE TABLE IF NOT EXISTS failures (account INTEGER NOT NULL, name TEXT NOT NULL,"
            " client TEXT NOT NULL, failures INTEGER NOT NULL, last REAL NOT NULL,"
            " PRIMARY KEY (account, name, client))"
        )
        return db

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A connection in a write transaction: the keys read are the keys written."""
        with self._lock:
            db = self._memory or self._open(str(self._path))
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            finally:
                if db is not self._memory:
                    db.close()

    @staticmethod
    def _row(key: Key) -> tuple[int, str, str]:
        return (0, "", key[1]) if key[0] is None else (1, key[0], key[1])

    def _count(self, db: sqlite3.Connection, key: Key, now: float) -> tuple[int, float] | None:
        found = db.execute(
            "SELECT failures, last FROM failures WHERE account = ? AND name = ? AND client = ?",
            self._row(key),
        ).fetchone()
        if found is None or now - found[1] > FORGET_SECONDS:
            return None
        return int(found[0]), float(found[1])

    def _wait_for(self, db: sqlite3.Connection, key: Key, now: float) -> float:
        count = self._count(db, key, now)
        if count is None:
            return 0.0
        free = FREE_PER_CLIENT if key[0] is None else FREE_PER_ACCOUNT
        return max(0.0, count[1] + _delay(count[0], free) - now)

    def begin(self, name: str, client: str) -> Attempt:
        """Whether this client may try this name now (`wait` 0) or in how many seconds; a try
        let through is counted as failed from now until `succeeded` says otherwise. Counted
        as it begins, in the same transaction as the look: tries sent together (a prober's
        in parallel, each waiting on Argon2) are each counted before the next is let
        through, so no number of them at once gets more tries than one after another
        would."""
        with self._db() as db:
            now = self._clock()
            wait = max(
                self._wait_for(db, (name, client), now), self._wait_for(db, (None, client), now)
            )
            if wait > 0:
                return Attempt(wait, None)
            before = self._count(db, (None, client), now)
            db.execute("DELETE FROM failures WHERE last < ?", (now - FORGET_SECONDS,))
            for key in ((name, client), (None, client)):
                count = self._count(db, key, now)
                db.execute(
                    "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
                    (*self._row(key), 1 if count is None else count[0] + 1, now),
                )
            db.execute(
                "DELETE FROM failures WHERE rowid IN (SELECT rowid FROM failures"
                " ORDER BY last, rowid LIMIT max((SELECT count(*) FROM failures) - ?, 0))",
                (MAX_KEYS,),
            )
            return Attempt(0.0, None if before is None else before[1])

    def succeeded(self, name: str, client: str, attempt: Attempt) -> None:
        """The try `attempt` (begun and let through) was good: the account's count for this
        client starts again, and the client's own count is as it was before the try, its
        last failure as well (signing in to one's own account must neither buy more guesses
        at others nor make the others behind the same address wait, or remember the
        client's failures longer)."""
        with self._db() as db:
            now = self._clock()
            db.execute(
                "DELETE FROM failures WHERE account = ? AND name = ? AND client = ?",
                self._row((name, client)),
            )
            count = self._count(db, (None, client), now)
            if count is None:
                return
            if count[0] <= 1:
                db.execute(
                    "DELETE FROM failures WHERE account = ? AND name = ? AND client = ?",
                    self._row((None, client)),
                )
                return
            # Tries of this client begun since this one keep their own count, and their time
            # when this one found none before it.
            last = count[1] if attempt.client_last is None else attempt.client_last
            db.execute(
                "UPDATE failures SET failures = ?, last = ?"
                " WHERE account = ? AND name = ? AND client = ?",
                (count[0] - 1, last, *self._row((None, client))),
            )

    def entries(self) -> list[dict[str, Any]]:
        with self._db() as db:
            now = self._clock()
            found = db.execute(
                "SELECT account, name, client, failures FROM failures WHERE last >= ?"
                " ORDER BY last, rowid",
                (now - FORGET_SECONDS,),
            ).fetchall()
            return [
                {
                    "name": name if account else None,
                    "client": client,
                    "failures": failures,
                    "wait_seconds": round(
                        self._wait_for(db, (name if account else None, client), now), 1
                    ),
                }
                for account, name, client, failures in found
            ]

    def clear(self, name: str | None = None, client: str | None = None) -> int:
        """Forget the keys of this name and/or client (all keys when neither is given);
        clearing a client clears its own key too. Returns how many were forgotten."""
        with self._db() as db:
            doomed = db.execute(
                "DELETE FROM failures WHERE (? IS NULL OR (account = 1 AND name = ?))"
                " AND (? IS NULL OR client = ?)",
                (name, name, client, client),
            )
            return int(doomed.rowcount)
