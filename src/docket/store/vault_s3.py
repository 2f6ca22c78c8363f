"""A vault's blobs in an S3 bucket with Object Lock: sealed objects under keyed names.

The same sealed files as the vault's folder store (sealing.py, sealed_stream.py), kept as
the plain bucket store keeps blobs (s3.py): the bucket and cache/ are an S3Store whose names
are keyed names, HMAC-SHA256(NAME key, SHA-256), never the plain SHA-256. Nothing that
leaves this machine, nor anything in cache/, is plaintext or names a blob's SHA-256: the
object's key is its keyed name, its body the sealed file, its checksum (which the server
checks) that of the ciphertext, and it has no metadata or tags.

A blob becomes visible only once its upload succeeded: sealed into tmp/ while the plaintext
is hashed, fsynced, uploaded put-if-absent and locked in compliance mode until now + the
locker's retention, and only then acknowledged. Each seal of the same bytes differs (a fresh
data key), so a re-arrival is recognised by its keyed name alone; the object already there
must be a sealed blob of this vault whose header names the same SHA-256, of the size that
plaintext seals to, else it is refused by name. Reading fetches the original (oldest)
version into cache/ and authenticates every segment of it before it is kept there; `open`
decrypts from cache/ a segment at a time, `plain_file` into memory only (as the folder
vault). The SHA-256s held (`digests`, `sizes`) come from the objects' headers: a cached
copy's, else the first bytes of the original.

A locker made a vault in place (vault/convert.py) may keep plain objects that Object Lock
would not let it remove: vault-plain-left.json (PLAIN_LEFT) records their versions by
version id only (which tells nothing of their content) with their retain-until dates. An
object every version of which is recorded there is no blob of the vault: it is passed over
by `digests`, `sizes` and `protection`, named by `plain_left` (for `verify`), and removed by
`remove_plain_left` once its lock ends. With the key, each must be the plaintext of a
sealed blob held (its keyed name's header names it), else `protection` names it; a version
is removed only after that check, so a record edited to name a sealed object removes
nothing of the vault.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, BinaryIO

from botocore.exceptions import FlexibleChecksumError

from docket.errors import (
    BlobMismatchError,
    DiskFullError,
    DocketError,
    ObjectStoreError,
    VaultDamagedError,
    is_disk_full,
)
from docket.store import scratch
from docket.store.bucket import S3Bucket, Version
from docket.store.filesystem import (
    BlobDigest,
    Spooled,
    StoredBlob,
    fsync_dir,
    hash_stream,
    spool,
)
from docket.store.s3 import CACHE_LIMIT, UPLOAD_WAITS, S3Store, object_blob, object_key
from docket.store.sealed_stream import HEADER_BYTES, plain_size, sealed_size
from docket.store.sealing import Sealing, plain_copy
from docket.vault.keys import VaultKey

_HEADS_AT_ONCE = 16
PLAIN_LEFT = "vault-plain-left.json"


def plain_left_record(root: Path) -> dict[str, str]:
    """What vault-plain-left.json records: version id -> retain-until (ISO 8601, UTC)."""
    file = root / PLAIN_LEFT
    try:
        data = json.loads(file.read_bytes())
        return {str(e["version_id"]): str(e["retain_until"]) for e in data["versions"]}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DocketError(f"{file}: not a record of plain objects left ({exc})") from exc


def plain_left_json(left: dict[str, str]) -> bytes:
    """vault-plain-left.json for the versions `left` (version id -> retain-until)."""
    versions = [{"version_id": v, "retain_until": left[v]} for v in sorted(left)]
    return json.dumps({"versions": versions}, indent=2).encode() + b"\n"


def _listing(bucket: S3Bucket, left: dict[str, str]) -> tuple[dict[str, Version], set[str]]:
    """The original of every blob-named key held (hidden by a marker or not), and the keys
    every version of which `left` records (plain objects a conversion left)."""
    by_name: dict[str, list[Version]] = {}
    for version in bucket.versions("objects/"):
        name = object_blob(version.key)
        if name is not None:
            by_name.setdefault(name, []).append(version)
    originals, plain = {}, set()
    for name, versions in by_name.items():
        if left and all(v.version_id in left for v in versions):
            plain.add(name)
            continue
        held = [v for v in versions if not v.deleted]
        if held:
            originals[name] = held[-1]  # a key's last version listed is its original
    return originals, plain


class VaultS3Store:
    """A vault's sealed blobs in a bucket (objects/ab/cdef... by keyed name), read through a
    cache/ of sealed files."""

    protected_as = "locked (S3 Object Lock, compliance mode), encrypted"

    def __init__(
        self,
        root: Path,
        bucket: S3Bucket,
        retention_days: int,
        key: VaultKey,
        cache_limit: int = CACHE_LIMIT,
    ) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.bucket = bucket
        self.retention_days = retention_days
        self._sealed = S3Store(root, bucket, retention_days, cache_limit)  # by keyed name
        self._sealing = Sealing(key)
        self._left = plain_left_record(root)

    @classmethod
    def create(
        cls, root: Path, bucket: S3Bucket, retention_days: int, key: VaultKey
    ) -> VaultS3Store:
        store = cls(root, bucket, retention_days, key)
        store.tmp.mkdir(parents=True)
        store._sealed.cache.mkdir()
        fsync_dir(root)
        return store

    def keyed_name(self, sha256: str) -> str:
        return self._sealing.keyed_name(sha256)

    def _label(self, sha256: str) -> str:
        return f"blob {sha256} ({self._sealed.object_name(self.keyed_name(sha256))})"

    def has(self, sha256: str) -> bool:
        return self._sealed.has(self.keyed_name(sha256))

    def modified(self, sha256: str) -> float:
        """When the original was uploaded (seconds since the epoch)."""
        return self._sealed.modified(self.keyed_name(sha256))

    def size(self, sha256: str) -> int:
        """The plaintext size, from the original's size (nothing is read)."""
        sealed = self._sealed.size(self.keyed_name(sha256))
        size = plain_size(sealed)
        if size is None:
            raise VaultDamagedError(
                f"{self._label(sha256)}: cut short or lengthened ({sealed} bytes is no sealed "
                "blob's size)"
            )
        return size

    def put(self, stream: IO[bytes], limit: int | None = None, label: str = "a file") -> StoredBlob:
        """Seal `stream` and upload it; returns once the bucket holds it, locked. A full local
        disk is a DiskFullError naming `label`, as in the folder store."""
        try:
            part, sealed = self._sealing.seal_into(self.tmp, stream, limit)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"locker disk full while storing {label} ({self.tmp}: {exc.strerror})"
                ) from exc
            raise
        sha256 = sealed.digest.sha256
        keyed = self.keyed_name(sha256)
        try:
            retain_until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
                days=self.retention_days
            )
            new = self.bucket.put_if_absent(object_key(keyed), part, retain_until)
            if new:
                with contextlib.suppress(OSError):  # only a cache: the bucket holds it now
                    self._sealed.keep(part, keyed)
            else:
                self._check_held(sha256, sealed.digest.size, retain_until)
        finally:
            part.unlink(missing_ok=True)
        return StoredBlob(sealed.digest, sealed.head, new)

    def _check_held(self, sha256: str, size: int, retain_until: datetime.datetime) -> None:
        """A blob that arrives again: the object under its keyed name must be this vault's
        seal of the same SHA-256, of the size its plaintext seals to (another upload of it
        at this moment is waited for, as in s3.py), and is locked anew if its lock ends
        within half the retention period."""
        keyed = self.keyed_name(sha256)
        key = object_key(keyed)
        original = self._sealed.original(keyed, waits=UPLOAD_WAITS)
        head = self.bucket.head(key, original.version_id)
        if head.size != sealed_size(size) or self.header_of(keyed, original) != sha256:
            raise BlobMismatchError(
                f"{self._sealed.object_name(keyed)}: the bucket holds another object under "
                "this blob's keyed name (planted or damaged); the arriving copy was not stored"
            )
        self._sealed.lock_anew(key, original, head, retain_until)

    def header_of(self, keyed: str, original: Version) -> str | None:
        """The SHA-256 the header of the blob filed under `keyed` names: from its copy in
        cache/ if there is one, else from the original's first bytes (None: it does not
        authenticate, or is gone)."""
        cached = self._sealed.cached(keyed)
        try:
            with open(cached, "rb") as file:
                raw = file.read(HEADER_BYTES)
        except FileNotFoundError:
            with contextlib.closing(
                self.bucket.get(object_key(keyed), original.version_id, first=HEADER_BYTES)
            ) as body:
                raw = body.read()
        try:
            return self._sealing.header_name(raw, keyed, str(cached))
        except VaultDamagedError:
            return None

    def path(self, sha256: str) -> Path:
        """A local, read-only file with the blob as stored (its ciphertext), fetched into
        cache/ and authenticated whole if need be; never the plaintext."""
        keyed = self.keyed_name(sha256)
        target = self._sealed.cached(keyed)
        if target.is_file():
            with contextlib.suppress(OSError):  # its last use, for the cache's trimming
                os.utime(target)
            return target
        try:
            spooled = self._fetch(sha256)
            try:
                self._authenticate(spooled.path, sha256, self._label(sha256))
                self._sealed.keep(spooled.path, keyed)
            finally:
                spooled.path.unlink(missing_ok=True)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"locker disk full while fetching {self._sealed.object_name(keyed)} into "
                    f"the local cache ({self.root}: {exc.strerror})"
                ) from exc
            raise
        return target

    def _fetch(self, sha256: str) -> Spooled:
        """The original's sealed bytes, spooled into tmp/ (the caller removes the file).
        Bytes that do not match the checksum the server keeps with them are damaged: a
        VaultDamagedError naming the blob, as one that does not authenticate."""
        try:
            return self._sealed.reading(self.keyed_name(sha256), lambda body: spool(self.tmp, body))
        except ObjectStoreError as exc:
            if not isinstance(exc.__cause__, FlexibleChecksumError):
                raise
            raise VaultDamagedError(
                f"{self._label(sha256)}: its bytes in the bucket do not match the checksum "
                "stored with them (damaged); nothing of it is used"
            ) from exc

    def _authenticate(self, file: Path, sha256: str, label: str) -> BlobDigest:
        """The digests of the sealed `file`'s plaintext, every segment authenticated; a
        VaultDamagedError naming `label` if any part does not, or it is not `sha256`."""
        raw = open(file, "rb", buffering=0)  # noqa: SIM115 (the reader closes it)
        with self._sealing.reader(raw, sha256, label) as plain:
            digest = hash_stream(plain)
        if digest.sha256 != sha256:
            raise VaultDamagedError(f"{label}: its plaintext does not hash to its name")
        return digest

    def open(self, sha256: str) -> BinaryIO:
        """The blob's plaintext, decrypted and authenticated a segment at a time from its
        sealed copy in cache/; seekable."""
        raw = open(self.path(sha256), "rb", buffering=0)  # noqa: SIM115 (the reader closes it)
        return self._sealing.reader(raw, sha256, self._label(sha256))

    def plain_file(self, sha256: str) -> contextlib.AbstractContextManager[Path]:
        """A decrypted copy of the blob, in memory only, for the length of a block."""
        return plain_copy(self.open(sha256), self.scratch("plain"))

    def shown_path(self, sha256: str) -> str | None:
        """None: no file of a vault shows a blob (`plain_file` makes a passing copy)."""
        return None

    def hash_blob(self, sha256: str) -> BlobDigest:
        """The digests of the original in the bucket, every segment authenticated (never of
        the local cache); a sealed copy in cache/ is authenticated too, as it is what
        `open` reads. Either failing is a VaultDamagedError naming the object or the file."""
        keyed = self.keyed_name(sha256)
        spooled = self._fetch(sha256)
        try:
            digest = self._authenticate(spooled.path, sha256, self._label(sha256))
        finally:
            spooled.path.unlink(missing_ok=True)
        cached = self._sealed.cached(keyed)
        if cached.is_file():
            self._authenticate(
                cached,
                sha256,
                f"{cached} (the local copy of blob {sha256}; remove it, it is fetched again)",
            )
        return digest

    def _names(self) -> tuple[dict[str, tuple[Version, str | None]], set[str]]:
        """Each keyed name held: its original and the SHA-256 its header names (None when
        it does not authenticate). One small read per blob not cached, a few at a time.
        Then the plain objects left by the conversion (by SHA-256), not read."""
        originals, plain = _listing(self.bucket, self._left)
        with ThreadPoolExecutor(max_workers=_HEADS_AT_ONCE) as pool:
            names = pool.map(lambda pair: self.header_of(*pair), originals.items())
            return {
                keyed: (original, name)
                for (keyed, original), name in zip(originals.items(), names, strict=True)
            }, plain

    def digests(self) -> Iterator[str]:
        """The SHA-256 of every blob held whose header authenticates (from its header)."""
        for _original, name in self._names()[0].values():
            if name is not None:
                yield name

    def sizes(self) -> dict[str, int]:
        """The plaintext size of every blob's original, by SHA-256; an object of a size no
        sealed blob has counts as -1, so `verify` finds it differs."""
        found = {}
        for original, name in self._names()[0].values():
            if name is not None and original.size is not None:
                size = plain_size(original.size)
                found[name] = -1 if size is None else size
        return found

    def protection(self) -> Iterator[tuple[str, str | None]]:
        """Each blob's name (its keyed name when its header does not authenticate), and what
        someone did to it in the bucket or to its sealed copy in cache/ (None: untouched,
        locked in compliance mode, its copy read-only)."""
        listed, plain = self._names()
        names = {keyed: name for keyed, (_original, name) in listed.items()}
        for sha256 in sorted(plain):
            if names.get(self.keyed_name(sha256)) != sha256:
                yield (
                    sha256,
                    f"{self._sealed.object_name(sha256)}: recorded in {PLAIN_LEFT} as a plain "
                    "object the conversion left, but no sealed blob of it is held",
                )
        for keyed, problem in self._sealed.protection():
            if keyed in plain:
                continue
            name = names.get(keyed)
            if name is None:
                yield (
                    keyed,
                    f"{self._sealed.object_name(keyed)}: its header does not authenticate "
                    "(changed, damaged, another blob's moved into its place, or not this "
                    "vault's)",
                )
            else:
                yield name, problem

    def retained_until(self, sha256: str) -> datetime.datetime | None:
        return self._sealed.retained_until(self.keyed_name(sha256))

    def plain_left(self) -> dict[str, datetime.datetime]:
        """The plain objects the conversion left in the bucket under retention (by SHA-256),
        each with the latest retain-until date recorded for its versions."""
        if not self._left:
            return {}
        _originals, plain = _listing(self.bucket, self._left)
        found: dict[str, datetime.datetime] = {}
        for version in self.bucket.versions("objects/"):
            name = object_blob(version.key)
            if name in plain:
                until = datetime.datetime.fromisoformat(self._left[version.version_id])
                found[name] = max(found.get(name, until), until)
        return found

    def remove_plain_left(self) -> dict[str, str]:
        """Remove each version of the plain objects the conversion left whose lock has ended,
        once the sealed blob of its SHA-256 is found held (its header names it); returns the
        versions still left (version id -> retain-until), to be recorded in PLAIN_LEFT."""
        originals, plain = _listing(self.bucket, self._left)
        still: dict[str, str] = {}
        now = datetime.datetime.now(datetime.UTC)
        for sha256 in sorted(plain):
            keyed = self.keyed_name(sha256)
            proven = keyed in originals and self.header_of(keyed, originals[keyed]) == sha256
            key = object_key(sha256)
            for version in self.bucket.versions(key):
                if version.key != key:
                    continue
                until = self._left[version.version_id]
                if proven and datetime.datetime.fromisoformat(until) <= now:
                    locked = remove_version(self.bucket, key, version)
                    if locked is None:
                        continue
                    until = locked.isoformat()  # its lock was lengthened since
                still[version.version_id] = until
        return still

    def remove_stray(self, sha256: str) -> None:
        """Remove a blob no record references, every version of it; refused while locked."""
        self._sealed.remove_stray(self.keyed_name(sha256))

    @property
    def scratch_root(self) -> Path:
        """Where scratch folders and parsers' temporary files go: memory only (scratch.py)."""
        return scratch.memory_root()

    def scratch(self, purpose: str) -> contextlib.AbstractContextManager[Path]:
        """A private working folder in memory for the length of a block (see scratch.py)."""
        return scratch.folder(self.scratch_root, purpose)

    def clean_tmp(self) -> int:
        """Remove partial writes (ciphertext) in tmp/ and the memory-backed scratch and
        decrypted copies of processes that died; none was acknowledged."""
        return scratch.clean(self.tmp) + scratch.clean_memory()

    def abort_unfinished(self) -> int:
        """Abort the bucket's multipart uploads left by writers that died."""
        return self.bucket.abort_unfinished()


