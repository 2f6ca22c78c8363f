"""The review workspace in a real browser (Debian's Chromium through Playwright, the app on
loopback): keyboard shortcuts on the grid and the item page, bulk status and tag on 50 items
in one form each, an Arabic file name laid out right to left, and every workspace page at a
phone's width (390 px) and a laptop's (1366 px) without sideways scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import photo, take
from test_web_browser import CHROMIUM, FLAGS, check_layout, serving

from docket import access, accounts
from docket.catalogue import queries
from docket.custody import log
from docket.locker import Locker

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
PASSWORD = "correct horse battery"
ARABIC = "01-03-2024 مداهمة السوق الشرقي.jpg"
COUNT = 50


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Case North with 50 pictures and one with an Arabic name; noor-3 investigates it."""
    with Locker.create(tmp_path / "locker") as locker:
        for n in range(COUNT):
            photo(tmp_path / "street", f"street-{n:02}.jpg", seed=200 + n)
        take(locker, tmp_path / "street", case="North")
        take(locker, photo(tmp_path / "ar", ARABIC, seed=999), case="North")
        with locker.engine.connect() as conn, conn.begin():
            admin = accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
            noor = accounts.create_user(conn, "setup", "noor-3", PASSWORD, "member")
            case_id = int(queries.case_id_of(conn, "North"))
            access.add_member(conn, admin, case_id, noor, "investigator")
            arabic = next(
                r["sha256"] for r in queries.list_items(conn, "North") if r["name"].endswith(ARABIC)
            )
        with serving(locker) as url:
            yield {"url": url, "locker": locker, "case": case_id, "arabic": arabic}


def _actions(locker: Locker, action: str) -> list[Any]:
    with locker.engine.connect() as conn:
        return [e for e in log.events(conn) if e.action == action]


def test_keyboard_and_bulk_work_on_fifty_items(workspace: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    url, locker, case_id = workspace["url"], workspace["locker"], workspace["case"]
    with sync_playwright() as playwright:
        assert CHROMIUM is not None
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{url}/login")
        page.get_by_label("Name").fill("noor-3")
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/")
        page.goto(f"{url}/cases/{case_id}")
        check_layout(page)
        tiles = page.locator(".grid .tile")
        assert tiles.count() == COUNT + 1
        for _ in range(3):
            page.keyboard.press("j")
        page.keyboard.press("k")
        focused = (
            "[...document.querySelectorAll('.grid .tile')]"
            ".findIndex(t => t.contains(document.activeElement))"
        )
        assert page.evaluate(focused) == 1
        page.keyboard.press("x")
        assert tiles.nth(1).get_by_role("checkbox").is_checked()
        assert not tiles.nth(0).get_by_role("checkbox").is_checked()
        page.keyboard.press("f")  # readies the bulk form to flag the ticked items
        assert page.evaluate("document.activeElement.name") == "value"
        assert page.get_by_label("Bulk action").input_value() == "flag"

        page.get_by_role("button", name="Tick all on this page").click()
        assert page.locator(".grid input[type=checkbox]:checked").count() == COUNT + 1
        page.get_by_label("Bulk action").select_option("status")
        page.get_by_label("Bulk value").fill("in review")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(f"{url}/cases/{case_id}")
        shown = page.locator(".facts.workflow").all_inner_texts()
        assert shown == ["in review · unreviewed"] * (COUNT + 1)
        assert page.locator(".facts:not(.workflow)").first.inner_text() == "picture · 2024-03-01"
        page.get_by_role("button", name="Tick all on this page").click()
        page.get_by_label("Bulk action").select_option("tag")
        page.get_by_label("Bulk value").fill("market-day")
        page.get_by_role("button", name="Apply").click()
        page.wait_for_url(f"{url}/cases/{case_id}")
        statuses, tags = _actions(locker, "item.status_set"), _actions(locker, "item.tagged")
        assert len(statuses) == len(tags) == COUNT + 1
        assert {e.actor for e in statuses + tags} == {"noor-3"}
        assert len({e.item for e in tags}) == COUNT + 1

        page.goto(f"{url}/items/{workspace['arabic']}?case={case_id}")
        title = page.locator("h1")
        assert title.inner_text() == ARABIC
        assert page.evaluate("document.querySelector('h1').matches(':dir(rtl)')")
        page.keyboard.press("f")
        assert page.evaluate("document.activeElement.name") == "flag"

        for width in (390, 1366):
            page.set_viewport_size({"width": width, "height": 844})
            for path in (
                f"/cases/{case_id}",
                f"/cases/{case_id}/dashboard",
                f"/items/{workspace['arabic']}?case={case_id}",
                "/docs",
            ):
                page.goto(f"{url}{path}")
                check_layout(page)
        offsite: list[str] = []
        page.on("request", lambda r: offsite.append(r.url) if not r.url.startswith(url) else None)
        page.goto(f"{url}/docs")
        page.wait_for_load_state("networkidle")
        assert offsite == []
        browser.close()


@pytest.fixture
def small_case(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Case North with two pictures; noor-3 investigates it."""
    with Locker.create(tmp_path / "locker") as locker:
        for n in range(2):
            photo(tmp_path / "street", f"street-{n:02}.jpg", seed=300 + n)
        take(locker, tmp_path / "street", case="North")
        with locker.engine.connect() as conn, conn.begin():
            admin = accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
            noor = accounts.create_user(conn, "setup", "noor-3", PASSWORD, "member")
            case_id = int(queries.case_id_of(conn, "North"))
            access.add_member(conn, admin, case_id, noor, "investigator")
        with serving(locker) as url:
            yield {"url": url, "locker": locker, "case": case_id}


def test_enter_in_the_bulk_recipient_box_exports_the_ticked_items(
    small_case: dict[str, Any], tmp_path: Path
) -> None:
    """Enter in the bulk bar's recipient box makes the export (once, of the ticked item, to
    that recipient), not "Apply", the bulk form's first button."""
    from playwright.sync_api import sync_playwright

    from docket.disclose.check import check

    url, locker, case_id = small_case["url"], small_case["locker"], small_case["case"]
    with sync_playwright() as playwright:
        assert CHROMIUM is not None
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900}, accept_downloads=True)
        page.goto(f"{url}/login")
        page.get_by_label("Name").fill("noor-3")
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/")
        page.goto(f"{url}/cases/{case_id}")
        page.locator(".grid .tile").nth(1).get_by_role("checkbox").check()
        page.get_by_label("Bulk value").fill("market-day")  # would tag, were Apply pressed
        page.get_by_label("Export recipient").fill("Tribunal of Velmora")
        with page.expect_download() as download:
            page.get_by_label("Export recipient").press("Enter")
        package = tmp_path / "package.zip"
        download.value.save_as(package)
        browser.close()
    assert check(package).ok
    assert _actions(locker, "item.tagged") == []
    [made] = _actions(locker, "package.exported")
    assert made.details["recipient"] == "Tribunal of Velmora"
    assert len(made.details["items"]) == 1
