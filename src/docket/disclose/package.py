"""`docket export`: a BagIt package (RFC 8493) that proves itself.

Court profile: the originals, their full metadata, every custody event of each item. The
publication profile: only redacted or stripped copies (made now if missing), no original, no
identifying metadata, and only the events that made those copies (the arrival events, with
paths and collectors, stay home). Both carry each event's inclusion proof against a checkpoint
signed at export time, the locker's public key, a consistency proof from the previous export's
checkpoint, an RFC 3161 token when a TSA is configured, and a report. The export is itself a
custody event: the locker remembers what left, for whom, and when.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bagit
from sqlalchemy import Connection, select

from docket import clock, scope
from docket.analyse.batch import run_step
from docket.catalogue import queries, schema
from docket.catalogue.records import latest_result
from docket.custody import ledger, log, merkle
from docket.custody.events import Event
from docket.disclose import report, stamping
from docket.errors import DocketError
from docket.locker import Locker
from docket.protect.steps import StripStep

PROFILES = ("court", "publication")
PACKAGE_FORMAT = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ExportSummary:
    path: Path
    items: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    checkpoint: int = 0


@dataclass(frozen=True)
class _Chosen:
    item: str
    kind: str  # original | redacted | stripped
    blob: str
    media_type: str
    result_event: int | None  # the step event that made a derivative


def _safe_name(raw: str, fallback: str) -> str:
    name = _UNSAFE.sub("_", raw.rsplit("/", 1)[-1]).strip("._") or fallback
    return name[:120]


def _publication_copy(locker: Locker, conn: Connection, item: str) -> _Chosen | None:
    rows = conn.execute(
        select(
            schema.derivatives.c.sha256,
            schema.derivatives.c.kind,
            schema.derivatives.c.media_type,
            schema.derivatives.c.event_seq,
        )
        .join(schema.results, schema.results.c.event_seq == schema.derivatives.c.event_seq)
        .where(
            schema.derivatives.c.item_sha256 == item,
            schema.derivatives.c.kind.in_(["redacted", "stripped"]),
        )
        .order_by(schema.derivatives.c.id.desc())
    ).all()
    for blob, kind, media_type, seq in rows:
        if kind == "stripped" or _redaction_was_stripped(conn, seq):
            return _Chosen(item, kind, blob, media_type, int(seq))
    return None


def _redaction_was_stripped(conn: Connection, seq: int) -> bool:
    data = conn.execute(
        select(schema.results.c.data).where(schema.results.c.event_seq == seq)
    ).scalar_one()
    return bool(json.loads(data).get("stripped"))


def _choose(
    locker: Locker, items: list[str], profile: str, actor: str, summary: ExportSummary
) -> list[_Chosen]:
    chosen = []
    for item in items:
        with locker.engine.connect() as conn, conn.begin():
            media_type = str(
                conn.execute(
                    select(schema.items.c.media_type).where(schema.items.c.sha256 == item)
                ).scalar_one()
            )
            if profile == "court":
                chosen.append(_Chosen(item, "original", item, media_type, None))
                continue
            copy = _publication_copy(locker, conn, item)
        if copy is None and media_type.startswith(("image/", "video/")):
            run = run_step(locker, item, media_type, StripStep(), actor)
            if run.error is None:
                with locker.engine.connect() as conn, conn.begin():
                    copy = _publication_copy(locker, conn, item)
        if copy is None:
            summary.left_out.append((item, "no stripped or redacted copy could be made"))
        else:
            chosen.append(copy)
    return chosen


def _shown(conn: Connection, case: str | None) -> Collection[int | None] | None:
    """The cases whose records an export holds: the exported case's only (docket.scope)."""
    return None if case is None else scope.export_of(conn, case).cases


