"""`docket repair --from COPY`: missing or damaged blobs and a lost catalogue tail, restored.

Nothing comes from a copy that does not fit what this locker has signed: the copy must be of
this locker (id and public key), its checkpoints signed by this locker's key, its log hold, at
the size and root of every checkpoint in this locker's checkpoints.log that it reaches, the
tree that checkpoint signed, and its checkpoints.log and this one's must be one the beginning of
the other. Else nothing is written and the reason is named.

The catalogue is replaced by (a consistent snapshot of) the copy's only when this locker's is
missing, unreadable, damaged or lost its tail, or is the beginning of the copy's log: never
when it holds an event the copy lacks. The blobs the resulting catalogue references are
re-hashed; each missing or damaged one is copied from the copy, proven by its hash, and put in
place atomically. Order: blobs, catalogue, checkpoints.log, then the custody event
`locker.repaired` (what came from where), so a repair stopped at any point is never worse
than before and can simply be run again. A replica (replica.json) logs no event of its own:
its log must stay the beginning of its locker's, whose next replication it then receives.

A vault is repaired with its key (obtained as Locker.open does) from a copy of the same vault
only (never a plain copy, nor a vault's copy into a plain locker): a damaged blob is one whose
file does not authenticate or whose plaintext does not hash to its name, and it is replaced
by the copy's sealed file as it is, proven with the key first (sealed.py); the catalogue
comes through SQLCipher, encrypted under the same key (snapshot.py).

A copy in a bucket (s3://...) is checked the same way: its newest catalogue, checkpoints.log,
keys and docket.json (each key's original, locked version) are downloaded into a scratch
folder in this locker's tmp/, removed after (or, after a kill, when the locker next opens),
and only the blobs to be repaired are read from the bucket, each its original version and
checked against its name before it is used (store/s3.py; a vault's sealed object fetched and
authenticated whole with the key, store/vault_s3.py, then proven again as it is filed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from docket.catalogue.database import reading
from docket.copies import holdings, snapshot, transfer
from docket.copies.bucket import Bucket
from docket.copies.destination import REPLICA_NAME, Folder, mixed
from docket.copies.holdings import Holding
from docket.copies.replicate import whole_lines
from docket.copies.sealed import SealedBlobs
from docket.custody import log, merkle, witness
from docket.errors import BlobMismatchError, CopyError, VaultDamagedError
from docket.locker import Locker, is_vault, read_config
from docket.regular_files import open_regular
from docket.store import BlobStore, FilesystemStore, scratch
from docket.store.s3 import S3Bucket
from docket.store.vault import VaultStore
from docket.vault import unlocking
from docket.vault.keys import VaultKey
from docket.verify_locker import catalogue_integrity


@dataclass
class Repaired:
    source: str
    restored: list[str] = field(default_factory=list)  # blobs that were missing
    replaced: list[str] = field(default_factory=list)  # blobs that were damaged
    unrepaired: list[tuple[str, str]] = field(default_factory=list)
    catalogue: tuple[int, int] | None = None  # events before and after, when replaced
    checkpoints_log: bool = False
    event: int | None = None

    @property
    def changed(self) -> bool:
        return bool(self.restored or self.replaced or self.catalogue or self.checkpoints_log)


@dataclass
class _Target:
    leaves: list[bytes] | None  # None: missing, unreadable or damaged
    referenced: dict[str, int]
    witnessed: witness.WitnessFile
    witness_bytes: bytes


def _read_target(locker: Locker) -> _Target:
    file = locker.path / witness.FILE_NAME
    data = whole_lines(file.read_bytes()) if file.is_file() else b""
    found = (
        witness.read(file, locker.origin, locker.public_key)
        if file.is_file()
        else witness.WitnessFile([], [])
    )
    try:
        with reading(locker.engine) as conn:
            if catalogue_integrity(conn).passed is False:
                return _Target(None, {}, found, data)
            return _Target(log.leaf_hashes(conn), snapshot.referenced_blobs(conn), found, data)
    except SQLAlchemyError:
        return _Target(None, {}, found, data)


def _check_copy(copy: Holding, locker: Locker, target: _Target) -> None:
    """Refuse a copy that does not fit what this locker signed, naming why."""
    name = copy.label
    if copy.locker_id != locker.locker_id:
        raise CopyError(f"{name}: a copy of another locker ({copy.locker_id}); nothing repaired")
    if (copy.vault_key is None) != (locker.vault_key is None):
        raise CopyError(f"{name}: {mixed(copy.vault_key is not None)}; nothing repaired")
    if copy.public_key != locker.public_key:
        raise CopyError(f"{name}: keys/signing.pub is not this locker's key; nothing repaired")
    latest = copy.latest
    if latest is not None and (
        latest.checkpoint.origin != locker.origin
        or not latest.checkpoint.verify(locker.public_key)
        or latest.checkpoint.tree_size > len(copy.leaves)
        or merkle.root(copy.leaves[: latest.checkpoint.tree_size]) != latest.checkpoint.root
    ):
        raise CopyError(
            f"{name}: its checkpoint {latest.id} is not signed by this locker's key or does "
            "not match its log (forged or altered); nothing repaired"
        )
    theirs = holdings.witnessed(copy, locker.origin, locker.public_key)
    if theirs.problems:
        where, message = theirs.problems[0]
        raise CopyError(f"{name}/{where}: {message}; nothing repaired")
    for entry in target.witnessed.entries:
        size = entry.checkpoint.tree_size
        if size <= len(copy.leaves) and merkle.root(copy.leaves[:size]) != entry.checkpoint.root:
            raise CopyError(
                f"{name}: its log is not the one this locker signed at checkpoint {entry.id} "
                f"({witness.FILE_NAME} line {entry.line}): an inconsistent copy; nothing repaired"
            )
    mine, held = target.witness_bytes, copy.witness_bytes
    if not (held.startswith(mine) or mine.startswith(held)):
        raise CopyError(
            f"{name}/{witness.FILE_NAME}: neither it nor this locker's is the beginning of the "
            "other (the copy saw other checkpoints); nothing repaired"
        )


def _needs_catalogue(copy: Holding, target: _Target, path: Path) -> bool:
    """Whether the catalogue must come from the copy; refuses when that would lose events or
    when the copy cannot give what was lost."""
    newest = target.witnessed.latest
    signed = newest.checkpoint.tree_size if newest is not None else 0
    leaves = target.leaves
    tail_lost = leaves is None or (
        newest is not None
        and (signed > len(leaves) or merkle.root(leaves[:signed]) != newest.checkpoint.root)
    )
    if leaves is not None:
        common = min(len(leaves), len(copy.leaves))
        if leaves[:common] != copy.leaves[:common]:
            first = next(i for i in range(common) if leaves[i] != copy.leaves[i])
            raise CopyError(
                f"{path}: its catalogue and the copy {copy.label} differ from event {first} "
                "(the logs diverged); nothing repaired; run `docket audit-copies`"
            )
    needed = tail_lost or (leaves is not None and len(copy.leaves) > len(leaves))
    if needed and len(copy.leaves) < max(signed, len(leaves or [])):
        raise CopyError(
            f"{copy.label}: holds {len(copy.leaves)} events but this locker signed {signed}: "
            "the copy is behind and cannot restore the catalogue's tail; try a newer copy"
        )
    return needed


def _key(path: Path) -> VaultKey | None:
    """The vault's key when the locker at `path` is a vault, obtained as Locker.open does."""
    config = read_config(path)
    return unlocking.obtain_key(path, str(config["locker_id"])) if is_vault(config) else None


