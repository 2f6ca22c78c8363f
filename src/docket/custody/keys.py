"""The locker's Ed25519 signing key, stored as PKCS#8 PEM readable only by its owner.

In a vault the PEM is sealed (vault/envelope.py) under the locker key's SIGNING_KEY key, with
the file's name bound, so the disk never holds the private key in the clear.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from docket.errors import DocketError
from docket.vault import envelope
from docket.vault.keys import SIGNING_KEY, VaultKey

SEALED_AS = b"keys/signing.key"  # the associated data of a vault's sealed signing key


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def stored_form(key: Ed25519PrivateKey, vault_key: VaultKey | None) -> bytes:
    """What the key file holds: the PEM, sealed when the locker is a vault."""
    pem = _pem(key)
    return (
        pem if vault_key is None else envelope.seal(vault_key.derive(SIGNING_KEY), pem, SEALED_AS)
    )


def write(path: Path, key: Ed25519PrivateKey, vault_key: VaultKey | None = None) -> None:
    """Write `key` to the new file `path` (mode 0600), fsynced; never replaces a file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, stored_form(key, vault_key))
        os.fsync(fd)
    finally:
        os.close(fd)


def generate(path: Path, vault_key: VaultKey | None = None) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    write(path, key, vault_key)
    return key


def load(path: Path, vault_key: VaultKey | None = None) -> Ed25519PrivateKey:
    """The key in `path`; a vault's is unsealed with `vault_key` (a VaultDamagedError naming
    the file when it does not authenticate)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocketError(f"{path}: cannot read the locker's signing key ({exc.strerror})") from exc
    if vault_key is not None:
        data = envelope.unseal(vault_key.derive(SIGNING_KEY), data, SEALED_AS, str(path))
    elif envelope.is_sealed(data):
        raise DocketError(f"{path}: the signing key is sealed; this locker is a vault")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise DocketError(f"{path}: cannot read the locker's signing key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise DocketError(f"{path}: the locker's signing key is not an Ed25519 key")
    return key


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
