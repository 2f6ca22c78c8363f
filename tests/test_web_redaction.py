"""Redaction in the browser, in-process (TestClient): the page, its blurred stills and logged
reveals, boxes saved as a redacted copy through the same step and custody events as `docket
redact`, and who may: a viewer is refused, another case's item is not found."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import sign_in, take
from media import jpeg, sample, slideshow
from PIL import Image, ImageOps
from sqlalchemy import select

from docket.catalogue import schema
from docket.custody import log
from docket.locker import Locker


def _upright(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as opened:
        return np.asarray((ImageOps.exif_transpose(opened) or opened).convert("RGB"))


def _original(locker: Locker, sha256: str) -> bytes:
    with locker.store.open(sha256) as stream:
        return stream.read()


def _actions(locker: Locker, sha256: str) -> list[str]:
    with locker.engine.connect() as conn:
        return [e.action for e in log.events(conn, sha256)]


def _copies(locker: Locker, sha256: str) -> list[tuple[str, dict[str, Any]]]:
    """The item's redacted copies and the result each was recorded with, oldest first."""
    with locker.engine.connect() as conn:
        rows = conn.execute(
            select(schema.derivatives.c.sha256, schema.results.c.data)
            .join(schema.results, schema.results.c.event_seq == schema.derivatives.c.event_seq)
            .where(
                schema.derivatives.c.item_sha256 == sha256,
                schema.derivatives.c.kind == "redacted",
            )
            .order_by(schema.derivatives.c.id)
        ).all()
    return [(str(sha), json.loads(data)) for sha, data in rows]


def _taken(locker: Locker, path: Path) -> str:
    sha256 = take(locker, path, case="North").outcomes[0].sha256
    assert sha256 is not None
    return sha256


def _saved(client: Any, item: str, csrf: str, case: int, **form: Any) -> Any:
    return client.post(
        f"/items/{item}/redact?case={case}",
        data={"csrf": csrf, "action": "save", **form},
        follow_redirects=False,
    )


