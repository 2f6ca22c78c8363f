"""Re-hashing on a thread pool (docket.rehash): the answers of a serial re-hash, in order."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import take
from sqlalchemy import select

from docket import rehash
from docket.catalogue import schema
from docket.locker import Locker
from docket.store import FilesystemStore
from docket.verify import verify


def filled_store(root: Path, count: int) -> tuple[FilesystemStore, list[str]]:
    """Blobs of very different sizes, the largest first, so threads finish out of order."""
    store = FilesystemStore.create(root)
    rng = random.Random(16)
    sizes = sorted((rng.choice([0, 1, 70_000, 3 << 20]) for _ in range(count)), reverse=True)
    names = [
        store.put(io.BytesIO(rng.randbytes(size) + bytes([i]))).digest.sha256
        for i, size in enumerate(sizes)
    ]
    return store, names


def test_digests_come_in_the_order_asked(tmp_path: Path) -> None:
    store, names = filled_store(tmp_path / "store", 40)  # more than the window of 4 threads
    names.reverse()  # the smallest asked first, the largest last, and then back again
    for order in (names, names[::-1]):
        found = list(rehash.digests(store, order, threads=4))
        assert found == [store.hash_blob(name) for name in order]
        assert [digest.sha256 for digest in found if digest is not None] == order


def test_a_blob_removed_after_it_was_listed_is_none_in_its_place(tmp_path: Path) -> None:
    store, names = filled_store(tmp_path / "store", 12)
    gone = store.path(names[5])
    os.chmod(gone.parent, 0o755)
    gone.unlink()
    found = list(rehash.digests(store, names, threads=2))
    assert found[5] is None
    assert [d.sha256 for d in found if d is not None] == names[:5] + names[6:]


def test_verify_reports_a_blob_removed_while_it_runs(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store listed it, then it went before its re-hash: a problem, not a traceback."""
    (tmp_path / "in.bin").write_bytes(b"x" * 5000)
    take(locker, tmp_path / "in.bin")
    [sha256] = list(locker.store.digests())
    listed = locker.store.digests

    def listed_then_removed() -> Iterator[str]:
        yield from listed()
        blob = locker.store.path(sha256)
        os.chmod(blob.parent, 0o755)
        blob.unlink(missing_ok=True)

    monkeypatch.setattr(locker.store, "digests", listed_then_removed)
    problems = [str(p) for p in verify(locker).problems]
    assert problems == [f"item {sha256[:16]}: blob is missing from the store"]


def test_verify_names_every_changed_blob_among_many(locker: Locker, tmp_path: Path) -> None:
    rng = random.Random(7)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(30):
        (folder / f"f{i:02}.bin").write_bytes(rng.randbytes(rng.choice([10, 200_000])))
    take(locker, folder)
    with locker.engine.connect() as conn:
        order = list(conn.execute(select(schema.items.c.sha256)).scalars())
    changed = [order[3], order[17], order[29]]
    for sha256 in changed:
        blob = locker.store.path(sha256)
        os.chmod(blob, 0o644)
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0x01
        blob.write_bytes(bytes(data))
        os.chmod(blob, 0o444)
    runs = [[p.subject for p in verify(locker).problems] for _ in range(3)]
    assert sorted(runs[0]) == sorted(f"item {sha256[:16]}" for sha256 in changed)
    assert runs[1] == runs[0] and runs[2] == runs[0]
