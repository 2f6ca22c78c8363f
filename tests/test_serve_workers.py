"""`docket serve --workers 2` as a real process on loopback, with a real locker: both workers
answer, a sign-in written through one is honoured by the other, sign-in throttles count the
guesses sent to either, new connections are spread across them, and SIGTERM to the parent
(or a worker's death) stops them all.

Which worker answers is made certain by a client kept alive on one connection that worker
accepted: made while the other worker is stopped (SIGSTOP), by trying new connections until
one is answered (the kernel hands each new connection to one worker's socket, by a hash of
its addresses; those it hands the stopped one go unanswered)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import PASSWORD, docket_command

from docket import accounts
from docket.locker import Locker
from docket.web import throttle
from docket.web import workers as workers_module

ON_SQLITE = pytest.mark.parametrize("backend", ["sqlite"])  # the locker the server opens
WAIT = 60.0  # seconds a start or a stop may take on a loaded machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


@contextmanager
def _only(answering: int, workers: list[int]) -> Iterator[None]:
    """Every worker but `answering` stopped, so that it takes every new connection."""
    others = [pid for pid in workers if pid != answering]
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)


def _pinned(base: str, answering: int, workers: list[int]) -> httpx.Client:
    """A client whose one kept-alive connection the worker `answering` accepted."""
    with _only(answering, workers):
        for _ in range(int(WAIT / 0.5)):
            client = httpx.Client(base_url=base, limits=_ONE_CONNECTION, timeout=0.5)
            try:
                client.get("/api/health").raise_for_status()
            except httpx.TransportError:
                client.close()
                continue
            client.timeout = httpx.Timeout(WAIT)
            return client
    raise AssertionError(f"worker {answering} never answered")


_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=1)


def _connections_of(pid: int, port: int) -> int:
    """How many established TCP connections to `port` the process `pid` holds."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                established.add(fields[9])  # its inode
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            held += target.startswith("socket:[") and target[8:-1] in established
    return held


