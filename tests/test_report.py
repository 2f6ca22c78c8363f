"""The court report a clerk can read: what was received, from whom, how to check it, and per
item the original names, capture time and place, device, acquisitions, notes, incidents,
annotations, hashes and a custody summary, in HTML and in a PDF with Arabic shaped."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from html import escape
from pathlib import Path
from typing import Any

import pytest
import uharfbuzz as hb
from conftest import LAYERS, Layer, layer_facts, photo, take
from fontTools.ttLib import TTFont
from pypdf import PdfReader
from sqlalchemy import select

from docket import incidents, review, scope
from docket.catalogue import schema
from docket.disclose._report_facts import item_facts
from docket.disclose.check import check, fingerprint
from docket.disclose.package import export, items_of_case
from docket.disclose.report_pdf import FONTS
from docket.locker import Locker

ARABIC_NAME = "صورة_السوق.jpg"
ARABIC_NOTE = "شاهد من الحي الشرقي"
SORANI_NOTE = "ڕاپۆرتی شایەت"  # Kurdish (Sorani): letters Arabic lacks
CASE = "East market"
OTHER = "zq9-other-case"
FONT = FONTS / "DejaVuSans.ttf"


def _case_id(conn: Any, name: str) -> int:
    return int(conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == name)).one()[0])


def build_package(locker: Locker, tmp_path: Path, _base: dict[str, Any]) -> dict[str, Any]:
    """Two cases, notes and incidents in each, and case East market's court package in
    court/."""
    card = photo(tmp_path / "card", ARABIC_NAME, 1)
    arabic = take(locker, card.parent, case=CASE, source="W-17", note=ARABIC_NOTE).outcomes[0]
    take(locker, card, case=OTHER, source="zq9-source", note="zq9-note")
    inner = photo(tmp_path / "phone", "market-2.jpg", 2)
    bundle = tmp_path / "witness-phone.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.write(inner, "DCIM/market-2.jpg")
    outcomes = take(locker, bundle, case=CASE, source="W-18").outcomes
    member = next(o for o in outcomes if o.media_type == "image/jpeg")
    with locker.engine.connect() as conn, conn.begin():
        view = scope.Scope(_case_id(conn, CASE), CASE)
        review.annotate(
            conn, "tester", str(arabic.sha256), review.Annotation("note", "stall on fire"), view
        )
        review.annotate(
            conn, "tester", str(member.sha256), review.Annotation("note", SORANI_NOTE), view
        )
        other = scope.Scope(_case_id(conn, OTHER), OTHER)
        review.annotate(
            conn, "tester", str(arabic.sha256), review.Annotation("note", "zq9-annot"), other
        )
        incident = incidents.record(
            conn,
            "tester",
            _case_id(conn, CASE),
            incidents.Incident("Raid on the east market", place="Souq street"),
        )
        incidents.link(conn, "tester", incident, str(member.sha256))
        elsewhere = incidents.record(
            conn, "tester", _case_id(conn, OTHER), incidents.Incident("zq9-incident")
        )
        incidents.link(conn, "tester", elsewhere, str(arabic.sha256))
        items = items_of_case(conn, CASE)
    export(locker, items, "court", tmp_path / "court", "tester", recipient="Tribunal", case=CASE)
    return {}


LAYERS["package"] = Layer(build_package, base="empty")


@pytest.fixture
def package(request: pytest.FixtureRequest, locker: Locker, tmp_path: Path) -> Path:
    """The court package (`build_package`), made once per worker and copied (see conftest's
    `locker`)."""
    layer_facts(request, "package", {})
    return tmp_path / "court"


FACTS_SHOWN = [
    CASE,
    ARABIC_NAME,
    "DCIM/market-2.jpg",
    "2024-03-01T12:34:56+03:00",
    "33.50430, 36.28420",
    "Larkspur LK-7",
    "W-17",
    "W-18",
    "tester",
    "ingest from a folder",
    "from a zip (witness-phone.zip)",
    ARABIC_NOTE,
    "Raid on the east market",
    "Souq street",
    "stall on fire",
    SORANI_NOTE,
    "python3 data/verify_package.py PACKAGE",
]


def _pdf_text(path: Path) -> str:
    reader = PdfReader(path)
    return "\n".join(page.extract_text() for page in reader.pages)


def test_html_report_says_what_a_clerk_needs(package: Path) -> None:
    html = (package / "data" / "report.html").read_text()
    for fact in FACTS_SHOWN:
        assert escape(fact) in html, fact
    key = json.loads((package / "data" / "package.json").read_text())["public_key"]
    assert f"docket-check --key {fingerprint(bytes.fromhex(key))} PACKAGE" in html
    assert f"<span dir=auto>{ARABIC_NOTE}</span>" in html
    assert "(import)" not in html and ">import<" not in html
    assert "<script" not in html and " style=" not in html
    assert "zq9" not in html  # nothing of the other case holding the same picture


def test_pdf_report_holds_the_same_facts_with_arabic_shaped(package: Path) -> None:
    text = _pdf_text(package / "data" / "report.pdf")
    flat = " ".join(text.split())
    for fact in FACTS_SHOWN:
        if fact == ARABIC_NAME:  # right to left: extracted in visual order, words kept
            assert all(word in flat for word in ("صورة", "السوق", "jpg")), fact
        else:
            assert fact in flat, fact
    assert "zq9" not in flat
    shaped = _shaped_glyphs(ARABIC_NAME.removesuffix(".jpg"))
    assert any(name.startswith("uniFE") for name in shaped)  # contextual forms, not isolated
    assert shaped <= _embedded_glyphs(package / "data" / "report.pdf")


def _shaped_glyphs(text: str) -> set[str]:
    """The glyphs HarfBuzz picks for the text in the report's font."""
    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    hb.shape(hb.Font(hb.Face(hb.Blob.from_file_path(str(FONT)))), buffer)
    order = TTFont(FONT).getGlyphOrder()
    return {order[info.codepoint] for info in buffer.glyph_infos}


