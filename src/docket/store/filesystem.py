"""The default blob store: objects/ab/cdef... on a local file system.

A blob becomes visible only once its bytes are durable: it is written to tmp/, fsynced,
hard-linked into objects/ (link never replaces an existing file, so a held blob is never
rewritten), and the folder is fsynced. Blobs are made read-only. Only `docket gc --delete`
removes a blob, and only one that no record references. Partial writes are named
after their process (see scratch.py), so those of a process that died are removed later.

Many blobs at once (`stage` each, then `publish_staged`, what ingest uses) take the same steps
with the folders' fsyncs done once per batch: each file written to tmp/ and fsynced (by the
thread that hashed it), then all linked into place (each visible only now, whole and durable),
then each folder they were linked into fsynced once, before `publish_staged` returns, so
nothing is acknowledged before it is durable. On ext4 the first of those fsyncs commits the
journal for the whole batch and the others find nothing left to commit. A kill before the
folders' fsyncs leaves whole blobs that no record names yet, as a kill between `put` and the
caller's commit does. (syncfs for the whole batch was tried: it waits for every other
writer's data on the same file system, and made ingest slower on a shared machine.)
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from docket.errors import DiskFullError, DocketError, is_disk_full
from docket.regular_files import open_regular
from docket.store import scratch

CHUNK = 1 << 20
HEAD = 8192
_HASHER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="docket-sha512")


@dataclass(frozen=True)
class BlobDigest:
    sha256: str
    sha512: str
    size: int


@dataclass(frozen=True)
class StoredBlob:
    digest: BlobDigest
    head: bytes
    new: bool


class SizeLimitExceeded(DocketError):
    """A stream grew past the limit the caller set (used for archive members)."""


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def hash_stream(stream: IO[bytes]) -> BlobDigest:
    sha256, sha512, size = hashlib.sha256(), hashlib.sha512(), 0
    while chunk := stream.read(CHUNK):
        sha256.update(chunk)
        sha512.update(chunk)
        size += len(chunk)
    return BlobDigest(sha256.hexdigest(), sha512.hexdigest(), size)


@dataclass(frozen=True)
class Spooled:
    """A stream written whole to a private file in tmp/, fsynced, with its digests."""

    path: Path
    digest: BlobDigest
    head: bytes


def spool(tmp: Path, stream: IO[bytes], limit: int | None = None) -> Spooled:
    """Copy `stream` to a new file in `tmp`, hashing as it goes; the caller publishes or
    removes the file. SHA-512 runs on a second thread (hashlib releases the GIL) while this
    one computes SHA-256 and writes, so both digests cost about as much time as the slower
    one alone. On any error the partial file is removed.
    """
    tmp_path = tmp / f"{scratch.name('blob')}.part"
    sha256, sha512, size, head = hashlib.sha256(), hashlib.sha512(), 0, b""
    # Two fixed buffers, read into in turn: SHA-512 of one runs while the other fills,
    # and nothing is allocated per chunk, so memory stays flat for any file size.
    buffers = (bytearray(CHUNK), bytearray(CHUNK))
    pending: Future[None] | None = None
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        turn = 0
        while count := stream.readinto(buffers[turn]):  # type: ignore[attr-defined]
            chunk = memoryview(buffers[turn])[:count]
            size += count
            if limit is not None and size > limit:
                raise SizeLimitExceeded(f"expands past the limit of {limit} bytes")
            if len(head) < HEAD:
                head += bytes(chunk[: HEAD - len(head)])
            if pending is not None:
                pending.result()
            pending = _HASHER.submit(sha512.update, chunk)
            sha256.update(chunk)
            while chunk:
                chunk = chunk[os.write(fd, chunk) :]
            turn ^= 1
        if pending is not None:
            pending.result()
        os.fsync(fd)
    except BaseException:
        if pending is not None:
            pending.result()
        os.close(fd)
        tmp_path.unlink(missing_ok=True)
        raise
    os.close(fd)
    return Spooled(tmp_path, BlobDigest(sha256.hexdigest(), sha512.hexdigest(), size), head)


def publish(tmp_path: Path, target: Path, objects: Path, durable: bool = True) -> bool:
    """Make the durable file `tmp_path` the read-only blob `target` (in `objects`); False
    when a blob is already there (never replaced). `tmp_path` is gone afterwards. The link
    is fsynced unless not `durable` (the caller then fsyncs a batch's folders once each)."""
    try:
        os.chmod(tmp_path, 0o444)
        if not target.parent.is_dir():
            target.parent.mkdir(exist_ok=True)
            if durable:
                fsync_dir(objects)
        try:
            os.link(tmp_path, target)
        except FileExistsError:
            # Arrived again: its time says so, so `docket gc` leaves it for the caller
            # to record (the bytes are not touched). Another owner's blob keeps its time.
            with contextlib.suppress(PermissionError):
                os.utime(target)
            return False
        if durable:
            fsync_dir(target.parent)
        return True
    finally:
        tmp_path.unlink(missing_ok=True)


class FilesystemStore:
    protected_as = "read-only"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"

    @classmethod
    def create(cls, root: Path) -> FilesystemStore:
        store = cls(root)
        store.objects.mkdir(parents=True)
        store.tmp.mkdir()
        fsync_dir(root)
        return store

    def path(self, sha256: str) -> Path:
        return self.objects / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """The blob to read; NotRegularFile when a link, FIFO or device is in its place."""
        # A string path: replicate opens every blob, and a Path each cost more than the open.
        return open_regular(f"{self.objects}/{sha256[:2]}/{sha256[2:]}", buffered=True)

    @contextlib.contextmanager
    def plain_file(self, sha256: str) -> Iterator[Path]:
        """The blob as a file a parser can be given: here, the blob itself (read-only)."""
        yield self.path(sha256)

    def shown_path(self, sha256: str) -> str | None:
        """The file a person can open to see the blob: the blob itself."""
        return str(self.path(sha256))

    def put(self, stream: IO[bytes], limit: int | None = None, label: str = "a file") -> StoredBlob:
        """Copy `stream` into the store, hashing as it goes; returns once the blob is durable.
        A full disk or quota is a DiskFullError naming `label` (what was being stored); any
        other OSError is left as it is (reading the input can fail too, and that is not ours).
        """
        with self._disk_full_names(label):
            spooled = spool(self.tmp, stream, limit)
            new = publish(spooled.path, self.path(spooled.digest.sha256), self.objects)
            return StoredBlob(spooled.digest, spooled.head, new)

    def stage(self, stream: IO[bytes], limit: int | None = None, label: str = "a file") -> Spooled:
        """Copy `stream` to tmp/, hashing as it goes, durable but not yet visible: one file of
        a batch that `publish_staged` makes blobs (errors as `put`'s)."""
        with self._disk_full_names(label):
            return spool(self.tmp, stream, limit)

    def publish_staged(self, staged: Sequence[Spooled]) -> list[StoredBlob]:
        """Make staged files blobs, in their order: each linked into place, then each folder
        linked into fsynced once (see the module docstring). The staged files are gone
        afterwards, whether they were published or not. A full disk is a DiskFullError, any
        other failure a DocketError naming the locker."""
        files = f"{len(staged)} file{'' if len(staged) == 1 else 's'}"
        try:
            with self._disk_full_names(f"a batch of {files}"):
                blobs = [
                    StoredBlob(
                        spooled.digest,
                        spooled.head,
                        publish(
                            spooled.path,
                            self.path(spooled.digest.sha256),
                            self.objects,
                            durable=False,
                        ),
                    )
                    for spooled in staged
                ]
                folders = {self.path(spooled.digest.sha256).parent for spooled in staged}
                for folder in (self.objects, *sorted(folders)):  # objects/: a new prefix folder
                    fsync_dir(folder)
                return blobs
        except OSError as exc:  # the locker's, not an input's: every file was read already
            raise DocketError(
                f"{self.root}: cannot store a batch of {files} ({exc.strerror or exc})"
            ) from exc
        finally:
            for spooled in staged:
                spooled.path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _disk_full_names(self, label: str) -> Iterator[None]:
        """A full disk or quota in the block is a DiskFullError naming `label`."""
        try:
            yield
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"locker disk full while storing {label} ({self.root}: {exc.strerror})"
                ) from exc
            raise

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def sizes(self) -> dict[str, int]:
        """The size of every blob present (plain files only, never followed through a link:
        a link in a blob's place is not the blob, and one that loops fails any stat), by name."""
        found = {}
        for name in self.digests():
            with contextlib.suppress(FileNotFoundError):  # removed by `gc` meanwhile
                info = self.path(name).lstat()
                if stat.S_ISREG(info.st_mode):
                    found[name] = info.st_size
        return found

    def modified(self, sha256: str) -> float:
        """When the blob was last written or arrived again (seconds since the epoch)."""
        return self.path(sha256).stat().st_mtime

    def hash_blob(self, sha256: str) -> BlobDigest:
        with self.open(sha256) as stream:
            return hash_stream(stream)

    def digests(self) -> Iterator[str]:
        """Every blob name present, whether or not the catalogue knows it."""
        try:
            prefixes = sorted(
                (entry.name, entry.path) for entry in os.scandir(self.objects) if entry.is_dir()
            )
        except FileNotFoundError:
            return
        for name, path in prefixes:  # names as strings: a Path per blob costs more than a listing
            for blob in sorted(os.listdir(path)):
                yield name + blob

    def protection(self) -> Iterator[tuple[str, str | None]]:
        """Each blob's name, and why it is not read-only (None when it is)."""
        for name in self.digests():
            mode = self.path(name).lstat().st_mode
            if mode & 0o222 or not stat.S_ISREG(mode):
                yield (
                    name,
                    (
                        f"is writable or not a plain file (mode {stat.S_IMODE(mode):04o}); blobs "
                        "are kept read-only (chmod 444)"
                    ),
                )
            else:
                yield name, None

    def retained_until(self, sha256: str) -> datetime.datetime | None:
        """A folder has no retention: a stray can always be removed."""
        return None

    def remove_stray(self, sha256: str) -> None:
        """Remove a blob no record references (`docket gc --delete` decides which)."""
        target = self.path(sha256)
        target.unlink(missing_ok=True)
        fsync_dir(target.parent)

    @property
    def scratch_root(self) -> Path:
        """Where scratch folders and parsers' temporary files go: tmp/ (see scratch.py)."""
        return self.tmp

    def scratch(self, purpose: str) -> contextlib.AbstractContextManager[Path]:
        """A private working folder in tmp/ for the length of a block (see scratch.py)."""
        return scratch.folder(self.tmp, purpose)

    def clean_tmp(self) -> int:
        """Remove partial writes and scratch of processes that died; none was acknowledged."""
        return scratch.clean(self.tmp)

    def abort_unfinished(self) -> int:
        """A folder has no uploads in flight: a partial write is a file in tmp/ (`clean_tmp`)."""
        return 0