def remove_version(bucket: S3Bucket, key: str, version: Version) -> datetime.datetime | None:
    """Remove one version of `key` for good: None once removed, or the date Object Lock
    keeps it until (it is left); any other failure is an ObjectStoreError."""
    try:
        bucket.delete(key, version.version_id)
    except ObjectStoreError:
        if version.deleted:
            raise
        until = bucket.head(key, version.version_id).retain_until
        if until is None or until <= datetime.datetime.now(datetime.UTC):
            raise
        return until
    return None


def sealed_objects(root: Path, bucket: S3Bucket) -> Iterator[tuple[str, str | None]]:
    """Without the key (a locked vault): each sealed object in the bucket, by its keyed
    name, and what someone did to it (overwritten, deleted, not locked in compliance mode,
    its copy in cache/ writable, as s3.py's `protection` says) or a size no sealed blob has
    (None: it may be a blob; its header and content need the key)."""
    sealed = S3Store(root, bucket, retention_days=1)  # read only: the retention is never used
    _originals, plain = _listing(bucket, plain_left_record(root))
    sizes = sealed.sizes()
    for keyed, problem in sealed.protection():
        if keyed in plain:
            continue  # a plain object the conversion left (vault-plain-left.json)
        size = sizes.get(keyed)
        if problem is None and (size is None or plain_size(size) is None):
            problem = f"cut short or lengthened ({size} bytes)"
        yield f"blob object {object_key(keyed)}", problem
