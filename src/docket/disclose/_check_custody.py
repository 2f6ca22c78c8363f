"""The custody proofs of a package: its checkpoint, the export event that lists its contents,
every listed event, the consistency proof and the timestamp token.

The export event is what makes the package whole: it is proven against the signed checkpoint,
and it lists every payload file (path, size, SHA-256), every event included (seq, leaf hash)
and the optional proofs the package carries. Anything more, less or different is a named
failure. Part of the stand-alone checker (docket.disclose.check).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from docket.custody import merkle
from docket.custody.checkpoint import Checkpoint, open_checkpoint, strict_b64
from docket.disclose._check_bag import Recorder, bag_info, bag_info_text, files_under

HEX64 = re.compile(r"[0-9a-f]{64}")
PRIOR_PATH = re.compile(r"custody/prior/[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}/[0-9a-f]{64}\.json")
RECORD_KEYS = {"event", "leaf", "audit_path", "result_data"}
PROOF_FILES = ("custody/checkpoint.txt", "custody/export.json", "custody/events.json")
PREVIOUS_FILES = ("custody/previous-checkpoint.txt", "custody/consistency.json")
TOKEN_FILE = "custody/checkpoint.tsr"
CLOCK_SLACK = 120  # seconds the locker's clock may run ahead of the TSA's


def fingerprint(public_key: bytes) -> str:
    """`SHA256:` and the unpadded base64 of the key's SHA-256, as OpenSSH prints keys."""
    digest = base64.b64encode(hashlib.sha256(public_key).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


class Malformed(ValueError):
    """A file of the package is not what its format says (message names it and why)."""


def read_json(root: Path, relative: str) -> Any:
    try:
        return json.loads((root / "data" / relative).read_bytes().decode("utf-8"))
    except FileNotFoundError as exc:
        raise Malformed(f"{relative}: missing") from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise Malformed(f"{relative}: not readable JSON ({type(exc).__name__})") from exc


def read_canonical(root: Path, relative: str, indent: int | None) -> Any:
    """A proof file's JSON, which must be exactly as Docket writes it (json.dumps with this
    indent): proofs are not listed by hash, so no other spelling of them is accepted."""
    value = read_json(root, relative)
    if (root / "data" / relative).read_bytes() != json.dumps(value, indent=indent).encode():
        raise Malformed(f"{relative}: not written as Docket writes it")
    return value


def read_note_text(root: Path, relative: str) -> str:
    """A checkpoint note of the package: signed by the sender alone, with one signature."""
    text = read_text(root, relative)
    if text.count("\n\u2014 ") != 1 or not text.endswith("\n"):
        raise Malformed(f"{relative}: a package's checkpoint carries exactly one signature")
    return text


def read_text(root: Path, relative: str) -> str:
    try:
        return (root / "data" / relative).read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise Malformed(f"{relative}: missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise Malformed(f"{relative}: not readable UTF-8 text") from exc


def expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """`value` when it has the JSON type `kind` (never a bool for an int), else Malformed."""
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise Malformed(f"{what}: not of the expected type")
    if not isinstance(value, kind):
        raise Malformed(f"{what}: not of the expected type")
    return value


def hex64(value: Any, what: str) -> str:
    if not isinstance(value, str) or not HEX64.fullmatch(value):
        raise Malformed(f"{what}: not a SHA-256 in hex")
    return value


@dataclass(frozen=True)
class ExportRecord:
    """The export event, proven: what the package must hold, exactly."""

    seq: int
    time: str
    profile: str
    recipient: str | None
    items: list[str]
    files: dict[str, tuple[int, str]]  # path -> (size, sha256)
    events: dict[int, str]  # seq -> leaf hash
    left_out: int
    timestamp: bool
    previous: dict[str, Any] | None
    prior: list[str]  # the prior custody bundles it carries (docket.disclose.prior)


def checkpoint_of(root: Path, public_key: bytes, report: Recorder) -> Checkpoint | None:
    name = "checkpoint signature"
    try:
        checkpoint = open_checkpoint(read_note_text(root, PROOF_FILES[0]), public_key)
    except ValueError as exc:
        text = str(exc)
        report.record(name, [text if text.startswith("custody/") else f"{PROOF_FILES[0]}: {text}"])
        return None
    report.record(name, [], f"tree size {checkpoint.tree_size}, time {checkpoint.time}")
    return checkpoint


def proven_event(record: Any, checkpoint: Checkpoint, where: str) -> tuple[int, dict[str, Any]]:
    """The event of one proof record, when its leaf leads to the checkpoint's root."""
    record = expect(record, dict, where)
    if not set(record) <= RECORD_KEYS:
        raise Malformed(f"{where}: holds more than an event's proof")
    seq = expect(record.get("event"), int, f"{where}: event number")
    subject = f"event {seq}"
    leaf = strict_b64(expect(record.get("leaf"), str, f"{subject}: leaf"))
    path = [
        bytes.fromhex(hex64(h, f"{subject}: audit path"))
        for h in expect(record.get("audit_path"), list, f"{subject}: audit path")
    ]
    try:
        event = expect(json.loads(leaf.decode("utf-8")), dict, f"{subject}: leaf")
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"{subject}: its leaf is not JSON") from exc
    if event.get("seq") != seq:
        raise Malformed(f"{subject}: its leaf says it is event {str(event.get('seq'))[:20]}")
    if not merkle.verify_inclusion(
        seq, checkpoint.tree_size, merkle.leaf_hash(leaf), path, checkpoint.root
    ):
        raise Malformed(f"{subject}: inclusion proof does not lead to the checkpoint root")
    expect(event.get("details"), dict, f"{subject}: details")
    return seq, event


def export_of(root: Path, checkpoint: Checkpoint, report: Recorder) -> ExportRecord | None:
    name = "the export event, proven by the checkpoint"
    try:
        record = read_canonical(root, PROOF_FILES[1], 1)
        if "result_data" in expect(record, dict, "its record"):
            raise Malformed("the export event has no result data")
        seq, event = proven_event(record, checkpoint, "its record")
        if event.get("action") != "package.exported":
            raise Malformed(f"event {seq} is not an export")
        record = _export_record(seq, event)
    except (Malformed, ValueError) as exc:
        message = str(exc)
        report.record(
            name, [message if message.startswith("custody/") else f"{PROOF_FILES[1]}: {message}"]
        )
        return None
    report.record(
        name,
        [],
        f"event {seq} at {record.time}: {len(record.files)} files, {len(record.events)} events, "
        f"{record.left_out} of the log left out",
    )
    return record


def _export_record(seq: int, event: dict[str, Any]) -> ExportRecord:
    details = event["details"]
    what = f"event {seq}"
    files: dict[str, tuple[int, str]] = {}
    for entry in expect(details.get("files"), list, f"{what}: files"):
        entry = expect(entry, dict, f"{what}: files")
        path = expect(entry.get("path"), str, f"{what}: file path")
        size = expect(entry.get("size"), int, f"{what}: file size")
        files[path] = (size, hex64(entry.get("sha256"), f"{what}: file hash"))
    events: dict[int, str] = {}
    for entry in expect(details.get("events"), list, f"{what}: events"):
        entry = expect(entry, dict, f"{what}: events")
        events[expect(entry.get("seq"), int, f"{what}: event")] = hex64(
            entry.get("leaf_hash"), f"{what}: leaf hash"
        )
    proofs = expect(details.get("proofs"), dict, f"{what}: proofs")
    previous = proofs.get("previous")
    if previous is not None:
        expect(previous, dict, f"{what}: previous checkpoint")
        expect(previous.get("tree_size"), int, f"{what}: previous tree size")
        hex64(previous.get("root"), f"{what}: previous root")
    prior = [
        expect(p, str, f"{what}: prior custody")
        for p in expect(details.get("prior", []), list, f"{what}: prior custody")
    ]
    if any(p not in files or not PRIOR_PATH.fullmatch(p) for p in prior):
        raise Malformed(f"{what}: names prior custody that is not a listed custody/prior/ file")
    return ExportRecord(
        seq=seq,
        time=str(event.get("time")),
        profile=expect(details.get("profile"), str, f"{what}: profile"),
        recipient=expect(details.get("recipient"), (str, type(None)), f"{what}: recipient"),
        items=[expect(i, str, f"{what}: items") for i in expect(details.get("items"), list, what)],
        files=files,
        events=events,
        left_out=expect(details.get("events_left_out"), int, f"{what}: events left out"),
        timestamp=expect(proofs.get("timestamp"), bool, f"{what}: timestamp"),
        previous=previous,
        prior=prior,
    )


def sha256_of(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def check_files(root: Path, export: ExportRecord, report: Recorder) -> None:
    """The payload is exactly what the export event lists, plus the proofs it announces."""
    failures = []
    proofs = {*PROOF_FILES, *(PREVIOUS_FILES if export.previous else ())}
    if export.timestamp:
        proofs.add(TOKEN_FILE)
    present = files_under(root / "data") if (root / "data").is_dir() else set()
    for path in sorted(present - set(export.files) - proofs):
        failures.append(f"{path}: not in the signed export record (added)")
    for path in sorted((set(export.files) | proofs) - present):
        failures.append(f"{path}: missing (the signed export record says the package has it)")
    for path in sorted(present & set(export.files)):
        target = root / "data" / path
        if target.is_symlink() or sha256_of(target) != export.files[path]:
            failures.append(f"{path}: differs from the signed export record")
    report.record("every file is listed in the signed export record", failures)


def proven_events(
    root: Path, checkpoint: Checkpoint, export: ExportRecord, report: Recorder
) -> dict[int, dict[str, Any]]:
    """Every listed event, proven, with its result data where it has one; nothing else."""
    failures: list[str] = []
    found: dict[int, dict[str, Any]] = {}
    try:
        records = expect(read_canonical(root, PROOF_FILES[2], 1), list, PROOF_FILES[2])
    except Malformed as exc:
        report.record("inclusion proof of every listed event", [str(exc)])
        return found
    for index, record in enumerate(records):
        try:
            seq, event = proven_event(record, checkpoint, f"events.json entry {index}")
            if found and seq <= next(reversed(found)):  # kept in log order, each once
                raise Malformed(f"event {seq}: given twice or out of order")
            if export.events.get(seq) != merkle.leaf_hash(strict_b64(record["leaf"])).hex():
                raise Malformed(f"event {seq}: not in the signed export record")
            result = record.get("result_data")
            if "data_sha256" in event["details"] and result is None:
                raise Malformed(f"event {seq}: its logged result data is missing")
            if "result_data" in record:
                data = expect(result, str, f"event {seq}: result data")
                if event["details"].get("data_sha256") != hashlib.sha256(data.encode()).hexdigest():
                    raise Malformed(f"event {seq}: its result data differs from what was logged")
                event["result"] = json.loads(data)
        except (Malformed, ValueError, RecursionError) as exc:
            failures.append(str(exc))
            continue
        found[seq] = event
    for seq in sorted(set(export.events) - set(found)):
        failures.append(f"event {seq}: in the signed export record, missing from events.json")
    if export.left_out != export.seq - len(export.events):
        failures.append(f"event {export.seq}: its count of events left out does not add up")
    report.record(
        "inclusion proof of every listed event",
        failures,
        f"{len(found)} events; {export.left_out} of the log not included",
    )
    return found


def check_consistency(
    root: Path, public_key: bytes, checkpoint: Checkpoint, export: ExportRecord, report: Recorder
) -> None:
    name = "consistency with the previous export"
    if export.previous is None:
        report.skip(name, "the signed export record names no previous export")
        return
    try:
        old = open_checkpoint(read_note_text(root, PREVIOUS_FILES[0]), public_key)
        proof = [
            bytes.fromhex(hex64(h, PREVIOUS_FILES[1]))
            for h in expect(read_canonical(root, PREVIOUS_FILES[1], None), list, PREVIOUS_FILES[1])
        ]
    except ValueError as exc:
        message = str(exc)
        report.record(name, [message if ": " in message else f"{PREVIOUS_FILES[0]}: {message}"])
        return
    failures = []
    if (old.tree_size, old.root.hex()) != (export.previous["tree_size"], export.previous["root"]):
        failures.append(f"{PREVIOUS_FILES[0]}: not the one the signed export record names")
    if not merkle.verify_consistency(
        old.tree_size, checkpoint.tree_size, old.root, checkpoint.root, proof
    ):
        failures.append(
            f"{PREVIOUS_FILES[1]}: the log was not only appended to since the previous export"
        )
    report.record(name, failures, f"size {old.tree_size} to {checkpoint.tree_size}")


def check_timestamp(
    root: Path,
    checkpoint: Checkpoint,
    export: ExportRecord,
    roots: list[x509.Certificate],
    report: Recorder,
) -> str | None:
    """The TSA that vouches for the checkpoint's time (subject, serial, time), or None."""
    name = "RFC 3161 timestamp of the checkpoint, by a TSA you trust"
    if not export.timestamp:
        report.skip(name, "the signed export record says no token was requested")
        return None
    from docket.disclose.timestamps import TimestampError, verify_token

    try:
        token = (root / "data" / TOKEN_FILE).read_bytes()
        facts = verify_token(token, checkpoint.body().encode(), roots)
    except FileNotFoundError:
        report.record(name, [f"{TOKEN_FILE}: missing (the signed export record says it is there)"])
        return None
    except (TimestampError, OSError) as exc:
        report.record(name, [f"{TOKEN_FILE}: {exc}"])
        return None
    report.record(name, _time_agrees(checkpoint.time, facts.time), facts.describe())
    return facts.describe()


def _time_agrees(claimed: str, stamped: datetime) -> list[str]:
    """The TSA cannot have seen the checkpoint before the time the checkpoint states."""
    try:
        said = datetime.fromisoformat(claimed)
        early = (said - stamped.replace(tzinfo=stamped.tzinfo or UTC)).total_seconds()
    except (ValueError, TypeError):
        return [f"{PROOF_FILES[0]}: its time {claimed[:40]!r} is not an RFC 3339 time"]
    if early > CLOCK_SLACK:
        return [
            f"{TOKEN_FILE}: the TSA stamped the checkpoint {early:.0f} s before the time the "
            "checkpoint states (its time is not what it claims)"
        ]
    return []


def check_bag_info(
    root: Path, checkpoint: Checkpoint, export: ExportRecord, report: Recorder
) -> None:
    """bag-info.txt is not listed by hash, so it must be exactly what the record implies."""
    sizes = [(root / "data" / p).lstat().st_size for p in files_under(root / "data")]
    info = bag_info(checkpoint.origin, export.profile, export.recipient, export.time[:10])
    expected = bag_info_text(info, f"{sum(sizes)}.{len(sizes)}")
    try:
        same = (root / "bag-info.txt").read_bytes() == expected.encode()
    except OSError:
        same = False
    failures = [] if same else ["bag-info.txt: not what the signed export record implies"]
    report.record("bag-info.txt follows from the signed export record", failures)


EXISTED = "custody/existed.json"


def check_existed(
    root: Path,
    public_key: bytes,
    export: ExportRecord,
    events: dict[int, dict[str, Any]],
    roots: list[x509.Certificate],
    report: Recorder,
) -> None:
    """Each item existed by the time a TSA stamped the earliest checkpoint holding its
    arrival: the note, the arrival's inclusion proof against it, and the token all hold."""
    name = "existed by: the earliest timestamped checkpoint holding each item's arrival"
    if EXISTED not in export.files:
        report.skip(name, "no arrival was in a timestamped checkpoint when it was exported")
        return
    from docket.disclose.timestamps import TimestampError, verify_token

    failures: list[str] = []
    found: list[str] = []
    try:
        for record in expect(read_json(root, EXISTED), list, EXISTED):
            record = expect(record, dict, EXISTED)
            item = expect(record.get("item"), str, f"{EXISTED}: item")
            seq = expect(record.get("event"), int, f"{EXISTED}: event")
            note, token = (expect(record.get(k), str, EXISTED) for k in ("checkpoint", "token"))
            arrival = events.get(seq, {})
            if (arrival.get("action"), arrival.get("item")) != ("item.acquired", item):
                raise Malformed(f"{EXISTED}: event {seq} is not a proven arrival of {item[:12]}")
            if note not in export.files or token not in export.files:
                raise Malformed(f"{EXISTED}: names a file the export record does not list")
            stamped = open_checkpoint(read_note_text(root, note), public_key)
            path = [
                bytes.fromhex(hex64(h, EXISTED))
                for h in expect(record["audit_path"], list, EXISTED)
            ]
            leaf = bytes.fromhex(export.events[seq])
            if not merkle.verify_inclusion(seq, stamped.tree_size, leaf, path, stamped.root):
                raise Malformed(f"{EXISTED}: event {seq} is not in {note}")
            facts = verify_token(
                (root / "data" / token).read_bytes(), stamped.body().encode(), roots
            )
            failures += _time_agrees(stamped.time, facts.time)
            found.append(f"item {item[:12]} by {facts.time.isoformat()} ({facts.tsa})")
    except (Malformed, ValueError, KeyError, TimestampError, OSError) as exc:
        failures.append(str(exc))
    report.record(name, failures, "; ".join(found))
