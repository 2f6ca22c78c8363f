"""An ingest killed before its closing checkpoint has reported files as stored that no
checkpoint covers. A catalogue that then loses its newest records (yesterday's copy put back,
a lost WAL file) must not look whole: `verify` names the arrivals it lacks, and `gc --delete`
removes nothing, where it had deleted the very files ingest reported stored (red team)."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import photo, take
from kills import ingest_killed

from docket import gc
from docket.custody import acknowledged, ledger, log
from docket.errors import DocketError
from docket.locker import Locker
from docket.verify import verify


def yesterdays_copy(path: Path, copy: Path) -> None:
    """The catalogue as it stood, copied whole (its WAL folded in) by SQLite's backup."""
    with sqlite3.connect(path / "catalogue.sqlite") as source, sqlite3.connect(copy) as target:
        source.backup(target)


def put_back(copy: Path, path: Path) -> None:
    for leftover in ("catalogue.sqlite-wal", "catalogue.sqlite-shm"):
        (path / leftover).unlink(missing_ok=True)
    shutil.copyfile(copy, path / "catalogue.sqlite")


@pytest.mark.parametrize("backend", ["sqlite"])  # the catalogue file itself is put back
def test_arrivals_reported_before_a_crash_are_missed_when_the_catalogue_goes_back(
    backend: str, locker: Locker, tmp_path: Path
) -> None:
    path = locker.path
    take(locker, photo(tmp_path / "first", "a.jpg", 1))
    locker.close()  # the catalogue is copied and put back with no connection open
    yesterdays_copy(path, tmp_path / "yesterday.sqlite")
    batch = tmp_path / "card"
    for seed in range(30):
        photo(batch, f"IMG_{seed:04d}.jpg", seed + 10)
    rng = random.Random(7)
    acked: dict[str, str] = {}
    while not acked:  # killed after its first reports, before the checkpoint at its end
        killed, acked = ingest_killed(path, batch, rng, most_lines=3, most_pause=0.2)
        assert killed, "the ingest finished before it could be killed"
    assert acknowledged.entries(path / acknowledged.FILE_NAME)  # noted, not yet covered
    put_back(tmp_path / "yesterday.sqlite", path)

    with Locker.open(path) as reopened:
        report = verify(reopened)
        assert not report.ok
        lost = [p.message for p in report.problems if p.subject == acknowledged.FILE_NAME]
        assert lost and all("was reported as stored" in m for m in lost), report.problems
        for sha256 in acked:  # the files themselves are still there, and named as strays
            assert reopened.store.has(sha256)
        old = time.time() - 2 * gc.MIN_AGE
        for sha256 in acked:
            os.utime(reopened.store.path(sha256), (old, old))
        with pytest.raises(DocketError, match=r"acknowledged\.log"):
            gc.collect(reopened, "tester", delete=True)
        assert all(reopened.store.has(sha256) for sha256 in acked)
        # Checkpoints after the rollback number new events as the lost ones were: they
        # must not take the lost arrivals' lines for lines they cover.
        lost_seqs = [seq for seq, _leaf in acknowledged.entries(path / acknowledged.FILE_NAME)]
        with reopened.engine.begin() as conn:
            while log.size(conn) <= max(lost_seqs):
                ledger.make_checkpoint(conn, reopened.signing_key, reopened.origin, "tester")
        again = verify(reopened)
        still = [p.message for p in again.problems if p.subject == acknowledged.FILE_NAME]
        assert [m.split(" but ")[0] for m in still] == [m.split(" but ")[0] for m in lost]
        assert all("holds another event there" in m for m in still)


def test_a_checkpoint_drops_what_it_covers_and_verify_passes(
    locker: Locker, tmp_path: Path
) -> None:
    take(locker, photo(tmp_path / "in", "b.jpg", 2))  # an ingest ends in a checkpoint
    assert acknowledged.entries(locker.path / acknowledged.FILE_NAME) == []
    assert verify(locker).ok
