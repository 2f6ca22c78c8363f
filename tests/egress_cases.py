"""Captures without --allow-private-network or --proxy, the way a capture from the web app runs:
through the capture's own proxy (docket.capture.egress). Not collected by the suite: run by
tests/test_capture_egress.py inside a network namespace of its own, where the "outside" site
listens on a global address (PUBLIC, on that namespace's loopback: nobody's but the test's),
the "inside" site on 127.0.0.1, and /etc/hosts names both (velmora.test, inside.velmora.test).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_capture import blob, by_kind, warc_records
from web_site import Site, self_signed, serve

from docket.capture.guard import CaptureRefusedError
from docket.capture.run import Capture, CaptureOptions, capture
from docket.custody import log
from docket.locker import Locker
from docket.verify import verify

PUBLIC = os.environ["DOCKET_TEST_PUBLIC_ADDRESS"]
FROM_THE_APP = CaptureOptions(collector="tester", timeout=20)


@pytest.fixture
def outside(made: Site) -> Iterator[Site]:
    with serve(made.fresh(), host=PUBLIC) as served:
        yield served


@pytest.fixture
def inside(made: Site) -> Iterator[Site]:
    with serve(made.fresh()) as served:
        yield served


def reached(site: Site) -> tuple[list[str], int]:
    return site.paths(), site.connections


@contextmanager
def keeping_alive(answer: Callable[[str], tuple[str, bytes]]) -> Iterator[tuple[int, list[str]]]:
    """A server of an attacker's on PUBLIC that answers every request on a connection, keeps
    every connection open (HTTP/1.1 keep-alive) and never closes one first: (its port, the
    request lines it received). `answer` maps a request's target to (type, body)."""
    listener = socket.create_server((PUBLIC, 0))
    received: list[str] = []

    def serve(connection: socket.socket) -> None:
        with connection, connection.makefile("rb") as stream:
            while line := stream.readline():
                received.append(line.decode("latin-1").strip())
                while stream.readline() not in (b"\r\n", b"\n", b""):
                    pass
                kind, body = answer(line.split()[1].decode("latin-1"))
                head = (
                    f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}"
                    "\r\nConnection: keep-alive\r\n\r\n"
                )
                connection.sendall(head.encode() + body)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], received
    finally:
        listener.close()


