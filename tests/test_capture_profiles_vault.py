"""A kept browser profile in a vault is sealed at rest (issue 13, "Safety of the investigator").

A site served from the test sets a sign-in cookie and a localStorage entry whose names and
values are fresh markers for each test. After captures with a kept profile in a vault, no
byte of any file under the locker holds a marker nor the profile's name (the same scan finds
them in a plain locker's profile, so it can fail), the next capture sends the cookie, and the
profile's unpacked folder in memory is gone. A capture killed with SIGKILL leaves an archive
that opens, and its stale folder in memory is removed at the next start. `vault convert`
seals a plain locker's profile. Real Chromium, real SQLCipher; nothing is mocked.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import docket_command

from docket.capture import profiles
from docket.capture.run import CaptureOptions, capture
from docket.errors import DocketError, VaultDamagedError
from docket.locker import Locker
from docket.store import scratch
from docket.vault import convert
from docket.vault import profiles as sealed
from docket.vault.keys import VaultKey
from docket.verify import verify

PASSPHRASE = "harbour lantern seven 31"


@dataclass
class MarkedSite:
    """A site that signs its visitor in with a cookie and a localStorage entry named and
    valued by markers of its own; it logs the Cookie header of every request."""

    cookie_name: str = field(default_factory=lambda: "m" + uuid.uuid4().hex[:12])
    cookie_value: str = field(default_factory=lambda: "v" + uuid.uuid4().hex)
    stored: str = field(default_factory=lambda: "s" + uuid.uuid4().hex)
    cookies: list[tuple[str, str]] = field(default_factory=list)
    asked: threading.Event = field(default_factory=threading.Event)  # /hang.html was asked
    stop: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def markers(self) -> list[bytes]:
        return [m.encode() for m in (self.cookie_name, self.cookie_value, self.stored)]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def sent(self, path: str) -> list[str]:
        return [cookie for asked, cookie in self.cookies if asked == path]


def _handler(site: MarkedSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None: ...

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            site.cookies.append((path, self.headers.get("Cookie", "")))
            headers = {"Content-Type": "text/html; charset=utf-8"}
            body = b"<!doctype html><title>Members</title><p>Notices of Velmora's harbour."
            if path == "/sign-in.html":
                headers["Set-Cookie"] = (
                    f"{site.cookie_name}={site.cookie_value}; Max-Age=86400; Path=/"
                )
                body = (
                    "<!doctype html><title>Signed in</title><p>Welcome back."
                    f"<script>localStorage.setItem('pref', '{site.stored}')</script>"
                ).encode()
            elif path == "/hang.html":
                site.asked.set()
                site.stop.wait(120)  # never answers while the test runs
                return
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@contextmanager
def serve_marked() -> Iterator[MarkedSite]:
    site = MarkedSite()
    server = _Server(("127.0.0.1", 0), _handler(site))
    site.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield site
    finally:
        site.stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def site() -> Iterator[MarkedSite]:
    with serve_marked() as served:
        yield served


@pytest.fixture
def vault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Locker]:
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("DOCKET_PASSPHRASE_FILE", str(passphrase))
    with Locker.create(tmp_path / "vault", actor="tester", vault_passphrase=PASSPHRASE) as made:
        yield made


def options(profile: str | None, timeout: float = 20) -> CaptureOptions:
    return CaptureOptions(
        collector="tester", allow_private_network=True, timeout=timeout, profile=profile
    )


def profile_name() -> str:
    return "desk-" + uuid.uuid4().hex[:10]


def found_on_disk(root: Path, secrets: list[bytes]) -> list[str]:
    """Each file under `root` whose bytes or whose path holds one of `secrets`."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes() + os.fsencode(path.relative_to(root))
        found += [f"{path.relative_to(root)}: {s.decode()}" for s in secrets if s in data]
    return found


def _until_no_process_names(folder: Path) -> None:
    """Wait for the processes a killed capture left to end: Playwright starts the browser in
    its own process group, out of reach of the kill, and it writes into its profile folder
    until it notices its driver is gone (a next start removing the folder meanwhile could
    find new files appearing in it)."""
    for _ in range(300):
        named = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                named.append(str(folder).encode() in cmdline.read_bytes())
            except OSError:
                continue  # a process that ended while the list was read
        if not any(named):
            return
        time.sleep(0.1)
    raise AssertionError(f"a process still names {folder} 30 s after its capture was killed")


