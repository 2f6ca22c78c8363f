"""The package report read in Arabic and Kurdish (issue 17): the verification aids' names,
findings and headings in the reader's language while what the aids found stays as recorded
(and the report says so), and a PDF laid out right to left whose Arabic is shaped, reads in
logical order and keeps a Latin date or time in its own order.

The PDF is read back glyph by glyph (each glyph's position from its text matrix, its text from
the font's ToUnicode map, its glyph from the embedded font), so the checks see what a reader
sees on the page, not what a text extractor reorders."""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass
from typing import Any

import pytest
import uharfbuzz as hb
from fontTools.ttLib import TTFont
from pypdf import PdfReader
from pypdf.generic import ContentStream, TextStringObject

from docket import locale
from docket.aids import (
    consistency,
    credentials,
    ela,
    ghosts,
    places,
    proof_vs_media,
    proofmode,
    quantisation,
    software,
    sun,
    thumbnail,
    video,
)
from docket.aids.results import ON_REQUEST, AidResult
from docket.aids.signals import FINDINGS, Signal
from docket.aids.steps import verification_steps
from docket.disclose._report_facts import AID_WORDS, AS_RECORDED
from docket.disclose.report import render
from docket.disclose.report_pdf import FONTS, render_pdf

TITLE = "مداهمة السوق الشرقي 01-03-2024"  # an Arabic case name with a Latin date
PREPARED = "2026-03-01T09:40:00Z"
SUMMARY = "the sun stood 40 degrees high at the stated time"
EXPLANATION = "Compares the shadows with where the sun stood."
MARKS = "\u200e\u200f"  # the zero-width direction marks the PDF holds values between
FONT = FONTS / "DejaVuSans.ttf"


def _package(case: str = TITLE) -> dict[str, Any]:
    return {
        "public_key": "11" * 32,
        "profile": "court",
        "origin": "locker-7f3a",
        "exported_at": PREPARED,
        "case": case,
        "recipient": "Tribunal",
    }


def _item() -> dict[str, Any]:
    aid = AidResult(
        "metadata-signals",
        "2",
        "ok",
        None,
        7,
        {"exiftool": "12.57"},
        (Signal("sun-position", "no signal", SUMMARY, EXPLANATION),),
    )
    return {
        "item": "ab" * 32,
        "file": f"items/{'ab' * 32}/market.jpg",
        "metadata": {"sha256": "ab" * 32, "media_type": "image/jpeg", "size": 2048},
        "events": [],
        "verification": [aid],
    }


@dataclass(frozen=True)
class Glyph:
    page: int
    x: float
    y: float
    text: str  # from the font's ToUnicode map
    name: str  # the glyph drawn, from the embedded font


def _glyphs(pdf: bytes) -> list[Glyph]:
    """Every glyph the pages draw, with where and what (fpdf2 places each shaped glyph with
    Tm, and a run of unshaped text with Td, and draws it with Tj in Identity-H: two bytes a
    glyph, a CID that the font's CIDToGIDMap turns into the glyph's number in the embedded
    subset). A run's glyphs all get the run's x, in the order drawn (_lines sorts stably)."""
    found = []
    for number, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):
        texts: dict[str, dict[int, str]] = {}
        names: dict[str, list[str]] = {}
        resources: Any = page["/Resources"]
        for key, ref in resources["/Font"].items():
            font = ref.get_object()
            cmap = font["/ToUnicode"].get_object().get_data().decode("latin-1")
            pairs = re.findall(r"<([0-9A-Fa-f]{4})> <([0-9A-Fa-f]+)>", cmap)
            texts[key] = {int(a, 16): bytes.fromhex(b).decode("utf-16-be") for a, b in pairs}
            descendant = font["/DescendantFonts"][0].get_object()
            data = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
            order = TTFont(io.BytesIO(data)).getGlyphOrder()
            gids = descendant["/CIDToGIDMap"].get_object().get_data()
            names[key] = [
                order[int.from_bytes(gids[i : i + 2], "big")] for i in range(0, len(gids), 2)
            ]
        key, x, y = "", 0.0, 0.0
        for operands, operator in ContentStream(page.get_contents(), page.pdf).operations:
            if operator == b"Tf":
                key = operands[0]
            elif operator == b"Tm":
                x, y = float(operands[4]), float(operands[5])
            elif operator == b"Td":
                x, y = float(operands[0]), float(operands[1])
            elif operator == b"Tj":
                # the string's bytes as written (pypdf reads a run of two-byte codes as
                # UTF-16 text and gives it back with a byte order mark no subset's code has)
                raw = operands[0]
                if isinstance(raw, TextStringObject):
                    raw = raw.get_original_bytes().removeprefix(codecs.BOM_UTF16_BE)
                raw = bytes(raw)
                for i in range(0, len(raw), 2):
                    code = int.from_bytes(raw[i : i + 2], "big")
                    text = texts[key].get(code, "")
                    found.append(Glyph(number, x, round(y, 1), text, names[key][code]))
    return found


