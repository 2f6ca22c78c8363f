"""`docket serve --workers N`: N processes answer on one port (pre-fork).

The parent binds a listening socket per worker on the one port (SO_REUSEPORT, so the kernel
spreads new connections evenly: `listening_sockets`) and forks the workers; each opens the
locker itself after the fork (an engine or SQLite connection carried across a fork is shared
by two processes that each believe they own it) and runs its own uvicorn server on its own
inherited socket, closing the others'.

What the workers must agree on is not in any one worker's memory: sessions, tokens, CSRF
tokens and every write are in the catalogue; reveal tickets are HMACs any worker checks
(web/tickets.py); sign-in throttles are in a file all of them share (web/throttle.py), kept
in the private folder this module makes (in RAM, /dev/shm, where there is one) and removes.
Each worker keeps its own caches (web/tiles.py's groups, checked against the log's size), and
its own memory of the admin entries it logged (web/admin_log.py): with N workers an admin's
entry into a case may be logged up to N times in one sign-in, never fewer than once.

The parent only watches. SIGINT or SIGTERM stops every worker (SIGKILL for one still alive
after GRACE seconds). A worker that dies on its own is reported in one line, the others are
stopped and the parent exits with status 1: nothing restarts it, since a worker that died at
start-up or on a request would likely die again, and the supervisor of the service (systemd,
a container) sees the exit. A worker whose parent dies is killed with it (Linux): without
its parent nothing would ever stop it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from docket.errors import DocketError

_PREFIX = "docket-serve-"
GRACE = 30.0  # seconds a worker has to finish its requests once told to stop
_PR_SET_PDEATHSIG = 1


class _Stop(Exception):
    """The parent was told to stop (SIGINT or SIGTERM)."""


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets on the one port, one per worker, bound by the parent (SO_REUSEPORT).

    The kernel spreads new connections across them evenly. One socket shared by every worker
    gave each new connection to whichever worker's event loop woke first, and that loop took
    every connection waiting: 20 clients connecting at once mostly landed on one worker, and
    kept-alive connections stay where they land (bench/web.py: 160 to 260 requests/s from
    run to run with two workers; 260 once spread). A port in use by anything else, another
    server of ours included, is refused: the first bind is tried without SO_REUSEPORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _bind(probe, host, port)
        port = probe.getsockname()[1]  # the one the system chose, for port 0
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            _bind(sock, host, port)
            sock.listen(2048)
            sock.set_inheritable(True)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind(sock: socket.socket, host: str, port: int) -> None:
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise DocketError(f"{host}:{port}: cannot listen there ({exc.strerror})") from exc


@contextmanager
def shared_folder() -> Iterator[Path]:
    """A folder only this server's user can read, for state the workers share; removed at the
    end (in RAM where /dev/shm exists: sign-in throttles name accounts and addresses). Its
    name holds the parent's pid, so that the folders of servers that were killed outright,
    whose parent never removed them, are removed by the next server."""
    ram = Path("/dev/shm")
    place = ram if ram.is_dir() else Path(tempfile.gettempdir())
    for left in place.glob(f"{_PREFIX}*-*"):
        if not _alive(left.name.removeprefix(_PREFIX).split("-", 1)[0]):
            shutil.rmtree(left, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=place))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: str) -> bool:
    """Whether the process numbered `pid` runs (a folder of someone else's process is not
    ours to remove either)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    return True


def run(workers: int, serve: Callable[[int], None], theirs: Sequence[socket.socket] = ()) -> int:
    """Fork `workers` processes, each running `serve(its index)` until told to stop; the exit
    status for the parent (0 when stopped by a signal, 1 when a worker died on its own). The
    parent closes `theirs` (the workers' listening sockets) once all are forked: a socket whose
    worker died is then closed, and the kernel stops handing it connections."""
    children: dict[int, int] = {}  # pid -> index

    def stop(_signum: int, _frame: object) -> None:
        raise _Stop

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        for index in range(workers):
            pid = os.fork()
            if pid == 0:
                _child(index, serve)
            children[pid] = index
        for sock in theirs:
            sock.close()
        pid, code = os.wait()
        index = children.pop(pid)
        print(
            f"docket serve: worker {index} (pid {pid}) {_ended(code)}; stopping the others",
            file=sys.stderr,
            flush=True,
        )
        status = 1
    except _Stop:
        pass
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        _stop_all(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _child(index: int, serve: Callable[[int], None]) -> None:
    """A worker's life after the fork: it never returns into the parent's code."""
    code = 0
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own
        if sys.platform == "linux":
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        serve(index)
    except BaseException:  # whatever ended the worker is reported before it exits
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _ended(code: int) -> str:
    if os.WIFSIGNALED(code):
        return f"was killed by {signal.Signals(os.WTERMSIG(code)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(code)}"


def _stop_all(children: dict[int, int]) -> None:
    """SIGTERM to every worker left, SIGKILL to those alive after GRACE; all reaped."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while children:
        for pid in list(children):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                del children[pid]
        if children and time.monotonic() > deadline:
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for pid in children:
                os.waitpid(pid, 0)
            children.clear()
        if children:
            time.sleep(0.05)
