"""A locker's blobs in an S3 bucket with Object Lock (see bucket.py), with a local cache.

A blob becomes visible only once its upload succeeded: it is spooled to the locker's tmp/
while hashed (as the folder store does), fsynced, uploaded put-if-absent and locked until now
+ the locker's retention, and only then acknowledged. Reading hands callers a local file in
cache/, fetched from the blob's original (oldest) version and checked against its SHA-256
first: bytes that do not match are an error naming the object, never served. An overwrite or
delete by someone holding the keys leaves the locked original in place and is named by
`protection` (so by `docket verify`); a blob under retention is never removed.

cache/ is kept under a size cap (`cache_limit`, CACHE_LIMIT unless docket.json's store entry
gives `cache_limit_mib`): when this process's adding to it takes it over the cap, the least
recently used files (a file's time is set whenever it is served) are removed until it is under
nine tenths of the cap. Only blobs the bucket holds are ever in cache/ (a blob is linked in
after its upload succeeded, or after it was fetched), so nothing evicted is lost; a file served
in the last CACHE_IDLE seconds is kept, as a caller may hold its path without having opened it.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, BinaryIO, TypeVar, cast

from botocore.exceptions import BotoCoreError

from docket.errors import (
    BlobLockedError,
    BlobMismatchError,
    DiskFullError,
    ObjectStoreError,
    is_disk_full,
)
from docket.store import scratch
from docket.store.bucket import (
    SCHEME,
    Head,
    Location,
    S3Bucket,
    Version,
    reason_of,
    sha256_checksum,
)
from docket.store.filesystem import (
    BlobDigest,
    StoredBlob,
    fsync_dir,
    hash_stream,
    spool,
)

__all__ = ["SCHEME", "Location", "S3Bucket", "S3Store"]  # the bucket's names, for callers

T = TypeVar("T")

UPLOAD_WAITS = (0.2, 0.5, 1.0, 2.0, 4.0)  # for another writer's upload of the same blob
CACHE_LIMIT = 4 << 30
CACHE_IDLE = 600.0
_HEADS_AT_ONCE = 16


def object_key(sha256: str) -> str:
    return f"objects/{sha256[:2]}/{sha256[2:]}"


def object_blob(key: str) -> str | None:
    """The blob a key holds (its SHA-256), or None for a key that is not a blob's."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "objects" or len(parts[1]) != 2:
        return None
    name = parts[1] + parts[2]
    return name if len(name) == 64 and all(c in "0123456789abcdef" for c in name) else None


