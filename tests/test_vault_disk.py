"""A vault under stress on its disk: kill -9 at random moments of ingests into a vault
(20 runs), and a disk that fills up while a vault ingests. Nothing acknowledged is lost,
verify passes, and no plaintext of what was being stored is left anywhere in the locker
folder (partial writes in tmp/ are ciphertext too)."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import photo
from kills import ingest_killed
from vault_scan import Secrets, findings

from docket.locker import Locker
from docket.store.filesystem import hash_stream
from docket.verify import verify

# 20 by hand (DOCKET_VAULT_KILL_RUNS=20: all held); 5 in the suite, each run is ~20 s here.
RUNS = int(os.environ.get("DOCKET_VAULT_KILL_RUNS", "5"))


@pytest.fixture
def passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    file = tmp_path / "passphrase"
    file.write_text("orchard lamp 7\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(file))
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    return file


def _batch(folder: Path, run: int) -> list[bytes]:
    rng = random.Random(run)
    folder.mkdir(parents=True)
    photo(folder, f"marker_photo{run}.jpg", seed=run)
    for i in range(12):
        (folder / f"blob{i:02}.bin").write_bytes(rng.randbytes(rng.choice([1, 64, 1536]) << 10))
    return [file.read_bytes() for file in sorted(folder.iterdir())]


def test_kill_9_during_ingest_into_a_vault(tmp_path: Path, passphrase: Path, cli: Any) -> None:
    path = tmp_path / "vault"
    assert cli("init", "--vault", path).code == 0
    rng = random.Random(15)
    acknowledged: dict[str, str] = {}
    every: list[bytes] = []
    killed = 0
    for run in range(RUNS):
        batch = tmp_path / f"batch{run}"
        every += _batch(batch, run)
        was_running, stored = ingest_killed(path, batch, rng, 10, 0.1)
        killed += was_running
        acknowledged.update(stored)
        with Locker.open(path) as locker:  # as every command does: dead partial writes go
            report = verify(locker)
            assert report.ok, f"run {run}: " + "; ".join(str(p) for p in report.problems)
            for sha256, name in acknowledged.items():
                with locker.store.open(sha256) as stream:
                    assert hash_stream(stream).sha256 == sha256, f"run {run}: {name} damaged"
        assert findings(path, Secrets.of(["marker_photo"], every)) == [], run
    assert killed >= RUNS // 2, f"only {killed} of {RUNS} runs were killed mid-way"
    assert len(acknowledged) > 2 * RUNS  # some of each run was acknowledged before its kill


def test_a_full_disk_during_ingest_into_a_vault(
    small_disk: Path, tmp_path: Path, passphrase: Path, cli: Any
) -> None:
    path = small_disk / "vault"
    assert cli("init", "--vault", path).code == 0
    folder = tmp_path / "big"
    folder.mkdir()
    rng = random.Random(3)
    files = []
    for i in range(4):
        files.append(folder / f"part{i}.bin")
        files[-1].write_bytes(rng.randbytes(3 << 20))  # more than the disk holds
    failed = cli("ingest", "--locker", path, folder)
    assert failed.code == 1
    assert "disk full" in failed.err and "Traceback" not in failed.err
    assert len(failed.err.strip().splitlines()) == 1
    checked = cli("verify", "--locker", path)
    assert checked.code == 0, checked.out
    assert findings(path, Secrets.of([], [f.read_bytes() for f in files])) == []