def repair(path: Path, copy_path: Path, actor: str) -> Repaired:
    """Repair the locker at `path` from the copy at `copy_path`; see the module docstring."""
    key = _key(path)
    return _repair(path, holdings.read(copy_path, str(copy_path), copy=True, key=key), actor, key)


def repair_from_bucket(path: Path, bucket: S3Bucket, actor: str) -> Repaired:
    """Repair the locker at `path` from the copy in `bucket`; see the module docstring."""
    key = _key(path)
    tmp = path / "tmp"
    if not tmp.is_dir():
        raise CopyError(f"{path}: not a locker (no tmp/ folder); nothing repaired")
    with scratch.folder(tmp, "repair") as work:
        folder = Folder(work / "copy")
        copies = Bucket(bucket, 1)
        copies.download_files(folder)
        blobs = copies.blob_store(folder, key if is_vault(read_config(folder.root)) else None)
        copy = holdings.read(folder.root, bucket.url, copy=True, key=key)
        copy = dataclasses.replace(copy, blobs=set(blobs.digests()), store=blobs)
        return _repair(path, copy, actor, key)


def _repair(path: Path, copy: Holding, actor: str, key: VaultKey | None) -> Repaired:
    result = Repaired(copy.label)
    with Locker(path, read_config(path), writable=False, vault_key=key) as locker:
        target = _read_target(locker)
        _check_copy(copy, locker, target)
        database, store = locker.engine.url, locker.store
        replace = _needs_catalogue(copy, target, path)
    if replace and database.get_backend_name() != "sqlite":
        raise CopyError(
            f"{path}: the catalogue is a {database.get_backend_name()} database; bring the "
            "locker back with `docket restore COPY DIR` and load it from there"
        )
    catalogue = path / Path(str(database.database).removeprefix("file:")).name
    tmp = path / "tmp"
    tmp.mkdir(exist_ok=True)
    prepared = tmp / f"{scratch.name('catalogue')}.part"
    try:
        referenced = target.referenced
        if replace:
            with holdings.open_copy(copy.path, key) as source:
                snapshot.take(source.engine, prepared, key)
            with snapshot.opened(prepared, key) as conn:
                if snapshot.leaves(conn)[: len(copy.leaves)] != copy.leaves:
                    raise CopyError(f"{copy.label}: changed while it was read; run repair again")
                referenced = snapshot.referenced_blobs(conn)
        _repair_blobs(store, copy, referenced, result, key)
        if replace:
            snapshot.install(prepared, catalogue, key)
            result.catalogue = (len(target.leaves or []), len(copy.leaves))
    finally:
        snapshot.discard(prepared)
    if len(copy.witness_bytes) > len(target.witness_bytes):
        transfer.write_file(path / witness.FILE_NAME, copy.witness_bytes, tmp)
        result.checkpoints_log = True
    if result.changed and not (path / REPLICA_NAME).exists():
        with Locker.open(path, vault_key=key) as locker, locker.engine.begin() as conn:
            result.event = log.append(
                conn,
                actor,
                "locker.repaired",
                details={
                    "from": copy.label,
                    "blobs_restored": result.restored,
                    "blobs_replaced": result.replaced,
                    "catalogue_events": list(result.catalogue) if result.catalogue else None,
                    "checkpoints_log": result.checkpoints_log,
                    "unrepaired": [name for name, _ in result.unrepaired],
                },
            ).seq
    return result


