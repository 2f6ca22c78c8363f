"""A capture asked in the web app runs as a job on PostgreSQL (issue 16): the request checks who
asks, the case, the profile and the URL, queues a `capture` job and answers at once (the API
202 with the job, the page saying where the capture will appear); a real `docket worker`
process captures the page through the proxy of its own environment and records it as
`docket capture` does, once: a duplicated job records nothing twice. A job that fails (its
proxy gone) keeps its reason, is listed as failed in its case and by `docket jobs`, and
captures once retried; another case never sees it. With SQLite the capture is made before the
answer (tests/test_capture_web.py)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from conftest import sign_in
from job_queue import docket, jobs, logged, postgresql_only
from web_site import Site, serve_proxy

from docket import access, accounts
from docket.jobs import capture as capture_job
from docket.jobs import queue
from docket.jobs.capture import PROXY_VARIABLE
from docket.locker import Locker

HOST = "velmora.test"  # resolved by the test proxy to the test site on loopback


def made(locker: Locker) -> list[tuple[str, dict[str, Any]]]:
    return logged(locker, "capture.made")


def worker(locker: Locker) -> subprocess.CompletedProcess[str]:
    return docket(locker, "worker", "--until-empty")


def queue_by_api(world: dict[str, Any], url: str, note: str = "") -> int:
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    answer = client.post(f"/cases/{north}/capture", data={"url": url, "csrf": csrf, "note": note})
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    return int(answer.json()["job"])


def test_a_capture_queued_from_the_web_is_recorded_once_by_a_worker(
    world: dict[str, Any], locker: Locker, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgresql_only(locker)
    client, north = world["client"], world["cases"]["North"]
    url = f"http://{HOST}:{site.port}/gallery.html"
    with serve_proxy({HOST: "127.0.0.1"}) as proxy:
        monkeypatch.setenv(PROXY_VARIABLE, proxy.url)  # the web app's and the worker's
        job = queue_by_api(world, url, note="from the web")
        [queued] = jobs(locker)
        assert (queued.id, queued.task, queued.status) == (job, "capture", "queued")
        assert {k: v for k, v in queued.args.items() if k != "request"} == {
            "url": url,
            "case": north,
            "collector": "investigator-1",
            "note": "from the web",
            "profile": None,
            "allow_private_network": False,
        }
        assert site.requests == [] and made(locker) == []  # nothing loaded in the request
        listed = client.get(f"/api/cases/{north}/captures").json()
        assert listed == [{"job": job, "url": url, "status": "queued", "reason": None}]
        page = client.get(f"/cases/{north}/capture").text
        assert f'<li data-job="{job}">' in page and "queued" in page
        ran = worker(locker)
        assert ran.returncode == 0, ran.stderr
        assert f"job {job} capture {url}: done" in ran.stdout
        assert all(port in proxy.ports for _path, port in site.requests)
    [(actor, details)] = made(locker)
    assert actor == "investigator-1" and details["case"] == "North"
    assert details["url"] == url and details["status"] == 200 and details["proxy"] is True
    assert details["request"] == capture_job.request_digest(queued.args)
    listed_items = {row["sha256"] for row in client.get(f"/api/cases/{north}/items").json()}
    assert {part["sha256"] for part in details["parts"]} <= listed_items
    assert [found.status for found in jobs(locker)] == ["done"]
    assert client.get(f"/api/cases/{north}/captures").json() == []
    # The same request queued again (a duplicated job) and run directly: nothing recorded twice.
    with locker.engine.connect() as conn, conn.begin():
        again = queue.defer(conn, capture_job.CAPTURE, queued.args)
    served = len(site.requests)
    ran = worker(locker)
    assert ran.returncode == 0, ran.stderr
    assert f"job {again} capture {url}: done" in ran.stdout
    assert capture_job.capture_request(locker, queued.args) is None
    assert len(made(locker)) == 1 and len(site.requests) == served  # the page was not loaded


def test_a_failed_capture_keeps_its_reason_in_its_case_only_and_captures_once_retried(
    world: dict[str, Any], locker: Locker, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgresql_only(locker)
    client, north, south = world["client"], world["cases"]["North"], world["cases"]["South"]
    url = f"http://{HOST}:{site.port}/gallery.html"
    with serve_proxy({HOST: "127.0.0.1"}) as gone:
        monkeypatch.setenv(PROXY_VARIABLE, gone.url)
        job = queue_by_api(world, url)
    ran = worker(locker)  # its proxy is gone: nothing can be loaded
    assert ran.returncode == 0, ran.stderr
    assert f"job {job} capture {url}: failed: " in ran.stderr
    [failed] = jobs(locker)
    assert failed.status == "failed" and failed.reason
    assert failed.reason in ran.stderr
    assert made(locker) == [] and site.requests == []
    listed = client.get(f"/api/cases/{north}/captures").json()
    assert listed == [{"job": job, "url": url, "status": "failed", "reason": failed.reason}]
    for where in (f"/cases/{north}/capture", f"/cases/{north}"):  # the case page lists it too
        page = client.get(where).text
        assert "Captures not made yet" in page and f'<li data-job="{job}">' in page, where
    shown = docket(locker, "jobs", "--status", "failed")
    assert shown.returncode == 0, shown.stderr
    assert f"{job}\tfailed\tcapture {url} (case {north}): {failed.reason}" in shown.stdout
    # Another case never sees it: not in its list, not on its page, not to its people.
    sign_in(client, "ada")  # the admin, who may see every case
    assert client.get(f"/api/cases/{south}/captures").json() == []
    assert "Captures not made yet" not in client.get(f"/cases/{south}/capture").text
    assert "Captures not made yet" not in client.get(f"/cases/{south}").text
    sign_in(client, "outsider-1")
    assert client.get(f"/api/cases/{north}/captures").status_code == 404
    # Retried with a proxy that is there, it captures once.
    with serve_proxy({HOST: "127.0.0.1"}) as proxy:
        monkeypatch.setenv(PROXY_VARIABLE, proxy.url)
        retried = docket(locker, "jobs", "retry", str(job))
        assert retried.returncode == 0, retried.stderr
        ran = worker(locker)
    assert ran.returncode == 0, ran.stderr
    assert f"job {job} capture {url}: done" in ran.stdout
    [(actor, details)] = made(locker)
    assert actor == "investigator-1" and details["case"] == "North"
    [done] = jobs(locker)
    # At least the retry by hand (a worker slowed by a loaded machine can be taken for stalled
    # and its job put back once more: harmless, the capture being made once).
    assert done.status == "done" and done.retried >= 1
    sign_in(client, "investigator-1")
    assert client.get(f"/api/cases/{north}/captures").json() == []


def test_a_job_whose_collector_may_no_longer_capture_fails_and_captures_nothing(
    world: dict[str, Any], locker: Locker, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgresql_only(locker)
    north = world["cases"]["North"]
    url = f"http://{HOST}:{site.port}/gallery.html"
    monkeypatch.setenv(PROXY_VARIABLE, "http://127.0.0.1:9")  # never reached
    job = queue_by_api(world, url)
    with locker.engine.connect() as conn, conn.begin():
        admin = accounts.user_named(conn, "ada")
        access.remove_member(conn, admin, north, world["users"]["investigator"])
    ran = worker(locker)
    assert ran.returncode == 0, ran.stderr
    [failed] = jobs(locker)
    assert (failed.id, failed.status) == (job, "failed")
    assert "'investigator-1' may no longer capture into case 'North'" in (failed.reason or "")
    assert made(locker) == []


def test_the_web_page_says_the_capture_is_queued_and_a_refused_address_queues_nothing(
    world: dict[str, Any], locker: Locker, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgresql_only(locker)
    client, north = world["client"], world["cases"]["North"]
    monkeypatch.setenv(PROXY_VARIABLE, "http://127.0.0.1:9")  # names resolved by the proxy
    csrf = sign_in(client, "investigator-1")
    form = client.get(f"/cases/{north}/capture").text
    assert "A worker captures the page" in form
    refused = client.post(
        f"/cases/{north}/capture", data={"url": site.url("/gallery.html"), "csrf": csrf}
    )
    assert refused.status_code == 400 and "refused" in refused.json()["detail"]
    assert jobs(locker) == []
    page = client.post(
        f"/cases/{north}/capture",
        data={"url": "https://velmora.example/", "csrf": csrf},
        headers={"Accept": "text/html"},
    )
    [queued] = jobs(locker)
    assert page.status_code == 202
    assert f"Capture queued as job {queued.id}" in page.text
    assert f'<li data-job="{queued.id}">' in page.text
