"""A local web site for the capture tests, served on 127.0.0.1 at a free port from a thread.

Its pages are made by code: a gallery of synthetic photographs (tests/media.py) with a srcset,
a lazily loaded picture and an MP4 made by ffmpeg; an HLS stream of the same clip; a redirect
chain; a 404; a page that never finishes loading, one whose video never comes, a very tall
one; a page whose script opens pop-ups and navigates away; a page whose parts point into this
machine's network; all of it over HTTPS with a self-signed certificate when asked. Every
request is logged with the port it came from, and the test proxy logs the ports of the
connections it makes, so a test can prove that nothing reached the site except through the
proxy. Nothing here is real evidence.
"""

from __future__ import annotations

import http.client
import ipaddress
import select
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from media import jpeg, sample, slideshow


def _gallery() -> bytes:
    return b"""<!doctype html><html><head><title>Gallery of the harbour</title></head><body>
<h1>Harbour gallery</h1>
<p>Photographs from the invented town of Velmora.</p>
<img id="first" src="/img/astronaut.jpg" width="200">
<img id="second" src="/img/coffee-small.jpg" width="200"
     srcset="/img/coffee-small.jpg 200w, /img/coffee-large.jpg 1200w" sizes="200px">
<video controls width="320" src="/clip.mp4"></video>
<a href="/redirect/1">next</a> <a href="https://example.invalid/elsewhere">away</a>
<div style="height: 4000px">spacer</div>
<img id="lazy" data-src="/img/chelsea.jpg" width="200" alt="lazy">
<script>
const lazy = document.getElementById('lazy');
new IntersectionObserver((seen, observer) => {
  if (seen[0].isIntersecting) { lazy.src = lazy.dataset.src; observer.disconnect(); }
}).observe(lazy);
</script>
</body></html>"""


_SLOW = b"""<!doctype html><html><head><title>Still loading</title></head><body>
<p>This page never finishes loading.</p><img src="/hang.jpg"></body></html>"""

_HUGE = b"""<!doctype html><html><head><title>An endless page</title></head><body>
<div style="height: 60000px; background: linear-gradient(#fff, #036)">a very tall page</div>
</body></html>"""

_REWRITES_ITS_ADDRESS = b"""<!doctype html><html><head><title>Moved, it says</title></head>
<body><p>This page names itself another address and never finishes loading.</p>
<script>history.replaceState(null, "", "/statement-retracted.html")</script>
<img src="/hang.jpg"></body></html>"""
# Parts that reach into the capturing machine's network past their first hop: redirects, a
# script's fetch through a redirect, a preconnect and a DNS prefetch. INSIDE: a host:port there.
_REACH_INSIDE = b"""<!doctype html><html><head><title>Reaching inside</title>
<link rel="preconnect" href="http://INSIDE"><link rel="dns-prefetch" href="http://INSIDE">
</head><body><p>A page that sends its parts inside by redirects.</p>
<img src="/img/astronaut.jpg" width="100">
<img src="/redirect-to?to=http://INSIDE/img/chelsea.jpg" width="100">
<video controls src="/redirect-to?to=http://INSIDE/clip.mp4"></video>
<script>fetch("/redirect-to?to=http://INSIDE/secret").then(r => r.text())
  .then(t => fetch("/redirect-to?to=http://INSIDE/exfiltrated")).catch(() => {});</script>
</body></html>"""

_STUCK_VIDEO = b"""<!doctype html><html><head><title>A video that never comes</title></head>
<body><video controls src="/hang.mp4"></video></body></html>"""

_RESTLESS = b"""<!doctype html><html><head><title>Restless page</title></head><body>
<p>A page that opens pop-ups and leaves.</p><img src="/img/astronaut.jpg" width="100">
<script>
window.open('/popup-target.html', '_blank');
setTimeout(() => { location.href = '/elsewhere.html'; }, 50);
</script></body></html>"""

_STREAM = b"""<!doctype html><html><head><title>A stream</title></head><body>
<video controls width="320" src="/hls/stream.m3u8"></video></body></html>"""

_PROBE = b"""<!doctype html><html><head><title>A probing page</title></head><body>
<p>A page whose parts point into the capturing machine's own network.</p>
<img src="/img/astronaut.jpg" width="100">
<img src="http://127.0.0.1:PORT/img/chelsea.jpg" width="100">
<img src="http://10.0.0.1/router.png" width="100">
<iframe src="http://[::1]:PORT/gallery.html"></iframe>
<script>
fetch('http://169.254.169.254/latest/meta-data/').catch(() => {});
try { new WebSocket('ws://127.0.0.1:PORT/socket'); } catch (e) {}
try { new SharedWorker('/shared-worker.js'); } catch (e) {}
</script></body></html>"""

# A shared worker's requests pass by the browser's route (Playwright never sees them).
_SHARED_WORKER = b"fetch('http://127.0.0.1:PORT/from-shared-worker').catch(() => {});"

