"""Key slots of a vault, LUKS-style: the random locker key, wrapped once per slot.

A slot's secret (a passphrase, the recovery key, or k of n SLIP-39 shares) gives a 32-byte
wrapping key through its KDF; the locker key is sealed under it with AES-256-GCM, with the
locker id, the slot id and its kind as associated data, so a slot copied into another place or
another locker does not open. Opening tries every slot of the kind the secret is; one damaged
slot does not stop another from opening. Every change writes keys/vault.json whole and
atomically (slot_file.py); a changed passphrase is a new slot written before the old one is
removed, so a crash at any point leaves every slot that existed before still opening.
The format and parameters are in docs/explanation/vault.md.
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import shamir_mnemonic
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from docket import clock
from docket.errors import DocketError, VaultDamagedError, WrongPassphraseError
from docket.vault import envelope, recovery, slot_file
from docket.vault.keys import FILE, KEY_BYTES, VaultKey
from docket.vault.slot_file import Argon2idParams, HkdfParams, Slot, SlotFile

# RFC 9106 section 4, the second recommended option (for memory-constrained use): t=3,
# m=64 MiB, p=4. Stored in each slot, so new slots can use higher values and old ones still open.
ARGON2_ITERATIONS = 3
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_LANES = 4
SALT_BYTES = 16
_NONCE_BYTES = 12
_HKDF_INFO = {"recovery": b"docket-vault/1 recovery", "shares": b"docket-vault/1 shares"}
MOST_SHARES = 16  # SLIP-39's limit on the members of a group


@dataclass(frozen=True)
class SlotInfo:
    """What `docket vault slots` shows: never a secret. `label` is None while locked."""

    id: int
    kind: str
    created: str
    label: str | None
    shares: tuple[int, int] | None
    damage: str | None = None  # why a damaged slot is not used


@dataclass(frozen=True)
class Created:
    key: VaultKey
    recovery_key: str  # shown once, never stored


def _wrapping_key(slot_kdf: Argon2idParams | HkdfParams, kind: str, secret: bytes) -> bytes:
    if isinstance(slot_kdf, Argon2idParams):
        return Argon2id(
            salt=slot_kdf.salt,
            length=KEY_BYTES,
            iterations=slot_kdf.iterations,
            lanes=slot_kdf.lanes,
            memory_cost=slot_kdf.memory_kib,
        ).derive(secret)
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=slot_kdf.salt, info=_HKDF_INFO[kind]
    ).derive(secret)


def _associated(locker_id: str, slot_id: int, kind: str) -> bytes:
    return f"docket-vault/1 slot {locker_id} {slot_id} {kind}".encode()


def _label_associated(slot_id: int) -> bytes:
    return f"keys/vault.json slot {slot_id} label".encode()


def _passphrase_bytes(passphrase: str) -> bytes:
    """NFC first, so the same passphrase typed on another keyboard or system opens the slot."""
    if not passphrase:
        raise DocketError("an empty passphrase is refused")
    return unicodedata.normalize("NFC", passphrase).encode()


def _new_slot(
    vault: SlotFile,
    key: VaultKey,
    kind: str,
    label: str,
    secret: bytes,
    shares: tuple[int, int] | None = None,
) -> Slot:
    salt = secrets.token_bytes(SALT_BYTES)
    kdf: Argon2idParams | HkdfParams
    if kind == "passphrase":
        kdf = Argon2idParams(salt, ARGON2_ITERATIONS, ARGON2_MEMORY_KIB, ARGON2_LANES)
    else:
        kdf = HkdfParams(salt)
    slot_id = vault.next_slot
    nonce = secrets.token_bytes(_NONCE_BYTES)
    wrapped = AESGCM(_wrapping_key(kdf, kind, secret)).encrypt(
        nonce, key.master, _associated(vault.locker_id, slot_id, kind)
    )
    return Slot(
        id=slot_id,
        kind=kind,
        created=clock.now(),
        kdf=kdf,
        label=envelope.seal(key.derive(FILE), label.encode(), _label_associated(slot_id)),
        wrapped=nonce + wrapped,
        shares=shares,
    )


def create(locker_path: Path, locker_id: str, passphrase: str, label: str) -> Created:
    """A new vault's keys/vault.json: a random locker key, a passphrase slot (0) and a
    recovery slot (1). Refused when the file exists."""
    if (locker_path / slot_file.NAME).exists():
        raise DocketError(f"{locker_path / slot_file.NAME}: already exists")
    key = VaultKey.generate()
    recovery_secret = secrets.token_bytes(recovery.SECRET_BYTES)
    vault = SlotFile(locker_id, 0, slot_file.key_check(key, locker_id), ())
    first = _passphrase_bytes(passphrase)
    vault = vault.with_slot(_new_slot(vault, key, "passphrase", label, first))
    vault = vault.with_slot(_new_slot(vault, key, "recovery", "recovery key", recovery_secret))
    with slot_file.locked(locker_path):
        slot_file.write(locker_path, vault)
    return Created(key, recovery.format_key(recovery_secret))


def _unwrap(vault: SlotFile, slot: Slot, secret: bytes) -> VaultKey | None:
    if len(slot.wrapped) < _NONCE_BYTES + KEY_BYTES + 16:
        return None
    try:
        master = AESGCM(_wrapping_key(slot.kdf, slot.kind, secret)).decrypt(
            slot.wrapped[:_NONCE_BYTES],
            slot.wrapped[_NONCE_BYTES:],
            _associated(vault.locker_id, slot.id, slot.kind),
        )
    except InvalidTag:
        return None
    return VaultKey(master)


def _open(locker_path: Path, locker_id: str, kind: str, secret: bytes, what: str) -> VaultKey:
    vault = slot_file.read(locker_path, locker_id)
    where = locker_path / slot_file.NAME
    for slot in vault.slots:
        if slot.kind == kind and (key := _unwrap(vault, slot, secret)) is not None:
            if slot_file.key_check(key, vault.locker_id) != vault.key_check:
                raise VaultDamagedError(f"{where}: damaged, key_check does not fit slot {slot.id}")
            return key
    if vault.damaged:
        names = ", ".join(f"{d.name} ({d.reason})" for d in vault.damaged)
        raise VaultDamagedError(f"{where}: no intact slot opens with this {what}; damaged: {names}")
    if not any(slot.kind == kind for slot in vault.slots):
        raise WrongPassphraseError(f"{where}: no {kind} slot to open")
    raise WrongPassphraseError(f"{where}: no slot opens with this {what}")


def open_with_passphrase(locker_path: Path, locker_id: str, passphrase: str) -> VaultKey:
    return _open(locker_path, locker_id, "passphrase", _passphrase_bytes(passphrase), "passphrase")


def open_with_recovery_key(locker_path: Path, locker_id: str, text: str) -> VaultKey:
    secret = recovery.parse_key(text, locker_path / slot_file.NAME)
    return _open(locker_path, locker_id, "recovery", secret, "recovery key")


def open_with_shares(locker_path: Path, locker_id: str, mnemonics: list[str]) -> VaultKey:
    secret = recovery.combine_shares(mnemonics, locker_path / slot_file.NAME)
    return _open(locker_path, locker_id, "shares", secret, "set of shares")


def open_with_secret(locker_path: Path, locker_id: str, text: str) -> VaultKey:
    """Whatever was typed or read from a file: several lines of SLIP-39 words are shares, a
    recovery key's 52 letters and digits are tried as one, anything else as a passphrase."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and all(recovery.looks_like_share(line) for line in lines):
        return open_with_shares(locker_path, locker_id, lines)
    if recovery.looks_like_key(text):
        try:
            return open_with_recovery_key(locker_path, locker_id, text)
        except WrongPassphraseError:
            pass  # a passphrase can look like a recovery key
    return open_with_passphrase(locker_path, locker_id, text)


