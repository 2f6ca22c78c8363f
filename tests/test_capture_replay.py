"""Replay of a captured page inside Docket (docket.web.replay_routes, replay_origin): ReplayWeb.page
served by Docket itself from an origin of its own, in real Chromium, offline; every replay a
logged reveal, the WACZ only for the holder of that reveal's ticket, and a replayed page's
scripts with nothing of the app within reach."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import LAYERS, PASSWORD, Layer, layer_facts, sign_in
from playwright.sync_api import Page, sync_playwright
from starlette.testclient import TestClient
from web_site import make_site, serve, serve_app

from docket import accounts
from docket.capture.run import CaptureOptions, capture
from docket.custody import log
from docket.locker import Locker
from docket.web.app import create_app
from docket.web.guard import COOKIE
from docket.web.replay_origin import DIRECTORY_VARIABLE, create_replay_app, replay_directory
from docket.web.replay_routes import SHOWN

CHROMIUM = shutil.which("chromium")
TEXT = "The east quay closes at dusk until further notice."
BUTTON = "Replay the captured page (recorded)"


REPLAY = "http://127.0.0.1:9"  # the replay origin as the app's pages name it (tests' own)


@pytest.fixture(autouse=True)
def replay_offered(world: dict[str, Any]) -> None:
    world["client"].app.state.replay = REPLAY  # as `serve` does with its replay origin


@pytest.fixture
def replay_client(locker: Locker) -> TestClient:
    """The replay origin's app, as `serve` runs it beside the app."""
    return TestClient(create_replay_app(locker, ["127.0.0.1"]))


def build_captured(locker: Locker, folder: Path, _world: dict[str, Any]) -> dict[str, Any]:
    """The notice page captured into case North; the site is gone once it is taken."""
    options = CaptureOptions(
        collector="tester", case="North", allow_private_network=True, timeout=20
    )
    with serve(make_site(folder / "site")) as site:
        done = capture(locker, site.url("/notice.html"), options)
    return {"captured": done.wacz.sha256}


LAYERS["captured"] = Layer(build_captured)


@pytest.fixture
def captured(request: pytest.FixtureRequest, world: dict[str, Any]) -> str:
    return str(layer_facts(request, "captured", world)["captured"])


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
    """The frame's path and query on the replay origin."""
    found = re.search(r'src="' + re.escape(REPLAY) + r'(/frame/[0-9a-f]{64}\?[^"]+)"', page_html)
    assert found is not None
    return found.group(1).replace("&amp;", "&")


