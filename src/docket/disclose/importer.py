"""`docket import`: a receiving locker takes in a package, so the chain of custody continues.

The package is checked first (refused if it does not verify); each file then arrives like
any other, and its acquisition records the package, its sender's key and origin, and the
checkpoint the sender proved it against.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from docket import mediatype
from docket.analyse.batch import analyse
from docket.catalogue.records import Arrival, record_arrival
from docket.custody.checkpoint import parse_signed_note
from docket.custody.ledger import make_checkpoint
from docket.disclose.check import check
from docket.errors import DocketError
from docket.locker import Locker


@dataclass
class ImportSummary:
    new: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def import_package(
    locker: Locker,
    package: Path,
    actor: str,
    case: str | None = None,
) -> ImportSummary:
    report = check(package)
    if not report.ok:
        first = report.failures[0] if report.failures else "see `docket check`"
        raise DocketError(f"{package}: does not verify ({first}); nothing was imported")
    summary = ImportSummary()
    with tempfile.TemporaryDirectory(prefix="docket-import-") as scratch:
        root = package
        if not package.is_dir():
            with zipfile.ZipFile(package) as bundle:
                bundle.extractall(scratch)
            [root] = list(Path(scratch).iterdir())
        manifest = json.loads((root / "data" / "package.json").read_text())
        checkpoint = parse_signed_note((root / "data" / "custody" / "checkpoint.txt").read_text())
        package_digest = _digest(package if package.is_file() else root / "tagmanifest-sha256.txt")
        for entry in manifest["items"]:
            path = root / "data" / entry["file"]
            arrival = Arrival(
                collector=actor,
                method="package",
                original_path_raw=os.fsencode(package) + b"!/" + entry["file"].encode(),
                case=case,
                package={
                    "name": package.name,
                    "sha256": package_digest,
                    "profile": manifest["profile"],
                    "sender_origin": manifest["origin"],
                    "sender_public_key": manifest["public_key"],
                    "checkpoint_size": checkpoint.tree_size,
                    "checkpoint_root": checkpoint.root.hex(),
                    "sender_item": entry["item"],
                    "kind": entry["kind"],
                },
            )
            with path.open("rb") as stream:
                blob = locker.store.put(stream)
            with locker.engine.connect() as conn, conn.begin():
                new, _ = record_arrival(conn, blob.digest, mediatype.sniff(blob.head), arrival)
            (summary.new if new else summary.held).append(blob.digest.sha256)
    with locker.engine.connect() as conn, conn.begin():
        make_checkpoint(conn, locker.signing_key, locker.origin, actor)
    if summary.new:
        analyse(locker, summary.new, actor)
    return summary
