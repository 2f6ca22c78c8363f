"""Capture from the web against a local site on 127.0.0.1 (tests/web_site.py), in the real
Chromium, with real WARC, WACZ and catalogue; no internet."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import BACKENDS, fresh_database
from PIL import Image, ImageStat
from sqlalchemy import select
from wacz.util import WACZ_VERSION
from wacz.validate import Validation
from warcio.archiveiterator import ArchiveIterator
from web_site import Site, self_signed, serve, serve_proxy

from docket.capture import guard as guard_module
from docket.capture._media_worker import _remote_names
from docket.capture.browser import MAX_SHOT_HEIGHT
from docket.capture.guard import CaptureRefusedError, Guard
from docket.capture.run import Capture, CaptureOptions, capture
from docket.catalogue import schema
from docket.custody import log
from docket.locker import Locker
from docket.verify import verify

LOCAL = CaptureOptions(collector="tester", allow_private_network=True, timeout=20)


def wacz_valid(path: Path) -> bool:
    """Every check of the `wacz` package's own validator (required contents answers 0)."""
    with contextlib.redirect_stdout(io.StringIO()):
        check = Validation(str(path))
        return bool(
            check.version == WACZ_VERSION
            and check.check_required_contents() == 0
            and check.frictionless_validate()
            and check.check_file_paths()
            and check.check_compression()
            and check.check_indexes()
            and check.check_file_hashes()
            and check.check_data_package_hash_and_sig()
        )


def blob(locker: Locker, sha256: str) -> bytes:
    return locker.store.path(sha256).read_bytes()


def warc_records(wacz_bytes: bytes) -> list[Any]:
    with zipfile.ZipFile(io.BytesIO(wacz_bytes)) as package:
        [name] = [n for n in package.namelist() if n.startswith("archive/")]
        data = package.read(name)
    records = []
    for record in ArchiveIterator(io.BytesIO(data), check_digests="raise"):
        record.payload = record.content_stream().read()
        records.append(record)
    return records


def by_kind(done: Capture, kind: str) -> dict[str, str]:
    return {part.name: part.sha256 for part in done.parts if part.kind == kind}


@dataclass(frozen=True)
class Captured:
    locker: Locker
    site: Site
    done: Capture


@pytest.fixture(scope="module", params=BACKENDS)
def redirected(
    request: pytest.FixtureRequest, made: Site, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Captured]:
    """The gallery captured once by way of its redirect chain, into a locker of its own on each
    backend, for the tests below that only read what that one capture recorded (each capture
    drives Chromium and analyses every part: too slow to repeat per test)."""
    folder = tmp_path_factory.mktemp("redirected")
    with (
        fresh_database(str(request.param)) as url,
        Locker.create(folder / "locker", actor="tester", database_url=url) as locker,
        serve(made.fresh()) as site,
    ):
        yield Captured(locker, site, capture(locker, site.url("/redirect/1"), LOCAL))


