"""What one locker or copy holds, read without writing to it: for audits and repairs.

Its identity (locker id, public key), its custody log's leaf hashes and newest catalogue
checkpoint, its checkpoints.log (whole lines, and those lines checked against the key of the
locker being audited, never the key the copy brings), and the names of its blobs (a listing).
A vault's copy is read with the vault's key (the locker's, handed in, else obtained from the
copy's own key slots as Locker.open does); its store then names blobs by SHA-256 as any does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from docket.catalogue.database import reading
from docket.copies import snapshot
from docket.copies.replicate import whole_lines
from docket.custody import ledger, log, witness
from docket.custody.ledger import StoredCheckpoint
from docket.errors import CopyError, DocketError
from docket.locker import Locker, is_vault, read_config
from docket.store import BlobStore
from docket.vault import slots, unlocking
from docket.vault.keys import VaultKey


@dataclass
class Holding:
    label: str
    path: Path
    locker_id: str
    origin: str
    public_key: bytes
    leaves: list[bytes]
    latest: StoredCheckpoint | None
    referenced: dict[str, int]
    blobs: set[str]
    witness_bytes: bytes
    store: BlobStore
    vault_key: VaultKey | None  # a vault's (a locker or a copy of one)


def open_copy(path: Path, key: VaultKey | None = None) -> Locker:
    """A copy opened read-only. A copy made by `replicate` holds an SQLite catalogue
    (snapshot.py), so DOCKET_DATABASE_URL, which names the live locker's server catalogue,
    never applies to it; any other locker taken as a copy opens as it always does. A vault's
    copy opens with `key` (refused unless its slots hold it), else with the key its own slots
    give (docket.vault.unlocking); `key` is not used on a plain copy."""
    config = read_config(path)
    database = str(config.get("database", ""))
    own = database if database.startswith("sqlite:///") else None
    if not is_vault(config):
        key = None
    elif key is None:
        key = unlocking.obtain_key(path, str(config["locker_id"]))
    elif not slots.fits(path, str(config["locker_id"]), key):
        raise CopyError(f"{path}: a copy of another vault (its key slots do not hold this key)")
    return Locker(path, config, writable=False, database_url=own, vault_key=key)


def read(path: Path, label: str, *, copy: bool, key: VaultKey | None = None) -> Holding:
    """What the locker folder at `path` holds (a DocketError when it cannot be read). A copy's
    catalogue is read as it is, even at an older schema than this docket's (a copy made
    before an upgrade): only the log, checkpoints, items and derivatives are read. A vault's
    copy is read with `key` (see `open_copy`)."""
    if not copy:
        with Locker.open(path, writable=False) as locker:
            return _read(locker, label)
    with open_copy(path, key) as locker:
        try:
            return _read(locker, label)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise DocketError(f"{path}: its catalogue cannot be read ({reason})") from exc


def _read(locker: Locker, label: str) -> Holding:
    path = locker.path
    try:
        data = (path / witness.FILE_NAME).read_bytes()
    except FileNotFoundError:
        data = b""
    with reading(locker.engine) as conn:
        return Holding(
            label=label,
            path=path,
            locker_id=locker.locker_id,
            origin=locker.origin,
            public_key=locker.public_key,
            leaves=log.leaf_hashes(conn),
            latest=ledger.latest_checkpoint(conn, locker.origin),
            referenced=snapshot.referenced_blobs(conn),
            blobs=set(locker.store.digests()),
            witness_bytes=whole_lines(data),
            store=locker.store,
            vault_key=locker.vault_key,
        )


def witnessed(holding: Holding, origin: str, public_key: bytes) -> witness.WitnessFile:
    """The holding's checkpoints.log, each line checked against `public_key` and `origin`."""
    file = holding.path / witness.FILE_NAME
    if not file.is_file():
        return witness.WitnessFile([], [])
    return witness.read(file, origin, public_key)