class S3Store:
    """Blobs in a bucket (objects/ab/cdef... under its prefix), read through cache/."""

    protected_as = "locked (S3 Object Lock, compliance mode)"

    def __init__(
        self, root: Path, bucket: S3Bucket, retention_days: int, cache_limit: int = CACHE_LIMIT
    ) -> None:
        self.root = root
        self.bucket = bucket
        self.retention_days = retention_days
        self.cache_limit = cache_limit
        self.tmp = root / "tmp"
        self.cache = root / "cache"
        self._cached_bytes: int | None = None  # cache/'s size as last counted, plus additions

    @classmethod
    def create(cls, root: Path, bucket: S3Bucket, retention_days: int) -> S3Store:
        store = cls(root, bucket, retention_days)
        store.tmp.mkdir(parents=True)
        store.cache.mkdir()
        fsync_dir(root)
        return store

    def object_name(self, sha256: str) -> str:
        return self.bucket.location.name(object_key(sha256))

    def original(self, sha256: str, waits: tuple[float, ...] = ()) -> Version:
        """The blob's original: the oldest version of its key that is not a delete marker.
        With `waits`, a key not there yet is looked for again after each pause (seconds)."""
        key = object_key(sha256)
        for pause in (*waits, None):
            held = [v for v in self.bucket.versions(key) if v.key == key and not v.deleted]
            if held:
                return held[-1]
            if pause is not None:
                time.sleep(pause)
        raise ObjectStoreError(f"{self.object_name(sha256)}: the blob is not in the bucket")

    def has(self, sha256: str) -> bool:
        return self.bucket.exists(object_key(sha256))

    def size(self, sha256: str) -> int:
        size = self.original(sha256).size
        assert size is not None  # _original skips delete markers
        return size

    def modified(self, sha256: str) -> float:
        """When the original was uploaded (seconds since the epoch)."""
        return self.original(sha256).modified.timestamp()

    def put(self, stream: IO[bytes], limit: int | None = None, label: str = "a file") -> StoredBlob:
        """Store `stream`; returns once the bucket holds it, locked. A full local disk is a
        DiskFullError naming `label`, as in the folder store."""
        try:
            spooled = spool(self.tmp, stream, limit)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"locker disk full while storing {label} ({self.tmp}: {exc.strerror})"
                ) from exc
            raise
        sha256 = spooled.digest.sha256
        try:
            retain_until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
                days=self.retention_days
            )
            new = self.bucket.put_if_absent(object_key(sha256), spooled.path, retain_until, sha256)
            if not new:
                self._check_held(sha256, spooled.digest.size, retain_until)
            with contextlib.suppress(OSError):  # only a cache: the bucket holds the blob now
                self.keep(spooled.path, sha256)
        finally:
            spooled.path.unlink(missing_ok=True)
        return StoredBlob(spooled.digest, spooled.head, new)

    def _check_held(self, sha256: str, size: int, retain_until: datetime.datetime) -> None:
        """A blob that arrives again: the object already under its name must be its bytes
        (an object planted under a blob's name before it arrived would otherwise stand in
        for it). The server's own SHA-256 of the original answers; without one, it is read.
        Another process may be uploading the same bytes at this moment (S3 answers 409 to the
        second writer): its upload is waited for, a few seconds at most. An original whose
        lock ends within half the retention period is locked anew until `retain_until`, so
        `gc` can never take a blob that is being recorded again (the folder store touches
        it instead)."""
        key = object_key(sha256)
        original = self.original(sha256, waits=UPLOAD_WAITS)
        head = self.bucket.head(key, original.version_id)
        if head.size != size or (
            sha256_checksum(sha256) != head.checksum
            if head.checksum is not None
            else self.hash_blob(sha256).sha256 != sha256
        ):
            raise BlobMismatchError(
                f"{self.object_name(sha256)}: the bucket holds other bytes under this blob's name "
                "(planted or damaged); the arriving copy was not stored"
            )
        self.lock_anew(key, original, head, retain_until)

    def lock_anew(
        self, key: str, original: Version, head: Head, retain_until: datetime.datetime
    ) -> None:
        """Lock an original that arrived again until `retain_until` when its lock ends
        within half the retention period (see `_check_held`)."""
        half = datetime.timedelta(days=self.retention_days) / 2
        if head.retain_until is None or head.retain_until < retain_until - half:
            self.bucket.extend_retention(key, original.version_id, retain_until)

    def keep(self, file: Path, sha256: str) -> None:
        """Link a checked file into the read cache, read-only; keep the cache under its cap."""
        target = self.cached(sha256)
        os.chmod(file, 0o444)
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # fetched by another process meanwhile
            os.link(file, target)
            if self._cached_bytes is not None:
                self._cached_bytes += file.stat().st_size
        if self._cached_bytes is None or self._cached_bytes > self.cache_limit:
            with contextlib.suppress(OSError):  # only a cache: a file left is trimmed later
                self.trim_cache()

    def trim_cache(self) -> int:
        """Remove the least recently used files of cache/ while it is over nine tenths of the
        cap, keeping those served in the last CACHE_IDLE seconds; returns how many went."""
        files = []
        with contextlib.suppress(FileNotFoundError):
            for prefix in os.scandir(self.cache):
                if prefix.is_dir(follow_symlinks=False):
                    for entry in os.scandir(prefix.path):
                        with contextlib.suppress(FileNotFoundError):
                            info = entry.stat(follow_symlinks=False)
                            files.append((info.st_mtime, info.st_size, entry.path))
        total = sum(size for _, size, _ in files)
        removed = 0
        if total > self.cache_limit:
            recent = time.time() - CACHE_IDLE
            for used, size, path in sorted(files):
                if total <= self.cache_limit * 0.9 or used > recent:
                    break
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    total, removed = total - size, removed + 1
        self._cached_bytes = total
        return removed

    def cached(self, sha256: str) -> Path:
        return self.cache / sha256[:2] / sha256[2:]

    def path(self, sha256: str) -> Path:
        """A local, read-only file with the blob's bytes, fetched into cache/ if need be."""
        target = self.cached(sha256)
        if target.is_file():
            with contextlib.suppress(OSError):  # its last use, for the cache's trimming
                os.utime(target)
            return target
        try:
            spooled = self.reading(sha256, lambda body: spool(self.tmp, body))
            try:
                if spooled.digest.sha256 != sha256:
                    raise BlobMismatchError(
                        f"{self.object_name(sha256)}: its bytes in the bucket are not the blob "
                        f"they are named for (their SHA-256 is {spooled.digest.sha256}); not served"
                    )
                self.keep(spooled.path, sha256)
            finally:
                spooled.path.unlink(missing_ok=True)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"locker disk full while fetching {self.object_name(sha256)} into the local "
                    f"cache ({self.root}: {exc.strerror})"
                ) from exc
            raise
        return target

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    @contextlib.contextmanager
    def plain_file(self, sha256: str) -> Iterator[Path]:
        """The blob as a file a parser can be given: its checked copy in cache/ (kept for
        CACHE_IDLE seconds after its last use, so never trimmed while a block uses it)."""
        yield self.path(sha256)

    def shown_path(self, sha256: str) -> str | None:
        """The file a person can open to see the blob: its checked copy in cache/."""
        return str(self.path(sha256))

    def hash_blob(self, sha256: str) -> BlobDigest:
        """The digests of the original in the bucket (never of the local cache)."""
        return self.reading(sha256, hash_stream)

    def reading(self, sha256: str, read: Callable[[IO[bytes]], T]) -> T:
        """`read` the blob's original from the bucket; a failure mid-stream is one line."""
        original = self.original(sha256)
        try:
            with contextlib.closing(
                self.bucket.get(object_key(sha256), original.version_id)
            ) as body:
                return read(cast(IO[bytes], body))
        except BotoCoreError as exc:
            raise ObjectStoreError(
                f"{self.object_name(sha256)}: reading failed ({reason_of(exc)})"
            ) from exc

    def sizes(self) -> dict[str, int]:
        """The size of every blob's original in the bucket, by name, from one listing."""
        found = {}
        for version in self.bucket.versions("objects/"):
            name = object_blob(version.key)
            if name is not None and version.size is not None:
                found[name] = version.size  # a key's last version listed is its original
        return found

    def digests(self) -> Iterator[str]:
        """Every blob name held in the bucket (hidden by a delete marker or not)."""
        last = None
        for version in self.bucket.versions("objects/"):
            name = object_blob(version.key)
            if name is not None and name != last and not version.deleted:
                last = name
                yield name

    def protection(self) -> Iterator[tuple[str, str | None]]:
        """Each blob's name, and what someone did to it in the bucket or to its local copy
        in cache/ (None: untouched, locked in compliance mode, its copy read-only)."""
        by_name: dict[str, list[Version]] = {}
        for version in self.bucket.versions("objects/"):
            name = object_blob(version.key)
            if name is not None:
                by_name.setdefault(name, []).append(version)
        checks = []
        for name, versions in by_name.items():
            held = [v for v in versions if not v.deleted]
            if held:  # only delete markers: not a blob (verify names a missing one)
                checks.append((name, held[-1], len(held), len(versions) - len(held)))
        # One HEAD per blob, a few at a time: each waits on the network, not on this machine.
        with ThreadPoolExecutor(max_workers=_HEADS_AT_ONCE) as pool:
            yield from zip(
                (check[0] for check in checks),
                pool.map(lambda check: self._problem(*check), checks),
                strict=True,
            )

    def _problem(self, name: str, original: Version, held: int, markers: int) -> str | None:
        cached = self.cached(name)
        with contextlib.suppress(FileNotFoundError):
            mode = cached.lstat().st_mode
            if mode & 0o222 or not stat.S_ISREG(mode):
                return (
                    f"its local copy {cached} is writable or not a plain file (mode "
                    f"{stat.S_IMODE(mode):04o}); remove it (it is fetched again, checked)"
                )
        if held > 1:
            return (
                f"overwritten in the bucket ({held - 1} later version(s) of "
                f"{object_key(name)}); the locked original is kept and is what Docket reads"
            )
        if markers:
            return (
                f"deleted in the bucket (a delete marker hides {object_key(name)}); the "
                "locked original is kept and is what Docket reads"
            )
        head = self.bucket.head(object_key(name), original.version_id)
        if head.lock_mode != "COMPLIANCE" or head.retain_until is None:
            return f"not locked in compliance mode (Object Lock mode {head.lock_mode})"
        return None

    def retained_until(self, sha256: str) -> datetime.datetime | None:
        """The latest retain-until date of the blob's versions still in the future, if any."""
        key = object_key(sha256)
        now = datetime.datetime.now(datetime.UTC)
        dates = [
            head.retain_until
            for v in self.bucket.versions(key)
            if v.key == key and not v.deleted
            for head in [self.bucket.head(key, v.version_id)]
            if head.retain_until is not None and head.retain_until > now
        ]
        return max(dates, default=None)

    def remove_stray(self, sha256: str) -> None:
        """Remove a blob no record references, every version of it; refused while locked."""
        until = self.retained_until(sha256)
        if until is not None:
            raise BlobLockedError(
                f"{self.object_name(sha256)}: locked by S3 Object Lock (compliance mode) until "
                f"{until:%Y-%m-%d %H:%M} UTC; it cannot be removed before then"
            )
        key = object_key(sha256)
        for version in self.bucket.versions(key):
            if version.key == key:
                self.bucket.delete(key, version.version_id)
        self.cached(sha256).unlink(missing_ok=True)

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
        """Abort the bucket's multipart uploads left by writers that died (a blob over 5 GiB
        whose upload was killed); their parts are stored but no object was ever made."""
        return self.bucket.abort_unfinished()
