"""An ingest or import killed (kill -9) after recording items but before analysing them: the
next ingest, the same import run again, or `docket gc` analyses them and says so on a line;
nothing is left unanalysed unnoticed, and `verify` passes. Each test kills real runs at
random moments, $DOCKET_TEST_KILLS times (default 3)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import docket_command, photo, take
from sqlalchemy import select

from docket import mediatype
from docket.analyse.batch import unanalysed
from docket.catalogue import schema
from docket.catalogue.records import Arrival, record_arrival
from docket.disclose.package import export
from docket.locker import Locker
from docket.verify import verify

KILLS = int(os.environ.get("DOCKET_TEST_KILLS", "3"))
PHOTOS = 8


def batch(folder: Path, seed: int) -> Path:
    for i in range(PHOTOS):
        photo(folder, f"scene-{i}.jpg", seed * 100 + i)
    return folder


def start(*args: str | Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*docket_command(), *(str(a) for a in args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.communicate()


def left_unanalysed(locker_path: Path) -> list[str]:
    with Locker.open(locker_path) as locker, locker.engine.connect() as conn:
        return unanalysed(conn)


def assert_finished(locker_path: Path) -> None:
    """Nothing unanalysed, every item has its metadata, and verify passes."""
    with Locker.open(locker_path) as locker:
        with locker.engine.connect() as conn:
            assert unanalysed(conn) == []
            items = set(conn.execute(select(schema.items.c.sha256)).scalars())
            described = set(
                conn.execute(
                    select(schema.results.c.item_sha256).where(
                        schema.results.c.step == "metadata", schema.results.c.status == "ok"
                    )
                ).scalars()
            )
        assert items and items <= described
        report = verify(locker)
        assert report.ok, [str(p) for p in report.problems]


def recorded_only(locker: Locker, file: Path) -> str:
    """What a run killed between an arrival's commit and its analysis leaves: the item."""
    with file.open("rb") as stream:
        blob = locker.store.put(stream)
    arrival = Arrival("tester", "import", os.fsencode(file), case="North")
    with locker.engine.connect() as conn, conn.begin():
        record_arrival(conn, blob.digest, mediatype.sniff(blob.head), arrival)
    return blob.digest.sha256


