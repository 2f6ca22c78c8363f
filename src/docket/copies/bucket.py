"""A copy in an S3-compatible bucket with Object Lock: the same `Destination` as a folder.

Every object is written once, locked in COMPLIANCE mode for the retention asked for
(store/s3.py's `put_if_absent`), so a thief holding the bucket's keys cannot delete or change
the copy before then. Blobs go to `objects/ab/cdef...`, each read from the locker into a local
scratch file while it is hashed (a mismatch with its name is refused, as for a folder) and
sent with its SHA-256, which the server checks again. Files that change between runs are never
overwritten: each run writes a new object under the file's name (`catalogue.sqlite/<stamp>`,
`checkpoints.log/<stamp>`, `replica.json/<stamp>`, stamps sortable by time) and the newest is
the current one; docket.json and keys/signing.pub are written once. The order of `replicate`
holds: blobs, then the catalogue, then checkpoints.log, then replica.json, so a run stopped at
any point leaves the newest complete set as it was.

A vault's copy in a bucket is the same vault, as in a folder: its sealed blob files go byte
for byte under their keyed names, each proven with the key in a local scratch file first
(sealed.py) and sent with the checksum the server checks; its catalogue is the encrypted
snapshot; keys/vault.json (the key slots) and the sealed signing key, which change in place,
are stamped objects like the catalogue. A vault's copy and a plain one are never mixed.

`download` lays the newest objects out as a folder copy (each blob re-hashed on the way, a
vault's sealed file proven with the key its slots give), which is how `restore` brings a
locker back from a bucket and `audit-copies` compares a plain one; `download_files` lays out
all but the blobs, which `repair` (and `audit-copies`, for a vault's copy) then read from the
bucket one by one, only those they need (`blob_store`: store/s3.py or store/vault_s3.py,
which read each blob's original version and check it before it is used).
"""

from __future__ import annotations

import datetime
import json
import uuid
from contextlib import AbstractContextManager, closing
from pathlib import Path

from docket.capture import wacz_signing
from docket.copies import snapshot, transfer
from docket.copies.destination import Folder, mixed
from docket.copies.sealed import SealedBlobs
from docket.custody import witness
from docket.errors import CopyError
from docket.locker import CONFIG_NAME, PRIVATE_KEY, PUBLIC_KEY
from docket.store import BlobStore, scratch
from docket.store.s3 import S3Bucket, S3Store
from docket.store.vault_s3 import VaultS3Store
from docket.vault import slot_file, slots, unlocking
from docket.vault.keys import VaultKey

_ONCE = {CONFIG_NAME, str(PUBLIC_KEY)}
_CATALOGUE = "catalogue.sqlite"


def _blob_key(sha256: str) -> str:
    return f"objects/{sha256[:2]}/{sha256[2:]}"


