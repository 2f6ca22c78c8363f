"""Redaction in a real browser (Debian's Chromium via Playwright, the app served by uvicorn on
loopback): a reviewer opens the redaction page from the item page, draws a box with the
mouse on the blurred picture, draws and deletes another, previews, saves, and finds the copy
listed on the item page; the copy is black inside the drawn box and unchanged outside it,
and the page's policy blocked nothing of Docket's own script."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import take
from media import jpeg, sample
from PIL import Image
from playwright.sync_api import ConsoleMessage, Page
from sqlalchemy import select
from test_web_browser import CHROMIUM, FLAGS, check_layout, serving

from docket import access, accounts
from docket.catalogue import schema
from docket.locker import Locker

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make system installs it)"
)
PASSWORD = "correct horse battery"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with Locker.create(tmp_path / "locker") as locker:
        picture = tmp_path / "chelsea.jpg"
        picture.write_bytes(jpeg(sample("chelsea")))
        item = take(locker, picture, case="North").outcomes[0].sha256
        with locker.engine.connect() as conn, conn.begin():
            admin = accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
            reviewer = accounts.create_user(conn, "setup", "rima", PASSWORD, "member")
            case = conn.execute(select(schema.cases.c.id)).scalar_one()
            access.add_member(conn, admin, case, reviewer, "reviewer")
        with serving(locker) as url:
            yield {"url": url, "item": item, "case": case, "locker": locker}


def _drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag across the picture between two points given as fractions of its shown size."""
    shown = page.locator("#redact-canvas").bounding_box()
    assert shown is not None
    page.mouse.move(shown["x"] + shown["width"] * start[0], shown["y"] + shown["height"] * start[1])
    page.mouse.down()
    page.mouse.move(
        shown["x"] + shown["width"] * end[0], shown["y"] + shown["height"] * end[1], steps=8
    )
    page.mouse.up()


def _loaded(page: Page, name: str) -> None:
    """Wait until the picture `name` of the (new) page has loaded."""
    page.wait_for_function(f"() => document.getElementById('{name}')?.naturalWidth > 0")


def _row(page: Page, number: int) -> list[int]:
    row = page.locator(".redact-row").nth(number)
    return [int(row.locator(f"input[name='{n}']").input_value()) for n in ("x", "y", "w", "h")]


def test_a_box_drawn_with_the_mouse_is_saved_as_a_redacted_copy(served: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    url, item, case, locker = served["url"], served["item"], served["case"], served["locker"]
    with sync_playwright() as playwright:
        assert CHROMIUM is not None
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        complaints: list[str] = []

        def note(message: ConsoleMessage) -> None:
            if message.type == "error":
                complaints.append(message.text)

        page.on("console", note)
        page.goto(f"{url}/login")
        page.get_by_label("Name").fill("rima")
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/")
        page.goto(f"{url}/items/{item}?case={case}")
        page.get_by_role("link", name="Redact in the browser").click()
        page.wait_for_url(f"{url}/items/{item}/redact?case={case}")
        picture = page.locator("#redact-picture")
        _loaded(page, "redact-picture")
        assert picture.get_attribute("alt") == "the picture to redact, blurred"
        width, height = 451, 300  # chelsea, upright
        _drag(page, (0.1, 0.2), (0.5, 0.6))
        drawn = _row(page, 0)
        expected = [
            round(width * 0.1),
            round(height * 0.2),
            round(width * 0.4),
            round(height * 0.4),
        ]
        assert all(abs(a - b) <= 2 for a, b in zip(drawn, expected, strict=True)), drawn
        assert page.locator(".redact-layer .redact-box").count() == 1
        # a second box, then deleted with its button; typing moves an outline
        _drag(page, (0.7, 0.7), (0.9, 0.9))
        assert page.locator(".redact-layer .redact-box").count() == 2
        page.locator(".redact-row").nth(1).get_by_role("button", name="Delete").click()
        assert page.locator(".redact-layer .redact-box").count() == 1
        page.get_by_label("fill").check()
        page.get_by_role("button", name="Preview").click()
        _loaded(page, "redact-preview")
        assert _row(page, 0) == drawn  # the page came back with the box
        assert page.get_by_label("fill").is_checked()
        assert not page.get_by_label("Keep the metadata", exact=False).is_checked()
        check_layout(page)
        page.set_viewport_size({"width": 390, "height": 844})
        check_layout(page)
        page.get_by_role("button", name="Save the redacted copy").click()
        page.wait_for_url(f"{url}/items/{item}?case={case}")
        copies = page.locator("h2:has-text('Publication copies') + p + ul li")
        assert copies.count() == 1 and "redacted" in copies.first.inner_text()
        listed = copies.first.locator("code").inner_text()
        assert [m for m in complaints if "Content Security Policy" in m] == [], complaints
        browser.close()
    with locker.engine.connect() as conn:
        copy = conn.execute(
            select(schema.derivatives.c.sha256).where(
                schema.derivatives.c.item_sha256 == item, schema.derivatives.c.kind == "redacted"
            )
        ).scalar_one()
    assert copy.startswith(listed)
    with locker.store.open(item) as stream:
        original = np.asarray(Image.open(io.BytesIO(stream.read())).convert("RGB"))
    with locker.store.open(copy) as stream:
        redacted = np.asarray(Image.open(io.BytesIO(stream.read())).convert("RGB"))
    x, y, w, h = drawn
    inside = np.zeros(original.shape[:2], dtype=bool)
    inside[y : y + h, x : x + w] = True
    assert not redacted[inside].any() and original[inside].any()
    assert np.array_equal(redacted[~inside], original[~inside])
