"""The shadow tool's answer gives the places where the shadow fits at the moment tested: as
JSON under /api, and on the page as latitude bands, towns and a world map drawn offline."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import sign_in
from test_aids_shadow import PLACE, marks_for

from docket.aids.sun import position_of_sun
from docket.catalogue.records import latest_result
from docket.custody import log
from docket.locker import Locker

MOMENT = datetime(2024, 3, 1, 9, 15, tzinfo=UTC)


def _query(moment: datetime = MOMENT, **extra: str) -> dict[str, str]:
    sun_azimuth, sun_elevation = position_of_sun(PLACE, moment)
    base, top, tip = marks_for(sun_elevation, sun_azimuth)
    return {
        "base": f"{base[0]:.2f},{base[1]:.2f}",
        "top": f"{top[0]:.2f},{top[1]:.2f}",
        "tip": f"{tip[0]:.2f},{tip[1]:.2f}",
        "up": "0",
        "lat": str(PLACE.latitude),
        "lon": str(PLACE.longitude),
        "date": moment.date().isoformat(),
        "at": moment.isoformat(),
        **extra,
    }


def test_the_api_gives_the_band_holding_the_place_the_marks_were_made_for(
    world: dict[str, Any],
) -> None:
    client = world["client"]
    sign_in(client, "viewer-1")
    answer = client.get(f"/api/items/{world['north']}/shadow", params=_query())
    assert answer.status_code == 200, answer.text
    places = answer.json()["places"]
    assert places["stated_fits"] is True
    assert places["utc"] == MOMENT.isoformat()
    assert places["shadow_azimuth"] is not None and places["cells"] > 0
    [strip] = [s for s in places["strips"] if s["south"] <= PLACE.latitude < s["north"]]
    assert any(w <= PLACE.longitude <= e for w, e in strip["longitudes"])
    assert "not a verdict" in places["uncertainty"]
    later = client.get(
        f"/api/items/{world['north']}/shadow",
        params=_query(at="2024-03-01T12:30:00+00:00"),  # the marks of 09:15, tested at 12:30
    ).json()["places"]
    assert later["stated_fits"] is False


def test_the_page_shows_bands_towns_and_a_map_with_nothing_from_outside(
    world: dict[str, Any],
) -> None:
    client = world["client"]
    sign_in(client, "viewer-1")
    page = client.get(f"/items/{world['north']}/shadow", params=_query())
    assert page.status_code == 200
    assert f"<h2>Places where this shadow fits at {MOMENT.isoformat()}</h2>" in page.text
    assert f"The stated position {PLACE.latitude}, {PLACE.longitude} fits" in page.text
    band = re.search(r"<li>30\.0°N to 35\.0°N: ([^<]*)</li>", page.text)
    assert band is not None
    spans = re.findall(r"([\d.]+)°E to ([\d.]+)°E", band.group(1))
    assert any(float(w) <= PLACE.longitude <= float(e) for w, e in spans)
    assert "km from the stated position" in page.text
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    assert svg.count('class="fits"') > 0 and "stated position" in svg
    assert re.findall(r"(?:href|src)=", svg) == []  # no link, no resource: nothing fetched
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_what_cannot_be_placed_is_said_and_the_rest_answered(world: dict[str, Any]) -> None:
    client = world["client"]
    sign_in(client, "viewer-1")
    url = f"/api/items/{world['north']}/shadow"
    untimed = {k: v for k, v in _query().items() if k != "at"}
    found = client.get(url, params=untimed).json()
    assert found["places"] is None and "give the moment to test" in found["places_note"]
    assert found["times"]  # the day's times are still answered
    night = client.get(url, params=_query(at="2024-03-01T22:00:00+00:00")).json()
    assert night["places"] is None and "below the horizon" in night["places_note"]
    assert client.get(url, params=_query(at="yesterday")).status_code == 400
    ancient = client.get(url, params=_query(date="1850-06-01", at="1850-06-01T09:00:00+00:00"))
    assert ancient.status_code == 200 and ancient.json()["times"] == []
    assert "hold from 1901 to 2099" in ancient.json()["note"]
    assert "hold from 1901 to 2099" in ancient.json()["places_note"]
    assert client.get(url, params=_query(tolerance="0.01")).status_code == 422
    page = client.get(f"/items/{world['north']}/shadow", params=untimed)
    assert "Places where it fits: no time: give the moment" in page.text


@pytest.mark.parametrize("role", ["outsider-1"])
def test_those_who_may_not_see_the_item_get_no_places(world: dict[str, Any], role: str) -> None:
    client = world["client"]
    sign_in(client, role)
    assert client.get(f"/api/items/{world['north']}/shadow", params=_query()).status_code == 404


def test_the_places_are_recorded_only_by_a_post_of_those_who_may_annotate(
    world: dict[str, Any], locker: Locker
) -> None:
    client, north = world["client"], world["north"]

    def recorded() -> list[Any]:
        with locker.engine.connect() as conn:
            return [e for e in log.events(conn, north) if e.action == "shadow-places.recorded"]

    csrf = sign_in(client, "reviewer-1")
    page = client.get(f"/items/{north}/shadow", params=_query())
    assert "Record these places as the item" in page.text and recorded() == []
    action = re.search(r'<form method="post" action="(/items/[0-9a-f]+/shadow\?[^"]+)">', page.text)
    assert action is not None
    assert client.post(action.group(1).replace("&amp;", "&"), data={"csrf": "x"}).status_code == 403
    saved = client.post(action.group(1).replace("&amp;", "&"), data={"csrf": csrf})
    assert saved.status_code == 200, saved.text
    [event] = recorded()
    assert f"Recorded as the item's analysis (custody event {event.seq})" in saved.text
    with locker.engine.connect() as conn:
        stored = latest_result(conn, north, "shadow-places")
    assert stored is not None and stored["data"]["stated_fits"] is True
    assert stored["data"]["utc"] == MOMENT.isoformat()
    api = client.post(f"/api/items/{north}/shadow", params=_query(), headers={"x-csrf-token": csrf})
    assert api.status_code == 200 and api.json()["recorded"] == recorded()[-1].seq
    untimed = {k: v for k, v in _query().items() if k != "at"}
    nothing = client.post(f"/items/{north}/shadow", params=untimed, data={"csrf": csrf})
    assert nothing.status_code == 400 and "nothing to record" in nothing.text
    csrf = sign_in(client, "viewer-1")
    viewed = client.get(f"/items/{north}/shadow", params=_query())
    assert "Record these places" not in viewed.text
    refused = client.post(f"/items/{north}/shadow", params=_query(), data={"csrf": csrf})
    assert refused.status_code == 403
    csrf = sign_in(client, "outsider-1")
    hidden = client.post(f"/items/{north}/shadow", params=_query(), data={"csrf": csrf})
    assert hidden.status_code == 404
    assert len(recorded()) == 2
