"""Limits before work: zip members, however small, never expand past the archive's limits."""

from __future__ import annotations

import errno
import json
import os
import random
import struct
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import photo, take
from sqlalchemy import select

from docket.catalogue import schema
from docket.ingest.archives import NOT_EXPANDED
from docket.locker import Locker
from docket.verify import verify


def compressible(size: int, seed: int = 7) -> bytes:
    """Bytes that deflate about 100:1: under the ratio limit on their own."""
    rng = random.Random(seed)
    return b"".join(
        rng.randbytes(8) + bytes(792) if i % 2 else bytes(800) for i in range(size // 800)
    )


def test_zip_members_of_16_mib_or_less_skip_the_ratio_test(locker: Locker, tmp_path: Path) -> None:
    """A few KB of zip that would expand to 24 MiB of items: each small member is refused."""
    archive = tmp_path / "phone.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        bundle.write(photo(tmp_path / "in", "first.jpg", 1), "DCIM/first.jpg")
        for i in range(12):
            bundle.writestr(f"cache/blank{i}.bin", bytes(2 << 20))
        bundle.writestr("tiny.bin", bytes(64 << 10))  # 64 KiB of zeros: far under any floor
        bundle.write(photo(tmp_path / "in", "last.jpg", 2), "DCIM/last.jpg")
    assert archive.stat().st_size < 200_000
    after = photo(tmp_path / "in", "after.jpg", 3)
    summary = take(locker, archive, after)
    refused = {o.name: o.reason or "" for o in summary.outcomes if o.status == "refused"}
    assert sorted(refused) == sorted(
        [f"{archive}!/cache/blank{i}.bin" for i in range(12)] + [f"{archive}!/tiny.bin"]
    )
    assert all("zip bomb" in reason for reason in refused.values())
    # one bad member never stops the batch: the photos around them and the next file are taken
    assert [o.name for o in summary.outcomes if o.status == "new"] == [
        str(archive),
        f"{archive}!/DCIM/first.jpg",
        f"{archive}!/DCIM/last.jpg",
        str(after),
    ]


def overlapping_zip(path: Path, payload: bytes, copies: int) -> None:
    """One deflated member and `copies` central-directory entries that all point at it:
    each entry's declared sizes look honest, but the compressed bytes are shared."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("shared.bin", payload)
    data = path.read_bytes()
    central = data.index(b"PK\x01\x02")
    end = data.index(b"PK\x05\x06")
    entry = data[central:end]
    directory = entry * copies
    tail = bytearray(data[end:])
    struct.pack_into("<HHII", tail, 8, copies, copies, len(directory), central)
    path.write_bytes(data[:central] + directory + bytes(tail))


def test_members_sharing_compressed_bytes_count_against_the_archive(
    locker: Locker, tmp_path: Path
) -> None:
    archive = tmp_path / "overlap.zip"
    payload = compressible(1 << 20)
    overlapping_zip(archive, payload, copies=40)
    size = archive.stat().st_size
    with zipfile.ZipFile(archive) as bundle:
        entries = bundle.infolist()
    assert len(entries) == 40
    assert all(len(payload) < 200 * entry.compress_size for entry in entries)  # each is fine
    summary = take(locker, archive)
    taken = [o for o in summary.outcomes if o.name.endswith("!/shared.bin") and o.sha256]
    refused = [o for o in summary.outcomes if o.status == "refused"]
    assert 1 <= len(taken) <= 200 * size // len(payload)
    assert len(taken) + len(refused) == 40
    assert all("times its own size" in (o.reason or "") for o in refused)


def test_a_nested_archive_is_held_and_not_expanded(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as bundle:
        bundle.write(photo(tmp_path / "in", "deep.jpg", 4), "deep.jpg")
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as bundle:
        bundle.write(inner, "export/inner.zip")
        bundle.write(photo(tmp_path / "in", "top.jpg", 5), "top.jpg")
    result = cli("ingest", "--locker", locker.path, outer)
    assert result.code == 0, result.err
    assert f"{outer}!/export/inner.zip" in result.out
    assert NOT_EXPANDED in result.out
    assert "deep.jpg" not in result.out
    assert "2 new" not in result.out and "3 new" in result.out  # outer, inner, top.jpg


def test_a_bad_member_is_named_with_its_zip_on_one_line(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    archive = tmp_path / "witness.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("notes/empty-page.txt", bytes(300 << 10))
    result = cli("ingest", "--locker", locker.path, archive)
    lines = [line for line in result.out.splitlines() if line.startswith("refused")]
    assert lines == [
        f"refused  {archive}!/notes/empty-page.txt: expands more than 200 times its compressed "
        f"size ({zipfile.ZipFile(archive).infolist()[0].compress_size} bytes): looks like a "
        "zip bomb"
    ]


# The locker's own limit: its disk. A small tmpfs is a real full disk; where one cannot be
# mounted (not root, no mount), those tests are skipped.


def fill(disk: Path) -> None:
    """Write until the disk says it is full."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError) as full:
            while True:
                os.write(fd, bytes(1 << 16))
        assert full.value.errno == errno.ENOSPC
    finally:
        os.close(fd)


def acknowledged(out: str) -> dict[str, str]:
    lines = [json.loads(line) for line in out.splitlines()]
    return {
        line["sha256"]: line["name"]
        for line in lines
        if line.get("type") == "file" and line["status"] in ("new", "held")
    }


def assert_one_line(err: str) -> str:
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    return line


def test_disk_full_was_reported_as_refused_cannot_read(
    small_disk: Path, tmp_path: Path, cli: Any
) -> None:
    locker_path = small_disk / "locker"
    Locker.create(locker_path).close()
    first = cli("ingest", "--locker", locker_path, "--json", photo(tmp_path / "a", "a.jpg", 1))
    assert first.code == 0, first.err
    big = tmp_path / "b" / "card-dump.bin"
    big.parent.mkdir()
    big.write_bytes(os.urandom(8 << 20))  # more than the whole disk
    result = cli("ingest", "--locker", locker_path, "--json", big)
    line = assert_one_line(result.err)
    assert result.code == 1
    assert line.startswith(f"docket: locker disk full while storing {big} (")
    assert "checkpoint 2 signed" in line and "run the same ingest again" in line
    assert "refused" not in result.out and "cannot read" not in result.out
    assert list((locker_path / "tmp").iterdir()) == []  # the partial write is gone
    with Locker.open(locker_path) as locker:
        assert verify(locker).ok
        assert all(locker.store.has(sha256) for sha256 in acknowledged(first.out))


class FullDiskForDerivatives:
    """The disk itself, mocked: writes of blobs by analysis threads (derivatives) fail with
    ENOSPC, as a disk that fills up while previews are being made; all else is real."""

    def __init__(self, store_tmp: Path) -> None:
        self.store_tmp = store_tmp
        self.write = os.write

    def __call__(self, fd: int, data: bytes | memoryview) -> int:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if path.parent == self.store_tmp and threading.current_thread().name.startswith(
            "docket-analyse"
        ):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.write(fd, data)


def test_an_error_while_storing_a_derivative_stopped_ingest_with_a_traceback(
    locker: Locker, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    photo(folder, "a.jpg", 1)
    photo(folder, "b.jpg", 2)
    monkeypatch.setattr(os, "write", FullDiskForDerivatives(locker.store.tmp))
    result = cli("ingest", "--locker", locker.path, "--json", folder)
    monkeypatch.undo()
    line = assert_one_line(result.err)
    assert result.code == 1
    assert line.startswith("docket: locker disk full while storing the thumbnail file of item ")
    assert "signed" in line and "no checkpoint" not in line
    stored = acknowledged(result.out)
    with Locker.open(locker.path) as reopened:
        assert verify(reopened).ok
        assert all(reopened.store.has(sha256) for sha256 in stored)
    again = cli("analyse", "--locker", locker.path, "--all")  # space again: the rest is made
    assert again.code == 0, again.err
    with locker.engine.connect() as conn:
        previews = conn.execute(
            select(schema.results.c.status).where(schema.results.c.step == "previews")
        ).all()
    assert [status for (status,) in previews if status == "ok"]


def test_sqlite_disk_full_was_a_traceback_in_every_command(
    small_disk: Path, tmp_path: Path, cli: Any
) -> None:
    locker_path = small_disk / "locker"
    Locker.create(locker_path).close()
    with Locker.open(locker_path) as held, held.engine.connect() as conn:
        conn.execute(select(schema.items.c.sha256)).all()  # keeps the WAL and its index open
        conn.rollback()  # but no transaction (a write lock here would block the command)
        fill(small_disk)
        result = cli("checkpoint", "--locker", locker_path)
        line = assert_one_line(result.err)
        assert result.code == 1
        assert line == (
            "docket: locker disk full: the catalogue could not be written "
            "(database or disk is full)"
        )
        ingest = cli("ingest", "--locker", locker_path, photo(tmp_path / "c", "c.jpg", 3))
        assert ingest.code == 1
        assert assert_one_line(ingest.err).startswith("docket: locker disk full while storing")


def test_with_the_disk_completely_full_a_command_could_not_open_the_locker(
    small_disk: Path, cli: Any
) -> None:
    locker_path = small_disk / "locker"
    Locker.create(locker_path).close()
    fill(small_disk)
    result = cli("verify", "--locker", locker_path)
    assert result.code == 1
    assert assert_one_line(result.err).startswith(
        f"docket: {locker_path}: the locker's disk is full, so its catalogue cannot be opened"
    )


def test_analyse_stops_cleanly_when_the_disk_fills_while_storing_a_derivative(
    locker: Locker, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    photo(folder, "a.jpg", 1)
    photo(folder, "b.jpg", 2)
    assert cli("ingest", "--locker", locker.path, "--defer-analysis", folder).code == 0
    monkeypatch.setattr(os, "write", FullDiskForDerivatives(locker.store.tmp))
    result = cli("analyse", "--locker", locker.path, "--all")
    monkeypatch.undo()
    line = assert_one_line(result.err)
    assert result.code == 1
    assert line.startswith("docket: locker disk full while storing the thumbnail file of item ")
    assert "the analysis stopped there" in line and "signed" in line
    with Locker.open(locker.path) as reopened:
        assert verify(reopened).ok
    assert cli("analyse", "--locker", locker.path, "--all").code == 0


def test_a_parser_that_cannot_write_on_a_full_disk_blamed_the_item(
    small_disk: Path, tmp_path: Path, cli: Any
) -> None:
    locker_path = small_disk / "locker"
    Locker.create(locker_path).close()
    taken = cli("ingest", "--locker", locker_path, "--defer-analysis", photo(tmp_path, "a.jpg"))
    assert taken.code == 0, taken.err
    with Locker.open(locker_path) as held, held.engine.connect() as conn:
        conn.execute(select(schema.items.c.sha256)).all()  # keeps the WAL and its index open
        conn.rollback()
        fill(small_disk)
        result = cli("analyse", "--locker", locker_path, "--all")
        line = assert_one_line(result.err)
        assert result.code == 1
        assert line.startswith("docket: locker disk full while analysing item ")
        assert "no space left on device" in line.lower()
    (small_disk / "filler").unlink()
    with Locker.open(locker_path) as locker:
        with locker.engine.connect() as conn, conn.begin():
            failed = conn.execute(
                select(schema.results.c.step).where(schema.results.c.status == "failed")
            ).all()
        assert failed == []  # nothing recorded against the picture
        assert verify(locker).ok
    assert cli("analyse", "--locker", locker_path, "--all").code == 0
