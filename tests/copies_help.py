"""Helpers for the tests of copies (test_copies*.py): items made of synthetic photos, copies
made and checked, a blob damaged as a fault would damage it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import photo, take

from docket.copies.audit import audit
from docket.copies.destination import Folder
from docket.copies.replicate import replicate
from docket.custody import log
from docket.locker import Locker
from docket.verify import verify


def filled(locker: Locker, folder: Path, *seeds: int) -> list[str]:
    """Items made of synthetic photos, one per seed; their SHA-256s."""
    found = []
    for seed in seeds:
        outcome = take(locker, photo(folder / f"in{seed}", f"photo-{seed}.jpg", seed))
        sha256 = outcome.outcomes[0].sha256
        assert sha256 is not None
        found.append(sha256)
    return found


def copy_of(locker: Locker, dest: Path, private_key: bool = False) -> Path:
    replicate(locker, Folder(dest), "tester", private_key=private_key)
    return dest


def verified(path: Path) -> list[str]:
    """The problems `verify` finds in the locker or copy at `path` (empty: it passes)."""
    with Locker.open(path, writable=False) as opened:
        return [str(problem) for problem in verify(opened).problems]


def differences(locker: Locker, *copies: Path, deep: bool = True) -> list[str]:
    return [str(p) for p in audit(locker.path, list(copies), deep=deep).problems]


def blob(path: Path, sha256: str) -> Path:
    return path / "objects" / sha256[:2] / sha256[2:]


def link_and_folder(path: Path, items: list[str]) -> tuple[Path, Path]:
    """The blobs of items[0] and items[1] at `path` swapped for a dangling link and a folder."""
    linked, folder = blob(path, items[0]), blob(path, items[1])
    for made in (linked, folder):
        made.chmod(0o644)
        made.unlink()
    linked.symlink_to("/nonexistent/zq9-gone")
    folder.mkdir()
    return linked, folder


def flip_byte(file: Path, offset: int = 100) -> None:
    file.chmod(0o644)
    data = bytearray(file.read_bytes())
    data[offset] ^= 0x01
    file.write_bytes(bytes(data))
    file.chmod(0o444)


def events(path: Path, action: str) -> list[dict[str, Any]]:
    with Locker.open(path, writable=False) as opened, opened.engine.connect() as conn:
        return [dict(e.details) for e in log.events(conn) if e.action == action]


def sqlite_only(locker: Locker) -> None:
    if locker.engine.dialect.name != "sqlite":
        pytest.skip("a fault in the locker's SQLite catalogue file")


@contextmanager
def older_catalogue_put_back(locker: Locker, tmp_path: Path) -> Iterator[None]:
    """The locker's SQLite catalogue as it is now is put back over it when the block ends
    (an older backup restored, a lost WAL): whatever the block recorded is its lost tail."""
    sqlite_only(locker)
    locker.close()
    saved = tmp_path / "saved.sqlite"
    shutil.copyfile(locker.path / "catalogue.sqlite", saved)
    yield
    locker.close()
    for suffix in ("-wal", "-shm"):
        (locker.path / f"catalogue.sqlite{suffix}").unlink(missing_ok=True)
    shutil.copyfile(saved, locker.path / "catalogue.sqlite")
