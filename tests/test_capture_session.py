"""What a capture does to the browser's session: a fresh profile every time unless --profile
names one kept in the locker (cookies kept from one capture to the next, mode 0700), and a
cookie banner clicked away before the screenshot, which the capture's notes say."""

from __future__ import annotations

import socket
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import BACKENDS, docket_command
from PIL import Image
from web_site import Site

from docket.capture import profiles
from docket.capture.browser import CaptureError
from docket.capture.profiles import ProfileError
from docket.capture.run import Capture, CaptureOptions, capture
from docket.custody import log
from docket.locker import Locker

LOCAL = CaptureOptions(collector="tester", allow_private_network=True, timeout=20)
COOKIE = "member=velmora-7"


def with_profile(name: str | None) -> CaptureOptions:
    return CaptureOptions(collector="tester", allow_private_network=True, timeout=20, profile=name)


def cookie_sent(site: Site, path: str) -> list[str]:
    return [cookie for asked, cookie in site.cookies if asked == path]


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser's profile: no catalogue work
def test_a_kept_profile_sends_its_cookie_in_the_next_capture_and_no_other_does(
    backend: str, locker: Locker, site: Site
) -> None:
    capture(locker, site.url("/sign-in.html"), with_profile("field"))
    done = capture(locker, site.url("/members.html"), with_profile("field"))
    assert cookie_sent(site, "/members.html") == [COOKIE]
    capture(locker, site.url("/members.html"), with_profile(None))
    capture(locker, site.url("/members.html"), with_profile("desk"))
    assert cookie_sent(site, "/members.html") == [COOKIE, "", ""]
    folder = locker.path / "profiles" / "field"
    for made_here in (folder, folder.parent):
        assert stat.S_IMODE(made_here.stat().st_mode) == 0o700
    with locker.engine.connect() as conn:
        event = next(e for e in log.events(conn) if e.seq == done.event)
    assert event.details["profile"] == "field"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_profile_belongs_to_the_case_of_its_first_capture_and_no_other_case_uses_it(
    backend: str, locker: Locker, site: Site
) -> None:
    """Signed in for case North, the profile holds North's session: a capture into South in it
    is refused before anything loads, whoever asks; a capture into no case (the holder's) may
    use it, and binds nothing."""

    def into(case: str | None, name: str) -> CaptureOptions:
        return CaptureOptions(
            collector="tester", case=case, allow_private_network=True, timeout=20, profile=name
        )

    capture(locker, site.url("/members.html"), into(None, "field"))  # into no case: unbound
    capture(locker, site.url("/sign-in.html"), into("North", "field"))
    asked = len(site.requests)
    with pytest.raises(ProfileError, match="field: this browser profile belongs to another case"):
        capture(locker, site.url("/members.html"), into("South", "field"))
    assert len(site.requests) == asked  # refused before the browser started
    capture(locker, site.url("/members.html"), into("North", "field"))
    capture(locker, site.url("/members.html"), into(None, "field"))
    assert cookie_sent(site, "/members.html")[-2:] == [COOKIE, COOKIE]
    with locker.engine.connect() as conn:
        assert profiles.case_of(conn, "field") == "North"
        assert profiles.case_of(conn, "desk") is None
        assert profiles.for_case(conn, locker, "North") == ["field"]
        assert profiles.for_case(conn, locker, "South") == []
        made = [e.details["case"] for e in log.events(conn) if e.action == "capture.made"]
    assert made == [None, "North", "North", None]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_profile_is_its_cases_before_the_browser_starts_even_when_the_capture_fails(
    backend: str, locker: Locker, site: Site
) -> None:
    """The browser may write a case's cookies into the profile and the capture then fail
    (nothing recorded): the profile is that case's all the same, never free for another."""
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    north = CaptureOptions(
        collector="tester", case="North", allow_private_network=True, timeout=20, profile="desk"
    )
    with pytest.raises(CaptureError):
        capture(locker, gone, north)
    south = CaptureOptions(
        collector="tester", case="South", allow_private_network=True, timeout=20, profile="desk"
    )
    with pytest.raises(ProfileError, match="desk: this browser profile belongs to another case"):
        capture(locker, site.url("/members.html"), south)
    assert site.requests == []
    with locker.engine.connect() as conn:
        assert profiles.case_of(conn, "desk") == "North"
        bound = [e for e in log.events(conn) if e.action == "profile.bound"]
        assert not [e for e in log.events(conn) if e.action == "capture.made"]
    assert [(e.actor, e.details) for e in bound] == [
        ("tester", {"profile": "desk", "case": "North"})
    ]


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser's profile: no catalogue work
def test_a_fresh_profile_per_capture_leaves_nothing_behind(
    backend: str, locker: Locker, site: Site
) -> None:
    capture(locker, site.url("/sign-in.html"), LOCAL)
    capture(locker, site.url("/members.html"), LOCAL)
    assert cookie_sent(site, "/members.html") == [""]
    assert not (locker.path / "profiles").exists()