def unpacked_by(pid: int) -> list[Path]:
    """The profile folders in memory that process `pid` unpacked and has not removed."""
    return sorted(scratch.memory_root().glob(f"{scratch.owner(pid)}-profile-*"))


def test_a_profile_in_a_vault_is_sealed_and_its_cookie_still_goes_next_time(
    vault: Locker, site: MarkedSite
) -> None:
    name = profile_name()
    capture(vault, site.url("/sign-in.html"), options(name))
    capture(vault, site.url("/members.html"), options(name))
    assert site.sent("/members.html") == [f"{site.cookie_name}={site.cookie_value}"]
    assert found_on_disk(vault.path, [*site.markers, name.encode()]) == []
    kept = sorted(p.name for p in (vault.path / "profiles").iterdir())
    keyed = sealed.keyed_name(vault.vault_key, name) if vault.vault_key else ""
    assert kept == [f".{keyed}.lock", f"{keyed}.profile"]  # no folder, no name
    assert unpacked_by(os.getpid()) == []
    assert profiles.kept(vault.path, vault.vault_key) == [name]
    with vault.engine.connect() as conn:  # captured into no case: it belongs to none yet
        assert profiles.case_of(conn, name) is None
    assert profiles.kept(vault.path) == []  # without the key, nothing to offer
    capture(vault, site.url("/members.html"), options(None))  # a fresh profile sends none
    assert site.sent("/members.html")[-1] == ""
    report = verify(vault)
    assert report.problems == []


def test_the_scan_finds_the_markers_in_a_plain_lockers_profile(
    tmp_path: Path, site: MarkedSite
) -> None:
    with Locker.create(tmp_path / "plain", actor="tester") as plain:
        capture(plain, site.url("/sign-in.html"), options("desk"))
    found = found_on_disk(tmp_path / "plain" / "profiles", site.markers)
    assert any(site.cookie_name in line for line in found), found
    assert any(site.stored in line for line in found), found


def test_a_changed_or_moved_archive_does_not_open(vault: Locker, site: MarkedSite) -> None:
    assert vault.vault_key is not None
    capture(vault, site.url("/sign-in.html"), options("desk"))
    archive = sealed.archive(vault.path, vault.vault_key, "desk")
    other = sealed.archive(vault.path, vault.vault_key, "field")
    other.write_bytes(archive.read_bytes())  # desk's archive in field's place
    with pytest.raises(VaultDamagedError, match="does not authenticate"):
        capture(vault, site.url("/members.html"), options("field"))
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 1
    archive.write_bytes(bytes(data))
    damaged = f"^{re.escape(str(archive))}: does not authenticate"
    with pytest.raises(VaultDamagedError, match=damaged):
        capture(vault, site.url("/members.html"), options("desk"))
    assert site.sent("/members.html") == []  # refused before the browser started
    assert unpacked_by(os.getpid()) == []


def test_a_profile_in_use_in_a_vault_is_refused(vault: Locker, site: MarkedSite) -> None:
    with profiles.opened(vault, "desk") as folder:
        assert folder is not None and folder.is_relative_to(scratch.memory_root())
        assert folder.stat().st_mode & 0o777 == 0o700
        with pytest.raises(DocketError, match=r"^desk: the browser profile is in use"):
            capture(vault, site.url("/members.html"), options("desk"))
    assert site.sent("/members.html") == []
    assert not folder.exists()


def test_a_capture_that_fails_keeps_the_archive_as_it_was(vault: Locker, site: MarkedSite) -> None:
    assert vault.vault_key is not None
    capture(vault, site.url("/sign-in.html"), options("desk"))
    archive = sealed.archive(vault.path, vault.vault_key, "desk")
    before = archive.read_bytes()
    with pytest.raises(DocketError):
        capture(vault, "http://127.0.0.1:9/", options("desk", timeout=5))  # nothing listens
    assert archive.read_bytes() == before
    assert unpacked_by(os.getpid()) == []


