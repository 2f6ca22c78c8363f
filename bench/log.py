"""Custody log appends: durable appends/s from W writer threads of one process, through the
group committer (docket.catalogue.group_commit) and one transaction per append (each writer
commits its own, as before the group committer).

Run by hand: .venv/bin/python bench/log.py [--writers 1 8 32] [--seconds 3] [--postgres URL]
or, for PostgreSQL too: scripts/with-postgres.sh .venv/bin/python bench/log.py
Target (issue 16): >= 5,000 durable appends/s from concurrent writers. Every run has a fresh
locker in a temporary folder on this machine's disk; SQLite runs with WAL and
synchronous=FULL (the catalogue's settings), PostgreSQL with what its server says (printed).
An append counts once the call that made it has returned; each run's log is then checked to
hold exactly those events, in a dense sequence. The process's CPU (in cores, averaged over the
run) and appends per CPU-second say what a busy machine hides: appends/s is at most about
appends/CPU-s times the cores the process gets (one, mostly: Python's GIL).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, make_url, select, text

from docket.catalogue import schema
from docket.catalogue.group_commit import GroupCommitter
from docket.custody import log
from docket.locker import Locker

Transaction = Callable[[], AbstractContextManager[Connection]]


def one_each(engine: Engine) -> Transaction:
    @contextmanager
    def transaction() -> Iterator[Connection]:
        with engine.connect() as conn, conn.begin():
            yield conn

    return transaction


def run(engine: Engine, transaction: Transaction, writers: int, seconds: float) -> tuple[int, int]:
    """Appends acknowledged and commits made by `writers` threads in `seconds`."""
    commits = [0]

    def counted(_conn: Connection) -> None:
        commits[0] += 1

    acknowledged = [0] * writers
    stop = threading.Event()
    start = threading.Barrier(writers + 1)

    def writer(index: int) -> None:
        start.wait()
        while not stop.is_set():
            with transaction() as conn:
                log.append(
                    conn, f"writer-{index}", "bench.note", details={"n": acknowledged[index]}
                )
            acknowledged[index] += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    event.listen(engine, "commit", counted)
    start.wait()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    event.remove(engine, "commit", counted)
    return sum(acknowledged), commits[0]


def settings(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()  # 2 = FULL
            return f"journal_mode={journal} synchronous={'FULL' if sync == 2 else sync}"
        names = ("fsync", "synchronous_commit", "wal_sync_method", "commit_delay")
        return " ".join(f"{n}={conn.exec_driver_sql(f'SHOW {n}').scalar()}" for n in names)


def checked_size(engine: Engine, before: int, appended: int) -> int:
    """The log's size, after checking it holds the appended events in a dense sequence."""
    with engine.connect() as conn:
        size = log.size(conn)
        seqs = [s for (s,) in conn.execute(select(schema.events.c.seq).order_by("seq"))]
    if size != before + appended or seqs != list(range(size)):
        sys.exit(f"bench: the log holds {size} events, expected {before} + {appended}, dense")
    return size


def catalogue_bytes(locker: Locker) -> str:
    if locker.engine.dialect.name != "sqlite":
        with locker.engine.connect() as conn:
            found = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
        return f"database {int(found or 0) / 2**20:.1f} MiB"
    files = list(locker.path.glob("catalogue.sqlite*"))
    return f"catalogue files {sum(f.stat().st_size for f in files) / 2**20:.1f} MiB"


@contextmanager
def postgres_database(url: str) -> Iterator[str]:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"docket_bench_{uuid.uuid4().hex}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def reachable(url: str) -> str | None:
    """None when a server answers at `url`, else why not (one line)."""
    try:
        engine = create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # any failure means: print SQLite only
        return str(exc).strip().splitlines()[0]
    return None


@contextmanager
def sqlite_database() -> Iterator[None]:
    yield None  # the locker's own catalogue.sqlite


def bench_backend(
    name: str,
    database: Callable[[], AbstractContextManager[str | None]],
    writer_counts: list[int],
    seconds: float,
) -> None:
    for way in ("grouped", "one each"):
        for writers in writer_counts:
            with (
                tempfile.TemporaryDirectory(prefix="docket-bench-log-", dir=Path.cwd()) as scratch,
                database() as url,
                Locker.create(Path(scratch) / "locker", "bench", database_url=url) as locker,
            ):
                engine = locker.engine
                transaction = (
                    GroupCommitter(engine).transaction if way == "grouped" else one_each(engine)
                )
                with engine.connect() as conn:
                    before = log.size(conn)
                load = os.getloadavg()[0]
                started, cpu = time.perf_counter(), time.process_time()
                appended, commits = run(engine, transaction, writers, seconds)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                size = checked_size(engine, before, appended)
                print(
                    f"{name:10} {way:8} W={writers:<3} {appended / elapsed:8.0f} appends/s "
                    f"({appended} in {elapsed:.1f} s, {appended / max(commits, 1):.1f} "
                    f"appends/commit, {appended / max(cpu, 1e-9):.0f} appends/CPU-s of this "
                    f"process, which used {cpu / elapsed:.2f} cores; "
                    f"load avg {load:.2f} -> {os.getloadavg()[0]:.2f}; "
                    f"log {size} events, {catalogue_bytes(locker)}; {settings(engine)})",
                    flush=True,
                )


def fsync_ms(folder: Path) -> float:
    """The median time of writing 4 KiB and fsyncing it, in this folder."""
    times = []
    with tempfile.NamedTemporaryFile(dir=folder) as handle:
        for _ in range(30):
            started = time.perf_counter()
            os.write(handle.fileno(), b"x" * 4096)
            os.fsync(handle.fileno())
            times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--postgres", default=os.environ.get("DOCKET_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if min(args.writers) < 1 or not 0 < args.seconds <= 600:
        sys.exit("bench: give --writers of at least 1 and --seconds above 0 (at most 600)")
    print(
        f"machine {platform.node()} ({platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}), "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"{args.seconds:g} s a run; folder {Path.cwd()}, where 4 KiB + fsync takes "
        f"{fsync_ms(Path.cwd()):.1f} ms (median of 30)",
        flush=True,
    )
    bench_backend("SQLite", sqlite_database, args.writers, args.seconds)
    why = "no URL (give --postgres or run under scripts/with-postgres.sh)"
    if args.postgres is not None:
        why = reachable(args.postgres) or ""
    if why:
        print(f"PostgreSQL: not run: {why}")
        return
    server = args.postgres
    bench_backend("PostgreSQL", lambda: postgres_database(server), args.writers, args.seconds)


if __name__ == "__main__":
    main()
