"""The unlock agent: a process that holds one vault's locker key in memory for a while, so a
working session types its passphrase once (`docket unlock --for 2h`, `docket lock`).

One agent per locker id, listening on a Unix socket <locker id>.sock (mode 0600) in a folder of
mode 0700 owned by the user: $XDG_RUNTIME_DIR/docket (when that folder exists), else
/tmp/docket-<uid>; a folder that is a symbolic link, someone else's, or open to others is
refused (and not asked). Every connection's peer is checked with SO_PEERCRED and one of
another uid gets nothing. The agent answers "key" with the 32 bytes
and "lock" by exiting; it exits by itself at its deadline, counted on CLOCK_BOOTTIME so that
time asleep counts. It is a double-forked daemon with no terminal, a fresh interpreter (so
its memory holds the key, not the passphrase `docket unlock` read), core dumps off, not
dumpable (no ptrace by the same user), its memory locked where the limit allows; the key is
never written to disk. Any process of the same user can ask it for the key, as with ssh-agent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import resource
import socket
import stat
import struct
import sys
import time
from pathlib import Path

from docket.errors import DocketError

KEY_BYTES = 32
_WAKE = 30.0  # seconds between checks of the deadline while no one asks
_PR_SET_DUMPABLE = 4
_MCL_CURRENT, _MCL_FUTURE = 1, 2


def runtime_dir() -> Path:
    """The agents' folder, made 0700 if missing; refused unless it is the user's own and
    closed to others."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        folder = Path(base) / "docket"
    else:
        folder = Path(f"/tmp/docket-{os.getuid()}")
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DocketError(
            f"{folder}: refused as the unlock agents' folder (it must be a folder of yours, "
            "mode 0700, not a link)"
        )
    return folder


def socket_path(locker_id: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", locker_id):
        raise DocketError(f"{locker_id!r}: not a locker id")
    return runtime_dir() / f"{locker_id}.sock"


def _ask(path: Path, request: bytes, answer_bytes: int) -> bytes | None:
    """The agent's answer, or None when no agent listens (no socket, or a dead one's) or it
    went away while asked (its time ran out)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        answer = b""
        try:
            conn.connect(str(path))
            conn.sendall(request + b"\n")
            while len(answer) < answer_bytes and (chunk := conn.recv(answer_bytes - len(answer))):
                answer += chunk
        except OSError:  # none there, a dead one's socket, gone mid-answer, a path too long
            return None
        return answer


def request_key(locker_id: str) -> bytes | None:
    """The key held by this locker's agent, or None when none runs, it refused us, or the
    agents' folder is not safe to ask in (`docket unlock` and `lock` say why)."""
    try:
        path = socket_path(locker_id)
    except DocketError:
        return None
    answer = _ask(path, b"key", KEY_BYTES)
    return answer if answer is not None and len(answer) == KEY_BYTES else None


def lock(locker_id: str) -> bool:
    """Tell this locker's agent to forget the key and exit; whether one was running. A socket
    left by an agent that died is removed."""
    path = socket_path(locker_id)
    answered = _ask(path, b"lock", 2) == b"ok"
    if not answered:
        path.unlink(missing_ok=True)
    return answered


def _boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def start(locker_id: str, key: bytes, seconds: float) -> None:
    """Start this locker's agent holding `key` for `seconds` (one already running is told to
    lock first). The socket listens before this returns, so the next command finds it."""
    lock(locker_id)
    path = socket_path(locker_id)
    path.unlink(missing_ok=True)  # an old agent still exiting then leaves our socket alone
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        listener.bind(str(path))
    except OSError as exc:
        listener.close()
        raise DocketError(f"{path}: cannot listen for the unlock agent ({exc})") from None
    finally:
        os.umask(old_mask)
    listener.listen(8)
    inode = path.stat().st_ino
    deadline = _boottime() + seconds
    key_in, key_out = os.pipe()
    child = os.fork()
    if child:
        listener.close()
        os.close(key_in)
        os.write(key_out, key)
        os.close(key_out)
        os.waitpid(child, 0)
        return
    try:  # the first child: a new session; the agent is a grandchild with no terminal
        os.setsid()
        if os.fork() == 0:
            # A fresh interpreter, so the agent's memory holds the key and not what this
            # process read (the passphrase); the key comes on its standard input.
            os.close(key_out)
            os.dup2(key_in, 0)
            listener.set_inheritable(True)
            argv = [str(listener.fileno()), repr(deadline), str(path), str(inode)]
            os.execv(sys.executable, [sys.executable, "-m", "docket.vault.agent", *argv])
    finally:
        os._exit(0)


def _run(argv: list[str]) -> None:
    """The agent process itself (`python -m docket.vault.agent`, started by `start`)."""
    listener = socket.socket(fileno=int(argv[0]))
    deadline, path, inode = float(argv[1]), Path(argv[2]), int(argv[3])
    key = b""
    while len(key) < KEY_BYTES and (chunk := os.read(0, KEY_BYTES - len(key))):
        key += chunk
    _become_daemon()
    if len(key) == KEY_BYTES:
        _serve(listener, key, deadline)
    with contextlib.suppress(OSError):
        if path.stat().st_ino == inode:
            path.unlink()


def _become_daemon() -> None:
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.mlockall(_MCL_CURRENT | _MCL_FUTURE)  # fails quietly past RLIMIT_MEMLOCK


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def _serve(listener: socket.socket, key: bytes, deadline: float) -> None:
    while (left := deadline - _boottime()) > 0:
        listener.settimeout(min(left, _WAKE))
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(5)
            try:
                if _peer_uid(conn) != os.getuid():
                    continue
                request = conn.recv(16).strip()
                if deadline - _boottime() <= 0:
                    return
                if request == b"key":
                    conn.sendall(key)
                elif request == b"lock":
                    conn.sendall(b"ok")
                    return
            except OSError:
                continue
    listener.close()


if __name__ == "__main__":
    _run(sys.argv[1:])