def test_a_replay_is_a_logged_reveal_and_the_archive_needs_its_ticket(
    world: dict[str, Any], locker: Locker, captured: str, replay_client: TestClient
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
    policy = answer.headers["content-security-policy"]
    assert f"frame-src {REPLAY}" in policy and "script-src 'nonce-" in policy
    assert "'self'" not in policy.split("frame-src")[1]  # the app never frames itself here
    found = re.search(r"user=([0-9]+)&ticket=([0-9]+\.[0-9a-f]{64})", frame)
    assert found is not None
    user, ticket = found.groups()
    archive = f"/wacz/{captured}"
    whole = replay_client.get(archive, params={"user": user, "ticket": ticket})
    assert whole.status_code == 200 and whole.content[:4] == b"PK\x03\x04"
    part = replay_client.get(
        archive, params={"user": user, "ticket": ticket}, headers={"Range": "bytes=0-99"}
    )
    assert part.status_code == 206 and part.content == whole.content[:100]
    shown = replay_client.get(frame)
    assert shown.status_code == 200 and "set-cookie" not in shown.headers
    assert (
        "frame-ancestors http://127.0.0.1:* https://127.0.0.1:*;"
        in (shown.headers["content-security-policy"])
    )
    for refused in ("", "1.0", ticket[:-1] + ("1" if ticket[-1] == "0" else "0")):
        assert (
            replay_client.get(archive, params={"user": user, "ticket": refused}).status_code == 403
        )
    other_user = str(int(user) + 1)  # a ticket is for one person
    assert (
        replay_client.get(archive, params={"user": other_user, "ticket": ticket}).status_code == 403
    )
    other = world["north"]  # and for one item
    refused = replay_client.get(f"/wacz/{other}", params={"user": user, "ticket": ticket})
    assert refused.status_code == 403


@pytest.mark.parametrize("backend", ["sqlite"])  # the replay origin's routes: no catalogue work
def test_the_replay_origin_knows_no_session_and_serves_nothing_of_the_app(
    backend: str, world: dict[str, Any], captured: str, replay_client: TestClient
) -> None:
    """A replayed page's scripts run on the replay origin: the app's session cookie, sent there
    by a browser (cookies do not keep to a port), opens nothing."""
    client = world["client"]
    sign_in(client, "owner-1")
    session = client.cookies.get(COOKIE)
    assert session
    replay_client.cookies.set(COOKIE, session)
    for path in ("/", f"/items/{captured}", "/api/cases", "/login", f"/items/{captured}/original"):
        assert replay_client.get(path).status_code == 404, path
    assert replay_client.post(f"/items/{captured}/replay").status_code in (404, 405)
    assert replay_client.get(f"/wacz/{captured}").status_code in (403, 422)
    assert replay_client.get(f"/frame/{captured}", params={"user": 1}).status_code == 403


def test_a_disabled_account_replays_no_more_with_a_ticket_it_holds(
    world: dict[str, Any], locker: Locker, captured: str, replay_client: TestClient
) -> None:
    client = world["client"]
    answer = replay(client, captured, sign_in(client, "investigator-1"))
    frame = frame_of(answer.text)
    assert replay_client.get(frame).status_code == 200
    with locker.engine.begin() as conn:
        accounts.disable_user(conn, "admin", accounts.user_named(conn, "investigator-1"))
    assert replay_client.get(frame).status_code == 403


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


@pytest.mark.parametrize("backend", ["sqlite"])  # a missing folder: no catalogue work
def test_a_missing_replaywebpage_is_said_on_one_line_and_reveals_nothing(
    backend: str,
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


# What a hostile replayed page could try once out of ReplayWeb.page's rewriting, run in the
# frame page of the replay origin (the same origin as the replayed page, with no rewriting
# and no service worker in the way): read the app's pages, write with the reviewer's session,
# reach up into the app's page, read the session cookie.
ATTACKS = """async ([app, item]) => {
  const tried = {};
  try {
    const answer = await fetch(app + "/api/cases", {credentials: "include"});
    tried.read = "read " + answer.status + " " + (await answer.text()).slice(0, 40);
  } catch (error) { tried.read = "blocked"; }
  try {
    await fetch(app + "/items/" + item + "/flag", {method: "POST", credentials: "include",
      mode: "no-cors", body: new URLSearchParams({flag: "graphic"})});
    tried.write = "sent";
  } catch (error) { tried.write = "blocked"; }
  try { tried.top = "read " + window.top.document.title; } catch (error) { tried.top = "blocked"; }
  tried.cookie = document.cookie;
  tried.origin = location.origin;
  return tried;
}"""


def replayed_frame(page: Page) -> Any:
    for frame in page.frames:
        try:
            if TEXT in frame.inner_text("body", timeout=1000):
                return frame
        except Exception:  # a frame still loading or navigating: looked at again next round
            continue
    return None


def frames_seen(page: Page) -> list[tuple[str, str]]:
    """Each frame's address and the start of its text: what a failed wait saw."""
    seen = []
    for frame in page.frames:
        try:
            seen.append((frame.url, frame.inner_text("body", timeout=1000)[:80]))
        except Exception as error:  # a frame still loading or navigating
            seen.append((frame.url, f"({type(error).__name__})"))
    return seen


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
@pytest.mark.parametrize("backend", ["sqlite"])  # the browser's isolation
def test_a_captured_page_replays_offline_apart_from_the_app_in_a_real_browser(
    backend: str, world: dict[str, Any], locker: Locker, captured: str
) -> None:
    replay_directory()  # ReplayWeb.page must be there (make replay)
    requested: list[str] = []
    with (
        serve_app(create_replay_app(locker, ["127.0.0.1"])) as replay_url,
        serve_app(create_app(locker, replay_origin=replay_url)) as url,
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
        assert replayed_frame(page) is None  # behind a click
        assert reveals(locker, captured) == []
        page.get_by_role("button", name=BUTTON).click()
        deadline = time.monotonic() + 60
        while (frame := replayed_frame(page)) is None and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        assert frame is not None, f"the captured page never showed: {frames_seen(page)}"
        shown_at = frame.evaluate("location.origin")
        [outer] = [f for f in page.frames if f.url.startswith(f"{replay_url}/frame/")]
        tried = outer.evaluate(ATTACKS, [url, world["north"]])
        session = next(c["value"] for c in context.cookies() if c["name"] == COOKIE)
        browser.close()
    assert [r["shown"] for r in reveals(locker, captured)] == [SHOWN]
    assert shown_at == tried["origin"] == replay_url  # the replayed page runs on the replay origin
    assert tried["read"] == "blocked" and tried["top"] == "blocked", tried
    assert session not in tried["cookie"]
    with locker.engine.connect() as conn:  # the blind write changed nothing
        assert [e.action for e in log.events(conn, world["north"])].count("item.flagged") == 0
    assert any("/wacz/" in r for r in requested)  # the service worker's own fetches too
    origins = {urlsplit(r).netloc for r in requested if r.startswith("http")}
    assert origins <= {urlsplit(url).netloc, urlsplit(replay_url).netloc}
    assert all(r.startswith(("http:", "blob:", "data:")) for r in requested), requested


@pytest.mark.parametrize("backend", ["sqlite"])  # the app's settings: no catalogue work
def test_replay_is_off_when_no_replay_origin_runs(
    backend: str, world: dict[str, Any], locker: Locker, captured: str
) -> None:
    """No button, no route, no reveal recorded (`serve --no-replay`)."""
    client = world["client"]
    client.app.state.replay = None  # create_app's default
    csrf = sign_in(client, "owner-1")
    assert BUTTON not in client.get(f"/items/{captured}").text
    assert replay(client, captured, csrf).status_code == 404
    with locker.engine.connect() as conn:
        assert not [e for e in log.events(conn, captured) if e.action == "item.revealed"]
    assert create_app(locker).state.replay is None
