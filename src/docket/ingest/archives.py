"""Zip archives: each member becomes an item, within limits that stop zip bombs.

Members are streamed from the stored copy of the archive straight into the store; nothing is
ever extracted to a path, so a member name cannot write anywhere. Names that would escape a
folder (zip slip) are still refused, because a receiver who extracts the package would be hit.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from docket.ingest.sources import Refusal


@dataclass(frozen=True)
class ArchiveLimits:
    total_bytes: int = 64 << 30
    member_bytes: int = 16 << 30
    ratio: float = 200.0
    ratio_floor: int = 16 << 20
    members: int = 100_000


@dataclass(frozen=True)
class Member:
    info: zipfile.ZipInfo
    raw_name: bytes


class ArchiveError(Exception):
    """The archive itself cannot be expanded (it stays preserved as one item)."""


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


def _refusal_reason(info: zipfile.ZipInfo, total: int, limits: ArchiveLimits) -> str | None:
    if escapes(info.filename):
        return "path escapes the archive (zip slip)"
    if info.flag_bits & 0x1:
        return "encrypted member, not read"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link inside the archive, not followed"
    if info.file_size > limits.member_bytes:
        return f"expands to {info.file_size} bytes, over the limit of {limits.member_bytes}"
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > limits.ratio_floor and ratio > limits.ratio:
        return f"compression ratio {ratio:.0f}:1 looks like a zip bomb"
    if total + info.file_size > limits.total_bytes:
        return f"archive expands past the limit of {limits.total_bytes} bytes"
    return None


def members(
    archive: zipfile.ZipFile, archive_name: bytes, limits: ArchiveLimits
) -> Iterator[Member | Refusal]:
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if len(infos) > limits.members:
        raise ArchiveError(f"holds {len(infos)} members, over the limit of {limits.members}")
    total = 0
    for info in infos:
        raw = _raw_name(info)
        reason = _refusal_reason(info, total, limits)
        if reason is not None:
            yield Refusal(archive_name + b"!/" + raw, reason)
            continue
        total += info.file_size
        yield Member(info, raw)


def open_archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveError(f"cannot be read as a zip archive ({exc})") from exc
