"""Every writing command on a full disk: one line naming what was being written, a non-zero
exit, acknowledged work intact (`verify` passes once there is space) and the same command,
simply repeated, then succeeds. The disk is a real one: a small tmpfs holding the locker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import photo
from sqlalchemy import select
from test_limits import assert_one_line, fill
from tsa import running_authority

from docket.analyse.batch import unanalysed
from docket.catalogue import schema
from docket.locker import Locker
from docket.verify import verify

Run = Callable[..., Any]


@contextmanager
def full(disk: Path, locker_path: Path) -> Iterator[None]:
    """The disk filled to its last byte while another process holds the catalogue open (so
    its WAL index exists, as it would on a server), then freed again."""
    with Locker.open(locker_path) as held, held.engine.connect() as conn:
        conn.execute(select(schema.items.c.sha256)).all()
        conn.rollback()
        fill(disk)
        try:
            yield
        finally:
            (disk / "filler").unlink()


def ingested(cli: Run, locker_path: Path, folder: Path) -> str:
    taken = cli("ingest", "--locker", locker_path, photo(folder, "street.jpg", 7))
    assert taken.code == 0, taken.err
    with Locker.open(locker_path) as locker, locker.engine.connect() as conn:
        return str(conn.execute(select(schema.items.c.sha256)).scalar_one())


def exports(locker_path: Path) -> int:
    with Locker.open(locker_path) as locker, locker.engine.connect() as conn:
        actions = conn.execute(select(schema.events.c.action)).scalars().all()
    return actions.count("package.exported")


def intact(locker_path: Path) -> None:
    with Locker.open(locker_path) as locker:
        report = verify(locker)
        assert report.ok, [str(p) for p in report.problems]


def failed_on_full_disk(result: Any) -> str:
    assert result.code == 1, result.out + result.err
    line = assert_one_line(result.err)
    assert line.startswith("docket: locker disk full"), line
    return line


@pytest.fixture
def locker_on_disk(small_disk: Path) -> Path:
    path = small_disk / "locker"
    Locker.create(path).close()
    return path


def test_strip_on_a_full_disk(
    small_disk: Path, locker_on_disk: Path, tmp_path: Path, cli: Run
) -> None:
    item = ingested(cli, locker_on_disk, tmp_path / "in")
    with full(small_disk, locker_on_disk):
        line = failed_on_full_disk(cli("strip", item[:12], "--locker", locker_on_disk))
    assert line == (
        f"docket: locker disk full while analysing item {item[:12]} (strip: no space left on "
        f"device for its output in {locker_on_disk / 'tmp'})"
    )
    intact(locker_on_disk)
    again = cli("strip", item[:12], "--locker", locker_on_disk)
    assert again.code == 0, again.err


def test_redact_on_a_full_disk(
    small_disk: Path, locker_on_disk: Path, tmp_path: Path, cli: Run
) -> None:
    item = ingested(cli, locker_on_disk, tmp_path / "in")
    args = ("redact", item[:12], "--region", "10,10,40,40", "--locker", locker_on_disk)
    with full(small_disk, locker_on_disk):
        failed_on_full_disk(cli(*args))
    intact(locker_on_disk)
    again = cli(*args)
    assert again.code == 0, again.err


def test_checkpoint_on_a_full_disk(
    small_disk: Path, locker_on_disk: Path, tmp_path: Path, cli: Run
) -> None:
    ingested(cli, locker_on_disk, tmp_path / "in")
    with full(small_disk, locker_on_disk):
        failed_on_full_disk(cli("checkpoint", "--locker", locker_on_disk))
    intact(locker_on_disk)
    again = cli("checkpoint", "--locker", locker_on_disk)
    assert again.code == 0, again.err


def test_timestamp_on_a_full_disk(
    small_disk: Path,
    locker_on_disk: Path,
    tmp_path: Path,
    cli: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ingested(cli, locker_on_disk, tmp_path / "in")
    with running_authority() as (url, root):
        monkeypatch.setenv("DOCKET_TSA_URL", url)
        monkeypatch.setenv("DOCKET_TSA_ROOT", str(root))
        with full(small_disk, locker_on_disk):
            failed_on_full_disk(cli("timestamp", "--locker", locker_on_disk))
        intact(locker_on_disk)
        again = cli("timestamp", "--locker", locker_on_disk)
        assert again.code == 0, again.err


def test_export_with_the_locker_on_a_full_disk(
    small_disk: Path, locker_on_disk: Path, tmp_path: Path, cli: Run
) -> None:
    item = ingested(cli, locker_on_disk, tmp_path / "in")
    args = ("export", item[:12], "--profile", "court", "--locker", locker_on_disk, "-o")
    with full(small_disk, locker_on_disk):
        failed_on_full_disk(cli(*args, tmp_path / "first"))
    assert not (tmp_path / "first").exists()
    assert exports(locker_on_disk) == 0
    intact(locker_on_disk)
    again = cli(*args, tmp_path / "first")
    assert again.code == 0, again.err


def test_export_to_a_full_output_disk(small_disk: Path, tmp_path: Path, cli: Run) -> None:
    locker_path = tmp_path / "locker"
    Locker.create(locker_path).close()
    item = ingested(cli, locker_path, tmp_path / "in")
    output = small_disk / "package"
    fill(small_disk)
    result = cli("export", item[:12], "--profile", "court", "--locker", locker_path, "-o", output)
    assert result.code == 1, result.out + result.err
    line = assert_one_line(result.err)
    assert line.startswith(f"docket: {output}: disk full while writing the package ("), line
    assert "nothing was logged" in line and "run the same export again" in line
    assert not output.exists()
    assert [p.name for p in small_disk.iterdir()] == ["filler"]  # no hidden half-package
    assert exports(locker_path) == 0
    (small_disk / "filler").unlink()
    intact(locker_path)
    again = cli("export", item[:12], "--profile", "court", "--locker", locker_path, "-o", output)
    assert again.code == 0, again.err


def test_import_on_a_full_disk(
    small_disk: Path, locker_on_disk: Path, tmp_path: Path, cli: Run
) -> None:
    sender = tmp_path / "sender"
    Locker.create(sender).close()
    item = ingested(cli, sender, tmp_path / "in")
    package = tmp_path / "package"
    assert (
        cli("export", item[:12], "--profile", "court", "--locker", sender, "-o", package).code == 0
    )
    with Locker.open(sender) as locker:
        key = locker.public_key.hex()
    args = ("import", package, "--key", key, "--locker", locker_on_disk)
    with full(small_disk, locker_on_disk):
        failed_on_full_disk(cli(*args))
    intact(locker_on_disk)
    again = cli(*args)
    assert again.code == 0, again.err
    intact(locker_on_disk)


def leave_free(disk: Path, room: int) -> None:
    """Fill the disk up to `room` free bytes."""
    stats = os.statvfs(disk)
    (disk / "filler").write_bytes(bytes(stats.f_bavail * stats.f_frsize - room))


def test_import_that_fills_the_disk_midway_is_finished_when_repeated(
    small_disk: Path, locker_on_disk: Path, tmp_path: Path, cli: Run
) -> None:
    sender = tmp_path / "sender"
    Locker.create(sender).close()
    folder = tmp_path / "recordings"
    folder.mkdir()
    for i in range(4):
        (folder / f"call-{i}.bin").write_bytes(os.urandom(1 << 20))
    assert cli("ingest", "--locker", sender, folder).code == 0
    package = tmp_path / "package"
    with Locker.open(sender) as locker, locker.engine.connect() as conn:
        items = list(conn.execute(select(schema.items.c.sha256)).scalars())
        key = locker.public_key.hex()
    sent = cli("export", *items, "--profile", "court", "--locker", sender, "-o", package)
    assert sent.code == 0, sent.err
    leave_free(small_disk, (5 << 20) // 2)  # room for two of the four, not for all
    args = ("import", package, "--key", key, "--locker", locker_on_disk)
    line = failed_on_full_disk(cli(*args))
    assert line.startswith(f"docket: locker disk full while storing {package}!/data/"), line
    assert "the import stopped there" in line and "run the same import again" in line
    (small_disk / "filler").unlink()
    with Locker.open(locker_on_disk) as locker, locker.engine.connect() as conn:
        recorded = list(conn.execute(select(schema.items.c.sha256)).scalars())
    assert 0 < len(recorded) < len(items)  # the disk filled midway
    intact(locker_on_disk)
    again = cli(*args)
    assert again.code == 0, again.err
    with Locker.open(locker_on_disk) as locker, locker.engine.connect() as conn:
        assert set(conn.execute(select(schema.items.c.sha256)).scalars()) == set(items)
        assert unanalysed(conn) == []
    intact(locker_on_disk)


def test_export_whose_zip_fills_the_output_disk_says_the_export_was_logged(
    small_disk: Path, tmp_path: Path, cli: Run
) -> None:
    """The payload fits beside the output, the zip of it does not: the export event was
    committed first, so the line says so; the log over-states what left, never under-states."""
    locker_path = tmp_path / "locker"
    Locker.create(locker_path).close()
    recording = tmp_path / "in" / "call.bin"
    recording.parent.mkdir()
    recording.write_bytes(os.urandom(2 << 20))  # incompressible: the zip is as big again
    assert cli("ingest", "--locker", locker_path, recording).code == 0
    with Locker.open(locker_path) as locker, locker.engine.connect() as conn:
        item = str(conn.execute(select(schema.items.c.sha256)).scalar_one())
    output = small_disk / "package.zip"
    leave_free(small_disk, 3 << 20)
    args = ("export", item[:12], "--profile", "court", "--locker", locker_path, "-o", output)
    result = cli(*args)
    assert result.code == 1, result.out + result.err
    line = assert_one_line(result.err)
    assert line.startswith(f"docket: {output}: disk full while writing the package ("), line
    assert "the export was logged and signed as checkpoint" in line, line
    assert not output.exists()
    assert [p.name for p in small_disk.iterdir()] == ["filler"]
    assert exports(locker_path) == 1
    (small_disk / "filler").unlink()
    intact(locker_path)
    again = cli(*args)
    assert again.code == 0, again.err
    assert output.is_file() and exports(locker_path) == 2
