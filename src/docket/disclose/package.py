"""`docket export`: a BagIt package (RFC 8493) that proves itself.

Court profile: the originals, their full metadata, every custody event of each item. The
publication profile: only the copy of each item a person approved and the export re-checked
(docket.disclose.publication), no original, no identifying metadata, and only the events that
made those copies (the arrival events, with paths and collectors, stay home). Both carry each
event's inclusion proof against a checkpoint signed at export time, the locker's public key, a
consistency proof from the previous export's checkpoint, an RFC 3161 token when a TSA is
configured, and a report; a court package of imported items also carries the sender's custody
of them (docket.disclose.prior). The export is itself a custody event: the locker remembers
what left, for whom, and when.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, literal, select

from docket import clock, locale, mediatype, names, scope
from docket.aids import results as aid_results
from docket.capture import wacz_signing
from docket.catalogue import queries, schema
from docket.catalogue.records import latest_result
from docket.custody import ledger, log, merkle
from docket.custody.events import Event
from docket.disclose import (
    _existed,
    _report_facts,
    bagging,
    prior,
    publication,
    report,
    stamping,
    verify_package,
)
from docket.disclose._check_bag import bag_info
from docket.disclose._check_items import ACQUISITION_FIELDS
from docket.errors import DiskFullError, DocketError, is_disk_full
from docket.locker import Locker
from docket.store import BlobStore, scratch

PROFILES = ("court", "publication")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")  # left out of a package's file name
PACKAGE_FORMAT = 2


@dataclass
class ExportSummary:
    path: Path
    items: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    checkpoint: int = 0
    public_key: bytes = b""


@dataclass(frozen=True)
class _Chosen:
    item: str
    kind: str  # original | redacted | stripped
    blob: str
    media_type: str
    result_event: int | None  # the step event that made a derivative


def _publication_copy(checker: publication.Checker, item: str, case: str | None) -> _Chosen:
    """The copy approved for publication, re-checked (docket.disclose.publication)."""
    copy = checker.select(item, case)
    return _Chosen(item, copy.kind, copy.sha256, copy.media_type, copy.event_seq)


def _choose(
    locker: Locker, items: list[str], profile: str, summary: ExportSummary, case: str | None
) -> list[_Chosen]:
    """Court: the originals. Publication: each item's approved copy, or the item left out
    with the reason (never a guess, never a copy made here); when every item is left out,
    `export` writes nothing and logs nothing (publication.NothingToPublish)."""
    chosen = []
    if profile == "court":
        with locker.engine.connect() as conn, conn.begin():
            for item in items:
                media_type = conn.execute(
                    select(schema.items.c.media_type).where(schema.items.c.sha256 == item)
                ).scalar_one()
                chosen.append(_Chosen(item, "original", item, str(media_type), None))
        return chosen
    with publication.checker(locker) as checker:
        for item in items:
            try:
                chosen.append(_publication_copy(checker, item, case))
            except publication.Refused as exc:
                summary.left_out.append((item, str(exc)))
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
    view = None if case is None else scope.export_of(conn, case)
    shown = None if view is None else scope.event_seqs(conn, view, chosen.item)
    detail = queries.describe_item(conn, chosen.item, _shown(conn, case), shown)
    metadata = latest_result(conn, chosen.item, "metadata")
    return {
        "file_sha256": file_sha256,
        "sha256": detail["sha256"],
        "sha512": detail["sha512"],
        "size": detail["size"],
        "media_type": detail["media_type"],
        "first_seen": detail["first_seen"],
        "acquisitions": [
            {key: acq[key] for key in ACQUISITION_FIELDS} for acq in detail["acquisitions"]
        ],
        "metadata": None if metadata is None else metadata["data"],
        "analysis": detail["analysis"],
    }


def _events_for(
    conn: Connection, chosen: list[_Chosen], profile: str, case: str | None = None
) -> list[Event]:
    """Court: every event of the items, and the events that describe the incidents they are
    linked to (so the report's incident facts are proven too); of a case's export only those
    the case may read (facts of the bytes, and its own people's work: docket.scope)."""
    if profile == "court":
        wanted = {c.item for c in chosen}
        logged = list(log.events(conn))
        linked = {
            e.details.get("incident")
            for e in logged
            if e.item in wanted and e.action == "incident.linked"
        }
        events = [
            e
            for e in logged
            if e.item in wanted
            or (e.action in _report_facts.DESCRIBED and e.details.get("incident") in linked)
        ]
        return (
            events
            if case is None
            else scope.visible_events(conn, scope.export_of(conn, case), events)
        )
    seqs = {c.result_event for c in chosen}
    return [e for e in log.events(conn) if e.seq in seqs]


def _previous_export(
    conn: Connection, origin: str, case: str | None
) -> ledger.StoredCheckpoint | None:
    """The checkpoint the same case's last package carried: the one made right after its
    export event. Another case's export is not this case's to know (docket.scope): its
    checkpoint in this package would date it."""
    e = schema.events.c
    exports = conn.execute(
        select(e.seq, e.details)
        # inline, so that SQLite's planner takes its partial index (migration 0014)
        .where(e.action == literal(schema.PACKAGE_EXPORTED, literal_execute=True))
        .order_by(e.seq.desc())
    )
    last = next((seq for seq, details in exports if json.loads(details).get("case") == case), None)
    if last is None:
        return None
    made = conn.execute(
        select(e.details)
        .where(e.seq > last, e.action == "checkpoint.made")
        .order_by(e.seq)
        .limit(1)
    ).scalar()
    checkpoint = None if made is None else int(json.loads(made)["checkpoint"])
    return None if checkpoint is None else ledger.get_checkpoint(conn, origin, checkpoint)


STAGING = ".docket-export"


def _staging_of(parent: Path) -> Path:
    """A private folder beside the output (same file system, so the final move is a rename),
    in `.docket-export/`, named by this process as the locker's scratch is: the leftovers of a
    killed export, copies of originals, are removed by the next export (store.scratch)."""
    holder = parent / STAGING
    holder.mkdir(mode=0o700, exist_ok=True)
    scratch.clean(holder)
    return scratch.make_folder(holder, "export")


def _drop_staging(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    _partial_zip(staging).unlink(missing_ok=True)  # left by a zip that did not finish
    with contextlib.suppress(OSError):
        staging.parent.rmdir()  # only when no other export is under way


def export(
    locker: Locker,
    items: list[str],
    profile: str,
    output: Path,
    actor: str,
    recipient: str | None = None,
    case: str | None = None,
    lang: str = "en",
    folder: str | None = None,
) -> ExportSummary:
    """Write a package (its reports in the language of code `lang`), in this order: the
    payload (each file re-hashed as it is copied, metadata, package.json, reports) in a
    staging folder beside `output`; then, in one transaction, the export event, which lists
    every payload file with its size and SHA-256,
    the events included (seq and leaf hash), how many of the log are left out and which
    proofs the package carries, and the checkpoint the package carries (so it commits to the
    event); then the proofs, the bag, and the move to the final name. A zip holds the bag in
    one folder, named `folder` (default: the output's name without .zip).

    Crash window: between the commit of the export event and the final rename. A crash there
    leaves an export logged whose package never appeared (its staging folder is removed by
    the next export): the log over-states what left, never under-states it. A TSA that fails
    after the commit leaves the same record and no package.
    """
    if profile not in PROFILES:
        raise DocketError(f"{profile!r}: a profile is one of {', '.join(PROFILES)}")
    if not items:
        raise DocketError("nothing to export: no items given or the case is empty")
    if output.exists():
        raise DocketError(f"{output}: already exists; choose a new name")
    locale.language(lang)  # a language Docket lacks is refused before anything is written
    summary = ExportSummary(output)
    chosen = _choose(locker, items, profile, summary, case)
    if not chosen:
        raise publication.NothingToPublish(str(output), summary.left_out)
    url = stamping.tsa_url()
    if url is not None:
        stamping.probe(url)
    staging = _staging_of(output.parent)
    checkpoint: ledger.StoredCheckpoint | None = None
    try:
        with locker.engine.connect() as conn, conn.begin():
            events = _events_for(conn, chosen, profile, case)
            files = _write_payload(
                locker, conn, staging, chosen, profile, events, recipient, case, lang
            )
        with locker.engine.connect() as conn, conn.begin():
            log.lock(conn)
            previous = _previous_export(conn, locker.origin, case)
            if previous is not None and previous.checkpoint.tree_size == 0:
                previous = None
            exported = log.append(
                conn,
                actor,
                "package.exported",
                details={
                    "profile": profile,
                    "recipient": recipient,
                    "package": output.name,
                    "case": case,
                    "items": [c.item for c in chosen],
                    "files": files,
                    "prior": [f["path"] for f in files if f["path"].startswith(prior.FOLDER)],
                    "events": [{"seq": e.seq, "leaf_hash": e.leaf_hash().hex()} for e in events],
                    "events_left_out": log.size(conn) - len(events),
                    "proofs": {
                        "timestamp": url is not None,
                        "previous": None if previous is None else ledger.checkpoint_facts(previous),
                    },
                },
            )
            checkpoint = ledger.make_checkpoint(conn, locker.signing_key, locker.origin, actor)
        token = None
        if url is not None:
            with locker.engine.connect() as conn, conn.begin():
                token = stamping.stamp(conn, actor, checkpoint, url)
        with locker.engine.connect() as conn, conn.begin():
            leaves = log.leaf_hashes(conn, upto=checkpoint.checkpoint.tree_size)
            results = {e.seq: _result_data(conn, e) for e in events}
        _write_proofs(
            staging / "custody", locker, leaves, events, results, exported, checkpoint, previous
        )
        if token is not None:
            (staging / "custody" / "checkpoint.tsr").write_bytes(token)
        info = bag_info(locker.origin, profile, recipient, exported.time[:10])
        bagging.make_bag(staging, info)
        _finish(staging, output, folder or output.stem)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise _output_full(output, exc, checkpoint) from exc
    finally:
        _drop_staging(staging)
    summary.items = [c.item for c in chosen]
    summary.checkpoint = checkpoint.id
    summary.public_key = locker.public_key
    return summary


def _output_full(
    output: Path, exc: OSError, logged: ledger.StoredCheckpoint | None
) -> DiskFullError:
    """The disk under `output` filled up while the package was written beside it."""
    said = (
        "nothing was logged"
        if logged is None
        else f"the export was logged and signed as checkpoint {logged.id}, but no package left"
    )
    return DiskFullError(
        f"{output}: disk full while writing the package ({exc.strerror}); {said}; "
        "free space there and run the same export again"
    )


def _result_data(conn: Connection, event: Event) -> str | None:
    if not event.action.endswith((".recorded", ".failed")):
        return None
    data = conn.execute(
        select(schema.results.c.data).where(schema.results.c.event_seq == event.seq)
    ).scalar()
    return None if data is None else str(data)


def _write_proofs(
    custody: Path,
    locker: Locker,
    leaves: list[bytes],
    events: list[Event],
    results: dict[int, str | None],
    exported: Event,
    checkpoint: ledger.StoredCheckpoint,
    previous: ledger.StoredCheckpoint | None,
) -> None:
    """The files the export event cannot list, because they prove it: each event's and the
    export event's inclusion proof, the checkpoint, and the consistency proof."""
    records = []
    for event in [*events, exported]:
        record: dict[str, Any] = {
            "event": event.seq,
            "leaf": base64.b64encode(event.leaf()).decode(),
            "audit_path": [h.hex() for h in merkle.inclusion_proof(event.seq, leaves)],
        }
        if results.get(event.seq) is not None:
            record["result_data"] = results[event.seq]
        records.append(record)
    *listed, export_record = records
    (custody / "events.json").write_text(json.dumps(listed, indent=1))
    (custody / "export.json").write_text(json.dumps(export_record, indent=1))
    (custody / "checkpoint.txt").write_text(checkpoint.checkpoint.signed_note(locker.public_key))
    if previous is not None:
        (custody / "previous-checkpoint.txt").write_text(
            previous.checkpoint.signed_note(locker.public_key)
        )
        proof = merkle.consistency_proof(previous.checkpoint.tree_size, leaves)
        (custody / "consistency.json").write_text(json.dumps([h.hex() for h in proof]))


def _copy_checked(store: BlobStore, expected: str, target: Path) -> None:
    """Copy a blob, hashing the bytes as they are written; a blob that is not the one the
    catalogue names (replaced or damaged on disk) stops the export."""
    digest = hashlib.sha256()
    if not store.has(expected):
        raise DocketError(
            f"blob {expected}: missing from the store; nothing was exported (run `docket verify`)"
        )
    with store.open(expected) as reader, target.open("xb") as writer:
        while chunk := reader.read(1 << 20):
            digest.update(chunk)
            writer.write(chunk)
    if digest.hexdigest() != expected:
        raise DocketError(
            f"blob {expected}: its bytes on disk hash to {digest.hexdigest()}, not to its name; "
            "nothing was exported (run `docket verify`)"
        )
    os.chmod(target, 0o444)


def _listed(root: Path, relative: str, data: bytes | None = None) -> dict[str, Any]:
    """A payload file as the export event lists it."""
    digest, size = hashlib.sha256(), 0
    if data is None:
        with (root / relative).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    else:
        (root / relative).write_bytes(data)
        digest.update(data)
        size = len(data)
    return {"path": relative, "size": size, "sha256": digest.hexdigest()}


def _proven_metadata(conn: Connection, item: str, events: list[Event]) -> Any:
    """The metadata result of the latest metadata event the package carries, which proves
    it; a result whose event stays home (another case's) is not shown unproven."""
    logged = [e for e in events if e.item == item and e.action.startswith("metadata.")]
    data = next((d for e in reversed(logged) if (d := _result_data(conn, e)) is not None), None)
    return None if data is None else json.loads(data)


def _write_payload(
    locker: Locker,
    conn: Connection,
    root: Path,
    chosen: list[_Chosen],
    profile: str,
    events: list[Event],
    recipient: str | None,
    case: str | None = None,
    lang: str = "en",
) -> list[dict[str, Any]]:
    """The files the export event lists (returned, sorted by path)."""
    (root / "custody").mkdir()
    files, entries, report_items, previews = [], [], [], {}
    for c in chosen:
        folder = root / "items" / c.item
        folder.mkdir(parents=True)
        if c.kind == "original":
            detail = queries.describe_item(conn, c.item, _shown(conn, case))
            first = detail["acquisitions"][:1]
            raw = (first[0]["path_in_container"] or first[0]["original_path"]) if first else ""
            name = names.file_name(raw, "original")
        else:
            name = f"{c.kind}.{mediatype.extension(c.media_type)}"
        # One name, on a case-blind file system too, and none that reads as it in a listing.
        if names.looks_like(name, "metadata.json"):
            name = "original-metadata.json"
        _copy_checked(locker.store, c.blob, folder / name)
        files.append(_listed(root, f"items/{c.item}/{name}"))
        metadata = _item_metadata(conn, c, c.blob, profile, case)
        if "metadata" in metadata:
            metadata["metadata"] = _proven_metadata(conn, c.item, events)
        text = json.dumps(metadata, indent=2, ensure_ascii=False).encode()
        files.append(_listed(root, f"items/{c.item}/metadata.json", text))
        entry = {
            "item": c.item,
            "kind": c.kind,
            "file": f"items/{c.item}/{name}",
            "metadata": f"items/{c.item}/metadata.json",
        }
        entries.append(entry)
        safe = queries.derivative_paths(conn, c.item).get("safe_preview")
        if safe is not None:
            with locker.store.open(safe) as preview:
                previews[c.item] = preview.read()
        report_items.append(
            {
                **entry,
                "metadata": metadata,
                "events": [e.__dict__ for e in events if e.item == c.item],
                "incidents": _report_facts.linked_incidents(
                    [e for e in events if e.item == c.item], events
                ),
                # The verification aids the package's events prove (docket.aids).
                "verification": aid_results.from_events(
                    [e for e in events if e.item == c.item], partial(_result_data, conn)
                ),
            }
        )
    package = {
        "format": PACKAGE_FORMAT,
        "profile": profile,
        "origin": locker.origin,
        "public_key": locker.public_key.hex(),
        "exported_at": clock.now(),
        "recipient": recipient,
        "case": case,
        "items": entries,
    } | _wacz_key(locker)
    for path in _existed.write(conn, root / "custody", locker.origin, locker.public_key, events):
        files.append(_listed(root, path))
    for sha256, origin in sorted(prior.named(events).items()):
        path = prior.path_of(sha256, origin)
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        _copy_checked(locker.store, sha256, root / path)
        files.append(_listed(root, path))
    files.append(_listed(root, "package.json", json.dumps(package, indent=2).encode()))
    verifier = Path(verify_package.__file__).read_bytes()  # needs only Python's stdlib
    files.append(_listed(root, "verify_package.py", verifier))
    html = report.render(package, report_items, previews, lang).encode()
    files.append(_listed(root, "report.html", html))
    from docket.disclose.report_pdf import render_pdf  # fpdf2 loads slowly; only on export

    pdf = render_pdf(package, report_items, previews, lang)
    files.append(_listed(root, "report.pdf", pdf))
    return sorted(files, key=lambda f: str(f["path"]))


def _wacz_key(locker: Locker) -> dict[str, str]:
    """The locker's WACZ key (capture/wacz_signing.py) for package.json, when it has one: what
    the receiver checks the captures' WACZ signatures with (disclose/_check_wacz.py)."""
    key = wacz_signing.published_key(locker.path)
    return {} if key is None else {"wacz_public_key": key}


def _partial_zip(staging: Path) -> Path:
    """Where the zip is written before its rename: a scratch name, cleaned if we die."""
    return staging.with_name(f"{staging.name}.zip")


def _finish(staging: Path, output: Path, folder: str) -> None:
    """Move the bag to its name, zipped (in `folder`) when the name ends in .zip; atomic
    either way."""
    if output.suffix != ".zip":
        staging.rename(output)
        return
    partial = _partial_zip(staging)
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as bundle:
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                arcname = f"{folder}/{path.relative_to(staging)}"
                media = path.suffix.lower() in (".jpg", ".png", ".mp4", ".mov")
                bundle.write(
                    path,
                    arcname,
                    compress_type=zipfile.ZIP_STORED if media else zipfile.ZIP_DEFLATED,
                )
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    partial.rename(output)


def file_name(case: str, profile: str) -> str:
    """A package's file name for a case's export: `<case>-<profile>.zip`, in safe characters."""
    return f"{_UNSAFE.sub('_', case)}-{_UNSAFE.sub('_', profile)}.zip"


def items_of_case(conn: Connection, case: str) -> list[str]:
    """The items of a case, to export with `case=` so that only its records go with them."""
    return [row["sha256"] for row in queries.list_items(conn, case)]