def test_a_capture_killed_leaves_an_archive_that_opens_and_its_memory_is_cleaned(
    vault: Locker, site: MarkedSite, tmp_path: Path
) -> None:
    key = vault.vault_key
    assert key is not None
    capture(vault, site.url("/sign-in.html"), options("desk"))
    command = [*docket_command(), "capture", "--locker", str(vault.path), "--profile", "desk"]
    child = subprocess.Popen(
        [*command, "--allow-private-network", "--timeout", "90", site.url("/hang.html")],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert site.asked.wait(60), "the browser never asked for the page"
        assert len(unpacked_by(child.pid)) == 1  # the profile, unpacked in memory
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    stale = unpacked_by(child.pid)
    assert len(stale) == 1
    into = tmp_path / "opened"
    into.mkdir()
    sealed.unpack(vault.path, key, "desk", into)  # whole: it authenticates
    assert (into / "Default" / "Cookies").is_file()
    _until_no_process_names(stale[0])
    with Locker.open(vault.path, vault_key=key) as again:  # the next start
        assert not stale[0].exists()
        capture(again, site.url("/members.html"), options("desk"))
    assert site.sent("/members.html") == [f"{site.cookie_name}={site.cookie_value}"]


def test_a_capture_killed_at_random_moments_never_leaves_a_torn_archive(
    vault: Locker, site: MarkedSite
) -> None:
    key = vault.vault_key
    assert key is not None
    capture(vault, site.url("/sign-in.html"), options("desk"))
    command = [*docket_command(), "capture", "--locker", str(vault.path), "--profile", "desk"]
    command += ["--allow-private-network", site.url("/members.html")]
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    whole = time.monotonic() - started  # a whole run, timed first: the kills fall inside it
    killed: list[int] = []
    for fraction in (0.15, 0.35, 0.55, 0.75):
        quiet = subprocess.DEVNULL
        child = subprocess.Popen(command, start_new_session=True, stdout=quiet, stderr=quiet)
        with suppress(subprocess.TimeoutExpired):
            child.wait(timeout=whole * fraction)
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            killed.append(child.pid)
        child.wait()
        assert sealed.names(vault.path, key) == ["desk"]  # the old archive or the new, whole
    assert killed, "no run was killed: the runs ended before the kills on this machine"
    for folder in [found for pid in killed for found in unpacked_by(pid)]:
        _until_no_process_names(folder)  # the browser of a killed run may still write into it
    with Locker.open(vault.path, vault_key=key) as again:  # the next start cleans up
        assert [unpacked_by(pid) for pid in killed] == [[] for _ in killed]
        capture(again, site.url("/members.html"), options("desk"))
    assert site.sent("/members.html")[-1] == f"{site.cookie_name}={site.cookie_value}"
    assert list((vault.path / "tmp").glob("*-profile-*.part")) == []


def test_convert_seals_a_plain_lockers_profile(
    tmp_path: Path, site: MarkedSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    path = tmp_path / "locker"
    name = profile_name()
    with Locker.create(path, actor="tester") as plain:
        capture(plain, site.url("/sign-in.html"), options(name))
    assert found_on_disk(path, site.markers) != []
    begun = convert.begin(path, lambda: PASSPHRASE, "tester")
    assert begun.key is not None
    convert.finish(path, begun.key, "tester")
    assert found_on_disk(path, [*site.markers, name.encode()]) == []
    assert [p for p in (path / "profiles").iterdir() if p.is_dir()] == []
    with Locker.open(path, vault_key=begun.key) as locker:
        assert profiles.kept(locker.path, locker.vault_key) == [name]
        capture(locker, site.url("/members.html"), options(name))
        assert verify(locker).problems == []
    assert site.sent("/members.html") == [f"{site.cookie_name}={site.cookie_value}"]


def test_a_plain_profile_left_in_a_vault_is_named_by_verify_and_sealed_by_its_next_use(
    vault: Locker, site: MarkedSite
) -> None:
    key = vault.vault_key
    assert key is not None
    left = profiles.profile_folder(vault.path, "desk")  # as one made before it was a vault
    (left / "marker.txt").write_text(site.stored)  # a file Chromium leaves alone
    report = verify(vault)
    assert [(p.subject, p.message) for p in report.problems] == [
        (
            "profiles/desk",
            "a browser profile in the clear in a vault (its cookies and sessions are readable "
            "without the key); the next capture with --profile desk seals it",
        )
    ]
    capture(vault, site.url("/members.html"), options("desk"))
    assert not left.exists()
    assert found_on_disk(vault.path, [site.stored.encode()]) == []
    assert verify(vault).problems == []
    into = vault.path.parent / "opened"
    into.mkdir()
    sealed.unpack(vault.path, key, "desk", into)
    assert (into / "marker.txt").read_text() == site.stored


def test_an_archive_sealed_in_one_vault_does_not_open_in_another(tmp_path: Path) -> None:
    folder = tmp_path / "profile"
    (folder / "Default").mkdir(parents=True)
    (folder / "Default" / "Cookies").write_bytes(b"a cookie jar")
    locker_path = tmp_path / "locker"
    (locker_path / "profiles").mkdir(parents=True)
    (locker_path / "tmp").mkdir()
    mine, theirs = VaultKey.generate(), VaultKey.generate()
    sealed.seal(locker_path, mine, "desk", folder)
    archive = sealed.archive(locker_path, mine, "desk")
    archive.rename(sealed.archive(locker_path, theirs, "desk"))
    with pytest.raises(VaultDamagedError, match="does not authenticate"):
        sealed.unpack(locker_path, theirs, "desk", tmp_path / "out")


def test_a_capture_killed_while_sealing_back_leaves_the_old_archive(
    vault: Locker, site: MarkedSite
) -> None:
    """A profile made big (64 MB that does not compress) so that sealing it back takes a
    while; the capture is killed as soon as its new archive appears in tmp/."""
    key = vault.vault_key
    assert key is not None
    with profiles.opened(vault, "desk") as folder:
        assert folder is not None
        (folder / "bulk").write_bytes(os.urandom(64 * 2**20))
        (folder / "marker.txt").write_text("old")
    before = sealed.archive(vault.path, key, "desk").read_bytes()
    command = [*docket_command(), "capture", "--locker", str(vault.path), "--profile", "desk"]
    command += ["--allow-private-network", site.url("/members.html")]
    caught: list[Path] = []
    for _attempt in range(3):
        quiet = subprocess.DEVNULL
        child = subprocess.Popen(command, start_new_session=True, stdout=quiet, stderr=quiet)
        while child.poll() is None and not caught:
            caught = list((vault.path / "tmp").glob(f"{scratch.owner(child.pid)}-profile-*.part"))
            time.sleep(0.002)
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        if caught:
            break
        before = sealed.archive(vault.path, key, "desk").read_bytes()  # that run sealed it
    assert caught, "no run was caught sealing back its profile"
    renamed = not caught[0].exists()  # the kill came just after the new archive was renamed
    assert sealed.archive(vault.path, key, "desk").read_bytes() == before or renamed
    assert sealed.names(vault.path, key) == ["desk"]  # whole: it authenticates
    with Locker.open(vault.path, vault_key=key) as again:  # the next start cleans up
        assert not caught[0].exists()
        with profiles.opened(again, "desk") as reopened:
            assert reopened is not None
            assert (reopened / "marker.txt").read_text() == "old"


def test_verify_names_a_sealed_profile_that_does_not_open(vault: Locker) -> None:
    key = vault.vault_key
    assert key is not None
    with profiles.opened(vault, "desk"):
        pass
    assert verify(vault).problems == []
    archive = sealed.archive(vault.path, key, "desk")
    data = bytearray(archive.read_bytes())
    data[-1] ^= 1
    archive.write_bytes(bytes(data))
    assert [(p.subject, p.message) for p in verify(vault).problems] == [
        (
            f"profiles/{archive.name}",
            "a sealed browser profile: does not authenticate (changed, damaged, or not this "
            "vault's)",
        )
    ]


def test_a_damaged_archive_leaves_the_other_profiles_usable(
    vault: Locker, site: MarkedSite
) -> None:
    """One archive that does not open is left out of the profiles offered (the web form's
    list), never stopping capture with the others; `verify` names it."""
    assert vault.vault_key is not None
    capture(vault, site.url("/sign-in.html"), options("desk"))
    capture(vault, site.url("/sign-in.html"), options("field"))
    archive = sealed.archive(vault.path, vault.vault_key, "desk")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 1
    archive.write_bytes(bytes(data))
    assert profiles.kept(vault.path, vault.vault_key) == ["field"]
    assert [where for where, _ in sealed.damaged(vault.path, vault.vault_key)] == [
        f"profiles/{archive.name}"
    ]