def _checked(locker_path: Path, key: VaultKey) -> SlotFile:
    """keys/vault.json, once `key` is known to be its locker key (nothing is wrapped with
    another)."""
    where = locker_path / slot_file.NAME
    vault = slot_file.read(locker_path, None)
    if slot_file.key_check(key, vault.locker_id) != vault.key_check:
        raise WrongPassphraseError(f"{where}: the key given is not this vault's")
    return vault


def add_passphrase(locker_path: Path, key: VaultKey, passphrase: str, label: str) -> SlotInfo:
    secret = _passphrase_bytes(passphrase)
    with slot_file.locked(locker_path):
        vault = _checked(locker_path, key)
        slot = _new_slot(vault, key, "passphrase", label, secret)
        slot_file.write(locker_path, vault.with_slot(slot))
    return _info(slot, key)


def add_recovery_key(locker_path: Path, key: VaultKey, label: str) -> tuple[SlotInfo, str]:
    """A new recovery slot and its key (shown once)."""
    secret = secrets.token_bytes(recovery.SECRET_BYTES)
    with slot_file.locked(locker_path):
        vault = _checked(locker_path, key)
        slot = _new_slot(vault, key, "recovery", label, secret)
        slot_file.write(locker_path, vault.with_slot(slot))
    return _info(slot, key), recovery.format_key(secret)