def _lines(glyphs: list[Glyph]) -> list[list[Glyph]]:
    """The glyphs of each line of the first page, top first, each line left to right."""
    rows: dict[float, list[Glyph]] = {}
    for g in glyphs:
        if g.page == 0 and g.text not in MARKS:
            rows.setdefault(g.y, []).append(g)
    return [sorted(rows[y], key=lambda g: g.x) for y in sorted(rows, reverse=True)]


def _seen(line: list[Glyph]) -> str:
    """The line as it stands on the page, left to right, without spaces."""
    return "".join(g.text for g in line).replace(" ", "")


def _shaped(text: str) -> list[str]:
    """The glyphs HarfBuzz draws for the text in the report's font, left to right."""
    buffer = hb.Buffer()
    buffer.add_str(text)
    buffer.guess_segment_properties()
    hb.shape(hb.Font(hb.Face(hb.Blob.from_file_path(str(FONT)))), buffer)
    order = TTFont(FONT).getGlyphOrder()
    return [order[info.codepoint] for info in buffer.glyph_infos]


def test_the_arabic_pdf_s_title_is_shaped_and_reads_in_order() -> None:
    """The first line, 'Evidence package: <case>' in Arabic, stands right to left: read from
    the right it says the heading and then the case's name, word after word, and the date
    after it, as Arabic writes numbers: each group left to right, the groups from the right
    (Unicode's bidirectional algorithm, as a browser shows it). Its words are drawn in their
    joined forms, as HarfBuzz shapes them, not letter by letter."""
    pdf = render_pdf(_package(), [_item()], {}, "ar")
    heading = _("ar", "Evidence package: %(case)s") % {"case": TITLE}
    assert heading == "حزمة أدلة: " + TITLE
    words = heading.removesuffix(" 01-03-2024")
    title = _lines(_glyphs(pdf))[0]
    assert _seen(title) == "2024-03-01" + words[::-1].replace(" ", "")
    drawn = [g.name for g in title]
    for word in ("حزمة", "أدلة", "مداهمة", "الشرقي"):
        joined = _shaped(word)
        assert any(name.startswith("uniFE") for name in joined), word  # contextual forms
        spots = [i for i in range(len(drawn)) if drawn[i : i + len(joined)] == joined]
        assert spots, (word, joined, drawn)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    text = " ".join(text.translate({ord(m): None for m in MARKS}).split())
    assert "حزمة أدلة: مداهمة السوق الشرقي" in text  # logical order, as pypdf extracts it


def test_an_iso_time_in_an_arabic_sentence_stands_as_one_run() -> None:
    """'prepared 2026-03-01T09:40:00Z; ...' in Arabic: the time reads left to right whole,
    not broken at its hyphens into groups the sentence's direction reorders."""
    seen = [_seen(line) for line in _lines(_glyphs(render_pdf(_package(), [_item()], {}, "ar")))]
    assert any(PREPARED in line for line in seen), seen
    english = render_pdf(_package(), [_item()], {}, "en")
    assert any(PREPARED in _seen(line) for line in _lines(_glyphs(english)))


@pytest.mark.parametrize("code", ["ar", "ckb"])
def test_the_pdf_is_laid_out_right_to_left(code: str) -> None:
    """A row's label stands on the right of its value, and the report's own sentences are
    aligned on the right margin; in English, the label on the left, aligned on the left."""
    for lang, rtl in (("en", False), (code, True)):
        lines = _lines(_glyphs(render_pdf(_package("East market"), [_item()], {}, lang)))
        label = _(lang, "Signing key").replace(" ", "")
        drawn = label[::-1] if rtl else label
        [row] = [_seen(line) for line in lines if drawn in _seen(line)]
        if rtl:  # the line read left to right: the value, then the label (drawn reversed)
            assert row.startswith("SHA256:") and row.endswith(drawn), row
        else:
            assert row.startswith(label + "SHA256:"), row
        how = _(lang, "How to verify it").replace(" ", "")
        [heading] = [line for line in lines if _seen(line) == (how[::-1] if rtl else how)]
        page_width = 595.28
        if rtl:
            assert heading[0].x > page_width / 2  # pushed to the right margin
        else:
            assert heading[0].x < 60  # at the left margin (15 mm is 42.5 points)


