"""`docket check`: verify an exported package offline, trusting nothing but its contents.

Stand-alone on purpose: it imports the Merkle and checkpoint code and bagit, and nothing of
the locker's store or catalogue, so a receiver can run it (`docket-check PACKAGE`, or
`python -m docket.disclose.check PACKAGE`) without a locker. Every check says ok, FAILED or
not checked; every failure names the file, item or event.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bagit

from docket.custody import merkle
from docket.custody.checkpoint import Checkpoint, parse_signed_note

PACKAGE_FORMAT = 1


@dataclass
class CheckReport:
    checks: list[tuple[str, bool | None, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and all(passed is not False for _, passed, _ in self.checks)

    def record(self, name: str, failures: list[str], detail: str = "") -> None:
        self.failures.extend(failures)
        self.checks.append((name, not failures, detail))

    def skip(self, name: str, why: str) -> None:
        self.checks.append((name, None, why))


def _unpacked(package: Path, scratch: Path) -> Path:
    if package.is_dir():
        return package
    if not package.exists():
        raise ValueError(f"{package}: no such file or folder")
    if not zipfile.is_zipfile(package):
        raise ValueError(f"{package}: neither a package folder nor a zip file")
    with zipfile.ZipFile(package) as bundle:
        for member in bundle.infolist():
            name = member.filename
            if name.startswith("/") or ".." in name.split("/"):
                raise ValueError(f"{package}: member {name!r} escapes the package")
        bundle.extractall(scratch)
    entries = [p for p in scratch.iterdir()]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else scratch


def _bag(root: Path, report: CheckReport) -> None:
    """bagit's own checks, run one by one so that every problem is reported: its validate()
    stops at the first (a wrong Payload-Oxum hides which file was added or removed)."""
    failures: list[str] = []
    try:
        bag = bagit.Bag(str(root))
    except bagit.BagError as exc:
        report.record("BagIt structure and every payload hash (RFC 8493)", [f"bag: {exc}"])
        return
    stages = (
        bag._validate_structure,
        bag._validate_bagittxt,
        bag._validate_oxum,
        bag._validate_completeness,
        lambda: bag._validate_entries(1),
    )
    for stage in stages:
        try:
            stage()
        except bagit.BagValidationError as exc:
            failures += [f"bag: {detail}" for detail in exc.details] or [f"bag: {exc.message}"]
        except bagit.BagError as exc:
            failures.append(f"bag: {exc}")
    report.record("BagIt structure and every payload hash (RFC 8493)", failures)


def _checkpoint(
    manifest: dict[str, Any], root: Path, report: CheckReport, key: bytes | None
) -> Checkpoint | None:
    public_key = bytes.fromhex(manifest["public_key"])
    failures = []
    if key is not None and key != public_key:
        failures.append("checkpoint: signed with another key than the one you expected")
    note = (root / "data" / "custody" / "checkpoint.txt").read_text()
    try:
        checkpoint = parse_signed_note(note)
    except ValueError as exc:
        report.record("checkpoint signature", [f"custody/checkpoint.txt: {exc}"])
        return None
    if not checkpoint.verify(public_key):
        failures.append("custody/checkpoint.txt: signature does not verify (forged or altered)")
    report.record("checkpoint signature", failures, f"tree size {checkpoint.tree_size}")
    return checkpoint


def _events(
    manifest: dict[str, Any], root: Path, checkpoint: Checkpoint, report: CheckReport
) -> dict[str, list[dict[str, Any]]]:
    """Inclusion proofs of every event; returns the decoded events by item."""
    failures: list[str] = []
    by_item: dict[str, list[dict[str, Any]]] = {}
    records = json.loads((root / "data" / "custody" / "events.json").read_text())
    for record in records:
        seq = record.get("event")
        try:
            leaf = base64.b64decode(record["leaf"])
            path = [bytes.fromhex(h) for h in record["audit_path"]]
            event = json.loads(leaf)
        except (KeyError, ValueError) as exc:
            failures.append(f"event {seq}: unreadable ({exc})")
            continue
        if event.get("seq") != seq:
            failures.append(f"event {seq}: its leaf says it is event {event.get('seq')}")
        if not merkle.verify_inclusion(
            seq, checkpoint.tree_size, merkle.leaf_hash(leaf), path, checkpoint.root
        ):
            failures.append(f"event {seq}: inclusion proof does not lead to the checkpoint root")
        result = record.get("result_data")
        if result is not None:
            digest = hashlib.sha256(result.encode()).hexdigest()
            if event.get("details", {}).get("data_sha256") != digest:
                failures.append(f"event {seq}: its result data differs from what was logged")
            event["result"] = json.loads(result)
        by_item.setdefault(str(event.get("item")), []).append(event)
    report.record("inclusion proof of every event", failures, f"{len(records)} events")
    return by_item


def _items(
    manifest: dict[str, Any],
    root: Path,
    events: dict[str, list[dict[str, Any]]],
    report: CheckReport,
) -> None:
    """Each file is the one the custody log recorded: the original or its logged derivative."""
    failures = []
    for entry in manifest["items"]:
        item, relative = entry["item"], entry["file"]
        path = root / "data" / relative
        if not path.is_file():
            failures.append(f"{relative}: missing")
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        actual = digest.hexdigest()
        logged = events.get(item, [])
        if entry["kind"] == "original":
            ok = actual == item and any(e["action"] == "item.acquired" for e in logged)
        else:
            ok = any(
                d.get("sha256") == actual
                for e in logged
                for d in e.get("result", {}).get("derivatives", [])
            )
        if not ok:
            failures.append(
                f"{relative}: its SHA-256 {actual} is not what the custody log "
                f"recorded for item {item[:16]}"
            )
        meta_path = root / "data" / entry["metadata"]
        if not meta_path.is_file():
            failures.append(f"{entry['metadata']}: missing")
            continue
        meta = json.loads(meta_path.read_text())
        if meta.get("file_sha256") != actual:
            failures.append(f"{entry['metadata']}: describes another file")
        failures += _metadata_matches_log(entry["metadata"], meta, logged)
    report.record(
        "every file is the one the custody log recorded",
        failures,
        f"{len(manifest['items'])} items",
    )


ARRIVAL_FIELDS = ("collector", "source", "method", "original_path", "file_mtime", "note")


def _metadata_matches_log(
    name: str, meta: dict[str, Any], logged: list[dict[str, Any]]
) -> list[str]:
    """The court metadata's hashes and acquisitions are what the (proven) events say."""
    failures = []
    by_seq = {event["seq"]: event for event in logged}
    for acquisition in meta.get("acquisitions", []):
        event = by_seq.get(acquisition.get("event"))
        if event is None or event.get("action") != "item.acquired":
            failures.append(f"{name}: an acquisition has no proven event in the package")
            continue
        facts = event["details"]["acquisition"]
        changed = [f for f in ARRIVAL_FIELDS if facts.get(f) != acquisition.get(f)]
        if changed:
            failures.append(
                f"{name}: acquisition of event {event['seq']} differs from the "
                f"custody log in {', '.join(changed)}"
            )
        item = event["details"]["item"]
        if any(meta.get(key) not in (None, item[key]) for key in ("sha512", "size", "media_type")):
            failures.append(f"{name}: hashes, size or type differ from event {event['seq']}")
    return failures


