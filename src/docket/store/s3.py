"""Blobs in an S3-compatible bucket with Object Lock in compliance mode.

`S3Bucket` is the bucket itself, opened by URL
(`s3://bucket/prefix?endpoint=http://host:port&region=...`). Credentials come only from the
standard AWS environment and files (boto3's own chain); a URL that carries any is refused, so
none is ever written into a locker. A bucket without Object Lock is refused. Every object is
written once: put-if-absent (`If-None-Match: *`) with a COMPLIANCE retention date, which not
even the bucket's owner can shorten, and with its SHA-256 sent along so the server checks the
bytes it received. Object Lock implies versioning, so an "overwrite" or "delete" by someone
holding the keys only adds a version or a delete marker: the locked original stays, as the
oldest version of its key.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import os
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, TypeVar, cast
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from docket.errors import (
    BlobLockedError,
    BlobMismatchError,
    DiskFullError,
    ObjectStoreError,
    is_disk_full,
)
from docket.store import scratch
from docket.store.filesystem import (
    BlobDigest,
    StoredBlob,
    fsync_dir,
    hash_stream,
    spool,
)

T = TypeVar("T")

SCHEME = "s3://"
_QUERY = ("endpoint", "region")
_MAX_SINGLE_PUT = 5 * 1024**3  # S3's limit for one PUT
_UPLOAD_WAITS = (0.2, 0.5, 1.0, 2.0, 4.0)  # for another writer's upload of the same blob
_HEADS_AT_ONCE = 16


class Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Location:
    bucket: str
    prefix: str  # "" or ending in "/"
    endpoint: str | None
    region: str | None

    @classmethod
    def parse(cls, url: str) -> Location:
        parts = urlsplit(url)
        shown = _shown(url)
        if parts.scheme != "s3" or not parts.hostname:
            raise ObjectStoreError(f"{shown}: not an S3 URL (s3://bucket/prefix?endpoint=...)")
        query = parse_qs(parts.query, keep_blank_values=True)
        endpoints = query.get("endpoint", [])
        if parts.username or parts.password or any(urlsplit(e).username for e in endpoints):
            raise ObjectStoreError(
                f"{shown}: credentials never go in the URL (they would be stored in "
                "docket.json); use the standard AWS environment variables or ~/.aws files"
            )
        unknown = sorted(set(query) - set(_QUERY))
        if unknown:
            raise ObjectStoreError(
                f"{shown}: unknown setting {', '.join(unknown)} (only endpoint and region; "
                "credentials come from the AWS environment or ~/.aws files)"
            )
        if any(len(values) != 1 or not values[0] for values in query.values()):
            raise ObjectStoreError(f"{shown}: endpoint and region are given once, not empty")
        prefix = parts.path.strip("/")
        return cls(
            bucket=parts.netloc,
            prefix=f"{prefix}/" if prefix else "",
            endpoint=endpoints[0] if endpoints else None,
            region=query["region"][0] if "region" in query else None,
        )

    @property
    def url(self) -> str:
        query = "&".join(
            f"{name}={value}"
            for name, value in (("endpoint", self.endpoint), ("region", self.region))
            if value
        )
        return f"{SCHEME}{self.bucket}/{self.prefix}" + (f"?{query}" if query else "")

    def name(self, key: str) -> str:
        """How a key is named in messages: s3://bucket/prefix/key."""
        return f"{SCHEME}{self.bucket}/{self.prefix}{key}"


def _shown(url: str) -> str:
    """`url` fit for a message: no user name or password, and of its settings only the
    values of endpoint and region (a secret given by mistake is never echoed)."""
    parts = urlsplit(url)
    settings = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "endpoint":
            inner = urlsplit(value)
            value = urlunsplit(inner._replace(netloc=inner.netloc.rsplit("@", 1)[-1]))
        settings.append(f"{name}={value if name in _QUERY else '***'}")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(settings), ""))


