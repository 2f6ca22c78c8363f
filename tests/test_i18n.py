"""The web app in English, Arabic and Kurdish (Sorani) (issue 17): the language a request gets
(the chooser's cookie, then Accept-Language, then English), right-to-left pages for Arabic
and Kurdish with their labels really translated, text people wrote isolated (<bdi> or
dir="auto") so that it never reorders the page around it, and catalogues that hold every
string the templates and the report say."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

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
    (<bdi>, or any element with a dir attribute); in <title> and attribute values, between
    FSI and PDI (U+2068, U+2069), since no element can isolate there."""

    def __init__(self, planted: str) -> None:
        super().__init__()
        self.planted = planted
        self.open: list[tuple[str, bool]] = []
        self.isolated = 0
        self.bare: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and self.planted in value and f"\u2068{self.planted}" not in value:
                self.bare.append(f"<{tag} {name}={value!r}>")
        if tag in {"meta", "input", "img", "br", "link", "source", "option"}:
            return
        isolates = tag == "bdi" or any(name == "dir" for name, _ in attrs)
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
        in_title = any(name == "title" for name, _ in self.open)
        if in_title and f"\u2068{self.planted}" not in data:
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
    """A case name with a right-to-left override (U+202E) and no closing pop, and an Arabic
    incident title with a Latin date: isolated wherever a page shows them."""
    case_name = f"{RTL_OVERRIDE}Eastbrook gpj.exe"
    title = "مداهمة السوق الشرقي 01-03-2024"
    picture = tmp_path / f"{RTL_OVERRIDE}market.jpg"
    picture.write_bytes(jpeg(sample("chelsea")))
    item = take(locker, picture, case=case_name).outcomes[0].sha256
    client = world["client"]
    csrf = sign_in(client, "ada")
    case = client.get("/").text
    case_id = re.findall(r'href="/cases/(\d+)"><bdi>\u202e', case)[0]
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
    pages = ["/", f"/cases/{case_id}/dashboard", f"/cases/{case_id}/audit"]
    for lang in ("en", "ar"):
        client.cookies.set("lang", lang)
        for path in pages:
            page = client.get(path)
            assert page.status_code == 200, (path, page.text)
            assert RTL_OVERRIDE in page.text, path  # the planted text is shown...
            assert bare(page.text, RTL_OVERRIDE) == [], (lang, path)  # ...and isolated
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


def test_a_damaged_catalogue_is_refused_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "docket.po"
    broken.write_text('msgid "Sign in"\nmsgstr "x\n', encoding="utf-8")
    with pytest.raises(locale.LanguageError, match=r"docket\.po: cannot read the catalogue"):
        locale.compile_catalogue(broken, "ar")
