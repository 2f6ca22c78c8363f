"""Sealing a small file (a key, a settings file) whole with AES-256-GCM.

Format: b"DKV1" | 12-byte random nonce | ciphertext with its 16-byte tag. The associated data
names what the file is (for example b"keys/signing.key"), so a sealed file moved into another's
place does not open. For blobs, which can be larger than memory, see the streaming format
of the vault store instead.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from docket.errors import VaultDamagedError

MAGIC = b"DKV1"
_NONCE_BYTES = 12


def seal(key: bytes, plaintext: bytes, associated: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def is_sealed(data: bytes) -> bool:
    return data.startswith(MAGIC)


def unseal(key: bytes, sealed: bytes, associated: bytes, label: str) -> bytes:
    """The plaintext of `sealed`; `label` names the file in the error when it does not
    authenticate (changed, truncated, another file's, or sealed under another key)."""
    head = len(MAGIC) + _NONCE_BYTES
    if not sealed.startswith(MAGIC) or len(sealed) < head + 16:
        raise VaultDamagedError(f"{label}: not a sealed vault file, or cut short")
    try:
        return AESGCM(key).decrypt(sealed[len(MAGIC) : head], sealed[head:], associated)
    except InvalidTag:
        raise VaultDamagedError(
            f"{label}: does not authenticate (changed, damaged, or not this vault's)"
        ) from None
