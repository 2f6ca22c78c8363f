"""Screenshots of the web app's main pages at a phone's width (390 px) and a laptop's
(1366 px), so anyone can look at the interface after a change (nothing is committed as images).

A throwaway locker gets the demo's evidence set (docket._samples) in a case, an admin signs
in, and Debian's Chromium photographs each page, and the page a reveal opens, into OUT
(default ./screenshots):

    .venv/bin/python scripts/screenshots.py [OUT]
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from docket import accounts
from docket._samples import write_samples
from docket.catalogue import queries
from docket.ingest.run import IngestOptions, ingest
from docket.locker import Locker
from docket.web.app import create_app

PASSWORD = "correct horse battery"
WIDTHS = (390, 1366)
REVEAL = "Reveal the original (recorded)"


def _serve(locker: Locker) -> tuple[uvicorn.Server, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(locker), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def take_screenshots(out: Path, chromium: str = "/usr/bin/chromium") -> list[Path]:
    """Photograph every main page at both widths into `out`; returns the files made."""
    out.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch, Locker.create(Path(scratch) / "l") as locker:
        samples = write_samples(Path(scratch) / "evidence")
        options = IngestOptions(collector="demo", case="Eastbrook inquiry")
        ingest(locker, [os.fsencode(p) for p in samples], options)
        with locker.engine.connect() as conn, conn.begin():
            accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
            case_id = queries.case_id_of(conn, "Eastbrook inquiry")
            first = queries.list_items(conn, "Eastbrook inquiry", 1)[0]["sha256"]
        server, url = _serve(locker)
        pages = {
            "cases": "/",
            "grid": f"/cases/{case_id}",
            "dashboard": f"/cases/{case_id}/dashboard",
            "item": f"/items/{first}?case={case_id}",
            "incidents": f"/cases/{case_id}/incidents",
            "audit": f"/cases/{case_id}/audit",
            "docs": "/docs",
        }
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(f"{url}/login")
            page.get_by_label("Name").fill("ada")
            page.get_by_label("Password").fill(PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/")
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                for name, path in pages.items():
                    page.goto(f"{url}{path}")
                    target = out / f"{name}-{width}.png"
                    page.screenshot(path=str(target), full_page=True)
                    made.append(target)
                page.goto(f"{url}{pages['item']}")  # the reveal page: recorded, behind a click
                page.get_by_role("button", name=REVEAL).click()
                page.wait_for_load_state()
                target = out / f"reveal-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                made.append(target)
            browser.close()
        server.should_exit = True
    return made


if __name__ == "__main__":
    for shot in take_screenshots(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots")):
        print(shot)
