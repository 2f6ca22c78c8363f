"""A vault's keyed names and sealed files: the layer its folder store (vault.py) and its
bucket store (vault_s3.py) share.

Callers name a blob by its SHA-256; a vault files it under its keyed name, HMAC-SHA256(the
locker key's NAME key, the raw SHA-256), so no name tells which known file is held. A sealed
file (sealed_stream.py) is written whole into tmp/ and made durable before anyone sees it:
segments while the plaintext is hashed, then the header (which binds the keyed name) at
offset 0, then fsync. Reading authenticates the header against the keyed name the file was
found under and the SHA-256 asked for, then every segment as it is read: nothing that does
not authenticate is ever returned, and every failure is a VaultDamagedError naming the file.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from io import BufferedReader
from pathlib import Path
from typing import IO, BinaryIO, cast

from docket.errors import VaultDamagedError
from docket.store import scratch
from docket.store.sealed_stream import (
    HEADER_BYTES,
    SEGMENT,
    Sealed,
    SealedReader,
    make_header,
    read_header,
    seal,
)
from docket.vault.keys import BLOB, NAME, VaultKey


class Sealing:
    """Names and seals blobs under one vault's locker key."""

    def __init__(self, key: VaultKey) -> None:
        self._blob_key = key.derive(BLOB)
        self._name_key = key.derive(NAME)

    def keyed_name(self, sha256: str) -> str:
        return hmac.new(self._name_key, bytes.fromhex(sha256), "sha256").hexdigest()

    def seal_into(self, tmp: Path, stream: IO[bytes], limit: int | None) -> tuple[Path, Sealed]:
        """Seal `stream` into a new private file in `tmp`, durable when this returns; the
        caller publishes or removes it. On any error the partial file is removed."""
        path = tmp / f"{scratch.name('blob')}.part"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            sealed = seal(stream, fd, limit)
            keyed = bytes.fromhex(self.keyed_name(sealed.digest.sha256))
            os.pwrite(fd, make_header(self._blob_key, sealed.header, keyed), 0)
            os.fsync(fd)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        return path, sealed

    def header_name(self, raw: bytes, keyed: str, label: str) -> str:
        """The SHA-256 the header `raw` of a file filed under `keyed` names."""
        return read_header(self._blob_key, raw, bytes.fromhex(keyed), label).sha256

    def reader(self, file: IO[bytes], sha256: str, label: str) -> BinaryIO:
        """The plaintext of the sealed `file` (unbuffered, at offset 0), which must be the
        blob `sha256` sealed by this vault; seekable. The reader closes `file`, which is
        closed here too if it does not authenticate."""
        try:
            keyed = bytes.fromhex(self.keyed_name(sha256))
            header = read_header(self._blob_key, file.read(HEADER_BYTES), keyed, label)
            if header.sha256 != sha256:
                raise VaultDamagedError(f"{label}: its header names another blob")
            reader = SealedReader(file, header, os.fstat(file.fileno()).st_size, label)
        except BaseException:
            file.close()
            raise
        return cast(BinaryIO, BufferedReader(reader, buffer_size=SEGMENT))


@contextlib.contextmanager
def plain_copy(plain: BinaryIO, folder: AbstractContextManager[Path]) -> Iterator[Path]:
    """The decrypted stream `plain` as a read-only file in the scratch `folder` (in memory),
    for the length of a block; removed after it, whatever happens."""
    with plain, folder as where:
        target = where / "blob"
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(plain, out, SEGMENT)
        yield target
