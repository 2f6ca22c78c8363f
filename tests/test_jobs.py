"""The job queue in one process: a step's result is keyed by item, step and version (recorded
once however often a job runs), an ingest on PostgreSQL commits each item with its analysis job,
a job's put-backs (stalled, or retried by hand) are counted once each, and a SQLite locker says
it has no queue."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic import command as alembic
from alembic.config import Config
from conftest import photo, take
from sqlalchemy import Connection, func, select, text

from docket.analyse.runner import Analyser
from docket.analyse.steps import builtin_steps
from docket.catalogue import migrate, schema
from docket.catalogue.records import Arrival, record_arrival
from docket.jobs import queue
from docket.jobs.analysis import analyse_item, defer_analysis, record_once
from docket.locker import Locker
from docket.store import BlobDigest
from docket.verify import verify


def counts(locker: Locker) -> tuple[int, int, int, int]:
    """Results, result events, derivatives and perceptual hashes in the catalogue."""
    with locker.engine.connect() as conn:
        events = schema.events.c
        return (
            conn.execute(select(func.count()).select_from(schema.results)).scalar_one(),
            conn.execute(
                select(func.count()).where(
                    events.action.like("%.recorded") | events.action.like("%.failed")
                )
            ).scalar_one(),
            conn.execute(select(func.count()).select_from(schema.derivatives)).scalar_one(),
            conn.execute(select(func.count()).select_from(schema.perceptual_hashes)).scalar_one(),
        )


def test_a_step_result_is_recorded_once_per_item_step_and_version(
    locker: Locker, tmp_path: Path
) -> None:
    """The same analysis run twice more (a retried job, a duplicated one) records nothing new:
    not a result, not an event, not a derivative or a hash."""
    item = take(locker, photo(tmp_path / "in")).outcomes[0].sha256
    assert item is not None
    before = counts(locker)
    assert before[0] > 2 and before[2] > 0 and before[3] > 0  # results, previews, hashes
    steps = [step for step in builtin_steps() if step.applies_to("image/jpeg")]
    with Analyser(locker.store, steps, workers=1) as analyser:
        runs = analyser.submit(item, "image/jpeg", steps).result()
    with locker.engine.connect() as conn, conn.begin():
        assert record_once(conn, "tester", runs) == []
        assert record_once(conn, "tester", runs + runs) == []
    assert analyse_item(locker, item, "tester") == []  # nothing due: the job records nothing
    assert counts(locker) == before
    assert verify(locker).ok


def test_a_new_version_of_a_step_is_a_new_key(locker: Locker, tmp_path: Path) -> None:
    """Keyed by version too: a step at a version not yet recorded is recorded, once."""
    item = take(locker, photo(tmp_path / "in")).outcomes[0].sha256
    assert item is not None
    steps = [step for step in builtin_steps() if step.name == "metadata"]
    with Analyser(locker.store, steps, workers=1) as analyser:
        [run] = analyser.submit(item, "image/jpeg", steps).result()
    newer = type(run.step)()
    newer.version = run.step.version + "-next"
    moved = type(run)(run.item, newer, run.output, run.stored, run.error)
    with locker.engine.connect() as conn, conn.begin():
        assert record_once(conn, "tester", [moved, moved]) == [moved]
        assert record_once(conn, "tester", [moved]) == []
        versions = conn.execute(
            select(schema.results.c.step_version).where(
                schema.results.c.item_sha256 == item, schema.results.c.step == "metadata"
            )
        ).scalars()
        assert sorted(versions) == sorted([run.step.version, newer.version])


def test_the_same_failure_is_recorded_once(locker: Locker, tmp_path: Path) -> None:
    item = take(locker, photo(tmp_path / "in")).outcomes[0].sha256
    assert item is not None
    steps = [step for step in builtin_steps() if step.name == "metadata"]
    with Analyser(locker.store, steps, workers=1) as analyser:
        [run] = analyser.submit(item, "image/jpeg", steps).result()
    newer = type(run.step)()
    newer.version = "failing"
    failed = type(run)(run.item, newer, None, (), "exiftool: cannot read the file")
    other = type(run)(run.item, newer, None, (), "exiftool: timed out")
    with locker.engine.connect() as conn, conn.begin():
        assert record_once(conn, "tester", [failed, failed]) == [failed]
        assert record_once(conn, "tester", [failed, other]) == [other]


def test_sqlite_has_no_queue_and_says_what_to_run_instead(
    tmp_path: Path, cli: Any, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the SQLite catalogue's answer")
    assert cli("init", tmp_path / "locker").code == 0
    for command in (["worker"], ["jobs"], ["jobs", "retry", "1"]):
        done = cli(*command, "--locker", tmp_path / "locker")
        assert done.code == 1
        assert done.out == ""
        [line] = done.err.splitlines()
        assert "no job queue" in line and "docket analyse" in line


def test_a_worker_whose_heartbeat_is_too_slow_for_its_stalled_limit_is_refused(
    tmp_path: Path, cli: Any, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("checked before any catalogue is used")
    assert cli("init", tmp_path / "locker").code == 0
    done = cli("worker", "--heartbeat", "20", "--locker", tmp_path / "locker")
    assert done.code == 1
    [line] = done.err.splitlines()
    assert "at most half of --stalled-after (30 s)" in line


def test_sqlite_ingest_queues_nothing_and_analyses_in_process(
    locker: Locker, tmp_path: Path
) -> None:
    if locker.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's in-process analysis")
    summary = take(locker, photo(tmp_path / "in"))
    with locker.engine.connect() as conn, conn.begin():
        assert not queue.has_queue(conn)
        assert (
            defer_analysis(conn, str(summary.outcomes[0].sha256), "image/jpeg", {}, "tester")
            is None
        )
    assert counts(locker)[0] > 2


def queued_items(locker: Locker) -> list[str]:
    with locker.engine.connect() as conn:
        return [str(job.args["item"]) for job in queue.jobs(conn)]


def test_postgresql_ingest_withdraws_the_jobs_of_what_it_analysed(
    locker: Locker, tmp_path: Path
) -> None:
    """Analysed in-process, the items leave no job behind (each was withdrawn in the
    transaction that recorded its analysis); deferred, each new item has its job."""
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")
    take(locker, photo(tmp_path / "a", seed=1), photo(tmp_path / "a", "b.jpg", seed=2))
    assert queued_items(locker) == []
    deferred = take(locker, photo(tmp_path / "b", seed=3), defer_analysis=True)
    assert queued_items(locker) == [deferred.outcomes[0].sha256]
    with locker.engine.connect() as conn:
        [job] = queue.jobs(conn)
    assert job.status == "queued" and job.scheduled_at is None and job.attempts == 0


def test_postgresql_job_rolls_back_with_its_item(locker: Locker) -> None:
    """The job is in the item's transaction: a rollback leaves neither."""
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")
    digest = BlobDigest("ab" * 32, "cd" * 64, 10)
    with locker.engine.connect() as conn:
        with conn.begin() as transaction:
            record_arrival(conn, digest, "image/jpeg", Arrival("tester", "import", b"x.jpg"))
            assert defer_analysis(conn, digest.sha256, "image/jpeg", {}, "tester") is not None
            assert len(queue.jobs(conn)) == 1
            transaction.rollback()
        with conn.begin():
            assert queue.jobs(conn) == []
            assert conn.execute(select(schema.items)).first() is None


