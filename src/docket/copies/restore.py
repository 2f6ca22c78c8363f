"""`docket restore COPY DIR`: a whole locker brought back from a copy into a new folder.

The locker is built in a hidden folder beside DIR (`.DIR.restoring`), with everything a
replica holds and the private key when the copy has it, checked as `replicate` checks (every
blob re-hashed on the way in, the catalogue holding the copy's newest signed checkpoint),
then renamed to DIR in one step: DIR is either absent (or empty) or a whole locker. A
restore that was stopped leaves the hidden folder, which the next restore starts afresh.
The restored locker logs `locker.restored` (from where, how many blobs, tree size); its
catalogue is SQLite, whatever the original used. A copy in a bucket is first downloaded into a
second hidden folder (`.DIR.download`) and restored from there. A vault's copy is restored
as the same vault (its sealed files, encrypted catalogue and key slots as they are), with the
key its slots give (a passphrase, the recovery key or shares, as Locker.open obtains it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from docket.copies.bucket import Bucket
from docket.copies.destination import Folder
from docket.copies.holdings import open_copy
from docket.copies.replicate import Copied, copy_locker
from docket.copies.transfer import fsync_dir
from docket.custody import log
from docket.errors import CopyError
from docket.locker import PRIVATE_KEY, Locker, read_config
from docket.vault.keys import VaultKey


def restore_from_bucket(bucket: Bucket, target: Path, actor: str) -> Copied:
    """Make a new locker at `target` from a copy in a bucket: its newest objects are first
    downloaded into a hidden folder beside `target` (`.DIR.download`, removed after), then
    restored from there as from any folder copy."""
    _require_empty(target)
    download = target.parent / f".{target.name}.download"
    if download.exists():
        shutil.rmtree(download)  # a restore that was stopped
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        key = bucket.download(Folder(download))
        return restore(download, target, actor, label=bucket.describe(), key=key)
    finally:
        shutil.rmtree(download, ignore_errors=True)


def restore(
    copy: Path, target: Path, actor: str, label: str | None = None, key: VaultKey | None = None
) -> Copied:
    """Make a new locker at `target` from the copy at `copy`; `copy` is only read. A vault's
    copy is opened with `key` when given (as its download was proven), else as any is."""
    _require_empty(target)
    staging = target.parent / f".{target.name}.restoring"
    if staging.exists():
        shutil.rmtree(staging)  # a restore that was stopped
    target.parent.mkdir(parents=True, exist_ok=True)
    with open_copy(copy, key) as source:
        key = source.vault_key
        copied = copy_locker(
            source,
            Folder(staging),
            private_key=(copy / PRIVATE_KEY).is_file(),
            mark_replica=False,
        )
    if target.exists():
        target.rmdir()
    os.rename(staging, target)
    fsync_dir(target.parent)
    # A restored locker's catalogue is the copy's SQLite file, whatever DOCKET_DATABASE_URL says.
    own = str(read_config(target)["database"])
    restored = Locker.open(target, database_url=own, vault_key=key)
    with restored, restored.engine.begin() as conn:
        event = log.append(
            conn,
            actor,
            "locker.restored",
            details={
                "from": label or str(copy),
                "blobs": copied.blobs_held,
                "tree_size": copied.tree_size,
            },
        )
    return Copied(
        str(target),
        copied.blobs_copied,
        copied.bytes_copied,
        copied.blobs_held,
        copied.tree_size,
        event.seq,
    )


def _require_empty(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CopyError(f"{target}: is not an empty folder; restore into a new one")
