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
from conftest import docket_command, photo

from docket.analyse.sandbox import run_worker
from docket.locker import Locker

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
    assert any(name.startswith(f"{process.pid}-classify-") for name in left), left
    assert any(name.startswith(f"{process.pid}-parsers-") for name in left), left
    assert all(name.startswith(f"{process.pid}-") for name in left), left

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
    assert left.name.startswith(f"{writer.pid}-blob-") and left.name.endswith(".part")

    Locker.open(locker_path).close()
    assert list(part.iterdir()) == []


def test_opening_a_locker_never_removes_a_live_process_scratch(tmp_path: Path) -> None:
    locker_path = tmp_path / "locker"
    Locker.create(locker_path).close()
    tmp = locker_path / "tmp"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        (tmp / f"{live.pid}-upload-1").mkdir()
        (tmp / f"{live.pid}-upload-1" / "evidence.jpg").write_bytes(b"arriving")
        (tmp / f"{os.getpid()}-blob-2.part").write_bytes(b"being written by this process")
        (tmp / f"{dead.pid}-keyframes-3").mkdir()
        (tmp / f"{dead.pid}-keyframes-3" / "00001.jpg").write_bytes(b"an unblurred frame")
        # Written a day before the live process started: its pid was reused, the owner died.
        reused = tmp / f"{live.pid}-blob-4.part"
        reused.write_bytes(b"left by an earlier process with the same id")
        day_before = time.time() - 86_400
        os.utime(reused, (day_before, day_before))
        (tmp / "not-ours.txt").write_bytes(b"no process id: never judged")

        Locker.open(locker_path).close()
        assert sorted(p.name for p in tmp.iterdir()) == sorted(
            [f"{live.pid}-upload-1", f"{os.getpid()}-blob-2.part", "not-ours.txt"]
        )
        assert (tmp / f"{live.pid}-upload-1" / "evidence.jpg").read_bytes() == b"arriving"
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
    assert folder.name.startswith(f"{os.getpid()}-redact-")
