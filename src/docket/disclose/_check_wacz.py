"""The captures' WACZ packages in a package: each signed one is signed (capture/wacz_signing.py,
the WACZ signing spec's anonymous mode) by the WACZ key package.json names, the sending locker's
keys/wacz-signing.pub; package.json is a payload file the signed export record lists, so the
key is as proven as the rest. A capture's WACZ is an item whose metadata (checked against the
proven events by _check_items) has an acquisition by `capture` not inside a container; a WACZ
received from elsewhere is not checked against our key. One made before WACZ signing is
counted, not failed: its bytes are proven by the custody log all the same. A package without
a capture's WACZ adds no line to the report."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from docket.capture import wacz_signing
from docket.disclose._check_bag import Recorder
from docket.disclose._check_custody import Malformed, expect, read_json

NAME = "every capture's WACZ is signed by the sender's WACZ key"
KEY_FIELD = "wacz_public_key"  # package.json's field (disclose/package.py)


def _is_capture(root: Path, entry: dict[str, Any]) -> bool:
    meta = read_json(root, str(entry.get("metadata")))
    acquisitions = meta.get("acquisitions") if isinstance(meta, dict) else None
    return any(
        isinstance(a, dict) and a.get("method") == "capture" and a.get("path_in_container") is None
        for a in acquisitions or []
    )


def _capture_waczs(root: Path, entries: list[Any]) -> list[tuple[str, bool]]:
    """(file, signed) of each capture's WACZ among the package's items."""
    found = []
    for entry in entries:
        relative = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(relative, str) or entry.get("kind") != "original":
            continue
        path = root / "data" / relative
        if not path.is_file() or path.is_symlink() or not zipfile.is_zipfile(path):
            continue  # a missing file is named by the item check
        if not _is_capture(root, entry):
            continue
        with zipfile.ZipFile(path) as archive:
            if wacz_signing.DIGEST_NAME not in archive.namelist():
                continue
            info = archive.getinfo(wacz_signing.DIGEST_NAME)
            if info.file_size > wacz_signing.MAX_PACKAGE:
                raise Malformed(f"{relative}: {wacz_signing.DIGEST_NAME} is too large")
            digest = json.loads(archive.read(info))
        found.append((relative, isinstance(digest, dict) and "signedData" in digest))
    return found


def check_waczs(root: Path, report: Recorder) -> None:
    try:
        manifest = expect(read_json(root, "package.json"), dict, "package.json")
        entries = expect(manifest.get("items"), list, "package.json: items")
        waczs = _capture_waczs(root, entries)
        key = manifest.get(KEY_FIELD)
        if any(signed for _, signed in waczs) and not isinstance(key, str):
            raise Malformed(f"package.json: no {KEY_FIELD} to check the captures' WACZ with")
    except (Malformed, zipfile.BadZipFile, OSError, ValueError, RecursionError) as exc:
        report.record(NAME, [str(exc).splitlines()[0]])
        return
    if not waczs:
        return
    failures = []
    for relative, signed in waczs:
        if signed:
            try:
                wacz_signing.check(root / "data" / relative, relative, key)
            except wacz_signing.WaczSignatureError as exc:
                failures.append(str(exc))
    unsigned = sum(1 for _, signed in waczs if not signed)
    made_before = f"; {unsigned} made before WACZ signing, not signed" if unsigned else ""
    report.record(NAME, failures, f"{len(waczs) - unsigned} WACZ{made_before}")
