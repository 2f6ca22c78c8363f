"""An item's page shows the newest part of its custody trail and links to older parts by key
(?before=EVENT), keeping the case it is looked at through; the JSON keeps the whole trail."""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from docket import accounts
from docket.locker import Locker
from docket.protect import flags
from docket.web.app import create_app
from docket.web.item_routes import TRAIL_SHOWN

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from _catalogue import content_of, generate

REVEALS = TRAIL_SHOWN + 30


def _trail(page: str) -> list[int]:
    return [int(seq) for seq in re.findall(r'<a href="/api/events/(\d+)/proof"', page)]


def test_a_long_trail_is_shown_newest_first_page_then_older_by_key(locker: Locker) -> None:
    case_id = generate(locker, 3, "North", blobs=False)
    sha256 = hashlib.sha256(content_of(1)).hexdigest()
    with locker.engine.begin() as conn:
        for _ in range(REVEALS):
            flags.reveal(conn, "bench", sha256, "original (web)")
        admin = accounts.create_user(conn, "test", "ada", "correct horse battery", "admin")
        token = accounts.issue_token(conn, admin)
    client = TestClient(create_app(locker))
    client.headers["Authorization"] = f"Bearer {token}"
    everything = [e["seq"] for e in client.get(f"/api/items/{sha256}").json()["events"]]
    assert len(everything) == REVEALS + 1  # and its arrival
    newest = client.get(f"/items/{sha256}?case={case_id}").text
    assert _trail(newest) == everything[-TRAIL_SHOWN:]
    older = re.search(r'<a href="([^"]+)">Older events</a>', newest)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert link == f"/items/{sha256}?case={case_id}&before={everything[-TRAIL_SHOWN]}"
    oldest = client.get(link).text
    assert _trail(oldest) == everything[:-TRAIL_SHOWN]
    assert "Older events" not in oldest