def _(code: str, message: str) -> str:
    return locale.translations(code).gettext(message)


@pytest.mark.parametrize("code", ["ar", "ckb"])
def test_the_aids_are_named_in_the_reader_s_language_and_their_findings_kept(code: str) -> None:
    html = render(_package("East market"), [_item()], {}, code)
    for english in ("no signal", "sun-position", "metadata-signals", "ok"):
        assert _(code, english) != english, english
    assert f"<td>{_(code, 'no signal')}<td>" in html  # the finding, in the reader's words
    assert f"<b>{_(code, 'sun-position')}</b> <code dir=ltr>sun-position</code>" in html
    assert f"<b>{_(code, 'metadata-signals')}</b> <code dir=ltr>metadata-signals</code>" in html
    heads = [
        _(code, "finding"),
        _(code, "check"),
        _(code, "what it found (as recorded, in English)"),
    ]
    assert "<tr>" + "".join(f"<th>{h}" for h in heads) in html
    assert f"<td lang=en dir=auto>{SUMMARY}<br><small>{EXPLANATION}</small>" in html
    assert _(code, AS_RECORDED) in html and _(code, AS_RECORDED) != AS_RECORDED
    assert ">no signal<" not in html and "Verification aids" not in html
    pdf = render_pdf(_package("East market"), [_item()], {}, code)
    seen = " ".join(_seen(line) for line in _lines(_glyphs(pdf)))
    assert SUMMARY.replace(" ", "") in seen  # as recorded, left to right on the page
    assert "nosignal" not in seen
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert _(code, "no signal") in text.translate({ord(m): None for m in MARKS})


def test_the_english_report_keeps_the_aids_words() -> None:
    html = render(_package("East market"), [_item()], {}, "en")
    assert "<td>no signal<td><b>sun-position</b><td lang=en dir=auto>" in html
    assert "<code dir=ltr>sun-position</code>" not in html  # no name twice


def test_every_word_the_aids_record_has_a_translation() -> None:
    """A finding, a status, an aid step or a signal added to docket.aids without its place in
    AID_WORDS would stay English in an Arabic report: named here (and test_i18n checks every
    word of AID_WORDS is in both catalogues)."""
    signals = {
        *(consistency.MODIFIED, consistency.ZONE, consistency.GPS_CLOCK, consistency.STREAMS),
        *(consistency.CAMERA, credentials.NAME, ela.NAME, ghosts.NAME, places.NAME),
        *(proof_vs_media.NAME, proofmode.NAME, quantisation.NAME, software.NAME, sun.NAME),
        *(thumbnail.NAME, video.ENCODERS, video.REENCODED, video.TIMES),
        "shadow and stated place",  # docket.aids.shadow_places.signal's name
    }
    steps = {step.name for step in verification_steps()} | set(ON_REQUEST)
    words = signals | steps | set(FINDINGS) | {"ok", "failed", "not run"}
    assert words - AID_WORDS == set()


@pytest.mark.parametrize("code", ["ar", "ckb"])
def test_the_report_s_own_words_about_the_facts_are_translated(code: str) -> None:
    """What the report says where a fact is missing, how an item arrived and how to verify the
    package, in the reader's language (the facts themselves as recorded)."""
    item = _item()
    item["metadata"]["acquisitions"] = [
        {"acquired_at": "2024-03-02T10:00:00Z", "method": "import", "event": 3, "source": "W-17"}
    ]
    item["events"] = [{"seq": 3, "action": "item.acquired", "time": PREPARED, "details": {}}]
    for page in (render(_package(""), [item], {}, code), _pdf_words(_package(""), item, code)):
        for english in (
            "not recorded in the file",
            "ingest from a folder",
            "not recorded",
            "items chosen one by one (no case)",
            "%(count)s event(s), from event %(first)s (%(first_action)s, %(first_time)s) "
            "to event %(last)s (%(last_action)s, %(last_time)s)",
        ):
            said, kept = _piece(_(code, english)), _piece(english)
            assert said in page and kept not in page, english
        assert "W-17" in page and "item.acquired" in page  # the facts, as recorded
        assert "Run the verifier" not in page and "python3 data/verify_package.py" in page


