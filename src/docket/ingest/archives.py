"""Zip archives: each member becomes an item, within limits that stop zip bombs.

Members are streamed from the stored copy of the archive straight into the store; nothing is
ever extracted to a path, so a member name cannot write anywhere. Names that would escape a
folder (zip slip) are still refused, because a receiver who extracts the package would be hit.

Limits apply to every member, however small, and run across the whole archive:
- a member expands to at most `ratio` times its compressed size, and to `member_bytes`;
- the archive as a whole expands to at most `ratio` times its own size on disk (members that
  share compressed data, as in overlapping-file bombs, are caught here) and to `total_bytes`;
- at most `members` members.
The sizes a zip declares only let a member be refused before any work; the limits are then
enforced on the bytes actually produced while streaming (a member that lies about its size is
stopped at its allowance, and what it produced counts towards the archive's total). A member
past a limit is refused with its reason; the rest of the batch goes on.

Nested archives are held, not expanded: a zip inside a zip is kept as one item (its outcome
says it was not expanded), so ratios never multiply (42.zip) and its members stay preserved in
its bytes; an investigator can ingest it on its own, within the same limits.
"""

from __future__ import annotations

import io
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from docket.errors import RefusedInputError
from docket.ingest.sources import Refusal

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

ZIP = "application/zip"
NOT_EXPANDED = (
    "an archive inside an archive: held, not expanded (ingest it on its own to expand it)"
)


@dataclass(frozen=True)
class ArchiveLimits:
    total_bytes: int = 64 << 30
    member_bytes: int = 16 << 30
    ratio: float = 200.0
    members: int = 100_000


class ArchiveError(Exception):
    """The archive itself cannot be expanded (it stays preserved as one item)."""


class MemberRefused(RefusedInputError):
    """A member went past a limit while it was streamed; nothing of it was stored."""


class _Expansion:
    """The running account of one archive's expansion: what it may still produce."""

    def __init__(self, archive: zipfile.ZipFile, archive_size: int, limits: ArchiveLimits):
        self.archive = archive
        self.limits = limits
        self.by_ratio = int(limits.ratio * max(archive_size, 1))
        self.expanded = 0

    def allowance(self, info: zipfile.ZipInfo) -> tuple[int, str]:
        """How many bytes this member may produce, and the reason to give past that."""
        limits = self.limits
        choices = [
            (
                int(limits.ratio * max(info.compress_size, 1)),
                f"expands more than {limits.ratio:.0f} times its compressed size "
                f"({info.compress_size} bytes): looks like a zip bomb",
            ),
            (limits.member_bytes, f"expands past the limit of {limits.member_bytes} bytes"),
            (
                self.by_ratio - self.expanded,
                f"the archive would expand more than {limits.ratio:.0f} times its own size "
                f"({self.by_ratio} bytes): looks like a zip bomb",
            ),
            (
                limits.total_bytes - self.expanded,
                f"archive expands past the limit of {limits.total_bytes} bytes",
            ),
        ]
        return min(choices, key=lambda choice: choice[0])


class _Limited(io.RawIOBase):
    """A member's stream that stops at its allowance, counting into the archive's total."""

    def __init__(self, stream: IO[bytes], expansion: _Expansion, info: zipfile.ZipInfo) -> None:
        super().__init__()
        self.stream = stream
        self.expansion = expansion
        self.left, self.reason = expansion.allowance(info)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        # Ask for at most one byte past the allowance: a bomb never gets to expand further.
        view = memoryview(buffer).cast("B")[: max(self.left, 0) + 1]
        try:
            count: int = self.stream.readinto(view)  # type: ignore[attr-defined]
        except (zlib.error, lzma.LZMAError) as exc:  # neither is an OSError, unlike bz2's
            raise MemberRefused(f"member cannot be read: damaged compressed data ({exc})") from exc
        self.left -= count
        self.expansion.expanded += count
        if self.left < 0:
            raise MemberRefused(self.reason)
        return count


@dataclass(frozen=True)
class Member:
    info: zipfile.ZipInfo
    raw_name: bytes
    _expansion: _Expansion

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        """The member's bytes, stopped with MemberRefused at the first byte past a limit."""
        with self._expansion.archive.open(self.info) as stream:
            yield io.BufferedReader(_Limited(stream, self._expansion, self.info))


def _raw_name(info: zipfile.ZipInfo) -> bytes:
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    try:
        return info.filename.encode(encoding)
    except UnicodeEncodeError:
        return info.filename.encode("utf-8", errors="surrogateescape")


def escapes(name: str) -> bool:
    """True when a member name is absolute, has a drive, or climbs out with '..'."""
    parts = name.replace("\\", "/").split("/")
    return (
        name.startswith(("/", "\\"))
        or (len(name) > 1 and name[1] == ":")
        or any(part == ".." for part in parts)
    )


def _refusal_reason(info: zipfile.ZipInfo, expansion: _Expansion) -> str | None:
    if escapes(info.filename):
        return "path escapes the archive (zip slip)"
    if info.flag_bits & 0x1:
        return "encrypted member, not read"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link inside the archive, not followed"
    allowance, reason = expansion.allowance(info)
    if info.file_size > allowance:  # refused before any work; streaming checks again
        return reason
    return None


def members(
    archive: zipfile.ZipFile, archive_name: bytes, limits: ArchiveLimits
) -> Iterator[Member | Refusal]:
    """Each member to take (open it with `Member.open`, in turn) or its refusal."""
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if len(infos) > limits.members:
        raise ArchiveError(f"holds {len(infos)} members, over the limit of {limits.members}")
    assert archive.fp is not None
    expansion = _Expansion(archive, _size_of(archive.fp), limits)
    for info in infos:
        raw = _raw_name(info)
        reason = _refusal_reason(info, expansion)
        if reason is not None:
            yield Refusal(archive_name + b"!/" + raw, reason)
        else:
            yield Member(info, raw, expansion)


def _size_of(stream: IO[bytes]) -> int:
    """The archive's size in bytes: a file's, or a seekable stream's (a vault blob's
    decrypting reader has no file descriptor)."""
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
        return stream.seek(0, os.SEEK_END)


def nested_note(media_type: str, in_archive: bool) -> str | None:
    """What an outcome says of an archive found inside an archive (it is not expanded)."""
    return NOT_EXPANDED if in_archive and media_type == ZIP else None


def open_archive(path: os.PathLike[str] | str | IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveError(f"cannot be read as a zip archive ({exc})") from exc
