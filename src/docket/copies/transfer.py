"""Moving bytes into a copy durably: blobs checked against their names, files written whole.

A blob is written to tmp/ under a name owned by this process, hashed as it is written, fsynced,
compared with the SHA-256 it is filed under (a vault's sealed file, filed under its keyed name,
is proven with the vault's key instead: sealed.py; a mismatch is refused by name, and the
partial file removed), made read-only, linked into objects/ab/ and the folder fsynced: a blob
is visible only once its bytes are durable and proven. Many blobs at once (`put_blobs`, what
replicate uses) take the same steps a batch at a time (up to BATCH_FILES files or BATCH_BYTES
bytes): every file of the batch written and proven, the file system synced once (syncfs), then
all renamed into place. The renames of one batch are made durable by the sync of the next
batch's files, and the last batch's by one more sync before `put_blobs` returns, so nothing is
acknowledged before it is durable: one sync per batch instead of two fsyncs per blob. A blob
visible before that last sync is already whole (its bytes were synced before its rename).

A file (catalogue, checkpoints.log, replica.json, keys) is written to a temporary name,
fsynced, renamed over the old one and its folder fsynced, so a reader sees the old file or the
new one, never a part.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from docket.errors import CopyError, DiskFullError, is_disk_full
from docket.regular_files import NotRegularFile
from docket.store import scratch

CHUNK = 1 << 20
BATCH_FILES = 4096
BATCH_BYTES = 256 << 20
WRITERS = 4
WINDOW = WRITERS * 16  # files handed to the writers at a time (a batch is whole windows)
_LIBC = ctypes.CDLL(None, use_errno=True)


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


Opener = Callable[[str], AbstractContextManager[Readable]]  # a blob's bytes, by name
# Proves a written file (its name, its path) or raises CopyError; none: it hashes to its name.
# A vault's sealed files are proven with the vault's key (sealed.py).
Check = Callable[[str, str], None]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_filesystem(folder: Path) -> None:
    """Make everything written to the file system holding `folder` durable (Linux syncfs;
    where there is none, the whole system's sync)."""
    syncfs = getattr(_LIBC, "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(folder))
    finally:
        os.close(fd)


def blob_path(objects: Path, sha256: str) -> Path:
    return objects / sha256[:2] / sha256[2:]


def blob_names(objects: Path) -> set[str]:
    """Every blob name under `objects` (a listing: nothing is read or hashed). Only plain
    files are blobs: a link or a folder in a blob's place is not held (and is replaced)."""
    names: set[str] = set()
    try:
        prefixes = list(os.scandir(objects))
    except FileNotFoundError:
        return names
    for prefix in prefixes:
        if len(prefix.name) == 2 and prefix.is_dir(follow_symlinks=False):
            with os.scandir(prefix.path) as entries:
                names.update(
                    prefix.name + entry.name
                    for entry in entries
                    if entry.is_file(follow_symlinks=False)
                )
    return names


def _disk_full(where: Path, what: str, exc: OSError) -> DiskFullError:
    return DiskFullError(f"{where}: disk full while writing {what} ({exc.strerror})")


def write_proven(
    stream: Readable, sha256: str, part: str | Path, fsync: bool, check: Check | None = None
) -> int:
    """Copy `stream` to the new file `part`, proven to hash to `sha256` (or, with `check`,
    proven by it under that name); returns its size."""
    digest, size = hashlib.sha256(), 0
    # Made read-only as it is created (the descriptor still writes): no chmod after.
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        while chunk := stream.read(CHUNK):
            if check is None:
                digest.update(chunk)
            size += len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if check is not None:
        check(sha256, os.fspath(part))
    elif digest.hexdigest() != sha256:
        raise CopyError(
            f"blob {sha256}: its bytes hash to {digest.hexdigest()}, not to its name; "
            "not copied (run `docket verify` where it came from)"
        )
    return size


def _link(part: Path, target: Path, objects: Path, replace: bool) -> bool:
    """File the proven `part` under its name; False when a blob was there (kept). A link in
    the blob's place is no blob (blobs are plain files): it is replaced. Anything else there
    that is not a plain file (a folder) is refused, never counted as the blob held."""
    if not target.parent.is_dir():
        target.parent.mkdir(exist_ok=True)
        fsync_dir(objects)
    if replace:
        _refuse_unless_file_or_link(target)
        os.replace(part, target)
        return True
    try:
        os.link(part, target)
    except FileExistsError:
        if not target.is_symlink():
            _refuse_unless_file_or_link(target)
            return False
        os.replace(part, target)
    return True


class NotABlobError(CopyError):
    """What stands in a blob's place is not a file (a folder): it is left for a person."""


def _refuse_unless_file_or_link(target: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        mode = target.lstat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise NotABlobError(
                f"blob {target.parent.name}{target.name}: {target} is not a file "
                f"(mode {stat.filemode(mode)}); not "
                "replaced: move it aside and run again"
            )


def put_blob(
    stream: Readable,
    sha256: str,
    objects: Path,
    tmp: Path,
    *,
    replace: bool = False,
    check: Check | None = None,
) -> int:
    """Copy one blob in, proven to hash to `sha256` (or by `check`); returns its size. With
    `replace`, a blob already filed under that name (a damaged one) is replaced, else kept."""
    part = tmp / f"{scratch.name('copy')}.part"
    try:
        size = write_proven(stream, sha256, part, fsync=True, check=check)
        target = blob_path(objects, sha256)
        if _link(part, target, objects, replace):
            fsync_dir(target.parent)
        return size
    except OSError as exc:
        if is_disk_full(exc):
            raise _disk_full(objects.parent, f"blob {sha256}", exc) from exc
        raise
    finally:
        part.unlink(missing_ok=True)


def put_blobs(
    names: Iterable[str], opener: Opener, objects: Path, tmp: Path, check: Check | None = None
) -> tuple[int, int]:
    """Copy in every blob named (read through `opener`), a batch at a time, each proven to
    hash to its name (or by `check`); returns how many and how many bytes, once all are
    durable. Each is renamed into place (one step, where a link and an unlink would be two):
    a blob that appeared under the same name meanwhile is replaced by bytes proven the same.
    The files are written by a few threads at once (hashing and file calls release the
    GIL), which matters for many small blobs; paths are plain strings here, as pathlib's
    objects cost more than the system calls for a small blob."""
    pending = list(names)
    stem = os.path.join(tmp, scratch.name("copy"))
    count = total = size = 0
    batch: list[tuple[str, str]] = []  # proven parts not yet renamed into place
    try:
        for prefix in sorted({name[:2] for name in pending}):
            with contextlib.suppress(FileExistsError):
                os.mkdir(objects / prefix)  # made durable by the syncs below
        with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="docket-copy") as pool:
            for start in range(0, len(pending), WINDOW):
                parts = [
                    (sha256, f"{stem}-{start + i}.part")
                    for i, sha256 in enumerate(pending[start : start + WINDOW])
                ]
                batch += parts
                jobs = [
                    pool.submit(_copy_part, opener, sha256, part, check) for sha256, part in parts
                ]
                try:
                    size += sum(job.result() for job in jobs)
                finally:
                    wait(jobs)  # no thread still writing a part about to be removed
                if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
                    _publish(batch, objects, tmp)
                    count, total, batch, size = count + len(batch), total + size, [], 0
            if batch:
                _publish(batch, objects, tmp)
                count, total = count + len(batch), total + size
            if count:
                sync_filesystem(objects)  # the last renames durable before any is reported
    except OSError as exc:
        if is_disk_full(exc):
            raise _disk_full(objects.parent, "blobs", exc) from exc
        raise
    finally:
        for _, part in batch:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
    return count, total


def _publish(batch: list[tuple[str, str]], objects: Path, tmp: Path) -> None:
    """Make the proven parts of `batch` durable (with the previous batch's renames), then
    rename each into place."""
    sync_filesystem(tmp)
    where = os.fspath(objects)
    for sha256, part in batch:
        try:
            os.replace(part, f"{where}/{sha256[:2]}/{sha256[2:]}")
        except IsADirectoryError:
            _refuse_unless_file_or_link(Path(where) / sha256[:2] / sha256[2:])
            raise


def _copy_part(opener: Opener, sha256: str, part: str, check: Check | None) -> int:
    try:
        opened = opener(sha256)
    except NotRegularFile as exc:  # a FIFO or a link in the blob's place
        raise CopyError(
            f"blob {sha256}: cannot be read ({exc.strerror}); not copied (run `docket verify` "
            "where it came from)"
        ) from exc
    with opened as stream:
        return write_proven(stream, sha256, part, fsync=False, check=check)


def write_file(path: Path, data: bytes, tmp: Path, mode: int = 0o644) -> None:
    """Replace `path` with `data` atomically and durably; the partial file lives in `tmp`
    (on the same disk), named after this process, so a dead process's one is cleaned."""
    part = tmp / f"{scratch.name('write')}.part"
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(part, path)
        fsync_dir(path.parent)
    except OSError as exc:
        part.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise _disk_full(path.parent, path.name, exc) from exc
        raise