def test_postgresql_jobs_are_listed_newest_first_and_counted_in_the_database(
    locker: Locker, tmp_path: Path
) -> None:
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")
    folder = tmp_path / "in"
    files = [photo(folder, f"p{seed}.jpg", seed=seed) for seed in range(1, 4)]
    taken = take(locker, *files, defer_analysis=True)
    with locker.engine.connect() as conn:
        newest = queue.jobs(conn, limit=2)
        assert [job.args["item"] for job in newest] == [o.sha256 for o in taken.outcomes][:0:-1]
        assert newest[0].id > newest[1].id
        assert queue.counts(conn) == {"queued": 3}
        assert len(queue.jobs(conn, "queued")) == 3
        assert queue.jobs(conn, "failed") == []
        with pytest.raises(queue.JobError, match="'lost': no such job status"):
            queue.jobs(conn, "lost")


def test_two_jobs_of_one_item_at_once_record_each_step_once(locker: Locker, tmp_path: Path) -> None:
    """A duplicated job, run by two workers at the same moment: both analyse, one records."""
    taken = take(locker, photo(tmp_path / "in"), defer_analysis=True)  # metadata only
    item = str(taken.outcomes[0].sha256)
    before = counts(locker)
    with ThreadPoolExecutor(max_workers=2) as pool:
        both = list(pool.map(lambda _: analyse_item(locker, item, "tester"), range(2)))
    recorded = [{run.step.name for run in runs} for runs in both]
    assert recorded[0].isdisjoint(recorded[1])
    assert "previews" in recorded[0] | recorded[1]
    after = counts(locker)
    added = len(recorded[0]) + len(recorded[1])
    assert after[0] - before[0] == added and after[1] - before[1] == added
    assert verify(locker).ok


