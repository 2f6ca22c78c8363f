"""The web app in-process (FastAPI's TestClient): sign-in, CSRF, and access for
every role on every route. (Driving it in a real browser is left for the web-app issue.)"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from conftest import ROLES, sign_in, take
from exporting import package_of
from media import jpeg, sample, slideshow

from docket import accounts
from docket.custody import log
from docket.locker import Locker


@pytest.mark.parametrize("backend", ["sqlite"])  # the redirect to sign-in: no catalogue work
def test_pages_need_a_session(backend: str, world: dict[str, Any]) -> None:
    client = world["client"]
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/api/cases").status_code == 401


def test_sign_in_and_sign_out(world: dict[str, Any]) -> None:
    client = world["client"]
    csrf = sign_in(client, "ada")
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/api/cases").status_code == 401
    wrong = client.post("/login", data={"name": "viewer-1", "password": "wrong"})
    assert wrong.status_code == 401 and "wrong name or password" in wrong.text
    # (Repeated failures are slowed, not locked: test_web_security.py.)


@pytest.mark.parametrize("backend", ["sqlite"])  # the CSRF check: no catalogue work
def test_forms_need_the_session_csrf_token(backend: str, world: dict[str, Any]) -> None:
    client = world["client"]
    csrf = sign_in(client, "owner-1")
    item = world["north"]
    assert client.post(f"/items/{item}/reveal", data={"csrf": "forged"}).status_code == 403
    assert client.post(f"/items/{item}/reveal", data={"csrf": csrf}).status_code == 200


@pytest.mark.parametrize("role", [*ROLES, "outsider"])
def test_every_role_on_every_route(world: dict[str, Any], role: str) -> None:
    client, north, south = world["client"], world["north"], world["south"]
    csrf = sign_in(client, f"{role}-1")
    member = role != "outsider"
    seen = {c["name"] for c in client.get("/api/cases").json()}
    assert seen == ({"North"} if member else set())
    expected_view = 200 if member else 404
    assert client.get(f"/cases/{world['cases']['North']}").status_code == expected_view
    assert client.get(f"/api/cases/{world['cases']['North']}/items").status_code == expected_view
    assert client.get(f"/items/{north}").status_code == expected_view
    assert client.get(f"/items/{north}/safe-preview").status_code == expected_view
    assert client.get(f"/api/items/{north}").status_code == expected_view
    # The other case and its item do not exist as far as this person can tell.
    assert client.get(f"/cases/{world['cases']['South']}").status_code == 404
    assert client.get(f"/items/{south}").status_code == 404
    assert client.post(f"/items/{south}/reveal", data={"csrf": csrf}).status_code == 404
    revealed = client.post(f"/items/{north}/reveal", data={"csrf": csrf})
    assert (
        revealed.status_code
        == {"owner": 200, "investigator": 200, "reviewer": 200, "viewer": 403, "outsider": 404}[
            role
        ]
    )
    assert client.post("/cases", data={"name": "New", "csrf": csrf}).status_code == 403


def test_reveal_is_a_custody_event_and_serves_the_original(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    client, north = world["client"], world["north"]
    csrf = sign_in(client, "reviewer-1")
    page = client.get(f"/items/{north}")
    assert "Reveal the original" in page.text and "blurred preview" in page.text
    answer = client.post(f"/items/{north}/reveal", data={"csrf": csrf})
    assert answer.headers["cache-control"] == "no-store"
    with locker.engine.connect() as conn, conn.begin():
        last = list(log.events(conn, north))[-1]
    assert (last.action, last.actor) == ("item.revealed", "reviewer-1")
    # the reveal page: the item's header, the content warning, a way back, the picture
    assert "<h1>Revealed: <bdi>north.jpg</bdi></h1>" in answer.text
    assert "Content warning: this picture is flagged unreviewed" in answer.text
    assert f'<a href="/items/{north}?case={world["cases"]["North"]}">Back to the item</a>' in (
        answer.text
    )
    source = re.search(r'<img src="([^"]+)" alt="the original picture', answer.text)
    assert source is not None
    shown = client.get(source.group(1).replace("&amp;", "&"))
    original = (tmp_path / "north.jpg").read_bytes()
    assert shown.status_code == 200 and shown.content == original
    # programs get the bytes themselves, a reveal each
    api = client.post(f"/api/items/{north}/reveal", headers={"x-csrf-token": csrf})
    assert api.content == original
    with locker.engine.connect() as conn:
        reveals = [e for e in log.events(conn, north) if e.action == "item.revealed"]
    assert len(reveals) == 2
    trail = client.get(f"/items/{north}").text
    assert "item.revealed" in trail


def test_api_token_and_inclusion_proof(world: dict[str, Any], locker: Locker) -> None:
    with locker.engine.connect() as conn, conn.begin():
        token = accounts.issue_token(conn, world["users"]["investigator"])
    client = world["client"]
    headers = {"Authorization": f"Bearer {token}"}
    item = client.get(f"/api/items/{world['north']}", headers=headers).json()
    seq = item["events"][0]["seq"]
    proof = client.get(f"/api/events/{seq}/proof", headers=headers).json()
    assert proof["event"] == seq and proof["checkpoint"].startswith("docket.locker/")
    assert client.get("/api/cases", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post(f"/api/items/{world['north']}/reveal", headers=headers).status_code == 200


def test_upload_goes_through_ingest_into_the_case(world: dict[str, Any], locker: Locker) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    photo_bytes = jpeg(sample("rocket"))
    answer = client.post(
        f"/cases/{north_id}/upload",
        data={"csrf": csrf},
        files=[("files", ("rocket.jpg", photo_bytes, "image/jpeg"))],
    )
    assert answer.status_code == 200, answer.text
    [outcome] = answer.json()["outcomes"]
    assert outcome["status"] == "new"
    assert locker.store.path(outcome["sha256"]).read_bytes() == photo_bytes
    listed = client.get(f"/api/cases/{north_id}/items").json()
    assert outcome["sha256"] in {row["sha256"] for row in listed}
    item = client.get(f"/api/items/{outcome['sha256']}").json()
    [arrival] = item["acquisitions"]
    assert (arrival["collector"], arrival["method"]) == ("investigator-1", "upload")
    assert arrival["original_path"] == "rocket.jpg"  # not the server's scratch folder
    twice = client.post(
        f"/cases/{north_id}/upload",
        data={"csrf": csrf},
        files=[
            ("files", ("statement.txt", b"first", "text/plain")),
            ("files", ("statement.txt", b"second", "text/plain")),
            ("files", ("..", b"dots", "text/plain")),
        ],
    ).json()["outcomes"]
    names = sorted(o["name"] for o in twice)
    assert names[-2:] == ["statement.txt", "upload-2"] and names[0].endswith("/statement.txt")
    assert all(o["status"] == "new" for o in twice)
    viewer = world["client"]
    viewer_csrf = sign_in(viewer, "viewer-1")
    refused = viewer.post(
        f"/cases/{north_id}/upload",
        data={"csrf": viewer_csrf},
        files=[("files", ("x.jpg", b"x", "image/jpeg"))],
    )
    assert refused.status_code == 403


def test_export_from_the_browser_downloads_a_package_that_checks(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    from docket.disclose.check import check

    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "owner-1")
    answer = client.post(
        f"/cases/{north_id}/export",
        data={"csrf": csrf, "profile": "court", "recipient": "Tribunal"},
    )
    package = tmp_path / "download.zip"
    package.write_bytes(package_of(client, locker, answer))
    assert check(package).ok
    csrf = sign_in(client, "reviewer-1")
    assert (
        client.post(
            f"/cases/{north_id}/export", data={"csrf": csrf, "profile": "court"}
        ).status_code
        == 403
    )


def test_only_owners_add_members(world: dict[str, Any]) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    sign_in(client, "investigator-1")
    body = {"user": "outsider-1", "role": "viewer"}
    token_less = client.post(f"/api/cases/{north_id}/members", json=body)
    assert token_less.status_code == 403  # no CSRF header for a cookie session
    csrf = sign_in(client, "owner-1")
    added = client.post(f"/api/cases/{north_id}/members", json=body, headers={"x-csrf-token": csrf})
    assert added.status_code == 200
    sign_in(client, "outsider-1")
    assert {c["name"] for c in client.get("/api/cases").json()} == {"North"}


def test_case_page_offers_upload_and_export_only_to_those_who_may(world: dict[str, Any]) -> None:
    client, north_id = world["client"], world["cases"]["North"]
    sign_in(client, "investigator-1")
    page = client.get(f"/cases/{north_id}").text
    assert f'action="/cases/{north_id}/upload"' in page
    assert f'action="/cases/{north_id}/export"' in page
    sign_in(client, "viewer-1")
    page = client.get(f"/cases/{north_id}").text
    assert "/upload" not in page and "/export" not in page


def test_tags_annotations_and_search(world: dict[str, Any], locker: Locker) -> None:
    from docket.verify import verify

    client, north, north_id = world["client"], world["north"], world["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    assert (
        client.post(
            f"/items/{north}/tags", data={"tag": "checkpoint", "csrf": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    assert (
        client.post(
            f"/items/{north}/annotations",
            data={"text": "uniformed man at left", "region": "10,20,100,80", "csrf": csrf},
            follow_redirects=False,
        ).status_code
        == 303
    )
    bad = client.post(
        f"/items/{north}/annotations", data={"text": "x", "region": "10,20,-1,80", "csrf": csrf}
    )
    assert bad.status_code == 400 and "positive width" in bad.json()["detail"]
    item = client.get(f"/api/items/{north}").json()
    assert item["tags"] == ["checkpoint"]
    assert item["annotations"][0]["region"] == "10,20,100,80"
    page = client.get(f"/items/{north}").text
    assert "uniformed man at left" in page and "checkpoint" in page
    for query, expected in [
        ("checkpoint", [north]),
        ("UNIFORMED", [north]),
        ("north.jpg", [north]),
        ("nothing like this", []),
    ]:
        found = client.get(f"/api/cases/{north_id}/items", params={"q": query}).json()
        assert [row["sha256"] for row in found] == expected, query
    assert client.get(f"/api/cases/{north_id}/items", params={"gps": "true"}).json() == []
    assert len(client.get(f"/api/cases/{north_id}/items", params={"type": "image/"}).json()) == 1
    csrf = sign_in(client, "viewer-1")
    assert client.post(f"/items/{north}/tags", data={"tag": "x", "csrf": csrf}).status_code == 403
    assert verify(locker, quick=True).ok


def _a_page_and_more(world: dict[str, Any], locker: Locker, tmp_path: Path) -> tuple[Any, int]:
    """Case North holding a page of notes and six items more; a viewer's client, and its id."""
    from docket.web import case_routes as web

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(web.PAGE_SIZE + 5):
        (folder / f"note{i:03}.txt").write_bytes(f"statement {i}".encode())
    take(locker, folder, case="North", defer_analysis=True)
    sign_in(world["client"], "viewer-1")
    return world["client"], world["cases"]["North"]