_NOTICE = b"""<!doctype html><html><head><title>Harbour notice</title></head><body>
<h1>Notice of the Velmora harbour council</h1>
<p id="notice">The east quay closes at dusk until further notice.</p>
<img src="/img/astronaut.jpg" width="100"></body></html>"""

_BANNER = b"""<!doctype html><html><head><title>Harbour timetable</title></head><body>
<h1>Ferry timetable</h1><p>Boats leave the east quay every hour.</p>
<div id="banner" style="position:fixed;left:0;right:0;bottom:0;height:300px;background:#f00">
<p>We use cookies to count visitors.</p><button id="more">Settings</button>
<button onclick="document.getElementById('banner').remove()">Accept all</button></div>
</body></html>"""

_FRAMED_BANNER = b"""<!doctype html><html><head><title>Harbour fares</title></head><body>
<h1>Fares</h1><p>A crossing costs four invented crowns.</p>
<iframe id="cmp" src="/cmp.html" style="position:fixed;left:0;bottom:0;width:100%;height:300px;
border:0"></iframe>
<script>addEventListener('message', e => { if (e.data === 'consented')
  document.getElementById('cmp').remove(); });</script></body></html>"""

# Frames the browser never lets load (a local file, a browser page) have no document to search:
# the banner's frame comes after them.
_BANNER_BEHIND_BLOCKED_FRAMES = _FRAMED_BANNER.replace(
    b'<iframe id="cmp"',
    b'<iframe src="file:///etc/passwd"></iframe><iframe src="chrome://settings"></iframe>'
    b'<iframe id="cmp"',
)

_CMP = b"""<!doctype html><html><body style="background:#f00;margin:0">
<p>Your choices about cookies.</p>
<button id="onetrust-accept-btn-handler" onclick="parent.postMessage('consented', '*')">
Fine by me</button></body></html>"""

_SIMPLE = b"""<!doctype html><html><head><title>%s</title></head><body><p>%s</p></body></html>"""


@dataclass
class Site:
    """What the site serves and what it was asked for."""

    folder: Path
    images: dict[str, bytes] = field(default_factory=dict)
    video: bytes = b""
    hls: dict[str, bytes] = field(default_factory=dict)  # the playlist and its segments
    requests: list[tuple[str, int]] = field(default_factory=list)  # (path, client's port)
    cookies: list[tuple[str, str]] = field(default_factory=list)  # (path, Cookie header sent)
    stop: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    scheme: str = "http"
    host: str = "127.0.0.1"
    connections: int = 0  # TCP connections accepted, a request sent on them or not

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def fresh(self) -> Site:
        """The same pages, with nothing asked yet, to serve again."""
        return Site(self.folder, self.images, self.video, self.hls)

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


