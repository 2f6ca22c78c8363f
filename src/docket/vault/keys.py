"""The locker key of a vault and the keys derived from it, one per purpose.

Derivation is HKDF-SHA256 (RFC 5869) from `cryptography`, with the purpose in `info`, so the
keys are independent: knowing the catalogue's key tells nothing about the blobs' key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
_INFO_PREFIX = b"docket-vault/1 "

# What each derived key is for; the strings are part of the format and never change.
BLOB = "blob"  # wraps each blob's own data key (store/vault blob format)
NAME = "name"  # HMAC-SHA256 key naming blobs, so a name is not the content's SHA-256
CATALOGUE = "catalogue"  # SQLCipher's raw key for catalogue.sqlite
SIGNING_KEY = "signing-key"  # seals keys/signing.key
FILE = "file"  # seals other small files of the locker (envelope.py)


@dataclass(frozen=True)
class VaultKey:
    """A vault's locker key. `repr` never shows it."""

    master: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.master) != KEY_BYTES:
            raise ValueError("a vault's locker key is 32 bytes")

    @classmethod
    def generate(cls) -> VaultKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    def derive(self, purpose: str) -> bytes:
        """The 32-byte key for `purpose` (one of the constants above)."""
        return HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=None,
            info=_INFO_PREFIX + purpose.encode(),
        ).derive(self.master)