@dataclass(frozen=True)
class Version:
    """One version of a key, or a delete marker (`size` None). Listed newest first."""

    key: str  # relative to the bucket URL's prefix
    version_id: str
    size: int | None
    modified: datetime.datetime

    @property
    def deleted(self) -> bool:
        return self.size is None


@dataclass(frozen=True)
class Head:
    size: int
    checksum: str | None  # SHA-256 as S3 gives it (base64), None when it kept none
    lock_mode: str | None  # "COMPLIANCE", "GOVERNANCE" or None
    retain_until: datetime.datetime | None


def _reason(exc: Exception) -> str:
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_PROFILE, or write ~/.aws/credentials"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def sha256_checksum(sha256: str) -> str:
    """S3's form of a SHA-256 (x-amz-checksum-sha256): base64 of the raw digest."""
    return base64.b64encode(bytes.fromhex(sha256)).decode()


class S3Bucket:
    """A bucket (under a prefix) whose objects are written once and locked."""

    def __init__(self, location: Location, client: Any) -> None:
        self.location = location
        self._client = client

    @classmethod
    def open(cls, url: str) -> S3Bucket:
        location = Location.parse(url)
        try:
            client = boto3.session.Session().client(
                "s3",
                endpoint_url=location.endpoint,
                region_name=location.region,
                config=Config(retries={"max_attempts": 5, "mode": "standard"}),
            )
        except (BotoCoreError, ValueError) as exc:
            raise ObjectStoreError(f"{location.url}: cannot connect ({_reason(exc)})") from exc
        return cls(location, client)

    @property
    def url(self) -> str:
        return self.location.url

    def _call(self, what: str, key: str | None, method: str, **kwargs: Any) -> Any:
        """One request; any failure is one line naming the bucket or object and the reason."""
        try:
            return getattr(self._client, method)(Bucket=self.location.bucket, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            subject = self.url if key is None else self.location.name(key)
            raise ObjectStoreError(f"{subject}: {what} failed ({_reason(exc)})") from exc

    def require_object_lock(self) -> None:
        """Refuse a bucket that cannot lock objects: its originals could be deleted."""
        try:
            answer = self._client.get_object_lock_configuration(Bucket=self.location.bucket)
        except ClientError as exc:
            if _code(exc) != "ObjectLockConfigurationNotFoundError":
                raise ObjectStoreError(f"{self.url}: cannot be read ({_reason(exc)})") from exc
            answer = {}
        except BotoCoreError as exc:
            raise ObjectStoreError(f"{self.url}: cannot be reached ({_reason(exc)})") from exc
        enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            raise ObjectStoreError(
                f"{SCHEME}{self.location.bucket}: the bucket does not have Object Lock enabled, "
                "so its objects could be deleted or overwritten; create a bucket with Object Lock"
            )

    def put_if_absent(
        self, key: str, file: Path, retain_until: datetime.datetime, sha256: str | None = None
    ) -> bool:
        """Upload `file` under `key` unless the key is held already; True when it was written.
        The object is locked in COMPLIANCE mode until `retain_until`. With `sha256` the server
        checks the bytes it received against it and refuses the upload if they differ."""
        size = file.stat().st_size
        if size > _MAX_SINGLE_PUT:
            raise ObjectStoreError(
                f"{self.location.name(key)}: {file} is {size} bytes, more than one upload "
                f"({_MAX_SINGLE_PUT} bytes) can hold"
            )
        extra = {"ChecksumAlgorithm": "SHA256"}  # S3 needs a checksum with a lock
        if sha256 is not None:
            extra["ChecksumSHA256"] = sha256_checksum(sha256)
        with file.open("rb") as body:
            try:
                self._client.put_object(
                    Bucket=self.location.bucket,
                    Key=self.location.prefix + key,
                    Body=body,
                    ContentLength=size,
                    IfNoneMatch="*",
                    ObjectLockMode="COMPLIANCE",
                    ObjectLockRetainUntilDate=retain_until,
                    **extra,
                )
            except ClientError as exc:
                if _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                    return False  # held already (or being written by another at this moment)
                raise ObjectStoreError(
                    f"{self.location.name(key)}: upload failed ({_reason(exc)})"
                ) from exc
            except BotoCoreError as exc:
                raise ObjectStoreError(
                    f"{self.location.name(key)}: upload failed ({_reason(exc)})"
                ) from exc
        return True

    def exists(self, key: str) -> bool:
        """Whether any version of `key` is held (a delete marker does not hide an original).
        One HEAD answers for a key that is there; only a missing or hidden one is listed."""
        try:
            self._client.head_object(Bucket=self.location.bucket, Key=self.location.prefix + key)
            return True
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchKey", "405", "MethodNotAllowed"):
                raise ObjectStoreError(
                    f"{self.location.name(key)}: reading failed ({_reason(exc)})"
                ) from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(
                f"{self.location.name(key)}: reading failed ({_reason(exc)})"
            ) from exc
        return any(not v.deleted for v in self.versions(key) if v.key == key)

    def keys(self, under: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) of every current object whose key begins with `under`."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=self.location.prefix + under
        )
        try:
            for page in pages:
                for entry in page.get("Contents", []):
                    yield entry["Key"][len(self.location.prefix) :], int(entry["Size"])
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(f"{self.url}: listing failed ({_reason(exc)})") from exc

    def versions(self, under: str = "") -> Iterator[Version]:
        """Every version of keys beginning with `under`, each key's versions newest first (the
        order S3 lists them in; times alone cannot order versions made within one second),
        then its delete markers. A key's original is its last version that is not a marker."""
        pages = self._client.get_paginator("list_object_versions").paginate(
            Bucket=self.location.bucket, Prefix=self.location.prefix + under
        )
        cut = len(self.location.prefix)
        try:
            for page in pages:
                found = [(entry, int(entry["Size"])) for entry in page.get("Versions", [])] + [
                    (entry, None) for entry in page.get("DeleteMarkers", [])
                ]
                found.sort(key=lambda pair: pair[0]["Key"])  # stable: keeps S3's order
                for entry, size in found:
                    yield Version(
                        entry["Key"][cut:], entry["VersionId"], size, entry["LastModified"]
                    )
        except (ClientError, BotoCoreError) as exc:
            raise ObjectStoreError(f"{self.url}: listing failed ({_reason(exc)})") from exc

    def get(self, key: str, version_id: str | None = None) -> Readable:
        """A stream of the object's bytes (of one version when given); the caller closes it."""
        extra = {} if version_id is None else {"VersionId": version_id}
        answer = self._call("reading", key, "get_object", Key=self.location.prefix + key, **extra)
        return cast(Readable, answer["Body"])

    def head(self, key: str, version_id: str) -> Head:
        """What the server keeps about one version: its SHA-256 and its lock."""
        answer = self._call(
            "reading",
            key,
            "head_object",
            Key=self.location.prefix + key,
            VersionId=version_id,
            ChecksumMode="ENABLED",
        )
        checksum = answer.get("ChecksumSHA256")
        return Head(
            size=int(answer["ContentLength"]),
            checksum=None if checksum is None or "-" in checksum else str(checksum),
            lock_mode=answer.get("ObjectLockMode"),
            retain_until=answer.get("ObjectLockRetainUntilDate"),
        )

    def delete(self, key: str, version_id: str) -> None:
        """Remove one version for good (S3 refuses while it is locked)."""
        self._call(
            "removing", key, "delete_object", Key=self.location.prefix + key, VersionId=version_id
        )


