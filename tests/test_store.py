"""The blob store: write-once, content-addressed, durable before visible, streaming."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docket.store import FilesystemStore
from docket.store.filesystem import SizeLimitExceeded


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore.create(tmp_path / "store")


def test_put_names_a_blob_by_its_sha256(store: FilesystemStore) -> None:
    stored = store.put(io.BytesIO(b"evidence"))
    assert stored.digest.sha256 == hashlib.sha256(b"evidence").hexdigest()
    assert stored.digest.sha512 == hashlib.sha512(b"evidence").hexdigest()
    assert stored.new and stored.head == b"evidence"
    path = store.path(stored.digest.sha256)
    assert path.parent.name == stored.digest.sha256[:2]
    assert path.read_bytes() == b"evidence"
    assert path.stat().st_mode & 0o777 == 0o444


def test_second_put_of_the_same_bytes_leaves_the_first_untouched(store: FilesystemStore) -> None:
    first = store.put(io.BytesIO(b"same"))
    inode = store.path(first.digest.sha256).stat().st_ino
    second = store.put(io.BytesIO(b"same"))
    assert not second.new
    assert store.path(first.digest.sha256).stat().st_ino == inode
    assert list(store.tmp.iterdir()) == []


def test_limit_discards_the_partial_write(store: FilesystemStore) -> None:
    with pytest.raises(SizeLimitExceeded):
        store.put(io.BytesIO(b"x" * 5000), limit=4096)
    assert list(store.tmp.iterdir()) == [] and list(store.digests()) == []


def test_clean_tmp_removes_only_dead_writers_parts(store: FilesystemStore) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (store.tmp / f"{dead}-abc.part").write_bytes(b"half")
    (store.tmp / f"{os.getpid()}-def.part").write_bytes(b"in progress")
    assert store.clean_tmp() == 1
    assert [p.name for p in store.tmp.iterdir()] == [f"{os.getpid()}-def.part"]


def test_four_gigabyte_file_streams_in_flat_memory(tmp_path: Path) -> None:
    """Peak RSS of a whole `docket ingest` of a 4 GiB file stays far under 300 MB."""
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:  # sparse: costs no disk to make, 4 GiB to read
        handle.truncate(4 << 30)
    locker = tmp_path / "locker"
    script = (
        "import resource, sys\n"
        "from docket.cli import main\n"
        f"code = main(['init', {str(locker)!r}]) or main(['ingest', '--locker', {str(locker)!r},"
        f" '--json', {str(big)!r}])\n"
        # VmHWM, not getrusage: a forked child's ru_maxrss starts at its parent's peak.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('MAXRSS', hwm.split()[1])\n"
        "print('CHILDREN', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=1200, check=True
    )
    peak_kib = int(done.stdout.split("MAXRSS", 1)[1].split()[0])
    children_kib = int(done.stdout.split("CHILDREN", 1)[1].split()[0])
    print(
        f"peak RSS ingesting 4 GiB: {peak_kib / 1024:.0f} MiB (helper processes, an upper "
        f"bound as they start from a fork: {children_kib / 1024:.0f} MiB)"
    )
    assert peak_kib < 300 * 1024
    assert children_kib < 300 * 1024
    assert '"status": "new"' in done.stdout and '"size": 4294967296' in done.stdout
