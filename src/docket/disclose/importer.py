"""`docket import`: a receiving locker takes in a package, so the chain of custody continues.

The package is unpacked once and checked (refused if it does not verify, or if the sender's
key the receiver gave does not sign it; without a key only on an explicit --trust-new-key);
each file then arrives like any other, and its acquisition records the package, its sender's
key and origin, whether that key was confirmed or trusted as new, the checkpoint the sender
proved it against, and the SHA-256 of the sender's custody, kept whole in the store
(docket.disclose.prior), so that a later export carries both legs of the chain.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from docket import mediatype
from docket.analyse.batch import analyse, unanalysed
from docket.catalogue.records import Arrival, record_arrival, step_versions
from docket.custody.checkpoint import open_checkpoint
from docket.custody.ledger import make_checkpoint
from docket.disclose import prior
from docket.disclose._check_bag import PackageError, unpack
from docket.disclose.check import CheckReport, check_root
from docket.errors import DiskFullError, DocketError
from docket.jobs.analysis import INGEST_GRACE, defer_analysis
from docket.jobs.queue import withdraw
from docket.locker import Locker


@dataclass
class ImportSummary:
    new: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    prior_custody: str = ""  # the SHA-256 of the sender's custody, kept (docket.disclose.prior)
    resumed: list[str] = field(default_factory=list)  # left unanalysed by an interrupted run


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
    key: bytes | str | None = None,
    trust_new_key: bool = False,
    tsa_roots: list[x509.Certificate] | None = None,
) -> ImportSummary:
    """Import a package whose signer the receiver confirmed (`key`: the sender's raw key or
    its fingerprint), or, when `trust_new_key` is given, one whose key it takes on trust
    (each arrival records which). Its timestamp tokens must chain to `tsa_roots`, the roots
    the receiver trusts (the system's when None), as for `docket check`."""
    if key is None and not trust_new_key:
        raise DocketError(
            "give the sender's key (--key, from another channel), or --trust-new-key to "
            "take the package's own key on trust (the custody log records that you did)"
        )
    locker.require_signing_key()
    summary = ImportSummary()
    jobs: dict[str, list[int]] = {}  # item: its held-back jobs, withdrawn once analysed here
    # The package's originals are unpacked in the locker's own tmp/, never the system's.
    with locker.store.scratch("import") as scratch:
        report = CheckReport()
        try:
            root = unpack(package, Path(scratch))
        except PackageError as exc:
            raise DocketError(f"{exc}; nothing was imported") from exc
        check_root(root, report, key, tsa_roots)
        if not report.ok or (key is not None and not report.signer_confirmed):
            first = report.failures[0] if report.failures else "see `docket check`"
            raise DocketError(f"{package}: does not verify ({first}); nothing was imported")
        manifest = json.loads((root / "data" / "package.json").read_text())
        public_key = bytes.fromhex(manifest["public_key"])
        checkpoint = open_checkpoint(
            (root / "data" / "custody" / "checkpoint.txt").read_bytes().decode(), public_key
        )
        package_digest = _digest(package if package.is_file() else root / "tagmanifest-sha256.txt")
        kept = prior.keep(locker, root, manifest)
        summary.prior_custody = kept[prior.PRIOR_CUSTODY]
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
                    "sender_key": "confirmed" if key is not None else "trusted as new",
                    "checkpoint_size": checkpoint.tree_size,
                    "checkpoint_root": checkpoint.root.hex(),
                    "sender_item": entry["item"],
                    "kind": entry["kind"],
                    **kept,
                },
            )
            with path.open("rb") as stream:
                try:
                    blob = locker.store.put(stream, label=f"{package}!/data/{entry['file']}")
                except DiskFullError as exc:
                    done = len(summary.new) + len(summary.held)
                    raise DiskFullError(
                        f"{exc}; the import stopped there: {done} of {len(manifest['items'])} "
                        "items recorded; free some space and run the same import again"
                    ) from exc
            media_type = mediatype.sniff(blob.head)
            with locker.engine.connect() as conn, conn.begin():
                new, _ = record_arrival(conn, blob.digest, media_type, arrival)
                # On PostgreSQL the item's analysis job commits with it: a new item's is held
                # back while this import analyses it, then withdrawn (as docket.ingest.run
                # does); a held item's due steps are left to a worker at once.
                versions = step_versions(conn, blob.digest.sha256)
                delay = 0 if versions else INGEST_GRACE
                job = defer_analysis(
                    conn, blob.digest.sha256, media_type, versions, arrival.collector, delay
                )
            if job is not None and delay:
                jobs.setdefault(blob.digest.sha256, []).append(job)
            (summary.new if new else summary.held).append(blob.digest.sha256)
    with locker.engine.connect() as conn, conn.begin():
        make_checkpoint(conn, locker.signing_key, locker.origin, actor)
        left = unanalysed(conn)  # this import's new items, and those a killed run left
    summary.resumed = [sha256 for sha256 in left if sha256 not in summary.new]
    if left:
        analyse(locker, left, actor)
    if jobs:
        with locker.engine.connect() as conn, conn.begin():
            for job in (job for item in left for job in jobs.get(item, [])):
                withdraw(conn, job)
    return summary
