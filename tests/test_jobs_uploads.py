"""Web uploads and imports get their analysis job on PostgreSQL (issue 16): an upload's item
commits with a job due at once, and before the answer only its metadata is read; a worker in a
process of its own does the rest. On SQLite the upload is analysed in-process before the
answer. An import's items are analysed by the import itself, their held-back jobs withdrawn
once it has; an import stopped before its analysis (Ctrl-C: KeyboardInterrupt) leaves each new
item with its job."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import docket_command, photo, sign_in, take
from media import jpeg, sample
from sqlalchemy import select

from docket.analyse.steps import builtin_steps
from docket.catalogue import schema
from docket.disclose import importer
from docket.disclose.importer import import_package
from docket.disclose.package import export
from docket.jobs import queue
from docket.locker import Locker

JPEG_STEPS = {step.name for step in builtin_steps() if step.applies_to("image/jpeg")}


def ok_steps(locker: Locker, item: str) -> set[str]:
    r = schema.results.c
    with locker.engine.connect() as conn:
        query = select(r.step).where(r.item_sha256 == item, r.status == "ok")
        return set(conn.execute(query).scalars())


def jobs(locker: Locker) -> list[queue.Job]:
    with locker.engine.connect() as conn:
        return queue.jobs(conn)


def upload(world: dict[str, Any], name: str, picture: str) -> str:
    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    answer = client.post(
        f"/cases/{north_id}/upload",
        data={"csrf": csrf},
        files=[("files", (name, jpeg(sample(picture)), "image/jpeg"))],
    )
    assert answer.status_code == 200, answer.text
    [outcome] = answer.json()["outcomes"]
    assert outcome["status"] == "new"
    return str(outcome["sha256"])


def test_a_postgresql_upload_commits_its_job_and_a_worker_analyses_it(
    world: dict[str, Any], locker: Locker
) -> None:
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")
    before = {job.id for job in jobs(locker)}
    item = upload(world, "rocket.jpg", "rocket")
    [job] = [job for job in jobs(locker) if job.id not in before]
    assert (job.task, job.args, job.status, job.scheduled_at) == (
        "analyse",
        {"item": item, "actor": "investigator-1"},  # recorded as the uploader's analysis
        "queued",
        None,  # due at once: nobody in the web server will withdraw it
    )
    assert ok_steps(locker, item) == {"metadata"}  # nothing but metadata in the web process
    worker = subprocess.run(
        [*docket_command(), "worker", "--until-empty", "--locker", str(locker.path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert worker.returncode == 0, worker.stderr
    assert f"job {job.id} analyse {item[:12]}: done" in worker.stdout
    assert ok_steps(locker, item) == JPEG_STEPS
    [done] = [found for found in jobs(locker) if found.id == job.id]
    assert done.status == "done"


def test_a_sqlite_upload_is_analysed_before_the_answer(
    world: dict[str, Any], locker: Locker
) -> None:
    if locker.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's in-process analysis")
    item = upload(world, "rocket.jpg", "rocket")
    assert ok_steps(locker, item) == JPEG_STEPS


@pytest.fixture
def package(tmp_path: Path) -> tuple[Path, bytes]:
    """A court package of two new photos from a SQLite sending locker, and its key."""
    with Locker.create(tmp_path / "sender", actor="sender") as sender:
        summary = take(
            sender, photo(tmp_path / "in", "a.jpg", 5), photo(tmp_path / "in", "b.jpg", 6)
        )
        items = [str(o.sha256) for o in summary.outcomes]
        export(sender, items, "court", tmp_path / "package", "sender", recipient="Registry")
        return tmp_path / "package", sender.public_key


def test_a_postgresql_import_analyses_its_items_and_withdraws_their_jobs(
    locker: Locker, package: tuple[Path, bytes]
) -> None:
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")
    summary = import_package(locker, package[0], "clerk", "Received", package[1])
    assert len(summary.new) == 2
    for item in summary.new:
        assert ok_steps(locker, item) == JPEG_STEPS
    assert jobs(locker) == []


def test_a_postgresql_import_stopped_before_its_analysis_leaves_each_item_its_job(
    locker: Locker, package: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C once the arrivals are committed

    monkeypatch.setattr(importer, "analyse", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_package(locker, package[0], "clerk", "Received", package[1])
    with locker.engine.connect() as conn:
        items = set(conn.execute(select(schema.items.c.sha256)).scalars())
    left = jobs(locker)
    assert len(items) == 2
    assert {str(job.args["item"]) for job in left} == items
    assert all(job.status == "queued" and job.scheduled_at is not None for job in left)
    for item in items:
        assert ok_steps(locker, item) == set()


def test_a_sqlite_import_queues_nothing(tmp_path: Path, package: tuple[Path, bytes]) -> None:
    with Locker.create(tmp_path / "receiver", actor="clerk") as receiver:
        summary = import_package(receiver, package[0], "clerk", "Received", package[1])
        with receiver.engine.connect() as conn:
            assert not queue.has_queue(conn)
        for item in summary.new:
            assert ok_steps(receiver, item) == JPEG_STEPS


def test_a_postgresql_import_of_held_items_leaves_their_due_steps_to_a_worker_at_once(
    locker: Locker, package: tuple[Path, bytes], tmp_path: Path
) -> None:
    """Items the locker already held, with only their metadata read: the import does not
    analyse them, so each gets a job due at once, not one held back for the import."""
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")
    sent = tmp_path / "in"  # the package's photos, as the sender took them
    held = take(locker, sent / "a.jpg", sent / "b.jpg", defer_analysis=True)
    before = {job.id for job in jobs(locker)}
    summary = import_package(locker, package[0], "clerk", "Received", package[1])
    items = sorted(summary.new + summary.held)  # new to the case "Received", not to the locker
    assert items == sorted(str(o.sha256) for o in held.outcomes)
    added = [job for job in jobs(locker) if job.id not in before]
    assert sorted(str(job.args["item"]) for job in added) == items
    assert all(job.status == "queued" and job.scheduled_at is None for job in added)
    for item in items:
        assert ok_steps(locker, item) == {"metadata"}
