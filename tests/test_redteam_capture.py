"""Red team of web captures across case walls: case B (test_case_walls' `walls`) captures a
page whose address carries a marker ("zq7-mark-"), then case A ("North") comes to hold the
very bytes of every part of that capture (its WACZ, screenshot, print and images), brought
in by a plain import, as a colleague's copy would be. Nothing of B's capture (its address,
note, collector, that it was a capture at all) may reach A's people through any page or API
route, and A may not replay B's capture. A test that passes guards a promise that held; one
marked xfail(strict) is a finding for the lead."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import LAYERS, Layer, layer_facts, sign_in, take
from test_case_walls import MARKER, _candidates, _get_routes, walls
from web_site import make_site, serve

from docket.capture.run import CaptureOptions, capture
from docket.locker import Locker

__all__ = ["walls"]
B = "Zq7-mark-case"
REPLAY = "http://127.0.0.1:9"  # the replay origin as the app's pages name it (no listener)


def build_b_capture(locker: Locker, tmp_path: Path, _walls: dict[str, Any]) -> dict[str, Any]:
    """B's member captures the gallery (an address with a marker); A imports every part."""
    options = CaptureOptions(
        collector="zq7-mark-member",
        case=B,
        note="zq7-mark-capture-note",
        source="zq7-mark-capture-source",
        allow_private_network=True,
        timeout=30,
    )
    with serve(make_site(tmp_path / "site")) as site:
        done = capture(locker, site.url("/gallery.html?zq7-mark-url=1"), options)
    parts = [part.sha256 for part in done.parts]
    folder = tmp_path / "colleague"
    folder.mkdir()
    for number, sha in enumerate(parts):
        copy = folder / f"part-{number}"
        with locker.store.open(sha) as stream:
            copy.write_bytes(stream.read())
    take(locker, folder, case="North", note="from a colleague")
    return {"parts": parts, "wacz": done.wacz.sha256}


LAYERS["b_capture"] = Layer(build_b_capture, base="walls")


@pytest.fixture
def b_capture(request: pytest.FixtureRequest, walls: dict[str, Any]) -> dict[str, Any]:
    walls["client"].app.state.replay = REPLAY  # as `serve` does with its replay origin
    return layer_facts(request, "b_capture", walls)


def test_case_b_sees_its_capture_address(b_capture: dict[str, Any]) -> None:
    """The crawl below can fail: B's own member finds the marked address on the WACZ's page."""
    client = b_capture["client"]
    sign_in(client, "zq7-mark-member")
    page = client.get(f"/items/{b_capture['wacz']}", params={"case": b_capture["b_id"]})
    assert page.status_code == 200 and b"zq7-mark-url" in page.content


def test_no_get_route_shows_a_of_b_capture(b_capture: dict[str, Any], locker: Locker) -> None:
    client = b_capture["client"]
    values = {**_candidates(b_capture, locker), "sha256": b_capture["parts"]}
    sign_in(client, "owner-1")
    tried = 0
    for template in _get_routes(client.app):
        names = re.findall(r"{(\w+)}", template)
        if "sha256" not in names:
            continue
        for combo in itertools.product(*(values[n] for n in names)):
            path = template
            for name, value in zip(names, combo, strict=True):
                path = path.replace(f"{{{name}}}", str(value))
            answer = client.get(path, follow_redirects=False)
            tried += 1
            assert answer.status_code < 500, path
            found = MARKER.search(answer.content)
            assert not found, (
                f"{path}: {answer.content[max(found.start() - 300, 0) : found.end() + 60]!r}"
            )
    assert tried > 20


def test_a_cannot_replay_b_capture_of_bytes_a_holds(
    b_capture: dict[str, Any], locker: Locker
) -> None:
    """A holds the WACZ by import: no replay offered or allowed, B's address never shown, no
    reveal recorded; the answer is the one for any item that is no capture in A."""
    client, wacz = b_capture["client"], b_capture["wacz"]
    csrf = sign_in(client, "owner-1")
    assert "Replay the captured page" not in client.get(f"/items/{wacz}").text
    answer = client.post(f"/items/{wacz}/replay", data={"csrf": csrf})
    assert answer.status_code == 404 and not MARKER.search(answer.content)
    north = client.post(f"/items/{b_capture['north']}/replay", data={"csrf": csrf})
    assert answer.json()["detail"].replace(wacz[:12], "<item>") == north.json()["detail"].replace(
        b_capture["north"][:12], "<item>"
    )
    through_b = client.post(
        f"/items/{wacz}/replay", params={"case": b_capture["b_id"]}, data={"csrf": csrf}
    )
    assert through_b.status_code == 404 and not MARKER.search(through_b.content)
