"""The review workspace's newer pages in a real browser (Debian's Chromium through Playwright,
the app on loopback): bulk "link to incident" and export of the ticked items from the grid,
a saved search and the CSV export of what it finds, the reveal page of a video (header,
content warning, muted player, a way back) and the case's audit page with its filters, each
at a phone's width and a laptop's without sideways scrolling."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import photo, take
from media import slideshow
from test_web_browser import CHROMIUM, FLAGS, check_layout, serving

from docket import access, accounts, incidents
from docket.catalogue import queries
from docket.custody import log
from docket.disclose.check import check
from docket.locker import Locker

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
PASSWORD = "correct horse battery"


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Case North: four pictures, a video and incident "harbour raid"; noor-3 investigates."""
    with Locker.create(tmp_path / "locker") as locker:
        for n in range(4):
            photo(tmp_path / "pier", f"pier-{n}.jpg", seed=300 + n)
        take(locker, tmp_path / "pier", case="North")
        video = slideshow(tmp_path / "video", ["astronaut", "coffee"], seconds=1.0)
        take(locker, video, case="North")
        with locker.engine.connect() as conn, conn.begin():
            admin = accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
            noor = accounts.create_user(conn, "setup", "noor-3", PASSWORD, "member")
            case_id = int(queries.case_id_of(conn, "North"))
            access.add_member(conn, admin, case_id, noor, "investigator")
            raid = incidents.record(conn, "ada", case_id, incidents.Incident("harbour raid"))
            rows = queries.list_items(conn, "North")
        clip = next(r["sha256"] for r in rows if r["media_type"].startswith("video/"))
        with serving(locker) as url:
            yield {"url": url, "locker": locker, "case": case_id, "raid": raid, "video": clip}


def _events(locker: Locker, action: str) -> list[Any]:
    with locker.engine.connect() as conn:
        return [e for e in log.events(conn) if e.action == action]


def test_bulk_link_saved_search_reveal_page_and_audit(desk: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    url, locker, case_id, raid = desk["url"], desk["locker"], desk["case"], desk["raid"]
    with sync_playwright() as playwright:
        assert CHROMIUM is not None
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{url}/login")
        page.get_by_label("Name").fill("noor-3")
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/")

        # bulk link: three ticked tiles to the case's incident, by its number
        page.goto(f"{url}/cases/{case_id}")
        boxes = page.locator(".grid .tile input[type=checkbox]")
        ticked = [str(boxes.nth(n).get_attribute("value")) for n in range(3)]
        for n in range(3):
            boxes.nth(n).check()
        page.get_by_label("Bulk action").select_option("link")
        page.get_by_label("Bulk value").fill(str(raid))
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(f"{url}/cases/{case_id}")
        linked = _events(locker, "incident.linked")
        assert sorted(e.item for e in linked) == sorted(ticked)
        assert {e.actor for e in linked} == {"noor-3"}
        assert {e.details["incident"] for e in linked} == {raid}
        page.goto(f"{url}/incidents/{raid}")
        for sha in ticked:
            assert page.locator(f"a[href*='{sha}']").count() >= 1

        # bulk export: a court package of the two ticked items only
        page.goto(f"{url}/cases/{case_id}")
        for n in range(2):
            boxes.nth(n).check()
        page.get_by_label("Export recipient").fill("the tribunal")
        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name="Export the ticked items").click()
        assert check(Path(download.value.path())).ok
        [exported] = _events(locker, "package.exported")
        assert sorted(exported.details["items"]) == sorted(ticked[:2])
        assert exported.details["recipient"] == "the tribunal" and exported.actor == "noor-3"

        # a saved search: filter the grid to videos, save it, open it from the case page
        page.goto(f"{url}/cases/{case_id}")
        page.get_by_label("Type").select_option("video/")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**type=video**")
        page.get_by_label("Save this search as").fill("Videos only")
        page.get_by_role("button", name="Save", exact=True).click()
        page.wait_for_url("**type=video**")
        page.goto(f"{url}/cases/{case_id}")
        assert page.locator(".grid .tile").count() == 5
        page.get_by_role("link", name="Videos only").click()
        page.wait_for_url("**type=video**")
        assert page.locator(".grid .tile").count() == 1
        check_layout(page)
        with page.expect_download() as download:  # the list as CSV, with the search's filters
            page.get_by_role("link", name="CSV").click()
        listed = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert [row["sha256"] for row in listed] == [desk["video"]]
        assert listed[0]["kind"] == "video" and listed[0]["status"] == "new"

        # the reveal page of the video: header, warning, muted player, a way back
        item_url = f"{url}/items/{desk['video']}?case={case_id}"
        page.goto(item_url)
        page.get_by_role("button", name="Reveal the original (recorded)").click()
        page.wait_for_selector("h1:has-text('Revealed:')")
        assert "Content warning: this video is flagged unreviewed" in page.content()
        player = page.locator("video")
        assert player.evaluate("v => v.muted") is True
        page.wait_for_function(
            "v => v.readyState >= 1 && v.duration > 0",
            arg=player.element_handle(),
            timeout=30_000,
        )
        reveals = _events(locker, "item.revealed")
        assert [(e.actor, e.item) for e in reveals] == [("noor-3", desk["video"])]
        for width in (390, 1366):
            page.set_viewport_size({"width": width, "height": 844})
            check_layout(page)
        page.get_by_role("link", name="Back to the item").last.click()
        page.wait_for_url(item_url)

        # the audit page: the reveal and the links, narrowed by kind
        page.goto(f"{url}/cases/{case_id}/audit")
        rows = page.locator("tbody tr")
        assert rows.count() >= 5  # 3 links, the reveal, the incident recorded, the member
        page.get_by_label("Kind").select_option("reveal")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**kind=reveal**")
        assert rows.count() == 1
        assert "noor-3" in rows.first.inner_text() and "item.revealed" in rows.first.inner_text()
        for width in (390, 1366):
            page.set_viewport_size({"width": width, "height": 844})
            check_layout(page)
        browser.close()
