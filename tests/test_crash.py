"""kill -9 at many points of an ingest: nothing reported as stored is ever lost."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from conftest import photo
from kills import ingest_killed

from docket.locker import Locker
from docket.store.filesystem import hash_stream
from docket.verify import verify

RUNS = int(os.environ.get("DOCKET_CRASH_RUNS", "12"))  # more by hand


def make_batch(folder: Path, run: int) -> None:
    rng = random.Random(run)
    folder.mkdir(parents=True)
    for i in range(3):
        photo(folder, f"photo{i}.jpg", seed=run * 10 + i)
    for i in range(25):
        (folder / f"blob{i:02}.bin").write_bytes(rng.randbytes(rng.choice([1, 64, 512]) << 10))
    if run % 3 == 0:  # some files arrive again, so acquisitions of held items are killed too
        (folder / "again.bin").write_bytes(b"the same bytes in every third run")


def orphaned_parsers() -> set[int]:
    """ExifTool or picture workers whose parent is gone (adopted by init)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if fields.get("PPid", "").strip() == "1" and (
            b"exiftool" in command or b"docket.analyse._worker" in command
        ):
            found.add(int(status.parent.name))
    return found


def test_sigkill_at_random_points_loses_nothing_acknowledged(tmp_path: Path) -> None:
    orphans_before = orphaned_parsers()
    locker_path = tmp_path / "locker"
    Locker.create(locker_path).close()
    acknowledged: dict[str, str] = {}
    rng = random.Random(20261125)
    killed = 0
    for run in range(RUNS):
        batch = tmp_path / f"batch{run}"
        make_batch(batch, run)
        # Kill after a random number of acknowledged files plus a random few milliseconds, so
        # the kill lands in every stage: hashing, fsync, the transaction, metadata, checkpoint.
        was_running, stored = ingest_killed(locker_path, batch, rng, 30, 0.08)
        killed += was_running
        acknowledged.update(stored)

        with Locker.open(locker_path) as locker:
            report = verify(locker)
            assert report.ok, f"run {run}: " + "; ".join(str(p) for p in report.problems)
            for sha256, name in acknowledged.items():
                with locker.store.open(sha256) as stream:
                    assert hash_stream(stream).sha256 == sha256, f"run {run}: {name} damaged"
    assert killed >= RUNS // 2, f"only {killed} of {RUNS} runs were killed mid-way"
    time.sleep(0.5)
    assert orphaned_parsers() - orphans_before == set(), "a killed ingest left parsers running"
    assert len(acknowledged) > 100
