"""Moving bytes into a copy durably: blobs checked against their names, files written whole.

A blob is written to tmp/ under a name owned by this process, hashed as it is written,
fsynced, compared with the SHA-256 it is filed under (a mismatch is refused by name, and the
partial file removed), made read-only, linked into objects/ab/ and the folder fsynced: a blob
is visible only once its bytes are durable and proven. A file (catalogue, checkpoints.log,
replica.json, keys) is written to a temporary name, fsynced, renamed over the old one and its
folder fsynced, so a reader sees the old file or the new one, never a part.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import IO

from docket.errors import CopyError, DiskFullError, is_disk_full
from docket.store import scratch

CHUNK = 1 << 20


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


def hash_file(path: Path) -> str:
    sha256 = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            sha256.update(chunk)
    return sha256.hexdigest()


def _disk_full(where: Path, what: str, exc: OSError) -> DiskFullError:
    return DiskFullError(f"{where}: disk full while writing {what} ({exc.strerror})")


def put_blob(
    stream: IO[bytes], sha256: str, objects: Path, tmp: Path, *, replace: bool = False
) -> int:
    """Copy one blob in, proven to hash to `sha256`; returns its size. With `replace`, a
    blob already filed under that name (a damaged one) is replaced, else it is kept."""
    part = tmp / f"{scratch.name('copy')}.part"
    digest, size = hashlib.sha256(), 0
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if digest.hexdigest() != sha256:
            raise CopyError(
                f"blob {sha256}: its bytes hash to {digest.hexdigest()}, not to its name; "
                "not copied (run `docket verify` where it came from)"
            )
        os.chmod(part, 0o444)
        target = blob_path(objects, sha256)
        if not target.parent.is_dir():
            target.parent.mkdir(exist_ok=True)
            fsync_dir(objects)
        if replace:
            os.replace(part, target)
        else:
            try:
                os.link(part, target)
            except FileExistsError:
                return size
        fsync_dir(target.parent)
        return size
    except OSError as exc:
        if is_disk_full(exc):
            raise _disk_full(objects.parent, f"blob {sha256}", exc) from exc
        raise
    finally:
        part.unlink(missing_ok=True)


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
