"""A redaction saved in the browser runs as a job on PostgreSQL (issue 16): the request checks
who asks, the case and the boxes, queues a `redact` job and answers at once (the API 202 with
the job, the page back to the item page with "redaction queued"); a real `docket worker`
process makes the copy with the same `redact.recorded` event naming the case. A job run twice
makes one copy; a job whose item left the case fails with its reason (and, retried once it is
back, makes the copy); another case's person never sees the queued job. With SQLite the copy
is still made before the answer."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from conftest import PASSWORD, docket_command, sign_in, take
from job_queue import jobs, postgresql_only
from sqlalchemy import delete, insert, select
from starlette.requests import Request

from docket import access, accounts
from docket.catalogue import records, schema
from docket.jobs import queue, redaction
from docket.locker import Locker
from docket.protect.steps import RedactStep
from docket.web.guard import TEMPLATES

BOXES = [[10, 20, 50, 40], [200, 100, 40, 30]]
HINT = "A worker makes the copy"  # the redaction page's note where saving queues a job


def copies(locker: Locker, item: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(copy, actor, event details) of each redacted copy of `item`, oldest first."""
    d, e = schema.derivatives.c, schema.events.c
    with locker.engine.connect() as conn:
        rows = conn.execute(
            select(d.sha256, e.actor, e.details)
            .join(schema.events, e.seq == d.event_seq)
            .where(d.item_sha256 == item, d.kind == "redacted")
            .order_by(d.id)
        ).all()
    return [(str(sha), str(actor), json.loads(details)) for sha, actor, details in rows]


def redact_events(locker: Locker, item: str) -> list[str]:
    e = schema.events.c
    with locker.engine.connect() as conn:
        query = select(e.action).where(e.item_sha256 == item, e.action.like("redact.%"))
        return list(conn.execute(query).scalars())


