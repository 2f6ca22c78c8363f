"""The review workspace's workflow (issue 17): each item's status in a case, its assignee and
comments, every change a custody event of that case, from the command line, the library and
the web app (TestClient); bulk changes from the grid, the case dashboard and the item list's
CSV and JSON exports."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from conftest import LAYERS, PASSWORD, Layer, layer_facts, photo, sign_in, take

from docket import access, accounts, review, scope
from docket._samples import write_video
from docket.catalogue import queries, schema
from docket.custody import log
from docket.errors import DocketError
from docket.locker import Locker
from docket.verify import verify
from docket.web import grid_pages, workflow_routes
from docket.web.labels import duration, metadata_rows, size
from docket.web.workflow_routes import EXPORT_FIELDS, _cell


def build_two_cases(locker: Locker, tmp_path: Path, _base: dict[str, Any]) -> dict[str, Any]:
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


LAYERS["two_cases"] = Layer(build_two_cases, base="empty")


@pytest.fixture
def two_cases(request: pytest.FixtureRequest, locker: Locker) -> dict[str, Any]:
    return layer_facts(request, "two_cases", {})


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


def test_verify_names_a_status_changed_or_deleted_behind_the_log(
    locker: Locker, two_cases: dict[str, Any]
) -> None:
    market = two_cases["market"]
    with locker.engine.connect() as conn, conn.begin():
        north = scope.for_locker(conn, market, "North")
        review.set_status(conn, "lead", market, north, "disputed", comment="two sources differ")
        review.set_status(conn, "lead", market, north, "excluded", comment="staged")
    with locker.engine.begin() as conn:
        first, second = conn.execute(
            schema.statuses.select().order_by(schema.statuses.c.id)
        ).mappings()
        conn.execute(
            schema.statuses.update()
            .where(schema.statuses.c.id == second["id"])
            .values(status="verified", comment=None)
        )
        conn.execute(schema.statuses.delete().where(schema.statuses.c.id == first["id"]))
    problems = sorted(str(p) for p in verify(locker).problems)
    assert problems == sorted(
        [
            f"statuses row of item {market[:16]}: differs from what event "
            f"{second['event_seq']} recorded",
            f"event {first['event_seq']}: its statuses row is missing",
        ]
    )


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


def _north_items(locker: Locker, count: int, tmp_path: Path) -> list[str]:
    """Every item of case North (the world's one, then `count` new pictures), first seen first."""
    folder = tmp_path / "many"
    for n in range(count):
        photo(folder, f"street-{n:02}.jpg", seed=100 + n)
    take(locker, folder, case="North")
    with locker.engine.connect() as conn:
        return [row["sha256"] for row in queries.list_items(conn, "North")]


def test_status_from_the_item_routes_keeps_the_case_walls(
    world: dict[str, Any], locker: Locker
) -> None:
    client, north, south = world["client"], world["north"], world["south"]
    csrf = sign_in(client, "reviewer-1")
    page = client.post(
        f"/items/{north}/status",
        data={
            "status": "in review",
            "assignee": "viewer-1",
            "comment": "who filmed?",
            "csrf": csrf,
        },
        follow_redirects=False,
    )
    assert page.status_code == 303
    answer = client.post(
        f"/api/items/{north}/status",
        json={"status": "verified"},
        headers={"x-csrf-token": csrf},
    )
    assert answer.json() == {"status": "verified", "assignee": "viewer-1", "comment": None}
    assert (
        client.post(f"/items/{south}/status", data={"status": "excluded", "csrf": csrf}).status_code
        == 404
    )
    forged = client.post(f"/items/{north}/status", data={"status": "excluded", "csrf": "x"})
    assert forged.status_code == 403
    sign_in(client, "viewer-1")
    viewer_csrf = sign_in(client, "viewer-1")
    refused = client.post(
        f"/items/{north}/status", data={"status": "excluded", "csrf": viewer_csrf}
    )
    assert refused.status_code == 403
    listed = client.get(f"/api/cases/{world['cases']['North']}/items").json()
    assert [(r["status"], r["assignee"]) for r in listed] == [("verified", "viewer-1")]


def test_bulk_changes_are_one_event_per_item_and_all_or_nothing(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    items = _north_items(locker, 6, tmp_path)
    csrf = sign_in(client, "investigator-1")
    with locker.engine.connect() as conn:
        before = log.size(conn)
    for action, value in [
        ("tag", "market-day"),
        ("flag", "graphic"),
        ("status", "disputed"),
        ("assign", "reviewer-1"),
    ]:
        done = client.post(
            f"/cases/{north_id}/bulk",
            data={"action": action, "value": value, "items": items, "csrf": csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
    with locker.engine.connect() as conn:
        added = [e for e in log.events(conn) if e.seq >= before]
    assert len(added) == 4 * len(items)
    assert {e.item for e in added if e.action == "item.tagged"} == set(items)
    listed = client.get(f"/api/cases/{north_id}/items").json()
    assert {(r["flag"], r["status"], r["assignee"]) for r in listed} == {
        ("graphic", "disputed", "reviewer-1")
    }
    # One item of another case in the list: nothing at all changes, and B is not named.
    mixed = client.post(
        f"/api/cases/{north_id}/bulk",
        json={"action": "status", "value": "excluded", "items": [*items, world["south"]]},
        headers={"x-csrf-token": csrf},
    )
    assert mixed.status_code == 404 and "South" not in mixed.text
    with locker.engine.connect() as conn:
        assert log.size(conn) == before + 4 * len(items)
    assert (
        client.post(
            f"/cases/{north_id}/bulk",
            data={"action": "tag", "value": "x", "items": items, "csrf": "forged"},
        ).status_code
        == 403
    )
    bad = client.post(
        f"/api/cases/{north_id}/bulk",
        json={"action": "delete", "value": "", "items": items},
        headers={"x-csrf-token": csrf},
    )
    assert bad.status_code == 400 and "a bulk action is one of" in bad.json()["detail"]


def test_dashboard_counts_and_activity_of_the_case_only(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    items = _north_items(locker, 3, tmp_path)
    csrf = sign_in(client, "ada")
    south_item = world["south"]
    client.post(
        f"/api/items/{south_item}/status",
        json={"status": "excluded", "comment": "zq8-south"},
        headers={"x-csrf-token": csrf},
    )
    csrf = sign_in(client, "owner-1")
    client.post(
        f"/api/cases/{north_id}/bulk",
        json={"action": "status", "value": "verified", "items": items[:2]},
        headers={"x-csrf-token": csrf},
    )
    board = client.get(f"/api/cases/{north_id}/dashboard").json()
    assert board["items"] == 4
    assert board["by_status"] == {
        "new": 2,
        "in review": 0,
        "verified": 2,
        "disputed": 0,
        "excluded": 0,
    }
    assert sum(board["by_flag"].values()) == 4 and board["by_type"] == {"picture": 4}
    assert [a["action"] for a in board["activity"][:2]] == ["item.status_set"] * 2
    assert {a["item"] for a in board["activity"]} <= set(items)
    page = client.get(f"/cases/{north_id}/dashboard")
    assert (
        page.status_code == 200 and "item.status_set" in page.text and "zq8-south" not in page.text
    )
    assert client.get(f"/cases/{world['cases']['South']}/dashboard").status_code == 404


def test_item_list_exports_as_csv_and_json_with_the_grid_filters(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    items = _north_items(locker, 3, tmp_path)
    csrf = sign_in(client, "reviewer-1")
    client.post(
        f"/api/items/{items[0]}/status", json={"status": "disputed"}, headers={"x-csrf-token": csrf}
    )
    rows = client.get(f"/cases/{north_id}/items.json").json()
    assert [r["sha256"] for r in rows] == items and set(rows[0]) == set(EXPORT_FIELDS)
    disputed = client.get(f"/cases/{north_id}/items.json", params={"status": "disputed"}).json()
    assert [r["sha256"] for r in disputed] == [items[0]]
    answer = client.get(f"/cases/{north_id}/items.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["sha256"] for r in table] == items
    assert table[0]["status"] == "disputed" and table[2]["name"].endswith("street-01.jpg")
    assert client.get(f"/cases/{world['cases']['South']}/items.csv").status_code == 404


def test_exports_are_read_in_pages_and_come_out_whole(
    world: dict[str, Any], locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export of the grid is read a page at a time (a million items are never held nor
    bound at once) and streamed: cut into pages of 2, it is byte for byte what one page
    gives, filtered or not, and JSON that parses, also when nothing passes."""
    client, north_id = world["client"], world["cases"]["North"]
    _north_items(locker, 5, tmp_path)
    sign_in(client, "reviewer-1")
    urls = [
        f"/cases/{north_id}/items.{kind}{query}"
        for kind in ("csv", "json")
        for query in ("", "?type=image/", "?status=verified")
    ]
    whole = {url: client.get(url) for url in urls}
    read: list[int] = []
    pages_of = grid_pages.rows

    def counted(conn: Any, case_id: int, shas: Any) -> Any:
        read.append(len(shas))
        return pages_of(conn, case_id, shas)

    monkeypatch.setattr(workflow_routes, "EXPORT_PAGE", 2)
    monkeypatch.setattr(grid_pages, "rows", counted)
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 200 and answer.content == whole[url].content, url
        if ".json" in url:  # as json.dumps writes the whole list
            assert answer.text == json.dumps(json.loads(answer.text), ensure_ascii=False, indent=1)
    assert read and max(read) <= 2
    every = json.loads(whole[urls[3]].text)
    assert len(every) >= 5 and len(list(csv.DictReader(io.StringIO(whole[urls[0]].text)))) == len(
        every
    )
    assert json.loads(whole[urls[5]].text) == [] and whole[urls[5]].text == "[]"


def test_a_csv_cell_never_runs_as_a_formula() -> None:
    assert _cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert _cell("-1+2") == "'-1+2" and _cell("market.jpg") == "market.jpg" and _cell(None) == ""


def test_item_page_is_titled_by_its_name_and_shows_its_workflow(
    world: dict[str, Any], locker: Locker
) -> None:
    client, north, north_id = world["client"], world["north"], world["cases"]["North"]
    csrf = sign_in(client, "owner-1")
    client.post(
        f"/api/items/{north}/status",
        json={"status": "in review", "assignee": "reviewer-1", "comment": "مداهمة السوق"},
        headers={"x-csrf-token": csrf},
    )
    page = client.get(f"/items/{north}").text
    assert '<h1 dir="auto">north.jpg</h1>' in page and "<title>north.jpg</title>" in page
    assert f'href="/cases/{north_id}">Back to <bdi>North</bdi>' in page
    assert '<span dir="auto">مداهمة السوق</span>' in page
    assert "<option selected>reviewer-1</option>" in page and "<option selected>in review" in page
    assert client.get("/static/review.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/nothing.js").status_code == 404


def test_metadata_reads_in_human_labels_with_units() -> None:
    rows = dict(
        metadata_rows(
            {
                "status": "ok",
                "capture_time": "2024-03-01T14:05:00+02:00",
                "capture_time_has_offset": True,
                "offset_source": "OffsetTime tag",
                "gps_latitude": 31.5,
                "gps_longitude": 34.46667,
                "gps_altitude": 12.0,
                "make": "Nokia",
                "model": "G21",
                "width": 4000,
                "height": 3000,
                "duration": None,
                "warnings": [],
            }
        )
    )
    assert rows == {
        "Captured": "2024-03-01T14:05:00+02:00 (offset from the OffsetTime tag)",
        "Place (GPS)": "31.50000, 34.46667 (latitude, longitude)",
        "Altitude": "12 m",
        "Camera": "Nokia G21",
        "Picture size": "4000 by 3000 px",
    }
    bare = dict(metadata_rows({"capture_time": "2024-03-01T14:05:00", "warnings": ["odd"]}))
    assert bare["Captured"].endswith("(the file gives no time-zone offset)")
    assert bare["ExifTool warnings"] == "odd"
    assert [duration(4.25), duration(125), duration(3723)] == [
        "4.2 s",
        "2 min 05 s",
        "1 h 02 min 03 s",
    ]
    assert size(999) == "999 bytes" and size(1_234_567) == "1.2 MB (1,234,567 bytes)"


def test_tiles_say_kind_date_duration_and_show_a_placeholder_without_preview(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_video(folder / "clip.mp4", seconds=2)
    with zipfile.ZipFile(folder / "notes.zip", "w") as archive:
        archive.writestr("notes.txt", "a list of street names")
    take(locker, folder, case="North")
    sign_in(client, "viewer-1")
    rows = {
        r["name"].rsplit("/", 1)[-1]: r for r in client.get(f"/api/cases/{north_id}/items").json()
    }
    assert rows["notes.zip"]["kind"] == "archive" and not rows["notes.zip"]["has_preview"]
    assert rows["clip.mp4"]["kind"] == "video" and rows["clip.mp4"]["duration"] > 1.5
    assert rows["north.jpg"]["kind"] == "picture" and rows["north.jpg"]["has_preview"]
    page = client.get(f"/cases/{north_id}").text
    assert "archive: no preview" in page
    assert f'src="/items/{rows["notes.zip"]["sha256"]}/safe-preview' not in page
    item = client.get(f"/items/{world['north']}").text
    assert "capture_time_has_offset" not in item and "warnings" not in item
