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
any point leaves the newest complete set as it was. A vault is not copied to a bucket yet
(refused in one line): its sealed files could go as they are, but its key slots and sealed
signing key, which change in place, and the reading of its catalogue with the key are not
done here.

`download` lays the newest objects out as a folder copy (each blob re-hashed on the way), which
is how `restore` brings a locker back from a bucket and `audit-copies` compares one;
`download_files` lays out all but the blobs, which `repair` then reads from the bucket one by
one, only those it needs (through store/s3.py, which reads each blob's original version).
"""

from __future__ import annotations

import datetime
import json
import uuid
from contextlib import AbstractContextManager, closing
from pathlib import Path

from docket.copies import snapshot, transfer
from docket.copies.destination import Folder
from docket.custody import witness
from docket.errors import CopyError
from docket.locker import CONFIG_NAME, PRIVATE_KEY, PUBLIC_KEY
from docket.store import scratch
from docket.store.s3 import S3Bucket
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

    def describe(self) -> str:
        return self.bucket.url

    def _until(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + self.retention

    def prepare(self, locker_id: str, key: VaultKey | None = None) -> None:
        if key is not None:
            raise CopyError(
                f"{self.describe()}: copies of a vault in a bucket are not supported yet; "
                "replicate the vault to a folder"
            )
        self.bucket.require_object_lock()
        held = self.read(CONFIG_NAME)
        if held is None:
            return
        try:
            found = json.loads(held).get("locker_id")
        except (ValueError, AttributeError):
            found = None
        if found != locker_id:
            raise CopyError(
                f"{self.describe()}: a copy of another locker ({found}); not written to"
            )

    def blob_names(self) -> set[str]:
        return {
            key[len("objects/") :].replace("/", "")
            for key, _size in self.bucket.keys("objects/")
            if key.count("/") == 2
        }

    def put_blobs(
        self, names: list[str], opener: transfer.Opener, check: transfer.Check | None = None
    ) -> tuple[int, int]:
        """Each blob is sent with its SHA-256 (its name), so `check` is for folders only."""
        if check is not None:
            raise CopyError(f"{self.describe()}: holds plain blobs only")
        count = total = 0
        for sha256 in names:
            part = self.scratch_file("copy")
            try:
                with opener(sha256) as stream:
                    size = transfer.write_proven(stream, sha256, part, fsync=False)
                self.bucket.put_if_absent(_blob_key(sha256), part, self._until(), sha256=sha256)
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
            with snapshot.opened(local) as conn:
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

    def download(self, folder: Folder) -> None:
        """Make `folder` a copy of what the bucket holds, as `replicate` would (blobs, then
        catalogue, then checkpoints.log, keys and docket.json), reading every key's original:
        its oldest version, the one locked when it was written, so versions someone with the
        keys put over it later are ignored. It is checked as any copy is when it is used
        (`restore` re-checks the catalogue against checkpoints.log and the key)."""
        originals = self._originals()
        self._prepare_folder(folder, originals)
        held = {
            key[len("objects/") :].replace("/", "")
            for key in originals
            if key.startswith("objects/") and key.count("/") == 2
        }
        wanted = sorted(held - folder.blob_names())
        folder.put_blobs(wanted, lambda name: self._fetch(originals, _blob_key(name)))
        self._download_files(folder, originals)

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

    def _prepare_folder(self, folder: Folder, originals: dict[str, str]) -> None:
        config = self._read_original(originals, CONFIG_NAME)
        if config is None:
            raise CopyError(f"{self.describe()}: holds no copy of a locker (no docket.json)")
        try:
            locker_id = str(json.loads(config)["locker_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CopyError(f"{self.bucket.location.name(CONFIG_NAME)}: not readable") from exc
        folder.prepare(locker_id)

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
        for name, mode in ((witness.FILE_NAME, 0o644), (str(PRIVATE_KEY), 0o600)):
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
