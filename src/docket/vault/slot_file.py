"""The key-slot file of a vault, keys/vault.json: its format, read and checked whole, and
written so that a crash leaves the old file or the new one, never a mix.

    {"format": 1, "locker_id": ..., "next_slot": N, "key_check": hex, "slots": [slot, ...]}
    slot: {"id": int, "kind": "passphrase" | "recovery" | "shares", "created": RFC 3339,
           "kdf": {"name": "argon2id", "salt", "iterations", "memory_kib", "lanes"}
                  or {"name": "hkdf-sha256", "salt"},
           "shares": {"threshold": k, "count": n} (shares only),
           "label": base64 of the label sealed under the locker key (envelope.py),
           "wrapped": base64 of nonce | AES-256-GCM of the locker key and its tag,
           "check": hex SHA-256 of the slot's other fields}

The check tells damage (a flipped bit, a cut) from a wrong secret, which AES-GCM alone cannot:
both are a failed tag. It is no defence against someone who rewrites the file (anyone can
recompute it); the AEAD is: a changed slot never yields a key. `key_check` is an HMAC under a
key derived from the locker key, so a key handed in (by the unlock agent, or to add a slot) is
known to be this vault's before anything is wrapped with it. Writes go to a temporary file,
fsynced, renamed over the old one, and the folder fsynced; writers take an flock on keys/.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from docket.errors import DocketError, VaultDamagedError
from docket.vault.keys import VaultKey

NAME = Path("keys/vault.json")
FORMAT = 1
KINDS = ("passphrase", "recovery", "shares")
# Bounds on a slot's Argon2id parameters, far above any use, so a forged slot cannot make
# opening allocate without limit or run for days.
MOST_SLOTS = 64  # each passphrase slot costs an Argon2id run when opening
MOST_BYTES = 1 << 20  # a full file is about 64 KiB
MOST_ITERATIONS = 64
MOST_LANES = 64
MOST_MEMORY_KIB = 4 * 1024 * 1024  # 4 GiB
_CHECK_PURPOSE = "slot-check"  # derives the key_check HMAC key (see keys.VaultKey.derive)


@dataclass(frozen=True)
class Argon2idParams:
    """Argon2id (RFC 9106) of a passphrase; memory in KiB, as the RFC and `cryptography` count."""

    salt: bytes
    iterations: int
    memory_kib: int
    lanes: int


@dataclass(frozen=True)
class HkdfParams:
    """HKDF-SHA256 (RFC 5869) of a secret that is already high-entropy (recovery key, shares)."""

    salt: bytes


@dataclass(frozen=True)
class Slot:
    id: int
    kind: str
    created: str
    kdf: Argon2idParams | HkdfParams
    label: bytes  # sealed
    wrapped: bytes  # nonce | ciphertext | tag
    shares: tuple[int, int] | None = None  # threshold, count


@dataclass(frozen=True)
class DamagedSlot:
    """A slot that failed its check: kept as it was (it is not ours to drop), never used."""

    name: str  # its id when that can be read, else its place in the list
    reason: str
    record: Any = field(compare=False)


@dataclass(frozen=True)
class SlotFile:
    locker_id: str
    next_slot: int
    key_check: str
    slots: tuple[Slot, ...]
    damaged: tuple[DamagedSlot, ...] = ()

    def with_slot(self, slot: Slot) -> SlotFile:
        if len(self.slots) + len(self.damaged) >= MOST_SLOTS:
            raise DocketError(f"{NAME}: already {MOST_SLOTS} slots; remove one first")
        return replace(self, next_slot=slot.id + 1, slots=(*self.slots, slot))

    def without(self, slot_id: int) -> SlotFile:
        return replace(
            self,
            slots=tuple(s for s in self.slots if s.id != slot_id),
            damaged=tuple(d for d in self.damaged if d.name != str(slot_id)),
        )


def key_check(key: VaultKey, locker_id: str) -> str:
    mac = hmac.new(key.derive(_CHECK_PURPOSE), f"docket-vault/1 {locker_id}".encode(), "sha256")
    return mac.hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _slot_fields(slot: Slot) -> dict[str, Any]:
    kdf: dict[str, Any]
    if isinstance(slot.kdf, Argon2idParams):
        kdf = {
            "name": "argon2id",
            "salt": _b64(slot.kdf.salt),
            "iterations": slot.kdf.iterations,
            "memory_kib": slot.kdf.memory_kib,
            "lanes": slot.kdf.lanes,
        }
    else:
        kdf = {"name": "hkdf-sha256", "salt": _b64(slot.kdf.salt)}
    fields: dict[str, Any] = {
        "id": slot.id,
        "kind": slot.kind,
        "created": slot.created,
        "kdf": kdf,
        "label": _b64(slot.label),
        "wrapped": _b64(slot.wrapped),
    }
    if slot.shares is not None:
        fields["shares"] = {"threshold": slot.shares[0], "count": slot.shares[1]}
    return fields


def _check(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def dumps(vault: SlotFile) -> bytes:
    slots = []
    for slot in vault.slots:
        fields = _slot_fields(slot)
        slots.append({**fields, "check": _check(fields)})
    slots.extend(damaged.record for damaged in vault.damaged)
    document = {
        "format": FORMAT,
        "locker_id": vault.locker_id,
        "next_slot": vault.next_slot,
        "key_check": vault.key_check,
        "slots": slots,
    }
    return json.dumps(document, indent=2).encode() + b"\n"


class _Bad(Exception):
    """A field of the file is missing or of the wrong type (turned into VaultDamagedError)."""


def _field(record: dict[str, Any], name: str, kind: type) -> Any:
    value = record.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _Bad(f"no valid {name!r}")
    return value


def _bytes(record: dict[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(_field(record, name, str), validate=True)
    except binascii.Error:
        raise _Bad(f"{name!r} is not base64") from None


def _slot(record: Any) -> Slot:
    if not isinstance(record, dict):
        raise _Bad("not an object")
    check = record.pop("check", None)
    if check != _check(record):
        raise _Bad("its checksum does not match (the slot was changed or damaged)")
    kind = _field(record, "kind", str)
    if kind not in KINDS:
        raise _Bad(f"unknown kind {kind!r}")
    kdf_record = _field(record, "kdf", dict)
    kdf: Argon2idParams | HkdfParams
    if kdf_record.get("name") == "argon2id":
        kdf = Argon2idParams(
            _bytes(kdf_record, "salt"),
            _field(kdf_record, "iterations", int),
            _field(kdf_record, "memory_kib", int),
            _field(kdf_record, "lanes", int),
        )
        if not (
            1 <= kdf.iterations <= MOST_ITERATIONS
            and 1 <= kdf.lanes <= MOST_LANES
            and 8 * kdf.lanes <= kdf.memory_kib <= MOST_MEMORY_KIB
            and 8 <= len(kdf.salt) <= 64
        ):
            raise _Bad("Argon2id parameters out of bounds (a forged slot would exhaust memory)")
    elif kdf_record.get("name") == "hkdf-sha256":
        kdf = HkdfParams(_bytes(kdf_record, "salt"))
    else:
        raise _Bad("unknown key derivation")
    if (kind == "passphrase") != isinstance(kdf, Argon2idParams):
        raise _Bad(f"a {kind} slot with the wrong key derivation")
    shares = None
    if kind == "shares":
        counts = _field(record, "shares", dict)
        shares = (_field(counts, "threshold", int), _field(counts, "count", int))
    return Slot(
        id=_field(record, "id", int),
        kind=kind,
        created=_field(record, "created", str),
        kdf=kdf,
        label=_bytes(record, "label"),
        wrapped=_bytes(record, "wrapped"),
        shares=shares,
    )


def loads(data: bytes, where: Path) -> SlotFile:
    """The slot file parsed: damage to the file is a VaultDamagedError naming `where`; a
    damaged slot is set aside in `damaged` so the others still open."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VaultDamagedError(f"{where}: damaged, not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise VaultDamagedError(f"{where}: damaged, not a vault's key-slot file")
    if document.get("format") != FORMAT:
        raise VaultDamagedError(
            f"{where}: key-slot format {document.get('format')!r} is not known (damaged, or "
            "written by a newer Docket)"
        )
    try:
        head = (
            _field(document, "locker_id", str),
            _field(document, "next_slot", int),
            _field(document, "key_check", str),
            _field(document, "slots", list),
        )
    except _Bad as exc:
        raise VaultDamagedError(f"{where}: damaged, {exc}") from None
    if len(head[3]) > MOST_SLOTS:
        raise VaultDamagedError(f"{where}: damaged, more than {MOST_SLOTS} slots")
    slots, damaged = [], []
    for index, record in enumerate(head[3]):
        original = json.loads(json.dumps(record))
        try:
            slots.append(_slot(record))
        except _Bad as exc:
            known = isinstance(record, dict) and isinstance(record.get("id"), int)
            name = str(record["id"]) if known else f"#{index + 1}"
            damaged.append(DamagedSlot(name, str(exc), original))
    ids = [slot.id for slot in slots]
    if len(set(ids)) != len(ids) or any(i >= head[1] for i in ids):
        raise VaultDamagedError(f"{where}: damaged, slot ids repeat or pass next_slot")
    return SlotFile(head[0], head[1], head[2], tuple(slots), tuple(damaged))


