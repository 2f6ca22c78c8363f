#!/usr/bin/env python3
"""Verify a Docket evidence package with nothing but Python 3's standard library.

    python3 verify_package.py PACKAGE --key SENDER_KEY

PACKAGE is the package's folder or its .zip; SENDER_KEY the sender's Ed25519 public key in
hex, or its SHA256: fingerprint, received apart from the package. It checks what
`docket-check` checks (the bag, the signed checkpoint, the export event that lists every
file, every event and proof, each item against its proven events, the prior custody of
imported items against the sender's key their import recorded) and gives the same
verdict, except the RFC 3161 timestamp token, whose signature needs an X.509 library: it
only checks the token is there when the export record says so (`docket-check` verifies it).
Exit codes: 0 intact and signed by SENDER_KEY, 1 failed, 2 usage, 3 signer unconfirmed.
Docket ships this file inside every package; docket.disclose.check is its reference.
"""

# Run as `python3 data/verify_package.py`, Python puts data/ first on the module path, so a
# json.py or hashlib.py a forger added beside this file would be imported, not the standard
# one, while this file's own bytes still match the hash its sender gave. So before importing
# anything (sys is built in; os is loaded before any script runs), it starts again isolated
# (-I: no script folder on the path, no PYTHON* variables, no user site). For the same reason
# it has no `from __future__` import, which imports a module too.
import sys

if __name__ == "__main__" and not sys.flags.isolated:
    import os

    os.execv(sys.executable, [sys.executable, "-I", os.path.abspath(__file__), *sys.argv[1:]])

import base64
import hashlib
import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

# Ed25519 verification, RFC 8032 section 6 (no secret is handled, so plain integers will do).
_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_I = pow(2, (_P - 1) // 4, _P)
Point = tuple[int, int, int, int]


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _I % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _add(a: Point, b: Point) -> Point:
    p, q = (a[1] - a[0]) * (b[1] - b[0]) % _P, (a[1] + a[0]) * (b[1] + b[0]) % _P
    c, d = 2 * a[3] * b[3] * _D % _P, 2 * a[2] * b[2] % _P
    e, f, g, h = q - p, d - c, d + c, q + p
    return (e * f, g * h, f * g, e * h)


def _mul(s: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)
    while s:
        if s & 1:
            result = _add(result, point)
        point, s = _add(point, point), s >> 1
    return result


def _point(data: bytes) -> Point | None:
    y = int.from_bytes(data, "little")
    x = _recover_x(y & ((1 << 255) - 1), y >> 255)
    return None if x is None else (x, y & ((1 << 255) - 1), 1, x * (y & ((1 << 255) - 1)) % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0) or 0
_G: Point = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _point(public), _point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _Q:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little")
    left, right = _mul(s, _G), _add(r, _mul(h % _Q, a))
    return (left[0] * right[2] - right[0] * left[2]) % _P == 0 and (
        left[1] * right[2] - right[1] * left[2]
    ) % _P == 0


# RFC 6962 / 9162 proofs.
def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, path: list[bytes]
) -> bool:
    if not 0 < old <= new:
        return False
    if old == new:
        return not path and old_root == new_root
    if old & (old - 1) == 0:
        path = [old_root, *path]
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


# Strict values and signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint).
class Bad(ValueError):
    """What is wrong, naming the file or event."""


HEX64 = re.compile(r"[0-9a-f]{64}")


