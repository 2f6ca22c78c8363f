"""A consistent copy of a catalogue, taken while the locker is in use, as an SQLite file.

SQLite catalogues are copied with SQLite's online backup API in one step, which reads one
consistent state of the database (writers wait or the copy restarts; it never mixes two).
A PostgreSQL catalogue is copied table by table inside one REPEATABLE READ transaction (one
snapshot of every table) into a new SQLite file made by the same migrations, so every copy
holds an embedded SQLite catalogue and any copy can be restored on a laptop without a server.
Tables outside docket's schema (none today) are not copied. The file is fsynced before it
is handed back; `install` then puts it in place atomically.

A vault's catalogue (SQLCipher 4) is copied by the same backup API into a file keyed with the
same catalogue key before the first page is written, so the copy is encrypted as the source
is, page for page, and no plaintext of it is ever written (no temporary file: temp_store is
memory); it is read and installed with the vault's key only. Without the key it is refused.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import sqlcipher3
from sqlalchemy import Connection, Engine, create_engine, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from docket.catalogue import migrate, schema
from docket.catalogue.database import open_engine, raw_key, reading
from docket.copies.transfer import fsync_dir, fsync_file
from docket.custody import log
from docket.disclose import prior
from docket.errors import CopyError, DiskFullError, is_disk_full
from docket.vault.keys import VaultKey

_ROWS = 5000


def take(engine: Engine, target: Path, key: VaultKey | None = None) -> None:
    """Write one consistent state of the catalogue behind `engine` into the new file `target`
    (a vault's, with its `key`, encrypted under it). A full disk is a DiskFullError naming
    where; a catalogue that cannot be read, or a vault's without its key, a CopyError."""
    if (engine.dialect.driver == "pysqlcipher") != (key is not None):
        raise CopyError(
            f"{engine.url.render_as_string(hide_password=True)}: "
            + (
                "a vault's catalogue is copied only with the vault's key"
                if key is None
                else "not a vault's catalogue; a vault's key is not used on it"
            )
        )
    try:
        _take(engine, target, key)
    except (sqlite3.Error, sqlcipher3.Error, SQLAlchemyError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        if is_disk_full(exc) or "database or disk is full" in reason:
            raise DiskFullError(
                f"{target.parent.parent}: disk full while writing the catalogue's copy ({reason})"
            ) from exc
        raise CopyError(
            f"{engine.url.render_as_string()}: the catalogue cannot be copied ({reason})"
        ) from exc


def _connect(file: Path, key: VaultKey | None) -> sqlite3.Connection:
    """A plain connection to the SQLite file `file`; a vault's is keyed before anything else."""
    if key is None:
        return sqlite3.connect(file)
    conn: sqlite3.Connection = sqlcipher3.connect(str(file))
    conn.execute(f'PRAGMA key = "{raw_key(key)}"')
    conn.execute("PRAGMA cipher_log_level=NONE")
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def _take(engine: Engine, target: Path, key: VaultKey | None) -> None:
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            with closing(_connect(target, key)) as copy:
                raw.driver_connection.backup(copy)  # type: ignore[union-attr]
        finally:
            raw.close()
    else:
        _copy_tables(engine, target)
    fsync_file(target)


def _copy_tables(engine: Engine, target: Path) -> None:
    """The new file gets its shape from the migrations (so what only SQLite has, the FTS5
    search index and its triggers, is there too), then every row of every table but those the
    triggers fill from the others."""
    copy = open_engine(f"sqlite:///{target}")
    try:
        migrate.upgrade(copy, "replicate")  # a new catalogue: no event is logged
        source = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with source, source.begin(), copy.begin() as into:
            present = set(inspect(source).get_table_names())
            tables = [
                t
                for t in schema.metadata.sorted_tables
                if t.name in present and t.name not in schema.FILLED_BY_TRIGGERS
            ]
            for table in reversed(tables):
                into.execute(table.delete())  # what the migrations put in (the log's head)
            for table in tables:
                rows = source.execute(select(table)).mappings()
                while batch := rows.fetchmany(_ROWS):
                    into.execute(table.insert(), [dict(row) for row in batch])
    finally:
        copy.dispose()


@contextmanager
def opened(file: Path, key: VaultKey | None = None) -> Iterator[Connection]:
    """A read transaction on the SQLite catalogue `file` (a vault's with its `key`), which is
    never written."""
    url = f"sqlite:///file:{file}?mode=ro&uri=true"
    engine = create_engine(url) if key is None else open_engine(url, key)
    try:
        with reading(engine) as conn:
            yield conn
    finally:
        engine.dispose()


def leaves(conn: Connection) -> list[bytes]:
    return log.leaf_hashes(conn)


def referenced_blobs(conn: Connection) -> dict[str, int]:
    """Every blob the catalogue references (items, derivatives, the prior custody imports
    kept: docket.disclose.prior), with its size."""
    found = {
        str(sha256): int(size)
        for sha256, size in conn.execute(select(schema.items.c.sha256, schema.items.c.size))
    }
    derived = select(schema.derivatives.c.sha256, schema.derivatives.c.size)
    found.update({str(sha256): int(size) for sha256, size in conn.execute(derived)})
    found.update(prior.blobs(conn))
    return found


def discard(file: Path) -> None:
    """Remove a prepared copy that was not put in place, with what reading it left beside it."""
    for suffix in ("", "-wal", "-shm"):
        file.with_name(file.name + suffix).unlink(missing_ok=True)


def install(new: Path, target: Path, key: VaultKey | None = None) -> None:
    """Put the finished copy `new` in place of the catalogue `target` (a vault's, with its
    `key`), atomically. A WAL the old file still has (a process that used the copy and died)
    is folded into it first and the leftovers removed, so it can never be replayed onto the
    new file."""
    wal = target.with_name(target.name + "-wal")
    if target.exists() and wal.exists() and wal.stat().st_size:
        with closing(_connect(target, key)) as old:
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    os.replace(new, target)
    fsync_dir(target.parent)
    for suffix in ("-wal", "-shm"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    discard(new)  # what reading the prepared copy left beside it