def _blob_key(sha256: str) -> str:
    return f"objects/{sha256[:2]}/{sha256[2:]}"


def _blob_name(key: str) -> str | None:
    """The blob a key holds (its SHA-256), or None for a key that is not a blob's."""
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != "objects" or len(parts[1]) != 2:
        return None
    name = parts[1] + parts[2]
    return name if len(name) == 64 and all(c in "0123456789abcdef" for c in name) else None


class S3Store:
    """Blobs in a bucket (objects/ab/cdef... under its prefix), with a local read cache.

    A blob becomes visible only once its upload succeeded: it is spooled to the locker's
    tmp/ while hashed (as the folder store does), fsynced, uploaded put-if-absent and locked
    until now + `retention_days`, and only then acknowledged. `path` hands callers a local
    file in cache/, fetched from the blob's original (oldest) version and checked against its
    SHA-256 first: bytes that do not match are an error naming the object, never served.
    An overwrite or delete by someone holding the keys leaves the locked original in place
    (Object Lock keeps every version) and is named by `protection` (so by `docket verify`).
    """

    protected_as = "locked (S3 Object Lock, compliance mode)"

    def __init__(self, root: Path, bucket: S3Bucket, retention_days: int) -> None:
        self.root = root
        self.bucket = bucket
        self.retention_days = retention_days
        self.tmp = root / "tmp"
        self.cache = root / "cache"

    @classmethod
    def create(cls, root: Path, bucket: S3Bucket, retention_days: int) -> S3Store:
        store = cls(root, bucket, retention_days)
        store.tmp.mkdir(parents=True)
        store.cache.mkdir()
        fsync_dir(root)
        return store

    def _name(self, sha256: str) -> str:
        return self.bucket.location.name(_blob_key(sha256))

    def _original(self, sha256: str, waits: tuple[float, ...] = ()) -> Version:
        """The blob's original: the oldest version of its key that is not a delete marker.
        With `waits`, a key not there yet is looked for again after each pause (seconds)."""
        key = _blob_key(sha256)
        for pause in (*waits, None):
            held = [v for v in self.bucket.versions(key) if v.key == key and not v.deleted]
            if held:
                return held[-1]
            if pause is not None:
                time.sleep(pause)
        raise ObjectStoreError(f"{self._name(sha256)}: the blob is not in the bucket")

    def has(self, sha256: str) -> bool:
        return self.bucket.exists(_blob_key(sha256))

    def size(self, sha256: str) -> int:
        size = self._original(sha256).size
        assert size is not None  # _original skips delete markers
        return size

    def modified(self, sha256: str) -> float:
        """When the original was uploaded (seconds since the epoch)."""
        return self._original(sha256).modified.timestamp()

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
            new = self.bucket.put_if_absent(_blob_key(sha256), spooled.path, retain_until, sha256)
            if not new:
                self._check_held(sha256, spooled.digest.size)
            with contextlib.suppress(OSError):  # only a cache: the bucket holds the blob now
                self._keep(spooled.path, sha256)
        finally:
            spooled.path.unlink(missing_ok=True)
        return StoredBlob(spooled.digest, spooled.head, new)

    def _check_held(self, sha256: str, size: int) -> None:
        """A blob that arrives again: the object already under its name must be its bytes
        (an object planted under a blob's name before it arrived would otherwise stand in
        for it). The server's own SHA-256 of the original answers; without one, it is read.
        Another process may be uploading the same bytes at this moment (S3 answers 409 to the
        second writer): its upload is waited for, a few seconds at most."""
        original = self._original(sha256, waits=_UPLOAD_WAITS)
        head = self.bucket.head(_blob_key(sha256), original.version_id)
        if head.size == size and head.checksum is not None:
            if head.checksum == sha256_checksum(sha256):
                return
        elif head.size == size and self.hash_blob(sha256).sha256 == sha256:
            return
        raise BlobMismatchError(
            f"{self._name(sha256)}: the bucket holds other bytes under this blob's name "
            "(planted or damaged); the arriving copy was not stored"
        )

    def _keep(self, file: Path, sha256: str) -> None:
        """Link a checked file into the read cache, read-only."""
        target = self._cached(sha256)
        os.chmod(file, 0o444)
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # fetched by another process meanwhile
            os.link(file, target)

    def _cached(self, sha256: str) -> Path:
        return self.cache / sha256[:2] / sha256[2:]

    def path(self, sha256: str) -> Path:
        """A local, read-only file with the blob's bytes, fetched into cache/ if need be."""
        target = self._cached(sha256)
        if target.is_file():
            return target
        try:
            spooled = self._reading(sha256, lambda body: spool(self.tmp, body))
            try:
                if spooled.digest.sha256 != sha256:
                    raise BlobMismatchError(
                        f"{self._name(sha256)}: its bytes in the bucket are not the blob they "
                        f"are named for (their SHA-256 is {spooled.digest.sha256}); not served"
                    )
                self._keep(spooled.path, sha256)
            finally:
                spooled.path.unlink(missing_ok=True)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"locker disk full while fetching {self._name(sha256)} into the local "
                    f"cache ({self.root}: {exc.strerror})"
                ) from exc
            raise
        return target

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def hash_blob(self, sha256: str) -> BlobDigest:
        """The digests of the original in the bucket (never of the local cache)."""
        return self._reading(sha256, hash_stream)

    def _reading(self, sha256: str, read: Callable[[IO[bytes]], T]) -> T:
        """`read` the blob's original from the bucket; a failure mid-stream is one line."""
        original = self._original(sha256)
        try:
            with contextlib.closing(
                self.bucket.get(_blob_key(sha256), original.version_id)
            ) as body:
                return read(cast(IO[bytes], body))
        except BotoCoreError as exc:
            raise ObjectStoreError(
                f"{self._name(sha256)}: reading failed ({_reason(exc)})"
            ) from exc

    def sizes(self) -> dict[str, int]:
        """The size of every blob's original in the bucket, by name, from one listing."""
        found = {}
        for version in self.bucket.versions("objects/"):
            name = _blob_name(version.key)
            if name is not None and version.size is not None:
                found[name] = version.size  # a key's last version listed is its original
        return found

    def digests(self) -> Iterator[str]:
        """Every blob name held in the bucket (hidden by a delete marker or not)."""
        last = None
        for version in self.bucket.versions("objects/"):
            name = _blob_name(version.key)
            if name is not None and name != last and not version.deleted:
                last = name
                yield name

    def protection(self) -> Iterator[tuple[str, str | None]]:
        """Each blob's name, and what someone did to it in the bucket or to its local copy
        in cache/ (None: untouched, locked in compliance mode, its copy read-only)."""
        by_name: dict[str, list[Version]] = {}
        for version in self.bucket.versions("objects/"):
            name = _blob_name(version.key)
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
        cached = self._cached(name)
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
                f"{_blob_key(name)}); the locked original is kept and is what Docket reads"
            )
        if markers:
            return (
                f"deleted in the bucket (a delete marker hides {_blob_key(name)}); the "
                "locked original is kept and is what Docket reads"
            )
        head = self.bucket.head(_blob_key(name), original.version_id)
        if head.lock_mode != "COMPLIANCE" or head.retain_until is None:
            return f"not locked in compliance mode (Object Lock mode {head.lock_mode})"
        return None

    def retained_until(self, sha256: str) -> datetime.datetime | None:
        """The latest retain-until date of the blob's versions still in the future, if any."""
        key = _blob_key(sha256)
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
                f"{self._name(sha256)}: locked by S3 Object Lock (compliance mode) until "
                f"{until:%Y-%m-%d %H:%M} UTC; it cannot be removed before then"
            )
        key = _blob_key(sha256)
        for version in self.bucket.versions(key):
            if version.key == key:
                self.bucket.delete(key, version.version_id)
        self._cached(sha256).unlink(missing_ok=True)

    def scratch(self, purpose: str) -> contextlib.AbstractContextManager[Path]:
        """A private working folder in tmp/ for the length of a block (see scratch.py)."""
        return scratch.folder(self.tmp, purpose)

    def clean_tmp(self) -> int:
        """Remove partial writes and scratch of processes that died; none was acknowledged."""
        return scratch.clean(self.tmp)