def test_grid_is_paged(world: dict[str, Any], locker: Locker, tmp_path: Path) -> None:
    from docket.web import case_routes as web

    client, north_id = _a_page_and_more(world, locker, tmp_path)
    first = client.get(f"/api/cases/{north_id}/items").json()
    second = client.get(f"/api/cases/{north_id}/items", params={"page": 2}).json()
    assert len(first) == web.PAGE_SIZE and len(second) == 6  # 105 notes + the photo
    assert not {r["sha256"] for r in first} & {r["sha256"] for r in second}
    # The page's "next" goes by key (the page's last item), so a deep page costs what the
    # first does; the number only labels it.
    link = re.search(r'href="\?([^"]*)">next<', client.get(f"/cases/{north_id}").text)
    assert link is not None
    query = dict(parse_qsl(html.unescape(link.group(1))))
    assert query == {"page": "2", "after": first[-1]["sha256"]}
    assert client.get(f"/api/cases/{north_id}/items", params=query).json() == second
    assert "Page 2" in client.get(f"/cases/{north_id}", params=query).text


def test_deep_pages_by_number_are_refused_for_pages_by_key(
    world: dict[str, Any], locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docket.web import case_routes as web

    monkeypatch.setattr(web, "DEEPEST_BY_NUMBER", 1)
    client, north_id = _a_page_and_more(world, locker, tmp_path)
    grid = f"/api/cases/{north_id}/items"
    refused = client.get(grid, params={"page": 2})
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("page 2: pages past 1 are reached by key")
    first = client.get(grid).json()
    second = client.get(grid, params={"page": 2, "after": first[-1]["sha256"]}).json()
    assert len(second) == 6
    # Back from a page reached by key: "previous" goes by key too (the page's first item)
    page = client.get(f"/cases/{north_id}", params={"page": 2, "after": first[-1]["sha256"]})
    link = re.search(r'href="\?([^"]*)">previous<', page.text)
    assert link is not None
    query = dict(parse_qsl(html.unescape(link.group(1))))
    assert query == {"page": "1", "before": second[0]["sha256"]}
    assert client.get(grid, params=query).json() == first
    # A short page back by key is the list's start: it still leads on, and the list's own
    # links (export every page) carry no key
    short = client.get(f"/cases/{north_id}", params={"page": 1, "before": first[5]["sha256"]})
    link = re.search(r'href="\?([^"]*)">next<', short.text)
    assert link is not None
    assert dict(parse_qsl(html.unescape(link.group(1)))) == {
        "page": "2",
        "after": first[4]["sha256"],
    }
    exports = re.findall(r'items\.csv\?([^"]*)"', short.text)
    assert exports == [""]
    filtered = {"page": 2, "type": "application/"}  # the notes (no analysis yet)
    assert client.get(grid, params=filtered).status_code == 400  # filtered pages alike
    notes = client.get(grid, params={"type": "application/"}).json()
    after = {**filtered, "after": notes[-1]["sha256"]}
    assert len(client.get(grid, params=after).json()) == 5
    back = {"type": "application/", "before": second[0]["sha256"]}
    assert client.get(grid, params=back).json()[-1] == first[-1]


@pytest.mark.parametrize("backend", ["sqlite"])  # the player and its HMAC ticket
def test_a_revealed_video_plays_muted_for_its_revealer_only(
    backend: str, world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    video = slideshow(tmp_path / "video", ["astronaut", "coffee"], seconds=1.0)
    sha = take(locker, video, case="North").outcomes[0].sha256
    client = world["client"]
    csrf = sign_in(client, "reviewer-1")
    page = client.post(f"/items/{sha}/reveal", data={"csrf": csrf})
    assert page.status_code == 200 and "<video controls muted" in page.text
    # The item's header, the content warning and a way back to the item in its case.
    north_id = world["cases"]["North"]
    assert f"<h1>Revealed: <bdi>{video.name}</bdi></h1>" in page.text
    assert "Content warning: this video is flagged unreviewed" in page.text
    assert f'<a href="/items/{sha}?case={north_id}">Back to the item</a>' in page.text
    source = re.search(r'<source src="([^"]+)"', page.text)
    assert source is not None
    url = source.group(1).replace("&amp;", "&")
    played = client.get(url, headers={"Range": "bytes=0-99"})
    assert played.status_code == 206 and played.content == video.read_bytes()[:100]
    with locker.engine.connect() as conn:
        last = list(log.events(conn, sha))[-1]
    assert last.action == "item.revealed" and "muted" in last.details["shown"]
    assert client.get(url[:-4] + "0000").status_code == 403  # a forged ticket
    assert client.get(f"/items/{sha}/original").status_code == 403  # no ticket
    sign_in(client, "investigator-1")  # someone else, with the first person's ticket
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("backend", ["sqlite"])  # the page and its HMAC ticket
def test_a_keyframe_reveal_page_shows_that_keyframe_only(
    backend: str, world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    video = slideshow(tmp_path / "video", ["astronaut", "coffee"], seconds=1.0)
    sha = take(locker, video, case="North").outcomes[0].sha256
    client, north_id = world["client"], world["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    page = client.post(f"/items/{sha}/keyframes/0/reveal", data={"csrf": csrf})
    assert page.status_code == 200
    assert f"<h1>Revealed: <bdi>{video.name}, keyframe at " in page.text
    assert "Content warning: this picture is flagged unreviewed" in page.text
    assert f'<a href="/items/{sha}?case={north_id}">Back to the item</a>' in page.text
    with locker.engine.connect() as conn:
        last = list(log.events(conn, sha))[-1]
    assert last.action == "item.revealed" and last.details["shown"].startswith("keyframe at")
    found = re.search(r'<img src="/items/[0-9a-f]+/keyframes/0\?ticket=([^"]+)"', page.text)
    assert found is not None
    ticket = found.group(1)
    frame = client.get(f"/items/{sha}/keyframes/0", params={"ticket": ticket})
    assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8"  # a JPEG
    # the keyframe's ticket opens neither the original nor another keyframe
    assert client.get(f"/items/{sha}/original", params={"ticket": ticket}).status_code == 403
    other = client.get(f"/items/{sha}/keyframes/1", params={"ticket": ticket})
    assert other.status_code in (403, 404)
    assert client.get(f"/items/{sha}/keyframes/0").status_code == 403  # no ticket
    sign_in(client, "investigator-1")  # someone else, with the first person's ticket
    assert client.get(f"/items/{sha}/keyframes/0", params={"ticket": ticket}).status_code == 403
