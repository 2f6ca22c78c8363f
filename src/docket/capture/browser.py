"""Loading one page in a real, headless Chromium (Debian's, driven by Playwright).

The browser is the parser of everything the page sends, so it runs as its own process with a
fresh profile and home folder in the capture's scratch folder (never the user's), no service
workers, no downloads, and a deadline. Every request it makes passes the guard; after the
first navigation the page may not take the tab elsewhere (it is answered 204 No Content, so
the tab stays), and pop-ups are refused (each attempt is noted). Page scripts run in
Chromium's renderers, inside Chromium's sandbox unless Docket runs as root (Chromium cannot
sandbox itself as root: run captures as an ordinary user), and see nothing of the locker:
what leaves the browser is bytes this module hands to `sink`, counted against the size cap.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urljoin

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import (
    Page,
    Request,
    Response,
    Route,
    WebSocketRoute,
    sync_playwright,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from docket.capture import consent
from docket.capture.egress import Egress
from docket.capture.guard import CaptureRefusedError, Guard, proxy_for_browser
from docket.capture.tls import Observer
from docket.errors import DocketError

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}
SCROLL_STEPS = 40
MAX_TEXT = 1_000_000
MAX_LINKS = 2_000
MAX_REDIRECTS = 10
MAX_SHOT_HEIGHT = 20_000  # pixels of a full-page screenshot


class CaptureError(DocketError):
    """A page could not be captured (unreachable, nothing arrived before the deadline)."""


@dataclass(frozen=True)
class Exchange:
    """One request and its response, as the browser saw them (body None: none was kept)."""

    url: str
    method: str
    request_headers: dict[str, str]
    request_body: bytes | None
    status: int
    status_text: str
    response_headers: list[tuple[str, str]]
    body: bytes | None
    server_ip: str | None
    server_port: int | None
    tls: dict[str, Any] | None
    time: float


@dataclass
class Loaded:
    """What one page load gave besides its exchanges."""

    url: str
    final_url: str = ""
    status: int | None = None
    title: str = ""
    text: str = ""
    links: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)
    screenshot: bytes = b""
    pdf: bytes = b""
    user_agent: str = ""
    browser_version: str = ""
    notes: list[str] = field(default_factory=list)
    timed_out: bool = False
    bytes_kept: int = 0
    tls: dict[str, Any] | None = None  # the page's own connection (tls.py), None for http


@dataclass(frozen=True)
class Settings:
    timeout: float = 60.0
    max_bytes: int = 512 * 1024 * 1024
    proxy: str | None = None
    profile: Path | None = None  # a kept profile (docket.capture.profiles); else a fresh one
    egress: Egress | None = None  # the capture's own proxy, when it has no --proxy

    @property
    def browser_proxy(self) -> str | None:
        return self.egress.url if self.egress is not None else self.proxy


_SCROLL = """async (steps) => {
  for (let i = 0; i < steps; i++) {
    const before = document.scrollingElement ? document.scrollingElement.scrollHeight : 0;
    window.scrollBy(0, window.innerHeight);
    await new Promise(r => setTimeout(r, 150));
    const el = document.scrollingElement;
    if (!el || (window.scrollY + window.innerHeight >= el.scrollHeight
                && el.scrollHeight === before)) break;
  }
  window.scrollTo(0, 0);
}"""

_INSPECT = """(limits) => {
  const abs = (u) => {
    try { return new URL(u, document.baseURI).href; } catch (e) { return null; }
  };
  const largest = (el) => {
    let best = el.currentSrc || el.src || null, width = 0;
    const set = el.getAttribute('srcset') || '';
    for (const part of set.split(',')) {
      const bits = part.trim().split(/\\s+/);
      if (!bits[0]) continue;
      const w = parseFloat(bits[1] || '1') * (bits[1] && bits[1].endsWith('x') ? 1000 : 1);
      if (w > width) { width = w; best = bits[0]; }
    }
    return best ? abs(best) : null;
  };
  const images = [];
  for (const img of document.images) images.push(largest(img));
  for (const s of document.querySelectorAll('picture source[srcset]')) images.push(largest(s));
  const videos = [];
  for (const v of document.querySelectorAll('video, audio')) {
    if (v.currentSrc || v.src) videos.push(abs(v.currentSrc || v.src));
    for (const s of v.querySelectorAll('source[src]')) videos.push(abs(s.getAttribute('src')));
  }
  const links = [];
  for (const a of document.querySelectorAll('a[href]')) {
    if (links.length >= limits.links) break;
    links.push(abs(a.getAttribute('href')));
  }
  const body = document.body ? document.body.innerText : '';
  return {title: document.title || '', text: body.slice(0, limits.text),
          images: images.filter(Boolean), videos: videos.filter(Boolean),
          links: links.filter(Boolean)};
}"""


def _unique(urls: list[str]) -> list[str]:
    return list(dict.fromkeys(u for u in urls if u.startswith(("http://", "https://"))))


class _Recorder:
    """Collects responses while the page loads; their bodies are read once it has settled."""

    def __init__(self, guard: Guard, settings: Settings, loaded: Loaded) -> None:
        self.guard = guard
        self.settings = settings
        self.loaded = loaded
        self.page: Page | None = None
        self.observer: Observer | None = None
        self.main: Response | None = None
        self.navigated = False
        self.responses: list[Response] = []
        self.finished: set[Request] = set()
        self.refused: list[str] = []
        self.kept_from: set[Request] = set()  # navigations answered 204 here, not by a server
        self.main_refused = ""  # why the page's own first navigation was refused, if it was

    def on_response(self, response: Response) -> None:
        self.responses.append(response)

    def on_finished(self, request: Request) -> None:
        self.finished.add(request)

    def web_socket(self, socket: WebSocketRoute) -> None:
        """A WebSocket reaches its server only past the guard (its messages are not archived)."""
        if self.guard.allows(socket.url):
            socket.connect_to_server()
        else:
            self.refused.append(f"{socket.url[:200]}: refused by the guard (a WebSocket)")
            socket.close()

    def route(self, route: Route, request: Request) -> None:
        url = request.url
        try:
            self.guard.check(url)
        except CaptureRefusedError as exc:
            self.refused.append(str(exc))
            if not self.navigated and _main_navigation(request, self.page):
                self.main_refused = str(exc)
            route.abort("blockedbyclient")
            return
        if request.is_navigation_request():
            page = _page_of(request)
            if page is None or page is not self.page:
                self.loaded.notes.append(f"a pop-up to {url[:200]} was refused")
                route.abort("blockedbyclient")
                return
            if request.frame.parent_frame is None:
                if self.navigated:
                    self.loaded.notes.append(
                        f"the page tried to go to {url[:200]}; it was kept where it was"
                    )
                    self.kept_from.add(request)
                    route.fulfill(status=204)  # No Content: the tab stays on its page
                    return
                self.navigated = True
        route.continue_()

    def bodies(self, sink: Callable[[Exchange], None]) -> None:
        """Hand every response to `sink`, with its body when it finished within the cap."""
        for response in self.responses:
            request = response.request
            if request in self.kept_from:
                continue  # answered by the route, not by a server: nothing of the site's
            body = self._body(response, request)
            try:
                server = self._server(response)
                details = response.security_details()
                headers = response.headers_array()
                request_headers = request.all_headers()
                tls = self.observer.describe(response.url, details) if self.observer else None
            except PlaywrightError:
                continue  # the page closed under it: nothing reliable to record
            if response is self.main:
                self.loaded.tls = tls
            self.guard.check_server(response.url, server["ipAddress"] if server else None)
            sink(
                Exchange(
                    url=response.url,
                    method=request.method,
                    request_headers=request_headers,
                    request_body=request.post_data_buffer,
                    status=response.status,
                    status_text=response.status_text,
                    response_headers=[(h["name"], h["value"]) for h in headers],
                    body=body,
                    server_ip=server["ipAddress"] if server else None,
                    server_port=server["port"] if server else None,
                    tls=tls,
                    time=_start_time(request),
                )
            )

    def _server(self, response: Response) -> dict[str, Any] | None:
        """Where the response came from: through the capture's own proxy, the address that
        proxy connected to (the browser knows only the proxy's)."""
        if self.settings.egress is None:
            return dict(response.server_addr() or {}) or None
        server = self.settings.egress.server(response.url)
        return {"ipAddress": server[0], "port": server[1]} if server else None

    def _body(self, response: Response, request: Request) -> bytes | None:
        if 300 <= response.status < 400 or request not in self.finished:
            return None
        declared = response.headers.get("content-length", "")
        room = self.settings.max_bytes - self.loaded.bytes_kept
        if declared.isascii() and declared.isdigit() and int(declared) > room:
            self.over_cap(response.url)
            return None
        try:
            body = response.body()
        except PlaywrightError:
            return None
        if len(body) > room:
            self.over_cap(response.url)
            return None
        self.loaded.bytes_kept += len(body)
        return body

    def over_cap(self, url: str) -> None:
        self.loaded.notes.append(
            f"{url[:200]}: body not kept: the capture's size cap of "
            f"{self.settings.max_bytes // (1024 * 1024)} MB was reached"
        )


def _main_navigation(request: Request, page: Page | None) -> bool:
    """Whether `request` takes the captured tab itself somewhere (not a frame, not a pop-up)."""
    try:
        return (
            request.is_navigation_request()
            and _page_of(request) is page
            and request.frame.parent_frame is None
        )
    except PlaywrightError:
        return False


def _page_of(request: Request) -> Page | None:
    try:
        return request.frame.page
    except PlaywrightError:
        return None  # a service worker's request has no frame


def _start_time(request: Request) -> float:
    timing = request.timing
    start = timing.get("startTime", -1)
    return start / 1000 if start and start > 0 else time.time()


@contextlib.contextmanager
def _browser(work: Path, settings: Settings) -> Iterator[Any]:
    profile = settings.profile
    if profile is None:
        profile = work / "profile"
        profile.mkdir()
    # Not TMPDIR: Chromium's singleton socket lives there and a Unix socket's path is short.
    env: dict[str, str | float | bool] = {**os.environ, "HOME": str(work)}
    proxy = None
    if settings.browser_proxy is not None:  # loopback too goes through it, never around it
        proxy = {"server": proxy_for_browser(settings.browser_proxy), "bypass": "<-loopback>"}
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            # Chromium's own sandbox, except as root, where Chromium cannot sandbox itself.
            chromium_sandbox=os.geteuid() != 0,
            env=env,
            proxy=proxy,  # type: ignore[arg-type]
            args=[
                # WebRTC may not open UDP around the proxy (it would reveal the address).
                "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
                # A shared worker's requests pass by the context's route, and so the guard:
                # one made by a captured page fetched 127.0.0.1 unchecked. No page needs one
                # to be seen as it stood.
                "--disable-shared-workers",
                # The browser's own traffic (component updates, field trials) is not the
                # page's: it would leave from here, and be noted as the page's.
                "--disable-background-networking",
                "--disable-component-update",
                *(["--proxy-bypass-list=<-loopback>"] if settings.browser_proxy else []),
            ],
            viewport=VIEWPORT,  # type: ignore[arg-type]
            accept_downloads=False,
            service_workers="block",
            ignore_https_errors=True,
            downloads_path=str(work),
        )
        try:
            yield context
        finally:
            context.close()


