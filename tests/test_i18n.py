"""The web app in English, Arabic and Kurdish (Sorani) (issue 17): the language a request gets
(the chooser's cookie, then Accept-Language, then English), right-to-left pages for Arabic
and Kurdish with their labels really translated, text people wrote isolated (<bdi> or
dir="auto") so that it never reorders the page around it, and catalogues that hold every
string the templates and the report say."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, get_args

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from conftest import sign_in, take
from media import jpeg, sample

from docket import locale
from docket.locker import Locker
from docket.web import i18n

ROOT = Path(__file__).parent.parent
RTL_OVERRIDE = "\u202e"
SHOWN_OVERRIDE = "\u27e8U+202E\u27e9"  # how a page shows it (names.show_direction_controls)
DIRECTION_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")  # raw, as the browser obeys them
ISOLATED = re.compile("\u2068[^\u2069]*\u2069")  # FSI ... PDI
HTML_TAG = re.compile(r'<html lang="([a-z]+)" dir="(rtl|ltr)">')


@pytest.mark.parametrize(
    ("cookie", "accept", "chosen"),
    [
        (None, None, "en"),
        (None, "ar-SY,en;q=0.5", "ar"),
        (None, "de-DE,ckb;q=0.9,ar;q=0.8", "ckb"),
        (None, "en;q=0.2, ar;q=0.9", "ar"),
        (None, "ar;q=0, fr", "en"),  # q=0 means "not this one"
        (None, "ku", "en"),  # "ku" alone is Kurmanji, which Docket does not have
        (None, "ar;q=banana, ckb", "ckb"),
        ("ckb", "ar", "ckb"),  # the chooser's cookie wins over the browser's header
        ("xx", "ar", "ar"),  # a cookie naming no language of Docket's is ignored
    ],
)
def test_the_language_of_a_request(cookie: str | None, accept: str | None, chosen: str) -> None:
    assert i18n.choose(cookie, accept).code == chosen


def test_a_page_is_english_and_left_to_right_unless_asked(world: dict[str, Any]) -> None:
    page = world["client"].get("/login")
    assert HTML_TAG.findall(page.text) == [("en", "ltr")]
    assert "<h1>Sign in</h1>" in page.text


@pytest.mark.parametrize(
    ("code", "heading"), [("ar", "<h1>تسجيل الدخول</h1>"), ("ckb", "<h1>چوونەژوورەوە</h1>")]
)
def test_arabic_and_kurdish_pages_are_right_to_left(
    world: dict[str, Any], code: str, heading: str
) -> None:
    client = world["client"]
    by_header = client.get("/login", headers={"accept-language": f"{code},en;q=0.5"})
    assert HTML_TAG.findall(by_header.text) == [(code, "rtl")]
    assert heading in by_header.text
    chosen = client.get(f"/language/{code}?next=/login", follow_redirects=False)
    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/login"
    assert f"lang={code};" in chosen.headers["set-cookie"]
    by_cookie = client.get("/login", headers={"accept-language": "en"})
    assert HTML_TAG.findall(by_cookie.text) == [(code, "rtl")]
    assert heading in by_cookie.text


@pytest.mark.parametrize(
    "back", ["//evil.example/", "https://evil.example/", "/\t/evil.example/", "/\\evil.example"]
)
def test_the_chooser_never_sends_to_another_site(world: dict[str, Any], back: str) -> None:
    answer = world["client"].get("/language/ar", params={"next": back}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"


def test_the_chooser_refuses_a_language_docket_does_not_have(world: dict[str, Any]) -> None:
    answer = world["client"].get("/language/xx", follow_redirects=False)
    assert answer.status_code == 404
    assert "set-cookie" not in answer.headers


def test_a_signed_in_page_in_arabic(world: dict[str, Any]) -> None:
    client = world["client"]
    client.cookies.set("lang", "ar")
    sign_in(client, "ada")
    page = client.get(f"/cases/{world['cases']['North']}/dashboard")
    assert HTML_TAG.findall(page.text) == [("ar", "rtl")]
    for label in ("حسب الحالة", "حسب التصنيف", "النشاط الأخير", "تسجيل الخروج", "قيد المراجعة"):
        assert label in page.text, label
    assert "By status" not in page.text
    assert "مسجّل الدخول باسم <bdi>ada</bdi>" in page.text


class Isolation(HTMLParser):
    """Where a planted string shows: in text, each time with an isolating element around it
    (<bdi>, or any element with a dir attribute); in <title>, <option> and attribute values,
    between FSI and PDI (U+2068, U+2069), since no element can isolate there (but the value
    of a field with a dir attribute is isolated by it)."""

    def __init__(self, planted: str) -> None:
        super().__init__()
        self.planted = planted
        self.open: list[tuple[str, bool]] = []
        self.isolated = 0
        self.bare: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        isolates = tag == "bdi" or any(name == "dir" for name, _ in attrs)
        for name, value in attrs:
            field = name == "value" and isolates
            if value and self.planted in ISOLATED.sub("", value) and not field:
                self.bare.append(f"<{tag} {name}={value!r}>")
        if tag in {"meta", "input", "img", "br", "link", "source"}:
            return
        self.open.append((tag, isolates))
        self.isolated += isolates

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            name, isolates = self.open.pop()
            self.isolated -= isolates
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.planted not in data:
            return
        in_title = any(name in ("title", "option") for name, _ in self.open)
        if in_title and self.planted in ISOLATED.sub("", data):
            self.bare.append(f"<title>{data!r}")
        if not in_title and not self.isolated:
            self.bare.append(repr(data))


def bare(html: str, planted: str) -> list[str]:
    checker = Isolation(planted)
    checker.feed(html)
    return checker.bare


def test_the_isolation_check_finds_text_left_bare() -> None:
    assert bare(f"<p>{RTL_OVERRIDE}x</p>", RTL_OVERRIDE) == [repr(f"{RTL_OVERRIDE}x")]
    assert bare(f"<title>{RTL_OVERRIDE}</title>", RTL_OVERRIDE)
    assert bare(f'<img alt="a {RTL_OVERRIDE}">', RTL_OVERRIDE)
    assert not bare(f"<p><bdi>{RTL_OVERRIDE}</bdi> x</p>", RTL_OVERRIDE)
    assert not bare(f'<p><span dir="auto">{RTL_OVERRIDE}</span></p>', RTL_OVERRIDE)


def test_text_people_wrote_cannot_reorder_the_page(
    world: dict[str, Any], locker: Locker, tmp_path: Path
) -> None:
    """A case name and a file name with a right-to-left override (U+202E) and no closing
    pop, and an Arabic incident title with a Latin date: isolated wherever a page shows them,
    the override shown as a mark and never obeyed (the file named "invoice<U+202E>gpj.exe"
    never reads "invoiceexe.jpg"), and no raw direction control anywhere in a page."""
    case_name = f"{RTL_OVERRIDE}Eastbrook gpj.exe"
    title = "مداهمة السوق الشرقي 01-03-2024"
    picture = tmp_path / f"invoice{RTL_OVERRIDE}gpj.exe"
    picture.write_bytes(jpeg(sample("chelsea")))
    item = take(locker, picture, case=case_name).outcomes[0].sha256
    client = world["client"]
    csrf = sign_in(client, "ada")
    case = client.get("/").text
    case_id = re.findall(f'href="/cases/(\\d+)"><bdi>{re.escape(SHOWN_OVERRIDE)}', case)[0]
    made = client.post(
        f"/api/cases/{case_id}/incidents",
        json={"title": title, "occurred_from": "2024-03-01", "place": f"{RTL_OVERRIDE}souq"},
        headers={"x-csrf-token": csrf},
    )
    assert made.status_code == 200, made.text
    incident = made.json()["id"]
    linked = client.post(
        f"/api/incidents/{incident}/links", json={"item": item}, headers={"x-csrf-token": csrf}
    )
    assert linked.status_code == 200, linked.text
    pages = [
        "/",
        f"/cases/{case_id}",
        f"/cases/{case_id}/dashboard",
        f"/cases/{case_id}/audit",
        f"/cases/{case_id}/incidents",
        f"/cases/{case_id}/timeline",
        f"/cases/{case_id}/groups",
        f"/incidents/{incident}",
        f"/items/{item}?case={case_id}",
    ]
    for lang in ("en", "ar"):
        client.cookies.set("lang", lang)
        for path in pages:
            page = client.get(path)
            assert page.status_code == 200, (path, page.text)
            assert not DIRECTION_CONTROL.search(page.text), path  # none is obeyed...
            assert SHOWN_OVERRIDE in page.text, path  # ...the planted one is shown...
            assert bare(page.text, SHOWN_OVERRIDE) == [], (lang, path)  # ...and isolated
            if path.startswith("/items") or path == f"/cases/{case_id}":
                assert f"invoice{SHOWN_OVERRIDE}gpj.exe" in page.text, path
            if path.startswith(("/incidents", f"/cases/{case_id}/incidents")):
                assert title in page.text, path
                assert bare(page.text, title) == [], (lang, path)


def _catalogue_ids(code: str) -> dict[str, tuple[str, bool]]:
    with locale.catalogue_path(code).open("rb") as po:
        catalog = read_po(po, locale=code)
    return {str(m.id): (str(m.string), m.fuzzy) for m in catalog if m.id}


def _said() -> dict[str, str]:
    """Every msgid of the templates, the vocabulary and the report, by Babel's extraction,
    with where it is said."""
    with (ROOT / "src/docket/locale/babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    said: dict[str, str] = {}
    for path, line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            said.setdefault(msgid, f"{path}:{line}")
    return said


def test_the_extraction_sees_the_templates_and_the_report() -> None:
    said = _said()
    assert "Sign in" in said
    assert "graphic" in said  # the vocabulary shown in pages (docket.web.i18n.TERMS)


@pytest.mark.parametrize("code", ["ar", "ckb"])
def test_every_string_is_in_the_catalogue(code: str) -> None:
    """A new English string without its translation fails here, named with its place."""
    catalogue = _catalogue_ids(code)
    missing = [
        f"{where}: {msgid!r}"
        for msgid, where in _said().items()
        if not catalogue.get(msgid, ("", True))[0] or catalogue[msgid][1]
    ]
    assert missing == [], f"untranslated in {code}: " + "; ".join(missing)
    placeholders = re.compile(r"%\((\w+)\)s")
    wrong = [
        msgid
        for msgid, (text, _) in catalogue.items()
        if sorted(placeholders.findall(msgid)) != sorted(placeholders.findall(text))
    ]
    assert wrong == [], f"{code}: placeholders differ in {wrong}"


@pytest.mark.parametrize("damage", [b"not a po line\n", b'msgid "Sign in"\nmsgstr "\xff"\n', None])
def test_a_damaged_catalogue_is_refused_in_one_line(tmp_path: Path, damage: bytes | None) -> None:
    broken = tmp_path / "docket.po"
    if damage is not None:  # None: the file is missing
        broken.write_bytes(damage)
    with pytest.raises(locale.LanguageError, match=r"docket\.po: cannot read the catalogue") as e:
        locale.compile_catalogue(broken, "ar")
    assert "\n" not in str(e.value)


def test_the_court_report_in_arabic(tmp_path: Path, cli: Any) -> None:
    """`export --lang ar`: the HTML report right to left with its labels in Arabic, the PDF's
    labels too, the names as recorded, and the package as sound as an English one."""
    from pypdf import PdfReader

    from docket.disclose.check import check

    root = tmp_path / "locker"
    with Locker.create(root) as made:
        picture = tmp_path / "سوق الجمعة.jpg"
        picture.write_bytes(jpeg(sample("chelsea")))
        take(made, picture, case="North")
    out = tmp_path / "court"
    done = cli(
        "export", "--case", "North", "--profile", "court", "--lang", "ar", "--locker", root,
        "-o", out,
    )  # fmt: skip
    assert done.code == 0, done.err
    html = (out / "data" / "report.html").read_text()
    assert html.startswith("<!doctype html><html lang=ar dir=rtl>")
    for label in ("حزمة أدلة", "كيف تتحقق منها", "الاسم (الأسماء) الأصلي", "البصمات والحيازة"):
        assert label in html, label
    for english in ("Evidence package", "How to verify it", "Original name(s)", "Custody<"):
        assert english not in html, english
    assert "<span dir=auto>سوق الجمعة.jpg</span>" in html
    pdf = " ".join(page.extract_text() for page in PdfReader(out / "data" / "report.pdf").pages)
    assert "Signing key" not in pdf and "Original name(s)" not in pdf
    assert "SHA-256" in pdf  # the same facts, labelled in Arabic
    assert check(out).ok


def test_a_report_language_docket_lacks_is_refused_before_anything_is_written(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    from docket.disclose.package import export

    picture = tmp_path / "market.jpg"
    picture.write_bytes(jpeg(sample("chelsea")))
    item = take(locker, picture, case="North").outcomes[0].sha256
    assert item is not None
    with pytest.raises(locale.LanguageError, match=r"^xx: no such language \(there are en,"):
        export(locker, [item], "court", tmp_path / "out", "tester", case="North", lang="xx")
    assert not (tmp_path / "out").exists()
    refused = cli("export", item[:12], "--profile", "court", "--lang", "xx", "-o", tmp_path / "o")
    assert refused.code == 2 and "'xx' is not one of 'en', 'ar', 'ckb'" in refused.err


class VisibleText(HTMLParser):
    """The page's own words: text outside what people wrote or what is code (<bdi>, any
    element with a dir or lang attribute, <code>, <script>, <style>; <title>, which holds
    an ASCII name unisolated, says what the page's heading says) and outside the language
    chooser (each language's name in its own words)."""

    SKIP = frozenset({"bdi", "code", "script", "style", "datalist", "title"})
    VOID = frozenset({"meta", "input", "img", "br", "link", "source", "option"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, bool]] = []
        self.words: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        names = dict(attrs)
        isolated = tag != "html" and ("dir" in names or "lang" in names)
        skip = tag in self.SKIP or isolated
        inside = bool(self.open) and self.open[-1][1]
        self.open.append((tag, skip or inside or names.get("class") == "languages"))

    def handle_endtag(self, tag: str) -> None:  # closes what HTML leaves open (<td>, <p>)
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if not (self.open and self.open[-1][1]):
            self.words += re.findall(r"[A-Za-z][A-Za-z-]{2,}", data)


# Names and abbreviations that stay as they are in every language.
KEPT = {"Docket", "UTC", "GPS", "SHA-", "CSV", "JSON", "PDF", "API", "CSRF", "OpenAPI", "URL"}
KEPT |= {"ISO", "WACZ", "GeoNames", "HTTP"}
SHADOW = "base=100,300&top=100,100&tip=260,300"  # the shadow tool's three marks


@pytest.mark.parametrize("code", ["ar", "ckb"])
def test_no_english_is_left_on_the_arabic_and_kurdish_pages(
    world: dict[str, Any], code: str
) -> None:
    """Every page of the app (but an item's, whose metadata labels and verification findings
    come from the analysis in English) says nothing in English to an Arabic or a Kurdish
    reader."""
    client = world["client"]
    csrf = sign_in(client, "ada")
    north = world["cases"]["North"]
    made = client.post(
        f"/api/cases/{north}/incidents",
        json={"title": "x", "occurred_from": "2024-03-01"},
        headers={"x-csrf-token": csrf},
    )
    assert made.status_code == 200, made.text
    pages = [
        "/login", "/", f"/cases/{north}", f"/cases/{north}/dashboard", f"/cases/{north}/audit",
        f"/cases/{north}/incidents", f"/incidents/{made.json()['id']}",
        f"/cases/{north}/timeline", f"/cases/{north}/groups", f"/cases/{north}/members",
        "/users", "/account", f"/users/{world['users']['owner'].id}/tokens", "/throttles",
        "/vocabulary", "/docs", f"/cases/{north}/capture",
        f"/items/{world['north']}/shadow?{SHADOW}",  # no place or day: the tool's note
        f"/items/{world['north']}/shadow?{SHADOW}&lat=33.5&lon=36.3&date=2024-03-01"
        "&at=2024-03-01T09:30:00%2B02:00",  # the times of day and the places where it fits
    ]  # fmt: skip
    for path in pages:
        seen = {}
        for lang in ("en", code):
            client.cookies.set("lang", lang)
            page = client.get(path)
            assert page.status_code == 200, (path, page.text)
            seen[lang] = VisibleText()
            seen[lang].feed(page.text)
        assert len(seen["en"].words) > 5, path  # the check reads the page (in English)
        english = [w for w in seen[code].words if w not in KEPT]
        assert english == [], (path, english)


def test_every_word_of_docket_s_vocabularies_is_translatable() -> None:
    """A status, flag, role, kind or method added to its module without a place in
    docket.web.i18n.TERMS would show in English on every page: named here."""
    from docket import access, accounts, audit, review
    from docket.aids import shadow_places
    from docket.capture import run as capture_run
    from docket.disclose.package import PROFILES
    from docket.ingest import collection
    from docket.ingest import run as ingest_run
    from docket.protect import flags
    from docket.web import labels, tiles

    vocabularies = {
        "review.STATUSES": set(review.STATUSES),
        "flags.FLAGS": {*flags.FLAGS, "unreviewed"},
        "access.CASE_ROLES": set(access.CASE_ROLES),
        "accounts.ROLES": set(accounts.ROLES),
        "tiles.KINDS": {*tiles.KINDS.values(), tiles.kind_of("")},
        "audit.KINDS": set(audit.KINDS),
        "collection.METHODS": set(collection.METHODS),
        "package.PROFILES": set(PROFILES),
        "labels.ORDER": {label for _, label in labels.ORDER},
        "ingest.run.Status": set(get_args(ingest_run.Status)),
        "capture parts": {"wacz", "screenshot", "print", *capture_run.MEDIA_KINDS},
        "shadow_places.UNCERTAINTY": {shadow_places.UNCERTAINTY},
    }
    missing = {name: words - i18n.TERMS for name, words in vocabularies.items()}
    assert {name: words for name, words in missing.items() if words} == {}


def test_the_chooser_goes_back_to_the_page_or_to_the_cases_after_a_form(
    world: dict[str, Any],
) -> None:
    client = world["client"]
    sign_in(client, "ada")
    north = world["cases"]["North"]
    page = client.get(f"/cases/{north}?q=market&flag=graphic")
    assert f'href="/language/ar?next=/cases/{north}%3Fq%3Dmarket%26flag%3Dgraphic"' in page.text
    chosen = client.get(f"/language/ar?next=/cases/{north}%3Fq%3Dmarket%26flag%3Dgraphic")
    assert chosen.url.path == f"/cases/{north}" and chosen.url.params["q"] == "market"
    refused = client.post("/login", data={"name": "ada", "password": "wrong"})
    assert refused.status_code == 401
    assert 'href="/language/ar?next=/"' in refused.text  # the page of a POST: to the cases


def test_log_times_and_counts_are_written_the_locale_s_way() -> None:
    when = "2026-03-01T09:40:00Z"
    assert locale.moment(when, "en") == when  # English keeps the log's ISO text
    assert locale.moment(when, "ar") == "01\u200f/03\u200f/2026، 9:40:00 ص"
    assert locale.moment("2026-03-01T11:40:00+02:00", "ar") == locale.moment(when, "ar")  # UTC
    assert "ئازار" in locale.moment(when, "ckb")  # March, in Sorani
    assert locale.moment("not a time", "ar") == "not a time"
    assert locale.number(1234567, "ckb") == "1,234,567"  # Latin digits and separators


def test_the_dashboard_s_times_follow_the_language(world: dict[str, Any]) -> None:
    client = world["client"]
    sign_in(client, "ada")
    path = f"/cases/{world['cases']['North']}/dashboard"
    english = client.get(path).text
    times = re.findall(r"<td>(\d{4}-\d\d-\d\dT[^<]+)</td>", english)
    assert times, "the dashboard lists the case's events with their ISO times"
    client.cookies.set("lang", "ar")
    arabic = client.get(path).text
    assert not any(t in arabic for t in times)
    assert all(locale.moment(t, "ar") in arabic for t in times)


def test_the_replay_origin_s_start_page_speaks_the_browser_s_language(
    world: dict[str, Any], locker: Locker
) -> None:
    """The page a replay's frame shows before ReplayWeb.page runs, on the replay origin (which
    holds no session): in the language the browser asks for, right to left for Arabic. (The
    app, made first as `docket serve` makes it, gives the shared templates their words.)"""
    from starlette.testclient import TestClient

    from docket.web.replay_origin import create_replay_app

    replay = TestClient(create_replay_app(locker, ["testserver"]))
    arabic = replay.get("/replay/", headers={"accept-language": "ar"})
    assert arabic.status_code == 200, arabic.text
    assert HTML_TAG.findall(arabic.text) == [("ar", "rtl")]
    assert "بدء إعادة العرض" in arabic.text and "Starting" not in arabic.text
    english = replay.get("/replay/")
    assert HTML_TAG.findall(english.text) == [("en", "ltr")]
    assert "Starting the replay" in english.text


SAID = {  # the shadow tool's data-said-* attributes and what they hold in English
    "start": "Click the object's base.",
    "base": "Marked the base; now the top.",
    "top": "Marked the top; now the shadow's tip.",
    "done": "Marked base, top and shadow tip.",
    "missing": "Mark the base, the top and the shadow's tip first.",
}


def _said_on(page: str) -> dict[str, str]:
    from html import unescape

    return {k: unescape(v) for k, v in re.findall(r'data-said-(\w+)="([^"]*)"', page)}


@pytest.mark.parametrize("code", ["en", "ar", "ckb"])
def test_the_shadow_tool_s_prompts_come_from_the_page_in_its_language(
    world: dict[str, Any], code: str
) -> None:
    """The script shows what the page gives it (it holds no words of its own): the item page
    hands it the prompts, translated, in data-said-* attributes of #shadow-tool."""
    client = world["client"]
    sign_in(client, "ada")
    client.cookies.set("lang", code)
    page = client.get(f"/items/{world['north']}")
    assert page.status_code == 200, page.text
    words = locale.translations(code).gettext
    assert _said_on(page.text) == {key: words(english) for key, english in SAID.items()}
    if code != "en":
        assert not set(_said_on(page.text).values()) & set(SAID.values())
    script = (ROOT / "src/docket/web/shadow.js").read_text()
    literals = re.findall(
        r'"([^"]*)"', "\n".join(line.split("//")[0] for line in script.split("\n"))
    )
    spoken = [s for s in literals if " " in s and s != "use strict"]
    assert spoken == [], "the script speaks English of its own"


@pytest.mark.parametrize("code", ["ar", "ckb"])
def test_the_shadow_map_speaks_the_page_s_language(world: dict[str, Any], code: str) -> None:
    client = world["client"]
    sign_in(client, "ada")
    client.cookies.set("lang", code)
    query = f"{SHADOW}&lat=33.5&lon=36.3&date=2024-03-01&at=2024-03-01T09:30:00%2B02:00"
    page = client.get(f"/items/{world['north']}/shadow?{query}")
    assert page.status_code == 200, page.text
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    words = locale.translations(code).gettext
    name = words("Map of the places where the shadow fits at %(time)s") % {
        "time": "2024-03-01T07:30:00+00:00"
    }
    assert f"<title>{name}</title>" in svg and f'aria-label="{name}"' in svg
    caption = words("No map tiles: grey where GeoNames lists towns, orange where the shadow fits")
    assert f'direction="rtl" text-anchor="start">{caption}</text>' in svg
    town = words("%(town)s (%(country)s): sun at %(elevation)s°, azimuth %(azimuth)s°")
    assert town.split("%(country)s)")[1].split("%(elevation)s")[0] in svg  # each town's label
    assert "sun at" not in svg and "Map of the places" not in svg and "No map tiles" not in svg


def test_the_revealed_error_level_picture_is_titled_in_arabic(
    world: dict[str, Any], locker: Locker, cli: Any
) -> None:
    from test_ela_web import _with_error_levels

    _with_error_levels(world, locker, cli)
    client = world["client"]
    csrf = sign_in(client, "ada")
    client.cookies.set("lang", "ar")
    north = world["north"]
    revealed = client.post(f"/items/{north}/error-levels/reveal", data={"csrf": csrf})
    assert revealed.status_code == 200, revealed.text
    title = f"صورة مستوى الخطأ للمادة {north[:12]}"
    assert f"<h1>مكشوف: <bdi>{title}</bdi></h1>" in revealed.text
    assert "error-level picture of item" not in revealed.text


def test_the_shadow_tool_speaks_arabic_in_chromium(tmp_path: Path) -> None:
    """Debian's Chromium under the page's strict policy: the script shows the page's Arabic
    prompts as the marks are made, and asks for the marks in Arabic when they are missing."""
    from playwright.sync_api import sync_playwright
    from test_aids_shadow import until
    from test_web_browser import CHROMIUM, FLAGS, serving

    from docket import accounts

    words = locale.translations("ar").gettext
    with Locker.create(tmp_path / "locker") as locker:
        picture = tmp_path / "square.jpg"
        picture.write_bytes(jpeg(sample("chelsea").resize((300, 300))))
        sha = take(locker, picture, case="North").outcomes[0].sha256
        with locker.engine.connect() as conn, conn.begin():
            accounts.create_user(conn, "setup", "ada", "correct horse battery", "admin")
        with serving(locker) as url, sync_playwright() as playwright:
            assert CHROMIUM is not None, "Debian's chromium is needed (make system installs it)"
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            context = browser.new_context(viewport={"width": 1000, "height": 900})
            context.add_cookies([{"name": "lang", "value": "ar", "url": url}])
            page = context.new_page()
            page.goto(f"{url}/login")
            page.locator("input[name=name]").fill("ada")
            page.locator("input[name=password]").fill("correct horse battery")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{url}/")
            page.goto(f"{url}/items/{sha}")
            said = page.locator("#shadow-tool .shadow-said")
            shown = [said.inner_text()]
            page.locator("#shadow-tool form button:not([type])").click()  # no marks yet
            shown.append(said.inner_text())
            marked = page.locator("#shadow-tool img")
            until(lambda: marked.evaluate("img => img.naturalWidth") > 0)
            for x, y in ((60, 160), (60, 60), (160, 160)):
                marked.click(position={"x": x, "y": y})
                shown.append(said.inner_text())
            direction = page.locator("html").get_attribute("dir")
            browser.close()
    assert direction == "rtl"
    english = ("start", "missing", "base", "top", "done")
    assert shown == [words(SAID[key]) for key in english]
