"""Replay of a captured page inside Docket (docket.web.replay_routes): ReplayWeb.page served by
Docket itself, in real Chromium, offline; every replay a logged reveal, and the WACZ only for
the holder of that reveal's ticket, in the item's case."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, sign_in
from playwright.sync_api import Page, sync_playwright
from starlette.testclient import TestClient
from web_site import Site, make_site, serve, serve_app

from docket.capture.run import CaptureOptions, capture
from docket.custody import log
from docket.locker import Locker
from docket.web.app import create_app
from docket.web.replay_routes import DIRECTORY_VARIABLE, SHOWN, replay_directory

CHROMIUM = shutil.which("chromium")
TEXT = "The east quay closes at dusk until further notice."
BUTTON = "Replay the captured page (recorded)"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return make_site(tmp_path_factory.mktemp("site"))


@pytest.fixture(autouse=True)
def replay_offered(world: dict[str, Any]) -> None:
    world["client"].app.state.replay = True  # as `serve --replay-same-origin` does


@pytest.fixture
def captured(world: dict[str, Any], locker: Locker, made: Site) -> str:
    """The notice page captured into case North; the site is gone once it is taken."""
    options = CaptureOptions(
        collector="tester", case="North", allow_private_network=True, timeout=20
    )
    with serve(made.fresh()) as site:
        done = capture(locker, site.url("/notice.html"), options)
    return done.wacz.sha256


def reveals(locker: Locker, item: str) -> list[dict[str, Any]]:
    with locker.engine.connect() as conn:
        return [
            dict(e.details)
            for e in log.events(conn)
            if e.action == "item.revealed" and e.item == item
        ]


def replay(client: TestClient, item: str, csrf: str) -> Any:
    return client.post(f"/items/{item}/replay", data={"csrf": csrf})


def frame_of(page_html: str) -> str:
    found = re.search(r'src="(/items/[0-9a-f]{64}/replay-frame\?[^"]+)"', page_html)
    assert found is not None
    return found.group(1).replace("&amp;", "&")


def test_a_replay_is_a_logged_reveal_and_the_archive_needs_its_ticket(
    world: dict[str, Any], locker: Locker, captured: str
) -> None:
    client = world["client"]
    csrf = sign_in(client, "reviewer-1")
    assert BUTTON in client.get(f"/items/{captured}").text
    assert reveals(locker, captured) == []
    answer = replay(client, captured, csrf)
    assert answer.status_code == 200
    assert [r["shown"] for r in reveals(locker, captured)] == [SHOWN]
    frame = frame_of(answer.text)
    assert 'sandbox="allow-scripts allow-same-origin"' in answer.text
    assert "frame-src 'self'" in answer.headers["content-security-policy"]
    assert "script-src 'nonce-" in answer.headers["content-security-policy"]
    ticket = re.search(r"ticket=([0-9]+\.[0-9a-f]{64})", frame)
    assert ticket is not None
    archive = f"/items/{captured}/capture.wacz"
    whole = client.get(archive, params={"ticket": ticket.group(1)})
    assert whole.status_code == 200 and whole.content[:4] == b"PK\x03\x04"
    part = client.get(archive, params={"ticket": ticket.group(1)}, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == whole.content[:100]
    assert client.get(frame).status_code == 200
    for refused in ("", "1.0", ticket.group(1)[:-1] + "0"):
        assert client.get(archive, params={"ticket": refused}).status_code == 403
    other = world["north"]  # a ticket is for one item
    assert (
        client.get(f"/items/{other}/capture.wacz", params={"ticket": ticket.group(1)}).status_code
        == 403
    )


def test_no_replay_for_those_who_may_not_reveal_nor_of_what_is_no_capture(
    world: dict[str, Any], locker: Locker, captured: str
) -> None:
    client = world["client"]
    for name in ("viewer-1", "outsider-1"):
        csrf = sign_in(client, name)
        assert replay(client, captured, csrf).status_code in (403, 404), name
    csrf = sign_in(client, "investigator-1")
    picture = world["north"]
    assert BUTTON not in client.get(f"/items/{picture}").text
    answer = replay(client, picture, csrf)
    assert answer.status_code == 404
    assert "not a captured page's WACZ" in answer.json()["detail"]
    assert reveals(locker, captured) == [] and reveals(locker, picture) == []


def test_a_missing_replaywebpage_is_said_on_one_line_and_reveals_nothing(
    world: dict[str, Any],
    locker: Locker,
    captured: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DIRECTORY_VARIABLE, str(tmp_path / "nowhere"))
    client = world["client"]
    answer = replay(client, captured, sign_in(client, "owner-1"))
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "nowhere" in detail and "make replay" in detail and "\n" not in detail
    assert reveals(locker, captured) == []


def texts_of_frames(page: Page) -> str:
    found = []
    for frame in page.frames:
        try:
            found.append(frame.inner_text("body", timeout=1000))
        except Exception:  # a frame still loading or navigating: looked at again next round
            continue
    return "\n".join(found)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_a_captured_page_replays_offline_in_a_real_browser_after_a_logged_reveal(
    world: dict[str, Any], locker: Locker, captured: str
) -> None:
    replay_directory()  # ReplayWeb.page must be there (make replay)
    requested: list[str] = []
    with (
        serve_app(create_app(locker, replay_same_origin=True)) as url,
        sync_playwright() as playwright,
    ):
        assert CHROMIUM is not None
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--disable-gpu", "--no-sandbox"]
        )
        context = browser.new_context()
        context.on("request", lambda request: requested.append(request.url))
        page = context.new_page()
        page.goto(f"{url}/login")
        page.get_by_label("Name").fill("investigator-1")
        page.get_by_label("Password").fill(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{url}/")
        page.goto(f"{url}/items/{captured}")
        assert TEXT not in texts_of_frames(page)  # behind a click
        assert reveals(locker, captured) == []
        page.get_by_role("button", name=BUTTON).click()
        deadline = time.monotonic() + 60
        while TEXT not in texts_of_frames(page) and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        shown = texts_of_frames(page)
        browser.close()
    assert TEXT in shown
    assert [r["shown"] for r in reveals(locker, captured)] == [SHOWN]
    assert any("/capture.wacz?" in r for r in requested)  # the service worker's own fetches too
    origin = urlsplit(url).netloc
    assert {urlsplit(r).netloc for r in requested if r.startswith("http")} == {origin}
    assert all(r.startswith(("http:", "blob:", "data:")) for r in requested), requested


def test_replay_is_off_unless_the_server_was_asked_to_offer_it(
    world: dict[str, Any], locker: Locker, captured: str
) -> None:
    """A replayed page's scripts would run in the app's origin: no button, no route, no
    reveal recorded until `serve --replay-same-origin`."""
    client = world["client"]
    client.app.state.replay = False  # the default of create_app and `docket serve`
    csrf = sign_in(client, "owner-1")
    assert BUTTON not in client.get(f"/items/{captured}").text
    assert replay(client, captured, csrf).status_code == 404
    with locker.engine.connect() as conn:
        assert not [e for e in log.events(conn, captured) if e.action == "item.revealed"]
    assert create_app(locker).state.replay is False
