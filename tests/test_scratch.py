"""No scratch outside the locker: temporary files live in the locker's tmp/, named after their
process, and those of processes that died are removed when a locker opens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import docket_command, photo, unshare_works

from docket.analyse.sandbox import run_worker
from docket.locker import Locker
from docket.store import scratch

STALLING_CLASSIFIER = """
import os, pathlib, time

def classify(blob, media_type):
    pathlib.Path(os.environ["STALL_READY"]).write_text("classifying")
    time.sleep(600)
"""


def wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    """Until `path` exists; fails if the process ends first (a deadline only against hangs)."""
    deadline = time.monotonic() + 300
    while not path.exists():
        assert process.poll() is None, process.communicate()[1].decode(errors="replace")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (entry.split(b"=", 1) for entry in raw.split(b"\0") if b"=" in entry)
    return {key.decode(): value.decode(errors="replace") for key, value in pairs}


def test_killed_runs_leave_scratch_folders_in_the_system_temporary_directory(
    tmp_path: Path,
) -> None:
    locker_path = tmp_path / "locker"
    Locker.create(locker_path).close()
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "stalling.py").write_text(STALLING_CLASSIFIER)
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [*docket_command(), "ingest", "--locker", str(locker_path), str(photo(tmp_path / "in"))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={
            **os.environ,
            "TMPDIR": str(system_tmp),
            "PYTHONPATH": os.pathsep.join([str(plugins), *sys.path]),
            "DOCKET_CLASSIFIER": "stalling:classify",
            "STALL_READY": str(ready),
        },
    )
    try:
        wait_for(ready, process)  # the last step is running: the item's previews are made
        parsers = children(process.pid)
        tmpdirs = {environment_of(child).get("TMPDIR", "") for child in parsers}
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.stderr is not None
        process.stderr.close()
    assert parsers, "the picture worker and ExifTool should be running"
    assert all(Path(t).parent == locker_path / "tmp" for t in tmpdirs), tmpdirs
    assert list(system_tmp.iterdir()) == []
    left = sorted(entry.name for entry in (locker_path / "tmp").iterdir())
    assert any(name.startswith(f"{scratch.owner(process.pid)}-classify-") for name in left), left
    assert any(name.startswith(f"{scratch.owner(process.pid)}-parsers-") for name in left), left
    assert all(name.startswith(f"{scratch.owner(process.pid)}-") for name in left), left

    Locker.open(locker_path).close()
    assert list((locker_path / "tmp").iterdir()) == []


WRITER = """
import sys
from pathlib import Path
from docket.store import FilesystemStore
FilesystemStore(Path(sys.argv[1])).put(sys.stdin.buffer)
"""


def test_clean_tmp_is_never_called_so_a_killed_write_keeps_its_part_file(
    tmp_path: Path,
) -> None:
    locker_path = tmp_path / "locker"
    Locker.create(locker_path).close()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(locker_path)], stdin=subprocess.PIPE
    )
    assert writer.stdin is not None
    writer.stdin.write(os.urandom(3 << 20))  # the bytes of an upload still arriving
    writer.stdin.flush()
    part = locker_path / "tmp"
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size >= 1 << 20 for p in part.glob("*.part")):
        assert time.monotonic() < deadline, "the writer never wrote"
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdin.close()
    [left] = list(part.iterdir())
    assert left.name.startswith(f"{scratch.owner(writer.pid)}-blob-") and left.name.endswith(
        ".part"
    )

    Locker.open(locker_path).close()
    assert list(part.iterdir()) == []


def test_opening_a_locker_never_removes_a_live_process_scratch(tmp_path: Path) -> None:
    locker_path = tmp_path / "locker"
    Locker.create(locker_path).close()
    tmp = locker_path / "tmp"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    live_owner, dead_owner = scratch.owner(live.pid), scratch.owner(dead.pid)
    try:
        (tmp / f"{live_owner}-upload-1").mkdir()
        (tmp / f"{live_owner}-upload-1" / "evidence.jpg").write_bytes(b"arriving")
        (tmp / f"{scratch.owner()}-blob-2.part").write_bytes(b"being written by this process")
        (tmp / f"{dead_owner}-keyframes-3").mkdir()
        (tmp / f"{dead_owner}-keyframes-3" / "00001.jpg").write_bytes(b"an unblurred frame")
        (tmp / f"{dead.pid}-blob-5.part").write_bytes(b"named before owners had a namespace")
        # Written a day before the live process started: its pid was reused, the owner died.
        reused = tmp / f"{live_owner}-blob-4.part"
        reused.write_bytes(b"left by an earlier process with the same id")
        day_before = time.time() - 86_400
        os.utime(reused, (day_before, day_before))
        (tmp / "not-ours.txt").write_bytes(b"no process id: never judged")

        Locker.open(locker_path).close()
        assert sorted(p.name for p in tmp.iterdir()) == sorted(
            [f"{live_owner}-upload-1", f"{scratch.owner()}-blob-2.part", "not-ours.txt"]
        )
        assert (tmp / f"{live_owner}-upload-1" / "evidence.jpg").read_bytes() == b"arriving"
        assert scratch.foreign(tmp) == []
    finally:
        live.kill()
        live.wait()


TEMPDIR_REPORTER = """
import json, sys, tempfile
sys.stdin.read()
print(json.dumps({"ok": True, "tmpdir": tempfile.gettempdir()}))
"""


def test_redaction_workers_keep_their_temporary_files_in_the_locker(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-shot worker (as the redaction worker runs) gets the step's scratch as TMPDIR."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "tempdir_reporter.py").write_text(TEMPDIR_REPORTER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugins), *sys.path]))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "system-tmp"))
    with locker.store.scratch("redact") as folder:
        answer = run_worker("tempdir_reporter", {}, 60, folder)
    assert answer["tmpdir"] == str(folder)
    assert folder.parent == locker.path / "tmp"
    assert folder.name.startswith(f"{scratch.owner()}-redact-")


IN_ITS_OWN_NAMESPACE = """
import os, sys
from pathlib import Path
from docket.store import scratch