def test_an_item_recorded_but_never_analysed_is_found_and_finished_by_gc(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    take(locker, photo(tmp_path / "a", "analysed.jpg", 1))
    left = recorded_only(locker, photo(tmp_path / "b", "left.jpg", 2))
    with locker.engine.connect() as conn:
        assert unanalysed(conn) == [left]
    result = cli("gc", "--locker", locker.path)
    assert result.code == 0, result.err
    assert said(result.out, 1), result.out
    with locker.engine.connect() as conn:
        assert unanalysed(conn) == []
        steps = set(
            conn.execute(
                select(schema.results.c.step).where(schema.results.c.item_sha256 == left)
            ).scalars()
        )
    assert {"metadata", "previews", "perceptual"} <= steps
    assert verify(locker).ok


def test_an_ingest_finishes_them_only_when_asked(locker: Locker, tmp_path: Path) -> None:
    """A web upload into one case (the default) leaves them; the command line asks."""
    left = recorded_only(locker, photo(tmp_path / "b", "left.jpg", 2))
    upload = take(locker, photo(tmp_path / "c", "upload.jpg", 3))
    assert upload.resumed == []
    with locker.engine.connect() as conn:
        assert unanalysed(conn) == [left]
    later = take(locker, photo(tmp_path / "d", "later.jpg", 4), finish_interrupted=True)
    assert later.resumed == [left]
    with locker.engine.connect() as conn:
        assert unanalysed(conn) == []
    assert verify(locker).ok


def test_a_deferred_ingest_is_not_unanalysed(locker: Locker, tmp_path: Path) -> None:
    """`--defer-analysis` reads metadata at once: its items are not taken for interrupted."""
    take(locker, photo(tmp_path / "a", "card.jpg", 5), defer_analysis=True)
    with locker.engine.connect() as conn:
        assert unanalysed(conn) == []


def said(out: str, count: int) -> bool:
    return (
        f"analysed {count} item(s) an interrupted ingest or import had recorded but not analysed"
        in out
    )


def test_a_killed_ingest_is_finished_by_gc(tmp_path: Path, cli: Any) -> None:
    rng = random.Random(1207)
    hit = 0
    for run in range(KILLS):
        locker_path = tmp_path / f"locker{run}"
        Locker.create(locker_path).close()
        process = start(
            "ingest", "--locker", locker_path, "--json", batch(tmp_path / f"in{run}", run)
        )
        assert process.stdout is not None
        wanted = rng.randint(1, PHOTOS)
        acknowledged = [process.stdout.readline() for _ in range(wanted)]
        time.sleep(rng.uniform(0, 0.03))
        kill(process)
        assert all(json.loads(line)["status"] == "new" for line in acknowledged)
        left = left_unanalysed(locker_path)
        hit += bool(left)
        result = cli("gc", "--locker", locker_path)
        assert result.code == 0, result.err
        assert said(result.out, len(left)) is bool(left), result.out
        assert_finished(locker_path)
    assert hit, "no kill landed between an item's record and its analysis"


def test_a_killed_ingest_is_finished_by_the_next_ingest(tmp_path: Path, cli: Any) -> None:
    rng = random.Random(1208)
    hit = 0
    for run in range(KILLS):
        locker_path = tmp_path / f"locker{run}"
        Locker.create(locker_path).close()
        process = start(
            "ingest", "--locker", locker_path, "--json", batch(tmp_path / f"in{run}", run)
        )
        assert process.stdout is not None
        process.stdout.readline()
        time.sleep(rng.uniform(0, 0.03))
        kill(process)
        left = left_unanalysed(locker_path)
        hit += bool(left)
        later = photo(tmp_path / f"later{run}", "later.jpg", 9000 + run)
        result = cli("ingest", "--locker", locker_path, later)
        assert result.code == 0, result.err
        assert said(result.out, len(left)) is bool(left), result.out
        assert_finished(locker_path)
    assert hit, "no kill landed between an item's record and its analysis"


def recorded_items(locker_path: Path) -> int:
    with sqlite3.connect(f"file:{locker_path / 'catalogue.sqlite'}?mode=ro", uri=True) as db:
        count = db.execute("SELECT count(*) FROM items").fetchone()[0]
    db.close()
    return int(count)


def test_a_killed_import_run_again_analyses_what_it_had_recorded(tmp_path: Path, cli: Any) -> None:
    with Locker.create(tmp_path / "sender", actor="tester") as sender:
        summary = take(sender, batch(tmp_path / "sent", 1), case="North")
        package = tmp_path / "package"
        items = [o.sha256 or "" for o in summary.outcomes]
        export(sender, items, "court", package, "tester", recipient="Registry of Kelvarn")
        key = sender.public_key.hex()
    rng = random.Random(1209)
    hit = 0
    for run in range(KILLS):
        receiver = tmp_path / f"receiver{run}"
        Locker.create(receiver).close()
        process = start("import", package, "--key", key, "--locker", receiver)
        wanted = rng.randint(1, PHOTOS)
        while process.poll() is None and recorded_items(receiver) < wanted:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.03))
        kill(process)
        left = left_unanalysed(receiver)
        hit += bool(left)
        again = cli("import", package, "--key", key, "--locker", receiver)
        assert again.code == 0, again.err
        assert said(again.out, len(left)) is bool(left), again.out
        assert_finished(receiver)
    assert hit, "no kill landed between an item's record and its analysis"


def test_analyse_pending_finishes_them_and_says_so(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    nothing = cli("analyse", "--locker", locker.path, "--pending")
    assert nothing.code == 0, nothing.err
    assert nothing.out == "0 steps done, 0 failed\n"
    left = recorded_only(locker, photo(tmp_path / "b", "left.jpg", 2))
    result = cli("analyse", "--locker", locker.path, "--pending")
    assert result.code == 0, result.err
    assert said(result.out, 1), result.out
    with locker.engine.connect() as conn:
        assert unanalysed(conn) == []
        assert left in set(conn.execute(select(schema.results.c.item_sha256)).scalars())
    assert verify(locker).ok