def _repair_blobs(
    store: BlobStore,
    copy: Holding,
    referenced: dict[str, int],
    result: Repaired,
    key: VaultKey | None,
) -> None:
    """Copy in each referenced blob that is missing or whose bytes no longer hash to its
    name. A folder store has the damaged file replaced atomically (a vault's by the copy's
    sealed file, proven with the key); a bucket's objects are under retention, so a damaged
    one there is reported, not replaced."""
    for name in sorted(referenced):
        damaged = store.has(name) and _damaged(store, name)
        if store.has(name) and not damaged:
            continue
        if name not in copy.blobs:
            result.unrepaired.append((name, f"not held by {copy.label}"))
            continue
        if damaged and not isinstance(store, FilesystemStore | VaultStore):
            result.unrepaired.append((name, "damaged, and kept under retention in the bucket"))
            continue
        try:
            if isinstance(store, VaultStore) and key is not None:
                _put_sealed(store, copy.store, name, damaged, SealedBlobs(key))
                (result.replaced if damaged else result.restored).append(name)
                continue
            with copy.store.open(name) as stream:
                if isinstance(store, FilesystemStore):
                    transfer.put_blob(stream, name, store.objects, store.tmp, replace=damaged)
                elif store.put(stream, label=f"blob {name}").digest.sha256 != name:
                    raise CopyError(f"blob {name}: its bytes in {copy.label} do not match")
        except transfer.NotABlobError as exc:
            result.unrepaired.append((name, str(exc).removeprefix(f"blob {name}: ")))
            continue
        except (CopyError, BlobMismatchError, VaultDamagedError):
            result.unrepaired.append((name, f"damaged in {copy.label} too"))
            continue
        (result.replaced if damaged else result.restored).append(name)


def _damaged(store: BlobStore, name: str) -> bool:
    try:
        return store.hash_blob(name).sha256 != name
    except VaultDamagedError:
        return True


def _put_sealed(
    store: VaultStore, copy: BlobStore, name: str, damaged: bool, sealed: SealedBlobs
) -> None:
    """The copy's sealed file of blob `name`, as it is, into the vault `store`."""
    with open_regular(copy.path(name)) as stream:
        transfer.put_blob(
            stream,
            sealed.keyed(name),
            store.objects,
            store.tmp,
            replace=damaged,
            check=sealed.prove,
        )