def add_shares(
    locker_path: Path, key: VaultKey, threshold: int, count: int, label: str
) -> tuple[SlotInfo, list[str]]:
    """A slot opened by any `threshold` of `count` SLIP-39 mnemonics (returned, shown once)."""
    if not 2 <= threshold <= count <= MOST_SHARES:
        raise DocketError(f"shares: need 2 <= k <= n <= {MOST_SHARES}, not k={threshold} n={count}")
    secret = secrets.token_bytes(recovery.SECRET_BYTES)
    mnemonics = shamir_mnemonic.generate_mnemonics(1, [(threshold, count)], secret)[0]
    with slot_file.locked(locker_path):
        vault = _checked(locker_path, key)
        slot = _new_slot(vault, key, "shares", label, secret, (threshold, count))
        slot_file.write(locker_path, vault.with_slot(slot))
    return _info(slot, key), list(mnemonics)


def remove_slot(locker_path: Path, key: VaultKey, slot_id: int) -> SlotInfo:
    """Remove a slot (a damaged one too); never the last intact one (the vault would be
    lost)."""
    with slot_file.locked(locker_path):
        vault = _checked(locker_path, key)
        for damage in vault.damaged:
            if damage.name == str(slot_id):
                slot_file.write(locker_path, vault.without(slot_id))
                return SlotInfo(slot_id, "damaged", "", None, None, damage.reason)
        found = [slot for slot in vault.slots if slot.id == slot_id]
        if not found:
            raise DocketError(f"{locker_path / slot_file.NAME}: no slot {slot_id}")
        if len(vault.slots) == 1:
            raise DocketError(
                f"{locker_path / slot_file.NAME}: slot {slot_id} is the last one; add another first"
            )
        slot_file.write(locker_path, vault.without(slot_id))
    return _info(found[0], key)


def change_passphrase(
    locker_path: Path, key: VaultKey, slot_id: int, passphrase: str
) -> tuple[SlotInfo, SlotInfo]:
    """A passphrase slot replaced by a new one (new id, same label): the new slot is written
    before the old is removed. Returns (old, new)."""
    with slot_file.locked(locker_path):
        vault = _checked(locker_path, key)
        found = [slot for slot in vault.slots if slot.id == slot_id]
        if not found or found[0].kind != "passphrase":
            raise DocketError(f"{locker_path / slot_file.NAME}: no passphrase slot {slot_id}")
        old = _info(found[0], key)
        slot = _new_slot(vault, key, "passphrase", old.label or "", _passphrase_bytes(passphrase))
        vault = vault.with_slot(slot)
        slot_file.write(locker_path, vault)
        slot_file.write(locker_path, vault.without(slot_id))
    return old, _info(slot, key)


def _info(slot: Slot, key: VaultKey | None) -> SlotInfo:
    label = None
    if key is not None:
        label = envelope.unseal(
            key.derive(FILE),
            slot.label,
            _label_associated(slot.id),
            f"{slot_file.NAME} slot {slot.id}'s label",
        ).decode()
    return SlotInfo(slot.id, slot.kind, slot.created, label, slot.shares)


def _id(name: str) -> int:
    """A damaged slot's id, or -1 when even that cannot be read."""
    return int(name) if name.isascii() and name.isdigit() else -1


def list_slots(locker_path: Path, locker_id: str, key: VaultKey | None = None) -> list[SlotInfo]:
    """Every slot, with its label when the key is given (labels are sealed: they can name
    people)."""
    vault = slot_file.read(locker_path, locker_id)
    if key is not None and slot_file.key_check(key, locker_id) != vault.key_check:
        raise WrongPassphraseError(f"{locker_path / slot_file.NAME}: the key is not this vault's")
    damaged = [SlotInfo(_id(d.name), "damaged", "", None, None, d.reason) for d in vault.damaged]
    return [_info(slot, key) for slot in vault.slots] + damaged


def fits(locker_path: Path, locker_id: str, key: VaultKey) -> bool:
    """Whether `key` is this vault's locker key (keys/vault.json's key_check)."""
    vault = slot_file.read(locker_path, locker_id)
    return hmac.compare_digest(slot_file.key_check(key, locker_id), vault.key_check)


def problems(locker_path: Path, locker_id: str, key: VaultKey | None = None) -> list[str]:
    """What is wrong with keys/vault.json, each naming it (for `verify`; empty when whole):
    the file damaged, each damaged slot, no intact slot left, and with the key, a key check
    or a sealed label that does not fit."""
    where = locker_path / slot_file.NAME
    try:
        vault = slot_file.read(locker_path, locker_id)
    except DocketError as exc:
        return [str(exc)]
    found = [f"{where}: slot {d.name} is damaged: {d.reason}" for d in vault.damaged]
    if not vault.slots:
        found.append(f"{where}: no intact key slot; the vault cannot be opened")
    if key is not None:
        if not hmac.compare_digest(slot_file.key_check(key, locker_id), vault.key_check):
            return [*found, f"{where}: its key check does not fit the locker key"]
        for slot in vault.slots:
            try:
                _info(slot, key)
            except VaultDamagedError:
                found.append(f"{where}: slot {slot.id}'s sealed label does not authenticate")
    return found
