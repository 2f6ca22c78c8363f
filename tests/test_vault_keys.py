"""The vault's derived keys and sealed small files."""

from __future__ import annotations

import pytest

from docket.errors import VaultDamagedError
from docket.vault import envelope
from docket.vault.keys import BLOB, CATALOGUE, NAME, VaultKey


def test_each_purpose_gets_its_own_key_and_the_same_key_each_time() -> None:
    key = VaultKey.generate()
    derived = {purpose: key.derive(purpose) for purpose in (BLOB, NAME, CATALOGUE)}
    assert len(set(derived.values())) == 3
    assert all(len(value) == 32 for value in derived.values())
    assert VaultKey(key.master).derive(BLOB) == derived[BLOB]
    assert VaultKey.generate().derive(BLOB) != derived[BLOB]
    assert key.master.hex() not in repr(key)


def test_a_sealed_file_opens_only_unchanged_under_its_key_and_name() -> None:
    key = VaultKey.generate().derive("file")
    sealed = envelope.seal(key, b"SECRET-MARKER", b"keys/signing.key")
    assert b"SECRET-MARKER" not in sealed
    assert envelope.unseal(key, sealed, b"keys/signing.key", "x") == b"SECRET-MARKER"
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    damaged = [
        (key, bytes(flipped), b"keys/signing.key"),
        (key, sealed[:-1], b"keys/signing.key"),
        (key, sealed, b"keys/other"),
        (VaultKey.generate().derive("file"), sealed, b"keys/signing.key"),
        (key, b"DKV1", b"keys/signing.key"),
    ]
    for other_key, data, name in damaged:
        with pytest.raises(VaultDamagedError, match=r"^keys/signing\.key: "):
            envelope.unseal(other_key, data, name, "keys/signing.key")
