"""The human-readable report inside a package: each item with its safe preview, hashes,
acquisitions (sources by pseudonym only) and custody trail, and how to verify it all."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

STYLE = """body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
code,pre{font-size:.85em;word-break:break-all}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ccc;padding:.3em;text-align:left;vertical-align:top}
.item{border-top:2px solid #444;margin-top:2em;padding-top:1em}
img{max-width:320px;filter:grayscale(1)}"""


def render(package: dict[str, Any], items: list[dict[str, Any]], previews: dict[str, bytes]) -> str:
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>Evidence package: {escape(package['profile'])}</title><style>{STYLE}</style>",
        f"<h1>Evidence package ({escape(package['profile'])} profile)</h1>",
        f"<p>From locker <code>{escape(package['origin'])}</code>, exported "
        f"{escape(package['exported_at'])} for "
        f"{escape(package['recipient'] or 'an unnamed recipient')}."
        f" {len(items)} item(s). Previews are blurred on purpose.</p>",
        "<h2>How to verify this package</h2><ol>",
        "<li>Run <code>docket-check PACKAGE</code> (or <code>python -m docket.disclose.check "
        "PACKAGE</code>); it needs no locker and no network. With only Python 3: "
        "<code>python3 data/verify_package.py PACKAGE --key SENDER_KEY</code> (the sender's "
        "key or fingerprint, received apart from this package).</li>",
        "<li>Or by hand: validate the BagIt manifests (<code>bagit.py --validate</code>); "
        "recompute each event's RFC 6962 leaf hash, SHA-256(0x00 || leaf), and follow its "
        "audit path in <code>custody/events.json</code> to the root in "
        "<code>custody/checkpoint.txt</code>; check that note's Ed25519 signature with the "
        f"public key <code>{escape(package['public_key'])}</code>.</li>",
        "<li>Where <code>custody/checkpoint.tsr</code> exists, it is an RFC 3161 token over "
        "the checkpoint's text: <code>openssl ts -verify -data checkpoint-body -in "
        "checkpoint.tsr -CAfile tsa-root.pem</code>.</li></ol>",
    ]
    for item in items:
        meta = item["metadata"]
        parts.append(f"<div class=item><h2>Item <code>{escape(item['item'][:16])}</code></h2>")
        preview = previews.get(item["item"])
        if preview is not None:
            encoded = base64.b64encode(preview).decode()
            parts.append(f"<img alt='blurred preview' src='data:image/jpeg;base64,{encoded}'>")
        parts.append("<table>")
        for label, value in (
            ("file in package", item["file"]),
            ("SHA-256 of that file", meta["file_sha256"]),
            ("original SHA-256", item["item"]),
            ("original SHA-512", meta.get("sha512", "")),
            ("media type", meta.get("media_type", "")),
            ("size", str(meta.get("size", ""))),
        ):
            parts.append(f"<tr><th>{escape(label)}<td><code>{escape(str(value))}</code>")
        parts.append("</table>")
        acquisitions = meta.get("acquisitions", [])
        if acquisitions:
            parts.append("<h3>Acquisitions</h3><table><tr><th>when<th>by<th>source<th>how")
            for acq in acquisitions:
                parts.append(
                    f"<tr><td>{escape(acq['acquired_at'])}<td>{escape(acq['collector'])}"
                    f"<td>{escape(acq['source'] or 'not recorded')}<td>{escape(acq['method'])}"
                )
            parts.append("</table>")
        parts.append("<h3>Custody trail</h3><table><tr><th>event<th>time<th>who<th>what")
        for event in item["events"]:
            parts.append(
                f"<tr><td>{event['seq']}<td>{escape(event['time'])}<td>{escape(event['actor'])}"
                f"<td>{escape(event['action'])}"
            )
        parts.append("</table></div>")
    parts.append("</html>")
    return "\n".join(parts)
