"""The web app in a real browser: Debian's Chromium driven by Playwright, against the app
served by uvicorn on loopback. Sign in, see the blurred grid, reveal (and find the event in
the custody trail), upload, export."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from conftest import take
from media import jpeg, sample

from docket import accounts
from docket.locker import Locker
from docket.web.app import create_app

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make system installs it)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    with Locker.create(tmp_path / "locker") as locker:
        picture = tmp_path / "chelsea.jpg"
        picture.write_bytes(jpeg(sample("chelsea")))
        take(locker, picture, case="North")
        with locker.engine.connect() as conn, conn.begin():
            accounts.create_user(conn, "setup", "ada", "correct horse battery", "admin")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(create_app(locker), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        thread.join(10)


def test_review_in_a_real_browser(served: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    upload = tmp_path / "rocket.jpg"
    upload.write_bytes(jpeg(sample("rocket")))
    with sync_playwright() as playwright:
        assert CHROMIUM is not None, "Debian's chromium is needed (make system installs it)"
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 390, "height": 844}, accept_downloads=True)
        page.goto(f"{served}/")
        assert page.url.endswith("/login")
        page.get_by_label("Name").fill("ada")
        page.get_by_label("Password").fill("correct horse battery")
        page.keyboard.press("Enter")  # keyboard only
        page.get_by_role("link", name="North").click()
        case_url = page.url
        preview = page.get_by_role("img").first
        assert "blurred preview" in (preview.get_attribute("alt") or "")
        # The preview really arrives (waits for it under load instead of racing it).
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0",
            arg=preview.element_handle(),
            timeout=30_000,
        )

        page.set_input_files("input[type=file]", str(upload))
        page.get_by_role("button", name="Upload").click()
        page.wait_for_load_state("load")
        assert "rocket.jpg" in page.content() and '"status":"new"' in page.content()

        page.goto(case_url)
        page.get_by_role("link").filter(has_text="chelsea.jpg").click()
        item_url = page.url
        with page.expect_response(lambda r: r.url.endswith("/reveal")) as revealed:
            page.get_by_role("button", name="Reveal the original (recorded)").click()
        assert revealed.value.status == 200
        assert revealed.value.headers["content-type"] == "image/jpeg"
        page.goto(item_url)  # explicit navigation: the revealed image replaced the page
        assert "item.revealed" in page.content()

        page.goto(case_url)
        page.get_by_label("Recipient").fill("Tribunal")
        with page.expect_download() as download:
            page.get_by_role("button", name="Export and download").click()
        saved = tmp_path / "package.zip"
        download.value.save_as(saved)
        browser.close()
    from docket.disclose.check import check

    assert check(saved).ok
