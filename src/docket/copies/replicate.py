"""`docket replicate DEST`: an incremental, verified copy of the whole locker.

Writes happen in this order, so a copy stopped at any point (kill -9, a full disk) is never
worse than before and the next run simply goes on:
1. checkpoints.log is read (whole lines) before anything else, so the catalogue copied next
   holds every checkpoint in it (a line is appended only after its checkpoint committed);
2. the catalogue is copied consistently into the destination's tmp/ (snapshot.py) and checked:
   it holds the newest checkpoint of that file (else this locker lost its tail, and nothing is
   copied), and the copy's current catalogue is a prefix of it (else they diverged: refused);
3. blobs the copy lacks (by listing names, never re-hashing what is there) and every blob the
   new catalogue references are copied, each re-hashed on the way in (transfer.py);
4. the catalogue is put in place (atomic rename); 5. checkpoints.log, which must extend the
   copy's (else refused, naming it); 6. keys/signing.pub, and the private key only when asked;
   7. docket.json; 8. replica.json last: source locker id, tree size, time.
A vault's copy is the same vault (docs/how-to/copies.md): its sealed blob files copied as
they are under their keyed names, each proven with the key (sealed.py), its catalogue
copied encrypted under the same key (snapshot.py), and keys/vault.json always, so the copy
opens with the same passphrases, recovery key and shares; the signing key, sealed, only
when asked. Nothing decrypted is written.
Before all this the source signs a checkpoint when events came after its newest one, so all a
copy holds is signed but the `checkpoint.made` event itself (which verify checks against the
checkpoint it records). The source logs `locker.replicated` (destination, counts, tree size)
once the copy is whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from docket import clock
from docket.capture import wacz_signing
from docket.copies import snapshot, transfer
from docket.copies.destination import REPLICA_NAME, Destination, Folder, config_of_copy
from docket.copies.sealed import SealedBlobs
from docket.custody import ledger, log, merkle, witness
from docket.errors import CopyError
from docket.locker import CONFIG_NAME, PRIVATE_KEY, PUBLIC_KEY, Locker
from docket.regular_files import open_regular
from docket.vault import slot_file


@dataclass(frozen=True)
class Copied:
    destination: str
    blobs_copied: int
    bytes_copied: int
    blobs_held: int
    tree_size: int
    event: int | None = None


def whole_lines(data: bytes) -> bytes:
    """`data` up to its last newline: a line cut short by a crash is not copied."""
    return data[: data.rfind(b"\n") + 1]


def copy_locker(
    source: Locker, dest: Destination, *, private_key: bool, mark_replica: bool = True
) -> Copied:
    """Bring `dest` up to date with `source` (read only, never written)."""
    if isinstance(dest, Folder) and _inside(dest.root, source.path):
        raise CopyError(f"{dest.describe()}: is this locker or inside it; choose another disk")
    key = source.vault_key
    dest.prepare(source.locker_id, key)
    witnessed = whole_lines(_read(source.path / witness.FILE_NAME))
    held = dest.read(witness.FILE_NAME) or b""
    if not witnessed.startswith(whole_lines(held)):
        raise CopyError(
            f"{dest.describe()}/{witness.FILE_NAME}: is not a beginning of this locker's "
            "(the copy saw checkpoints this locker has not kept); not replaced; run "
            "`docket audit-copies`"
        )
    blobs = _Blobs(source)
    prepared = dest.scratch_file("catalogue")
    try:
        snapshot.take(source.engine, prepared, key)
        with snapshot.opened(prepared, key) as conn:
            leaves = snapshot.leaves(conn)
            referenced = snapshot.referenced_blobs(conn)
        _check_holds_witnessed(source, dest, witnessed, leaves)
        before = dest.held_log()
        if before is not None and leaves[: len(before)] != before:
            raise CopyError(
                f"{dest.describe()}: its catalogue holds {len(before)} events that are not the "
                "beginning of this locker's log (the copies diverged); not replaced; run "
                "`docket audit-copies`"
            )
        have = dest.blob_names()
        filed = blobs.present | have
        lacking = [name for name in referenced if blobs.filed(name) not in filed]
        lacking = [name for name in lacking if not source.store.has(name)]
        if lacking:
            raise CopyError(
                f"blob {lacking[0]}: referenced by this locker's catalogue but missing from "
                f"its store ({len(lacking)} in all); repair it from another copy "
                "first (`docket repair --from COPY`)"
            )
        wanted = sorted((blobs.present | {blobs.filed(name) for name in referenced}) - have)
        copied, size = dest.put_blobs(wanted, blobs.opener, blobs.check)
        dest.put_catalogue(prepared)
    finally:
        snapshot.discard(prepared)
    if witnessed != held:
        dest.write(witness.FILE_NAME, witnessed)
    _copy_keys(source, dest, private_key)
    config = config_of_copy(source.config)
    if dest.read(CONFIG_NAME) != config:
        dest.write(CONFIG_NAME, config)
    total = len(have) + copied
    if mark_replica:
        facts = {
            "source_locker_id": source.locker_id,
            "tree_size": len(leaves),
            "time": clock.now(),
            "blobs": total,
        }
        dest.write(REPLICA_NAME, json.dumps(facts, indent=2).encode() + b"\n")
    return Copied(dest.describe(), copied, size, total, len(leaves))


class _Blobs:
    """The source's blobs as a copy files them: by SHA-256, read and proven as plain blobs;
    a vault's by keyed name, its sealed files read as stored (store.path: the file in
    objects/, or the object fetched into cache/ for a bucket) and proven with the key."""

    def __init__(self, source: Locker) -> None:
        self.opener: transfer.Opener = source.store.open
        self.check: transfer.Check | None = None
        self._sealed: SealedBlobs | None = None
        self._plain: dict[str, str] = {}  # a vault's keyed names: their SHA-256
        if source.vault_key is None:
            self.present = set(source.store.digests())
        else:
            self._sealed = SealedBlobs(source.vault_key)
            self.present = {self.filed(sha256) for sha256 in source.store.digests()}
            store = source.store
            self.opener = lambda keyed: open_regular(store.path(self._plain[keyed]), True)
            self.check = self._sealed.prove

    def filed(self, sha256: str) -> str:
        if self._sealed is None:
            return sha256
        keyed = self._sealed.keyed(sha256)
        self._plain[keyed] = sha256
        return keyed


def replicate(locker: Locker, dest: Destination, actor: str, *, private_key: bool) -> Copied:
    """Sign the log's head first when events came after the newest checkpoint (and the
    private key is here), so the copy's log is covered by a signature but for the one event
    that records it; copy `locker` to `dest`; then log `locker.replicated` in the locker."""
    if (locker.path / PRIVATE_KEY).is_file():
        with locker.engine.begin() as conn:
            latest = ledger.latest_checkpoint(conn, locker.origin)
            if log.lock(conn) > (latest.checkpoint.tree_size + 1 if latest else 0):
                ledger.make_checkpoint(conn, locker.signing_key, locker.origin, actor)
    copied = copy_locker(locker, dest, private_key=private_key)
    with locker.engine.begin() as conn:
        event = log.append(
            conn,
            actor,
            "locker.replicated",
            details={
                "destination": copied.destination,
                "blobs_copied": copied.blobs_copied,
                "bytes_copied": copied.bytes_copied,
                "blobs_held": copied.blobs_held,
                "tree_size": copied.tree_size,
                "private_key": private_key,
            },
        )
    return Copied(
        copied.destination,
        copied.blobs_copied,
        copied.bytes_copied,
        copied.blobs_held,
        copied.tree_size,
        event.seq,
    )


def _inside(dest: Path, locker: Path) -> bool:
    dest, locker = dest.resolve(), locker.resolve()
    return dest == locker or locker in dest.parents


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _check_holds_witnessed(
    source: Locker, dest: Destination, witnessed: bytes, leaves: list[bytes]
) -> None:
    """The catalogue copy holds the newest checkpoint this locker signed, and every line of
    checkpoints.log is this locker's: a locker that lost its tail is not copied over a copy."""
    staged = dest.scratch_file("witness")
    try:
        staged.write_bytes(witnessed)
        found = witness.read(staged, source.origin, source.public_key)
    finally:
        staged.unlink(missing_ok=True)
    if found.problems:
        subject, message = found.problems[0]
        raise CopyError(f"{source.path}/{subject}: {message}; nothing copied")
    latest = found.latest
    if latest is None:
        return
    size = latest.checkpoint.tree_size
    if size > len(leaves) or merkle.root(leaves[:size]) != latest.checkpoint.root:
        raise CopyError(
            f"{source.path}: the catalogue does not hold checkpoint {latest.id} of "
            f"{witness.FILE_NAME} (it lost its tail); nothing copied; run `docket verify`"
        )


