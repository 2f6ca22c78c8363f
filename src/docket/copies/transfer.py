"""Moving bytes into a copy durably: blobs checked against their names, files written whole.

A blob is written to tmp/ under a name owned by this process, hashed as it is written,
fsynced, compared with the SHA-256 it is filed under (a mismatch is refused by name, and the
partial file removed), made read-only, linked into objects/ab/ and the folder fsynced: a blob
is visible only once its bytes are durable and proven. Many blobs at once (`put_blobs`, what
replicate uses) take the same steps a batch at a time: every file of the batch written and
proven, the file system synced once (syncfs), then all renamed into place, then synced again;
one sync per batch instead of two fsyncs per blob, with the same guarantee.

A file (catalogue, checkpoints.log, replica.json, keys) is written to a temporary name,
fsynced, renamed over the old one and its folder fsynced, so a reader sees the old file or the
new one, never a part.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from docket.errors import CopyError, DiskFullError, is_disk_full
from docket.store import scratch

CHUNK = 1 << 20
BATCH = 512
WRITERS = 4
_LIBC = ctypes.CDLL(None, use_errno=True)


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


Opener = Callable[[str], AbstractContextManager[Readable]]  # a blob's bytes, by name


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
    """Every blob name under `objects` (a listing: nothing is read or hashed)."""
    names: set[str] = set()
    try:
        prefixes = list(os.scandir(objects))
    except FileNotFoundError:
        return names
    for prefix in prefixes:
        if len(prefix.name) == 2 and prefix.is_dir(follow_symlinks=False):
            names.update(prefix.name + entry for entry in os.listdir(prefix.path))
    return names


def _disk_full(where: Path, what: str, exc: OSError) -> DiskFullError:
    return DiskFullError(f"{where}: disk full while writing {what} ({exc.strerror})")


def write_proven(stream: Readable, sha256: str, part: Path, fsync: bool) -> int:
    """Copy `stream` to the new file `part`, proven to hash to `sha256`; returns its size."""
    digest, size = hashlib.sha256(), 0
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    if digest.hexdigest() != sha256:
        raise CopyError(
            f"blob {sha256}: its bytes hash to {digest.hexdigest()}, not to its name; "
            "not copied (run `docket verify` where it came from)"
        )
    os.chmod(part, 0o444)
    return size


def _link(part: Path, target: Path, objects: Path, replace: bool, sync: bool = True) -> bool:
    """File the proven `part` under its name; False when a blob was there (kept). Without
    `sync`, a new folder is left for the caller's sync of the whole file system."""
    if not target.parent.is_dir():
        target.parent.mkdir(exist_ok=True)
        if sync:
            fsync_dir(objects)
    if replace:
        os.replace(part, target)
        return True
    try:
        os.link(part, target)
    except FileExistsError:
        return False
    return True


def put_blob(
    stream: Readable, sha256: str, objects: Path, tmp: Path, *, replace: bool = False
) -> int:
    """Copy one blob in, proven to hash to `sha256`; returns its size. With `replace`, a
    blob already filed under that name (a damaged one) is replaced, else it is kept."""
    part = tmp / f"{scratch.name('copy')}.part"
    try:
        size = write_proven(stream, sha256, part, fsync=True)
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


def put_blobs(names: Iterable[str], opener: Opener, objects: Path, tmp: Path) -> tuple[int, int]:
    """Copy in every blob named (read through `opener`), a batch at a time, each proven to
    hash to its name; returns how many and how many bytes. Each is renamed into place (one
    step, where a link and an unlink would be two): a blob that appeared under the same name
    meanwhile is replaced by bytes proven to be the same.
    The files of a batch are written by a few threads at once (hashing and file calls
    release the GIL), which matters for many small blobs."""
    count = total = 0
    pending = list(names)
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="docket-copy") as pool:
        for start in range(0, len(pending), BATCH):
            batch = pending[start : start + BATCH]
            parts = [(sha256, tmp / f"{scratch.name('copy')}.part") for sha256 in batch]
            jobs = [pool.submit(_copy_part, opener, sha256, part) for sha256, part in parts]
            try:
                total += sum(job.result() for job in jobs)
                sync_filesystem(tmp)  # every part durable before any becomes visible
                for sha256, part in parts:
                    _link(part, blob_path(objects, sha256), objects, replace=True, sync=False)
                sync_filesystem(objects)
                count += len(parts)
            except OSError as exc:
                if is_disk_full(exc):
                    raise _disk_full(objects.parent, "blobs", exc) from exc
                raise
            finally:
                wait(jobs)  # no thread still writing a part about to be removed
                for _, part in parts:
                    part.unlink(missing_ok=True)
    return count, total


def _copy_part(opener: Opener, sha256: str, part: Path) -> int:
    with opener(sha256) as stream:
        return write_proven(stream, sha256, part, fsync=False)


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