tmp, ready, wanted = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
while True:  # ids in a new PID namespace count up from 1: the upload gets the id `wanted`
    child = os.fork()
    if child == 0:
        if os.getpid() < wanted:
            os._exit(0)
        upload = scratch.make_folder(tmp, "upload")
        (upload / "evidence.jpg").write_bytes(b"zq7 still arriving")
        ready.write_text(upload.name)
        sys.stdin.read()  # until the test lets it finish
        os._exit(0)
    os.waitpid(child, 0)
    if child >= wanted:
        break
"""


def test_a_process_in_another_pid_namespace_keeps_its_scratch(tmp_path: Path) -> None:
    """A container (here: a process in a PID namespace of its own, as `unshare` makes) streams
    an upload into a shared locker's tmp/ under a process id that is dead on this side. An
    open here must not take the upload for a dead process's; `docket gc` says it kept it."""
    if not unshare_works("--pid", "--fork", "--mount-proc"):
        pytest.skip("this machine cannot make a PID namespace (unshare --user --pid)")
    locker_path = tmp_path / "locker"
    Locker.create(locker_path).close()
    tmp, ready = locker_path / "tmp", tmp_path / "ready"
    wanted = next(n for n in range(300, 1 << 22) if not Path(f"/proc/{n}").exists())
    inside = subprocess.Popen(
        [
            "unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc",
            sys.executable, "-c", IN_ITS_OWN_NAMESPACE, str(tmp), str(ready), str(wanted),
        ],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert inside.stdin is not None
    try:
        wait_for(ready, inside)
        upload = tmp / ready.read_text()
        assert upload.name.startswith(f"{wanted}.")
        named_before = tmp / f"{wanted}-upload-before"  # the same id, named as before tags
        named_before.mkdir()
        assert not Path(f"/proc/{wanted}").exists(), "the id came to life here; run again"

        Locker.open(locker_path).close()
        assert not named_before.exists()  # judged by the id alone, as the upload was before
        assert (upload / "evidence.jpg").read_bytes() == b"zq7 still arriving"
        assert scratch.foreign(tmp) == [upload]
        gc = subprocess.run(
            [*docket_command(), "gc", "--locker", str(locker_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "1 entry in tmp/ of processes in another container" in gc.stdout, gc.stdout
        assert upload.exists()
    finally:
        inside.stdin.close()
        inside.wait(timeout=120)
        assert inside.stderr is not None
        inside.stderr.close()
    assert inside.returncode == 0
    Locker.open(locker_path).close()  # its owner is gone, but that cannot be told from here
    assert upload.exists()