def _copy_keys(source: Locker, dest: Destination, private_key: bool) -> None:
    public = (source.public_key.hex() + "\n").encode()
    if dest.read(str(PUBLIC_KEY)) != public:
        dest.write(str(PUBLIC_KEY), public)
    if source.is_vault:  # its key slots, so the copy opens as the vault does
        slots = (source.path / slot_file.NAME).read_bytes()
        if dest.read(str(slot_file.NAME)) != slots:
            dest.write(str(slot_file.NAME), slots, mode=0o600)
    if private_key:
        try:
            key = (source.path / PRIVATE_KEY).read_bytes()
        except FileNotFoundError as exc:
            raise CopyError(f"{source.path / PRIVATE_KEY}: no private key here to copy") from exc
        if dest.read(str(PRIVATE_KEY)) != key:
            dest.write(str(PRIVATE_KEY), key, mode=0o600)
    # The WACZ key of web captures, when captures made one: its public half always (verify
    # checks captures' signatures against it), its private half with the signing key.
    wacz_keys = [(wacz_signing.PUBLIC_FILE, 0o644)]
    if private_key:
        wacz_keys.append((wacz_signing.PRIVATE_FILE, 0o600))
    for name, mode in wacz_keys:
        try:
            data = (source.path / name).read_bytes()
        except FileNotFoundError:
            continue
        if dest.read(str(name)) != data:
            dest.write(str(name), data, mode=mode)
