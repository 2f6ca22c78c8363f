"""Packaging one capture as WACZ 1.1 with the `wacz` package (Webrecorder's own tool).

The package holds archive/capture.warc.gz, the CDXJ index of its records (indexes/index.cdx.gz
with its index.idx), pages/pages.jsonl (the page asked, its title and text), datapackage.json
with the SHA-256 of every file, and datapackage-digest.json with the hash of that. It is not
signed the WACZ way (that needs a signing server); the locker's signed checkpoint covers the
package's SHA-256 instead, once it is stored.
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from wacz.main import main as wacz_main

from docket.capture.browser import CaptureError

PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}


def _quiet() -> contextlib.ExitStack:
    """The wacz package prints as it goes; the library never prints."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def package(warc: Path, target: Path, url: str, title: str, text: str, captured_at: float) -> Path:
    """Write `target` (a .wacz) from one WARC and its page; raise CaptureError if it fails."""
    pages = warc.parent / "pages.jsonl"
    page = {
        "id": uuid.uuid4().hex,
        "url": url,
        "ts": datetime.fromtimestamp(captured_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "title": title,
        "text": text,
    }
    lines = [json.dumps(PAGES_HEADER), json.dumps(page, ensure_ascii=False)]
    pages.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["create", "-o", str(target), "--pages", str(pages), "--copy-pages"]
    args += ["--hash-type", "sha256", "--url", url, str(warc)]
    if title:
        args += ["--title", title[:500]]
    with _quiet():
        code = wacz_main(args)
    if code != 0 or not target.exists():
        raise CaptureError(f"{target.name}: the WACZ package could not be written")
    return target
