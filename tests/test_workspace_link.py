"""Bulk "link to incident" from the grid (issue 17): the CLI's incidents.link for every ticked
item, one incident.linked event each, an incident of the grid's case only, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import LAYERS, Layer, layer_facts, photo, sign_in, take

from docket import incidents
from docket.custody import log
from docket.locker import Locker
from docket.verify import verify


def build_linking(locker: Locker, folder: Path, world: dict[str, Any]) -> dict[str, Any]:
    """North holds three more pictures and incident "harbour raid"; South has an incident."""
    more = [
        take(locker, photo(folder / "more", f"pier-{n}.jpg", seed=40 + n), case="North")
        .outcomes[0]
        .sha256
        for n in range(3)
    ]
    with locker.engine.connect() as conn, conn.begin():
        raid = incidents.record(
            conn, "owner-1", world["cases"]["North"], incidents.Incident("harbour raid")
        )
        south = incidents.record(
            conn, "ada", world["cases"]["South"], incidents.Incident("south fire")
        )
    return {"items": [world["north"], *more], "raid": raid, "south_incident": south}


LAYERS["linking"] = Layer(build_linking)


@pytest.fixture
def linking(request: pytest.FixtureRequest, world: dict[str, Any]) -> dict[str, Any]:
    return layer_facts(request, "linking", world)


def _linked(locker: Locker) -> list[Any]:
    with locker.engine.connect() as conn:
        return [e for e in log.events(conn) if e.action == "incident.linked"]


def _bulk(client: Any, case_id: int, csrf: str, items: list[str], value: str) -> Any:
    return client.post(
        f"/cases/{case_id}/bulk",
        data={"action": "link", "value": value, "items": items, "csrf": csrf},
        follow_redirects=False,
    )


def test_bulk_link_makes_one_event_per_item_as_the_cli_does(
    linking: dict[str, Any], locker: Locker
) -> None:
    client, north, raid = linking["client"], linking["cases"]["North"], linking["raid"]
    csrf = sign_in(client, "reviewer-1")
    answer = _bulk(client, north, csrf, linking["items"][:3], str(raid))
    assert answer.status_code == 303
    events = _linked(locker)
    assert [e.item for e in events] == linking["items"][:3]
    assert {e.actor for e in events} == {"reviewer-1"}
    assert all(e.details == {"incident": raid, "annotation": None} for e in events)
    shown = client.get(f"/api/incidents/{raid}").json()
    assert sorted(link["item"] for link in shown["links"]) == sorted(linking["items"][:3])
    # again with one more: the linked three are left as they are, the new one is linked
    again = client.post(
        f"/api/cases/{north}/bulk",
        json={"action": "link", "value": f"#{raid}", "items": linking["items"]},
        headers={"x-csrf-token": csrf},
    )
    assert again.json() == {"changed": 1}
    assert [e.item for e in _linked(locker)] == linking["items"]
    assert verify(locker).ok


@pytest.mark.parametrize("which", ["south_incident", "missing"])
def test_an_incident_of_another_case_or_none_is_not_found_and_nothing_changes(
    linking: dict[str, Any], locker: Locker, which: str
) -> None:
    client, north = linking["client"], linking["cases"]["North"]
    incident = linking["south_incident"] if which == "south_incident" else 999
    csrf = sign_in(client, "ada")  # may annotate in South too: still not South's incident here
    answer = _bulk(client, north, csrf, linking["items"], str(incident))
    assert answer.status_code == 404
    assert answer.json()["detail"] == f"case {north} has no incident {incident}"
    assert _linked(locker) == []


def test_one_item_outside_the_case_stops_the_whole_bulk_link(
    linking: dict[str, Any], locker: Locker
) -> None:
    client, north = linking["client"], linking["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    answer = _bulk(client, north, csrf, [*linking["items"], linking["south"]], str(linking["raid"]))
    assert answer.status_code == 404
    assert _linked(locker) == []


@pytest.mark.parametrize(
    "value", ["", "harbour raid", "0", "-3", "9" * 30, "\u00b2", "#\u0661", "\uff11"]
)  # superscript two, Arabic-Indic one and full-width one are digits to str.isdigit
def test_a_bulk_link_names_an_incident_by_its_number(
    linking: dict[str, Any], locker: Locker, value: str
) -> None:
    client, north = linking["client"], linking["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    answer = _bulk(client, north, csrf, linking["items"], value)
    assert answer.status_code == 400
    assert "a bulk link names an incident by its number" in answer.json()["detail"]
    assert _linked(locker) == []


def test_a_viewer_may_not_link(linking: dict[str, Any], locker: Locker) -> None:
    client, north = linking["client"], linking["cases"]["North"]
    csrf = sign_in(client, "viewer-1")
    page = client.get(f"/cases/{north}").text
    assert 'value="link"' not in page
    assert _bulk(client, north, csrf, linking["items"], str(linking["raid"])).status_code == 403
    assert _linked(locker) == []


def test_the_grid_offers_the_case_incidents_only(linking: dict[str, Any]) -> None:
    client, north = linking["client"], linking["cases"]["North"]
    sign_in(client, "ada")
    page = client.get(f"/cases/{north}").text
    assert f'label="incident {linking["raid"]}: harbour raid"' in page
    assert "south fire" not in page
