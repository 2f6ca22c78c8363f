"""`docket show ITEM`: the aids' signals one line each, and a web capture's parts together
(a real capture of the local test site in Debian's Chromium; tests/web_site.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aids_evidence import jpeg, saved_twice, scene
from conftest import BACKENDS, fresh_database, take
from web_site import Site, serve

from docket.capture.run import Capture, CaptureOptions, capture
from docket.locker import Locker

HARBOUR = CaptureOptions(collector="tester", case="Harbour", allow_private_network=True, timeout=20)


@dataclass(frozen=True)
class Captured:
    locker: Locker
    site: Site
    done: Capture


@pytest.fixture(scope="module", params=BACKENDS)
def harbour(
    request: pytest.FixtureRequest, made: Site, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Captured]:
    """The gallery captured once into case Harbour of a locker of its own on each backend,
    shared by the tests below that show it (a capture drives Chromium and analyses every
    part: too slow to repeat per test). They only read it, or add to case Lighthouse, which
    no other test here looks at."""
    folder = tmp_path_factory.mktemp("harbour")
    with (
        fresh_database(str(request.param)) as url,
        Locker.create(folder / "locker", actor="tester", database_url=url) as locker,
        serve(made.fresh()) as site,
    ):
        yield Captured(locker, site, capture(locker, site.url("/gallery.html"), HARBOUR))


def test_show_lists_each_aid_signal_on_a_line(locker: Locker, tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "twice.jpg"
    path.write_bytes(saved_twice(scene(21), 55, 90))
    take(locker, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    text = cli("show", "--locker", locker.path, sha[:12]).out
    lines = [line for line in text.splitlines() if line.startswith("aid ")]
    assert "aid          picture-forensics: not run (docket aids runs it)" in lines
    assert any(
        line.startswith("aid          picture-signals: no signal, jpeg-quantisation:")
        or line.startswith("aid          picture-signals: for review, jpeg-quantisation:")
        for line in lines
    ), lines
    assert any(
        line.startswith("aid          metadata-signals: signal, editing-software: ")
        for line in lines
    ), lines  # no camera metadata at all: Pillow wrote it
    assert cli("aids", "--locker", locker.path, sha[:12]).code == 0
    again = cli("show", "--locker", locker.path, sha[:12]).out
    assert "aid          picture-forensics: signal, double-compression: saved before" in again
    shown = cli("show", "--locker", locker.path, sha[:12], "--json").json()
    steps = {r["step"]: r for r in shown["verification"]}
    assert steps["picture-forensics"]["status"] == "ok"
    assert steps["metadata-signals"]["tools"]["exiftool"]
    assert shown["captures"] == []


def test_a_failed_aid_is_shown_with_its_reason(locker: Locker, tmp_path: Path, cli: Any) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(jpeg(scene(22), 90)[:300])
    take(locker, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    text = cli("show", "--locker", locker.path, sha[:12]).out
    assert "aid          picture-signals: FAILED: " in text
    assert "cannot decode the picture" in text


def test_a_captured_video_is_shown_with_every_part_of_its_capture(
    harbour: Captured, cli: Any
) -> None:
    locker, site, done = harbour.locker, harbour.site, harbour.done
    video = next(p for p in done.parts if p.kind == "video")
    shown = cli("show", "--locker", locker.path, video.sha256[:12], "--json").json()
    [captured] = shown["captures"]
    assert captured["wacz"] == done.wacz.sha256
    assert captured["url_asked"] == site.url("/gallery.html")
    parts = {(p["kind"], p["sha256"], p["url"]) for p in captured["parts"]}
    page = site.url("/gallery.html")
    expected = {
        (p.kind, p.sha256, p.name if p.kind in ("image", "video") else page) for p in done.parts
    }
    assert parts == expected
    assert {p["collected_at"] for p in captured["parts"]} == {done.captured_at}
    kinds = [p["kind"] for p in captured["parts"]]
    assert kinds[:3] == ["wacz", "screenshot", "print"] and "video" in kinds

    text = cli("show", "--locker", locker.path, video.sha256[:12]).out
    assert f"capture      of {page}, parts:" in text
    assert (
        f"  video      {video.sha256[:12]} video/mp4 {site.url('/clip.mp4')} "
        f"at {done.captured_at}  (this item)"
    ) in text
    assert f"  wacz       {done.wacz.sha256[:12]} application/zip {page}" in text
    for part in done.parts:  # the WACZ and every part, from any part
        assert part.sha256[:12] in text
    from_wacz = cli("show", "--locker", locker.path, done.wacz.sha256[:12], "--json").json()
    assert from_wacz["captures"] == shown["captures"]


def test_another_case_holding_a_captured_picture_learns_nothing_of_the_capture(
    harbour: Captured, tmp_path: Path, cli: Any
) -> None:
    locker, site, done = harbour.locker, harbour.site, harbour.done
    picture = next(p for p in done.parts if p.name == site.url("/img/astronaut.jpg"))
    copy = tmp_path / "astronaut.jpg"
    copy.write_bytes(site.images["astronaut.jpg"])
    take(locker, copy, case="Lighthouse")
    other = cli("show", "--locker", locker.path, picture.sha256[:12], "--case", "Lighthouse")
    assert other.code == 0, other.err
    assert not any(line.startswith("capture ") for line in other.out.splitlines())
    assert done.wacz.sha256[:12] not in other.out and "(capture)" not in other.out
    assert "127.0.0.1" not in other.out
    own = cli("show", "--locker", locker.path, picture.sha256[:12], "--case", "Harbour").out
    assert f"capture      of {site.url('/gallery.html')}, parts:" in own


def test_a_picture_captured_twice_is_shown_in_both_captures_oldest_first(
    locker: Locker, site: Site, cli: Any
) -> None:
    first = capture(locker, site.url("/gallery.html"), HARBOUR)
    second = capture(locker, site.url("/gallery.html"), HARBOUR)
    picture = next(p for p in first.parts if p.name == site.url("/img/astronaut.jpg"))
    shown = cli("show", "--locker", locker.path, picture.sha256[:12], "--json").json()
    assert [c["wacz"] for c in shown["captures"]] == [first.wacz.sha256, second.wacz.sha256]
    for done, captured in zip((first, second), shown["captures"], strict=True):
        assert {p["collected_at"] for p in captured["parts"]} == {done.captured_at}
        assert {p["sha256"] for p in captured["parts"]} == {p.sha256 for p in done.parts}