def _piece(sentence: str) -> str:
    """The longest stretch of a sentence between its placeholders."""
    return max(re.split(r"%\(\w+\)s", sentence), key=len).strip()


def _pdf_words(package: dict[str, Any], item: dict[str, Any], code: str) -> str:
    pdf = render_pdf(package, [item], {}, code)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(text.translate({ord(m): None for m in MARKS}).split())


def test_an_english_pdf_shapes_what_needs_it_and_draws_no_direction_marks() -> None:
    """Only text that needs HarfBuzz is shaped (fpdf2 reshapes a line for every character it
    adds, which cost most of an export's time). Still shaped: an Arabic case name, drawn in
    its joined forms, and a letter written with a combining accent, drawn as the font's
    accented letter. Plain Latin lines are drawn by the font's widths, without the
    zero-width direction marks their values are held between (unshaped, a mark would print
    as a box)."""
    package = {**_package(), "recipient": "Tribunal of the cafe\u0301 district"}
    glyphs = _glyphs(render_pdf(package, [_item()], {}, "en"))
    drawn = [g.name for line in _lines(glyphs) for g in line]
    for word in ("مداهمة", "الشرقي"):
        joined = _shaped(word)
        assert any(drawn[i : i + len(joined)] == joined for i in range(len(drawn))), word
    assert "eacute" in drawn
    assert "acutecomb" not in drawn
    prepared = next(line for line in _lines(glyphs) if PREPARED in _seen(line))
    assert not any(g.text in MARKS for g in glyphs if g.y == prepared[0].y)
    assert all(g.text for g in prepared)  # every glyph of the line is a letter the font has


SPOOF = "invoice\u202egpj.exe"  # RIGHT-TO-LEFT OVERRIDE: laid out, it reads "invoiceexe.jpg"
SHOWN = "invoice\u27e8U+202E\u27e9gpj.exe"


def test_a_name_with_a_direction_override_is_shown_as_written_not_obeyed() -> None:
    """The classic file-name spoof: an original named with U+202E prints, in both reports, as
    its letters in the order written with the control shown as a mark, never as the
    "invoiceexe.jpg" the override would lay out. The HTML report holds no raw direction
    control at all (its own isolate of the case name is written as character references)."""
    item = _item()
    item["metadata"]["acquisitions"] = [
        {"original_path": f"card/{SPOOF}", "method": "import", "source": SPOOF, "event": 1}
    ]
    package = _package(case=f"Eastbrook {SPOOF}")
    html = render(package, [item], {}, "en")
    assert not re.search("[\u202a-\u202e\u2066-\u2069]", html)
    assert html.count(SHOWN) >= 3  # the case name (twice: title and cover), the name, the source
    assert "&#x2068;Eastbrook" in html  # the title's own isolate, left to the browser
    lines = [_seen(line) for line in _lines(_glyphs(render_pdf(package, [item], {}, "en")))]
    assert any(SHOWN in line for line in lines), lines
    assert not any("invoiceexe.jpg" in line for line in lines)


@pytest.mark.parametrize(
    "text",
    [
        "ok",
        " ".join(["the sun stood forty degrees high at the stated time"] * 9),
        "ab" * 32 + " " + "cd" * 32 + " " + "ef" * 80,  # hashes, one longer than the column
        "\n".join(["Adobe Photoshop 25.0 (Windows)"] * 7),
        f"{TITLE} — {TITLE}\n{SUMMARY}" * 3,
        "w" * 400,
        "",
    ],
)
def test_a_row_s_bound_is_never_below_its_laid_out_height(text: str) -> None:
    """A row is laid out to find its height only when the bound from its width says it may
    not fit on the page (`most_height`): a bound below the real height would let a row run
    off the page's end."""
    from docket.disclose.report_pdf import LABEL, _Report

    for direction in ("ltr", "rtl"):
        pdf = _Report(direction)
        for width in (LABEL, pdf.epw - LABEL, 40.0):
            for size in (7, 8.5):
                bound = pdf.most_height(width, text, size, fact=True)
                assert bound >= pdf.height(width, text, size, fact=True), (direction, width)