def _until_up(base: str) -> None:
    for _ in range(int(WAIT / 0.5)):
        try:
            if httpx.get(f"{base}/api/health", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            continue
    raise AssertionError(f"{base} never answered")


@contextmanager
def _serving(locker: Locker) -> Iterator[tuple[subprocess.Popen[str], str, list[int]]]:
    port = _free_port()
    command = ["serve", "--no-replay", "--workers", "2", "--threads", "2", "--port", str(port)]
    server = subprocess.Popen(
        [*docket_command(), *command, "--locker", str(locker.path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    workers: list[int] = []
    try:
        for _ in range(int(WAIT / 0.1)):
            workers = _children(server.pid)
            if len(workers) == 2 or server.poll() is not None:
                break
            time.sleep(0.1)
        assert len(workers) == 2, server.stderr.read() if server.stderr else ""
        for pid in workers:
            with _only(pid, workers):
                _until_up(base)
        yield server, base, workers
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(WAIT)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        for pid in workers:  # nothing left behind, even by a failed test
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)


def _sign_in(client: httpx.Client, password: str) -> httpx.Response:
    return client.post("/login", data={"name": "ada", "password": password})


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


@ON_SQLITE
def test_two_workers_share_sign_ins_and_throttles_and_stop_together(locker: Locker) -> None:
    with locker.engine.begin() as conn:
        accounts.create_user(conn, "tester", "ada", PASSWORD, "admin")
    with _serving(locker) as (server, base, (first, second)):
        assert first != second  # two processes, each answering (_serving waited for both)
        via = {pid: _pinned(base, pid, [first, second]) for pid in (first, second)}
        signed_in = _sign_in(via[first], PASSWORD)
        assert signed_in.status_code == 303
        cookie = {"docket_session": signed_in.cookies["docket_session"]}
        # the session written by the first worker
        assert via[second].get("/api/cases", cookies=cookie).status_code == 200

        for answering, guesses in ((first, 3), (second, 2)):
            for n in range(guesses):
                assert _sign_in(via[answering], f"guess {n}").status_code == 401
        for answering in (first, second):  # each worker counts the five guesses
            listed = via[answering].get("/api/throttles", cookies=cookie).json()
            counted = {(e["name"], e["client"]): e["failures"] for e in listed}
            assert counted[("ada", "127.0.0.1")] == throttle.FREE_PER_ACCOUNT
            assert counted[(None, "127.0.0.1")] == throttle.FREE_PER_ACCOUNT

        # Every request above went over the two kept-alive connections, one in each worker.
        port = port_of(via[first])
        assert [_connections_of(pid, port) for pid in (first, second)] == [1, 1]
        for client in via.values():
            client.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(WAIT) == 0
        assert _gone(first) and _gone(second)


def port_of(client: httpx.Client) -> int:
    return int(client.base_url.port or 80)


@ON_SQLITE
def test_new_connections_are_spread_across_the_workers(locker: Locker) -> None:
    """Forty connections made at once go to the two workers in fair shares, by the kernel (a
    socket of each worker's own on the port, SO_REUSEPORT): made while both are stopped, and
    only the first let go on, it answers its share alone. From one shared socket it took all
    forty, leaving the other worker nothing (wrk's clients saw that: one busy core of two)."""
    with _serving(locker) as (_server, base, (first, second)):
        port = int(httpx.URL(base).port or 80)
        os.kill(first, signal.SIGSTOP)
        os.kill(second, signal.SIGSTOP)
        try:
            made = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
            for sock in made:
                sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            os.kill(first, signal.SIGCONT)
            by_first = _answered(made, within=WAIT, quiet=1.5)
        finally:
            os.kill(first, signal.SIGCONT)
            os.kill(second, signal.SIGCONT)
        try:
            assert 8 <= len(by_first) <= 32, len(by_first)  # P(outside) for a fair split: 1e-4
            by_second = _answered(made, within=WAIT, besides=by_first)
            assert len(by_first | by_second) == 40
        finally:
            for sock in made:
                sock.close()


def _answered(
    made: list[socket.socket],
    within: float,
    besides: set[int] = set(),  # noqa: B006
    quiet: float | None = None,
) -> set[int]:
    """The indexes of the sockets in `made` (but `besides`) answered within `within` seconds,
    or until none more is answered for `quiet` seconds after the first answer."""
    answered: set[int] = set()
    deadline = time.monotonic() + within
    waiting = {sock.fileno(): n for n, sock in enumerate(made) if n not in besides}
    while waiting and time.monotonic() < deadline:
        readable, _, _ = select.select(list(waiting), [], [], 0.2)
        for fileno in readable:
            if made[waiting[fileno]].recv(65536):
                answered.add(waiting.pop(fileno))
                if quiet is not None:
                    deadline = time.monotonic() + quiet
    return answered


@ON_SQLITE
def test_a_worker_that_dies_is_reported_and_stops_the_server(locker: Locker) -> None:
    with _serving(locker) as (server, _base, (first, second)):
        os.kill(first, signal.SIGKILL)
        assert server.wait(WAIT) == 1
        assert server.stderr is not None
        said = server.stderr.read()
        assert f"(pid {first}) was killed by SIGKILL; stopping the others" in said, said
        assert _gone(second)


def test_throttles_in_one_file_are_counted_by_every_process(tmp_path: Path) -> None:
    shared = tmp_path / "throttle.sqlite"
    one, other = throttle.Throttle(path=shared), throttle.Throttle(path=shared)
    for _ in range(throttle.FREE_PER_ACCOUNT):  # each try counted as it begins
        assert one.begin("ada", "192.0.2.7").wait == 0
    assert other.begin("ada", "192.0.2.7").wait > 0
    assert other.clear(name="ada", client="192.0.2.7") == 1
    good = one.begin("ada", "192.0.2.7")
    assert good.wait == 0
    other.succeeded("ada", "192.0.2.7", good)
    assert other.clear(client="192.0.2.7") == 1  # the client's own key stays till cleared


@ON_SQLITE
def test_workers_die_with_their_parent(locker: Locker) -> None:
    """A parent killed outright (no chance to stop them) takes its workers with it."""
    with _serving(locker) as (server, _base, workers):
        server.kill()
        server.wait(WAIT)
        for _ in range(int(WAIT / 0.1)):
            if all(_gone(pid) for pid in workers):
                break
            time.sleep(0.1)
        assert all(_gone(pid) for pid in workers)
    ram = Path("/dev/shm")
    place = ram if ram.is_dir() else Path(tempfile.gettempdir())
    left = list(place.glob(f"docket-serve-{server.pid}-*"))
    assert left  # the folder the workers shared, which the parent had no time to remove...
    with workers_module.shared_folder():
        assert not any(folder.exists() for folder in left)  # ...the next server removes


def test_a_port_in_use_is_refused_in_one_line(cli: Any, locker: Locker) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        said = cli("serve", "--workers", "2", "--port", port, "--locker", locker.path)
    assert said.code != 0 and f"127.0.0.1:{port}: cannot listen there" in said.err, said.err
