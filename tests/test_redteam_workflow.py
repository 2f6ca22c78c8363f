"""Red team of the review workflow (docket.web.workflow_routes, docket.review): statuses,
assignees, comments, bulk actions and the case dashboard, attacked from case A ("North") with
case B (test_case_walls' `walls`) holding the same bytes under marked records. A test that
passes guards a promise that held; one marked xfail(strict) is a finding for the lead."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import sign_in
from exporting import package_of
from fastapi.testclient import TestClient
from media import jpeg, sample
from sqlalchemy import func, select
from test_case_walls import MARKER, _package_files, walls

from docket import review, scope
from docket.catalogue import schema
from docket.disclose.check import check
from docket.locker import Locker

__all__ = ["walls"]
B = "Zq7-mark-case"


def _b_view(walls: dict[str, Any]) -> scope.Scope:
    return scope.Scope(walls["b_id"], B)


def _events(locker: Locker) -> int:
    with locker.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.events)).scalar_one())


@pytest.fixture
def b_workflow(walls: dict[str, Any], locker: Locker) -> dict[str, Any]:
    """B's people set a marked status comment and assign the shared bytes to B's member."""
    with locker.engine.connect() as conn, conn.begin():
        review.set_status(
            conn,
            "zq7-mark-member",
            walls["shared"],
            _b_view(walls),
            "disputed",
            "zq7-mark-member",
            "zq7-mark-comment",
        )
    return walls


@pytest.mark.parametrize("role", ["owner", "viewer"])
def test_case_a_workflow_views_show_nothing_of_b_status(
    b_workflow: dict[str, Any], role: str
) -> None:
    client, north, shared = b_workflow["client"], b_workflow["cases"]["North"], b_workflow["shared"]
    sign_in(client, f"{role}-1")
    paths = [
        f"/cases/{north}/dashboard",
        f"/api/cases/{north}/dashboard",
        f"/cases/{north}/items.csv",
        f"/cases/{north}/items.json",
        f"/cases/{north}/items.json?status=disputed",
        f"/api/cases/{north}/items?status=disputed",
        f"/cases/{north}?status=disputed",
        f"/items/{shared}",
        f"/api/items/{shared}",
        f"/cases/{north}/audit",
        f"/api/cases/{north}/audit?kind=status",
    ]
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 200, path
        found = MARKER.search(answer.content)
        assert not found, f"{path}: {answer.content[max(found.start() - 200, 0) : found.end()]!r}"
    rows = client.get(f"/api/cases/{north}/items", params={"status": "disputed"}).json()
    assert rows == []  # B's "disputed" does not narrow A's grid
    board = client.get(f"/api/cases/{north}/dashboard").json()
    assert board["by_status"]["disputed"] == 0


def test_case_b_sees_its_own_status_comment(b_workflow: dict[str, Any]) -> None:
    """The check above can fail: B's member finds the marked comment on B's item page."""
    client = b_workflow["client"]
    sign_in(client, "zq7-mark-member")
    page = client.get(f"/items/{b_workflow['shared']}", params={"case": b_workflow["b_id"]})
    assert b"zq7-mark-comment" in page.content


def test_bulk_with_an_item_of_b_changes_nothing_and_says_not_found(
    walls: dict[str, Any], locker: Locker
) -> None:
    """A bulk change in A naming A's item and an item only B holds: nothing changes, and the
    answer is the same as for bytes nobody holds."""
    client, north = walls["client"], walls["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    before = _events(locker)
    nobody = "0" * 64
    answers = {}
    for other in (walls["b_item"], nobody):
        for action, value in (("tag", "x"), ("flag", "graphic"), ("status", "verified")):
            answer = client.post(
                f"/api/cases/{north}/bulk",
                json={"items": [walls["north"], other], "action": action, "value": value},
                headers={"x-csrf-token": csrf},
            )
            assert answer.status_code == 404, answer.text
            answers[(other, action)] = answer.json()["detail"].replace(other[:12], "<item>")
    assert _events(locker) == before
    for action in ("tag", "flag", "status"):
        assert answers[(walls["b_item"], action)] == answers[(nobody, action)]


def test_bulk_link_to_b_incident_reads_as_no_such_incident(
    walls: dict[str, Any], locker: Locker
) -> None:
    client, north = walls["client"], walls["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    before = _events(locker)
    details = []
    for number in (walls["b_incident"], 10**9):
        answer = client.post(
            f"/api/cases/{north}/bulk",
            json={"items": [walls["north"]], "action": "link", "value": str(number)},
            headers={"x-csrf-token": csrf},
        )
        assert answer.status_code == 404
        details.append(re.sub(r"incident \d+", "incident <n>", answer.json()["detail"]))
    assert details[0] == details[1] and _events(locker) == before


def test_assigning_to_b_member_reads_as_assigning_to_nobody_known(
    walls: dict[str, Any], locker: Locker
) -> None:
    """Whether a name is an account (of B, say) is not learnt by assigning to it."""
    client, north_item = walls["client"], walls["north"]
    csrf = sign_in(client, "reviewer-1")
    before = _events(locker)
    details = []
    for name in ("zq7-mark-member", "zq7-nobody-at-all"):
        answer = client.post(
            f"/api/items/{north_item}/status",
            json={"assignee": name},
            headers={"x-csrf-token": csrf},
        )
        assert answer.status_code == 400
        details.append(answer.json()["detail"].replace(name, "<name>"))
    assert details[0] == details[1] and _events(locker) == before


def test_status_through_b_case_id_is_not_found(walls: dict[str, Any], locker: Locker) -> None:
    """A's reviewer names B's case for the shared bytes: not found, nothing recorded."""
    client, shared = walls["client"], walls["shared"]
    csrf = sign_in(client, "reviewer-1")
    before = _events(locker)
    answer = client.post(
        f"/api/items/{shared}/status",
        params={"case": walls["b_id"]},
        json={"status": "excluded"},
        headers={"x-csrf-token": csrf},
    )
    assert answer.status_code == 404 and _events(locker) == before
    bulk = client.post(
        f"/api/cases/{walls['b_id']}/bulk",
        json={"items": [shared], "action": "status", "value": "excluded"},
        headers={"x-csrf-token": csrf},
    )
    assert bulk.status_code == 404 and _events(locker) == before
    with locker.engine.connect() as conn:
        assert review.statuses_of(conn, [shared], _b_view(walls))[shared] == review.Status()


def test_b_busy_on_shared_bytes_leaves_a_dashboard_activity_as_it_was(
    walls: dict[str, Any], locker: Locker
) -> None:
    """Found by the red team: the dashboard's activity read the latest 200 events of A's
    items, then hid B's, so 210 tags of B on the shared bytes emptied A's activity (A learnt
    that someone it cannot see was busy on its bytes). It now reads on until it has enough."""
    client, north = walls["client"], walls["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    client.post(
        f"/api/items/{walls['shared']}/status",
        json={"status": "in review"},
        headers={"x-csrf-token": csrf},
    )
    seen = client.get(f"/api/cases/{north}/dashboard").json()["activity"]
    assert any(a["action"] == "item.status_set" for a in seen)
    with locker.engine.connect() as conn, conn.begin():
        for n in range(210):
            review.add_tag(conn, "zq7-mark-member", walls["shared"], f"b-{n}", _b_view(walls))
    after = client.get(f"/api/cases/{north}/dashboard").json()["activity"]
    assert after == seen


FORMULAS = ['=HYPERLINK("http", "x")', "+SUM(1)", "-2+3", "@SUM(1)", "\t=1+1", "\r=1+1"]


def test_an_uploaded_name_never_runs_as_a_formula_in_the_csv(
    world: dict[str, Any],
) -> None:
    """A file whose name is a spreadsheet formula, uploaded by an investigator: the item
    list's CSV never starts a cell with what a spreadsheet would run."""
    client, north = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    for quality, formula in enumerate(FORMULAS, start=60):  # each its own bytes
        picture = jpeg(sample("rocket"), quality)
        answer = client.post(
            f"/cases/{north}/upload",
            data={"csrf": csrf},
            files=[("files", (f"{formula}.jpg", picture, "image/jpeg"))],
        )
        assert answer.status_code == 200, answer.text
    text = client.get(f"/cases/{north}/items.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    names = [row["name"] for row in rows]
    assert len(rows) == 1 + len(FORMULAS)
    assert any(name.startswith("'=HYPERLINK") for name in names), names  # kept, as text
    for row in rows:
        for value in row.values():
            assert value[:1] not in ("=", "+", "-", "@", "\t", "\r"), row


def test_a_court_export_of_a_carries_nothing_of_b_workflow(
    b_workflow: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    """A's package (every file, its PDF text decompressed) holds none of B's status, comment
    or assignee on the shared bytes, and still checks."""
    client, north = b_workflow["client"], b_workflow["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    client.post(
        f"/api/items/{b_workflow['shared']}/status",
        json={"status": "verified", "comment": "harbour sign read"},
        headers={"x-csrf-token": csrf},
    )
    csrf = sign_in(client, "owner-1")
    answer = client.post(f"/cases/{north}/export", data={"profile": "court", "csrf": csrf})
    package = tmp_path / "a.zip"
    package.write_bytes(package_of(client, locker, answer))
    files = _package_files(package)
    for name, content in files.items():
        found = MARKER.search(content)
        assert not found, f"{name}: {content[max(found.start() - 200, 0) : found.end()]!r}"
    assert check(package).ok


def test_a_member_removed_from_a_reads_and_writes_nothing_more(
    walls: dict[str, Any], locker: Locker
) -> None:
    """A reviewer signed in, then removed from A by its owner: the same session reads none of
    A's grid, dashboard, audit, saved searches or exports, and changes no status."""
    client, north = walls["client"], walls["cases"]["North"]
    reviewer = TestClient(client.app)
    csrf = sign_in(reviewer, "reviewer-1")
    assert reviewer.get(f"/api/cases/{north}/dashboard").status_code == 200
    owner_csrf = sign_in(client, "owner-1")
    removed = client.delete(
        f"/api/cases/{north}/members/{walls['users']['reviewer'].id}",
        headers={"x-csrf-token": owner_csrf},
    )
    assert removed.status_code in (200, 204), removed.text
    before = _events(locker)
    for path in (
        f"/api/cases/{north}/items",
        f"/api/cases/{north}/dashboard",
        f"/api/cases/{north}/audit",
        f"/api/cases/{north}/searches",
        f"/cases/{north}/items.csv",
        f"/api/items/{walls['north']}",
    ):
        assert reviewer.get(path).status_code == 404, path
    answer = reviewer.post(
        f"/api/items/{walls['north']}/status",
        json={"status": "excluded"},
        headers={"x-csrf-token": csrf},
    )
    assert answer.status_code == 404 and _events(locker) == before


PAYLOAD = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def test_workflow_text_is_never_markup_on_any_workflow_page(
    world: dict[str, Any], locker: Locker
) -> None:
    """A reviewer writes markup into a status comment, a tag, an annotation and a saved
    search's name: the grid, dashboard, audit and item page show it as text."""
    client, north, item = world["client"], world["cases"]["North"], world["north"]
    csrf = sign_in(client, "reviewer-1")
    headers = {"x-csrf-token": csrf}
    writes = [
        (f"/api/items/{item}/status", {"status": "disputed", "comment": PAYLOAD}),
        (f"/api/items/{item}/tags", {"tag": PAYLOAD}),
        (f"/api/items/{item}/annotations", {"kind": "note", "text": PAYLOAD}),
        (f"/api/cases/{north}/searches", {"name": PAYLOAD, "query": "q=x"}),
    ]
    for path, body in writes:
        answer = client.post(path, json=body, headers=headers)
        assert answer.status_code == 200, (path, answer.text)
    pages = [
        f"/cases/{north}",
        f"/cases/{north}/dashboard",
        f"/cases/{north}/audit",
        f"/cases/{north}/audit?kind=status",
        f"/items/{item}",
    ]
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    shown = 0
    for path in pages:
        page = client.get(path).text
        assert "<img src=x" not in page and "<script>alert(2)" not in page, path
        shown += escaped in page
    assert shown >= 3  # the text is on the pages, as text