def taken_by_a_worker(locker: Locker) -> int:
    """Register a worker and let it take the next job, as procrastinate's worker does; the
    worker's id."""
    with locker.engine.connect() as conn, conn.begin():
        worker = conn.execute(text("SELECT procrastinate_register_worker_v1()")).scalar_one()
        conn.execute(
            text("SELECT * FROM procrastinate_fetch_job_v2(ARRAY[:queue], :worker)"),
            {"queue": queue.QUEUE, "worker": worker},
        )
    return int(worker)


def finished(locker: Locker, job_id: int, status: str) -> None:
    """End the job's attempt in `status` (succeeded, failed), as procrastinate's worker does."""
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(
            text(
                "SELECT procrastinate_finish_job_v1(:id, "
                "CAST(:status AS procrastinate_job_status), false)"
            ),
            {"id": job_id, "status": status},
        )


def the_job(locker: Locker) -> queue.Job:
    with locker.engine.connect() as conn:
        [job] = queue.jobs(conn)
    return job


async def put_back_by_two_workers_at_once(locker: Locker) -> list[int]:
    """What each of two workers looking for stalled jobs at the same moment put back."""
    from procrastinate import App, PsycopgConnector

    from docket.jobs.worker import _retry_stalled

    apps = [App(connector=PsycopgConnector(conninfo=queue.conninfo(locker))) for _ in range(2)]
    async with apps[0].open_async(), apps[1].open_async():
        return list(await asyncio.gather(*(_retry_stalled(app, 5) for app in apps)))


def test_a_stalled_job_put_back_once_shows_retried_once(locker: Locker, tmp_path: Path) -> None:
    """Its worker's heartbeat stopped: two workers find the job stalled at once, one puts it
    back (procrastinate writes one `deferred_for_retry` event), and it is retried 1x, before
    and after it runs again."""
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")
    take(locker, photo(tmp_path / "in"), defer_analysis=True)
    silent = taken_by_a_worker(locker)
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(
            text(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
                "WHERE id = :id"
            ),
            {"id": silent},
        )
    assert sorted(asyncio.run(put_back_by_two_workers_at_once(locker))) == [0, 1]
    job = the_job(locker)
    assert (job.status, job.retried, job.attempts) == ("queued", 1, 1)
    taken_by_a_worker(locker)
    finished(locker, job.id, "succeeded")
    job = the_job(locker)
    assert (job.status, job.retried, job.attempts) == ("done", 1, 2)


def test_a_failed_job_counts_each_retry_by_hand(locker: Locker, tmp_path: Path) -> None:
    """Failed, retried by hand (procrastinate writes one `retried` event), failed again and
    retried again: 1x, then 2x."""
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("the queue is PostgreSQL's")
    take(locker, photo(tmp_path / "in"), defer_analysis=True)
    for times in (1, 2):
        taken_by_a_worker(locker)
        job = the_job(locker)
        finished(locker, job.id, "failed")
        assert (the_job(locker).status, the_job(locker).retried) == ("failed", times - 1)
        with locker.engine.connect() as conn, conn.begin():
            queue.retry(conn, job.id)
        job = the_job(locker)
        assert (job.status, job.retried, job.attempts) == ("queued", times, times)


def catalogue_objects(conn: Connection) -> set[tuple[str, ...]]:
    """The catalogue's tables and indexes, with their definitions."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT type, name, coalesce(sql, '') FROM sqlite_master"))
    else:
        rows = conn.execute(
            text(
                "SELECT 'table', tablename, '' FROM pg_tables WHERE schemaname = current_schema() "
                "UNION ALL SELECT 'index', indexname, indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema()"
            )
        )
    return {tuple(row) for row in rows}


def migrated(conn: Connection, revision: str) -> None:
    """Take the catalogue down or up to `revision` (numbered, so compared as text), as a
    locker of that schema."""
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    config.attributes["connection"] = conn
    if revision == "head" or (migrate.current(conn) or "") < revision:
        alembic.upgrade(config, revision)
    else:
        alembic.downgrade(config, revision)


def test_the_job_listing_indexes_are_made_where_the_queue_is(locker: Locker) -> None:
    """Migration 0011: on PostgreSQL it adds the queue's two listing indexes and nothing else;
    on SQLite, which has no queue, it changes nothing."""
    with locker.engine.connect() as conn, conn.begin():
        after = catalogue_objects(conn)
        migrated(conn, "0010")
        before = catalogue_objects(conn)
        migrated(conn, "0011")
        made = catalogue_objects(conn)
        migrated(conn, "head")
        assert catalogue_objects(conn) == after
    added = {name for _kind, name, _definition in made - before}
    if locker.engine.dialect.name == "sqlite":
        assert added == set() and before == made
    else:
        assert added == {
            "procrastinate_jobs_status_id_idx",
            "procrastinate_jobs_unfinished_case_idx",
        }
        assert before < made
