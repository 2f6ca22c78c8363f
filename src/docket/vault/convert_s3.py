"""The blob step of `docket vault convert` for a locker whose blobs are in an S3 bucket.

Each plain object objects/ab/cdef... (named by the blob's SHA-256) is read from its original
(oldest, locked) version straight into the vault's bucket store, which seals it as it hashes
it (nothing decrypted is written to disk) and uploads it put-if-absent under its keyed name,
locked; the seal must hold the SHA-256 the plain object is named by, else the conversion
stops and the object is kept. Only once the sealed object is held are the plain object's
versions removed. Object Lock refuses to remove a version before its retain-until date: such
versions are left where they are and returned (version id -> retain-until), for the caller
to record in vault-plain-left.json (store/vault_s3.py) and to say so in one line.

A killed run is carried on by the next from what the bucket holds: a plain object whose
keyed name is held was sealed already (only its removal is tried again), an object whose
header authenticates under its own name is a sealed blob, anything else is still to seal.
Before anything, cache/ is emptied: the plain store kept plaintext copies of blobs there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import IO, Any

from docket.errors import DocketError
from docket.progress import Progress
from docket.store.bucket import S3Bucket, Version
from docket.store.filesystem import fsync_dir
from docket.store.s3 import S3Store, object_blob, object_key
from docket.store.sealed_stream import plain_size
from docket.store.vault_s3 import VaultS3Store, remove_version
from docket.vault.keys import VaultKey


def seal_objects(
    path: Path, store: dict[str, Any], key: VaultKey, progress: Progress
) -> tuple[int, dict[str, str]]:
    """Seal every plain blob of the bucket named by `store` (docket.json's entry) under the
    vault's `key`; the number sealed by this run, and the plain versions left under lock."""
    bucket = S3Bucket.open(str(store["url"]))
    days = int(store["retention_days"])
    plain = S3Store(path, bucket, days)
    vault = VaultS3Store(path, bucket, days, key)
    _empty(plain.cache)
    versions: dict[str, list[Version]] = {}
    for version in bucket.versions("objects/"):
        name = object_blob(version.key)
        if name is not None:
            versions.setdefault(name, []).append(version)
    originals = {
        name: held[-1]
        for name, found in versions.items()
        if (held := [v for v in found if not v.deleted])
    }
    pending = sorted(name for name in originals if not _is_sealed(vault, name, originals))
    progress.start(len(pending), len(pending))
    sealed = 0
    left: dict[str, str] = {}
    for done, name in enumerate(pending, 1):
        if vault.keyed_name(name) not in originals:
            _seal(plain, vault, name)
            sealed += 1
        for version in versions[name]:
            until = remove_version(bucket, object_key(name), version)
            if until is not None:
                left[version.version_id] = until.isoformat()
        progress.advance(done, done)
    progress.finish()
    return sealed, left


def _is_sealed(vault: VaultS3Store, name: str, originals: dict[str, Version]) -> bool:
    """Whether the object `name` is a sealed blob of this vault: its header authenticates
    under its own name (only an object of a size a sealed blob can have is read)."""
    if vault.keyed_name(name) in originals:
        return False  # a plain object whose sealed blob is held: only to be removed
    size = originals[name].size
    if size is None or plain_size(size) is None:
        return False
    return vault.header_of(name, originals[name]) is not None


def _seal(plain: S3Store, vault: VaultS3Store, name: str) -> None:
    label = plain.object_name(name)

    def put(body: IO[bytes]) -> str:
        return vault.put(body, label=label).digest.sha256

    found = plain.reading(name, put)
    if found != name:
        raise DocketError(
            f"{label}: its content is not the blob its name says (SHA-256 {found}); it was "
            "kept; run `docket verify`"
        )


def _empty(cache: Path) -> None:
    """Remove cache/'s files (plaintext copies of blobs) and make the removal durable."""
    if cache.is_dir():
        shutil.rmtree(cache)
    os.makedirs(cache, exist_ok=True)
    fsync_dir(cache.parent)