@pytest.mark.parametrize("backend", ["sqlite"])  # saved in-process; queued: test_jobs_redaction
def test_saved_boxes_make_a_copy_covered_inside_and_unchanged_outside(
    world: dict[str, Any], locker: Locker, cli: Any
) -> None:
    client, north, case = world["client"], world["north"], world["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    item_page = client.get(f"/items/{north}")
    assert f'href="/items/{north}/redact?case={case}"' in item_page.text
    page = client.get(f"/items/{north}/redact?case={case}")
    assert page.status_code == 200 and 'id="redact-canvas"' in page.text
    assert '<script src="/static/redact.js"' in page.text
    before = _actions(locker, north)
    done = _saved(
        client, north, csrf, case, x=["10", "200"], y=["20", "100"], w=["50", "40"],
        h=["40", "30"], method="fill",
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == f"/items/{north}?case={case}"
    web_events = _actions(locker, north)[len(before) :]
    [(copy, data)] = _copies(locker, north)
    assert data["regions"] == [[10, 20, 50, 40], [200, 100, 40, 30]]
    assert data["method"] == "fill" and data["stripped"] is True and data["faces"] is False
    original = _upright(_original(locker, north))
    redacted = _upright(_original(locker, copy))
    assert redacted.shape == original.shape
    inside = np.zeros(original.shape[:2], dtype=bool)
    inside[20:60, 10:60] = inside[100:130, 200:240] = True
    assert not redacted[inside].any()  # filled black
    assert original[inside].any()
    assert np.array_equal(redacted[~inside], original[~inside])
    listed = client.get(f"/items/{north}?case={case}")
    assert copy[:16] in listed.text and "Approve for publication" not in listed.text
    # The command line's redaction of the same item records the same kinds of event.
    middle = _actions(locker, north)
    ran = cli("redact", "--locker", locker.path, north[:12], "--region", "10,20,50,40")
    assert ran.code == 0, ran.err
    cli_events = _actions(locker, north)[len(middle) :]
    assert web_events == cli_events == ["redact.recorded"]
    assert sorted(_copies(locker, north)[-1][1]) == sorted(data)


@pytest.mark.parametrize("backend", ["sqlite"])  # saved in-process; queued: test_jobs_redaction
def test_the_keep_metadata_choice_is_recorded(world: dict[str, Any], locker: Locker) -> None:
    client, north, case = world["client"], world["north"], world["cases"]["North"]
    csrf = sign_in(client, "investigator-1")
    kept = _saved(client, north, csrf, case, x="5", y="5", w="30", h="30", keep_metadata="1")
    assert kept.status_code == 303
    answer = client.post(
        f"/api/items/{north}/redact",
        json={"regions": [[5, 5, 30, 30]], "method": "mosaic"},
        headers={"x-csrf-token": csrf},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["metadata"] == "stripped" and answer.json()["regions"] == 1
    recorded = _copies(locker, north)
    assert [data["stripped"] for _, data in recorded] == [False, True]
    assert recorded[-1][0] == answer.json()["derivative"]
    api = client.get(f"/api/items/{north}?case={case}").json()
    assert [c["stripped"] for c in api["copies"]] == [False, True]


def test_boxes_outside_the_picture_are_refused_and_nothing_is_made(
    world: dict[str, Any], locker: Locker
) -> None:
    client, north, case = world["client"], world["north"], world["cases"]["North"]
    csrf = sign_in(client, "owner-1")
    width = _upright(_original(locker, north)).shape[1]
    wide = _saved(client, north, csrf, case, x=str(width - 10), y="0", w="20", h="20")
    assert wide.status_code == 400
    detail = wide.json()["detail"]
    assert detail.startswith(f"item {north[:12]}: region {width - 10},0,20,20 reaches outside")
    assert "\n" not in detail
    preview = client.post(
        f"/items/{north}/redact?case={case}",
        data={"csrf": csrf, "action": "preview", "x": "0", "y": "-1", "w": "5", "h": "5"},
    )
    assert preview.status_code == 400 and "reaches outside" in preview.json()["detail"]
    negative = client.post(
        f"/api/items/{north}/redact",
        json={"regions": [[-5, 0, 10, 10]]},
        headers={"x-csrf-token": csrf},
    )
    assert negative.status_code == 400 and "reaches outside" in negative.json()["detail"]
    for bad in ([[0, 0, 0, 10]], [[1, 2, 3]], [["a", 0, 1, 1]]):
        refused = client.post(
            f"/api/items/{north}/redact", json={"regions": bad}, headers={"x-csrf-token": csrf}
        )
        assert refused.status_code == 400, bad
    nothing = client.post(
        f"/api/items/{north}/redact", json={"regions": []}, headers={"x-csrf-token": csrf}
    )
    assert nothing.status_code == 400 and "nothing to redact" in nothing.json()["detail"]
    assert _copies(locker, north) == []
    assert "redact.recorded" not in _actions(locker, north)


def test_a_viewer_is_refused_and_another_case_is_not_found(
    world: dict[str, Any], locker: Locker
) -> None:
    client, north, south = world["client"], world["north"], world["south"]
    csrf = sign_in(client, "viewer-1")
    assert client.get(f"/items/{north}").status_code == 200  # a viewer sees the item
    assert "/redact" not in client.get(f"/items/{north}").text
    box = {"x": "1", "y": "1", "w": "10", "h": "10"}
    for item, expected in ((north, 403), (south, 404)):
        assert client.get(f"/items/{item}/redact").status_code == expected
        assert client.get(f"/items/{item}/redact/still").status_code == expected
        assert client.get(f"/api/items/{item}/redact/faces").status_code == expected
        form = client.post(f"/items/{item}/redact", data={"csrf": csrf, "action": "save", **box})
        assert form.status_code == expected
        reveal = client.post(f"/items/{item}/redact/reveal", data={"csrf": csrf})
        assert reveal.status_code == expected
        api = client.post(
            f"/api/items/{item}/redact",
            json={"regions": [[1, 1, 10, 10]]},
            headers={"x-csrf-token": csrf},
        )
        assert api.status_code == expected
    # A reviewer of North guessing South's item (its SHA-256) learns nothing of it.
    client.cookies.clear()
    csrf = sign_in(client, "reviewer-1")
    for answer in (
        client.get(f"/items/{south}/redact"),
        client.get(f"/items/{south}/redact?case={world['cases']['South']}"),
        client.get(f"/items/{south}/redact/still"),
        client.post(f"/items/{south}/redact", data={"csrf": csrf, "action": "save", **box}),
        client.post(f"/items/{south}/redact/reveal", data={"csrf": csrf}),
        client.post(
            f"/api/items/{south}/redact",
            json={"regions": [[1, 1, 10, 10]]},
            headers={"x-csrf-token": csrf},
        ),
    ):
        assert answer.status_code == 404 and "South" not in answer.text
        assert answer.headers["content-type"].startswith("application/json")
    # Every POST needs the session's CSRF token.
    forged = client.post(f"/items/{north}/redact", data={"csrf": "forged", **box})
    assert forged.status_code == 403
    assert client.post(f"/api/items/{north}/redact", json={"regions": []}).status_code == 403
    assert client.post(f"/items/{north}/redact/reveal", data={}).status_code == 403
    assert _copies(locker, north) == _copies(locker, south) == []
    assert "item.revealed" not in _actions(locker, north) + _actions(locker, south)


def _plain_link(page: str, name: str) -> str:
    found = re.search(rf'<img id="{name}" src="([^"]+)"', page)
    assert found is not None
    return found.group(1).replace("&amp;", "&")


def _edges(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as shown:
        pixels = np.asarray(shown.convert("L"), dtype=np.int16)
    return int(np.abs(np.diff(pixels, axis=1)).max())


def test_stills_are_blurred_until_a_logged_reveal_whose_ticket_opens_that_still_alone(
    world: dict[str, Any], locker: Locker
) -> None:
    client, north, case = world["client"], world["north"], world["cases"]["North"]
    csrf = sign_in(client, "reviewer-1")
    page = client.get(f"/items/{north}/redact?case={case}")
    still = client.get(_plain_link(page.text, "redact-picture"))
    assert still.status_code == 200 and still.headers["content-type"] == "image/jpeg"
    assert "sandbox" in still.headers["content-security-policy"]
    with Image.open(io.BytesIO(still.content)) as blurred:
        assert max(blurred.size) <= 320
    assert _edges(still.content) < 24  # no edge survives the blur
    # the preview of the result is blurred too, and nothing was revealed yet
    previewed = client.post(
        f"/items/{north}/redact?case={case}",
        data={"csrf": csrf, "action": "preview", "x": "0", "y": "0", "w": "40", "h": "40"},
    )
    assert previewed.status_code == 200 and 'value="40"' in previewed.text
    preview = client.get(_plain_link(previewed.text, "redact-preview"))
    assert preview.headers["content-type"] == "image/jpeg" and _edges(preview.content) < 24
    assert "item.revealed" not in _actions(locker, north)
    # a made-up ticket, or the ticket of the original's reveal, opens nothing here
    forged = client.get(f"/items/{north}/redact/still", params={"ticket": "1.ab"})
    assert forged.status_code == 403
    original = client.post(f"/items/{north}/reveal", data={"csrf": csrf})
    other = re.search(r"/original\?ticket=([^\"]+)\"", original.text)
    assert other is not None
    stolen = client.get(f"/items/{north}/redact/still", params={"ticket": other.group(1)})
    assert stolen.status_code == 403
    revealed = client.post(f"/items/{north}/redact/reveal?case={case}", data={"csrf": csrf})
    assert revealed.status_code == 200 and "This reveal is recorded" in revealed.text
    with locker.engine.connect() as conn:
        last = [e for e in log.events(conn, north) if e.action == "item.revealed"][-1]
    assert last.details["shown"] == "picture, for redaction (web)"
    assert last.details["case"] == "North" and last.actor == "reviewer-1"
    plain = client.get(_plain_link(revealed.text, "redact-picture"))
    assert plain.status_code == 200 and plain.headers["content-type"] == "image/png"
    assert _edges(plain.content) > 100
    with Image.open(io.BytesIO(plain.content)) as shown:
        assert np.array_equal(
            np.asarray(shown.convert("RGB")), _upright(_original(locker, north))
        )  # small enough to be shown whole
    # another person cannot use this person's ticket
    ticket = re.search(r'name="ticket" value="([^"]+)"', revealed.text)
    assert ticket is not None
    client.cookies.clear()
    sign_in(client, "owner-1")
    borrowed = client.get(f"/items/{north}/redact/still", params={"ticket": ticket.group(1)})
    assert borrowed.status_code == 403


@pytest.mark.parametrize("backend", ["sqlite"])  # saved in-process; queued: test_jobs_redaction
def test_faces_are_proposed_and_an_accepted_face_is_covered(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    client, case = world["client"], world["cases"]["North"]
    picture = tmp_path / "astronaut.jpg"
    picture.write_bytes(jpeg(sample("astronaut")))
    item = _taken(locker, picture)
    csrf = sign_in(client, "reviewer-1")
    found = client.get(f"/api/items/{item}/redact/faces").json()
    assert (found["width"], found["height"]) == (512, 512)
    [face] = found["faces"]
    page = client.get(f"/items/{item}/redact")
    value = ",".join(map(str, face))
    assert f'<input type="checkbox" name="face" value="{value}" checked>' in page.text
    rejected = _saved(client, item, csrf, case)  # the proposal unticked, nothing drawn
    assert rejected.status_code == 400 and "nothing to redact" in rejected.json()["detail"]
    accepted = _saved(client, item, csrf, case, face=value, method="mosaic")
    assert accepted.status_code == 303
    [(copy, data)] = _copies(locker, item)
    assert data["regions"] == [face]
    x, y, w, h = face
    original, redacted = _upright(_original(locker, item)), _upright(_original(locker, copy))
    assert not np.array_equal(redacted[y : y + h, x : x + w], original[y : y + h, x : x + w])
    outside = np.ones(original.shape[:2], dtype=bool)
    outside[y : y + h, x : x + w] = False
    assert np.array_equal(redacted[outside], original[outside])


@pytest.mark.parametrize("backend", ["sqlite"])  # saved in-process; queued: test_jobs_redaction
def test_a_video_frame_is_chosen_by_time_and_the_range_is_redacted(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    client = world["client"]
    video = slideshow(tmp_path, ["coffee", "astronaut"], seconds=1.0)
    item = _taken(locker, video)
    csrf = sign_in(client, "investigator-1")
    late = client.get(f"/items/{item}/redact?at=1.5")
    assert late.status_code == 200 and 'name="at"' in late.text and 'value="1.500"' in late.text
    assert 'name="from"' in late.text and 'name="every_frame"' in late.text
    assert 'name="face"' in late.text  # the astronaut's face, on the frame at 1.5 s
    early = client.get(f"/api/items/{item}/redact/faces", params={"at": 0.2}).json()
    assert early["faces"] == [] and early["at"] == 0.2 and early["duration"] > 1.9
    frame = client.get(f"/items/{item}/redact/still", params={"at": "1.5"})
    assert frame.status_code == 200 and _edges(frame.content) < 24
    revealed = client.post(f"/items/{item}/redact/reveal", data={"csrf": csrf, "at": "1.5"})
    with locker.engine.connect() as conn:
        last = [e for e in log.events(conn, item) if e.action == "item.revealed"][-1]
    assert last.details["shown"] == "video frame at 1.500 s, for redaction (web)"
    plain = client.get(_plain_link(revealed.text, "redact-picture"))
    assert plain.headers["content-type"] == "image/png" and _edges(plain.content) > 100
    ticket = re.search(r'name="ticket" value="([^"]+)"', revealed.text)
    assert ticket is not None  # bound to that frame: another frame needs its own reveal
    elsewhere = {"at": "0.2", "ticket": ticket.group(1)}
    assert client.get(f"/items/{item}/redact/still", params=elsewhere).status_code == 403
    answer = client.post(
        f"/api/items/{item}/redact",
        json={"regions": [[0, 0, 100, 80]], "from": 1.0, "to": 1.5, "method": "fill"},
        headers={"x-csrf-token": csrf},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["frames"] == 8  # 15 fps: frames 15 to 22
    [(_, data)] = _copies(locker, item)
    assert (data["from"], data["to"]) == (1.0, 1.5)


def test_only_pictures_and_videos_are_redacted(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    client = world["client"]
    text = tmp_path / "notes.txt"
    text.write_text("an invented note\n")
    item = _taken(locker, text)
    sign_in(client, "reviewer-1")
    refused = client.get(f"/items/{item}/redact")
    assert refused.status_code == 400 and "only pictures and videos" in refused.json()["detail"]
