"""A vault served by the web app: what a browser uploads, and the packages it downloads, are
worked on in memory only (the store's scratch), never in the clear on the locker's disk."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import PASSWORD, sign_in
from fastapi.testclient import TestClient
from media import jpeg, sample

from docket import accounts
from docket.locker import Locker
from docket.store import scratch
from docket.web import uploads
from docket.web.app import create_app

# Paths opened for writing while a test watches (an audit hook cannot be removed, so it
# records only while `_WATCHING` holds a list).
_WATCHING: list[list[str]] = []


def _record_writes(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _WATCHING or not isinstance(args[0], str | bytes | Path):
        return
    mode, flags = args[1], args[2]
    by_mode = isinstance(mode, str) and any(c in mode for c in "wax+")
    by_flags = isinstance(flags, int) and flags & 0o3 != 0  # O_WRONLY or O_RDWR
    if by_mode or by_flags:
        name = args[0]
        _WATCHING[-1].append(
            name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        )


sys.addaudithook(_record_writes)


@contextmanager
def writes() -> Iterator[list[str]]:
    seen: list[str] = []
    _WATCHING.append(seen)
    try:
        yield seen
    finally:
        _WATCHING.remove(seen)


def test_uploads_and_web_exports_of_a_vault_stay_in_memory(tmp_path: Path) -> None:
    vault = Locker.create(tmp_path / "vault", actor="setup", vault_passphrase="a long passphrase")
    with vault.engine.begin() as conn:
        accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
    client = TestClient(create_app(vault))
    csrf = sign_in(client, "ada")
    created = client.post("/cases", data={"csrf": csrf, "name": "North"}, follow_redirects=False)
    assert created.status_code in (200, 303), created.text
    case_id = client.get("/api/cases").json()[0]["id"]
    memory = scratch.memory_root()
    with writes() as written:
        answer = client.post(
            f"/cases/{case_id}/upload",
            data={"csrf": csrf},
            files=[("files", ("night.jpg", jpeg(sample("rocket")), "image/jpeg"))],
        )
        assert answer.status_code == 200, answer.text
        package = client.post(f"/cases/{case_id}/export", data={"csrf": csrf, "profile": "court"})
        assert package.status_code == 200 and package.content[:2] == b"PK", package.text[:200]
    uploaded = [w for w in written if "-web-upload-" in w]
    exported = [w for w in written if "-web-export-" in w]
    assert uploaded and exported  # the watch saw the upload's file and the package being made
    assert all(Path(w).is_relative_to(memory) for w in uploaded + exported)
    on_disk = [Path(w) for w in written if Path(w).is_relative_to(vault.path)]
    assert on_disk  # sealed blobs' partial writes (ciphertext: tests/test_vault_store.py)
    # Public by design: checkpoints, and the acknowledged arrivals' sequence numbers and leaf
    # hashes (custody/acknowledged.py), with the file that replaces the latter's.
    public = {vault.path / "checkpoints.log", vault.path / "acknowledged.log"}
    assert all(
        p.name.endswith(".part") or p in public or p.name.startswith(".acknowledged.log.")
        for p in on_disk
    ), on_disk
    vault.close()


def test_a_plain_lockers_uploads_stay_in_its_tmp(locker: Locker) -> None:
    with uploads.scratch(locker, "upload") as folder:
        assert folder.parent == locker.path / "tmp"
    assert not folder.exists()
