"""Packaging one capture as WACZ 1.1 with the `wacz` package (Webrecorder's own tool).

The package holds archive/capture.warc.gz, the CDXJ index of its records (indexes/index.cdx.gz
with its index.idx), pages/pages.jsonl (the page asked, its title and text), datapackage.json
with the SHA-256 of every file, and datapackage-digest.json with the hash of that, signed by
the locker's WACZ key as the WACZ signing spec's anonymous mode describes (capture/
wacz_signing.py). The `wacz` package asks a signing server for a signature; ours is made here,
so the digest file it writes is replaced by the signed one, every other member copied as it
was. The locker's signed checkpoint covers the package's SHA-256 too, once it is stored.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from wacz.main import main as wacz_main

from docket import __version__
from docket.capture.browser import CaptureError
from docket.capture.wacz_signing import DIGEST_NAME, PACKAGE_NAME, WaczKey, signed_digest

PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}


def _quiet() -> contextlib.ExitStack:
    """The wacz package prints as it goes; the library never prints."""
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def _sign(target: Path, key: WaczKey) -> None:
    """Replace `target`'s datapackage-digest.json with one signed by `key`."""
    signed = target.with_name(target.name + ".signed")
    with zipfile.ZipFile(target) as source, zipfile.ZipFile(signed, "w") as out:
        package = source.read(PACKAGE_NAME)
        created = json.loads(package)["created"]
        digest = signed_digest(package, created, f"Docket {__version__}", key)
        for info in source.infolist():
            if info.filename == DIGEST_NAME:
                out.writestr(info, json.dumps(digest, indent=2))
                continue
            # No forced ZIP64: each entry keeps the sizes it had, so its local header reads as
            # ReplayWeb.page's zip reader expects (a forced ZIP64 extra made it read garbage).
            with source.open(info) as src, out.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 2**20)
    signed.replace(target)


def package(
    warc: Path,
    target: Path,
    url: str,
    title: str,
    text: str,
    captured_at: float,
    key: WaczKey,
) -> Path:
    """Write `target` (a .wacz) from one WARC and its page, signed by `key`; raise
    CaptureError if it fails."""
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
    try:
        _sign(target, key)
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise CaptureError(f"{target.name}: the WACZ package could not be signed ({exc})") from exc
    return target
