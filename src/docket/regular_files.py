"""Opening a file to read only when it is a regular file: a FIFO in its place never hangs the
reader (O_NONBLOCK) and a link in its place is never followed (O_NOFOLLOW). Inputs are opened
so (a swap between the walk and the read), and so are blobs: a FIFO or a link to /dev/zero put
in a blob's place hung `replicate` and `audit-copies`, or filled a copy's disk with zeros."""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from docket.errors import DocketError

_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
    stat.S_IFLNK: "a symbolic link",
}


def kind_of(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


class NotRegularFile(OSError, DocketError):
    """Something other than a regular file where one was to be read: an OSError to those who
    read files (ingest refuses the input, a copy names the blob), one line for anyone else."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def open_regular(path: str | bytes | os.PathLike[str], buffered: bool = False) -> BinaryIO:
    """`path` open to read, when it is a regular file itself (not a link to one); else
    NotRegularFile naming what it is (a link: ELOOP, as O_NOFOLLOW answers)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFile(
                errno.ELOOP, "a symbolic link, not a regular file", os.fsdecode(path)
            ) from exc
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(
                errno.EINVAL, f"{kind_of(mode)}, not a regular file", os.fsdecode(path)
            )
        # O_NONBLOCK has no effect on a regular file's reads: it is left set (one system call
        # fewer for every blob a copy opens).
        return os.fdopen(fd, "rb", buffering=-1 if buffered else 0)
    except BaseException:
        os.close(fd)
        raise
