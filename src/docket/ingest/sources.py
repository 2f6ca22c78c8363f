"""Walking the inputs of an ingest: what can be read, and why the rest is refused.

Paths are handled as bytes from end to end so that names which are not UTF-8 are kept exactly.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from docket.regular_files import kind_of, open_regular


@dataclass(frozen=True)
class FileInput:
    """A regular file to preserve: `raw_path` as the user's input named it, `open_path` to read."""

    raw_path: bytes
    open_path: bytes
    size: int
    mtime: float


@dataclass(frozen=True)
class Refusal:
    raw_path: bytes
    reason: str


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _inside(path: bytes, root: bytes) -> bool:
    return path == root or path.startswith(root.rstrip(b"/") + b"/")


def _file(raw_path: bytes, root: bytes) -> FileInput | Refusal:
    try:
        info = os.lstat(raw_path)
        open_path = raw_path
        if stat.S_ISLNK(info.st_mode):
            open_path = os.path.realpath(raw_path)
            if not _inside(open_path, root):
                return Refusal(raw_path, "symbolic link leads outside the input folder")
            info = os.stat(open_path)
    except OSError as exc:
        return Refusal(raw_path, f"cannot read: {_reason(exc)}")
    if not stat.S_ISREG(info.st_mode):
        return Refusal(raw_path, f"{kind_of(info.st_mode)}, not a regular file")
    return FileInput(raw_path, open_path, info.st_size, info.st_mtime)


def _folder(top: bytes) -> Iterator[FileInput | Refusal]:
    root = os.path.realpath(top)
    errors: list[OSError] = []
    for folder, dirs, files in os.walk(top, followlinks=False, onerror=errors.append):
        dirs.sort()
        for name in list(dirs):
            path = os.path.join(folder, name)
            if os.path.islink(path):
                dirs.remove(name)
                yield Refusal(path, "symbolic link to a folder, not followed")
        for name in sorted(files):
            yield _file(os.path.join(folder, name), root)
        while errors:
            failed = errors.pop()
            yield Refusal(os.fsencode(failed.filename or top), f"cannot read: {_reason(failed)}")


def walk(paths: Iterable[bytes]) -> Iterator[FileInput | Refusal]:
    """Every file under the given paths, in a stable order; folders are walked recursively."""
    for path in paths:
        try:
            info = os.stat(path)  # the user named this path: a symlink given here is followed
        except OSError as exc:
            yield Refusal(path, f"cannot read: {_reason(exc)}")
            continue
        if stat.S_ISDIR(info.st_mode):
            yield from _folder(path)
        else:
            yield _file(path, os.path.realpath(path))


def open_input(entry: FileInput) -> BinaryIO:
    """Open without following a swap to a link, FIFO or device (docket.regular_files)."""
    return open_regular(entry.open_path)
