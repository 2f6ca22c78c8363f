"""Two ingests into one locker at once: no corruption, no duplicate item."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

from conftest import docket_command, fresh_database, photo
from sqlalchemy import func, select

from docket.catalogue import schema
from docket.locker import Locker
from docket.verify import verify


def test_two_ingests_at_once_share_items_without_duplicates(tmp_path: Path, backend: str) -> None:
    with fresh_database(backend) as url:
        run_two_ingests(tmp_path, url)


def run_two_ingests(tmp_path: Path, database_url: str | None) -> None:
    locker_path = tmp_path / "locker"
    Locker.create(locker_path, database_url=database_url).close()
    rng = random.Random(7)
    shared = tmp_path / "shared"
    shared.mkdir()
    for i in range(40):
        (shared / f"f{i}.bin").write_bytes(rng.randbytes(20_000))
    photo(shared, "scene.jpg")
    folders = []
    for side in ("left", "right"):
        folder = tmp_path / side
        folder.mkdir()
        for path in shared.iterdir():
            (folder / path.name).write_bytes(path.read_bytes())
        (folder / "own.bin").write_bytes(side.encode() * 1000)
        folders.append(folder)

    processes = [
        subprocess.Popen(
            [*docket_command(), "ingest", "--locker", str(locker_path), "--json", str(folder)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for folder in folders
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err.decode() for _, err in outputs]
    summaries = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert sum(s["new"] for s in summaries) == 43  # 41 shared + one of each side's own
    assert sum(s["held"] for s in summaries) == 41

    with Locker.open(locker_path) as locker:
        with locker.engine.connect() as conn, conn.begin():
            items = conn.execute(select(func.count()).select_from(schema.items)).scalar_one()
            acquisitions = conn.execute(
                select(func.count()).select_from(schema.acquisitions)
            ).scalar_one()
        assert (items, acquisitions) == (43, 84)
        report = verify(locker)
        assert report.ok, [str(p) for p in report.problems]