def make_site(folder: Path) -> Site:
    site = Site(folder)
    site.images = {
        "astronaut.jpg": jpeg(sample("astronaut").resize((320, 320))),
        "coffee-small.jpg": jpeg(sample("coffee").resize((200, 133))),
        "coffee-large.jpg": jpeg(sample("coffee")),
        "chelsea.jpg": jpeg(sample("chelsea")),
    }
    clip = slideshow(folder / "video", ["horse", "rocket"], seconds=1.0)
    site.video = clip.read_bytes()
    stream = folder / "hls"
    stream.mkdir()
    subprocess.run(
        [
            *("ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-c", "copy", "-f", "hls"),
            *("-hls_time", "1", "-hls_playlist_type", "vod", str(stream / "stream.m3u8")),
        ],
        check=True,
        timeout=120,
    )
    site.hls = {path.name: path.read_bytes() for path in stream.iterdir()}
    return site


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None: ...

        def setup(self) -> None:
            site.connections += 1
            super().setup()

        def send(self, status: int, body: bytes, kind: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path, query = urlsplit(self.path).path, parse_qs(urlsplit(self.path).query)
            site.requests.append((path, self.client_address[1]))
            site.cookies.append((path, self.headers.get("Cookie", "")))
            html = "text/html; charset=utf-8"
            if path == "/gallery.html":
                self.send(200, _gallery(), html)
            elif path.startswith("/img/") and path[5:] in site.images:
                self.send(200, site.images[path[5:]], "image/jpeg")
            elif path == "/stream.html":
                self.send(200, _STREAM, html)
            elif path.startswith("/hls/") and path[5:] in site.hls:
                kind = "application/vnd.apple.mpegurl" if path.endswith(".m3u8") else "video/mp2t"
                self.send(200, site.hls[path[5:]], kind)
            elif path == "/clip.mp4":
                self.send(200, site.video, "video/mp4")
            elif path == "/redirect/1":
                self.send(301, b"", html, Location="/redirect/2")
            elif path == "/redirect-to":  # an open redirect, as many sites have
                self.send(302, b"", html, Location=query["to"][0])
            elif path == "/reach-inside.html":
                self.send(200, _REACH_INSIDE.replace(b"INSIDE", query["inside"][0].encode()), html)
            elif path == "/redirect/2":
                self.send(302, b"", html, Location=site.url("/gallery.html"))
            elif path == "/probe.html":
                self.send(200, _PROBE.replace(b"PORT", str(site.port).encode()), html)
            elif path == "/sign-in.html":  # a site that signs its visitor in with a cookie
                page = _SIMPLE % (b"Signed in", b"Welcome back, member.")
                self.send(200, page, html, Set_Cookie="member=velmora-7; Max-Age=86400; Path=/")
            elif path == "/members.html":
                self.send(200, _SIMPLE % (b"Members", b"Members' notices."), html)
            elif path == "/banner.html":
                self.send(200, _BANNER, html)
            elif path == "/framed-banner.html":
                self.send(200, _FRAMED_BANNER, html)
            elif path == "/banner-behind-blocked-frames.html":
                self.send(200, _BANNER_BEHIND_BLOCKED_FRAMES, html)
            elif path == "/cmp.html":
                self.send(200, _CMP, html)
            elif path == "/notice.html":
                self.send(200, _NOTICE, html)
            elif path == "/slow.html":
                self.send(200, _SLOW, html)
            elif path == "/shared-worker.js":
                worker = _SHARED_WORKER.replace(b"PORT", str(site.port).encode())
                self.send(200, worker, "text/javascript")
            elif path == "/rewrites-its-address.html":
                self.send(200, _REWRITES_ITS_ADDRESS, html)
            elif path == "/huge.html":
                self.send(200, _HUGE, html)
            elif path == "/stuck-video.html":
                self.send(200, _STUCK_VIDEO, html)
            elif path in ("/hang.jpg", "/hang.mp4"):
                site.stop.wait(120)  # never answers while the test runs
            elif path == "/restless.html":
                self.send(200, _RESTLESS, html)
            elif path in ("/popup-target.html", "/elsewhere.html"):
                self.send(200, _SIMPLE % (b"Elsewhere", b"Not the page asked for."), html)
            else:
                self.send(404, _SIMPLE % (b"Not found", b"No such page here."), html)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def self_signed(folder: Path) -> tuple[Path, Path, bytes]:
    """A certificate for 127.0.0.1 signed by its own key: (certificate, key, its DER bytes)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "velmora.invalid")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path, cert.public_bytes(serialization.Encoding.DER)


@contextmanager
def serve(
    site: Site, tls: tuple[Path, Path] | None = None, host: str = "127.0.0.1"
) -> Iterator[Site]:
    """Serve `site` on `host` (over HTTPS with `tls`: a certificate and its key)."""
    site.host = host
    server = _Server((host, 0), _handler(site))
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        site.scheme = "https"
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.stop.set()
        server.shutdown()
        server.server_close()


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """An ASGI app (Docket's web app) on a free loopback port, for as long as the block runs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Proxy:
    """`hosts` maps invented names to 127.0.0.1, as a resolver past the proxy would."""

    hosts: dict[str, str] = field(default_factory=dict)
    port: int = 0
    ports: set[int] = field(default_factory=set)  # local ports of its upstream connections
    forwarded: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _pipe(one: socket.socket, other: socket.socket) -> None:
    sockets = [one, other]
    while True:
        ready, _, _ = select.select(sockets, [], [], 30)
        if not ready:
            return
        for sock in ready:
            data = sock.recv(65536)
            if not data:
                return
            (other if sock is one else one).sendall(data)


def _proxy_handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None: ...

        def do_CONNECT(self) -> None:
            host, _, port = self.path.rpartition(":")
            proxy.forwarded.append(f"CONNECT {self.path}")
            address = (proxy.hosts.get(host, host), int(port))
            with socket.create_connection(address, timeout=30) as upstream:
                proxy.ports.add(upstream.getsockname()[1])
                self.send_response(200, "Connection established")
                self.end_headers()
                _pipe(self.connection, upstream)
            self.close_connection = True

        def do_GET(self) -> None:
            target = urlsplit(self.path)
            proxy.forwarded.append(self.path)
            host = target.hostname or ""
            upstream = http.client.HTTPConnection(
                proxy.hosts.get(host, host), target.port, timeout=30
            )
            upstream.connect()
            assert upstream.sock is not None
            proxy.ports.add(upstream.sock.getsockname()[1])
            headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request("GET", path, headers=headers)
            answer = upstream.getresponse()
            body = answer.read()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            upstream.close()

    return Handler


@contextmanager
def serve_proxy(hosts: dict[str, str] | None = None) -> Iterator[Proxy]:
    """A tiny forwarding HTTP proxy (GET and CONNECT) that notes each connection it makes."""
    proxy = Proxy(hosts or {})
    server = _Server(("127.0.0.1", 0), _proxy_handler(proxy))
    proxy.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
