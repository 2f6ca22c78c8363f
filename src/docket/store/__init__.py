"""Write-once, content-addressed blob stores: a local folder (default) or an S3 bucket.

Every store has the shape of `BlobStore`; a locker's docket.json says which one it uses
(`"store": {"url": "s3://...", "retention_days": N}`, absent for the folder). A vault locker
(`"vault": {"format": 1}`) keeps its blobs sealed under keyed names, in its folder
(vault.py) or in a bucket (vault_s3.py), both through sealing.py. Readers take a blob
through `open` (a stream) or `plain_file` (a file for a parser, decrypted in memory only for
a vault); `path` is the file as stored (a vault's ciphertext), for checks of the store
itself, never for reading a blob.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from docket.errors import DocketError, VaultLockedError
from docket.store.bucket import S3Bucket
from docket.store.filesystem import BlobDigest, FilesystemStore, StoredBlob
from docket.store.s3 import CACHE_LIMIT, S3Store
from docket.store.vault import VaultStore, sealed_files
from docket.store.vault_s3 import VaultS3Store, sealed_objects
from docket.vault.keys import VaultKey

MAX_RETENTION_DAYS = 36500  # a hundred years; a longer period is a typo (and overflows dates)


class BlobStore(Protocol):
    root: Path
    tmp: Path
    protected_as: str  # how every blob is kept from change: "read-only", "locked ..."

    def put(
        self, stream: IO[bytes], limit: int | None = None, label: str = "a file"
    ) -> StoredBlob: ...

    def has(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int: ...

    def sizes(self) -> dict[str, int]: ...

    def modified(self, sha256: str) -> float: ...

    def path(self, sha256: str) -> Path: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def plain_file(self, sha256: str) -> contextlib.AbstractContextManager[Path]: ...

    def shown_path(self, sha256: str) -> str | None: ...

    def hash_blob(self, sha256: str) -> BlobDigest: ...

    def digests(self) -> Iterator[str]: ...

    def protection(self) -> Iterator[tuple[str, str | None]]: ...

    def retained_until(self, sha256: str) -> datetime.datetime | None: ...

    def remove_stray(self, sha256: str) -> None: ...

    @property
    def scratch_root(self) -> Path: ...

    def scratch(self, purpose: str) -> contextlib.AbstractContextManager[Path]: ...

    def clean_tmp(self) -> int: ...

    def abort_unfinished(self) -> int: ...


def settings(url: str | None, retention_days: int | None) -> dict[str, Any] | None:
    """The `store` entry of a new locker's docket.json (None: a folder), once the bucket is
    known to lock its objects. Only the URL and the retention go in: never credentials."""
    if url is None:
        if retention_days is not None:
            raise DocketError("--retention-days is for a locker whose store is a bucket (--store)")
        return None
    bucket = S3Bucket.open(url)  # a bad URL is refused first, and never echoed with a secret
    if retention_days is None or not 1 <= retention_days <= MAX_RETENTION_DAYS:
        raise DocketError(
            f"{bucket.url}: give a retention of 1 to {MAX_RETENTION_DAYS} days (--retention-days N)"
        )
    bucket.require_object_lock()
    if next(bucket.keys(), None) is not None:
        raise DocketError(
            f"{bucket.url}: already holds objects; give a prefix of its own to each locker"
        )
    return {"url": bucket.url, "retention_days": retention_days}


def create(root: Path, config: Mapping[str, Any], vault_key: VaultKey | None = None) -> BlobStore:
    """Make a new locker's store in `root` as its configuration says (a vault's with
    `vault_key`)."""
    found = _s3_settings(root, config)
    key = _vault_key(root, config, vault_key)
    if found is None:
        return FilesystemStore.create(root) if key is None else VaultStore.create(root, key)
    bucket = S3Bucket.open(found[0])
    if key is not None:
        return VaultS3Store.create(root, bucket, found[1], key)
    return S3Store.create(root, bucket, found[1])


def open_store(
    root: Path, config: Mapping[str, Any], vault_key: VaultKey | None = None
) -> BlobStore:
    """A locker's store as its configuration says (a vault's needs `vault_key`)."""
    found = _s3_settings(root, config)
    key = _vault_key(root, config, vault_key)
    if found is None:
        return FilesystemStore(root) if key is None else VaultStore(root, key)
    bucket, limit = S3Bucket.open(found[0]), _cache_limit(root, config)
    if key is not None:
        return VaultS3Store(root, bucket, found[1], key, limit)
    return S3Store(root, bucket, found[1], limit)


def sealed_without_key(root: Path, config: Mapping[str, Any]) -> Iterator[tuple[str, str | None]]:
    """A locked vault's blobs, checked without its key: each sealed file (or object, for a
    bucket) and why it is not a protected sealed blob (None: it may be one)."""
    found = _s3_settings(root, config)
    if found is None:
        return sealed_files(root)
    return sealed_objects(root, S3Bucket.open(found[0]))


def _vault_key(root: Path, config: Mapping[str, Any], key: VaultKey | None) -> VaultKey | None:
    """The key of a vault locker's store (None: not a vault); a vault without it is locked."""
    entry = config.get("vault")
    if entry is None:
        return None
    version = entry.get("format") if isinstance(entry, dict) else None
    if version != 1:
        raise DocketError(f"{root / 'docket.json'}: vault format {version!r} is not known")
    if key is None:
        raise VaultLockedError(
            f"{root}: the vault is locked; run `docket unlock` or set DOCKET_PASSPHRASE_FILE"
        )
    return key


def _s3_settings(root: Path, config: Mapping[str, Any]) -> tuple[str, int] | None:
    entry = config.get("store")
    if entry is None:
        return None
    url = entry.get("url") if isinstance(entry, dict) else None
    days = entry.get("retention_days") if isinstance(entry, dict) else None
    if not isinstance(url, str) or not isinstance(days, int) or isinstance(days, bool):
        raise DocketError(
            f"{root / 'docket.json'}: its store entry needs a url and a whole number of "
            "retention_days"
        )
    return url, days


def _cache_limit(root: Path, config: Mapping[str, Any]) -> int:
    """The S3 store's cap on cache/: `cache_limit_mib` in the store entry, else CACHE_LIMIT."""
    mib = config["store"].get("cache_limit_mib")
    if mib is None:
        return CACHE_LIMIT
    if not isinstance(mib, int) or isinstance(mib, bool) or mib < 1:
        raise DocketError(
            f"{root / 'docket.json'}: the store's cache_limit_mib must be a whole number of MiB"
        )
    return mib << 20


__all__ = [
    "BlobDigest",
    "BlobStore",
    "FilesystemStore",
    "S3Store",
    "StoredBlob",
    "VaultS3Store",
    "VaultStore",
    "create",
    "open_store",
    "sealed_without_key",
    "settings",
]
