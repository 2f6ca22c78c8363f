"""The Arabic interface in a real browser (Debian's Chromium, Playwright): chosen from the
header's chooser, the page lays out right to left (the header starts on the right), and an
Arabic incident title with a Latin date reads in order, on the Arabic page and on the
English one (where the bug was: `01-03-2024 مداهمة السوق الشرقي`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import take
from media import jpeg, sample
from playwright.sync_api import Page
from sqlalchemy import select
from test_web_browser import CHROMIUM, FLAGS, check_layout, serving

from docket import accounts, incidents
from docket.catalogue import schema
from docket.locker import Locker

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make system installs it)"
)
PASSWORD = "correct horse battery"
TITLE = "مداهمة السوق الشرقي 01-03-2024"

# Where a piece of an element's text is drawn: the box of its first occurrence.
BOX_OF = """([selector, piece]) => {
  const element = document.querySelector(selector);
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.data.indexOf(piece);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at);
    range.setEnd(node, at + piece.length);
    const box = range.getBoundingClientRect();
    return {left: box.left, right: box.right};
  }
  return null;
}"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    with Locker.create(tmp_path / "locker") as locker:
        picture = tmp_path / "market.jpg"
        picture.write_bytes(jpeg(sample("chelsea")))
        take(locker, picture, case="North")
        with locker.engine.connect() as conn, conn.begin():
            accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
            case = conn.execute(select(schema.cases.c.id)).scalar_one()
            incident = incidents.record(
                conn, "ada", case, incidents.Incident(title=TITLE, occurred_from="2024-03-01")
            )
        with serving(locker) as url:
            yield url, case, incident


def box(page: Page, selector: str, piece: str) -> dict[str, Any]:
    found = page.evaluate(BOX_OF, [selector, piece])
    assert found is not None, (selector, piece)
    assert isinstance(found, dict)
    return found


def title_reads_in_order(page: Page, selector: str) -> None:
    """The title's Arabic words start on the right and its date follows to their left."""
    first_word, date_start, date_end = (
        box(page, selector, "مداهمة"),
        box(page, selector, "01"),
        box(page, selector, "2024"),
    )
    assert first_word["left"] > date_start["right"], (first_word, date_start)
    assert first_word["left"] > date_end["right"], (first_word, date_end)


def date_follows_title(page: Page, rtl: bool) -> None:
    """In the list of incidents, the date after the title stays after it, whole: unisolated,
    an Arabic title pulls the Latin date into its own right-to-left run and splits it
    around itself."""
    title = box(page, "ul.incidents li", "مداهمة")
    date = box(page, "ul.incidents li", "2024-03-01")
    if rtl:
        assert date["right"] <= title["left"], (title, date)
    else:
        assert date["left"] >= title["right"], (title, date)


def test_the_arabic_interface_in_a_real_browser(served: tuple[str, int, int]) -> None:
    from playwright.sync_api import sync_playwright

    url, case, incident = served
    with sync_playwright() as playwright:
        assert CHROMIUM is not None
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{url}/login")
        assert page.evaluate("document.documentElement.dir") == "ltr"
        page.get_by_role("link", name="العربية", exact=True).click()
        page.wait_for_url(f"{url}/login")
        assert page.evaluate("[document.documentElement.lang, document.dir]") == ["ar", "rtl"]
        assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
        page.get_by_label("الاسم").fill("ada")
        page.get_by_label("كلمة المرور").fill(PASSWORD)
        page.get_by_role("button", name="تسجيل الدخول").click()
        page.wait_for_url(f"{url}/")

        # The header mirrors: its first link (Cases) is its rightmost, the next one to its
        # left, and the language chooser at the far left.
        cases = page.get_by_role("link", name="القضايا", exact=True).bounding_box()
        violations = page.get_by_role("link", name="أنواع الانتهاكات").bounding_box()
        english = page.get_by_role("link", name="English", exact=True).bounding_box()
        header = page.locator("header").bounding_box()
        assert cases and violations and english and header
        assert cases["x"] > violations["x"] + violations["width"], (cases, violations)
        assert abs(cases["x"] + cases["width"] - (header["x"] + header["width"])) < 2, header
        assert abs(english["x"] - header["x"]) < english["width"] * 3, (english, header)
        check_layout(page)

        page.goto(f"{url}/cases/{case}/incidents")
        date_follows_title(page, rtl=True)
        page.goto(f"{url}/incidents/{incident}")
        assert page.locator("h1").inner_text() == TITLE
        title_reads_in_order(page, "h1")

        # On the English page, left to right, the isolated title still reads in order.
        page.get_by_role("link", name="English", exact=True).click()
        page.wait_for_url(f"{url}/incidents/{incident}")
        assert page.evaluate("document.dir") == "ltr"
        title_reads_in_order(page, "h1")
        page.get_by_role("link", name="Incidents", exact=True).click()
        date_follows_title(page, rtl=False)

        page.get_by_role("link", name="العربية", exact=True).click()  # and at a phone's width
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.dir") == "rtl"
        check_layout(page)
        browser.close()
