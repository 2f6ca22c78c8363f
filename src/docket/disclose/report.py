"""The human-readable report inside a package, as one static HTML file: a first page that says
what was received, from whom, when and how to check it, then each item with its original names,
capture time and place, device, acquisitions (sources by pseudonym only), notes, incidents and
annotations of the case, a safe (blurred) preview, hashes and a custody summary. Every fact is
read from what the package proves (docket.disclose._report_facts). Its labels and sentences
are in the language the export asks for (docket.locale: English, Arabic or Kurdish), right to
left for Arabic and Kurdish, with the verification aids' names and findings; the facts
themselves (names, notes, hashes, times, and what the aids found) as recorded, and the report
says so in the reader's language."""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape
from typing import Any

from docket import locale
from docket.aids.results import AidResult
from docket.disclose._report_facts import (
    AS_RECORDED,
    ItemFacts,
    aid_word,
    first_page,
    item_facts,
    verify_steps,
)
from docket.names import show_direction_controls

STYLE = """body{font-family:"DejaVu Sans","Noto Sans",sans-serif;max-width:60em;margin:1.5em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{margin:.2em 0}h2{margin:.4em 0}h3{margin:.8em 0 .2em;font-size:1em}
code{font-size:.85em;word-break:break-all}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ccc;padding:.25em .4em;text-align:start;vertical-align:top}
th{width:11em;background:#f4f4f4;font-weight:normal}
.item{border-top:2px solid #444;margin-top:1.5em;padding-top:.5em}
.facts{display:flex;gap:1em;align-items:flex-start}.facts table{flex:1}
.facts img{max-width:200px;max-height:180px;filter:grayscale(1)}
.cover{border:2px solid #444;padding:.5em 1em}
@media print{.item{break-before:page}}"""


Words = Callable[[str], str]  # gettext of the report's language


def _person(text: str) -> str:
    """Text that came from people: any script, its direction found by the browser."""
    return f"<span dir=auto>{escape(text)}</span>"


