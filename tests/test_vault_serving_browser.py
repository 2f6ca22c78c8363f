"""A vault's video played by a real browser (Debian's Chromium through Playwright) from the
decrypting reader: it loads, seeks with byte ranges answered 206, and no response may be
cached."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from media import slideshow
from playwright.sync_api import Response as PageResponse
from playwright.sync_api import sync_playwright
from starlette.responses import Response

from docket.store import VaultStore
from docket.vault.keys import VaultKey
from docket.web.serving import evidence_response

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make system installs it)"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
PAGE = '<!doctype html><video id="v" src="/blob" muted preload="auto"></video>'


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """`app` on a free loopback port, for as long as the block runs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_chromium_plays_and_seeks_a_vault_video(tmp_path: Path) -> None:
    video = slideshow(tmp_path / "video", ["astronaut", "coffee", "chelsea", "rocket"], 1.0)
    store = VaultStore.create(tmp_path / "locker", VaultKey.generate())
    sha256 = store.put(io.BytesIO(video.read_bytes())).digest.sha256
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def home() -> str:
        return PAGE

    @app.get("/blob")
    def blob() -> Response:
        return evidence_response(store, sha256, "video/mp4")

    answers: list[PageResponse] = []
    with serving(app) as url, sync_playwright() as playwright:
        assert CHROMIUM is not None
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.on(
            "response", lambda answer: answers.append(answer) if "/blob" in answer.url else None
        )
        page.goto(f"{url}/")
        page.wait_for_function("document.getElementById('v').readyState >= 2", timeout=30000)
        duration = page.evaluate("document.getElementById('v').duration")
        assert duration == pytest.approx(4.0, abs=0.3)
        page.evaluate(
            """() => new Promise(done => {
                const v = document.getElementById('v');
                v.addEventListener('seeked', () => done(), {once: true});
                v.currentTime = 3.5;
            })"""
        )
        assert page.evaluate("document.getElementById('v').error") is None
        assert page.evaluate("document.getElementById('v').currentTime") == pytest.approx(3.5, 0.1)
        browser.close()
    answers = [a for a in answers if a.url.endswith("/blob")]
    assert answers and all(a.headers["cache-control"] == "no-store" for a in answers)
    ranged = [a for a in answers if a.status == 206]
    assert ranged, [a.status for a in answers]
    total = video.stat().st_size
    assert all(a.headers["content-range"].endswith(f"/{total}") for a in ranged)
