"""An export asked in the web app runs as a job on PostgreSQL (issue 16): the request checks who
asks, the case, the items, the profile, the recipient and the language, queues an `export` job
and answers at once (the API 202 with the request's id, the page saying where the package will
be); a real `docket worker` process makes the package once, into the package area, and logs
the export as the request did: a duplicated job makes and records nothing twice. Only the
person who asked lists and downloads it; anyone else gets the words of a package that does
not exist. A job that fails keeps its reason and makes the package once retried; a requester
removed from the case before the job runs gets nothing made; `docket jobs clean` removes
expired packages. With SQLite the package is made in the request (tests/test_workspace_*)."""

from __future__ import annotations

import io
import os
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

from conftest import sign_in
from job_queue import docket, jobs, logged, postgresql_only
from sqlalchemy import func, select

from docket import access, accounts
from docket.catalogue import schema
from docket.disclose.check import check
from docket.jobs import export as export_job
from docket.jobs import queue
from docket.locker import Locker
from docket.store import scratch


def exported(locker: Locker) -> list[tuple[str, dict[str, Any]]]:
    return logged(locker, "package.exported")


def worker(
    locker: Locker, *options: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    ran = docket(locker, "worker", "--until-empty", *options, cwd=cwd)
    assert ran.returncode == 0, ran.stderr
    return ran


def queue_by_api(world: dict[str, Any], who: str = "investigator-1", **form: Any) -> Any:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, who)
    answer = client.post(f"/cases/{north}/export", data={"profile": "court", "csrf": csrf, **form})
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    return answer.json()


def packages(locker: Locker) -> list[str]:
    return sorted(p.name for p in export_job.package_area(locker, make=False).glob("*.zip"))


