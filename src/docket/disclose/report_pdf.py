"""The package report as PDF (fpdf2), for readers who print or file it: the same facts as the
HTML (docket.disclose._report_facts), a first page with what was received and how to check it,
then each item, packed without blank pages.

Text uses DejaVu Sans (Debian's fonts-dejavu-core, installed by the set-up), which has Latin,
Cyrillic and Arabic glyphs (Arabic, Persian and Kurdish Sorani letters), and is shaped by
HarfBuzz (uharfbuzz) with the Unicode bidirectional algorithm, so Arabic-script names and notes
print joined and right to left. Without the font, a core font with characters it lacks shown
as '?'. Previews are the blurred ones. Each item's verification aids are those its package's
events prove, with the tools' versions, as in the HTML: their names and findings translated,
what they found as recorded. Labels and sentences are in the export's language
(docket.locale), as in the HTML; for Arabic and Kurdish the page is laid out right to left
(paragraphs aligned right, a row's label on the right of its value, the preview on the left)
and the report's own sentences take right to left as their direction, while a fact (a name,
a note, a recorded finding) takes the direction of its first letter.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from fpdf import FPDF

from docket import locale
from docket.aids.results import AidResult
from docket.disclose._report_facts import (
    AS_RECORDED,
    aid_word,
    first_page,
    item_facts,
    verify_steps,
)
from docket.names import show_direction_controls

FONTS = Path("/usr/share/fonts/truetype/dejavu")
LABEL = 34  # mm: the width of a row's label
THUMB = 38  # mm: the width of an item's blurred preview
Words = Callable[[str], str]  # gettext of the report's language


MARKS = {"ltr": "\u200e", "rtl": "\u200f"}  # LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK
_NO_MARKS = {ord(mark): None for mark in MARKS.values()}


def _needs_shaping(text: str) -> bool:
    """Whether HarfBuzz must lay the text out: a right-to-left letter or number (joined
    Arabic-script letters, reordered runs) or a combining mark. Other text (Latin, Greek,
    Cyrillic) prints the same glyphs by the font's advance widths, without kerning. fpdf2
    reshapes a line's whole text for every character it adds while it breaks lines: shaping
    everything cost 70 ms of CPU an item in an English report, against 18 ms now."""
    return any(
        unicodedata.bidirectional(c) in _RIGHT_TO_LEFT or unicodedata.category(c) in _MARKS
        for c in text
    )


_RIGHT_TO_LEFT = frozenset({"R", "AL", "AN", "RLE", "RLO", "RLI"})
_MARKS = frozenset({"Mn", "Mc", "Me"})


def _held(value: object) -> str:
    """A value put into a sentence, held in the direction of its first letter (left to right
    for a time, a number or a path) between two zero-width marks of that direction, so the
    sentence's direction never reorders it: an ISO time in an Arabic sentence reads as one
    run. (Unicode's isolates, FSI and PDI, would do it better, but DejaVu Sans has no glyphs
    for them and they would print as boxes.)"""
    text = str(value)
    strong = (unicodedata.bidirectional(c) for c in text)
    first = next((k for k in strong if k in ("L", "R", "AL")), "L")
    mark = MARKS["ltr" if first == "L" else "rtl"]
    return f"{mark}{text}{mark}"


def _put(sentence: str, values: dict[str, object]) -> str:
    """The translated sentence with its values put in, each held in its own direction."""
    return sentence % {name: _held(value) for name, value in values.items()}


class _Report(FPDF):
    def __init__(self, direction: str = "ltr") -> None:
        super().__init__(format="A4")
        self.rtl = direction == "rtl"
        self.align = "R" if self.rtl else "L"
        self.set_auto_page_break(auto=True, margin=15)
        self.set_margins(15, 15, 15)
        self.unicode = (FONTS / "DejaVuSans.ttf").is_file()
        if self.unicode:
            self.add_font("body", "", str(FONTS / "DejaVuSans.ttf"))
            bold = FONTS / "DejaVuSans-Bold.ttf"
            self.add_font("body", "B", str(bold if bold.is_file() else FONTS / "DejaVuSans.ttf"))
            self.set_text_shaping(True)
        self.add_page()

    def use(self, text: str, size: float, style: str = "", fact: bool = False) -> str:
        """Sets the font, and the direction of `text`: the page's for the report's own words,
        the first letter's for a fact. Returns the text as it is to be printed: a direction
        control shown as a mark (an original named "invoice<U+202E>gpj.exe" never prints as
        "invoiceexe.jpg"), and only text that needs HarfBuzz shaped (see _needs_shaping)."""
        self.set_font("body" if self.unicode else "helvetica", style=style, size=size)
        text = show_direction_controls(text)
        page_direction = self.rtl and not fact
        shaped = self.unicode and (page_direction or _needs_shaping(text))
        self.set_text_shaping(shaped, direction="rtl" if page_direction else None)
        if shaped:
            return text
        bare = text.translate(_NO_MARKS)
        return bare if self.unicode else bare.encode("latin-1", errors="replace").decode("latin-1")

    def text_line(
        self,
        text: str,
        size: float = 9,
        style: str = "",
        height: float = 4.6,
        fact: bool = False,
    ) -> None:
        printed = self.use(text, size, style, fact)
        self.multi_cell(0, height, printed, align=self.align, new_x="LMARGIN", new_y="NEXT")

    def row(
        self, label: str, value: str, width: float = 0, size: float = 8.5, fact: bool = False
    ) -> None:
        """A label and its value; the value wraps in its own column. Left to right: the label
        on the left of the row, which starts at the left margin; right to left: the label on
        the right of the row, which ends at the right margin."""
        width = width or self.epw
        left = self.h - self.b_margin - self.get_y()
        most = max(
            self.most_height(LABEL, label, size, "B"),
            self.most_height(width - LABEL, value, size, "", fact),
        )
        if most > left:  # it may not fit: lay it out to know
            self.room_for(
                max(
                    self.height(LABEL, label, size, "B"),
                    self.height(width - LABEL, value, size, "", fact),
                )
            )
        start = self.l_margin + (self.epw - width if self.rtl else 0)
        label_x, value_x = (start + width - LABEL, start) if self.rtl else (start, start + LABEL)
        top = self.get_y()
        printed = self.use(label, size, "B")
        self.set_xy(label_x, top)
        self.multi_cell(LABEL, 4.4, printed, align=self.align, new_x="LMARGIN")
        below = self.get_y()
        printed = self.use(value, size, fact=fact)
        self.set_xy(value_x, top)
        self.multi_cell(width - LABEL, 4.4, printed, align=self.align, new_x="LMARGIN")
        self.set_xy(self.l_margin, max(self.get_y(), below, top + 4.4))

    def height(
        self, width: float, text: str, size: float, style: str = "", fact: bool = False
    ) -> float:
        """How tall the text stands in a column of this width."""
        printed = self.use(text, size, style, fact)
        found = self.multi_cell(width, 4.4, printed, dry_run=True, output="HEIGHT")
        return float(cast(float, found))

    def most_height(
        self, width: float, text: str, size: float, style: str = "", fact: bool = False
    ) -> float:
        """At least as tall as the text stands in a column of this width, from its width
        alone (one pass over it, where laying it out, `height`, costs as much as printing
        it: fpdf2 measures a line again for every character it adds). Wrapped at words, two
        lines in a row hold more than the column's width, as the second line's first word
        did not fit on the first: a paragraph of width W takes fewer than 2 W / column + 1
        lines."""
        printed = self.use(text, size, style, fact)
        column = width - 2 * self.c_margin
        paragraphs = printed.split("\n")
        lines = sum(2 * self.get_string_width(p) / column + 1 for p in paragraphs)
        return (math.ceil(lines) + 1) * 4.4

    def room_for(self, height: float) -> None:
        if self.get_y() + height > self.h - self.b_margin:
            self.add_page()


def _cover(pdf: _Report, package: dict[str, Any], items: list[dict[str, Any]], _: Words) -> None:
    page = first_page(package, items, _)
    pdf.text_line(_put(_("Evidence package: %(case)s"), {"case": page["case"]}), 16, "B", 8)
    pdf.ln(1)
    what = _("%(count)s item(s), %(profile)s profile")
    pdf.row(_("What"), _put(what, {"count": page["count"], "profile": page["profile"]}))
    pdf.row(_("Case"), page["case"], fact=True)
    pdf.row(_("For"), page["recipient"], fact=True)
    pdf.row(_("From"), _put(_("the Docket locker %(origin)s"), {"origin": page["origin"]}))
    pdf.row(_("Signing key"), page["fingerprint"], fact=True)
    when = _(
        "prepared %(prepared)s; the signed export checkpoint (%(checkpoint)s) "
        "was made right after, and a timestamp authority's token (%(token)s), "
        "when present, stamps it: the verifier prints both times"
    )
    pdf.row(
        _("When"),
        _put(
            when,
            {
                "prepared": page["prepared"],
                "checkpoint": "custody/checkpoint.txt",
                "token": "custody/checkpoint.tsr",
            },
        ),
    )
    pdf.ln(2)
    pdf.text_line(_("How to verify it"), size=11, style="B", height=6)
    for number, step in enumerate(verify_steps(page["fingerprint"], _), 1):
        pdf.text_line(f"{number}. {step}")
    pdf.ln(1)
    said = _(
        "Previews are blurred and grey on purpose; the originals are in %(folder)s. "
        "Names, notes and pseudonyms are shown as recorded."
    )
    pdf.text_line(_put(said, {"folder": "data/items/"}), size=8.5)


def _aid(word: str, _: Words) -> str:
    """An aid's or a signal's name in the report's language, with the name the custody log
    records when the two differ."""
    shown = aid_word(word, _)
    return shown if shown == word else f"{shown} ({word})"


def _verification(pdf: _Report, results: list[AidResult], _: Words) -> None:
    """The verification aids the package's events prove, with their tools' versions (as the
    HTML report lists them): names and findings translated, what they found as recorded."""
    if not results:
        return
    pdf.room_for(20)
    pdf.text_line(_("Verification aids: signals for a person to weigh, never a verdict"), style="B")
    pdf.text_line(_(AS_RECORDED), size=8)
    for result in results:
        said = _put(
            _("version %(version)s, %(status)s (event %(event)s)"),
            {
                "version": result.version,
                "status": aid_word(result.status, _),
                "event": result.event_seq,
            },
        )
        pdf.row(_aid(result.step, _), said)
        tools = ", ".join(f"{name} {version}" for name, version in sorted(result.tools.items()))
        if tools:
            pdf.row("", tools, size=7, fact=True)
        if result.error:
            pdf.row("", result.error, size=8, fact=True)
        for signal in result.signals:
            pdf.row(aid_word(signal.finding, _), _aid(signal.name, _), size=8)
            pdf.row("", signal.summary, size=8, fact=True)
            pdf.row("", signal.explanation, size=7, fact=True)


def _item(pdf: _Report, item: dict[str, Any], preview: bytes | None, _: Words) -> None:
    facts = item_facts(item, _)
    pdf.room_for(60)
    pdf.ln(3)
    pdf.text_line(", ".join(facts.names), size=12, style="B", height=6, fact=True)
    top, width = pdf.get_y(), pdf.epw
    bottom = top
    if preview is not None:
        left = pdf.l_margin if pdf.rtl else pdf.w - pdf.r_margin - THUMB
        image = pdf.image(io.BytesIO(preview), x=left, y=top, w=THUMB)
        bottom = top + float(image.rendered_height)
        width = pdf.epw - THUMB - 3
    for label, value in (
        (_("Original name(s)"), ", ".join(facts.names)),
        (_("Captured"), facts.capture_time),
        (_("Place"), facts.place),
        (_("Device"), facts.device),
        (_("Type and size"), f"{facts.media_type}, {facts.size}"),
        (_("File in package"), facts.file),
    ):
        pdf.row(label, value, width, fact=True)
    pdf.set_y(max(pdf.get_y(), bottom) + 1)
    for acq in facts.acquisitions:
        pdf.row(
            _put(_("Acquired (event %(event)s)"), {"event": acq.event}),
            _put(
                _("%(when)s: %(method)s, from source %(source)s, collected by %(collector)s"),
                {
                    "when": acq.when,
                    "method": acq.method,
                    "source": acq.source,
                    "collector": acq.collector,
                },
            ),
        )
        pdf.row(_("Name then"), acq.name, fact=True)
        if acq.note:
            pdf.row(_("Note"), acq.note, fact=True)
    if not facts.acquisitions:
        pdf.row(_("Acquired"), _("No acquisition of this case is recorded."))
    for incident in facts.incidents:
        said = _(
            "%(title)s (incident %(number)s): when %(when)s, where %(place)s%(violations)s. "
            "Linked in event %(linked)s; described in event %(described)s of the locker's log."
        )
        pdf.row(
            _put(_("Incident %(number)s"), {"number": incident.number}),
            _put(
                said,
                {
                    "title": incident.title,
                    "number": incident.number,
                    "when": incident.when,
                    "place": incident.place,
                    "violations": f"; {incident.violations}" if incident.violations else "",
                    "linked": incident.linked_in,
                    "described": incident.described_in,
                },
            ),
        )
    for seq, text in facts.annotations:
        pdf.row(
            _("Annotation"), _put(_("%(text)s (event %(event)s)"), {"text": text, "event": seq})
        )
    _verification(pdf, item.get("verification") or [], _)
    pdf.row("SHA-256", facts.sha256, size=7.5, fact=True)
    if facts.sha512:
        pdf.row("SHA-512", facts.sha512, size=7.5, fact=True)
    pdf.row(_("Custody"), facts.custody)


def render_pdf(
    package: dict[str, Any],
    items: list[dict[str, Any]],
    previews: dict[str, bytes],
    lang: str = locale.ENGLISH.code,
) -> bytes:
    """The report in the language of code `lang`, as docket.disclose.report.render."""
    language = locale.language(lang)
    _ = locale.translations(language.code).gettext
    pdf = _Report(language.direction)
    _cover(pdf, package, items, _)
    for item in items:
        _item(pdf, item, previews.get(item["item"]), _)
    return bytes(pdf.output())
