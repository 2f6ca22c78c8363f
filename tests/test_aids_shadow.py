"""The shadow tool: marks on a picture give the sun's implied elevation and direction, and
the times of the day when the sun stood there (astral), through the item's API for those who
may see the item."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import pytest
from conftest import sign_in

from docket.aids import shadow
from docket.aids._time import Position
from docket.aids.sun import position_of_sun

PLACE = Position(33.5043, 36.2842)


def marks_for(elevation: float, azimuth: float, height: float = 200) -> tuple[Any, Any, Any]:
    """The marks an overhead, north-up picture would show for the sun at that position."""
    length = height / math.tan(math.radians(elevation))
    away = math.radians((azimuth + 180) % 360)  # a shadow points away from the sun
    base = (500.0, 500.0)
    tip = (base[0] + length * math.sin(away), base[1] - length * math.cos(away))
    return base, (base[0], base[1] - height), tip


def test_an_object_as_tall_as_its_shadow_to_the_east_means_the_sun_at_45_in_the_west() -> None:
    found = shadow.implied((100, 400), (100, 300), (200, 400), up_bearing=0)
    assert found.elevation == pytest.approx(45)
    assert found.shadow_angle == pytest.approx(90)
    assert found.azimuth == pytest.approx(270)
    turned = shadow.implied((100, 400), (100, 300), (200, 400), up_bearing=90)  # up is east
    assert turned.azimuth == pytest.approx(0)
    assert shadow.implied((100, 400), (100, 300), (200, 400)).azimuth is None


def test_the_times_found_include_the_moment_the_marks_were_made_for() -> None:
    moment = datetime(2024, 3, 1, 12, 34, 56, tzinfo=UTC)  # afternoon there (UTC+3)
    sun_azimuth, sun_elevation = position_of_sun(PLACE, moment)
    found = shadow.implied(*marks_for(sun_elevation, sun_azimuth), up_bearing=0)
    assert found.azimuth == pytest.approx(sun_azimuth, abs=0.01)
    times = shadow.times_at(PLACE, date(2024, 3, 1), found.elevation)
    assert [t.part for t in times] == ["morning", "afternoon"]
    best = shadow.nearest(times, found.azimuth)
    assert best is not None and best.part == "afternoon"
    assert abs((best.when - moment).total_seconds()) < 60
    offset = best.when.utcoffset()
    assert offset is not None and offset.total_seconds() == 3 * 3600  # the place's zone
    morning = times[0]
    assert morning.when < best.when and abs(morning.azimuth - sun_azimuth) > 60


def test_a_sun_that_never_stands_that_high_gives_no_time() -> None:
    assert shadow.times_at(Position(60.0, 10.0), date(2024, 12, 21), 70) == []


def test_a_shadow_of_no_length_is_refused() -> None:
    with pytest.raises(shadow.ShadowError, match="at least a pixel"):
        shadow.implied((10, 10), (10, 0), (10, 10))


def test_the_api_answers_those_who_may_see_the_item_and_no_one_else(
    world: dict[str, Any],
) -> None:
    client = world["client"]
    moment = datetime(2024, 6, 21, 7, 0, tzinfo=UTC)
    sun_azimuth, sun_elevation = position_of_sun(PLACE, moment)
    base, top, tip = marks_for(sun_elevation, sun_azimuth)
    query = {
        "base": f"{base[0]:.2f},{base[1]:.2f}",
        "top": f"{top[0]:.2f},{top[1]:.2f}",
        "tip": f"{tip[0]:.2f},{tip[1]:.2f}",
        "up": "0",
        "lat": str(PLACE.latitude),
        "lon": str(PLACE.longitude),
        "date": "2024-06-21",
    }
    url = f"/api/items/{world['north']}/shadow"
    sign_in(client, "outsider-1")
    assert client.get(url, params=query).status_code == 404
    sign_in(client, "viewer-1")
    answer = client.get(url, params=query)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["elevation"] == pytest.approx(sun_elevation, abs=0.05)
    assert found["azimuth"] == pytest.approx(sun_azimuth, abs=0.05)
    assert found["nearest"] == "morning"
    [morning] = [t for t in found["times"] if t["part"] == "morning"]
    local = datetime.fromisoformat(morning["time"])
    assert abs((local - moment).total_seconds()) < 120
    assert found["at_capture"] is None  # the picture states no time
    no_place = client.get(url, params={k: query[k] for k in ("base", "top", "tip")}).json()
    assert no_place["times"] == [] and "give lat, lon and date" in no_place["note"]
    flat = client.get(url, params={**query, "tip": query["base"]})
    assert flat.status_code == 400 and "at least a pixel" in flat.text
    assert client.get(url, params={**query, "tip": "1,2,3"}).status_code == 422
    assert client.get(url, params={**query, "date": "21/06/2024"}).status_code == 400


def test_the_item_page_offers_the_tool_with_docket_own_script_under_its_policy(
    world: dict[str, Any],
) -> None:
    client = world["client"]
    sign_in(client, "viewer-1")
    page = client.get(f"/items/{world['north']}")
    assert page.status_code == 200
    assert f'data-api="/api/items/{world["north"]}/shadow"' in page.text
    nonce = page.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script src="/shadow/shadow.js" nonce="{nonce}" defer></script>' in page.text
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    script = client.get("/shadow/shadow.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/shadow" in script.text and "innerHTML" not in script.text  # answers set as text
