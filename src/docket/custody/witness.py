"""checkpoints.log: every signed checkpoint, kept outside the catalogue as well as in it.

The custody log checks only itself, so a catalogue that lost its tail (an older copy put
back, a lost WAL file) still looks consistent. This file remembers every checkpoint ever
signed, so `verify` can tell that the catalogue no longer holds events the locker signed.

Format: one line per checkpoint (two processes committing at once may append theirs in either
order; readers take the largest tree size as the newest), each RFC 8785 canonical JSON
(for these values: sorted keys, no spaces) of `id`, `origin`, `tree_size`, `root` (hex),
`time` and `signature` (base64 of the Ed25519 signature over the C2SP checkpoint note body,
`origin\\nsize\\nbase64(root)\\ntime <RFC 3339>\\n`, see checkpoint.py). The file is only
ever appended to (O_APPEND), one fsynced write per line.

Ordering: a checkpoint's line is appended only after the transaction that stored it has
committed (`database.after_commit`). A crash between the two leaves the file one checkpoint
behind the catalogue, which is safe: `verify` checks the catalogue against the newest line it
finds, and the next checkpoint's append adds the missing line before its own (it looks at the
file's tail for the checkpoints stored just before it), so the gap is never taken for lines
cut from the file. The other order could leave a line for a checkpoint, and events, that
never committed and were never acknowledged, and `verify` would have to call them lost. A
line cut short by a crash while it was being written is the newest line and ends without a
newline: it is ignored.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

from docket.catalogue.database import after_commit
from docket.custody.checkpoint import Checkpoint
from docket.errors import DiskFullError, DocketError, is_disk_full

if TYPE_CHECKING:
    from docket.custody.ledger import StoredCheckpoint

FILE_NAME = "checkpoints.log"
TAIL_MOST = 1 << 16  # a line is a few hundred bytes: a torn one is found in this much
_OPTION = "docket_witness"


def attach(engine: Engine, locker_path: Path) -> None:
    """Make checkpoints signed through `engine` be appended to the locker's checkpoints.log."""
    engine.update_execution_options(**{_OPTION: str(locker_path / FILE_NAME)})


def beside(conn: Connection, name: str) -> Path | None:
    """A file beside checkpoints.log, in the folder of the locker `conn` is of (None for an
    engine no locker attached)."""
    path = conn.get_execution_options().get(_OPTION)
    return None if path is None else Path(path).with_name(name)


def record(
    conn: Connection, stored: StoredCheckpoint, earlier: Sequence[StoredCheckpoint] = ()
) -> None:
    """Append `stored` to checkpoints.log once the transaction holding it commits, after
    those of `earlier` (the checkpoints stored just before it) that the file lacks: a process
    killed between its commit and its append left its checkpoint out, and `verify` counts a
    missing line older than the newest checkpoint as cut from the file."""
    path = conn.get_execution_options().get(_OPTION)
    if path is not None:
        after_commit(conn, lambda: append(Path(path), [*earlier, stored]))