class Bucket:
    def __init__(self, bucket: S3Bucket, retention_days: int, work: Path | None = None) -> None:
        """`work`: a local scratch folder (the locker's tmp/) for files on their way; none
        when the bucket is only read (`download`)."""
        if retention_days < 1:
            raise CopyError(f"{bucket.url}: give a retention of at least one day")
        self.bucket = bucket
        self.retention = datetime.timedelta(days=retention_days)
        self.work = work
        self.key: VaultKey | None = None  # a vault's copy: its catalogue's key

    def describe(self) -> str:
        return self.bucket.url

    def _until(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + self.retention

    def prepare(self, locker_id: str, key: VaultKey | None = None) -> None:
        self.bucket.require_object_lock()
        self.key = key
        held = self.read(CONFIG_NAME)
        if held is None:
            return
        try:
            config = json.loads(held)
            found, vault = config.get("locker_id"), "vault" in config
        except (ValueError, AttributeError):
            found, vault = None, False
        if found != locker_id:
            raise CopyError(
                f"{self.describe()}: a copy of another locker ({found}); not written to"
            )
        if vault != (key is not None):
            raise CopyError(f"{self.describe()}: {mixed(vault)}; not written to")

    def blob_names(self) -> set[str]:
        return {
            key[len("objects/") :].replace("/", "")
            for key, _size in self.bucket.keys("objects/")
            if key.count("/") == 2
        }

    def put_blobs(
        self, names: list[str], opener: transfer.Opener, check: transfer.Check | None = None
    ) -> tuple[int, int]:
        """Each blob is proven in a local scratch file (against its name, or by `check`: a
        vault's sealed file under its keyed name) and sent with a checksum the server checks
        (its SHA-256, which is its name; a sealed file's, computed as it is sent)."""
        count = total = 0
        for name in names:
            part = self.scratch_file("copy")
            try:
                with opener(name) as stream:
                    size = transfer.write_proven(stream, name, part, fsync=False, check=check)
                sha256 = name if check is None else None
                self.bucket.put_if_absent(_blob_key(name), part, self._until(), sha256=sha256)
            finally:
                part.unlink(missing_ok=True)
            count, total = count + 1, total + size
        return count, total

    def scratch_file(self, purpose: str) -> Path:
        if self.work is None:
            raise CopyError(f"{self.describe()}: opened for reading only")
        return self.work / f"{scratch.name(purpose)}.part"

    def _newest(self, name: str) -> str | None:
        return max((key for key, _size in self.bucket.keys(f"{name}/")), default=None)

    def held_log(self) -> list[bytes] | None:
        key = self._newest(_CATALOGUE)
        if key is None:
            return None
        local = self.scratch_file("held-catalogue")
        stream = self.bucket.get(key)
        try:
            with local.open("wb") as out:
                while chunk := stream.read(transfer.CHUNK):
                    out.write(chunk)
            with snapshot.opened(local, self.key) as conn:
                return snapshot.leaves(conn)
        finally:
            stream.close()
            snapshot.discard(local)

    def put_catalogue(self, prepared: Path) -> None:
        self._put_new(_CATALOGUE, prepared)

    def _put_new(self, name: str, file: Path) -> None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        self.bucket.put_if_absent(f"{name}/{stamp}-{uuid.uuid4().hex[:8]}", file, self._until())

    def read(self, name: str) -> bytes | None:
        key = name if name in _ONCE else self._newest(name)
        if key is None or (name in _ONCE and not self.bucket.exists(key)):
            return None
        stream = self.bucket.get(key)
        try:
            return stream.read()
        finally:
            stream.close()

    def download(self, folder: Folder, key: VaultKey | None = None) -> VaultKey | None:
        """Make `folder` a copy of what the bucket holds, as `replicate` would (blobs, then
        catalogue, then checkpoints.log, keys and docket.json), reading every key's original:
        its oldest version, the one locked when it was written, so versions someone with the
        keys put over it later are ignored. It is checked as any copy is when it is used
        (`restore` re-checks the catalogue against checkpoints.log and the key). A vault's
        copy has its files laid out first, then its sealed files proven with `key`, else with
        the key its slots give (unlocking.py); returns the vault's key (None: a plain copy)."""
        originals = self._originals()
        locker_id, vault = self._prepare_folder(folder, originals)
        check = None
        if vault:
            self._download_files(folder, originals)
            if key is None:
                key = unlocking.obtain_key(folder.root, locker_id)
            elif not slots.fits(folder.root, locker_id, key):
                raise CopyError(
                    f"{self.describe()}: a copy of another vault (its key slots do not hold "
                    "this key)"
                )
            check = SealedBlobs(key).prove
        held = {
            key[len("objects/") :].replace("/", "")
            for key in originals
            if key.startswith("objects/") and key.count("/") == 2
        }
        wanted = sorted(held - folder.blob_names())
        folder.put_blobs(wanted, lambda name: self._fetch(originals, _blob_key(name)), check)
        if not vault:
            self._download_files(folder, originals)
        return key if vault else None

    def blob_store(self, folder: Folder, key: VaultKey | None) -> BlobStore:
        """The copy's blobs as a store that reads each from the bucket when asked (its
        original version, checked), for a folder `download_files` laid out."""
        (folder.root / "cache").mkdir(exist_ok=True)
        if key is None:
            return S3Store(folder.root, self.bucket, 1)  # read only: the retention is never used
        return VaultS3Store(folder.root, self.bucket, 1, key)

    def download_files(self, folder: Folder) -> None:
        """Like `download`, but for the blobs: the catalogue, checkpoints.log, keys and
        docket.json, for `repair`, which reads blobs from the bucket only as it needs them."""
        originals = self._originals()
        self._prepare_folder(folder, originals)
        self._download_files(folder, originals)

    def _originals(self) -> dict[str, str]:
        """Each key's original: the version id of its oldest version that is not a delete."""
        originals: dict[str, str] = {}
        for version in self.bucket.versions():  # each key's versions newest first
            if not version.deleted:
                originals[version.key] = version.version_id
        return originals

    def _fetch(
        self, originals: dict[str, str], key: str
    ) -> AbstractContextManager[transfer.Readable]:
        return closing(self.bucket.get(key, originals[key]))

    def _read_original(self, originals: dict[str, str], name: str) -> bytes | None:
        if name in _ONCE:
            key: str | None = name if name in originals else None
        else:
            key = max((k for k in originals if k.startswith(f"{name}/")), default=None)
        if key is None:
            return None
        with self._fetch(originals, key) as stream:
            return stream.read()

    def _prepare_folder(self, folder: Folder, originals: dict[str, str]) -> tuple[str, bool]:
        """The copy's locker id, and whether it is a vault's."""
        config = self._read_original(originals, CONFIG_NAME)
        if config is None:
            raise CopyError(f"{self.describe()}: holds no copy of a locker (no docket.json)")
        try:
            found = json.loads(config)
            locker_id, vault = str(found["locker_id"]), "vault" in found
        except (ValueError, KeyError, TypeError) as exc:
            raise CopyError(f"{self.bucket.location.name(CONFIG_NAME)}: not readable") from exc
        folder.prepare(locker_id)
        return locker_id, vault

    def _download_files(self, folder: Folder, originals: dict[str, str]) -> None:
        key = max((k for k in originals if k.startswith(f"{_CATALOGUE}/")), default=None)
        if key is None:
            raise CopyError(f"{self.describe()}: holds no catalogue")
        prepared = folder.scratch_file("catalogue")
        try:
            with self._fetch(originals, key) as stream, prepared.open("wb") as out:
                while chunk := stream.read(transfer.CHUNK):
                    out.write(chunk)
            transfer.fsync_file(prepared)
            folder.put_catalogue(prepared)
        finally:
            snapshot.discard(prepared)
        for name, mode in (
            (witness.FILE_NAME, 0o644),
            (str(PRIVATE_KEY), 0o600),
            (str(slot_file.NAME), 0o600),
            (str(wacz_signing.PUBLIC_FILE), 0o644),
            (str(wacz_signing.PRIVATE_FILE), 0o600),
        ):
            data = self._read_original(originals, name)
            if data is not None:
                folder.write(name, data, mode)
        for name in (str(PUBLIC_KEY), CONFIG_NAME):
            data = self._read_original(originals, name)
            if data is None:
                raise CopyError(f"{self.bucket.location.name(name)}: missing")
            folder.write(name, data)

    def write(self, name: str, data: bytes, mode: int = 0o644) -> None:
        if name in _ONCE and self.read(name) is not None:
            raise CopyError(f"{self.bucket.location.name(name)}: held already, and never replaced")
        local = self.scratch_file("write")
        try:
            local.write_bytes(data)
            if name in _ONCE:
                self.bucket.put_if_absent(name, local, self._until())
            else:
                self._put_new(name, local)
        finally:
            local.unlink(missing_ok=True)