def test_an_export_queued_from_the_web_is_made_once_by_a_worker_for_its_requester(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    postgresql_only(locker)
    client, north = world["client"], world["cases"]["North"]
    asked = queue_by_api(world, recipient="Registry of Kelvarn")
    request, where = asked["request"], asked["package"]
    assert where == f"/cases/{north}/exports/{request}"
    [queued] = jobs(locker)
    assert (queued.id, queued.task, queued.status) == (asked["job"], "export", "queued")
    assert {k: v for k, v in queued.args.items() if k != "request"} == {
        "case": north,
        "requester": "investigator-1",
        "items": None,
        "profile": "court",
        "recipient": "Registry of Kelvarn",
        "lang": "en",
    }
    assert export_job.request_digest(queued.args) == request
    assert exported(locker) == [] and packages(locker) == []  # nothing made in the request
    listed = client.get(f"/api/cases/{north}/exports").json()
    assert [(e["request"], e["status"]) for e in listed] == [(request, "queued")]
    assert client.get(where).status_code == 404  # not made yet
    listed_job = f"{queued.id}\tqueued\texport court package (case {north}, for investigator-1)"
    assert listed_job in docket(locker, "jobs").stdout
    ran = worker(locker)
    assert f"job {queued.id} export {request[:12]}: done" in ran.stdout
    [(actor, details)] = exported(locker)
    assert actor == "investigator-1" and details["case"] == "North"
    assert details["package"] == f"{request}.zip" and details["items"] == [world["north"]]
    assert details["recipient"] == "Registry of Kelvarn"
    area = export_job.package_area(locker, make=False)
    assert packages(locker) == [f"{request}.zip"]
    assert area.stat().st_mode & 0o777 == 0o700
    assert list((area / export_job.MAKING).glob("*/*")) == []  # nothing left half-made
    page = client.get(f"/cases/{north}").text
    assert f'<li data-export="{request}">' in page and f'href="{where}"' in page
    # The requester downloads it: intact, and nothing new in custody.
    events = _last_event(locker)
    answer = client.get(where)
    assert answer.status_code == 200
    assert 'filename="North-court.zip"' in answer.headers["content-disposition"]
    (tmp_path / "North-court.zip").write_bytes(answer.content)
    report = check(tmp_path / "North-court.zip")
    assert report.ok, [c for c in report.checks if c[1] is False]
    with zipfile.ZipFile(tmp_path / "North-court.zip") as bundle:  # unzips as it is named
        assert {name.split("/")[0] for name in bundle.namelist()} == {"North-court"}
    assert _events_after(locker, events) == []
    assert client.get(f"/api/cases/{north}/exports").json() == []  # fetched: off the list
    # The same request queued again (a duplicated job) and run directly: nothing made twice.
    made_at = (area / f"{request}.zip").stat().st_mtime_ns
    with locker.engine.connect() as conn, conn.begin():
        again = queue.defer(conn, export_job.EXPORT, queued.args)
    ran = worker(locker)
    assert f"job {again} export {request[:12]}: done" in ran.stdout
    assert export_job.export_request(locker, queued.args) is None
    assert len(exported(locker)) == 1 and packages(locker) == [f"{request}.zip"]
    assert (area / f"{request}.zip").stat().st_mtime_ns == made_at


def _last_event(locker: Locker) -> int:
    with locker.engine.connect() as conn:
        return int(conn.execute(select(func.max(schema.events.c.seq))).scalar_one())


def _events_after(locker: Locker, seq: int) -> list[tuple[str, str, str]]:
    e = schema.events.c
    with locker.engine.connect() as conn:
        rows = conn.execute(select(e.action, e.actor, e.details).where(e.seq > seq)).all()
    return [(str(action), str(actor), str(details)[:200]) for action, actor, details in rows]


def test_only_the_requester_lists_and_downloads_the_package(
    world: dict[str, Any], locker: Locker
) -> None:
    postgresql_only(locker)
    client, north, south = world["client"], world["cases"]["North"], world["cases"]["South"]
    asked = queue_by_api(world, items=[world["north"]])
    worker(locker)
    request = asked["request"]
    nowhere = f"/cases/{north}/exports/{'0' * 64}"
    for who in ("owner-1", "ada", "outsider-1"):
        # Another member of the case, an admin who did not ask, another case's person: the
        # same answer as for a package that does not exist, and nothing listed.
        sign_in(client, who)
        refused, missing = client.get(asked["package"]), client.get(nowhere)
        assert (refused.status_code, missing.status_code) == (404, 404), who
        assert refused.json()["detail"] == f"export {request[:12]}: no such package in case {north}"
        assert missing.json()["detail"] == f"export {'0' * 12}: no such package in case {north}"
        listed = client.get(f"/api/cases/{north}/exports")
        if who == "outsider-1":  # not in the case at all
            assert listed.status_code == 404
        else:
            assert listed.json() == [], who
        assert f'data-export="{request}"' not in client.get(f"/cases/{north}").text
    sign_in(client, "investigator-1")
    # Nor under another case's address, even for the person who asked.
    assert client.get(f"/cases/{south}/exports/{request}").status_code == 404
    listed = client.get(f"/api/cases/{north}/exports").json()
    assert [(e["request"], e["status"]) for e in listed] == [(request, "ready")]
    assert client.get(asked["package"]).status_code == 200


def test_a_failed_export_keeps_its_reason_and_is_made_once_retried_in_the_reader_s_language(
    world: dict[str, Any], locker: Locker
) -> None:
    postgresql_only(locker)
    client, north = world["client"], world["cases"]["North"]
    client.cookies.set("lang", "ar")  # the reports are in the language the page was in
    asked = queue_by_api(world)
    blocking = export_job.package_area(locker) / export_job.MAKING
    blocking.write_bytes(b"")  # a file where packages are made: the attempt fails
    ran = worker(locker)
    blocking.unlink()
    assert f"job {asked['job']} export {asked['request'][:12]}: failed: " in ran.stderr
    [failed] = jobs(locker)
    assert failed.status == "failed" and failed.reason and failed.reason in ran.stderr
    assert exported(locker) == [] and packages(locker) == []
    listed = client.get(f"/api/cases/{north}/exports").json()
    assert [(e["status"], e["reason"]) for e in listed] == [("failed", failed.reason)]
    assert f'<li data-export="{asked["request"]}">' in client.get(f"/cases/{north}").text
    retried = docket(locker, "jobs", "retry", str(failed.id))
    assert retried.returncode == 0, retried.stderr
    ran = worker(locker)
    assert f"job {failed.id} export {asked['request'][:12]}: done" in ran.stdout
    assert len(exported(locker)) == 1 and packages(locker) == [f"{asked['request']}.zip"]
    answer = client.get(asked["package"])
    assert answer.status_code == 200
    with zipfile.ZipFile(io.BytesIO(answer.content)) as bundle:
        report = bundle.read("North-court/data/report.html").decode()
    assert report.startswith("<!doctype html><html lang=ar dir=rtl>"), report[:80]


def test_a_requester_removed_from_the_case_before_the_job_runs_gets_nothing_made(
    world: dict[str, Any], locker: Locker
) -> None:
    postgresql_only(locker)
    north = world["cases"]["North"]
    asked = queue_by_api(world)
    with locker.engine.connect() as conn, conn.begin():
        admin = accounts.user_named(conn, "ada")
        access.remove_member(conn, admin, north, world["users"]["investigator"])
    worker(locker)
    [failed] = jobs(locker)
    assert (failed.id, failed.status) == (asked["job"], "failed")
    assert "'investigator-1' may no longer export from it" in (failed.reason or "")
    assert exported(locker) == [] and packages(locker) == []


def test_the_page_says_the_package_is_being_made_and_a_bad_request_queues_nothing(
    world: dict[str, Any], locker: Locker
) -> None:
    postgresql_only(locker)
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    forms: list[tuple[dict[str, Any], str]] = [
        ({"profile": "tabloid"}, "'tabloid': a profile is one of court, publication"),
        ({"profile": "court", "items": [world["south"]]}, "no such item in case"),
        ({"profile": "court", "recipient": "x" * 256}, "recipient: at most 255 characters"),
    ]
    for form, said in forms:
        refused = client.post(f"/cases/{north}/export", data={"csrf": csrf, **form})
        assert refused.status_code in (400, 404) and said in refused.json()["detail"]
    assert jobs(locker) == []
    page = client.post(
        f"/cases/{north}/export",
        data={"profile": "court", "csrf": csrf},
        headers={"Accept": "text/html"},
    )
    [queued] = jobs(locker)
    assert page.status_code == 202
    assert f"Export queued as job {queued.id}" in page.text
    where = f"/cases/{north}/exports/{export_job.request_digest(queued.args)}"
    assert f'href="{where}"' in page.text


def test_two_packages_made_at_once_are_whole_and_jobs_clean_removes_the_expired_one(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    postgresql_only(locker)
    old, new = queue_by_api(world), queue_by_api(world)
    # Two jobs in one worker's threads: bagit-python's make_bag, which changed the process's
    # working folder, wrote one's tag files into the folder the worker started in
    # (docket.disclose.bagging).
    started_in = tmp_path / "worker"
    started_in.mkdir()
    worker(locker, "--concurrency", "2", cwd=started_in)
    assert list(started_in.iterdir()) == []
    area = export_job.package_area(locker, make=False)
    for made in (old, new):
        report = check(area / f"{made['request']}.zip")
        assert report.ok, [c for c in report.checks if c[1] is False]
    week_ago = time.time() - 8 * 86400
    os.utime(area / f"{old['request']}.zip", (week_ago, week_ago))
    events = _last_event(locker)
    cleaned = docket(locker, "jobs", "clean", "--older-than", "30")
    assert cleaned.returncode == 0, cleaned.stderr
    assert f"removed package {old['request']}.zip (made " in cleaned.stdout
    assert "removed 1 package(s) made more than 7 day(s) ago" in cleaned.stdout
    assert packages(locker) == [f"{new['request']}.zip"]
    assert _events_after(locker, events) == []
    sign_in(world["client"], "investigator-1")
    assert world["client"].get(old["package"]).status_code == 404
    assert world["client"].get(new["package"]).status_code == 200


def test_jobs_clean_never_removes_a_package_still_being_made(locker: Locker) -> None:
    """`jobs clean --packages-older-than 0` removes what dead workers left half-made, never
    the folder of an export still running here, nor another machine's of the last day."""
    making = export_job.package_area(locker) / export_job.MAKING
    here, elsewhere = making / scratch.machine(), making / "another-machine"
    running = here / f"{os.getpid()}-export-zq6running"  # this test's process: alive
    dead = here / f"{2**30}-export-zq6dead"  # no process has this id
    theirs, theirs_old = elsewhere / "4242-export-zq6fresh", elsewhere / "4242-export-zq6old"
    for folder in (running, dead, theirs, theirs_old):
        folder.mkdir(parents=True)
        (folder / "part.zip").write_bytes(b"zq6 half a package")
    two_days_ago = time.time() - 2 * 86400
    for folder in (dead, theirs_old):  # the running one was made now, by a live process
        os.utime(folder, (two_days_ago, two_days_ago))
    # A container of the same host name and boot, its own process ids: a process id dead here
    # may be its running export's (its folder is another machine's to this one).
    namespace = os.stat("/proc/self/ns/pid").st_ino
    assert scratch.machine().endswith(f"-{namespace}")
    twin = making / f"{scratch.machine().removesuffix(str(namespace))}{namespace + 1}"
    twins = twin / f"{2**30}-export-zq6twin"
    twins.mkdir(parents=True)
    removed = [name for name, _ in export_job.remove_expired(locker, 0)]
    assert sorted(removed) == sorted(
        str(folder.relative_to(making.parent)) for folder in (dead, theirs_old)
    )
    assert running.exists() and theirs.exists() and twins.exists()
    assert not dead.exists() and not theirs_old.exists()
    export_job._making(export_job.package_area(locker))  # cleans this machine's folder only
    assert twins.exists()


def test_packages_fetched_never_push_an_older_ready_one_off_the_list(
    world: dict[str, Any], locker: Locker
) -> None:
    postgresql_only(locker)
    oldest, *newer = [queue_by_api(world) for _ in range(3)]
    worker(locker)
    area = export_job.package_area(locker, make=False)
    for asked in newer:  # the two newest were downloaded
        export_job.mark_fetched(area / f"{asked['request']}.zip")
    with locker.engine.connect() as conn:
        north = world["cases"]["North"]
        listed = export_job.requested(locker, conn, north, "investigator-1", limit=1)
        everything = export_job.requested(locker, conn, north, "investigator-1")
    assert [(r.request, r.status) for r in listed] == [(oldest["request"], "ready")]
    assert [r.request for r in everything] == [oldest["request"]]