@pytest.mark.parametrize("name", ["../outside", "/tmp/x", "a/b", ".hidden", "", "x" * 65])
@pytest.mark.parametrize("backend", ["sqlite"])  # refused before anything is recorded
def test_a_profile_is_a_plain_name_never_a_path(backend: str, locker: Locker, name: str) -> None:
    with pytest.raises(ProfileError, match="not a path"):
        capture(locker, "http://127.0.0.1:9/", with_profile(name))
    assert not (locker.path / "profiles").exists()


@pytest.mark.parametrize("backend", ["sqlite"])  # refused before anything is recorded
def test_a_profile_name_differing_only_in_case_from_a_kept_one_is_refused(
    backend: str, locker: Locker, site: Site
) -> None:
    """On a file system that ignores case, "Desk" would open North's "desk" folder while
    binding itself to South: refused on every file system, before anything is bound."""
    profiles.profile_folder(locker.path, "desk")
    south = CaptureOptions(
        collector="tester", case="South", allow_private_network=True, timeout=20, profile="Desk"
    )
    with pytest.raises(ProfileError, match=r"Desk: differs only in letter case .* 'desk'"):
        capture(locker, site.url("/members.html"), south)
    assert site.requests == []
    with locker.engine.connect() as conn:
        assert not [e for e in log.events(conn) if e.action == "profile.bound"]
    assert profiles.kept(locker.path) == ["desk"]


@pytest.mark.parametrize("backend", ["sqlite"])  # refused before anything is recorded
def test_a_profile_that_is_a_symbolic_link_is_refused(
    backend: str, locker: Locker, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "everyday-browser"
    elsewhere.mkdir()
    (locker.path / "profiles").mkdir(mode=0o700)
    (locker.path / "profiles" / "linked").symlink_to(elsewhere)
    with pytest.raises(ProfileError, match="symbolic link"):
        capture(locker, "http://127.0.0.1:9/", with_profile("linked"))


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser's profile: no catalogue work
def test_the_command_takes_a_profile_name(
    backend: str, locker: Locker, site: Site, tmp_path: Path
) -> None:
    command = [*docket_command(), "capture", "--locker", str(locker.path)]
    for page in ("/sign-in.html", "/members.html"):
        subprocess.run(
            [*command, "--profile", "field", "--allow-private-network", site.url(page)],
            check=True,
            capture_output=True,
        )
    assert cookie_sent(site, "/members.html") == [COOKIE]


def red_share(locker: Locker, done: Capture) -> float:
    shot = next(part for part in done.parts if part.kind == "screenshot")
    with Image.open(locker.store.path(shot.sha256)) as picture:
        rgb = picture.convert("RGB")
        red = sum(count for count, colour in rgb.getcolors(1 << 24) or [] if colour == (255, 0, 0))
        return red / (rgb.width * rgb.height)


@pytest.mark.parametrize(
    ("page", "button"),
    [
        ("/banner.html", "Accept all"),
        ("/framed-banner.html", "Fine by me"),
        # a frame the browser never loaded held the search (and the capture) for ever
        ("/banner-behind-blocked-frames.html", "Fine by me"),
    ],
)
@pytest.mark.parametrize("backend", ["sqlite"])  # the screenshot's pixels: no catalogue work
def test_a_cookie_banner_is_clicked_away_before_the_screenshot_and_said(
    backend: str, locker: Locker, site: Site, page: str, button: str
) -> None:
    done = capture(locker, site.url(page), LOCAL)
    assert red_share(locker, done) == 0.0
    assert [note for note in done.notes if "cookie banner" in note] == [
        f"clicked the cookie banner's button {button!r} before the shots"
    ]


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser's page: no catalogue work
def test_a_page_without_a_banner_is_left_alone(backend: str, locker: Locker, site: Site) -> None:
    done = capture(locker, site.url("/notice.html"), LOCAL)
    assert not [note for note in done.notes if "cookie banner" in note]