def _rows(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{escape(k)}<td>{v}" for k, v in rows) + "</table>"


def _tag(name: str, text: str) -> str:
    """An element holding the (translated) text, escaped; no _() inside f-strings, where
    Babel's extraction would miss it."""
    return f"<{name}>{escape(text)}</{name}>"


def _time(text: str) -> str:
    """A time of the log (ISO 8601), read left to right inside any sentence."""
    return f"<bdi dir=ltr>{escape(text)}</bdi>"


def _code(text: str) -> str:
    return f"<code dir=ltr>{escape(text)}</code>"


def _cover(package: dict[str, Any], items: list[dict[str, Any]], _: Words) -> list[str]:
    page = first_page(package, items, _)
    steps = "".join(f"<li>{escape(step)}" for step in verify_steps(page["fingerprint"], _))
    return [
        "<section class=cover>",
        "<h1>" + _("Evidence package: %(case)s") % {"case": _person(page["case"])} + "</h1>",
        _rows(
            [
                (
                    _("What"),
                    escape(_("%(count)s item(s), %(profile)s profile"))
                    % {"count": escape(page["count"]), "profile": escape(page["profile"])},
                ),
                (_("Case"), _person(page["case"])),
                (_("For"), _person(page["recipient"])),
                (
                    _("From"),
                    escape(_("the Docket locker %(origin)s")) % {"origin": _code(page["origin"])},
                ),
                (_("Signing key"), _code(page["fingerprint"])),
                (
                    _("When"),
                    escape(
                        _(
                            "prepared %(prepared)s; the signed export checkpoint (%(checkpoint)s) "
                            "was made right after, and a timestamp authority's token (%(token)s), "
                            "when present, stamps it: the verifier prints both times"
                        )
                    )
                    % {
                        "prepared": _time(page["prepared"]),
                        "checkpoint": _code("custody/checkpoint.txt"),
                        "token": _code("custody/checkpoint.tsr"),
                    },
                ),
            ]
        ),
        _tag("h2", _("How to verify it")) + f"<ol>{steps}</ol>",
        "<p>"
        + escape(
            _(
                "Previews are blurred and grey on purpose; the originals are in %(folder)s. "
                "Names, notes and pseudonyms are shown as recorded."
            )
        )
        % {"folder": _code("data/items/")}
        + "</p></section>",
    ]


def _said(translated: str, **values: str) -> str:
    """A translated sentence, escaped, with its values (already HTML) put in."""
    return escape(translated) % values


def _acquisitions(facts: ItemFacts, _: Words) -> str:
    if not facts.acquisitions:
        return _tag("p", _("No acquisition of this case is recorded."))
    when, none = _("%(when)s (event %(event)s)"), escape(_("none"))
    rows = "".join(
        f"<tr><td>{_said(when, when=_time(a.when), event=str(a.event))}"
        f"<td>{_person(a.source)}<td>{_person(a.collector)}<td>{escape(a.method)}"
        f"<td>{_person(a.name)}<td>{_person(a.note) if a.note else none}"
        for a in facts.acquisitions
    )
    heads = (_("when"), _("source (pseudonym)"), _("collector"), _("how"), _("name"), _("note"))
    return "<table><tr>" + "".join(f"<th>{escape(h)}" for h in heads) + f"{rows}</table>"


def _incidents(facts: ItemFacts, _: Words) -> str:
    if not facts.incidents:
        return ""
    rows = "".join(
        "<li>"
        + _said(
            _(
                "%(title)s (incident %(number)s): when %(when)s, where %(place)s%(violations)s. "
                "Linked in event %(linked)s; described in event %(described)s of the locker's log."
            ),
            title=_person(i.title),
            number=str(i.number),
            when=_time(i.when),
            place=_person(i.place),
            violations="; " + _person(i.violations) if i.violations else "",
            linked=str(i.linked_in),
            described=str(i.described_in),
        )
        for i in facts.incidents
    )
    return _tag("h3", _("Incidents")) + f"<ul>{rows}</ul>"


def _annotations(facts: ItemFacts, _: Words) -> str:
    if not facts.annotations:
        return ""
    rows = "".join(
        "<li>" + _said(_("%(text)s (event %(event)s)"), text=_person(text), event=str(seq))
        for seq, text in facts.annotations
    )
    return _tag("h3", _("Annotations")) + f"<ul>{rows}</ul>"


def _aid(word: str, _: Words) -> str:
    """An aid's or a signal's name in the report's language, with the name the custody log
    records when the two differ."""
    shown = aid_word(word, _)
    return f"<b>{escape(shown)}</b>" + (f" {_code(word)}" if shown != word else "")


def _verification(results: list[AidResult], _: Words) -> str:
    """The verification aids the package's events prove, with their tools' versions: their
    names and findings in the report's language, what they found as recorded (in English)."""
    if not results:
        return ""
    parts = [
        _tag("h3", _("Verification aids"))
        + _tag("p", _("Signals for a person to weigh, never a verdict."))
        + _tag("p", _(AS_RECORDED))
    ]
    heads = (_("finding"), _("check"), _("what it found (as recorded, in English)"))
    for result in results:
        tools = ", ".join(f"{k} {v}" for k, v in sorted(result.tools.items()))
        parts.append(
            "<p>"
            + _said(
                _("%(step)s version %(version)s, %(status)s (event %(event)s)"),
                step=_aid(result.step, _),
                version=escape(str(result.version)),
                status=escape(aid_word(result.status, _)),
                event=str(result.event_seq),
            )
            + (f" <span dir=ltr>({escape(tools)})</span>" if tools else "")
            + (f": <span lang=en dir=auto>{escape(result.error)}</span>" if result.error else "")
            + "</p>"
        )
        rows = "".join(
            f"<tr><td>{escape(aid_word(s.finding, _))}<td>{_aid(s.name, _)}"
            f"<td lang=en dir=auto>{escape(s.summary)}<br><small>{escape(s.explanation)}</small>"
            for s in result.signals
        )
        if rows:
            parts.append("<table><tr>" + "".join(f"<th>{escape(h)}" for h in heads) + rows)
            parts.append("</table>")
    return "".join(parts)


def _item(item: dict[str, Any], preview: bytes | None, _: Words) -> list[str]:
    facts = item_facts(item, _)
    names = ", ".join(_person(n) for n in facts.names)
    parts = [f"<section class=item><h2>{names}</h2><div class=facts>"]
    parts.append(
        _rows(
            [
                (_("Original name(s)"), names),
                (_("Captured"), _person(facts.capture_time)),
                (_("Place"), _person(facts.place)),
                (_("Device"), _person(facts.device)),
                (_("Type and size"), _person(f"{facts.media_type}, {facts.size}")),
                (_("File in package"), _code(facts.file)),
            ]
        )
    )
    if preview is not None:
        encoded = base64.b64encode(preview).decode()
        alt = escape(_("blurred preview"), quote=True)
        parts.append(f"<img alt='{alt}' src='data:image/jpeg;base64,{encoded}'>")
    parts.append("</div>")
    parts += [_tag("h3", _("Acquisitions")), _acquisitions(facts, _)]
    parts.append(_incidents(facts, _))
    parts.append(_annotations(facts, _))
    parts.append(_verification(item.get("verification") or [], _))
    parts.append(_tag("h3", _("Hashes and custody")))
    parts.append(
        _rows(
            [
                ("SHA-256", _code(facts.sha256)),
                ("SHA-512", _code(facts.sha512)),
                (_("Custody"), _person(facts.custody)),
            ]
        )
    )
    parts.append("</section>")
    return parts


def render(
    package: dict[str, Any],
    items: list[dict[str, Any]],
    previews: dict[str, bytes],
    lang: str = locale.ENGLISH.code,
) -> str:
    """The report in the language of code `lang` (LanguageError for one Docket lacks)."""
    language = locale.language(lang)
    _ = locale.translations(lang).gettext
    case = "&#x2068;" + escape(first_page(package, items, _)["case"]) + "&#x2069;"  # isolated
    parts = [
        f"<!doctype html><html lang={language.code} dir={language.direction}>",
        "<meta charset=utf-8><meta name=viewport content='width=device-width'>",
        _tag("title", _("Evidence package: %(case)s")) % {"case": case},
        f"<style>{STYLE}</style>",
        *_cover(package, items, _),
    ]
    for item in items:
        parts += _item(item, previews.get(item["item"]), _)
    parts.append("</html>")
    return show_direction_controls("\n".join(parts))
