"""A vault's blob store: objects/ab/cdef... on a local file system, every blob encrypted.

A blob is filed under its keyed name, HMAC-SHA256(the locker key's NAME key, its raw
SHA-256), so the folder does not tell which known files are held; callers still name blobs
by their SHA-256 and never see a keyed name. The bytes are sealed as sealed_stream.py says
(per-blob data key wrapped in a header that also holds the SHA-256, then AES-256-GCM
segments). A blob becomes visible only once it is durable, as in the folder store: sealed
into tmp/ while the plaintext is hashed, its header written at offset 0 once the SHA-256 and
so the keyed name are known, fsynced, hard-linked into objects/ (never replacing a file),
the folder fsynced; blobs are read-only.

Plaintext never touches the disk. Readers get a decrypting, seekable stream (`open`); a
parser that needs a real file gets a decrypted copy in this user's private folder on the
memory-backed /dev/shm (`plain_file`), removed when the block ends; scratch folders are
there too (see scratch.py). The plain SHA-256s of the blobs held (`digests`, `sizes`) come
from their headers, each decrypted with the BLOB key: the store needs no list of its own.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from docket.errors import DiskFullError, VaultDamagedError, is_disk_full
from docket.regular_files import open_regular
from docket.store import scratch
from docket.store.filesystem import BlobDigest, StoredBlob, fsync_dir, hash_stream, publish
from docket.store.sealed_stream import HEADER_BYTES, plain_size
from docket.store.sealing import Sealing, plain_copy
from docket.vault.keys import VaultKey


class VaultStore:
    protected_as = "read-only, encrypted"

    def __init__(self, root: Path, key: VaultKey) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self._sealing = Sealing(key)

    @classmethod
    def create(cls, root: Path, key: VaultKey) -> VaultStore:
        store = cls(root, key)
        store.objects.mkdir(parents=True)
        store.tmp.mkdir()
        fsync_dir(root)
        return store

    def keyed_name(self, sha256: str) -> str:
        return self._sealing.keyed_name(sha256)

    def path(self, sha256: str) -> Path:
        """The file holding the blob as stored: its ciphertext, never the plaintext."""
        name = self.keyed_name(sha256)
        return self.objects / name[:2] / name[2:]

    def _label(self, sha256: str) -> str:
        return f"blob {sha256} ({self.path(sha256)})"

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, stream: IO[bytes], limit: int | None = None, label: str = "a file") -> StoredBlob:
        """Seal `stream` into the store; returns once the blob is durable. A full disk or
        quota is a DiskFullError naming `label`, as in the folder store."""
        try:
            tmp_path, sealed = self._sealing.seal_into(self.tmp, stream, limit)
            new = publish(tmp_path, self.path(sealed.digest.sha256), self.objects)
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"locker disk full while storing {label} ({self.root}: {exc.strerror})"
                ) from exc
            raise
        return StoredBlob(sealed.digest, sealed.head, new)

    def open(self, sha256: str) -> BinaryIO:
        """The blob's plaintext, decrypted and authenticated a segment at a time; seekable.
        A blob that does not authenticate is a VaultDamagedError naming it."""
        file = open_regular(self.path(sha256))  # a FIFO or link in its place: refused
        return self._sealing.reader(file, sha256, self._label(sha256))

    @contextlib.contextmanager
    def plain_file(self, sha256: str) -> Iterator[Path]:
        """A decrypted copy of the blob, in memory only (a private folder on /dev/shm),
        read-only, for the length of a block; removed after it, whatever happens."""
        with plain_copy(self.open(sha256), self.scratch("plain")) as target:
            yield target

    def shown_path(self, sha256: str) -> str | None:
        """None: no file of a vault shows a blob (`plain_file` makes a passing copy)."""
        return None

    def size(self, sha256: str) -> int:
        """The plaintext size, from the sealed file's size (nothing is decrypted)."""
        sealed = self.path(sha256).stat().st_size
        size = plain_size(sealed)
        if size is None:
            raise VaultDamagedError(
                f"{self._label(sha256)}: cut short or lengthened ({sealed} bytes is no "
                "sealed blob's size)"
            )
        return size

    def modified(self, sha256: str) -> float:
        """When the blob was last written or arrived again (seconds since the epoch)."""
        return self.path(sha256).stat().st_mtime

    def hash_blob(self, sha256: str) -> BlobDigest:
        """The digests of the decrypted blob; a VaultDamagedError if any part of it does not
        authenticate."""
        with self.open(sha256) as stream:
            return hash_stream(stream)

    def _files(self) -> Iterator[tuple[str, str]]:
        """Every file under objects/: its keyed name and its path."""
        try:
            prefixes = sorted(
                (entry.name, entry.path) for entry in os.scandir(self.objects) if entry.is_dir()
            )
        except FileNotFoundError:
            return
        for prefix, folder in prefixes:
            for rest in sorted(os.listdir(folder)):
                yield prefix + rest, os.path.join(folder, rest)

    def _plain_name(self, keyed: str, path: str) -> str | None:
        """The SHA-256 a held file's header names (None: gone, or its header is damaged,
        which `protection` reports)."""
        try:
            with open_regular(path) as file:
                raw = file.read(HEADER_BYTES)
            return self._sealing.header_name(raw, keyed, path)
        except (OSError, ValueError, VaultDamagedError):
            return None

    def digests(self) -> Iterator[str]:
        """The SHA-256 of every blob present whose header authenticates (from its header)."""
        for keyed, path in self._files():
            name = self._plain_name(keyed, path)
            if name is not None:
                yield name

    def sizes(self) -> dict[str, int]:
        """The plaintext size of every blob present (plain files only), by SHA-256; a file of
        a size no sealed blob has counts as -1, so `verify` finds it differs."""
        found = {}
        for keyed, path in self._files():
            with contextlib.suppress(FileNotFoundError):  # removed by `gc` meanwhile
                info = os.stat(path)
                name = self._plain_name(keyed, path)
                if name is not None and stat.S_ISREG(info.st_mode):
                    size = plain_size(info.st_size)
                    found[name] = -1 if size is None else size
        return found

    def protection(self) -> Iterator[tuple[str, str | None]]:
        """Each blob's name (its keyed name when its header does not authenticate), and why
        it is not a read-only blob of this vault (None when it is)."""
        for keyed, path in self._files():
            mode = os.lstat(path).st_mode
            name = self._plain_name(keyed, path)
            if name is None:
                yield (
                    keyed,
                    f"{path}: its header does not authenticate (changed, damaged, another "
                    "blob's moved into its place, or not this vault's)",
                )
            elif mode & 0o222 or not stat.S_ISREG(mode):
                yield (
                    name,
                    (
                        f"is writable or not a plain file (mode {stat.S_IMODE(mode):04o}); blobs "
                        "are kept read-only (chmod 444)"
                    ),
                )
            else:
                yield name, None

    def retained_until(self, sha256: str) -> datetime.datetime | None:
        """A folder has no retention: a stray can always be removed."""
        return None

    def remove_stray(self, sha256: str) -> None:
        """Remove a blob no record references (`docket gc --delete` decides which)."""
        target = self.path(sha256)
        target.unlink(missing_ok=True)
        fsync_dir(target.parent)

    @property
    def scratch_root(self) -> Path:
        """Where scratch folders and parsers' temporary files go: memory only (scratch.py)."""
        return scratch.memory_root()

    def scratch(self, purpose: str) -> contextlib.AbstractContextManager[Path]:
        """A private working folder in memory for the length of a block (see scratch.py)."""
        return scratch.folder(self.scratch_root, purpose)

    def clean_tmp(self) -> int:
        """Remove partial writes (ciphertext) in tmp/ and the memory-backed scratch and
        decrypted copies of processes that died; none was acknowledged."""
        return scratch.clean(self.tmp) + scratch.clean_memory()

    def abort_unfinished(self) -> int:
        """A folder has no uploads in flight: a partial write is a file in tmp/ (`clean_tmp`)."""
        return 0


def sealed_files(root: Path) -> Iterator[tuple[str, str | None]]:
    """Without the key (a locked vault): each file under the locker `root`'s objects/ and
    why it cannot be a protected sealed blob: writable, not a plain file, or of a size no
    sealed blob has (None: it may be one; its header and content need the key)."""
    for file in sorted((root / "objects").glob("*/*")):
        info = file.lstat()
        subject = f"blob file {file.relative_to(root)}"
        if info.st_mode & 0o222 or not stat.S_ISREG(info.st_mode):
            yield subject, f"is writable or not a plain file (mode {info.st_mode:o})"
        elif plain_size(info.st_size) is None:
            yield subject, f"cut short or lengthened ({info.st_size} bytes)"
        else:
            yield subject, None
