"""A vault blob's bytes at rest: a header, then the plaintext in authenticated segments.

Nothing here is new cryptography: the segments are the STREAM construction (Hoang,
Reyhanitabar, Rogaway, Vizár 2015, "Online Authenticated-Encryption and its Nonce-Reuse
Misuse-Resistance"), as age and Tink use it, over AES-256-GCM from `cryptography`. The exact
byte layout is in docs/reference/vault-blob-format.md:

    header (HEADER_BYTES): MAGIC | VERSION | nonce prefix (7) | wrap nonce (12) |
        AES-256-GCM(blob key, wrap nonce, data key (32) | SHA-256 (32),
                    associated data = MAGIC | VERSION | nonce prefix | keyed name (32))
    segment i: AES-256-GCM(data key, nonce prefix | i (4, big-endian) | last (1), plaintext)

Each blob has its own random data key, so a nonce never repeats under a key. The header binds
the blob's keyed name, so a blob moved into another's place fails at its header; each
segment's nonce binds its place and whether it is the last, so a truncated blob fails at its
last segment, an appended one at the segment that was last, and a changed byte at its
segment. Every failure is a VaultDamagedError naming the blob; nothing unauthenticated is
returned. The plaintext size follows from the file's size alone (`plain_size`).
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from docket.errors import VaultDamagedError
from docket.store.filesystem import HEAD, BlobDigest, SizeLimitExceeded

MAGIC = b"DKVB"
VERSION = 1
SEGMENT = 1 << 20  # plaintext bytes per segment (the last may hold fewer, never none but alone)
TAG = 16
PREFIX_BYTES = 7
_WRAP_NONCE_BYTES = 12
_KEY_BYTES = 32
_WRAPPED_BYTES = _KEY_BYTES + 32 + TAG
HEADER_BYTES = len(MAGIC) + 1 + PREFIX_BYTES + _WRAP_NONCE_BYTES + _WRAPPED_BYTES  # 104
_HASHER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="docket-vault-sha512")


@dataclass(frozen=True)
class Header:
    data_key: bytes
    prefix: bytes
    sha256: str


def plain_size(sealed: int) -> int | None:
    """The plaintext size of a sealed blob of `sealed` bytes; None for a size no blob has
    (cut inside its header or a segment's tag, or an empty segment after a full one)."""
    body = sealed - HEADER_BYTES
    if body < TAG:
        return None
    full, rest = divmod(body, SEGMENT + TAG)
    if rest == 0:
        return full * SEGMENT
    if rest < TAG or (rest == TAG and full > 0):
        return None
    return full * SEGMENT + rest - TAG


def sealed_size(size: int) -> int:
    """The size of the sealed blob of a plaintext of `size` bytes (`plain_size`'s inverse)."""
    return HEADER_BYTES + size + segments(size) * TAG


def segments(size: int) -> int:
    """How many segments a plaintext of `size` bytes is sealed in (an empty one: one)."""
    return max(1, -(-size // SEGMENT))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _associated(prefix: bytes, keyed_name: bytes) -> bytes:
    return MAGIC + bytes([VERSION]) + prefix + keyed_name


def make_header(blob_key: bytes, header: Header, keyed_name: bytes) -> bytes:
    wrap_nonce = secrets.token_bytes(_WRAP_NONCE_BYTES)
    wrapped = AESGCM(blob_key).encrypt(
        wrap_nonce,
        header.data_key + bytes.fromhex(header.sha256),
        _associated(header.prefix, keyed_name),
    )
    return MAGIC + bytes([VERSION]) + header.prefix + wrap_nonce + wrapped


def read_header(blob_key: bytes, raw: bytes, keyed_name: bytes, label: str) -> Header:
    """The header of a sealed blob filed under `keyed_name`; `label` names it in errors."""
    if len(raw) < HEADER_BYTES or not raw.startswith(MAGIC):
        raise VaultDamagedError(f"{label}: not a vault blob, or cut short in its header")
    if raw[len(MAGIC)] != VERSION:
        raise VaultDamagedError(f"{label}: vault blob format {raw[len(MAGIC)]} is not known")
    start = len(MAGIC) + 1
    prefix = raw[start : start + PREFIX_BYTES]
    wrap_nonce = raw[start + PREFIX_BYTES : start + PREFIX_BYTES + _WRAP_NONCE_BYTES]
    try:
        inner = AESGCM(blob_key).decrypt(
            wrap_nonce,
            raw[start + PREFIX_BYTES + _WRAP_NONCE_BYTES : HEADER_BYTES],
            _associated(prefix, keyed_name),
        )
    except InvalidTag:
        raise VaultDamagedError(
            f"{label}: its header does not authenticate (changed, damaged, another blob's "
            "moved into its place, or not this vault's)"
        ) from None
    return Header(inner[:_KEY_BYTES], prefix, inner[_KEY_BYTES:].hex())


@dataclass(frozen=True)
class Sealed:
    digest: BlobDigest
    head: bytes
    header: Header


def seal(stream: IO[bytes], fd: int, limit: int | None = None) -> Sealed:
    """Encrypt `stream` into the empty file `fd` (segments from HEADER_BYTES on), hashing the
    plaintext as it goes; the caller writes the header (`make_header`) once the SHA-256 is
    known. SHA-512 runs on a second thread while this one hashes, encrypts and writes, and
    two fixed buffers are read into in turn, so memory stays flat for any size."""
    data_key = AESGCM.generate_key(bit_length=256)
    prefix = secrets.token_bytes(PREFIX_BYTES)
    cipher = AESGCM(data_key)
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    buffers = (bytearray(SEGMENT), bytearray(SEGMENT))
    out = bytearray(SEGMENT + TAG)
    pending: Future[None] | None = None
    head = b""
    size = index = turn = 0
    os.lseek(fd, HEADER_BYTES, os.SEEK_SET)
    try:
        count = _fill(stream, buffers[0])
        while True:
            if pending is not None:
                pending.result()  # it reads the buffer filled next
            ahead = _fill(stream, buffers[turn ^ 1]) if count == SEGMENT else 0
            chunk = memoryview(buffers[turn])[:count]
            size += count
            if limit is not None and size > limit:
                raise SizeLimitExceeded(f"expands past the limit of {limit} bytes")
            if len(head) < HEAD:
                head += bytes(chunk[: HEAD - len(head)])
            pending = _HASHER.submit(sha512.update, chunk)
            sha256.update(chunk)
            sealed = memoryview(out)[: count + TAG]
            cipher.encrypt_into(_nonce(prefix, index, ahead == 0), chunk, None, sealed)
            while sealed:
                sealed = sealed[os.write(fd, sealed) :]
            if ahead == 0:
                break
            count, turn, index = ahead, turn ^ 1, index + 1
        pending.result()
    except BaseException:
        if pending is not None:
            pending.result()
        raise
    digest = BlobDigest(sha256.hexdigest(), sha512.hexdigest(), size)
    return Sealed(digest, head, Header(data_key, prefix, digest.sha256))


def _fill(stream: IO[bytes], buffer: bytearray) -> int:
    """Read into `buffer` until it is full or the stream ends (a pipe gives short reads)."""
    view, filled = memoryview(buffer), 0
    while filled < len(buffer):
        count = stream.readinto(view[filled:])  # type: ignore[attr-defined]
        if not count:
            break
        filled += count
    return filled


class SealedReader(io.RawIOBase):
    """The plaintext of a sealed blob, decrypted a segment at a time; seekable. Every
    segment read is authenticated before any byte of it is returned."""

    def __init__(self, file: IO[bytes], header: Header, sealed_size: int, label: str) -> None:
        size = plain_size(sealed_size)
        if size is None:
            file.close()
            raise VaultDamagedError(
                f"{label}: cut short or lengthened ({sealed_size} bytes is no sealed blob's size)"
            )
        self._file = file
        self._cipher = AESGCM(header.data_key)
        self._prefix = header.prefix
        self._label = label
        self._size = size
        self._count = segments(size)
        self._position = 0
        self._index = -1  # which segment `_plain` holds
        self._plain = bytearray(SEGMENT)
        self._plain_len = 0
        self._sealed = bytearray(SEGMENT + TAG)

    @property
    def plain_size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"{self._label}: negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._position >= self._size:
            return 0
        index, within = divmod(self._position, SEGMENT)
        if index != self._index:
            self._decrypt(index)
        count = min(len(buffer), self._plain_len - within)
        buffer[:count] = memoryview(self._plain)[within : within + count]
        self._position += count
        return count

    def _decrypt(self, index: int) -> None:
        last = index == self._count - 1
        length = (self._size - index * SEGMENT if last else SEGMENT) + TAG
        sealed = memoryview(self._sealed)[:length]
        self._file.seek(HEADER_BYTES + index * (SEGMENT + TAG))
        got = self._file.readinto(sealed)  # type: ignore[attr-defined]
        self._index = -1
        if got != length:
            raise VaultDamagedError(f"{self._label}: cut short in segment {index + 1}")
        try:
            self._cipher.decrypt_into(
                _nonce(self._prefix, index, last),
                sealed,
                None,
                memoryview(self._plain)[: length - TAG],
            )
        except InvalidTag:
            raise VaultDamagedError(
                f"{self._label}: segment {index + 1} of {self._count} does not authenticate "
                "(changed, damaged, cut short or lengthened)"
            ) from None
        self._index, self._plain_len = index, length - TAG

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()
