"""The items of a package against their proven events: each file is the original or the
logged derivative, and each `metadata.json` says what the proven events say, field by field
(hashes, size, type, first seen, every acquisition, the logged metadata result). Part of the
stand-alone checker (docket.disclose.check)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docket.disclose._check_bag import Recorder
from docket.disclose._check_custody import ExportRecord, Malformed, expect, read_json, sha256_of
from docket.disclose.verify_package import shown_name

# What a court item's metadata.json says of each acquisition, in order: the export writes
# these (docket.disclose.package) and the checks expect exactly these.
ACQUISITION_FIELDS = (
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
# Those the arrival event states as they are (its time is `acquired_at`, its seq `event`).
ARRIVAL_FIELDS = ("collector", "source", "method", "original_path", "file_mtime", "note")
COURT_KEYS = {
    "file_sha256",
    "sha256",
    "sha512",
    "size",
    "media_type",
    "first_seen",
    "acquisitions",
    "metadata",
    "analysis",
}
PUBLICATION_KEYS = {"file_sha256", "media_type", "derived_from", "made_by"}
KINDS = {"court": {"original"}, "publication": {"redacted", "stripped"}}


def check_items(
    root: Path, export: ExportRecord, events: dict[int, dict[str, Any]], report: Recorder
) -> None:
    failures: list[str] = []
    try:
        manifest = expect(read_json(root, "package.json"), dict, "package.json")
        entries = expect(manifest.get("items"), list, "package.json: items")
        if manifest.get("profile") != export.profile:
            failures.append("package.json: its profile is not the signed export record's")
        named = [expect(e, dict, "package.json: items").get("item") for e in entries]
        if sorted(map(str, named)) != sorted(export.items) or len(set(named)) != len(named):
            failures.append("package.json: its items are not the signed export record's")
    except Malformed as exc:
        report.record("every file is the one the custody log recorded", [str(exc)])
        return
    by_item: dict[str, list[dict[str, Any]]] = {}
    for event in events.values():
        by_item.setdefault(str(event.get("item")), []).append(event)
    for entry in entries:
        try:
            failures += _item(root, export.profile, entry, by_item)
        except (Malformed, ValueError, KeyError, TypeError, AttributeError) as exc:
            failures.append(f"package.json: item {str(entry.get('item'))[:16]}: {exc}")
    report.record(
        "every file is the one the custody log recorded", failures, f"{len(entries)} items"
    )


def _item(
    root: Path, profile: str, entry: dict[str, Any], by_item: dict[str, list[dict[str, Any]]]
) -> list[str]:
    item = expect(entry.get("item"), str, "item")
    kind = expect(entry.get("kind"), str, "kind")
    relative = expect(entry.get("file"), str, "file")
    meta_name = expect(entry.get("metadata"), str, "metadata")
    prefix = f"items/{item}/"
    if not relative.startswith(prefix) or meta_name != f"{prefix}metadata.json":
        return [f"{relative}: not in its item's folder"]
    if kind not in KINDS.get(profile, set()):
        return [f"{relative}: a {kind} copy has no place in a {profile} package"]
    path = root / "data" / relative
    if not path.is_file() or path.is_symlink():
        return [f"{relative}: missing"]
    actual = sha256_of(path)[1]
    logged = sorted(by_item.get(item, []), key=lambda e: int(e["seq"]))
    derivative = None
    if kind == "original":
        ok = actual == item and any(e.get("action") == "item.acquired" for e in logged)
    else:
        derivative = next(
            (
                d
                for e in logged
                for d in _derivatives(e)
                if isinstance(d, dict) and d.get("sha256") == actual
            ),
            None,
        )
        ok = derivative is not None
    failures = []
    if not ok:
        failures.append(
            f"{relative}: its SHA-256 {actual} is not what the custody log "
            f"recorded for item {item[:16]}"
        )
    meta = expect(read_json(root, meta_name), dict, meta_name)
    if meta.get("file_sha256") != actual:
        failures.append(f"{meta_name}: describes another file")
    if profile == "publication":
        if set(meta) != PUBLICATION_KEYS or (meta["derived_from"], meta["made_by"]) != (item, kind):
            failures.append(f"{meta_name}: differs from the custody log")
        return failures
    return failures + _court_metadata(meta_name, meta, item, logged)


def _derivatives(event: dict[str, Any]) -> list[Any]:
    result = event.get("result")
    found = result.get("derivatives") if isinstance(result, dict) else None
    return found if isinstance(found, list) else []


def _court_metadata(
    name: str, meta: dict[str, Any], item: str, logged: list[dict[str, Any]]
) -> list[str]:
    """Every field of a court item's metadata is what its proven events say."""
    failures = []
    if set(meta) != COURT_KEYS:
        failures.append(f"{name}: its fields are not those of a court item")
        return failures
    arrivals = {e["seq"]: e for e in logged if e.get("action") == "item.acquired"}
    if not arrivals:
        return [f"{name}: no proven arrival of item {item[:16]} in the package"]
    facts = expect(next(iter(arrivals.values()))["details"].get("item"), dict, f"{name}: item")
    for key in ("sha256", "sha512", "size", "media_type"):
        if meta.get(key) != facts.get(key) or type(meta.get(key)) is not type(facts.get(key)):
            failures.append(f"{name}: {key} differs from the custody log")
    if meta.get("first_seen") != min(str(e.get("time")) for e in arrivals.values()):
        failures.append(f"{name}: first_seen differs from the custody log")
    acquisitions = expect(meta.get("acquisitions"), list, f"{name}: acquisitions")
    seen = []
    for acquisition in acquisitions:
        acquisition = expect(acquisition, dict, f"{name}: acquisition")
        event = arrivals.get(acquisition.get("event"))
        if event is None or set(acquisition) != set(ACQUISITION_FIELDS):
            failures.append(f"{name}: an acquisition has no proven event in the package")
            continue
        seen.append(event["seq"])
        logged_facts = expect(event["details"].get("acquisition"), dict, f"{name}: acquisition")
        changed = [f for f in ARRIVAL_FIELDS if logged_facts.get(f) != acquisition.get(f)]
        if acquisition.get("acquired_at") != event.get("time"):
            changed.append("acquired_at")
        # The event logs the name inside a container as bytes (base64) only.
        if acquisition.get("path_in_container") != shown_name(
            logged_facts.get("path_in_container_b64")
        ):
            changed.append("path_in_container")
        if changed:
            failures.append(
                f"{name}: acquisition of event {event['seq']} differs from the "
                f"custody log in {', '.join(changed)}"
            )
    if sorted(seen) != sorted(arrivals):
        failures.append(f"{name}: its acquisitions are not the proven arrivals")
    results = [e for e in logged if str(e.get("action")).startswith("metadata.") and "result" in e]
    proven = results[-1]["result"] if results else None
    if meta.get("metadata") != proven:
        failures.append(f"{name}: its metadata differs from the proven logged result")
    return failures