def load(
    url: str, work: Path, guard: Guard, settings: Settings, sink: Callable[[Exchange], None]
) -> Loaded:
    """Load `url`, scroll it, print it; hand each exchange to `sink`. A page that never
    finishes loading is kept as it stood at the deadline, and `timed_out` says so. Whatever
    the page makes the browser do (crash, hang a print) ends as one CaptureError line."""
    guard.check(url)
    loaded = Loaded(url)
    try:
        _load(url, work, _Recorder(guard, settings, loaded), sink)
    except PlaywrightError as exc:
        raise CaptureError(f"{url[:200]}: the browser failed: {_first_line(exc)}") from exc
    return loaded


def _load(url: str, work: Path, recorder: _Recorder, sink: Callable[[Exchange], None]) -> None:
    loaded, guard, settings = recorder.loaded, recorder.guard, recorder.settings
    deadline = time.monotonic() + settings.timeout
    with _browser(work, settings) as context:
        loaded.browser_version = context.browser.version if context.browser else ""
        context.route("**/*", recorder.route)
        context.route_web_socket("**/*", recorder.web_socket)
        context.on("response", recorder.on_response)
        context.on("requestfinished", recorder.on_finished)
        popups: list[Page] = []
        page = context.pages[0] if context.pages else context.new_page()
        recorder.page = page
        recorder.observer = Observer(context.new_cdp_session(page))
        context.on("page", lambda popup: popups.append(popup))
        main: Response | None = None
        try:
            main = page.goto(url, wait_until="load", timeout=settings.timeout * 1000)
        except PlaywrightTimeout:
            loaded.timed_out = True
            loaded.notes.append(
                f"the page did not finish loading within {settings.timeout:g} s; "
                "captured what had arrived by then"
            )
        except PlaywrightError as exc:
            _cannot_load(url, exc, settings.egress)
        recorder.main = main
        if recorder.main_refused and main is None:  # not a part's refusal: the page's own
            raise CaptureRefusedError(recorder.main_refused)
        _settle(page, deadline, loaded)
        clicked = consent.dismiss(page)
        if clicked is not None:
            loaded.notes.append(f"clicked the cookie banner's button {clicked!r} before the shots")
        loaded.user_agent = str(page.evaluate("navigator.userAgent"))
        _inspect(page, loaded)
        loaded.screenshot = _screenshot(page, deadline, loaded)
        loaded.pdf = page.pdf(print_background=True)
        # The URL of the page's last navigation response, never page.url, which the page's
        # own script sets (history.replaceState) to an address that was never fetched.
        arrived = main if main is not None else _main_response(recorder, page)
        if arrived is None:
            raise CaptureError(f"{url[:200]}: nothing arrived within {settings.timeout:g} s")
        loaded.final_url, loaded.status = arrived.url, arrived.status
        for popup in popups:
            with contextlib.suppress(PlaywrightError):
                popup.close()
        recorder.bodies(sink)
        seen = {response.url for response in recorder.responses if response.status == 200}
        for image in loaded.images:
            if image not in seen:
                fetched = _fetch(context, image, guard, recorder)
                if fetched is not None:
                    sink(fetched)
    egress = settings.egress.refused if settings.egress is not None else []
    refused = dict.fromkeys([*recorder.refused, *egress])
    loaded.notes.extend(f"not loaded: {reason}" for reason in refused)