def read(locker_path: Path, locker_id: str | None) -> SlotFile:
    """keys/vault.json, refused when it is another locker's (unless `locker_id` is None)."""
    where = locker_path / NAME
    try:
        with where.open("rb") as handle:
            data = handle.read(MOST_BYTES + 1)
    except FileNotFoundError:
        raise VaultDamagedError(f"{where}: missing; this vault has no key slots") from None
    if len(data) > MOST_BYTES:
        raise VaultDamagedError(f"{where}: damaged, larger than {MOST_BYTES} bytes")
    vault = loads(data, where)
    if locker_id is not None and vault.locker_id != locker_id:
        raise VaultDamagedError(f"{where}: belongs to locker {vault.locker_id}, not {locker_id}")
    return vault


def write(locker_path: Path, vault: SlotFile) -> None:
    """Replace keys/vault.json whole: temporary file, fsync, rename, fsync of the folder."""
    target = locker_path / NAME
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(dumps(vault))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@contextmanager
def locked(locker_path: Path) -> Iterator[None]:
    """Hold the writers' lock of keys/ (an flock, released when the process dies); leftover
    temporary files of writers that died are removed."""
    folder = locker_path / NAME.parent
    folder.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for leftover in folder.glob(f".{NAME.name}.*.tmp"):
            leftover.unlink(missing_ok=True)
        yield
    finally:
        os.close(fd)