def _item_metadata(
    conn: Connection,
    chosen: _Chosen,
    file_sha256: str,
    profile: str,
    case: str | None = None,
) -> dict[str, Any]:
    if profile == "publication":
        return {
            "file_sha256": file_sha256,
            "media_type": chosen.media_type,
            "derived_from": chosen.item,
            "made_by": chosen.kind,
        }
    detail = queries.describe_item(conn, chosen.item, _shown(conn, case))
    metadata = latest_result(conn, chosen.item, "metadata")
    return {
        "file_sha256": file_sha256,
        "sha256": detail["sha256"],
        "sha512": detail["sha512"],
        "size": detail["size"],
        "media_type": detail["media_type"],
        "first_seen": detail["first_seen"],
        "acquisitions": [
            {
                key: acq[key]
                for key in (
                    "acquired_at",
                    "collector",
                    "source",
                    "method",
                    "original_path",
                    "path_in_container",
                    "file_mtime",
                    "note",
                    "event",
                )
            }
            for acq in detail["acquisitions"]
        ],
        "metadata": None if metadata is None else metadata["data"],
        "analysis": detail["analysis"],
    }


def _events_for(
    conn: Connection, chosen: list[_Chosen], profile: str, case: str | None = None
) -> list[Event]:
    """Court: every event of the items, but of a case's export only those the case may read
    (facts of the bytes, and its own people's work: docket.scope)."""
    if profile == "court":
        wanted = {c.item for c in chosen}
        events = [e for e in log.events(conn) if e.item in wanted]
        return (
            events
            if case is None
            else scope.visible_events(conn, scope.export_of(conn, case), events)
        )
    seqs = {c.result_event for c in chosen}
    return [e for e in log.events(conn) if e.seq in seqs]


def _previous_export(conn: Connection, origin: str) -> ledger.StoredCheckpoint | None:
    last = None
    for event in log.events(conn):
        if event.action == "package.exported":
            last = int(event.details["checkpoint"]["checkpoint"])
    return None if last is None else ledger.get_checkpoint(conn, origin, last)


