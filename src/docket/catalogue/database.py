"""Opening the catalogue database with the durability settings evidence needs.

A vault's catalogue is SQLCipher 4 (through sqlcipher3 and SQLAlchemy's pysqlcipher dialect):
every page, and the WAL with it, is AES-256 encrypted and authenticated under the locker key's
CATALOGUE key, given raw (`PRAGMA key = "x'...'"`, no passphrase KDF) as the first statement
of every connection; temporary tables and indices stay in memory, never in a plaintext file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.pool import QueuePool

from docket.catalogue import held
from docket.errors import DocketError
from docket.vault.keys import CATALOGUE, VaultKey

# Each connection's page cache, at most (SQLite's default is 2 MiB). A page of a million-item
# case looks up items by SHA-256 in several indexes, pages read in random order: with 64 MiB
# the grid's 100th page took 30% less CPU, a capture day 19%, the timeline 14% (bench/web.py's
# catalogue). A small catalogue never fills it; a pool keeps five connections.
PAGE_CACHE_KIB = 64 * 1024

_AFTER_COMMIT = "docket_after_commit"


def after_commit(conn: Connection, action: Callable[[], None]) -> None:
    """Run `action` right after the transaction `conn` is in has committed; never when it
    rolls back. For what must be written outside the database only once the database holds
    what it describes (checkpoints.log, see custody/witness.py). An error `action` raises comes
    out of the commit, after the commit itself succeeded."""
    conn.info.setdefault(_AFTER_COMMIT, []).append(action)


def queued(conn: Connection, action: Callable[[], None]) -> bool:
    """Whether `action` waits for the commit of the transaction `conn` is in."""
    return any(queued is action for queued in conn.info.get(_AFTER_COMMIT, []))


def _run_after_commit(engine: Engine) -> None:
    """Wrap the dialect's commit so that the custody log's held rows are written before it
    (held.py) and the actions queued by `after_commit` run after it; SQLAlchemy's own commit
    event fires before the commit, and a rollback drops them."""
    commit = engine.dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        actions = dbapi_connection.info.pop(_AFTER_COMMIT, [])  # a failed commit drops them
        held.write_before_commit(dbapi_connection, engine.dialect)
        commit(dbapi_connection)
        for action in actions:
            action()

    setattr(engine.dialect, "do_commit", do_commit)  # noqa: B010 (an instance, not the class)

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection: Connection) -> None:
        connection.info.pop(_AFTER_COMMIT, None)

    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi: Any, record: Any, _state: Any) -> None:
        record.info.pop(_AFTER_COMMIT, None)  # returned to the pool without a commit


def raw_key(vault_key: VaultKey) -> str:
    """SQLCipher's raw-key literal for a vault's catalogue (the value of `PRAGMA key`)."""
    return f"x'{vault_key.derive(CATALOGUE).hex()}'"


def encrypted_url(url: str, vault_key: VaultKey) -> URL:
    """The pysqlcipher URL of the SQLite catalogue `url`, keyed; a server database refused."""
    plain = make_url(url)
    if plain.get_backend_name() != "sqlite":
        raise DocketError(
            f"{plain.render_as_string()}: a vault keeps its catalogue in SQLite inside the "
            "locker; a vault with a server database is not supported"
        )
    return plain.set(drivername="sqlite+pysqlcipher", password=raw_key(vault_key))


def open_engine(url: str, vault_key: VaultKey | None = None) -> Engine:
    """An engine for `url`; SQLite gets WAL, synchronous=FULL and BEGIN IMMEDIATE writes;
    with `vault_key`, the SQLite file is SQLCipher's, encrypted under that key."""
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_pre_ping=True)
        _run_after_commit(engine)
        held.install(engine)
        return engine
    if vault_key is None:
        engine = create_engine(url, connect_args={"timeout": 120})
    else:  # the dialect sends the key first on every connection; a pool as for plain SQLite
        engine = create_engine(
            encrypted_url(url, vault_key), connect_args={"timeout": 120}, poolclass=QueuePool
        )
    _run_after_commit(engine)
    held.install(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's begin() emit BEGIN itself (see the pysqlite transaction recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if vault_key is not None:  # a wrong key is our error to report, not SQLCipher's log
            cursor.execute("PRAGMA cipher_log_level=NONE")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=120000")
        cursor.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        if vault_key is not None:
            cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front, so two ingests queue instead of failing mid-way;
        # readers (see `reading`) begin deferred and never wait for a writer (WAL).
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


READ_ONLY = "docket_read_only"


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads: on SQLite it does not take the write lock."""
    with engine.connect() as conn:
        reader = conn.execution_options(**{READ_ONLY: True})
        with reader.begin():
            yield reader
