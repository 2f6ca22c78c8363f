"""The human-readable report inside a package, as one static HTML file: a first page that says
what was received, from whom, when and how to check it, then each item with its original names,
capture time and place, device, acquisitions (sources by pseudonym only), notes, incidents and
annotations of the case, a safe (blurred) preview, hashes and a custody summary. Every fact is
read from what the package proves (docket.disclose._report_facts)."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from docket.aids.results import AidResult
from docket.disclose._report_facts import ItemFacts, first_page, item_facts, verify_steps

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


def _person(text: str) -> str:
    """Text that came from people: any script, its direction found by the browser."""
    return f"<span dir=auto>{escape(text)}</span>"


def _rows(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{escape(k)}<td>{v}" for k, v in rows) + "</table>"


def _cover(package: dict[str, Any], items: list[dict[str, Any]]) -> list[str]:
    page = first_page(package, items)
    steps = "".join(f"<li>{escape(step)}" for step in verify_steps(page["fingerprint"]))
    return [
        "<section class=cover>",
        f"<h1>Evidence package: {_person(page['case'])}</h1>",
        _rows(
            [
                ("What", f"{escape(page['count'])} item(s), {escape(page['profile'])} profile"),
                ("Case", _person(page["case"])),
                ("For", _person(page["recipient"])),
                ("From", f"the Docket locker <code>{escape(page['origin'])}</code>"),
                ("Signing key", f"<code>{escape(page['fingerprint'])}</code>"),
                (
                    "When",
                    f"prepared {escape(page['prepared'])}; the signed export checkpoint "
                    "(<code>custody/checkpoint.txt</code>) was made right after, and a "
                    "timestamp authority's token (<code>custody/checkpoint.tsr</code>), when "
                    "present, stamps it: the verifier prints both times",
                ),
            ]
        ),
        f"<h2>How to verify it</h2><ol>{steps}</ol>",
        "<p>Previews are blurred and grey on purpose; the originals are in <code>data/items/"
        "</code>. Names, notes and pseudonyms are shown as recorded.</p></section>",
    ]


def _acquisitions(facts: ItemFacts) -> str:
    if not facts.acquisitions:
        return "<p>No acquisition of this case is recorded.</p>"
    rows = "".join(
        f"<tr><td>{escape(a.when)} (event {a.event})<td>{_person(a.source)}"
        f"<td>{_person(a.collector)}<td>{escape(a.method)}<td>{_person(a.name)}"
        f"<td>{_person(a.note) if a.note else 'none'}"
        for a in facts.acquisitions
    )
    return (
        "<table><tr><th>when<th>source (pseudonym)<th>collector<th>how<th>name<th>note"
        f"{rows}</table>"
    )


def _incidents(facts: ItemFacts) -> str:
    if not facts.incidents:
        return ""
    rows = "".join(
        f"<li>{_person(i.title)} (incident {i.number}): when {escape(i.when)}, where "
        f"{_person(i.place)}{'; ' + _person(i.violations) if i.violations else ''}. Linked in "
        f"event {i.linked_in}; described in event {i.described_in} of the locker's log."
        for i in facts.incidents
    )
    return f"<h3>Incidents</h3><ul>{rows}</ul>"


def _annotations(facts: ItemFacts) -> str:
    if not facts.annotations:
        return ""
    rows = "".join(f"<li>{_person(text)} (event {seq})" for seq, text in facts.annotations)
    return f"<h3>Annotations</h3><ul>{rows}</ul>"


def _verification(results: list[AidResult]) -> str:
    """The verification aids the package's events prove, with their tools' versions."""
    if not results:
        return ""
    parts = ["<h3>Verification aids</h3><p>Signals for a person to weigh, never a verdict.</p>"]
    for result in results:
        tools = "".join(f"; {escape(k)} {escape(v)}" for k, v in sorted(result.tools.items()))
        parts.append(
            f"<p><b>{escape(result.step)}</b> version {escape(str(result.version))}, "
            f"{escape(result.status)} (event {result.event_seq}){tools}"
            + (f": {escape(result.error)}" if result.error else "")
            + "</p>"
        )
        rows = "".join(
            f"<li><b>{escape(s.finding)}</b>, {escape(s.name)}: {_person(s.summary)}"
            f"<br><small>{escape(s.explanation)}</small>"
            for s in result.signals
        )
        parts.append(f"<ul>{rows}</ul>" if rows else "")
    return "".join(parts)


def _item(item: dict[str, Any], preview: bytes | None) -> list[str]:
    facts = item_facts(item)
    names = ", ".join(_person(n) for n in facts.names)
    parts = [f"<section class=item><h2>{names}</h2><div class=facts>"]
    parts.append(
        _rows(
            [
                ("Original name(s)", names),
                ("Captured", escape(facts.capture_time)),
                ("Place", escape(facts.place)),
                ("Device", _person(facts.device)),
                ("Type and size", escape(f"{facts.media_type}, {facts.size}")),
                ("File in package", f"<code>{escape(facts.file)}</code>"),
            ]
        )
    )
    if preview is not None:
        encoded = base64.b64encode(preview).decode()
        parts.append(f"<img alt='blurred preview' src='data:image/jpeg;base64,{encoded}'>")
    parts.append("</div>")
    parts += ["<h3>Acquisitions</h3>", _acquisitions(facts), _incidents(facts)]
    parts.append(_annotations(facts))
    parts.append(_verification(item.get("verification") or []))
    parts.append("<h3>Hashes and custody</h3>")
    parts.append(
        _rows(
            [
                ("SHA-256", f"<code>{escape(facts.sha256)}</code>"),
                ("SHA-512", f"<code>{escape(facts.sha512)}</code>"),
                ("Custody", escape(facts.custody)),
            ]
        )
    )
    parts.append("</section>")
    return parts


def render(package: dict[str, Any], items: list[dict[str, Any]], previews: dict[str, bytes]) -> str:
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width'>",
        f"<title>Evidence package: {escape(first_page(package, items)['case'])}</title>",
        f"<style>{STYLE}</style>",
        *_cover(package, items),
    ]
    for item in items:
        parts += _item(item, previews.get(item["item"]))
    parts.append("</html>")
    return "\n".join(parts)