def export(
    locker: Locker,
    items: list[str],
    profile: str,
    output: Path,
    actor: str,
    recipient: str | None = None,
    case: str | None = None,
) -> ExportSummary:
    if profile not in PROFILES:
        raise DocketError(f"{profile!r}: a profile is one of {', '.join(PROFILES)}")
    if not items:
        raise DocketError("nothing to export: no items given or the case is empty")
    if output.exists():
        raise DocketError(f"{output}: already exists; choose a new name")
    summary = ExportSummary(output)
    chosen = _choose(locker, items, profile, actor, summary)
    with locker.engine.connect() as conn, conn.begin():
        previous = _previous_export(conn, locker.origin)
        checkpoint = ledger.make_checkpoint(conn, locker.signing_key, locker.origin, actor)
    url = stamping.tsa_url()
    token = None
    if url is not None:
        with locker.engine.connect() as conn, conn.begin():
            token = stamping.stamp(conn, actor, checkpoint, url)
    staging = Path(tempfile.mkdtemp(prefix=".docket-export-", dir=output.parent))
    try:
        with locker.engine.connect() as conn, conn.begin():
            _write_payload(
                locker, conn, staging, chosen, profile, checkpoint, previous, token, recipient, case
            )
        bagit.make_bag(
            str(staging),
            {
                "Source-Organization": locker.origin,
                "External-Description": f"Docket evidence package, {profile} profile",
                "Docket-Profile": profile,
                "Docket-Recipient": recipient or "",
            },
            checksums=["sha256", "sha512"],
        )
        tagmanifest = hashlib.sha256((staging / "tagmanifest-sha256.txt").read_bytes()).hexdigest()
        _finish(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary.items = [c.item for c in chosen]
    summary.checkpoint = checkpoint.id
    with locker.engine.connect() as conn, conn.begin():
        log.append(
            conn,
            actor,
            "package.exported",
            details={
                "profile": profile,
                "recipient": recipient,
                "items": summary.items,
                "files": [c.blob for c in chosen],
                "checkpoint": ledger.checkpoint_facts(checkpoint),
                "package": output.name,
                "tagmanifest_sha256": tagmanifest,
            },
        )
    return summary


def _write_payload(
    locker: Locker,
    conn: Connection,
    root: Path,
    chosen: list[_Chosen],
    profile: str,
    checkpoint: ledger.StoredCheckpoint,
    previous: ledger.StoredCheckpoint | None,
    token: bytes | None,
    recipient: str | None,
    case: str | None = None,
) -> None:
    custody = root / "custody"
    custody.mkdir()
    leaves = log.leaf_hashes(conn, upto=checkpoint.checkpoint.tree_size)
    events = _events_for(conn, chosen, profile, case)
    records = []
    for event in events:
        record: dict[str, Any] = {
            "event": event.seq,
            "leaf": base64.b64encode(event.leaf()).decode(),
            "audit_path": [h.hex() for h in merkle.inclusion_proof(event.seq, leaves)],
        }
        if event.action.endswith((".recorded", ".failed")):
            data = conn.execute(
                select(schema.results.c.data).where(schema.results.c.event_seq == event.seq)
            ).scalar()
            if data is not None:
                record["result_data"] = data
        records.append(record)
    (custody / "events.json").write_text(json.dumps(records, indent=1))
    (custody / "checkpoint.txt").write_text(checkpoint.checkpoint.signed_note(locker.public_key))
    if previous is not None and previous.checkpoint.tree_size > 0:
        (custody / "previous-checkpoint.txt").write_text(
            previous.checkpoint.signed_note(locker.public_key)
        )
        proof = merkle.consistency_proof(previous.checkpoint.tree_size, leaves)
        (custody / "consistency.json").write_text(json.dumps([h.hex() for h in proof]))
    if token is not None:
        (custody / "checkpoint.tsr").write_bytes(token)
        root_pem = stamping.tsa_root()
        if root_pem is not None:
            (custody / "tsa-root.pem").write_bytes(root_pem)
    entries, report_items, previews = [], [], {}
    for c in chosen:
        folder = root / "items" / c.item
        folder.mkdir(parents=True)
        if c.kind == "original":
            detail = queries.describe_item(conn, c.item, _shown(conn, case))
            first = detail["acquisitions"][:1]
            name = _safe_name(first[0]["original_path"] if first else "", "original")
        else:
            suffix = {"image/png": ".png", "image/jpeg": ".jpg", "video/mp4": ".mp4"}.get(
                c.media_type, ""
            )
            name = f"{c.kind}{suffix}"
        target = folder / name
        shutil.copyfile(locker.store.path(c.blob), target)
        os.chmod(target, 0o444)
        metadata = _item_metadata(conn, c, c.blob, profile, case)
        (folder / "metadata.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False))
        entry = {
            "item": c.item,
            "kind": c.kind,
            "file": f"items/{c.item}/{name}",
            "metadata": f"items/{c.item}/metadata.json",
        }
        entries.append(entry)
        safe = queries.derivative_paths(conn, c.item).get("safe_preview")
        if safe is not None:
            previews[c.item] = locker.store.path(safe).read_bytes()
        report_items.append(
            {
                **entry,
                "metadata": metadata,
                "events": [e.__dict__ for e in events if e.item == c.item],
            }
        )
    package = {
        "format": PACKAGE_FORMAT,
        "profile": profile,
        "origin": locker.origin,
        "public_key": locker.public_key.hex(),
        "exported_at": clock.now(),
        "recipient": recipient,
        "checkpoint": {"id": checkpoint.id, "tree_size": checkpoint.checkpoint.tree_size},
        "items": entries,
    }
    (root / "package.json").write_text(json.dumps(package, indent=2))
    (root / "report.html").write_text(report.render(package, report_items, previews))
    from docket.disclose.report_pdf import render_pdf  # fpdf2 loads slowly; only on export

    (root / "report.pdf").write_bytes(render_pdf(package, report_items, previews))


def _finish(staging: Path, output: Path) -> None:
    """Move the bag to its name, zipped when the name ends in .zip; atomic either way."""
    if output.suffix != ".zip":
        staging.rename(output)
        return
    partial = output.with_name(f".{output.name}.part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as bundle:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                arcname = f"{output.stem}/{path.relative_to(staging)}"
                media = path.suffix.lower() in (".jpg", ".png", ".mp4", ".mov")
                bundle.write(
                    path,
                    arcname,
                    compress_type=zipfile.ZIP_STORED if media else zipfile.ZIP_DEFLATED,
                )
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    partial.rename(output)
    shutil.rmtree(staging)


def items_of_case(conn: Connection, case: str) -> list[str]:
    """The items of a case, to export with `case=` so that only its records go with them."""
    return [row["sha256"] for row in queries.list_items(conn, case)]
