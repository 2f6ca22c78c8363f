"""Incidents, timeline, near-duplicates, keyframes and flags in the web app: every role on
every new route, and the flows a reviewer follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import PASSWORD, ROLES, photo, sign_in, take
from media import jpeg, sample
from PIL import Image

from docket import access, accounts
from docket.catalogue import queries
from docket.custody import log
from docket.locker import Locker
from docket.verify import verify

MARKET = {
    "title": "Shelling of the grain market",
    "occurred_from": "2024-03-01T09:40",
    "place": "Grain market, Eastbrook",
    "latitude": 33.51,
    "longitude": 36.28,
    "violations": ["attack on civilians"],
    "actors": ["Unit 7 (unconfirmed)"],
}
MAY_RECORD = {"owner": 200, "investigator": 200, "reviewer": 403, "viewer": 403, "outsider": 404}
MAY_ANNOTATE = {"owner": 200, "investigator": 200, "reviewer": 200, "viewer": 403, "outsider": 404}


def record(world: dict[str, Any], as_user: str = "owner-1") -> int:
    client = world["client"]
    csrf = sign_in(client, as_user)
    answer = client.post(
        f"/api/cases/{world['cases']['North']}/incidents",
        json=MARKET,
        headers={"x-csrf-token": csrf},
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["id"])


@pytest.mark.parametrize("role", [*ROLES, "outsider"])
def test_every_role_on_the_incident_routes(world: dict[str, Any], role: str) -> None:
    incident = record(world)
    client, north, case = world["client"], world["north"], world["cases"]["North"]
    csrf = sign_in(client, f"{role}-1")
    headers = {"x-csrf-token": csrf}
    view = 200 if role != "outsider" else 404
    for path in [
        f"/cases/{case}/incidents",
        f"/cases/{case}/timeline",
        f"/cases/{case}/groups",
        f"/incidents/{incident}",
        f"/api/cases/{case}/incidents",
        f"/api/cases/{case}/timeline",
        f"/api/cases/{case}/groups",
        f"/api/incidents/{incident}",
        f"/api/items/{north}/similar",
    ]:
        assert client.get(path).status_code == view, path
    made = client.post(f"/api/cases/{case}/incidents", json=MARKET, headers=headers)
    assert made.status_code == MAY_RECORD[role]
    revised = client.put(f"/api/incidents/{incident}", json=MARKET, headers=headers)
    assert revised.status_code == MAY_RECORD[role]
    linked = client.post(f"/api/incidents/{incident}/links", json={"item": north}, headers=headers)
    assert linked.status_code == MAY_ANNOTATE[role]
    flagged = client.post(f"/api/items/{north}/flag", json={"flag": "graphic"}, headers=headers)
    assert flagged.status_code == MAY_ANNOTATE[role]
    # A photo has no keyframes: those who may reveal learn that, others are refused first.
    frame = client.post(f"/items/{north}/keyframes/0/reveal", data={"csrf": csrf})
    assert (
        frame.status_code
        == {**MAY_ANNOTATE, "owner": 404, "investigator": 404, "reviewer": 404}[role]
    )
    vocabulary = client.post("/api/violation-types", json={"name": "pillage"}, headers=headers)
    assert vocabulary.status_code == 403  # only admins change the vocabulary


def test_no_one_reaches_an_incident_of_another_case(world: dict[str, Any]) -> None:
    client, south_case = world["client"], world["cases"]["South"]
    csrf = sign_in(client, "ada")
    answer = client.post(
        f"/api/cases/{south_case}/incidents", json=MARKET, headers={"x-csrf-token": csrf}
    )
    south_incident = answer.json()["id"]
    csrf = sign_in(client, "owner-1")
    assert client.get(f"/incidents/{south_incident}").status_code == 404
    assert client.get(f"/api/incidents/{south_incident}").status_code == 404
    assert client.get(f"/api/incidents/{south_incident + 1000}").status_code == 404
    stolen = client.post(
        f"/api/incidents/{south_incident}/links",
        json={"item": world["north"]},
        headers={"x-csrf-token": csrf},
    )
    assert stolen.status_code == 404


def test_an_incident_is_recorded_linked_and_shown_on_its_pages(
    world: dict[str, Any], locker: Locker
) -> None:
    incident = record(world, "investigator-1")
    client, north = world["client"], world["north"]
    csrf = sign_in(client, "reviewer-1")
    client.post(
        f"/items/{north}/annotations",
        data={"text": "crater by the stall", "region": "5,5,50,50", "csrf": csrf},
    )
    note = client.get(f"/api/items/{north}").json()["annotations"][0]["id"]
    for annotation in ["", str(note)]:
        answer = client.post(
            f"/items/{north}/incidents",
            data={"incident": incident, "annotation": annotation, "csrf": csrf},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
    item_page = client.get(f"/items/{north}").text
    assert f'href="/incidents/{incident}"' in item_page and "(annotation" in item_page
    page = client.get(f"/incidents/{incident}").text
    assert "<svg" in page and "Unit 7 (unconfirmed)" in page and "attack on civilians" in page
    links = client.get(f"/api/incidents/{incident}").json()["links"]
    assert [link["annotation"] for link in links] == [None, note]
    gone = client.post(f"/incidents/{incident}/links/{links[0]['id']}/delete", data={"csrf": csrf})
    assert gone.status_code == 200
    assert len(client.get(f"/api/incidents/{incident}").json()["links"]) == 1
    timeline = client.get(f"/cases/{world['cases']['North']}/timeline").text
    assert "2024-03-01" in timeline and MARKET["title"] in timeline
    assert verify(locker, quick=True).ok


def test_incident_forms_refuse_bad_input_with_a_reason(world: dict[str, Any]) -> None:
    client, case = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "owner-1")
    for change, reason in [
        ({"latitude": "north-ish", "longitude": "1"}, "decimal degrees"),
        ({"occurred_from": "last spring"}, "give a date"),
        ({"violations": "jaywalking"}, "not a violation type"),
    ]:
        form = {"title": "Night raid", "csrf": csrf, **change}
        answer = client.post(f"/cases/{case}/incidents", data=form)
        assert answer.status_code == 400 and reason in answer.json()["detail"]
    made = client.post(
        f"/cases/{case}/incidents",
        data={
            "title": "Night raid",
            "violations": ["arbitrary detention", "torture or ill-treatment"],
            "actors": "Patrol A\n\nPatrol B\n",
            "csrf": csrf,
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    found = client.get(f"/api{made.headers['location']}").json()
    assert found["actors"] == ["Patrol A", "Patrol B"] and len(found["violations"]) == 2


def test_admins_edit_the_violation_vocabulary(world: dict[str, Any]) -> None:
    client = world["client"]
    csrf = sign_in(client, "ada")
    added = client.post(
        "/api/violation-types", json={"name": "Pillage"}, headers={"x-csrf-token": csrf}
    )
    assert "pillage" in added.json()
    client.post("/vocabulary", data={"name": "pillage", "active": "false", "csrf": csrf})
    assert "pillage" not in client.get("/api/violation-types").json()
    assert "Retire" in client.get("/vocabulary").text


def test_flag_controls_and_near_duplicates_stay_inside_the_case(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    """A copy of North's photo sits in South: North's people must not learn of it."""
    client, north = world["client"], world["north"]
    original = sample("chelsea")
    smaller = tmp_path / "repost.jpg"
    smaller.write_bytes(jpeg(original.resize((original.width // 2, original.height // 2))))
    copy = take(locker, smaller, case="South").outcomes[0].sha256
    resized = tmp_path / "north-copy.jpg"
    resized.write_bytes(jpeg(original.resize((200, 150), Image.Resampling.BILINEAR), 50))
    north_copy = take(locker, resized, case="North").outcomes[0].sha256
    sign_in(client, "viewer-1")
    similar = [m["item"] for m in client.get(f"/api/items/{north}/similar").json()]
    assert similar == [north_copy] and copy not in similar
    assert copy not in client.get(f"/items/{north}").text
    groups = client.get(f"/api/cases/{world['cases']['North']}/groups").json()
    assert [g["size"] for g in groups] == [2]
    grid = client.get(f"/api/cases/{world['cases']['North']}/items", params={"cluster": 1}).json()
    assert {row["sha256"] for row in grid} == {north, north_copy}
    with locker.engine.connect() as conn:
        previews = queries.derivative_paths(conn, north)
    blurred = locker.store.path(previews["safe_preview"]).read_bytes()
    assert client.get(f"/items/{north}/safe-preview").content == blurred
    csrf = sign_in(client, "reviewer-1")
    client.post(f"/items/{north}/flag", data={"flag": "clear", "csrf": csrf})
    assert client.get(f"/api/items/{north}").json()["flag"] == "clear"
    thumbnail = locker.store.path(previews["thumbnail"]).read_bytes()
    assert client.get(f"/items/{north}/safe-preview").content == thumbnail  # clear: unblurred
    client.post(f"/items/{north}/flag", data={"flag": "graphic", "csrf": csrf})
    assert client.get(f"/items/{north}/safe-preview").content == blurred
    bad = client.post(f"/items/{north}/flag", data={"flag": "fine", "csrf": csrf})
    assert bad.status_code == 400


def test_grid_filters_by_capture_date(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    dated = take(locker, photo(tmp_path), case="North").outcomes[0].sha256  # 2024-03-01
    client, case = world["client"], world["cases"]["North"]
    sign_in(client, "viewer-1")
    assert "Map of 1 place" in client.get(f"/items/{dated}").text  # its GPS, drawn offline
    assert "<svg" not in client.get(f"/items/{world['north']}").text  # no GPS, no map
    for params, expected in [
        ({"since": "2024-03-01", "until": "2024-03-01"}, [dated]),
        ({"since": "2024-02-01"}, [dated]),
        ({"until": "2024-02-29"}, []),
    ]:
        found = client.get(f"/api/cases/{case}/items", params=params).json()
        assert [row["sha256"] for row in found] == expected, params
    bad = client.get(f"/api/cases/{case}/items", params={"since": "March"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["detail"]


def test_an_item_in_two_cases_tells_nobody_of_the_case_they_are_not_in(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    north_item = world["north"]
    copy = tmp_path / "again" / "north.jpg"
    copy.parent.mkdir()
    copy.write_bytes(locker.store.path(north_item).read_bytes())
    take(locker, copy, case="South")  # the same bytes arrive in South too
    incident = record(world)  # a North incident, then linked to the item
    client = world["client"]
    csrf = sign_in(client, "owner-1")
    client.post(f"/items/{north_item}/incidents", data={"incident": incident, "csrf": csrf})
    with locker.engine.connect() as conn, conn.begin():
        south_viewer = accounts.create_user(conn, "setup", "southie", PASSWORD, "member")
        admin = accounts.User(0, "ada", "admin")
        access.add_member(conn, admin, world["cases"]["South"], south_viewer, "viewer")
    sign_in(client, "southie")
    detail = client.get(f"/api/items/{north_item}").json()
    assert detail["cases"] == ["South"] and detail["incidents"] == []
    assert len(detail["acquisitions"]) == 1  # only the arrival into South
    text = str(detail["events"])
    assert "North" not in text and "incident.linked" not in text
    with locker.engine.connect() as conn:  # North's arrival, its analysis, the link: left out
        trail = list(log.events(conn, north_item))
    south_arrival = next(
        e.seq
        for e in trail
        if e.action == "item.acquired" and e.details["acquisition"]["case"] == "South"
    )
    linked = [e.seq for e in trail if e.action == "incident.linked"]
    hidden = {e.seq for e in trail} - {e["seq"] for e in detail["events"]}
    assert hidden == {e.seq for e in trail if e.seq < south_arrival} | set(linked)
    assert len(linked) == 1 and len(hidden) > 2
    assert all(client.get(f"/api/events/{seq}/proof").status_code == 404 for seq in hidden)
    page = client.get(f"/items/{north_item}").text
    assert "North" not in page
    sign_in(client, "owner-1")  # a member of North sees it all
    assert "incident.linked" in str(client.get(f"/api/items/{north_item}").json()["events"])


def test_odd_form_values_and_tickets_are_refused_not_crashed(
    world: dict[str, Any], locker: Locker
) -> None:
    incident = record(world)
    client, north = world["client"], world["north"]
    csrf = sign_in(client, "owner-1")
    for annotation in ["²", "9" * 30, "-1"]:
        answer = client.post(
            f"/items/{north}/incidents",
            data={"incident": incident, "annotation": annotation, "csrf": csrf},
        )
        assert answer.status_code == 422, (annotation, answer.text)
    for ticket in ["².x", "9999999999.é", "1." + "0" * 64, ""]:
        answer = client.get(f"/items/{north}/original", params={"ticket": ticket})
        assert answer.status_code == 403, ticket
    long_time = {"title": "x", "occurred_from": "2024-03-01T09:40:00." + "1" * 60, "csrf": csrf}
    answer = client.post(f"/cases/{world['cases']['North']}/incidents", data=long_time)
    assert answer.status_code == 400