def _cannot_load(url: str, exc: PlaywrightError, egress: Egress | None) -> NoReturn:
    """The page itself did not load: through the capture's own proxy, the proxy says why
    (the browser only saw a connection closed or a tunnel refused)."""
    if egress is not None and egress.refused:
        raise CaptureRefusedError(egress.refused[-1]) from exc
    why = f" ({egress.problems[-1]})" if egress is not None and egress.problems else ""
    raise CaptureError(f"{url[:200]}: cannot load: {_first_line(exc)}{why}") from exc


def _fetch(context: Any, url: str, guard: Guard, recorder: _Recorder) -> Exchange | None:
    """An image at the full resolution its srcset offers, when the browser chose a smaller
    one: fetched by the browser's own HTTP client (same proxy, cookies and user agent), each
    redirect put to the guard."""
    for _hop in range(MAX_REDIRECTS):
        if not guard.allows(url):
            recorder.loaded.notes.append(f"{url[:200]}: not fetched: refused by the guard")
            return None
        try:
            response = context.request.get(
                url, max_redirects=0, timeout=recorder.settings.timeout * 1000
            )
        except PlaywrightError as exc:
            recorder.loaded.notes.append(f"{url[:200]}: not fetched: {_first_line(exc)}")
            return None
        location = response.headers.get("location")
        if 300 <= response.status < 400 and location:
            url = urljoin(url, location)
            continue
        body = response.body()
        if len(body) > recorder.settings.max_bytes - recorder.loaded.bytes_kept:
            recorder.over_cap(url)
            return None
        recorder.loaded.bytes_kept += len(body)
        headers = response.headers_array
        egress = recorder.settings.egress
        server = egress.server(url) if egress is not None else None  # else unknown here
        return Exchange(
            url=url,
            method="GET",
            request_headers={},
            request_body=None,
            status=response.status,
            status_text=response.status_text,
            response_headers=[(h["name"], h["value"]) for h in headers],
            body=body,
            server_ip=server[0] if server else None,
            server_port=server[1] if server else None,
            tls=None,
            time=time.time(),
        )
    recorder.loaded.notes.append(f"{url[:200]}: not fetched: more than {MAX_REDIRECTS} redirects")
    return None


