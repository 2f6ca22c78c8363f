"""The shadow tool: marks on a picture give the sun's implied elevation and direction, and
the times of the day when the sun stood there (astral), through the item's API for those who
may see the item."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import sign_in, take
from media import jpeg, sample
from test_web_browser import CHROMIUM, FLAGS, serving

from docket import accounts
from docket.aids import shadow
from docket.aids._time import Position
from docket.aids.sun import position_of_sun
from docket.locker import Locker

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
    assert f'<form method="get" action="/items/{world["north"]}/shadow">' in page.text
    nonce = page.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script src="/shadow/shadow.js" nonce="{nonce}" defer></script>' in page.text
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    script = client.get("/shadow/shadow.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text and "fetch(" not in script.text  # the policy's way
    answer = client.get(
        f"/items/{world['north']}/shadow",
        params={"base": "100,400", "top": "100,300", "tip": "200,400", "up": "0"},
    )
    assert answer.status_code == 200
    assert "Implied sun elevation 45.0°, azimuth 270.0°" in answer.text
    assert "No place or day: give lat, lon and date." in answer.text
    sign_in(client, "outsider-1")
    refused = client.get(
        f"/items/{world['north']}/shadow", params={"base": "1,4", "top": "1,3", "tip": "2,4"}
    )
    assert refused.status_code == 404


def until(done: Callable[[], bool], seconds: float = 30) -> None:
    """Poll from Python (the page's policy refuses Playwright's evaluated strings)."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the page did not answer"
        time.sleep(0.1)


def test_marking_a_picture_in_chromium_gives_the_elevation_and_times(tmp_path: Path) -> None:
    """Debian's Chromium, the app on loopback: three clicks and the button, under the page's
    strict policy (a script the policy blocked would leave the answer empty)."""
    from playwright.sync_api import sync_playwright

    with Locker.create(tmp_path / "locker") as locker:
        picture = tmp_path / "square.jpg"
        picture.write_bytes(jpeg(sample("chelsea").resize((300, 300))))
        sha = take(locker, picture, case="North").outcomes[0].sha256
        with locker.engine.connect() as conn, conn.begin():
            accounts.create_user(conn, "setup", "ada", "correct horse battery", "admin")
        with serving(locker) as url, sync_playwright() as playwright:
            assert CHROMIUM is not None, "Debian's chromium is needed (make system installs it)"
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.goto(f"{url}/login")
            page.get_by_label("Name").fill("ada")
            page.get_by_label("Password").fill("correct horse battery")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/")
            page.goto(f"{url}/items/{sha}")
            marked = page.locator("#shadow-tool img")
            marked.wait_for()
            until(lambda: marked.evaluate("img => img.naturalWidth") > 0)
            for x, y in ((60, 160), (60, 60), (160, 160)):  # base, top, tip: as long as tall
                marked.click(position={"x": x, "y": y})
            assert page.locator(".shadow-mark").count() == 3
            page.get_by_label("Picture's up points to (degrees from north)").fill("0")
            page.get_by_label("Latitude").fill("33.5043")
            page.get_by_label("Longitude").fill("36.2842")
            page.get_by_label("Date").fill("2024-03-01")
            page.get_by_role("button", name="Find the times").click()
            page.wait_for_url(f"{url}/items/{sha}/shadow?**")
            text = page.locator("main").inner_text() if page.locator("main").count() else ""
            text = text or page.locator("body").inner_text()
            browser.close()
    assert "Implied sun elevation 45.0°, azimuth 270.0°" in text
    assert "morning 2024-03-01T" in text and "afternoon 2024-03-01T" in text
    assert "nearer by direction" in text.split("afternoon 2024-03-01T")[1]
