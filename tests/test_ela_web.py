"""The error-level picture on the item page, under the preview's rules: blurred for an item
not flagged clear, the plain picture only after a reveal that is logged first, fed by a
ticket for that picture alone; plain without a reveal once the case flagged the item clear."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
from conftest import sign_in, take
from PIL import Image

from docket.aids.results import error_levels_blob
from docket.custody import log
from docket.locker import Locker


def _with_error_levels(world: dict[str, Any], locker: Locker, cli: Any) -> tuple[str, bytes]:
    """Run the on-demand aids on the North item; its error-level picture's name and bytes."""
    north = world["north"]
    ran = cli("aids", "--locker", locker.path, north[:12])
    assert ran.code == 0, ran.err
    with locker.engine.connect() as conn:
        blob = error_levels_blob(conn, north)
    assert blob is not None
    with locker.store.open(blob) as stream:
        return blob, stream.read()


def _reveals(locker: Locker, item: str) -> list[dict[str, Any]]:
    with locker.engine.connect() as conn:
        return [dict(e.details) for e in log.events(conn, item) if e.action == "item.revealed"]


def test_the_picture_is_blurred_until_a_logged_reveal_and_its_ticket_opens_it_alone(
    world: dict[str, Any], locker: Locker, cli: Any
) -> None:
    north, client = world["north"], world["client"]
    blob, plain = _with_error_levels(world, locker, cli)
    csrf = sign_in(client, "reviewer-1")
    page = client.get(f"/items/{north}")
    assert "<h3>Error-level picture</h3>" in page.text
    scoped = f"?case={world['cases']['North']}"
    assert f'alt="error-level picture, blurred" src="/items/{north}/error-levels{scoped}"' in (
        page.text
    )
    assert f'action="/items/{north}/error-levels/reveal{scoped}"' in page.text
    shown = client.get(f"/items/{north}/error-levels")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["cache-control"] == "no-store"
    assert shown.content != plain
    with Image.open(io.BytesIO(shown.content)) as blurred:
        pixels = np.asarray(blurred.convert("L"), dtype=np.int16)
    assert max(pixels.shape) <= 320
    assert np.abs(np.diff(pixels, axis=1)).max() < 24  # no edge survives the blur
    with Image.open(io.BytesIO(plain)) as levels:
        detail = np.asarray(levels.convert("L"), dtype=np.int16)
    assert np.abs(np.diff(detail, axis=1)).max() > 100  # the plain picture has edges
    assert _reveals(locker, north) == []  # looking at the page revealed nothing
    # a made-up ticket, or one for the original, does not open the picture
    assert client.get(f"/items/{north}/error-levels", params={"ticket": "1.ab"}).status_code == 403
    original = client.post(f"/items/{north}/reveal", data={"csrf": csrf})
    ticket = re.search(r"/original\?ticket=([^\"]+)\"", original.text)
    assert ticket is not None
    stolen = client.get(f"/items/{north}/error-levels", params={"ticket": ticket.group(1)})
    assert stolen.status_code == 403
    revealed = client.post(f"/items/{north}/error-levels/reveal", data={"csrf": csrf})
    assert revealed.status_code == 200 and revealed.headers["cache-control"] == "no-store"
    last = _reveals(locker, north)[-1]
    assert last["shown"] == "error-level picture (web)" and last["case"] == "North"
    assert "Content warning: this picture is flagged unreviewed" in revealed.text
    source = re.search(r'<img src="([^"]+)" alt="the original picture', revealed.text)
    assert source is not None and "/error-levels?case=" in source.group(1)
    opened = client.get(source.group(1).replace("&amp;", "&"))
    assert opened.status_code == 200 and opened.content == plain
    assert opened.headers["content-type"] == "image/png"
    assert "sandbox" in opened.headers["content-security-policy"]
    # the picture's ticket opens neither the original nor works for someone else
    ela_ticket = source.group(1).split("ticket=")[1]
    assert client.get(f"/items/{north}/original", params={"ticket": ela_ticket}).status_code == 403
    sign_in(client, "investigator-1")
    again = client.get(f"/items/{north}/error-levels", params={"ticket": ela_ticket})
    assert again.status_code == 403
    assert blob != north