def _left(deadline: float, floor: float) -> float:
    """Milliseconds for a step: what is left of the deadline, but at least `floor` seconds
    (a page past its deadline is still photographed and printed)."""
    return max(deadline - time.monotonic(), floor) * 1000


def _screenshot(page: Page, deadline: float, loaded: Loaded) -> bytes:
    """The whole page, or its top MAX_SHOT_HEIGHT pixels when it is taller (a page can be made
    endless; the print and the WARC still hold all of it)."""
    height = int(page.evaluate("document.documentElement.scrollHeight || 0"))
    if height <= MAX_SHOT_HEIGHT:
        return page.screenshot(full_page=True, timeout=_left(deadline, 30))
    loaded.notes.append(
        f"the screenshot shows the top {MAX_SHOT_HEIGHT} px of a page {height} px tall"
    )
    clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": MAX_SHOT_HEIGHT}
    return page.screenshot(
        full_page=True,
        clip=clip,  # type: ignore[arg-type]
        timeout=_left(deadline, 30),
    )


def _settle(page: Page, deadline: float, loaded: Loaded) -> None:
    """Scroll to the bottom and back so that lazy content loads, then let the network calm."""
    try:
        page.evaluate(_SCROLL, SCROLL_STEPS)
        remaining = deadline - time.monotonic()
        if remaining > 0:
            page.wait_for_load_state("networkidle", timeout=min(remaining, 5) * 1000)
    except PlaywrightTimeout:
        pass  # a page that keeps talking is kept as it stands
    except PlaywrightError as exc:
        loaded.notes.append(f"scrolling stopped: {_first_line(exc)}")


def _inspect(page: Page, loaded: Loaded) -> None:
    found = page.evaluate(_INSPECT, {"links": MAX_LINKS, "text": MAX_TEXT})
    loaded.title = str(found["title"])
    loaded.text = str(found["text"])
    loaded.links = _unique(found["links"])
    loaded.images = _unique(found["images"])
    loaded.videos = _unique(found["videos"])


def _main_response(recorder: _Recorder, page: Page) -> Response | None:
    for response in reversed(recorder.responses):
        request = response.request
        if request in recorder.kept_from:
            continue  # the page's attempt to leave, answered 204 by the route: never arrived
        if request.is_navigation_request() and _page_of(request) is page:
            return response
    return None


def _first_line(exc: BaseException) -> str:
    """The browser's reason, without Playwright's name of the call ("Page.goto: ")."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return re.sub(r"^\w+\.\w+: ", "", line)