def line(checkpoint_id: int, checkpoint: Checkpoint) -> bytes:
    facts = {
        "id": checkpoint_id,
        "origin": checkpoint.origin,
        "root": checkpoint.root.hex(),
        "signature": base64.b64encode(checkpoint.signature).decode(),
        "time": checkpoint.time,
        "tree_size": checkpoint.tree_size,
    }
    return json.dumps(facts, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def _end_torn_tail(fd: int) -> None:
    """A file that does not end in a newline ends in a line cut short by a crash while it was
    appended (its checkpoint is in the catalogue; the line being appended covers it): those
    bytes are cut off, so the new line stands on its own. A tail that is a whole checkpoint
    without its newline (a file cut by one byte) is kept and ended instead."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    start = max(0, size - TAIL_MOST)
    tail = os.pread(fd, size - start, start)
    cut = tail.rfind(b"\n") + 1
    try:
        _parse(tail[cut:].decode(), 0)
    except (ValueError, KeyError, TypeError):
        os.ftruncate(fd, start + cut)
    else:
        os.write(fd, b"\n")


def _tail_ids(fd: int) -> set[int]:
    """The checkpoint ids of the whole lines in the file's last TAIL_MOST bytes."""
    size = os.fstat(fd).st_size
    start = max(0, size - TAIL_MOST)
    lines = os.pread(fd, size - start, start).split(b"\n")
    held = set()
    for raw in lines[1:] if start else lines:  # the first may be cut by the window
        try:
            held.add(int(json.loads(raw)["id"]))
        except (ValueError, KeyError, TypeError):
            continue
    return held


def append(path: Path, stored: Sequence[StoredCheckpoint]) -> None:
    """Append the lines of `stored` that the file's tail does not hold, the last always, in
    one write, and fsync it (and the folder, when the file is new)."""
    checkpoint_id = stored[-1].id
    try:
        new = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # Appends of two processes (after their commits, so past the log's lock) take
            # turns: a line still being written by one is never taken for a torn one, and a
            # line appended by one is seen by the other, which does not write it again.
            fcntl.flock(fd, fcntl.LOCK_EX)
            _end_torn_tail(fd)
            held = _tail_ids(fd)
            owed = [s for s in stored[:-1] if s.id not in held] + [stored[-1]]
            os.write(fd, b"".join(line(s.id, s.checkpoint) for s in owed))
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    except OSError as exc:
        message = (
            f"{path}: checkpoint {checkpoint_id} is stored in the catalogue but could not be "
            f"appended here ({exc.strerror}); fix that and run `docket checkpoint`, which covers it"
        )
        raise (DiskFullError if is_disk_full(exc) else DocketError)(message) from exc


@dataclass(frozen=True)
class Witnessed:
    """One line of checkpoints.log, read back."""

    line: int
    id: int
    checkpoint: Checkpoint


@dataclass
class WitnessFile:
    entries: list[Witnessed]
    problems: list[tuple[str, str]]
    torn: bool = False

    @property
    def latest(self) -> Witnessed | None:
        return max(self.entries, key=lambda e: e.checkpoint.tree_size, default=None)


def _parse(text: str, number: int) -> Witnessed:
    facts = json.loads(text)
    checkpoint = Checkpoint(
        origin=str(facts["origin"]),
        tree_size=int(facts["tree_size"]),
        root=bytes.fromhex(facts["root"]),
        time=str(facts["time"]),
        signature=base64.b64decode(facts["signature"], validate=True),
    )
    return Witnessed(number, int(facts["id"]), checkpoint)


def read(path: Path, origin: str, public_key: bytes) -> WitnessFile:
    """Every line of checkpoints.log, each checked against the locker's public key; lines
    that are malformed, of another log or not signed by the key are problems, not entries."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # the text after the last newline: empty unless cut short
    found = WitnessFile([], [], tail != b"")
    if found.torn and _signed_line(tail, origin, public_key):  # cut by its newline only
        lines.append(tail)
        found.torn = False
    for number, raw in enumerate(lines, start=1):
        subject = f"{FILE_NAME} line {number}"
        try:
            entry = _parse(raw.decode(), number)
        except (ValueError, KeyError, TypeError) as exc:
            found.problems.append((subject, f"is not a checkpoint ({exc})"))
            continue
        if entry.checkpoint.origin != origin:
            found.problems.append(
                (subject, f"is a checkpoint of another log ({entry.checkpoint.origin!r})")
            )
        elif not entry.checkpoint.verify(public_key):
            found.problems.append((subject, "signature does not verify (forged or altered)"))
        else:
            found.entries.append(entry)
    return found


def _signed_line(raw: bytes, origin: str, public_key: bytes) -> bool:
    """Whether `raw` is a whole checkpoint of this log signed by the key."""
    try:
        entry = _parse(raw.decode(), 0)
    except (ValueError, KeyError, TypeError):
        return False
    return entry.checkpoint.origin == origin and entry.checkpoint.verify(public_key)


def holds_any(locker_path: Path) -> bool:
    """Whether the locker's checkpoints.log records at least one checkpoint."""
    try:
        with (locker_path / FILE_NAME).open("rb") as handle:
            return any(raw.strip() for raw in handle)
    except FileNotFoundError:
        return False
