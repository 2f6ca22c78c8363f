"""A vault's blobs copied as they lie sealed: byte for byte, under their keyed names.

A copy of a vault is the same vault, so its blob files are the source's files as they are:
nothing is decrypted to copy them and nothing decrypted is written anywhere. Each copied
file is proven before it is filed, as a plain copy's blob is proven against its name: its
header authenticates under the vault's BLOB key with the keyed name it is filed under, the
SHA-256 it names has that keyed name, and every segment authenticates and the plaintext,
hashed in memory as it is read back, has that SHA-256 (docs/reference/vault-blob-format.md).
So a damaged or foreign file in the source is never copied, and the copy holds only what
this vault's key sealed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from io import BufferedReader

from docket.errors import CopyError, VaultDamagedError
from docket.store.sealed_stream import HEADER_BYTES, SEGMENT, SealedReader, read_header
from docket.vault.keys import BLOB, NAME, VaultKey


class SealedBlobs:
    """The blob files of one vault (by its locker key): names, raw reads and proofs."""

    def __init__(self, key: VaultKey) -> None:
        self.key = key
        self._blob_key = key.derive(BLOB)
        self._name_key = key.derive(NAME)

    def keyed(self, sha256: str) -> str:
        """The keyed name a blob of this SHA-256 is filed under (store/vault.py)."""
        return hmac.new(self._name_key, bytes.fromhex(sha256), "sha256").hexdigest()

    def prove(self, keyed: str, part: str) -> None:
        """Refuse (CopyError) the written file `part` unless it is this vault's blob filed
        under `keyed`, whole and unchanged."""
        label = f"blob file {keyed[:2]}/{keyed[2:]}"
        try:
            with open(part, "rb", buffering=0) as file:
                header = read_header(
                    self._blob_key, file.read(HEADER_BYTES), bytes.fromhex(keyed), label
                )
                if self.keyed(header.sha256) != keyed:
                    raise VaultDamagedError(f"{label}: its header names another blob")
                reader = SealedReader(file, header, os.fstat(file.fileno()).st_size, label)
                digest = hashlib.sha256()
                with BufferedReader(reader, buffer_size=SEGMENT) as plain:
                    while chunk := plain.read(SEGMENT):
                        digest.update(chunk)
        except VaultDamagedError as exc:
            raise CopyError(f"{exc}; not copied (run `docket verify` where it came from)") from exc
        if digest.hexdigest() != header.sha256:
            raise CopyError(
                f"{label}: its contents do not hash to the SHA-256 its header names; not "
                "copied (run `docket verify` where it came from)"
            )