def b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise Bad("not base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise Bad("not strict base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise Bad("not canonical base64")
    return raw


def of(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise Bad(f"{what}: not of the expected type")
    return value


def hex64(value: Any, what: str) -> str:
    if not isinstance(value, str) or not HEX64.fullmatch(value):
        raise Bad(f"{what}: not a SHA-256 in hex")
    return value


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]


def open_checkpoint(note: str, public: bytes) -> tuple[str, int, bytes, str]:
    """origin, size, root, time of a note signed once, by `public`, over its exact bytes."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise Bad("a control character other than newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n") or note.count("\n\u2014 ") != 1:
        raise Bad("not a checkpoint note with one signature")
    text, line = note[: cut + 1], note[cut + 2 : -1]
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != "\u2014" or not parts[1] or "+" in parts[1]:
        raise Bad("malformed signature line")
    if any(c.isspace() for c in parts[1]):
        raise Bad("malformed key name")
    raw = b64(parts[2])
    lines = text[:-1].split("\n")
    if len(lines) != 4 or not lines[0] or not lines[3].startswith("time ") or lines[3] == "time ":
        raise Bad("not a Docket checkpoint")
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", lines[1], re.ASCII):
        raise Bad("tree size is not a plain decimal number")
    root = b64(lines[2])
    if len(root) != 32:
        raise Bad("the root hash is not 32 bytes")
    if parts[1] != lines[0] or raw[:4] != key_id(lines[0], public):
        raise Bad("signature does not verify (forged or altered)")
    if not ed25519_verify(public, text.encode(), raw[4:]):
        raise Bad("signature does not verify (forged or altered)")
    return lines[0], int(lines[1]), root, lines[3][5:]


# The package.
TAG_FILES = {"bagit.txt", "bag-info.txt"} | {
    f"{t}manifest-{a}.txt" for t in ("", "tag") for a in ("sha256", "sha512")
}
DECLARATION = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PROOFS = {"custody/checkpoint.txt", "custody/export.json", "custody/events.json"}
PREVIOUS = {"custody/previous-checkpoint.txt", "custody/consistency.json"}
# The fields of an item's metadata.json, as docket.disclose._check_items defines them (copied:
# this file needs nothing but the standard library; a test holds the two equal).
ARRIVAL = ("collector", "source", "method", "original_path", "file_mtime", "note")
ACQUISITION = {"acquired_at", "path_in_container", "event", *ARRIVAL}
# How a name's bytes are shown (docket.names.display_name, copied; a test holds them equal).
CONTROL = {i: f"\\x{i:02x}" for i in range(32)} | {127: "\\x7f"}
CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def shown_name(encoded: Any) -> str | None:
    """The name a logged base64 name is shown as (None: none logged); a name that does not
    decode is shown as itself, so it differs from any name a package states."""
    if encoded is None:
        return None
    try:
        raw = base64.b64decode(str(encoded), validate=True)
    except ValueError:
        return f"(not base64: {encoded!r})"
    return raw.decode("utf-8", errors="backslashreplace").translate(CONTROL)


COURT = {"file_sha256", "sha256", "sha512", "size", "media_type", "first_seen"}
COURT |= {"acquisitions", "metadata", "analysis"}
PUBLICATION = {"file_sha256", "media_type", "derived_from", "made_by"}


# A zip that expands past this many times its own size, beyond BOMB_FLOOR, is no package Docket
# writes (its media are stored, its text deflated): a zip bomb, refused before a byte is written.
MOST_EXPANSION = 100
BOMB_FLOOR = 1 << 30


def unpacking_refused(package: Path, members: list[zipfile.ZipInfo], scratch: Path) -> str | None:
    """Why a zip must not be unpacked into `scratch` (None: it may). A member's declared size
    holds: zipfile reads no more than it."""
    expanded = sum(member.file_size for member in members)
    packed = max(package.stat().st_size, 1)
    if expanded > BOMB_FLOOR and expanded > MOST_EXPANSION * packed:
        return (
            f"it would expand to {expanded:,} bytes from {packed:,}, more than "
            f"{MOST_EXPANSION} times: not a package (a zip bomb?)"
        )
    free = shutil.disk_usage(scratch).free
    if expanded > free:
        return (
            f"it needs {expanded:,} bytes to unpack and {scratch} has {free:,} free "
            "(unzip it where there is room, or set TMPDIR)"
        )
    return None


def unpack(package: Path, scratch: Path) -> Path:
    if package.is_dir():
        return package
    if not zipfile.is_zipfile(package):
        raise Bad(f"{package}: neither a package folder nor a zip file")
    try:
        with zipfile.ZipFile(package) as bundle:
            names = bundle.namelist()
            if len(set(names)) != len(names) or len(names) > 100_000:
                raise Bad(f"{package}: the zip names a member twice or holds too many")
            if any(n.startswith("/") or "\\" in n or ".." in n.split("/") for n in names):
                raise Bad(f"{package}: a member escapes the package")
            refused = unpacking_refused(package, bundle.infolist(), scratch)
            if refused is not None:
                raise Bad(f"{package}: not unpacked: {refused}")
            bundle.extractall(scratch)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
        raise Bad(f"{package}: damaged zip ({exc})") from exc
    entries = list(scratch.iterdir())
    if len(entries) != 1 or not entries[0].is_dir() or entries[0].is_symlink():
        raise Bad(f"{package}: the zip does not hold exactly one package folder")
    return entries[0]


def files(folder: Path) -> set[str]:
    found = (p for p in folder.rglob("*") if p.is_file() or p.is_symlink())
    return {p.relative_to(folder).as_posix() for p in found}


def digest(path: Path, algorithm: str = "sha256") -> str:
    hashed = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            hashed.update(chunk)
    return hashed.hexdigest()


def check_bag(root: Path) -> list[str]:
    if (root / "fetch.txt").exists():
        return ["fetch.txt: a package must hold its files"]
    present = files(root)
    problems = [f"{p}: not a BagIt tag file" for p in present if not p.startswith("data/")]
    problems = [p for p in problems if p.split(":")[0] not in TAG_FILES]
    problems += [f"{t}: missing" for t in sorted(TAG_FILES - present)]
    if problems:
        return problems
    if (root / "bagit.txt").read_bytes() != DECLARATION:
        problems.append("bagit.txt: not BagIt 1.0 in UTF-8")
    payload = {p for p in present if p.startswith("data/")}
    for prefix in ("", "tag"):
        for algorithm in ("sha256", "sha512"):
            name = f"{prefix}manifest-{algorithm}.txt"
            listed: dict[str, str] = {}
            try:
                text = (root / name).read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError):
                problems.append(f"{name}: unreadable")
                continue
            for line in text.splitlines():
                entry = line.strip().split(None, 1)
                if not entry:
                    continue
                if len(entry) != 2 or entry[1] in listed:
                    problems.append(f"{name}: malformed line")
                    continue
                listed[entry[1]] = entry[0].lower()
            if not prefix and set(listed) != payload:
                problems.append(f"{name}: does not list exactly the payload")
            for path, expected in listed.items():
                target = root / path
                bad = path not in present or target.is_symlink()
                if bad or digest(target, algorithm) != expected:
                    problems.append(f"{path}: its {algorithm} is not what {name} says")
    return problems


def read(root: Path, relative: str) -> bytes:
    try:
        return (root / "data" / relative).read_bytes()
    except OSError as exc:
        raise Bad(f"{relative}: missing or unreadable") from exc


def load(root: Path, relative: str, indent: int | bool | None = False) -> Any:
    """JSON of a file; with `indent` given, only as Docket writes it (json.dumps)."""
    raw = read(root, relative)
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise Bad(f"{relative}: not JSON") from exc
    if indent is not False and raw != json.dumps(value, indent=indent).encode():
        raise Bad(f"{relative}: not written as Docket writes it")
    return value


def note(root: Path, relative: str, public: bytes) -> tuple[str, int, bytes, str]:
    try:
        return open_checkpoint(read(root, relative).decode("utf-8"), public)
    except (UnicodeDecodeError, Bad) as exc:
        raise Bad(f"{relative}: {exc}") from exc


def proven(record: Any, size: int, root_hash: bytes, where: str) -> tuple[int, dict[str, Any]]:
    record = of(record, dict, where)
    if not set(record) <= {"event", "leaf", "audit_path", "result_data"}:
        raise Bad(f"{where}: holds more than an event's proof")
    seq = of(record.get("event"), int, where)
    leaf = b64(record.get("leaf"))
    path = [bytes.fromhex(hex64(h, where)) for h in of(record.get("audit_path"), list, where)]
    try:
        event = of(json.loads(leaf.decode("utf-8")), dict, where)
    except (ValueError, RecursionError) as exc:
        raise Bad(f"event {seq}: its leaf is not JSON") from exc
    if event.get("seq") != seq or not verify_inclusion(seq, size, _leaf(leaf), path, root_hash):
        raise Bad(f"event {seq}: inclusion proof does not lead to the checkpoint root")
    of(event.get("details"), dict, f"event {seq}")
    return seq, event


def export_record(root: Path, size: int, root_hash: bytes) -> dict[str, Any]:
    record = of(load(root, "custody/export.json", 1), dict, "custody/export.json")
    if "result_data" in record:
        raise Bad("custody/export.json: the export event has no result data")
    seq, event = proven(record, size, root_hash, "custody/export.json")
    details = event["details"]
    if event.get("action") != "package.exported":
        raise Bad(f"event {seq} is not an export")
    listed: dict[str, tuple[int, str]] = {}
    for entry in of(details.get("files"), list, "files"):
        entry = of(entry, dict, "files")
        listed[of(entry.get("path"), str, "path")] = (
            of(entry.get("size"), int, "size"),
            hex64(entry.get("sha256"), "file hash"),
        )
    events: dict[int, str] = {}
    for entry in of(details.get("events"), list, "events"):
        entry = of(entry, dict, "events")
        events[of(entry.get("seq"), int, "seq")] = hex64(entry.get("leaf_hash"), "leaf hash")
    proofs = of(details.get("proofs"), dict, "proofs")
    previous = proofs.get("previous")
    if previous is not None:
        of(previous, dict, "previous")
        of(previous.get("tree_size"), int, "previous size")
        hex64(previous.get("root"), "previous root")
    prior = [of(p, str, "prior") for p in of(details.get("prior", []), list, "prior")]
    if any(p not in listed or not PRIOR_PATH.fullmatch(p) for p in prior):
        raise Bad(f"event {seq}: names prior custody that is not a listed custody/prior/ file")
    return {
        "seq": seq,
        "time": str(event.get("time")),
        "profile": of(details.get("profile"), str, "profile"),
        "recipient": of(details.get("recipient"), (str, type(None)), "recipient"),
        "items": [of(i, str, "items") for i in of(details.get("items"), list, "items")],
        "files": listed,
        "events": events,
        "left_out": of(details.get("events_left_out"), int, "events left out"),
        "timestamp": of(proofs.get("timestamp"), bool, "timestamp"),
        "previous": previous,
        "prior": prior,
    }


def check_contents(root: Path, export: dict[str, Any], origin: str) -> list[str]:
    data = root / "data"
    expected = set(export["files"]) | PROOFS | (PREVIOUS if export["previous"] else set())
    expected |= {"custody/checkpoint.tsr"} if export["timestamp"] else set()
    present = files(data) if data.is_dir() else set()
    problems = [f"{p}: not in the signed export record (added)" for p in present - expected]
    problems += [f"{p}: missing (the export record lists it)" for p in expected - present]
    for path in present & set(export["files"]):
        target = data / path
        if target.is_symlink() or (target.stat().st_size, digest(target)) != export["files"][path]:
            problems.append(f"{path}: differs from the signed export record")
    recipient = re.sub(r"[\r\n]", "", export["recipient"] or "")
    info = {
        "Bag-Software-Agent": "Docket",
        "Bagging-Date": export["time"][:10],
        "Docket-Profile": export["profile"],
        "Docket-Recipient": recipient,
        "External-Description": f"Docket evidence package, {export['profile']} profile",
        "Payload-Oxum": f"{sum((data / p).lstat().st_size for p in present)}.{len(present)}",
        "Source-Organization": origin,
    }
    text = "".join(f"{k}: {v}\n" for k, v in sorted(info.items()))
    if (root / "bag-info.txt").read_bytes() != text.encode():
        problems.append("bag-info.txt: not what the signed export record implies")
    return problems


def check_events(
    root: Path, export: dict[str, Any], size: int, root_hash: bytes
) -> tuple[list[str], dict[int, dict[str, Any]]]:
    problems: list[str] = []
    found: dict[int, dict[str, Any]] = {}
    records = of(load(root, "custody/events.json", 1), list, "custody/events.json")
    for index, record in enumerate(records):
        try:
            seq, event = proven(record, size, root_hash, f"events.json entry {index}")
            if found and seq <= max(found):
                raise Bad(f"event {seq}: given twice or out of order")
            if export["events"].get(seq) != _leaf(b64(record["leaf"])).hex():
                raise Bad(f"event {seq}: not in the signed export record")
            result = record.get("result_data")
            if "data_sha256" in event["details"] and result is None:
                raise Bad(f"event {seq}: its logged result data is missing")
            if "result_data" in record:
                result = of(result, str, f"event {seq}")
                if (
                    event["details"].get("data_sha256")
                    != hashlib.sha256(result.encode()).hexdigest()
                ):
                    raise Bad(f"event {seq}: its result data differs from what was logged")
                event["result"] = json.loads(result)
        except (Bad, ValueError, RecursionError) as exc:
            problems.append(str(exc))
            continue
        found[seq] = event
    problems += [f"event {s}: listed but missing" for s in set(export["events"]) - set(found)]
    if export["left_out"] != export["seq"] - len(export["events"]):
        problems.append("the export record's count of events left out does not add up")
    return problems, found


def check_item(root: Path, profile: str, entry: Any, logged: list[dict[str, Any]]) -> list[str]:
    entry = of(entry, dict, "package.json: item")
    item, kind = of(entry.get("item"), str, "item"), of(entry.get("kind"), str, "kind")
    relative, meta_name = of(entry.get("file"), str, "file"), of(entry.get("metadata"), str, "m")
    prefix = f"items/{item}/"
    if not relative.startswith(prefix) or meta_name != f"{prefix}metadata.json":
        return [f"{relative}: not in its item's folder"]
    if kind not in ({"original"} if profile == "court" else {"redacted", "stripped"}):
        return [f"{relative}: a {kind} copy has no place in a {profile} package"]
    path = root / "data" / relative
    if not path.is_file() or path.is_symlink():
        return [f"{relative}: missing"]
    actual = digest(path)
    logged = sorted(logged, key=lambda e: int(e["seq"]))
    if kind == "original":
        ok = actual == item and any(e.get("action") == "item.acquired" for e in logged)
    else:
        results = [e.get("result") for e in logged]
        made = [r.get("derivatives") for r in results if isinstance(r, dict)]
        ok = any(
            isinstance(d, dict) and d.get("sha256") == actual
            for m in made
            if isinstance(m, list)
            for d in m
        )
    problems = [] if ok else [f"{relative}: not what the custody log recorded"]
    meta = of(load(root, meta_name), dict, meta_name)
    if meta.get("file_sha256") != actual:
        problems.append(f"{meta_name}: describes another file")
    if profile == "publication":
        if set(meta) != PUBLICATION or (meta["derived_from"], meta["made_by"]) != (item, kind):
            problems.append(f"{meta_name}: differs from the custody log")
        return problems
    arrivals = {e["seq"]: e for e in logged if e.get("action") == "item.acquired"}
    if set(meta) != COURT or not arrivals:
        return [*problems, f"{meta_name}: its fields or arrivals are not a court item's"]
    facts = of(next(iter(arrivals.values()))["details"].get("item"), dict, meta_name)
    for key in ("sha256", "sha512", "size", "media_type"):
        if meta.get(key) != facts.get(key) or type(meta.get(key)) is not type(facts.get(key)):
            problems.append(f"{meta_name}: {key} differs from the custody log")
    if meta.get("first_seen") != min(str(e.get("time")) for e in arrivals.values()):
        problems.append(f"{meta_name}: first_seen differs from the custody log")
    seen = []
    for acquisition in of(meta.get("acquisitions"), list, meta_name):
        acquisition = of(acquisition, dict, meta_name)
        event = arrivals.get(acquisition.get("event"))
        if event is None or set(acquisition) != ACQUISITION:
            problems.append(f"{meta_name}: an acquisition has no proven event")
            continue
        seen.append(event["seq"])
        said = of(event["details"].get("acquisition"), dict, meta_name)
        inner = shown_name(said.get("path_in_container_b64"))
        if (
            any(said.get(f) != acquisition.get(f) for f in ARRIVAL)
            or acquisition.get("acquired_at") != event.get("time")
            or acquisition.get("path_in_container") != inner
        ):
            problems.append(f"{meta_name}: an acquisition differs from the custody log")
    if sorted(seen) != sorted(arrivals):
        problems.append(f"{meta_name}: its acquisitions are not the proven arrivals")
    metadata: Any = None
    for logged_event in logged:
        if str(logged_event.get("action")).startswith("metadata.") and "result" in logged_event:
            metadata = logged_event["result"]
    if meta.get("metadata") != metadata:
        problems.append(f"{meta_name}: its metadata differs from the proven logged result")
    return problems


def check_items(root: Path, export: dict[str, Any], events: dict[int, dict[str, Any]]) -> list[str]:
    manifest = of(load(root, "package.json"), dict, "package.json")
    entries = of(manifest.get("items"), list, "package.json: items")
    problems = []
    if manifest.get("profile") != export["profile"]:
        problems.append("package.json: its profile is not the export record's")
    named = [of(e, dict, "package.json: items").get("item") for e in entries]
    if sorted(map(str, named)) != sorted(export["items"]) or len(set(named)) != len(named):
        problems.append("package.json: its items are not the export record's")
    by_item: dict[str, list[dict[str, Any]]] = {}
    for event in events.values():
        by_item.setdefault(str(event.get("item")), []).append(event)
    for entry in entries:
        try:
            problems += check_item(
                root, export["profile"], entry, by_item.get(str(entry.get("item")), [])
            )
        except (Bad, ValueError, KeyError, TypeError, AttributeError) as exc:
            problems.append(f"package.json: item: {exc}")
    return problems


def check_previous(
    root: Path, export: dict[str, Any], public: bytes, size: int, root_hash: bytes
) -> list[str]:
    if export["previous"] is None:
        return []
    _, old_size, old_root, _ = note(root, "custody/previous-checkpoint.txt", public)
    proof = of(load(root, "custody/consistency.json", None), list, "custody/consistency.json")
    path = [bytes.fromhex(hex64(h, "custody/consistency.json")) for h in proof]
    problems = []
    if (old_size, old_root.hex()) != (export["previous"]["tree_size"], export["previous"]["root"]):
        problems.append("custody/previous-checkpoint.txt: not the one the export record names")
    if not verify_consistency(old_size, size, old_root, root_hash, path):
        problems.append("custody/consistency.json: the log was not only appended to")
    return problems


# Prior custody: the sender's leg of items this package's locker imported, checked against the
# sender's key the proven import recorded, and linked to it (docket.disclose._check_prior).
MEMBER = re.compile(r"custody(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+")
PRIOR_PATH = re.compile(r"custody/prior/[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}/[0-9a-f]{64}\.json")
BUNDLE = {"format", "origin", "public_key", "profile", "files"}


def imported(event: dict[str, Any]) -> dict[str, Any] | None:
    acquisition = event["details"].get("acquisition")
    package = acquisition.get("package") if isinstance(acquisition, dict) else None
    ok = event.get("action") == "item.acquired" and isinstance(package, dict)
    return package if ok else None


def check_prior(
    root: Path, export: dict[str, Any], events: dict[int, dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """(problems, one line per prior leg that was checked)."""
    named: dict[str, list[dict[str, Any]]] = {}
    for event in events.values():
        package = imported(event)
        if package is not None and "custody_sha256" in package:
            named.setdefault(str(package["custody_sha256"]), []).append(event)
    carried = {export["files"][path][1]: path for path in export["prior"]}
    problems = [
        f"event {e['seq']}: its import names prior custody {sha[:16]}, which the package "
        "does not carry"
        for sha, arrivals in sorted(named.items())
        if sha not in carried
        for e in arrivals
    ]
    legs = []
    for sha, path in sorted(carried.items(), key=lambda pair: pair[1]):
        if sha not in named:
            problems.append(f"{path}: no proven import in the package names it")
            continue
        try:
            if digest(root / "data" / path) != sha or not path.endswith(f"/{sha}.json"):
                raise Bad("differs from the export record that lists it")
            found, line = prior_leg(root, path, named[sha])
        except (Bad, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            found, line = [str(exc)], ""
        problems += [f"{path}: {problem}" for problem in found]
        legs += [line] if line else []
    return problems, legs


def kept_files(sender: Path, record: dict[str, Any]) -> list[str]:
    """The bundle holds exactly the sender's custody files: as its export record lists them,
    and besides them only the proofs of that record."""
    proofs = PROOFS | (PREVIOUS if record["previous"] else set())
    proofs |= {"custody/checkpoint.tsr"} if record["timestamp"] else set()
    present = files(sender / "data")
    extra = present - proofs - set(record["files"])
    problems = [f"{p}: not in the sender's export record" for p in sorted(extra)]
    for relative in sorted(present & set(record["files"])):
        target = sender / "data" / relative
        if (target.stat().st_size, digest(target)) != record["files"][relative]:
            problems.append(f"{relative}: differs from the sender's export record")
    listed = {p for p in record["files"] if p.startswith("custody/")}
    problems += [f"{p}: missing (the sender's export record lists it)" for p in listed - present]
    missing = proofs - present
    return problems + [f"{p}: missing (the export record says it is there)" for p in missing]


def prior_leg(root: Path, path: str, arrivals: list[dict[str, Any]]) -> tuple[list[str], str]:
    packages = [imported(e) or {} for e in arrivals]
    recorded = {str(p.get("sender_public_key")) for p in packages}
    if len(recorded) != 1:
        raise Bad("its imports recorded different sender keys")
    public = bytes.fromhex(hex64(recorded.pop(), "the sender's key recorded at import"))
    kept = of(load(root, path), dict, "the bundle")
    if set(kept) != BUNDLE or kept["format"] != 1:
        raise Bad("not a prior custody bundle")
    if kept["public_key"] != public.hex():
        raise Bad(f"its key is not the sender's key recorded at import ({fingerprint(public)})")
    with tempfile.TemporaryDirectory(prefix="docket-prior-") as scratch:
        sender = Path(scratch)
        for member, data in of(kept["files"], dict, "its files").items():
            if not MEMBER.fullmatch(member):
                raise Bad(f"holds a file named {member[:60]!r}, outside custody/")
            (sender / "data" / member).parent.mkdir(parents=True, exist_ok=True)
            (sender / "data" / member).write_bytes(b64(data))
        origin, size, root_hash, _ = note(sender, "custody/checkpoint.txt", public)
        record = export_record(sender, size, root_hash)
        problems, proven = check_events(sender, record, size, root_hash)
        earlier, lines = check_prior(sender, record, proven)  # the sender's own prior legs
        problems += earlier + kept_files(sender, record)
        problems += check_previous(sender, record, public, size, root_hash)
    if origin != kept["origin"] or {p.get("sender_origin") for p in packages} != {origin}:
        problems.append("its origin is not the sender's the import recorded")
    if kept["profile"] != record["profile"]:
        problems.append("its profile is not the sender's export record's")
    sent = {sha for _, sha in record["files"].values()}
    for event, package in zip(arrivals, packages, strict=True):
        if (package.get("checkpoint_size"), package.get("checkpoint_root")) != (
            size,
            root_hash.hex(),
        ):
            problems.append(
                f"event {event['seq']}: the import names another checkpoint than the "
                "sender's in the bundle"
            )
        if event.get("item") not in sent or package.get("sender_item") not in record["items"]:
            problems.append(
                f"event {event['seq']}: item {str(event.get('item'))[:16]} is not among what "
                "the sender's export sent"
            )
    trust = " / ".join(sorted({str(p.get("sender_key")) for p in packages}))
    return problems, (
        f"prior custody {path}: {origin}, signed by {fingerprint(public)} (the key recorded "
        f"at import, {trust}): {len(proven)} events, {len(arrivals)} item(s)"
        + "".join(f"; before it, {line}" for line in lines)
    )


def verify(package: Path, key: str | None) -> tuple[int, list[str], str, list[str]]:
    """(exit code, problems, the signer's fingerprint, what was found: the signed checkpoint's
    size and time, and a line per prior leg checked)."""
    with tempfile.TemporaryDirectory(prefix="docket-verify-") as scratch:
        try:
            root = unpack(package, Path(scratch))
            problems = check_bag(root)
            text = of(load(root, "package.json"), dict, "package.json").get("public_key")
            if not isinstance(text, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", text):
                raise Bad("package.json: public_key is not a hex Ed25519 key")
            public = bytes.fromhex(text)
            printed = fingerprint(public)
            if key is not None and key not in (text.lower(), printed):
                if not HEX64.fullmatch(key):
                    return 1, ["signed with another key than the one you expected"], printed, []
                public = bytes.fromhex(key)  # the signatures will not verify with it
            origin, size, root_hash, time = note(root, "custody/checkpoint.txt", public)
            found = [
                f"signed export checkpoint: {origin}, size {size}, time {time} (the sender's "
                "clock; a timestamp authority's time is checked by docket-check)"
            ]
            export = export_record(root, size, root_hash)
            problems += check_contents(root, export, origin)
            event_problems, events = check_events(root, export, size, root_hash)
            problems += event_problems + check_items(root, export, events)
            problems += check_previous(root, export, public, size, root_hash)
            prior_problems, legs = check_prior(root, export, events)
            problems += prior_problems
            found += legs
        except (Bad, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            return 1, [str(exc)], "", []
    return (1 if problems else 0 if key is not None else 3), problems, printed, found


def fingerprint(public: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(public).digest()).decode().rstrip("=")


# What a package says (its file names, its records) is printed as one printable line: a crafted
# name's escape sequences must not hide or fake the verdict. (docket.names.one_line is the same
# rule; this file cannot import Docket.)
_UNPRINTABLE = {i: f"\\x{i:02x}" for i in (*range(32), 127)} | {
    i: f"\\u{i:04x}" for i in (*range(0x80, 0xA0), 0x2028, 0x2029)
}


def _line(text: str) -> str:
    return text.translate(_UNPRINTABLE)


def main(args: list[str]) -> int:
    if len(args) not in (1, 3) or (len(args) == 3 and args[1] != "--key"):
        print(__doc__, file=sys.stderr)
        return 2
    key = args[2] if len(args) == 3 else None
    code, problems, printed, found = verify(
        Path(args[0]), key if key is None or key.startswith("SHA256:") else key.lower()
    )
    for line in found:
        print(_line(line))
    for problem in problems:
        print(_line(f"PROBLEM  {problem}"))
    print(
        {
            0: f"VERDICT: intact, its custody proofs hold, signed by {printed}",
            1: f"VERDICT: NOT verified ({len(problems)} problem(s))",
            3: f"VERDICT: consistent, but its signer is UNCONFIRMED: compare {printed} with "
            "the sender's published fingerprint, then run again with --key",
        }[code]
    )
    print("The RFC 3161 timestamp token is not checked here: run docket-check for it.")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
