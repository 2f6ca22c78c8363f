"""The review workspace's workflow (issue 17): each item's status in a case, its assignee and
comments, every change a custody event of that case, from the command line and the library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, photo, take

from docket import access, accounts, review, scope
from docket.catalogue import schema
from docket.custody import log
from docket.errors import DocketError
from docket.locker import Locker
from docket.verify import verify


@pytest.fixture
def two_cases(locker: Locker, tmp_path: Path) -> dict[str, Any]:
    """North holds market.jpg and a picture South holds too; South also holds bridge.jpg."""
    market = take(locker, photo(tmp_path / "n", "market.jpg"), case="North").outcomes[0].sha256
    shared_file = photo(tmp_path / "both", "shared.jpg", seed=3)
    shared = take(locker, shared_file, case="North").outcomes[0].sha256
    take(locker, shared_file, case="South")
    with locker.engine.connect() as conn, conn.begin():
        admin = accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
        rana = accounts.create_user(conn, "setup", "rana-7", PASSWORD, "member")
        cases = dict(
            conn.execute(
                schema.cases.select().with_only_columns(schema.cases.c.name, schema.cases.c.id)
            ).all()
        )
        access.add_member(conn, admin, cases["North"], rana, "reviewer")
    return {"market": market, "shared": shared, "cases": cases}


def test_status_changes_are_custody_events_of_the_case(
    locker: Locker, two_cases: dict[str, Any]
) -> None:
    market = two_cases["market"]
    with locker.engine.connect() as conn, conn.begin():
        north = scope.for_locker(conn, market, "North")
        assert review.statuses_of(conn, [market], north)[market] == review.Status()
        review.set_status(conn, "lead", market, north, "in review", "rana-7", "check the sign")
        now = review.set_status(conn, "rana-7", market, north, "verified", comment="shadow ok")
        assert now == review.Status("verified", "rana-7", "shadow ok")
        history = review.status_history(conn, market, north)
        events = [e for e in log.events(conn, market) if e.action == "item.status_set"]
    assert [h["status"] for h in history] == ["in review", "verified"]
    assert [h["event_seq"] for h in history] == [e.seq for e in events]
    assert events[-1].details == {
        "status": "verified",
        "assignee": "rana-7",
        "comment": "shadow ok",
        "case": "North",
    }
    assert verify(locker).ok


def test_a_status_in_one_case_is_not_seen_from_another(
    locker: Locker, two_cases: dict[str, Any]
) -> None:
    shared = two_cases["shared"]
    with locker.engine.connect() as conn, conn.begin():
        north = scope.for_locker(conn, shared, "North")
        south = scope.for_locker(conn, shared, "South")
        review.set_status(conn, "lead", shared, north, "disputed", comment="zq9-north-marker")
        assert review.statuses_of(conn, [shared], south)[shared].status == "new"
        assert review.status_history(conn, shared, south) == []
        south_trail = scope.events_of(conn, south, shared)
    assert all("zq9-north-marker" not in str(e.details) for e in south_trail)


@pytest.mark.parametrize(
    ("status", "assignee", "comment", "reason"),
    [
        ("done", None, None, "a status is one of new, in review"),
        ("verified", "stranger", None, "'stranger' is not a member of case North"),
        ("verified", None, "   ", "a comment needs text"),
    ],
)
def test_bad_workflow_changes_are_refused_and_record_nothing(
    locker: Locker,
    two_cases: dict[str, Any],
    status: str,
    assignee: str | None,
    comment: str | None,
    reason: str,
) -> None:
    market = two_cases["market"]
    with locker.engine.connect() as conn, conn.begin():
        north = scope.for_locker(conn, market, "North")
        before = log.size(conn)
        with pytest.raises(DocketError, match=reason):
            review.set_status(conn, "lead", market, north, status, assignee, comment)
        assert log.size(conn) == before
        assert review.status_history(conn, market, north) == []


def test_status_from_the_command_line(cli: Any, locker: Locker, two_cases: dict[str, Any]) -> None:
    market, shared, where = two_cases["market"], two_cases["shared"], locker.path
    done = cli("status", "--locker", where, market[:10], "in review", "--assign", "rana-7")
    assert done.code == 0, done.err
    assert f"item {market[:12]} in North: in review, assigned to rana-7" in done.out
    unassigned = cli(
        "status",
        "--locker",
        where,
        market[:10],
        "verified",
        "--assign",
        "",
        "--json",
        "--comment",
        "two sources agree",
    ).json()
    assert (unassigned["status"], unassigned["assignee"]) == ("verified", None)
    several = cli("status", "--locker", where, shared[:10], "excluded")
    assert several.code == 1 and "give --case" in several.err
    bad = cli("status", "--locker", where, market[:10], "finished")
    assert bad.code == 2 and "finished" in bad.err
    actions = [line.split()[3] for line in cli("log", "--locker", where).out.splitlines()]
    assert actions.count("item.status_set") == 2