def worker(locker: Locker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*docket_command(), "worker", "--until-empty", *args, "--locker", str(locker.path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def item_list(redactions: list[redaction.Pending], query: str = "") -> str:
    """The item page's list of redactions not made yet (templates/_redactions_queued.html)."""
    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    request = Request({**scope, "query_string": query.encode()})
    template = TEMPLATES.get_template("_redactions_queued.html")
    return template.render(request=request, redactions=redactions).strip()


def queue_by_api(world: dict[str, Any], name: str = "investigator-1") -> int:
    client, north, case = world["client"], world["north"], world["cases"]["North"]
    csrf = sign_in(client, name)
    answer = client.post(
        f"/api/items/{north}/redact?case={case}",
        json={"regions": BOXES, "method": "fill"},
        headers={"x-csrf-token": csrf},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    return int(answer.json()["job"])


def test_the_api_answers_202_and_a_worker_makes_the_copy_as_work_of_the_case(
    world: dict[str, Any], locker: Locker
) -> None:
    postgresql_only(locker)
    north, case = world["north"], world["cases"]["North"]
    job = queue_by_api(world)
    [queued] = jobs(locker)
    assert (queued.id, queued.task, queued.status) == (job, "redact", "queued")
    assert queued.args == {
        "item": north,
        "plan": {
            "regions": BOXES,
            "faces": False,
            "method": "fill",
            "from": None,
            "to": None,
            "keep_metadata": False,
        },
        "actor": "investigator-1",
        "case": case,
    }
    assert copies(locker, north) == []  # nothing made in the request
    listed = world["client"].get(f"/api/items/{north}/redactions?case={case}")
    assert listed.json() == [{"job": job, "status": "queued", "reason": None}]
    ran = worker(locker)
    assert ran.returncode == 0, ran.stderr
    assert f"job {job} redact {north[:12]}: done" in ran.stdout
    [(copy, actor, details)] = copies(locker, north)
    assert actor == "investigator-1" and details["case"] == "North"
    assert redact_events(locker, north) == ["redact.recorded"]
    assert [found.status for found in jobs(locker)] == ["done"]
    assert world["client"].get(f"/api/items/{north}/redactions?case={case}").json() == []
    shown = world["client"].get(f"/api/items/{north}?case={case}").json()
    assert copy in [c["sha256"] for c in shown["copies"]]


def test_the_page_goes_back_to_the_item_page_and_bad_boxes_queue_nothing(
    world: dict[str, Any], locker: Locker
) -> None:
    postgresql_only(locker)
    client, north, case = world["client"], world["north"], world["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    assert HINT in client.get(f"/items/{north}/redact?case={case}").text
    form = {"csrf": csrf, "action": "save", "x": "10", "y": "20", "w": "50", "h": "40"}
    saved = client.post(f"/items/{north}/redact?case={case}", data=form, follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/items/{north}?case={case}&redaction=queued#redactions"
    [queued] = jobs(locker)
    assert queued.args["actor"] == "reviewer-1" and queued.args["plan"]["regions"] == [BOXES[0]]
    outside = {**form, "x": "100000"}
    refused = client.post(f"/items/{north}/redact?case={case}", data=outside)
    assert refused.status_code == 400 and "reaches outside" in refused.json()["detail"]
    viewer = sign_in(client, "viewer-1")
    forbidden = client.post(
        f"/api/items/{north}/redact?case={case}",
        json={"regions": BOXES},
        headers={"x-csrf-token": viewer},
    )
    assert forbidden.status_code == 403
    assert [job.id for job in jobs(locker)] == [queued.id]  # neither was queued


def test_the_same_job_run_twice_makes_one_copy(world: dict[str, Any], locker: Locker) -> None:
    postgresql_only(locker)
    north, case = world["north"], world["cases"]["North"]
    first = queue_by_api(world)
    second = queue_by_api(world)  # the same plan saved twice: a duplicated job
    ran = worker(locker, "--concurrency", "2")
    assert ran.returncode == 0, ran.stderr
    assert {job.id: job.status for job in jobs(locker)} == {first: "done", second: "done"}
    assert len(copies(locker, north)) == 1
    assert redact_events(locker, north) == ["redact.recorded"]
    [job] = [job for job in jobs(locker) if job.id == first]
    again = redaction.redact_item(locker, north, job.args["plan"], "investigator-1", case)
    assert again is None  # run once more in-process: the copy is there, nothing is made
    assert len(copies(locker, north)) == 1
    other = {**job.args["plan"], "method": "mosaic"}  # another plan is another copy
    made = redaction.redact_item(locker, north, other, "investigator-1", case)
    assert made is not None and len(copies(locker, north)) == 2


def test_a_job_whose_item_left_the_case_fails_with_its_reason(
    world: dict[str, Any], locker: Locker
) -> None:
    postgresql_only(locker)
    north, case = world["north"], world["cases"]["North"]
    job = queue_by_api(world)
    with locker.engine.connect() as conn, conn.begin():  # no command removes it yet; a restore
        conn.execute(delete(schema.case_items).where(schema.case_items.c.item_sha256 == north))
    ran = worker(locker)
    assert ran.returncode == 0, ran.stderr
    reason = f"item {north[:12]}: no longer in case 'North'; nothing was redacted"
    assert f"job {job} redact {north[:12]}: failed: {reason}" in ran.stderr
    [failed] = jobs(locker)
    assert (failed.status, failed.reason) == ("failed", reason)
    assert copies(locker, north) == [] and redact_events(locker, north) == []
    listed = subprocess.run(
        [*docket_command(), "jobs", "--locker", str(locker.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert f"{job}\tfailed\tredact {north[:12]}: {reason}" in listed.stdout
    with locker.engine.connect() as conn:
        shown = redaction.pending(conn, north, case)
    assert shown == [redaction.Pending(job, "failed", reason)]
    escaped = reason.replace("'", "&#39;")
    assert f'<li data-job="{job}">job {job}: Failed: {escaped}</li>' in item_list(shown)
    # Put back in the case and retried, the job makes the copy, once.
    with locker.engine.connect() as conn, conn.begin():
        kind = select(schema.items.c.media_type).where(schema.items.c.sha256 == north)
        conn.execute(
            insert(schema.case_items).values(
                case_id=case,
                item_sha256=north,
                media_type=conn.execute(kind).scalar_one(),
                capture_time=records.latest_capture_time(conn, north),
                has_position=records.latest_has_position(conn, north),
            )
        )
    retry = [*docket_command(), "jobs", "retry", str(job), "--locker", str(locker.path)]
    assert subprocess.run(retry, capture_output=True, check=False).returncode == 0
    assert worker(locker).returncode == 0
    [(_, _, details)] = copies(locker, north)
    assert details["case"] == "North" and [j.status for j in jobs(locker)] == ["done"]


def test_a_job_whose_actor_may_no_longer_redact_fails(
    world: dict[str, Any], locker: Locker
) -> None:
    postgresql_only(locker)
    north, case = world["north"], world["cases"]["North"]
    queue_by_api(world)
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(
            delete(schema.memberships).where(
                schema.memberships.c.user_id == world["users"]["investigator"].id
            )
        )
    assert worker(locker).returncode == 0
    [failed] = jobs(locker)
    assert failed.status == "failed" and failed.reason is not None
    assert "'investigator-1' may no longer redact in case 'North'" in failed.reason
    assert copies(locker, north) == [] and case == failed.args["case"]


def test_another_case_s_person_never_sees_the_queued_job(
    world: dict[str, Any], locker: Locker, tmp_path: Any
) -> None:
    postgresql_only(locker)
    client, north, cases = world["client"], world["north"], world["cases"]
    # The same bytes arrive in South, whose only member is the outsider.
    take(locker, tmp_path / "north.jpg", case="South")
    with locker.engine.connect() as conn, conn.begin():
        admin = accounts.user_named(conn, "ada")
        access.add_member(conn, admin, cases["South"], world["users"]["outsider"], "owner")
    job = queue_by_api(world)
    sign_in(client, "outsider-1", PASSWORD)
    south = client.get(f"/api/items/{north}/redactions?case={cases['South']}")
    assert south.status_code == 200 and south.json() == []
    assert client.get(f"/api/items/{north}/redactions?case={cases['North']}").status_code == 404
    # South's item page: the list (templates/_redactions_queued.html) shows `pending` of South.
    page = client.get(f"/items/{north}?case={cases['South']}")
    assert page.status_code == 200 and f"job {job}" not in page.text
    with locker.engine.connect() as conn:
        in_south = redaction.pending(conn, north, cases["South"])
        in_north = redaction.pending(conn, north, cases["North"])
    assert in_south == [] and [p.job for p in in_north] == [job]
    assert item_list(in_south) == ""
    assert f'<li data-job="{job}">job {job}: queued</li>' in item_list(in_north)
    assert "Redaction queued" in item_list(in_north, "redaction=queued")


def test_with_sqlite_the_copy_is_made_before_the_answer(
    world: dict[str, Any], locker: Locker
) -> None:
    if locker.engine.dialect.name != "sqlite":
        pytest.skip("SQLite has no queue")
    client, north, case = world["client"], world["north"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    assert HINT not in client.get(f"/items/{north}/redact?case={case}").text
    answer = client.post(
        f"/api/items/{north}/redact?case={case}",
        json={"regions": BOXES},
        headers={"x-csrf-token": csrf},
    )
    assert answer.status_code == 200, answer.text
    [(copy, _, details)] = copies(locker, north)
    assert answer.json()["derivative"] == copy and details["case"] == "North"
    assert client.get(f"/api/items/{north}/redactions?case={case}").json() == []
    with locker.engine.connect() as conn:
        assert redaction.pending(conn, north, case) == []


def test_a_plan_reads_back_as_the_same_step() -> None:
    step = RedactStep(faces=False, regions=[(1, 2, 3, 4)], start=1.5, end=None, strip=False)
    again = redaction.step_of(json.loads(json.dumps(redaction.plan_of(step))))
    assert redaction.plan_of(again) == redaction.plan_of(step)
    with pytest.raises(queue.JobError, match="not a redaction plan"):
        redaction.step_of({"regions": [["a", 0, 1, 1]]})
