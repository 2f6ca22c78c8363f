"""kill -9 during a vault store's put: nothing half-written is ever visible under objects/,
the partial file in tmp/ is ciphertext only, and the next open of the store removes it."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from docket.store import VaultStore
from docket.store.sealed_stream import HEADER_BYTES, SEGMENT, TAG
from docket.vault.keys import VaultKey

PUT = """
import sys
from pathlib import Path
from docket.store import VaultStore
from docket.vault.keys import VaultKey
VaultStore(Path(sys.argv[1]), VaultKey(bytes.fromhex(sys.argv[2]))).put(sys.stdin.buffer)
"""
WAIT = 60.0  # for the child to reach the point where it is killed (a loaded machine)


def _start(store: VaultStore, key: VaultKey) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", PUT, str(store.root), key.master.hex()], stdin=subprocess.PIPE
    )


def _parts(store: VaultStore) -> list[Path]:
    return sorted(store.tmp.glob("*.part"))


def _wait_for_part(store: VaultStore, size: int) -> Path:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for part in _parts(store):
            if part.stat().st_size >= size:
                return part
        time.sleep(0.02)
    raise AssertionError(f"no partial write of {size} bytes appeared in {store.tmp}")


def test_kill_mid_put_leaves_nothing_visible_and_is_cleaned(tmp_path: Path) -> None:
    key = VaultKey.generate()
    store = VaultStore.create(tmp_path / "locker", key)
    data = random.Random(3).randbytes(SEGMENT * 5 // 2)
    child = _start(store, key)
    assert child.stdin is not None
    child.stdin.write(data)  # not closed: the put waits for the rest, mid-way
    child.stdin.flush()
    part = _wait_for_part(store, HEADER_BYTES + SEGMENT + TAG)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert [p for p in store.objects.rglob("*") if not p.is_dir()] == []
    held = part.read_bytes()
    runs = {data[i : i + 64] for i in range(0, len(data) - 64, 997)}
    assert not any(run in held for run in runs)
    assert VaultStore(store.root, key).clean_tmp() >= 1
    assert _parts(store) == [] and list(store.digests()) == []


def test_kill_at_random_points_leaves_whole_blobs_or_none(tmp_path: Path) -> None:
    key = VaultKey.generate()
    store = VaultStore.create(tmp_path / "locker", key)
    rng = random.Random(int(os.environ.get("DOCKET_VAULT_CRASH_SEED", "17")))
    for run in range(4):
        data = rng.randbytes(rng.randrange(1, 3 * SEGMENT))
        child = _start(store, key)
        assert child.stdin is not None
        cut = rng.randrange(len(data) + 1)
        child.stdin.write(data[:cut])
        if cut == len(data) and run % 2:
            child.stdin.close()  # let it finish, or be killed while publishing
        else:
            child.stdin.flush()
        time.sleep(rng.random() * 0.2)  # a random moment of its work, not a timing check
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        for sha256 in store.digests():
            assert store.hash_blob(sha256).sha256 == sha256  # every visible blob is whole
    files = [p for p in store.objects.rglob("*") if not p.is_dir()]
    assert len(files) == len(set(store.digests()))  # no file that is not a whole blob
    VaultStore(store.root, key).clean_tmp()
    assert _parts(store) == []


HOLD = """
import sys, time
from pathlib import Path
from docket.store import VaultStore
from docket.vault.keys import VaultKey
store = VaultStore(Path(sys.argv[1]), VaultKey(bytes.fromhex(sys.argv[2])))
with store.plain_file(sys.argv[3]) as path:
    print(path, flush=True)
    time.sleep(600)
"""


def test_a_decrypted_copy_of_a_killed_process_is_removed_at_the_next_open(tmp_path: Path) -> None:
    key = VaultKey.generate()
    store = VaultStore.create(tmp_path / "locker", key)
    data = random.Random(4).randbytes(SEGMENT + 1)
    sha256 = store.put(io.BytesIO(data)).digest.sha256
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store.root), key.master.hex(), sha256],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    copy = Path(child.stdout.readline().decode().strip())
    assert copy.read_bytes() == data and copy.is_relative_to(Path("/dev/shm"))
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert copy.exists()  # nothing ran at its death
    assert VaultStore(store.root, key).clean_tmp() >= 1
    assert not copy.exists() and not copy.parent.exists()