def _embedded_glyphs(path: Path) -> set[str]:
    names: set[str] = set()
    for page in PdfReader(path).pages:
        resources: Any = page["/Resources"]
        for font in resources["/Font"].values():
            descendant = font.get_object()["/DescendantFonts"][0].get_object()
            data = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
            names.update(TTFont(io.BytesIO(data)).getGlyphOrder())
    return names


def test_the_report_files_are_listed_and_the_package_checks(package: Path) -> None:
    assert check(package).ok
    listed = (package / "manifest-sha256.txt").read_text()
    assert "data/report.html" in listed and "data/report.pdf" in listed


def test_a_zip_member_is_filed_under_its_own_name(package: Path) -> None:
    files = [
        e["file"] for e in json.loads((package / "data" / "package.json").read_text())["items"]
    ]
    names = {f.rsplit("/", 1)[1] for f in files}
    assert {"market-2.jpg", "witness-phone.zip", ARABIC_NAME} <= names


def test_a_publication_copy_is_named_without_where_it_came_from() -> None:
    copy = "cd" * 32
    facts = item_facts(
        {
            "item": "ab" * 32,
            "file": f"items/{'ab' * 32}/redacted.png",
            "metadata": {
                "file_sha256": copy,
                "media_type": "image/png",
                "derived_from": "ab" * 32,
                "made_by": "redacted",
            },
            "events": [],
        }
    )
    assert facts.names == [f"redacted copy of item {'ab' * 8}"]
    assert (facts.sha256, facts.acquisitions) == (copy, [])
    assert facts.capture_time == facts.place == facts.device == "not recorded in the file"


def test_the_incidents_the_report_describes_are_proven_by_the_package(package: Path) -> None:
    records = json.loads((package / "data" / "custody" / "events.json").read_text())
    events = [json.loads(base64.b64decode(r["leaf"])) for r in records]
    [described] = [e for e in events if e["action"] == "incident.recorded"]
    assert described["details"]["title"] == "Raid on the east market"
    assert described["details"]["place"] == "Souq street"
    [link] = [e for e in events if e["action"] == "incident.linked"]
    assert link["details"]["incident"] == described["details"]["incident"]
    assert "zq9" not in json.dumps(events)  # the other case's incident stays home
    report = check(package)
    assert report.ok, report.failures