def test_a_gallery_is_archived_with_its_media_whole(redirected: Captured, tmp_path: Path) -> None:
    locker, site, done = redirected.locker, redirected.site, redirected.done
    assert (done.status, done.final_url, done.timed_out) == (200, site.url("/gallery.html"), False)
    wacz = tmp_path / "capture.wacz"
    wacz.write_bytes(blob(locker, done.wacz.sha256))
    assert wacz_valid(wacz)

    records = warc_records(wacz.read_bytes())
    responses = {
        r.rec_headers.get_header("WARC-Target-URI"): r for r in records if r.rec_type == "response"
    }
    assert site.url("/gallery.html") in responses
    browsed = [r for uri, r in responses.items() if not uri.endswith("coffee-large.jpg")]
    assert all(r.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1" for r in browsed)
    requests = [r for r in records if r.rec_type == "request"]
    assert len(requests) == len(responses)
    uris = {
        r.rec_headers.get_header("WARC-Target-URI") for r in records if r.rec_type == "resource"
    }
    assert {f"urn:view:{done.final_url}", f"urn:pdf:{done.final_url}"} <= uris

    images = by_kind(done, "image")
    for name in ("astronaut.jpg", "coffee-large.jpg", "chelsea.jpg"):  # srcset's largest; lazy
        sha = images[site.url(f"/img/{name}")]
        assert sha == hashlib.sha256(site.images[name]).hexdigest()
        assert blob(locker, sha) == site.images[name]
    [video] = by_kind(done, "video").values()
    assert video == hashlib.sha256(site.video).hexdigest()

    [shot] = by_kind(done, "screenshot").values()
    picture = Image.open(io.BytesIO(blob(locker, shot))).convert("L")
    assert picture.height > 4000  # the full page, past the spacer
    assert ImageStat.Stat(picture).stddev[0] > 10  # not blank
    [pdf] = by_kind(done, "print").values()
    assert blob(locker, pdf).startswith(b"%PDF-")
    with locker.engine.connect() as conn:  # analysed like any ingested file
        steps = set(
            conn.execute(
                select(schema.results.c.item_sha256, schema.results.c.step).where(
                    schema.results.c.status == "ok"
                )
            ).all()
        )
    for sha in images.values():  # near-duplicate search covers captured pictures too
        assert {(sha, "metadata"), (sha, "perceptual")} <= steps
    assert {(video, "metadata"), (video, "keyframes")} <= steps
    assert verify(locker).ok


def test_one_custody_event_per_capture_names_what_was_asked_and_got(
    redirected: Captured,
) -> None:
    locker, site, done = redirected.locker, redirected.site, redirected.done
    assert (done.status, done.final_url) == (200, site.url("/gallery.html"))
    with locker.engine.connect() as conn:
        events = [e for e in log.events(conn) if e.action == "capture.made"]
        rows = conn.execute(select(schema.acquisitions)).mappings().all()
    [event] = events
    assert event.seq == done.event
    details = event.details
    assert details["url"] == site.url("/redirect/1")
    assert details["final_url"] == site.url("/gallery.html")
    assert details["status"] == 200
    assert details["browser"].startswith("Chromium 1")
    assert "HeadlessChrome" in details["user_agent"]
    assert set(details["tools"]) == {"docket", "playwright", "warcio", "wacz", "yt-dlp"}
    assert [p["sha256"] for p in details["parts"]] == [p.sha256 for p in done.parts]
    assert {row["method"] for row in rows} == {"capture"}
    inside = [row for row in rows if row["item_sha256"] != done.wacz.sha256]
    assert inside and all(row["container_sha256"] == done.wacz.sha256 for row in inside)
    assert {row["path_in_container"] for row in inside} >= {"screenshot.png", "print.pdf"}
    assert {row["original_path"] for row in rows} == {site.url("/redirect/1")}
    assert {row["collected_at"] for row in rows} == {done.captured_at}
    origins = {row["path_in_container"]: row["url_of_origin"] for row in inside}
    assert origins["screenshot.png"] == site.url("/gallery.html")
    assert origins[site.url("/img/chelsea.jpg")] == site.url("/img/chelsea.jpg")
    redirects = [
        r
        for r in warc_records(blob(locker, done.wacz.sha256))
        if r.rec_type == "response" and r.http_headers.get_statuscode() in ("301", "302")
    ]
    assert len(redirects) == 2


def test_the_same_page_twice_is_one_item_with_two_acquisitions(locker: Locker, site: Site) -> None:
    first = capture(locker, site.url("/gallery.html"), LOCAL)
    second = capture(locker, site.url("/gallery.html"), LOCAL)
    photo = site.url("/img/astronaut.jpg")
    sha = by_kind(first, "image")[photo]
    assert by_kind(second, "image")[photo] == sha
    assert [p.new for p in second.parts if p.name == photo] == [False]
    with locker.engine.connect() as conn:
        items = conn.execute(select(schema.items).where(schema.items.c.sha256 == sha)).all()
        arrivals = conn.execute(
            select(schema.acquisitions).where(schema.acquisitions.c.item_sha256 == sha)
        ).all()
    assert (len(items), len(arrivals)) == (1, 2)
    assert verify(locker).ok


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser and the WARC: no catalogue work
def test_a_missing_page_is_captured_with_its_404(backend: str, locker: Locker, site: Site) -> None:
    done = capture(locker, site.url("/no-such-page"), LOCAL)
    assert done.status == 404
    records = warc_records(blob(locker, done.wacz.sha256))
    [page] = [r for r in records if r.rec_type == "response"]
    assert page.http_headers.get_statuscode() == "404"


@pytest.mark.parametrize("backend", ["sqlite"])  # a wait on the browser: no catalogue work
def test_a_page_that_never_finishes_is_kept_as_it_stood_and_says_so(
    backend: str, locker: Locker, site: Site
) -> None:
    options = CaptureOptions(collector="tester", allow_private_network=True, timeout=3)
    done = capture(locker, site.url("/slow.html"), options)
    assert done.timed_out and done.status == 200
    assert any("did not finish loading within 3 s" in note for note in done.notes)
    records = warc_records(blob(locker, done.wacz.sha256))
    assert site.url("/slow.html") in {r.rec_headers.get_header("WARC-Target-URI") for r in records}
    assert verify(locker).ok


@pytest.mark.parametrize("backend", ["sqlite"])  # a wait on the browser: no catalogue work
def test_a_page_cannot_name_itself_an_address_that_was_never_fetched(
    backend: str, locker: Locker, site: Site
) -> None:
    """A page that never finishes loading sets its own address by script (replaceState): the
    capture records the address its page came from, not the one the page claims."""
    options = CaptureOptions(collector="tester", allow_private_network=True, timeout=3)
    done = capture(locker, site.url("/rewrites-its-address.html"), options)
    assert done.timed_out and done.status == 200
    assert done.final_url == site.url("/rewrites-its-address.html")


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser's screenshot: no catalogue work
def test_a_very_tall_page_is_photographed_to_the_stated_height(
    backend: str, locker: Locker, site: Site
) -> None:
    done = capture(locker, site.url("/huge.html"), LOCAL)
    [shot] = by_kind(done, "screenshot").values()
    picture = Image.open(io.BytesIO(blob(locker, shot)))
    assert picture.height == MAX_SHOT_HEIGHT
    assert f"top {MAX_SHOT_HEIGHT} px of a page 60" in " ".join(done.notes)


@pytest.mark.parametrize("backend", ["sqlite"])  # a wait on the browser: no catalogue work
def test_a_video_that_never_comes_is_noted_and_the_page_kept(
    backend: str, locker: Locker, site: Site
) -> None:
    options = CaptureOptions(collector="tester", allow_private_network=True, timeout=3)
    done = capture(locker, site.url("/stuck-video.html"), options)
    assert done.status == 200  # (a video never holds up the page's load event)
    assert by_kind(done, "video") == {}
    assert any("video" in note and "not" in note for note in done.notes), done.notes
    assert verify(locker).ok


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser's conduct: no catalogue work
def test_a_page_cannot_open_pop_ups_or_take_the_browser_elsewhere(
    backend: str, locker: Locker, site: Site
) -> None:
    done = capture(locker, site.url("/restless.html"), LOCAL)
    assert done.final_url == site.url("/restless.html")
    assert "/popup-target.html" not in site.paths()
    assert "/elsewhere.html" not in site.paths()
    assert any("pop-up" in note for note in done.notes)
    assert any("tried to go to" in note for note in done.notes)


@pytest.mark.parametrize(
    "url", ["", "http://", "http://[::1", "http://host:99999/", "javascript:alert(1)", "//x/"]
)
def test_what_is_not_a_web_address_is_refused_on_one_line(url: str) -> None:
    with pytest.raises(CaptureRefusedError, match="refused") as refused:
        Guard().check(url)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://rana:Velm0ra-pass@example.org/post",
        "https://token-7f3a@example.org/",
        "https://rana:Velm0ra-pass@example.org:99999/",  # refused first as not a URL
        "ftp://rana:Velm0ra-pass@example.org/",  # refused first for its scheme
    ],
)
def test_an_address_holding_a_password_is_refused_without_repeating_it(url: str) -> None:
    """A password pasted with the address would be kept in the custody log for ever, and a
    refusal that repeats it shows it on the screen and in the web app's answer."""
    with pytest.raises(CaptureRefusedError, match="refused") as refused:
        Guard().check(url)
    assert "Velm0ra" not in str(refused.value) and "token-7f3a" not in str(refused.value)
    assert "example.org" in str(refused.value)


