"""Red team of the case walls for a person in both cases: an investigator of case A ("North")
who is also in case B (test_case_walls' `walls`, holding North's bytes under marked records)
works on the shared bytes through B. What they did there is B's; A's other people must not
see it (the rule docket.scope states, and the one the shadow fit's fix followed). A test that
passes guards a promise that held; one marked xfail(strict) is a finding for the lead."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import sign_in
from test_case_walls import walls

from docket import access, accounts
from docket.custody import log
from docket.jobs import queue, redaction
from docket.locker import Locker

__all__ = ["walls"]


@pytest.fixture
def dual(walls: dict[str, Any], locker: Locker) -> dict[str, Any]:
    """investigator-1 of North is made an investigator of B too."""
    with locker.engine.connect() as conn, conn.begin():
        admin = accounts.User(0, "ada", "admin")
        member = accounts.user_named(conn, "investigator-1")
        access.add_member(conn, admin, walls["b_id"], member, "investigator")
    return walls


def _made(locker: Locker, answer: Any) -> str:
    """The copy a redaction made: in the request (SQLite), or by its job (PostgreSQL: 202),
    run here as a worker runs it (tests/test_jobs_redaction.py runs real workers)."""
    if answer.status_code == 202:
        with locker.engine.connect() as conn:
            [job] = [j for j in queue.jobs(conn) if j.id == answer.json()["job"]]
        made = redaction.redact_item(
            locker, job.args["item"], job.args["plan"], job.args["actor"], job.args["case"]
        )
        assert made is not None
        return made
    assert answer.status_code == 200, answer.text
    return str(answer.json()["derivative"])


def _redact_through_b(dual: dict[str, Any], locker: Locker) -> str:
    client = dual["client"]
    csrf = sign_in(client, "investigator-1")
    answer = client.post(
        f"/api/items/{dual['shared']}/redact",
        params={"case": dual["b_id"]},
        json={"regions": [[5, 5, 30, 30]], "method": "mosaic"},
        headers={"x-csrf-token": csrf},
    )
    derivative = _made(locker, answer)
    in_b = client.get(f"/api/items/{dual['shared']}", params={"case": dual["b_id"]}).json()
    assert [c["sha256"] for c in in_b["copies"]] == [derivative]  # B sees its own copy
    return derivative


def test_a_redaction_by_b_only_person_is_not_offered_in_a(
    walls: dict[str, Any], locker: Locker
) -> None:
    """B's own member redacts the shared bytes through B: A's people are not offered the copy
    and A's trail has no event of it (the guard the rule keeps for people A does not know)."""
    client = walls["client"]
    csrf = sign_in(client, "zq7-mark-member")
    answer = client.post(
        f"/api/items/{walls['shared']}/redact",
        params={"case": walls["b_id"]},
        json={"regions": [[5, 5, 30, 30]], "method": "mosaic"},
        headers={"x-csrf-token": csrf},
    )
    derivative = _made(locker, answer)
    sign_in(client, "owner-1")
    in_a = client.get(f"/api/items/{walls['shared']}").json()
    assert in_a["copies"] == []
    assert derivative not in client.get(f"/items/{walls['shared']}").text


def test_a_redaction_made_through_b_by_a_member_of_both_stays_in_b(
    dual: dict[str, Any], locker: Locker
) -> None:
    """Found by the red team: redact.recorded named no case, so scope showed it to every case
    whose people include its actor (A's owner was offered B's copy, its boxes and its event).
    The event now names the case it was made in."""
    derivative = _redact_through_b(dual, locker)
    client = dual["client"]
    sign_in(client, "owner-1")
    in_a = client.get(f"/api/items/{dual['shared']}").json()
    trail = client.get(f"/items/{dual['shared']}").text
    assert in_a["copies"] == [] and derivative not in trail


def test_a_dashboard_lists_no_redaction_made_through_b(
    dual: dict[str, Any], locker: Locker
) -> None:
    _redact_through_b(dual, locker)
    client = dual["client"]
    sign_in(client, "owner-1")
    board = client.get(f"/api/cases/{dual['cases']['North']}/dashboard").json()
    assert "redact.recorded" not in {a["action"] for a in board["activity"]}
    with locker.engine.connect() as conn:
        made = [e for e in log.events(conn, dual["shared"]) if e.action == "redact.recorded"]
    assert len(made) == 1 and made[0].details["case"] == "Zq7-mark-case"  # B's work
