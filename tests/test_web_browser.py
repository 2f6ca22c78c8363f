"""The web app in a real browser: Debian's Chromium driven by Playwright, against the app
served by uvicorn on loopback. Sign in with the keyboard, create a case, upload into it, see
the blurred grid, reveal (and find the event in the custody trail), annotate, search, record
an incident on the offline map and link evidence to it, play a revealed video muted, export;
every page fits a phone's width and a laptop's, and every control has a label."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from conftest import take
from media import jpeg, sample, slideshow
from playwright.sync_api import Dialog, Page, Request

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


@contextmanager
def serving(locker: Locker) -> Iterator[str]:
    """The app on a free loopback port, for as long as the block runs."""
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


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    with Locker.create(tmp_path / "locker") as locker:
        picture = tmp_path / "chelsea.jpg"
        picture.write_bytes(jpeg(sample("chelsea")))
        take(locker, picture, case="North")
        take(locker, slideshow(tmp_path / "video", ["astronaut", "coffee"], 1.0), case="North")
        with locker.engine.connect() as conn, conn.begin():
            accounts.create_user(conn, "setup", "ada", "correct horse battery", "admin")
        with serving(locker) as url:
            yield url


LAYOUT = """() => {
  const wide = document.documentElement.scrollWidth > window.innerWidth + 1;
  const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
    .map(el => el.name);
  return {wide, unlabelled};
}"""


def check_layout(page: Page) -> None:
    """No sideways scrolling at this width, and a label for every control (screen readers),
    measured once the page a click led to has loaded (not the one it is leaving)."""
    page.wait_for_load_state("load")
    found = page.evaluate(LAYOUT)
    assert found == {"wide": False, "unlabelled": []}, (page.url, found)


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
        page.wait_for_url(f"{served}/")
        check_layout(page)
        page.get_by_label("New case").fill("Eastbrook inquiry")
        page.get_by_label("New case").press("Enter")
        page.get_by_role("link", name="Eastbrook inquiry").click()
        page.set_input_files("input[type=file]", str(upload))
        page.get_by_role("button", name="Upload").click()
        page.wait_for_load_state("load")
        row = page.get_by_role("row").filter(has_text="rocket.jpg")
        assert row.get_by_role("cell").nth(1).inner_text() == "new"
        check_layout(page)
        page.get_by_role("link", name="Back to the case").click()
        assert page.locator(".grid small").all_inner_texts() == ["rocket.jpg"]

        page.goto(f"{served}/")
        page.get_by_role("link", name="North").click()
        case_url = page.url
        check_layout(page)
        page.keyboard.press("Tab")  # the first stop skips the navigation
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        preview = page.get_by_role("img").first
        assert "blurred preview" in (preview.get_attribute("alt") or "")
        # The preview really arrives (waits for it under load instead of racing it).
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0",
            arg=preview.element_handle(),
            timeout=30_000,
        )

        page.get_by_role("link").filter(has_text="chelsea.jpg").click()
        item_url = page.url
        page.get_by_role("button", name="Reveal the original (recorded)").click()
        page.wait_for_selector("h1:has-text('Revealed: chelsea.jpg')")
        original = page.get_by_role("img", name="the original picture, chelsea.jpg")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0",
            arg=original.element_handle(),
            timeout=30_000,
        )
        check_layout(page)
        page.get_by_role("link", name="Back to the item").first.click()
        page.wait_for_url(item_url + "*")
        assert "item.revealed" in page.content()
        check_layout(page)

        page.get_by_label("Note").fill("tabby on the doorstep")
        page.get_by_label("Region x,y,w,h").fill("10,10,120,90")
        with page.expect_navigation():  # back to the item page (through its case)
            page.get_by_label("Region x,y,w,h").press("Enter")  # submits, keyboard only
        assert "tabby on the doorstep" in page.content()
        assert "item.annotated" in page.content()

        page.goto(case_url)
        page.get_by_label("Search", exact=True).fill("TABBY")
        page.get_by_label("Search", exact=True).press("Enter")
        page.wait_for_url("**q=TABBY**")
        names = page.locator(".grid small").all_inner_texts()
        assert [n.rsplit("/", 1)[-1] for n in names] == ["chelsea.jpg"]

        page.get_by_role("link", name="Incidents").click()
        page.wait_for_url("**/cases/*/incidents")  # not the grid still unloading (a race)
        check_layout(page)
        page.get_by_label("What happened (title)").fill("Raid on the east market")
        page.get_by_label("From").fill("2024-03-01T09:40")
        page.get_by_label("Latitude").fill("33.51")
        page.get_by_label("Longitude").fill("36.28")
        page.get_by_label("attack on civilians").check()
        page.get_by_label("Actors, one per line").fill("Patrol B")
        page.get_by_role("button", name="Record incident").click()
        page.wait_for_url("**/incidents/*")
        incident_url = page.url
        assert page.get_by_role("img", name="Map of 1 place").is_visible()
        check_layout(page)

        page.goto(item_url)
        page.get_by_label("Link to incident").select_option(label="Raid on the east market (North)")
        with page.expect_navigation():
            page.get_by_role("button", name="Link", exact=True).click()
        page.goto(incident_url)
        assert page.get_by_role("link").filter(has_text="chelsea.jpg").count() == 1
        page.goto(f"{case_url}/timeline")
        assert "Raid on the east market" in page.content()
        check_layout(page)
        page.goto(case_url)
        page.get_by_role("link").filter(has_text="slideshow.mp4").click()
        page.get_by_role("button", name="Reveal the original (recorded)").click()
        assert page.locator("video").evaluate("v => v.muted") is True
        check_layout(page)
        page.set_viewport_size({"width": 1366, "height": 768})  # a laptop
        for url in (case_url, item_url, incident_url):
            page.goto(url)
            check_layout(page)

        page.goto(case_url)
        page.get_by_label("Recipient", exact=True).fill("Tribunal")
        with page.expect_download() as download:
            page.get_by_role("button", name="Export and download").click()
        saved = tmp_path / "package.zip"
        download.value.save_as(saved)
        browser.close()
    from docket.disclose.check import check

    assert check(saved).ok


# Evidence that tries what a planted file would: read the page's CSRF token, make a stranger
# owner of the case through the API, and show that it ran.
ATTACK = (
    "fetch('/').then(r => r.text()).then(t => {"
    " const csrf = (t.match(/name=.csrf. value=.([^\"']+)/) || [])[1];"
    " return fetch('/api/cases/1/members', {method: 'POST', headers: {'content-type':"
    " 'application/json', 'x-csrf-token': csrf}, body: JSON.stringify({user: 'mallory',"
    " role: 'owner'})});}); alert('the evidence ran');"
)
SCRIPTED = {
    "statement.html": f"<!doctype html><title>x</title><script>{ATTACK}</script>",
    "drawing.svg": '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    f"<script>{ATTACK}</script><circle r='9'/></svg>",
}


def test_revealing_scripted_html_and_svg_evidence_runs_nothing(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright
    from sqlalchemy import func, select

    from docket.catalogue import schema

    with Locker.create(tmp_path / "locker") as locker:
        items = {}
        for name, text in SCRIPTED.items():
            (tmp_path / name).write_text(text)
            items[name] = take(locker, tmp_path / name, case="North").outcomes[0].sha256
        with locker.engine.connect() as conn, conn.begin():
            accounts.create_user(conn, "setup", "ada", "correct horse battery", "admin")
            accounts.create_user(conn, "setup", "mallory", "correct horse battery", "member")

        def members() -> int:
            with locker.engine.connect() as conn:
                return int(
                    conn.execute(select(func.count()).select_from(schema.memberships)).scalar_one()
                )

        before = members()
        with serving(locker) as url, sync_playwright() as playwright:
            assert CHROMIUM is not None, "Debian's chromium is needed (make system installs it)"
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(accept_downloads=True)
            dialogs: list[str] = []
            api_calls: list[str] = []
            sent_as: list[str] = []

            def on_dialog(dialog: Dialog) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            def on_request(request: Request) -> None:
                if "/api/" in request.url:
                    api_calls.append(request.url)

            page.on("dialog", on_dialog)
            page.context.on("request", on_request)
            page.goto(f"{url}/login")
            page.get_by_label("Name").fill("ada")
            page.get_by_label("Password").fill("correct horse battery")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/")
            for sha in items.values():
                page.goto(f"{url}/items/{sha}")
                page.get_by_role("button", name="Reveal the original (recorded)").click()
                with page.expect_download() as download:
                    page.get_by_role("link", name="Download the original").click()
                sent_as.append(download.value.suggested_filename)
                page.wait_for_timeout(1500)  # time the script would need to act, had it run
            browser.close()
        assert dialogs == [] and api_calls == []
        assert members() == before
        assert sorted(sent_as) == sorted(f"{str(sha)[:12]}.bin" for sha in items.values())


MINIMAL_PDF = (
    b"%PDF-1.1\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]"
    b"/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def test_a_revealed_pdf_still_opens_in_chromium_s_viewer_inside_the_sandbox(
    tmp_path: Path,
) -> None:
    """PDF is served inline under `sandbox` without allow-scripts: Chromium's viewer runs
    outside the document, so the sandbox costs the reviewer nothing."""
    from playwright.sync_api import sync_playwright

    with Locker.create(tmp_path / "locker") as locker:
        (tmp_path / "report.pdf").write_bytes(MINIMAL_PDF)
        sha = take(locker, tmp_path / "report.pdf", case="North").outcomes[0].sha256
        with locker.engine.connect() as conn, conn.begin():
            accounts.create_user(conn, "setup", "ada", "correct horse battery", "admin")
        with serving(locker) as url, sync_playwright() as playwright:
            assert CHROMIUM is not None, "Debian's chromium is needed (make system installs it)"
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(f"{url}/login")
            page.get_by_label("Name").fill("ada")
            page.get_by_label("Password").fill("correct horse battery")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/")
            page.goto(f"{url}/items/{sha}")
            page.get_by_role("button", name="Reveal the original (recorded)").click()
            with page.expect_response(lambda r: "/original" in r.url) as revealed:
                page.get_by_role("link", name="Open the original").click()
            sent = revealed.value.all_headers()  # as the server sent them
            assert sent["content-security-policy"].startswith("sandbox;")
            assert sent["content-disposition"].startswith("inline")
            viewer: list[str] = []
            deadline = time.monotonic() + 30  # the viewer's frame attaches after the document
            while not viewer and time.monotonic() < deadline:
                page.wait_for_timeout(100)
                viewer = [f.url for f in page.frames if f.url.startswith("chrome-extension://")]
            browser.close()
        assert viewer, "Chromium's PDF viewer did not open the sandboxed PDF"
