"""Scratch space inside the locker: tmp/<pid>.<namespace>-<purpose>-<random>, never the
system's /tmp.

Partial blob writes, the working folders of analysis and redaction steps, and whatever the
parsers they start write (their TMPDIR points into the same folder) all live under the
locker's own tmp/, so an unblurred thumbnail, keyframe or upload never lands outside it.
Each entry's name begins with its owner: the id of the process that made it, and a tag of the
machine and PID namespace that id means something in (`namespace_tag`). When a locker opens,
`clean` removes the entries of processes that are gone; a live process's entries are never
touched. A process id reused by a newer process does not keep an entry alive: a process that
started after the entry was last changed cannot be its owner (Linux: /proc/<pid>/stat).

Only entries of this PID namespace are judged. Two containers, or two machines, that share a
locker folder see different processes behind the same ids: a worker container restarted while
the web container streams an upload would otherwise take the upload's part file for a dead
process's and remove it. Another namespace's entries are kept (`foreign` lists them, and
`docket gc` counts them): from here it cannot be told whether their owners still run, and
only a process of their own namespace removes them. Entries named before tags (the id alone)
are judged by the id, as they were.
`no_room` tells a full disk apart from a bad file when a parser fails to write its scratch.

A vault's scratch (and its decrypted copies for parsers) is never on disk: it lives under
`memory_root`, this user's private 0700 folder on the memory-backed /dev/shm, named and
cleaned the same way (a locker's open removes the entries of dead processes there too).
Memory-backed is not swap-proof: on a machine with unencrypted swap, pages can reach it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import socket
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from docket.errors import DocketError

# Start times come from whole seconds of boot time; never judge a process closer than this.
_CLOCK_SLACK = 2.0
MEMORY = Path("/dev/shm")


def machine() -> str:
    """This machine and PID namespace, readable: host name, boot and the namespace's inode.
    Processes share it exactly when their process ids mean the same thing: containers may
    share a host name, and the first namespace has the same inode on every machine, but the
    boot id differs between machines and the inode between a machine's namespaces."""
    host = re.sub(r"[^A-Za-z0-9._-]+", "_", socket.gethostname()) or "host"
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # no /proc (not Linux): the host name alone
        return host
    return f"{host}-{re.sub(r'[^A-Za-z0-9]+', '', boot)[:12]}-{namespace}"


@functools.cache
def namespace_tag() -> str:
    """`machine()` as 12 hex digits, short and free of the '-' that ends an owner in a name
    (a process's namespace never changes; a forked child shares its parent's)."""
    return hashlib.sha256(machine().encode()).hexdigest()[:12]


def owner(pid: int | None = None) -> str:
    """How a scratch name names its owner: this process (or process `pid` of this namespace)."""
    return f"{os.getpid() if pid is None else pid}.{namespace_tag()}"


def name(purpose: str) -> str:
    """A fresh scratch name owned by this process."""
    return f"{owner()}-{purpose}-{uuid.uuid4().hex}"


def make_folder(tmp: Path, purpose: str) -> Path:
    """A new private folder under `tmp`, owned by this process; the caller removes it."""
    folder = tmp / name(purpose)
    folder.mkdir(mode=0o700)
    return folder


@contextlib.contextmanager
def folder(tmp: Path, purpose: str) -> Iterator[Path]:
    """A private folder under `tmp` for the length of a block, removed after it."""
    made = make_folder(tmp, purpose)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def memory_root() -> Path:
    """This user's private folder on /dev/shm (made if need be), refused unless it is a
    folder of this user that no one else can read: another user could read or plant there."""
    root = MEMORY / f"docket-{os.getuid()}"
    try:
        with contextlib.suppress(FileExistsError):
            root.mkdir(mode=0o700)
        info = root.lstat()
    except OSError as exc:
        raise DocketError(
            f"{root}: cannot be made ({exc.strerror}); a vault keeps its decrypted copies "
            "only in memory (/dev/shm)"
        ) from exc
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DocketError(
            f"{root}: is not a private folder of this user (mode 0700); a vault's decrypted "
            "copies are kept only there"
        )
    return root


def no_room(path: Path) -> bool:
    """Whether the disk holding `path` is (all but) full: less than 1 MiB left, less than
    SQLite needs to open a catalogue or a parser needs to write one thumbnail."""
    space = os.statvfs(path)
    return space.f_bavail * space.f_frsize < 1 << 20


def environment(folder: Path) -> dict[str, str]:
    """The environment for a child process whose temporary files must stay in `folder`."""
    return {**os.environ, "TMPDIR": str(folder), "TMP": str(folder), "TEMP": str(folder)}


def clean(tmp: Path) -> int:
    """Remove the entries of `tmp` whose owning process is gone; returns how many.
    Entries not named by a process id of this namespace are not ours to judge and stay."""
    removed = 0
    try:
        entries = sorted(tmp.iterdir())
    except OSError:
        return 0  # no tmp/ or not readable: nothing of ours to clean
    for entry in entries:
        try:
            if owner_alive(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue  # its owner finished with it meanwhile
        except OSError:
            continue  # a read-only copy of a locker: left for a writable open
        removed += 1
    return removed


def clean_memory() -> int:
    """`clean` this user's private memory folder (a vault's scratch and decrypted copies);
    0 when there is none, as nothing of ours can be in it then."""
    try:
        return clean(memory_root())
    except DocketError:
        return 0


def foreign(tmp: Path) -> list[Path]:
    """The entries of `tmp` owned by processes of another PID namespace (another container
    or machine), which `clean` leaves; none when there is no `tmp`."""
    try:
        entries = sorted(tmp.iterdir())
    except OSError:
        return []
    return [entry for entry in entries if _owner_of(entry) == (True, False)]


def owner_alive(entry: Path) -> bool:
    """Whether the process that made `entry` (named by its id) may still be using it; an
    entry not named by a process id of this namespace is not ours to judge, and counts as in
    use."""
    named, here = _owner_of(entry)
    if not (named and here):
        return True
    pid = int(entry.name.split("-", 1)[0].split(".", 1)[0])
    return _owner_alive(pid, entry.lstat().st_mtime)


def _owner_of(entry: Path) -> tuple[bool, bool]:
    """Whether `entry` is named by a process id, and whether that id is one of this namespace
    (true also of names made before tags, the id alone, which are judged as they were)."""
    pid, dot, tag = entry.name.split("-", 1)[0].partition(".")
    named = pid.isascii() and pid.isdigit()
    return named, named and (not dot or tag == namespace_tag())


def _owner_alive(pid: int, changed: float) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    started = _start_time(pid)
    return started is None or started <= changed + _CLOCK_SLACK


def _start_time(pid: int) -> float | None:
    """When a process started, in seconds since the epoch (None where /proc cannot say)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError, IndexError):
        return None
    # Field 22 (starttime, in clock ticks since boot) counts from the end of the command name,
    # which is in parentheses and may itself hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