def test_a_slow_name_holds_up_only_itself_and_is_refused_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page's hosts are looked up side by side, each at most DNS_DEADLINE: a name whose
    lookup hangs holds up neither the other names nor, past the deadline, the capture. The
    resolver is replaced here (a DNS server that never answers cannot be put in this
    machine's resolv.conf for one test): "slow.example" waits until the test ends."""
    released = threading.Event()
    real = socket.getaddrinfo

    def resolver(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "slow.example":
            released.wait(60)
            return real("93.184.215.15", *args, **kwargs)
        return real("93.184.215.14", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    monkeypatch.setattr(guard_module, "DNS_DEADLINE", 1.0)
    guard = Guard()
    first: list[str] = []

    def ask_slow() -> None:
        try:
            guard.check("http://slow.example/")
        except CaptureRefusedError as exc:
            first.append(str(exc))

    waiting = threading.Thread(target=ask_slow)
    waiting.start()
    try:
        guard.check("http://fast.example/")  # answered while slow.example still hangs
        assert guard.addresses("http://fast.example/", "fast.example") == ["93.184.215.14"]
        assert waiting.is_alive() and not released.is_set()
        with pytest.raises(CaptureRefusedError, match=r"slow\.example: no answer within 1 s"):
            guard.check("http://slow.example/b")
    finally:
        released.set()
        waiting.join(10)
    assert first and "no answer within 1 s" in first[0]
    with pytest.raises(CaptureRefusedError, match="no answer within"):  # a late answer: not taken
        guard.check("http://slow.example/c")


def test_a_page_cannot_start_a_lookup_for_every_name_it_invents(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page asking for many names that never answer (random subdomains of a slow zone)
    holds at most MOST_LOOKUPS lookups, each a thread: the next name is refused at once and
    not remembered, so it is looked up once a slot is free. The resolver is replaced, as in
    the test above: every name hangs until the test lets them go."""
    released = threading.Event()
    real = socket.getaddrinfo

    def resolver(host: str, *args: Any, **kwargs: Any) -> Any:
        if host.endswith(".slow.example"):
            released.wait(60)
        return real("93.184.215.14", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    monkeypatch.setattr(guard_module, "DNS_DEADLINE", 30.0)
    monkeypatch.setattr(guard_module, "MOST_LOOKUPS", 3)
    guard = Guard()
    waiting = [
        threading.Thread(target=guard.allows, args=(f"http://n{i}.slow.example/",))
        for i in range(3)
    ]
    for thread in waiting:
        thread.start()
    try:
        for thread in waiting:  # each has taken its slot once its lookup is listed
            while f"n{waiting.index(thread)}.slow.example" not in guard._lookups:
                thread.join(0.01)
        threads = threading.active_count()
        with pytest.raises(CaptureRefusedError, match="3 other names are still being looked up"):
            guard.check("http://n3.slow.example/")
        assert threading.active_count() == threads  # no thread started for it
    finally:
        released.set()
        for thread in waiting:
            thread.join(10)
    guard.check("http://n3.slow.example/")  # slots free again: looked up, not refused
    assert guard.addresses("http://n3.slow.example/", "n3.slow.example") == ["93.184.215.14"]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "data:text/html,<p>hi</p>",
        "http://127.0.0.1:9/",
        "http://localhost/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of 169.254.169.254
        "http://[64:ff9b:1::7f00:1]/",  # NAT64, local-use prefix, of 127.0.0.1
        "http://[::127.0.0.1]/",  # IPv4-compatible
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",  # Teredo, client 127.0.0.1
    ],
)
@pytest.mark.parametrize("backend", ["sqlite"])  # the guard refuses before anything is recorded
def test_local_files_and_private_networks_are_refused(
    backend: str, locker: Locker, url: str
) -> None:
    with pytest.raises(CaptureRefusedError, match="refused"):
        capture(locker, url, CaptureOptions(collector="tester"))
    with locker.engine.connect() as conn:
        assert not [e for e in log.events(conn) if e.action == "capture.made"]


@pytest.mark.parametrize("backend", ["sqlite"])  # the guard refuses before anything is recorded
def test_the_command_refuses_a_private_address_on_one_line(
    backend: str, locker: Locker, site: Site, cli: Any
) -> None:
    result = cli("capture", site.url("/gallery.html"), "--locker", locker.path)
    assert result.code == 1
    [line] = result.out.strip().splitlines()
    assert "127.0.0.1 is on a private or local network" in line
    assert site.requests == []


@pytest.mark.parametrize("backend", ["sqlite"])  # the network path: no catalogue work
def test_with_a_proxy_nothing_reaches_the_site_another_way(
    backend: str, locker: Locker, site: Site
) -> None:
    with serve_proxy() as proxy:
        options = CaptureOptions(
            collector="tester", allow_private_network=True, timeout=20, proxy=proxy.url
        )
        done = capture(locker, site.url("/gallery.html"), options)
    assert by_kind(done, "video") and len(by_kind(done, "image")) == 3
    assert site.requests and all(port in proxy.ports for _path, port in site.requests)


@pytest.mark.parametrize(
    "backend", ["sqlite"]
)  # the command's options and answer; the catalogue's side is tested above on both
def test_the_command_captures_and_answers_in_json(
    backend: str, locker: Locker, site: Site, cli: Any, tmp_path: Path
) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text(f"# pages\n{site.url('/redirect/1')}\n")
    result = cli(
        "capture",
        "--from-file",
        listing,
        "--allow-private-network",
        "--json",
        "--case",
        "harbour",
        "--source",
        "dove",
        "--locker",
        locker.path,
    )
    assert result.code == 0, result.out
    [line] = result.out.strip().splitlines()
    answer = json.loads(line)
    assert answer["final_url"] == site.url("/gallery.html")
    assert {p["kind"] for p in answer["parts"]} == {"wacz", "screenshot", "print", "image", "video"}


@pytest.mark.parametrize("backend", ["sqlite"])  # the WARC's bytes: no catalogue work
def test_a_capture_keeps_no_body_past_its_size_cap_and_says_so(
    backend: str, locker: Locker, site: Site
) -> None:
    cap = len(site.images["astronaut.jpg"]) + 10_000  # the page and about one photograph
    options = CaptureOptions(
        collector="tester", allow_private_network=True, timeout=20, max_bytes=cap
    )
    done = capture(locker, site.url("/gallery.html"), options)
    assert any("size cap of" in note for note in done.notes)
    records = warc_records(blob(locker, done.wacz.sha256))
    kept = sum(len(r.payload) for r in records if r.rec_type == "response")
    assert 0 < kept <= cap
    truncated = [r for r in records if r.rec_headers.get_header("WARC-Truncated")]
    assert truncated
    assert by_kind(done, "video") == {}
    assert verify(locker).ok


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser's TLS and the WARC: no catalogue work
def test_a_self_signed_site_is_captured_and_its_certificate_recorded_as_not_trusted(
    backend: str, locker: Locker, made: Site, tmp_path: Path
) -> None:
    cert, key, der = self_signed(tmp_path / "tls")
    site = made.fresh()
    with serve(site, tls=(cert, key)):
        done = capture(locker, site.url("/gallery.html"), LOCAL)
    assert done.status == 200 and done.final_url.startswith("https://127.0.0.1:")
    with locker.engine.connect() as conn:
        [event] = [e for e in log.events(conn) if e.action == "capture.made"]
    tls = event.details["tls"]
    assert (tls["trusted"], tls["security_state"]) == (False, "insecure")
    assert tls["chain"][0]["sha256"] == hashlib.sha256(der).hexdigest()
    assert "velmora.invalid" in tls["chain"][0]["subject"]
    records = warc_records(blob(locker, done.wacz.sha256))
    about = [
        json.loads(r.payload)
        for r in records
        if r.rec_type == "metadata"
        and r.rec_headers.get_header("WARC-Target-URI") == done.final_url
    ]
    assert about[0]["tls"]["trusted"] is False
    assert about[0]["tls"]["chain"][0]["sha256"] == hashlib.sha256(der).hexdigest()
    assert (
        by_kind(done, "image")[site.url("/img/chelsea.jpg")]
        == hashlib.sha256(site.images["chelsea.jpg"]).hexdigest()
    )
    assert verify(locker).ok


@pytest.mark.parametrize("backend", ["sqlite"])  # the media's bytes: no catalogue work
def test_an_hls_stream_is_taken_whole_as_its_segments_were_sent(
    backend: str, locker: Locker, site: Site
) -> None:
    done = capture(locker, site.url("/stream.html"), LOCAL)
    [(url, sha)] = by_kind(done, "video").items()
    assert url == site.url("/hls/stream.m3u8")
    playlist = site.hls["stream.m3u8"].decode()
    segments = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    assert len(segments) >= 2
    sent = b"".join(site.hls[name] for name in segments)
    assert sha == hashlib.sha256(sent).hexdigest()
    assert verify(locker).ok


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser's guard: no catalogue work
def test_a_page_cannot_reach_into_the_private_network_through_its_parts(
    backend: str, locker: Locker, site: Site
) -> None:
    """No --allow-private-network: the page is reached by an invented name through the proxy
    (which alone knows it leads here); its parts that point at 127.0.0.1, ::1, 10.0.0.1, the
    cloud metadata address and a local WebSocket are refused in the browser."""
    with serve_proxy({"velmora.test": "127.0.0.1"}) as proxy:
        options = CaptureOptions(collector="tester", timeout=20, proxy=proxy.url)
        done = capture(locker, f"http://velmora.test:{site.port}/probe.html", options)
    assert done.status == 200
    assert site.paths() == ["/probe.html", "/img/astronaut.jpg"]
    refused = " ".join(note for note in done.notes if note.startswith("not loaded:"))
    for target in ("127.0.0.1", "10.0.0.1", "[::1]", "169.254.169.254", "ws://127.0.0.1"):
        assert target in refused, target
    assert set(by_kind(done, "image")) == {f"http://velmora.test:{site.port}/img/astronaut.jpg"}


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser's error: nothing is recorded
def test_an_unreachable_site_is_one_line_and_records_nothing(
    backend: str, locker: Locker, cli: Any
) -> None:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/gone.html"
    result = cli("capture", url, "--allow-private-network", "--locker", locker.path)
    assert result.code == 1
    assert result.out.strip().splitlines() == [
        f"failed   {url}: cannot load: net::ERR_CONNECTION_REFUSED at {url}"
    ]
    assert "Traceback" not in result.err
    with locker.engine.connect() as conn:
        assert not [e for e in log.events(conn) if e.action == "capture.made"]


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("socks5://127.0.0.1:9050", "socks5h://127.0.0.1:9050"),
        ("SOCKS5://tor:9050", "socks5h://tor:9050"),
        ("socks5h://tor:9050", "socks5h://tor:9050"),
        ("http://proxy:3128", "http://proxy:3128"),
        (None, ""),
    ],
)
def test_yt_dlp_leaves_name_resolution_to_a_socks_proxy(given: str | None, used: str) -> None:
    assert _remote_names(given) == used


@pytest.mark.parametrize("proxy", ["socks4://127.0.0.1:9050", "ftp://proxy:21", "127.0.0.1:8080"])
@pytest.mark.parametrize("backend", ["sqlite"])  # refused before anything is recorded
def test_a_proxy_that_would_resolve_names_here_is_refused(
    backend: str, locker: Locker, proxy: str
) -> None:
    options = CaptureOptions(collector="tester", proxy=proxy)
    with pytest.raises(CaptureRefusedError, match="--proxy"):
        capture(locker, "https://example.invalid/", options)