def video_kept(locker: Locker, done: Capture) -> dict[str, bytes]:
    return {part.name: blob(locker, part.sha256) for part in done.parts if part.kind == "video"}


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("host", ["127.0.0.1", "inside.velmora.test"])
def test_nothing_a_page_does_reaches_inside(
    backend: str, locker: Locker, outside: Site, inside: Site, host: str
) -> None:
    """Redirected images, video and script fetches, a preconnect and a DNS prefetch: inside
    sees not one connection, and the capture names what it refused."""
    page = outside.url(f"/reach-inside.html?inside={host}:{inside.port}")
    done = capture(locker, page, FROM_THE_APP)
    assert done.status == 200
    assert reached(inside) == ([], 0)
    refused = " ".join(note for note in done.notes if note.startswith("not loaded:"))
    assert f"{host}:{inside.port}/img/chelsea.jpg" in refused
    assert f"{host}:{inside.port}/secret" in refused
    assert set(by_kind(done, "image")) == {outside.url("/img/astronaut.jpg")}
    assert by_kind(done, "video") == {}
    assert "/reach-inside.html" in outside.paths()
    [page_record] = [
        r
        for r in warc_records(blob(locker, done.wacz.sha256))
        if r.rec_type == "response" and r.rec_headers.get_header("WARC-Target-URI") == page
    ]
    assert page_record.rec_headers.get_header("WARC-IP-Address") == PUBLIC
    assert verify(locker).ok


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_page_that_redirects_inside_is_refused_and_records_nothing(
    backend: str, locker: Locker, outside: Site, inside: Site
) -> None:
    page = outside.url(f"/redirect-to?to=http://127.0.0.1:{inside.port}/gallery.html")
    with pytest.raises(CaptureRefusedError, match=f"127.0.0.1:{inside.port}/gallery.html"):
        capture(locker, page, FROM_THE_APP)
    assert reached(inside) == ([], 0)
    with locker.engine.connect() as conn:
        assert not [e for e in log.events(conn) if e.action == "capture.made"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_name_outside_over_https_is_captured_through_the_proxy_with_its_address(
    backend: str, locker: Locker, made: Site, inside: Site, tmp_path: Path
) -> None:
    """The tunnel (CONNECT) path: a site named in /etc/hosts, over TLS; its parts arrive and
    the WARC names the address the proxy connected to, not the proxy's."""
    cert, key, _der = self_signed(tmp_path / "tls")
    with serve(made.fresh(), tls=(cert, key), host=PUBLIC) as site:
        page = f"https://velmora.test:{site.port}/gallery.html"
        done = capture(locker, page, FROM_THE_APP)
    assert done.status == 200
    assert len(by_kind(done, "image")) == 3 and by_kind(done, "video")
    addresses = {
        r.rec_headers.get_header("WARC-IP-Address")
        for r in warc_records(blob(locker, done.wacz.sha256))
        if r.rec_type == "response"
    }
    assert addresses == {PUBLIC}
    assert reached(inside) == ([], 0)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_kept_alive_connection_never_carries_another_hosts_video(
    backend: str, locker: Locker, outside: Site
) -> None:
    """yt-dlp keeps one connection to the proxy for every host: the attacker's server, which
    keeps it open, would otherwise answer the request for another site's video with its own
    bytes, recorded under that site's URL."""
    honest = f"http://velmora.test:{outside.port}/clip.mp4"
    page = f'<!doctype html><title>Re-post</title><video src="{honest}"></video>'.encode()

    def answer(target: str) -> tuple[str, bytes]:
        if target.endswith("/page.html"):
            return "text/html", page
        return "video/mp4", b"forged " * 1000

    with keeping_alive(answer) as (port, received):
        done = capture(locker, f"http://velmora.test:{port}/page.html", FROM_THE_APP)
    assert not [line for line in received if "clip.mp4" in line]
    kept = video_kept(locker, done)
    assert kept == {honest: outside.video}, {url: len(data) for url, data in kept.items()}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_stream_whose_segments_point_inside_reaches_nothing(
    backend: str, locker: Locker, inside: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An encrypted HLS stream (yt-dlp would hand it to ffmpeg, which connects by itself, to
    an httpproxy:// segment too) and a plain one with a segment inside, with no_proxy set as
    containers set it: inside sees not one connection."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,169.254.169.254")
    key = hashlib.sha256(b"k").digest()[:16]
    encrypted = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="/key"\n#EXTINF:1.0,\n'
        f"httpproxy://127.0.0.1:{inside.port}/169.254.169.254:80.ts\n"
        "#EXTINF:1.0,\n/seg.ts\n#EXT-X-ENDLIST\n"
    )
    plain = (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n"
        f"http://127.0.0.1:{inside.port}/hls/segment.ts\n#EXTINF:1.0,\n/seg.ts\n"
        "#EXT-X-ENDLIST\n"
    )

    def page(stream: str) -> bytes:
        return (
            "<!doctype html><html><head><title>A stream</title></head><body>"
            f'<video controls src="{stream}"></video></body></html>'
        ).encode()

    pages = {
        "/enc.html": ("text/html", page("/enc.m3u8")),
        "/plain.html": ("text/html", page("/plain.m3u8")),
        "/seg.ts": ("video/mp2t", b"\x47" * 188 * 10),
        "/enc.m3u8": ("application/vnd.apple.mpegurl", encrypted.encode()),
        "/plain.m3u8": ("application/vnd.apple.mpegurl", plain.encode()),
        "/key": ("application/octet-stream", key),
    }
    with keeping_alive(lambda target: pages.get(target, ("text/plain", b"no"))) as (port, _):
        for path in ("/enc.html", "/plain.html"):
            done = capture(locker, f"http://{PUBLIC}:{port}{path}", FROM_THE_APP)
            assert not any("Unsupported URL" in note for note in done.notes)  # yt-dlp found it
            assert video_kept(locker, done) == {}
    assert reached(inside) == ([], 0)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_part_refused_while_the_page_never_finishes_does_not_refuse_the_page(
    backend: str, locker: Locker, outside: Site, inside: Site
) -> None:
    """An image inside and one that never comes: the page is kept as it stood at the
    deadline, the refused part noted; only the page's own address refused refuses it."""
    page = (
        f'<title>Half there</title><img src="http://127.0.0.1:{inside.port}/img/chelsea.jpg">'
        f'<img src="http://velmora.test:{outside.port}/hang.jpg">'
    ).encode()
    options = CaptureOptions(collector="tester", timeout=6)
    with keeping_alive(lambda _target: ("text/html", page)) as (port, _):
        done = capture(locker, f"http://velmora.test:{port}/", options)
    assert done.timed_out and done.status == 200
    assert any(f"127.0.0.1:{inside.port}/img/chelsea.jpg" in note for note in done.notes)
    refused_page = outside.url(f"/redirect-to?to=http://127.0.0.1:{inside.port}/")
    with pytest.raises(CaptureRefusedError):
        capture(locker, refused_page, options)
    assert reached(inside) == ([], 0)