def _consistency(
    manifest: dict[str, Any], root: Path, checkpoint: Checkpoint, report: CheckReport
) -> None:
    previous = root / "data" / "custody" / "previous-checkpoint.txt"
    if not previous.is_file():
        report.skip("consistency with the previous export", "first export from this locker")
        return
    proof = json.loads((root / "data" / "custody" / "consistency.json").read_text())
    failures = []
    try:
        old = parse_signed_note(previous.read_text())
    except ValueError as exc:
        report.record("consistency with the previous export", [f"previous checkpoint: {exc}"])
        return
    if not old.verify(bytes.fromhex(manifest["public_key"])):
        failures.append("custody/previous-checkpoint.txt: signature does not verify")
    if not merkle.verify_consistency(
        old.tree_size,
        checkpoint.tree_size,
        old.root,
        checkpoint.root,
        [bytes.fromhex(h) for h in proof],
    ):
        failures.append(
            "custody/consistency.json: the log was not only appended to since the previous export"
        )
    report.record(
        "consistency with the previous export",
        failures,
        f"size {old.tree_size} to {checkpoint.tree_size}",
    )


def _timestamp(root: Path, checkpoint: Checkpoint, report: CheckReport) -> None:
    token = root / "data" / "custody" / "checkpoint.tsr"
    if not token.is_file():
        report.skip("RFC 3161 timestamp of the checkpoint", "the package carries no token")
        return
    from docket.disclose.timestamps import TimestampError, verify_token

    try:
        facts = verify_token(
            token.read_bytes(),
            checkpoint.body().encode(),
            (root / "data" / "custody" / "tsa-root.pem").read_bytes(),
        )
    except (TimestampError, OSError) as exc:
        report.record("RFC 3161 timestamp of the checkpoint", [f"custody/checkpoint.tsr: {exc}"])
        return
    report.record("RFC 3161 timestamp of the checkpoint", [], f"time {facts.time.isoformat()}")


def check(package: Path, key: bytes | None = None) -> CheckReport:
    report = CheckReport()
    with tempfile.TemporaryDirectory(prefix="docket-check-") as scratch:
        try:
            root = _unpacked(package, Path(scratch))
        except (ValueError, zipfile.BadZipFile, OSError) as exc:
            report.record("package readable", [str(exc)])
            return report
        _bag(root, report)
        try:
            manifest = json.loads((root / "data" / "package.json").read_text())
        except (OSError, ValueError) as exc:
            report.record("package manifest", [f"package.json: {exc}"])
            return report
        checkpoint = _checkpoint(manifest, root, report, key)
        if checkpoint is None:
            return report
        events = _events(manifest, root, checkpoint, report)
        _items(manifest, root, events, report)
        _consistency(manifest, root, checkpoint, report)
        _timestamp(root, checkpoint, report)
    return report


def render(report: CheckReport) -> str:
    lines = [
        f"{ {True: 'ok', False: 'FAILED', None: 'not checked'}[p]:<12} {name}"
        + (f": {detail}" if detail else "")
        for name, p, detail in report.checks
    ]
    lines += [f"PROBLEM      {failure}" for failure in report.failures]
    lines.append(
        "VERDICT: the package is intact and its custody proofs hold"
        if report.ok
        else f"VERDICT: NOT verified ({len(report.failures)} problem(s))"
    )
    return "\n".join(lines)


def main(args: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if args is None else args)
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--key"):
        print("usage: docket-check PACKAGE [--key PUBLIC_KEY_HEX]", file=sys.stderr)
        return 2
    report = check(Path(argv[0]), bytes.fromhex(argv[2]) if len(argv) == 3 else None)
    print(render(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
