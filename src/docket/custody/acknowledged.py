"""acknowledged.log: the arrivals reported as stored that no checkpoint covers yet, kept
outside the catalogue.

checkpoints.log lets `verify` tell that a catalogue lost events some checkpoint signed. But an
ingest signs its checkpoint at its end: one killed before it (or stopped by a full disk) has
reported files as stored that no checkpoint covers, and a catalogue that then lost its newest
records (a lost WAL file, yesterday's copy put back) looked whole, and `gc --delete` removed
those files as strays. So each arrival's event (its sequence number and leaf hash) is
appended here, fsynced, right after its transaction commits and before the arrival is
reported; `verify` fails when the catalogue's log lacks one, and `gc` then deletes nothing. A
checkpoint drops the lines it covers. No item's hash is written here (a vault's files name
none): a leaf hash names an event only to whoever holds the event.

Format: one line per event, `{"leaf":"<hex>","seq":N}` (sorted keys, no spaces). Appends and
the rewrite that drops covered lines take the file's lock; an appender that finds the file
replaced while it waited opens the new one. A line cut short by a crash ends the file and was
never reported: it is ignored.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection

from docket.catalogue.database import after_commit, queued
from docket.custody import witness
from docket.custody.events import Event
from docket.errors import DiskFullError, DocketError, is_disk_full

FILE_NAME = "acknowledged.log"
_BATCH = "docket_acknowledged"


@dataclass
class _Batch:
    """The events one transaction acknowledges, appended in one write once it commits."""

    path: Path
    lines: list[bytes] = field(default_factory=list)

    def __call__(self) -> None:
        append(self.path, self.lines)


def record(conn: Connection, event: Event) -> None:
    """Append `event` to acknowledged.log once the transaction holding it commits (with the
    others of that transaction, in one fsynced write)."""
    path = witness.beside(conn, FILE_NAME)
    if path is None:
        return
    batch = conn.info.get(_BATCH)
    if not isinstance(batch, _Batch) or not queued(conn, batch):
        batch = conn.info[_BATCH] = _Batch(path)
        after_commit(conn, batch)
    batch.lines.append(_line(event.seq, event.leaf_hash().hex()))


def _line(seq: int, leaf: str) -> bytes:
    return json.dumps({"leaf": leaf, "seq": seq}, separators=(",", ":")).encode() + b"\n"


def _locked(path: Path) -> int:
    """The file open for appending, under its lock, and still the one at `path`."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_ino == os.stat(path).st_ino:
            return fd
        os.close(fd)  # replaced by a rewrite while we waited for the lock


def _fsync_folder(path: Path) -> None:
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _write_all(fd: int, data: bytes) -> None:
    """All of `data`: a write to a nearly full disk may take only part of it."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def append(path: Path, lines: list[bytes]) -> None:
    if not lines:
        return
    try:
        new = not path.exists()
        fd = _locked(path)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a line cut short by a crash
                os.ftruncate(fd, size - len(os.pread(fd, size, 0).rsplit(b"\n", 1)[-1]))
            _write_all(fd, b"".join(lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            _fsync_folder(path)
    except OSError as exc:
        message = (
            f"{path}: the arrivals are stored in the catalogue but could not be noted here "
            f"({exc.strerror}); fix that and run `docket checkpoint`, which covers them"
        )
        raise (DiskFullError(message) if is_disk_full(exc) else DocketError(message)) from exc


def covered(path: Path, leaves: list[bytes]) -> None:
    """Drop the lines of events a checkpoint over `leaves` now covers (after it is in
    checkpoints.log), by a new file that replaces this one. A line whose event the log holds
    otherwise (the catalogue went back, and its numbers were used again) is kept, for
    `verify` to name. Best effort: a line kept by a failure here only waits for the next
    checkpoint."""
    if not path.exists():
        return
    fresh = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    try:
        fd = _locked(path)
        try:
            held = os.pread(fd, os.fstat(fd).st_size, 0)
            kept = [
                raw + b"\n"
                for raw, seq, leaf in _parse(held)
                if not (0 <= seq < len(leaves) and leaves[seq].hex() == leaf)
            ]
            if len(kept) == held.count(b"\n"):
                return
            out = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(out, b"".join(kept))
                os.fsync(out)
            finally:
                os.close(out)
            os.replace(fresh, path)
            _fsync_folder(path)
        finally:
            os.close(fd)
    except OSError:
        fresh.unlink(missing_ok=True)


def _parse(held: bytes) -> Iterator[tuple[bytes, int, str]]:
    whole = held.split(b"\n")[:-1]  # what follows the last newline was cut short
    for raw in whole:
        try:
            facts = json.loads(raw)
            yield raw, int(facts["seq"]), str(facts["leaf"])
        except (ValueError, KeyError, TypeError):
            yield raw, -1, raw.decode(errors="replace")[:80]


def entries(path: Path) -> list[tuple[int, str]]:
    """(sequence number, leaf hash) of every whole line; a line that does not parse has -1."""
    if not path.exists():
        return []
    return [(seq, leaf) for _raw, seq, leaf in _parse(path.read_bytes())]


def missing(path: Path, leaves: list[bytes]) -> list[str]:
    """What the catalogue's log (its `leaves`) lacks of what acknowledged.log says was
    reported as stored: one message per line."""
    found = []
    for seq, leaf in entries(path):
        if seq < 0:
            found.append(f"a line that is not an acknowledged event: {leaf!r}")
        elif seq >= len(leaves) or leaves[seq].hex() != leaf:
            found.append(
                f"event {seq} was reported as stored (an arrival) but the catalogue's log "
                + ("ends before it" if seq >= len(leaves) else "holds another event there")
            )
    return found
