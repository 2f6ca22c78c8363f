"""Turning a plain locker into a vault in place: crash-safe and resumable.

`begin` writes the journal (vault-convert.json: a conversion id, nothing secret) and the key
slots; from then on the locker opens only to finish the conversion (locker.py refuses it
otherwise). `finish` then does each step so that a kill at any moment loses nothing and a
second run carries on from the state on disk, which says how far it got:

1. blobs: each plain blob objects/ab/cdef... is sealed under its keyed name by the vault store
   (durable before it is linked), and only then is the plain file removed; a blob sealed by
   a killed run is recognised by its keyed name, and its plain file removed. A locker whose
   blobs are in a bucket takes the same step object by object (convert_s3.py): a plain
   object Object Lock keeps is left, recorded by version id in vault-plain-left.json (the
   record written whole at the end of the step), and named by `verify` until a later
   `docket vault convert` (`remove_plain_left`) removes it once its lock ends.
2. catalogue: SQLCipher's `sqlcipher_export` copies the plain catalogue (its WAL folded in
   first) into a new encrypted file, fsynced, then renamed over catalogue.sqlite; an
   encrypted catalogue.sqlite means the step is done.
3. the signing keys: each sealed into a new file renamed over keys/signing.key and, when web
   captures made one, keys/wacz-signing.key; then each kept browser profile, sealed into
   one archive (vault/profiles.py) and its plain folder removed once the archive is durable
   (an archive found made by a killed run is the profile's: only the folder is removed).
4. a custody event `vault.converted` with the conversion id (logged once: a re-run finds it).
5. docket.json gains its "vault" entry, written last and atomically; the journal goes.

Plaintext files are unlinked, not overwritten: a file system may keep their freed blocks.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlcipher3
from sqlalchemy import select

from docket import clock
from docket.capture import profiles as browser_profiles
from docket.capture import wacz_signing
from docket.catalogue import schema
from docket.catalogue.database import raw_key
from docket.custody import keys, log
from docket.errors import DocketError, VaultDamagedError
from docket.locker import (
    CONFIG_NAME,
    CONVERTING,
    PRIVATE_KEY,
    VAULT_FORMAT,
    Locker,
    is_vault,
    read_config,
)
from docket.progress import Progress
from docket.store import scratch
from docket.store.filesystem import FilesystemStore, fsync_dir
from docket.store.sealed_stream import HEADER_BYTES, read_header
from docket.store.vault import VaultStore
from docket.store.vault_s3 import PLAIN_LEFT, VaultS3Store, plain_left_json, plain_left_record
from docket.vault import convert_s3, envelope, slot_file, slots
from docket.vault import profiles as sealed_profiles
from docket.vault.keys import BLOB, VaultKey

JOURNAL = CONVERTING
CATALOGUE = "catalogue.sqlite"
_NEW = ".vault-new"
_PLAIN_SQLITE = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Begun:
    """The key and recovery key when this run made the key slots; None when an earlier run
    did (the key is then obtained as for any vault, and the recovery key was shown then)."""

    key: VaultKey | None
    recovery_key: str | None


@dataclass(frozen=True)
class Finished:
    """What a run did: blobs it sealed, and the plain objects' versions left in the bucket
    under Object Lock (version id -> retain-until, ISO 8601)."""

    sealed: int
    left: dict[str, str]


def in_progress(path: Path) -> bool:
    return (path / JOURNAL).exists()


def _write_atomically(target: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = target.with_name(target.name + _NEW)
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    fsync_dir(target.parent)


def _refuse_unconvertible(path: Path, config: dict[str, Any]) -> None:
    where = path / CONFIG_NAME
    if is_vault(config):
        raise DocketError(f"{path}: already a vault; nothing to convert")
    if config.get("database") != "sqlite:///catalogue.sqlite":
        raise DocketError(
            f"{where}: only a locker with its own SQLite catalogue can be a vault (a vault "
            "with a server database is not supported)"
        )


def begin(path: Path, new_passphrase: Callable[[], str], actor: str) -> Begun:
    """Start converting the plain locker at `path`, or find the conversion begun: checked
    (it opens, nothing else uses it), the journal written, then the key slots made from
    `new_passphrase()` unless an earlier run made them."""
    config = read_config(path)
    if not in_progress(path):
        _refuse_unconvertible(path, config)
        if (path / slot_file.NAME).exists():
            raise DocketError(f"{path / slot_file.NAME}: key slots in a plain locker; not touched")
        with Locker.open(path) as locker:  # migrated; dead processes' partial writes removed
            if scratch.foreign(locker.store.tmp):
                raise DocketError(
                    f"{locker.store.tmp}: docket processes in another container or on another "
                    "machine are using the locker, or left scratch here when they stopped; stop "
                    "them (or, if none runs, remove their entries) and run the conversion again"
                )
            if any(locker.store.tmp.iterdir()):
                raise DocketError(
                    f"{locker.store.tmp}: another docket process is using the locker; stop "
                    "it (docket serve, an ingest) and run the conversion again"
                )
        journal = {"conversion": str(uuid.uuid4()), "started": clock.now()}
        _write_atomically(path / JOURNAL, json.dumps(journal, indent=2).encode())
    if (path / slot_file.NAME).exists():
        return Begun(None, None)
    made = slots.create(path, str(config["locker_id"]), new_passphrase(), actor)
    return Begun(made.key, made.recovery_key)


def finish(path: Path, key: VaultKey, actor: str, progress: Progress | None = None) -> Finished:
    """Carry the conversion begun at `path` through to the end (see the module docstring)."""
    config = read_config(path)
    journal = json.loads((path / JOURNAL).read_bytes())
    if not slots.fits(path, str(config["locker_id"]), key):
        raise DocketError(f"{path / slot_file.NAME}: this key is not the vault's being made")
    scratch.clean(path / "tmp")  # partial writes of a conversion that was killed
    left: dict[str, str] = {}
    if "store" in config:
        sealed, left = convert_s3.seal_objects(path, config["store"], key, progress or Progress())
        _record_left(path, left)
    else:
        sealed = _seal_blobs(path, key, progress or Progress())
    _encrypt_catalogue(path, key)
    _seal_signing_key(path, key)
    wacz_signing.seal_plain_key(path, key)
    for name in browser_profiles.kept(path):
        sealed_profiles.seal_plain(path, key, name)
    vault_config = {**config, "vault": {"format": VAULT_FORMAT}}
    _log_once(path, vault_config, key, actor, str(journal["conversion"]), len(left))
    _write_atomically(path / CONFIG_NAME, json.dumps(vault_config, indent=2).encode())
    (path / JOURNAL).unlink()
    fsync_dir(path)
    return Finished(sealed, left)


def has_plain_left(path: Path) -> bool:
    """Whether the conversion left plain objects in the bucket (vault-plain-left.json)."""
    return (path / PLAIN_LEFT).is_file()


def remove_plain_left(path: Path, key: VaultKey, actor: str) -> Finished:
    """In a vault converted from a bucket locker: remove the plain objects left under lock
    whose lock has ended (store/vault_s3.py checks each is a plain copy of a held blob),
    record those still left, and log `vault.plain_objects_removed` when any went."""
    with Locker.open(path, vault_key=key) as locker:
        store = locker.store
        if not isinstance(store, VaultS3Store):
            raise DocketError(f"{path / PLAIN_LEFT}: the vault's blobs are not in a bucket")
        before = len(plain_left_record(path))
        still = store.remove_plain_left()
        _record_left(path, still)
        removed = before - len(still)
        if removed:
            with locker.engine.begin() as conn:
                log.append(
                    conn,
                    actor,
                    "vault.plain_objects_removed",
                    details={"versions_removed": removed, "versions_left": len(still)},
                )
    return Finished(0, still)


def _record_left(path: Path, left: dict[str, str]) -> None:
    """vault-plain-left.json written whole, or removed when nothing is left."""
    if left:
        _write_atomically(path / PLAIN_LEFT, plain_left_json(left))
    elif (path / PLAIN_LEFT).exists():
        (path / PLAIN_LEFT).unlink()
        fsync_dir(path)


def _is_sealed(blob_key: bytes, file: Path) -> bool:
    """Whether `file` is a sealed blob under its own (keyed) name: its header authenticates."""
    with file.open("rb") as handle:
        raw = handle.read(HEADER_BYTES)
    try:
        read_header(blob_key, raw, bytes.fromhex(file.parent.name + file.name), str(file))
    except (VaultDamagedError, ValueError):
        return False
    return True


def _seal_blobs(path: Path, key: VaultKey, progress: Progress) -> int:
    plain = FilesystemStore(path)
    vault = VaultStore(path, key)
    blob_key = key.derive(BLOB)
    pending = [name for name in plain.digests() if not _is_sealed(blob_key, plain.path(name))]
    progress.start(len(pending), len(pending))
    sealed = 0
    for done, name in enumerate(pending, 1):
        source = plain.path(name)
        if not vault.has(name):
            with source.open("rb") as stream:
                stored = vault.put(stream, label=str(source))
            if stored.digest.sha256 != name:  # the new blob is named by what it holds
                raise DocketError(
                    f"{source}: its content is not the blob its name says (SHA-256 "
                    f"{stored.digest.sha256}); it was kept; run `docket verify`"
                )
            sealed += 1
        source.unlink()
        fsync_dir(source.parent)
        progress.advance(done, done)
    progress.finish()
    return sealed


def _encrypt_catalogue(path: Path, key: VaultKey) -> None:
    catalogue = path / CATALOGUE
    new = path / (CATALOGUE + _NEW)
    with catalogue.open("rb") as handle:
        if handle.read(len(_PLAIN_SQLITE)) != _PLAIN_SQLITE:
            new.unlink(missing_ok=True)  # its WAL now holds encrypted commits: left alone
            return  # encrypted by an earlier run
    for leftover in (new, new.with_name(new.name + "-wal"), new.with_name(new.name + "-shm")):
        leftover.unlink(missing_ok=True)
    with closing(sqlite3.connect(catalogue, isolation_level=None)) as source:
        busy, _, _ = source.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise DocketError(f"{catalogue}: in use by another process; stop it and run again")
    with closing(sqlcipher3.connect(str(catalogue), isolation_level=None)) as plain:
        plain.execute("ATTACH DATABASE ? AS vault KEY ?", (str(new), raw_key(key)))
        plain.execute("SELECT sqlcipher_export('vault')")
        plain.execute("DETACH DATABASE vault")
    with new.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(new, catalogue)
    fsync_dir(path)
    for suffix in ("-wal", "-shm"):  # the plain catalogue's (its WAL emptied above)
        catalogue.with_name(catalogue.name + suffix).unlink(missing_ok=True)
    fsync_dir(path)


def _seal_signing_key(path: Path, key: VaultKey) -> None:
    file = path / PRIVATE_KEY
    if not file.exists() or envelope.is_sealed(file.read_bytes()):
        return  # a copy without its private key, or sealed by an earlier run
    sealed = keys.stored_form(keys.load(file), key)
    _write_atomically(file, sealed, 0o600)


def _log_once(
    path: Path, config: dict[str, Any], key: VaultKey, actor: str, conversion: str, left: int
) -> None:
    """The custody event, unless a killed run logged it (its details name the conversion)."""
    with Locker(path, config, vault_key=key) as locker, locker.engine.begin() as conn:
        converted = select(schema.events.c.details).where(
            schema.events.c.action == "vault.converted"
        )
        if any(conversion in str(details) for details in conn.execute(converted).scalars()):
            return
        log.append(
            conn,
            actor,
            "vault.converted",
            details={
                "conversion": conversion,
                "format": VAULT_FORMAT,
                "plain_object_versions_left": left,
            },
        )