def test_programs_get_the_picture_with_a_reveal_each(
    world: dict[str, Any], locker: Locker, cli: Any
) -> None:
    north, client = world["north"], world["client"]
    _, plain = _with_error_levels(world, locker, cli)
    csrf = sign_in(client, "investigator-1")
    assert client.post(f"/api/items/{north}/error-levels/reveal").status_code == 403  # no token
    assert _reveals(locker, north) == []
    sent = client.post(f"/api/items/{north}/error-levels/reveal", headers={"x-csrf-token": csrf})
    assert sent.status_code == 200 and sent.content == plain
    assert [r["shown"] for r in _reveals(locker, north)] == ["error-level picture (web)"]


def test_those_who_may_not_reveal_or_see_get_no_plain_picture_and_log_nothing(
    world: dict[str, Any], locker: Locker, cli: Any
) -> None:
    north, client = world["north"], world["client"]
    _with_error_levels(world, locker, cli)
    csrf = sign_in(client, "viewer-1")
    page = client.get(f"/items/{north}")
    assert "<h3>Error-level picture</h3>" in page.text
    assert "error-levels/reveal" not in page.text  # no button for a viewer
    denied = client.post(f"/items/{north}/error-levels/reveal", data={"csrf": csrf})
    assert denied.status_code == 403
    csrf = sign_in(client, "outsider-1")
    assert client.get(f"/items/{north}/error-levels").status_code == 404
    refused = client.post(f"/items/{north}/error-levels/reveal", data={"csrf": csrf})
    assert refused.status_code == 404
    assert _reveals(locker, north) == []


def test_an_item_flagged_clear_shows_the_plain_picture_as_its_preview_is(
    world: dict[str, Any], locker: Locker, cli: Any
) -> None:
    north, client = world["north"], world["client"]
    _, plain = _with_error_levels(world, locker, cli)
    csrf = sign_in(client, "reviewer-1")
    assert client.post(f"/items/{north}/flag", data={"flag": "clear", "csrf": csrf}).is_success
    page = client.get(f"/items/{north}")
    scoped = f"?case={world['cases']['North']}"
    assert f'alt="error-level picture" src="/items/{north}/error-levels{scoped}"' in page.text
    assert "error-levels/reveal" not in page.text
    shown = client.get(f"/items/{north}/error-levels")
    assert shown.status_code == 200 and shown.content == plain
    assert client.post(f"/items/{north}/flag", data={"flag": "graphic", "csrf": csrf}).is_success
    assert client.get(f"/items/{north}/error-levels").content != plain
    assert _reveals(locker, north) == []


def test_no_picture_before_the_aids_ran(world: dict[str, Any]) -> None:
    north, client = world["north"], world["client"]
    sign_in(client, "reviewer-1")
    assert "Error-level picture" not in client.get(f"/items/{north}").text
    missing = client.get(f"/items/{north}/error-levels")
    assert missing.status_code == 404 and "docket aids" in missing.text


def test_a_ticket_opens_the_picture_of_the_item_revealed_not_of_another_with_the_same_one(
    world: dict[str, Any], locker: Locker, cli: Any, tmp_path: Path
) -> None:
    north, client = world["north"], world["client"]
    _with_error_levels(world, locker, cli)
    original = (tmp_path / "north.jpg").read_bytes()
    note = b"another arrival"
    twin_path = tmp_path / "twin.jpg"  # the same pixels, a comment more: another item
    twin_path.write_bytes(
        original[:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2) + note + original[2:]
    )
    twin = take(locker, twin_path, case="North").outcomes[0].sha256
    assert twin is not None and twin != north
    assert cli("aids", "--locker", locker.path, twin[:12]).code == 0
    with locker.engine.connect() as conn:
        assert error_levels_blob(conn, twin) == error_levels_blob(conn, north)  # one picture
    csrf = sign_in(client, "reviewer-1")
    revealed = client.post(f"/items/{north}/error-levels/reveal", data={"csrf": csrf})
    ticket = re.search(r"ticket=([0-9]+\.[0-9a-f]+)", revealed.text)
    assert ticket is not None
    mine = client.get(f"/items/{north}/error-levels", params={"ticket": ticket.group(1)})
    assert mine.status_code == 200 and mine.headers["content-type"] == "image/png"
    other = client.get(f"/items/{twin}/error-levels", params={"ticket": ticket.group(1)})
    assert other.status_code == 403
    assert _reveals(locker, twin) == []
