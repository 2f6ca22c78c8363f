"""In Debian's Chromium, under the pages' strict policy: the shadow tool's places drawn on the
offline map and recorded from the answer page, and the error-level picture blurred on the
item page until its reveal, which is logged and then shows the picture."""

from __future__ import annotations

from pathlib import Path

from conftest import take
from media import jpeg, sample
from test_aids_shadow import until
from test_web_browser import CHROMIUM, FLAGS, serving

from docket import accounts
from docket.cli import main
from docket.custody import log
from docket.locker import Locker


def test_places_map_record_and_error_level_reveal_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with Locker.create(tmp_path / "locker") as locker:
        picture = tmp_path / "square.jpg"
        picture.write_bytes(jpeg(sample("chelsea").resize((300, 300))))
        sha = take(locker, picture, case="North").outcomes[0].sha256
        assert sha is not None
        assert main(["aids", "--locker", str(locker.path), sha[:12]]) == 0
        with locker.engine.connect() as conn, conn.begin():
            accounts.create_user(conn, "setup", "ada", "correct horse battery", "admin")
        with serving(locker) as url, sync_playwright() as playwright:
            assert CHROMIUM is not None, "Debian's chromium is needed (make system installs it)"
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            blocked: list[str] = []
            page.on("console", lambda m: blocked.append(m.text) if m.type == "error" else None)
            page.goto(f"{url}/login")
            page.get_by_label("Name").fill("ada")
            page.get_by_label("Password").fill("correct horse battery")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/")
            page.goto(f"{url}/items/{sha}")
            levels = page.get_by_alt_text("error-level picture, blurred")
            levels.wait_for()
            until(lambda: levels.evaluate("img => img.naturalWidth") > 0)
            marked = page.locator("#shadow-tool img")
            until(lambda: marked.evaluate("img => img.naturalWidth") > 0)
            for x, y in ((60, 160), (60, 60), (160, 160)):  # base, top, tip: as long as tall
                marked.click(position={"x": x, "y": y})
            page.get_by_label("Picture's up points to (degrees from north)").fill("0")
            page.get_by_label("Latitude").fill("33.5043")
            page.get_by_label("Longitude").fill("36.2842")
            page.get_by_label("Date").fill("2024-03-01")
            page.get_by_label("Moment for the places").fill("2024-03-01T12:00:00+00:00")
            page.get_by_role("button", name="Find the times and places").click()
            page.wait_for_url(f"{url}/items/{sha}/shadow?**")
            drawn = page.locator("svg.shadow-places rect.fits")
            assert drawn.count() > 0
            box = page.locator("svg.shadow-places").bounding_box()
            assert box is not None and box["width"] > 300
            page.get_by_role("button", name="Record these places as the item's analysis").click()
            page.locator(".shadow-recorded").wait_for()
            recorded = page.locator(".shadow-recorded").inner_text()
            page.goto(f"{url}/items/{sha}")
            page.get_by_role("button", name="Reveal the error-level picture (recorded)").click()
            page.wait_for_url(f"{url}/items/{sha}/error-levels/reveal**")
            shown = page.get_by_alt_text("the original picture", exact=False)
            shown.wait_for()
            until(lambda: shown.evaluate("img => img.naturalWidth") > 0)
            browser.close()
        with locker.engine.connect() as conn:
            events = list(log.events(conn, sha))
    assert "Recorded as the item's analysis (custody event" in recorded
    assert [e.action for e in events].count("shadow-places.recorded") == 1
    assert events[-1].action == "item.revealed"
    assert events[-1].details["shown"] == "error-level picture (web)"
    assert not [m for m in blocked if "Content Security Policy" in m], blocked
