"""Every page of the web app checked by axe-core in a real browser (Debian's Chromium through
Playwright, the app on loopback): in English and in Arabic (right to left), at a phone's
width (390 px) and a laptop's (1366 px), no violation axe rates serious or critical.

axe-core is fetched by `make axe` (vendor/axe-core, pinned and checked against the npm
registry's integrity) and injected by the test, through the browser's debugging protocol:
the pages keep their own strict Content-Security-Policy, which allows no script but theirs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import take
from media import jpeg, sample, slideshow
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import select
from test_web_browser import CHROMIUM, FLAGS
from web_site import make_site, serve, serve_app, serve_proxy

from docket import accounts, incidents, saved_searches
from docket.aids.results import item_media_type, pending
from docket.aids.steps import verification_steps
from docket.analyse.batch import run_step
from docket.capture.run import CaptureOptions, capture
from docket.catalogue import queries, schema
from docket.locker import Locker
from docket.web.app import create_app
from docket.web.capture_routes import PROXY_VARIABLE
from docket.web.replay_origin import create_replay_app

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make system installs it)"
)
AXE = Path(__file__).parent.parent / "vendor" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery"
LANGUAGES = ("en", "ar")
WIDTHS = (390, 1366)
SERIOUS = ("serious", "critical")

# axe's violations of the page, each with the elements it found them on.
RUN_AXE = """async () => {
  // the replayed page's frame holds what a web site served, not a page of Docket's
  const found = await axe.run(document, {resultTypes: ['violations'], iframes: false});
  return found.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(' ')),
  }));
}"""


def _axe_source() -> str:
    assert AXE.is_file(), f"{AXE}: missing; `make axe` fetches axe-core (the accessibility check)"
    return AXE.read_text()


def _run_aids(locker: Locker, item: str) -> None:
    """The verification aids run on request (as `docket aids` runs them)."""
    with locker.engine.connect() as conn:
        kind, due = item_media_type(conn, item), pending(conn, item)
    for step in verification_steps():
        if step.name in due:
            assert run_step(locker, item, kind, step, "ada").error is None, step.name


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Case North with a picture, a video, a captured web page, an incident and a saved
    search; ada, an admin, reaches every page. The app runs with its replay origin, and
    captures from the web app go through a proxy that names the test's web site."""
    tmp = tmp_path_factory.mktemp("a11y")
    with (
        Locker.create(tmp / "locker") as locker,
        serve(make_site(tmp / "site")) as web,
        serve_proxy({"velmora.test": "127.0.0.1"}) as proxy,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv(PROXY_VARIABLE, proxy.url)
        picture = tmp / "market.jpg"
        picture.write_bytes(jpeg(sample("chelsea")))
        shown = take(locker, picture, case="North").outcomes[0].sha256
        assert shown is not None
        _run_aids(locker, shown)  # its error-level picture, on the item page
        upload = tmp / "upload" / "rocket.jpg"
        upload.parent.mkdir()
        upload.write_bytes(jpeg(sample("rocket")))
        take(locker, slideshow(tmp / "video", ["astronaut", "coffee"], 1.0), case="North")
        options = CaptureOptions(
            collector="ada", case="North", allow_private_network=True, timeout=20
        )
        wacz = capture(locker, web.url("/notice.html"), options).wacz.sha256
        with locker.engine.connect() as conn, conn.begin():
            ada = accounts.create_user(conn, "setup", "ada", PASSWORD, "admin")
            case = int(conn.execute(select(schema.cases.c.id)).scalar_one())
            title = "مداهمة السوق الشرقي 01-03-2024"
            incident = incidents.record(
                conn, "ada", case, incidents.Incident(title=title, occurred_from="2024-03-01")
            )
            saved_searches.save(conn, ada, case, "graphic ones", "flag=graphic")
            names = {
                r["name"].rsplit("/", 1)[-1]: r["sha256"] for r in queries.list_items(conn, "North")
            }
        with (
            serve_app(create_replay_app(locker, ["127.0.0.1"])) as replay,
            serve_app(create_app(locker, replay_origin=replay)) as url,
        ):
            yield {
                "url": url,
                "case": case,
                "incident": incident,
                "user": ada.id,
                "picture": names["market.jpg"],
                "video": names["slideshow.mp4"],
                "wacz": wacz,
                "upload": upload,
                "capture": f"http://velmora.test:{web.port}/notice.html",
            }


@pytest.fixture(scope="module")
def browser(site: dict[str, Any]) -> Iterator[tuple[Browser, Any]]:
    """Chromium, and ada's signed-in session (its cookies) for each test's pages."""
    with sync_playwright() as playwright:
        assert CHROMIUM is not None
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = launched.new_page()
        _sign_in(page, site["url"])
        state = page.context.storage_state()
        page.close()
        yield launched, state
        launched.close()


def _sign_in(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.locator("input[name=name]").fill("ada")
    page.locator("input[name=password]").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/")


def _reveal(page: Page, url: str, item: str, case: int) -> None:
    page.goto(f"{url}/items/{item}?case={case}")
    with page.expect_navigation():
        page.locator("form[action*='/reveal'] button").first.click()


def _reveal_error_levels(page: Page, url: str, s: dict[str, Any]) -> None:
    page.goto(f"{url}/items/{s['picture']}?case={s['case']}")
    assert page.locator("figure.error-levels").count() == 1  # the aids ran
    with page.expect_navigation():
        page.locator("form[action*='/error-levels/reveal'] button").click()


def _shadow(page: Page, url: str, item: str, case: int) -> None:
    marks = "base=100,300&top=100,100&tip=260,300&lat=33.5&lon=36.3&date=2024-03-01"
    page.goto(f"{url}/items/{item}/shadow?{marks}&at=2024-03-01T09:30:00%2B02:00&case={case}")


def _upload(page: Page, url: str, case: int, picture: Path) -> None:
    page.goto(f"{url}/cases/{case}")
    page.set_input_files("input[type=file]", str(picture))
    with page.expect_navigation():
        page.locator("form[action$='/upload'] button").click()


def _capture(page: Page, url: str, case: int, address: str) -> None:
    page.goto(f"{url}/cases/{case}/capture")
    page.locator("input[name=url]").fill(address)
    with page.expect_navigation(timeout=120_000):
        page.locator("form[action$='/capture'] button").click()


def _replay(page: Page, url: str, item: str, case: int) -> None:
    page.goto(f"{url}/items/{item}?case={case}")
    with page.expect_navigation():
        page.locator("form[action*='/replay'] button").click()


def _token(page: Page, url: str) -> None:
    page.goto(f"{url}/account")
    with page.expect_navigation():
        page.locator("form[action='/account/tokens'] button").click()


# Every page a signed-in person reaches, by what it shows; each opened by a function of the
# page, the app's address and the site.
Opener = Callable[[Page, str, dict[str, Any]], object]


def _at(path: str) -> Opener:
    return lambda page, url, s: page.goto(url + path.format(**s))


PAGES: dict[str, Opener] = {
    "cases": _at("/"),
    "case": _at("/cases/{case}"),
    "case searched": _at("/cases/{case}?q=market&flag=unreviewed"),
    "dashboard": _at("/cases/{case}/dashboard"),
    "groups": _at("/cases/{case}/groups"),
    "audit": _at("/cases/{case}/audit"),
    "timeline": _at("/cases/{case}/timeline"),
    "incidents": _at("/cases/{case}/incidents"),
    "incident": _at("/incidents/{incident}"),
    "members": _at("/cases/{case}/members"),
    "capture": _at("/cases/{case}/capture"),
    "captured": lambda page, url, s: _capture(page, url, s["case"], s["capture"]),
    "vocabulary": _at("/vocabulary"),
    "users": _at("/users"),
    "account": _at("/account"),
    "tokens": _at("/users/{user}/tokens"),
    "token made": lambda page, url, s: _token(page, url),
    "throttles": _at("/throttles"),
    "docs": _at("/docs"),
    "uploaded": lambda page, url, s: _upload(page, url, s["case"], s["upload"]),
    "redaction: picture": _at("/items/{picture}/redact?case={case}"),
    "redaction: video": _at("/items/{video}/redact?case={case}&at=0.5"),
    "item: picture (shadow tool, error levels)": _at("/items/{picture}?case={case}"),
    "error levels revealed": lambda page, url, s: _reveal_error_levels(page, url, s),
    "item: video": _at("/items/{video}?case={case}"),
    "item: web capture": _at("/items/{wacz}?case={case}"),
    "replay": lambda page, url, s: _replay(page, url, s["wacz"], s["case"]),
    "shadow answer": lambda page, url, s: _shadow(page, url, s["picture"], s["case"]),
    "revealed: picture": lambda page, url, s: _reveal(page, url, s["picture"], s["case"]),
    "revealed: video": lambda page, url, s: _reveal(page, url, s["video"], s["case"]),
}


def _violations(page: Page) -> list[dict[str, Any]]:
    page.wait_for_load_state("load")
    page.evaluate(_axe_source())  # not a <script> the page's policy would refuse
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return [v for v in found if v["impact"] in SERIOUS]


def _said(where: str, violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{where}: {v['impact']} {v['id']}: {v['help']} at {'; '.join(v['targets'])}"
        for v in violations
    )


def test_axe_core_is_there() -> None:
    """Without `make axe` the check fails, saying so: never a silent skip."""
    _axe_source()


# What the check must find: a field with no label, grey text on white, an image without
# its alternative text, and a link with no name (added to a page of the app by the test).
BROKEN = """() => {
  const main = document.querySelector('main');
  main.insertAdjacentHTML('beforeend',
    '<input name="unnamed"><p id="faint">faint words</p>' +
    '<img src="/static/none.png"><a href="/"></a>');
  const faint = document.getElementById('faint');  // through the CSSOM, which the policy allows
  faint.style.color = '#bbb';
  faint.style.background = '#fff';
}"""


def test_the_check_finds_what_it_looks_for(
    site: dict[str, Any], browser: tuple[Browser, Any]
) -> None:
    context = browser[0].new_context(storage_state=browser[1])
    page = context.new_page()
    page.goto(f"{site['url']}/cases/{site['case']}")
    page.evaluate(BROKEN)
    found = {v["id"] for v in _violations(page)}
    context.close()
    assert {"label", "color-contrast", "image-alt", "link-name"} <= found, found


@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_accessibility_violation(
    site: dict[str, Any], browser: tuple[Browser, Any], name: str
) -> None:
    url, failed = site["url"], []
    for lang in LANGUAGES:
        context = browser[0].new_context(
            viewport={"width": WIDTHS[0], "height": 900}, storage_state=browser[1]
        )
        context.add_cookies([{"name": "lang", "value": lang, "url": url}])
        page = context.new_page()
        PAGES[name](page, url, site)
        assert page.evaluate("document.documentElement.lang") == lang, page.url
        for width in WIDTHS:  # the page's style sheets follow the window (no script does)
            page.set_viewport_size({"width": width, "height": 900})
            failed.append(_said(f"{name} ({lang}, {width} px, {page.url})", _violations(page)))
        context.close()
    said = "\n".join(f for f in failed if f)
    assert said == "", said


def test_the_sign_in_page(site: dict[str, Any], browser: tuple[Browser, Any]) -> None:
    failed = []
    for lang in LANGUAGES:
        page = browser[0].new_page(viewport={"width": WIDTHS[0], "height": 900})
        page.goto(f"{site['url']}/language/{lang}?next=/login")
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            failed.append(_said(f"login ({lang}, {width} px)", _violations(page)))
        page.close()
    said = "\n".join(f for f in failed if f)
    assert said == "", said
