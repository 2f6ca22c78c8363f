"""The prior custody a package carries: for items its locker imported, the sender's leg of the
chain (docket.disclose.prior), checked against the sender's key the import recorded.

Every bundle the export event lists must be named by a proven arrival in the package, and every
proven arrival that names one must find it carried (a dropped leg is named). A leg holds when
the sender's checkpoint verifies with the key the arrival recorded (never the key the bundle
states), the sender's export event is proven by it, every event that export lists is proven,
and the link holds: the arrival names that very checkpoint, and its item is a file the sender's
export listed. When the sender had itself imported the items, its own prior legs (inside the
bundle) are checked the same way, leg by leg. Part of the stand-alone checker.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from docket.custody.checkpoint import Checkpoint, strict_b64
from docket.disclose import _check_custody as custody
from docket.disclose._check_bag import Recorder, files_under
from docket.disclose._check_custody import ExportRecord, Malformed, expect, fingerprint, hex64

NAME = "prior custody: the sender's leg of each imported item"
PRIOR = "custody_sha256"  # as docket.catalogue.records names it (not imported: stand-alone)
BUNDLE_KEYS = {"format", "origin", "public_key", "profile", "files"}
_MEMBER = re.compile(r"custody(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+")


@dataclass
class _Leg:
    """Collects one leg's failures, each under the bundle's path."""

    path: str
    failures: list[str] = field(default_factory=list)
    earlier: str = ""  # the legs before it, when the sender had imported the items too

    def record(self, name: str, failures: list[str], detail: str = "") -> None:
        self.failures += [f"{self.path}: {failure}" for failure in failures]
        if name == NAME:
            self.earlier = detail

    def skip(self, name: str, why: str) -> None:
        """A check the leg cannot make (the sender's payload stayed with the sender)."""


def _package_of(event: dict[str, Any]) -> dict[str, Any] | None:
    acquisition = event["details"].get("acquisition")
    package = acquisition.get("package") if isinstance(acquisition, dict) else None
    ok = event.get("action") == "item.acquired" and isinstance(package, dict)
    return package if ok else None


def check_prior(
    root: Path,
    export: ExportRecord,
    events: dict[int, dict[str, Any]],
    report: Recorder,
    roots: list[x509.Certificate] | None = None,
) -> None:
    """`roots`: the TSA roots the receiver trusts, for the tokens of prior legs (the system's
    when None)."""
    named: dict[str, list[dict[str, Any]]] = {}
    unkept = 0  # arrivals imported before prior custody was kept
    for event in events.values():
        package = _package_of(event)
        if package is not None and PRIOR in package:
            named.setdefault(str(package[PRIOR]), []).append(event)
        elif package is not None:
            unkept += 1
    if not named and not export.prior:
        report.skip(
            NAME,
            f"{unkept} arrival(s) imported before Docket kept the sender's custody: their "
            "sender's leg is not in the package"
            if unkept
            else "no item of the package came in another locker's package",
        )
        return
    failures: list[str] = []
    found: list[str] = []
    carried = {export.files[path][1]: path for path in export.prior}
    for sha256, arrivals in sorted(named.items()):
        if sha256 not in carried:
            failures += [
                f"event {e['seq']}: its import names prior custody {sha256[:16]}, which the "
                "package does not carry"
                for e in arrivals
            ]
    for sha256, path in sorted(carried.items(), key=lambda pair: pair[1]):
        if sha256 not in named:
            failures.append(f"{path}: no proven import in the package names it")
            continue
        leg = _Leg(path)
        try:
            actual = custody.sha256_of(root / "data" / path)[1]
            if actual != sha256 or not path.endswith(f"/{sha256}.json"):
                raise Malformed("differs from the export record that lists it")
            found.append(_check_leg(root, path, named[sha256], leg, roots))
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            leg.failures.append(f"{path}: {exc}")
        failures += leg.failures
    report.record(NAME, failures, "; ".join(found))


def _check_leg(
    root: Path,
    path: str,
    arrivals: list[dict[str, Any]],
    leg: _Leg,
    roots: list[x509.Certificate] | None,
) -> str:
    packages = [_package_of(e) or {} for e in arrivals]
    recorded = {str(p.get("sender_public_key")) for p in packages}
    if len(recorded) != 1:
        raise Malformed("its imports recorded different sender keys")
    key = bytes.fromhex(hex64(recorded.pop(), "the sender's key recorded at import"))
    kept = expect(custody.read_json(root, path), dict, "the bundle")
    if set(kept) != BUNDLE_KEYS or kept["format"] != 1:
        raise Malformed("not a prior custody bundle")
    if kept["public_key"] != key.hex():
        raise Malformed(f"its key is not the sender's key recorded at import ({fingerprint(key)})")
    with tempfile.TemporaryDirectory(prefix="docket-prior-") as scratch:
        sender = Path(scratch)
        for member, data in expect(kept["files"], dict, "its files").items():
            if not _MEMBER.fullmatch(member):
                raise Malformed(f"holds a file named {member[:60]!r}, outside custody/")
            target = sender / "data" / member
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(strict_b64(expect(data, str, member)))
        checkpoint = custody.checkpoint_of(sender, key, leg)
        record = None if checkpoint is None else custody.export_of(sender, checkpoint, leg)
        if checkpoint is None or record is None:
            return f"{path}: not verified"
        proven = custody.proven_events(sender, checkpoint, record, leg)
        leg.record("kept files", _kept_files(sender, record))
        custody.check_consistency(sender, key, checkpoint, record, leg)
        stamped = _stamped(sender, checkpoint, record, leg, roots)
        check_prior(sender, record, proven, leg, roots)  # the sender's own prior legs, if any
    if checkpoint.origin != kept["origin"] or {p.get("sender_origin") for p in packages} != {
        checkpoint.origin
    }:
        leg.failures.append(f"{path}: its origin is not the sender's the import recorded")
    if kept["profile"] != record.profile:
        leg.failures.append(f"{path}: its profile is not the sender's export record's")
    sent = {sha256 for _, sha256 in record.files.values()}
    for event, package in zip(arrivals, packages, strict=True):
        said = (package.get("checkpoint_size"), package.get("checkpoint_root"))
        if said != (checkpoint.tree_size, checkpoint.root.hex()):
            leg.failures.append(
                f"{path}: event {event['seq']}: the import names another checkpoint than the "
                "sender's in the bundle"
            )
        if event.get("item") not in sent or package.get("sender_item") not in record.items:
            leg.failures.append(
                f"{path}: event {event['seq']}: item {str(event.get('item'))[:16]} is not "
                "among what the sender's export sent"
            )
    trust = sorted({str(p.get("sender_key")) for p in packages})
    return (
        f"{checkpoint.origin}, signed by {fingerprint(key)} (the key recorded at import, "
        f"{' / '.join(trust)}): its export event {record.seq} and {len(proven)} events, "
        f"{len(arrivals)} item(s)"
        + (f", stamped by {stamped}" if stamped else "")
        + (f"; before it, {leg.earlier}" if leg.earlier else "")
    )


def _kept_files(sender: Path, record: ExportRecord) -> list[str]:
    """The bundle holds the sender's custody files exactly: each one its export record lists
    (existed-by proofs, earlier legs) as listed, and besides them only the proofs of it."""
    proofs = {*custody.PROOF_FILES, *(custody.PREVIOUS_FILES if record.previous else ())}
    proofs |= {custody.TOKEN_FILE} if record.timestamp else set()
    present = files_under(sender / "data")
    extra = present - proofs - set(record.files)
    failures = [f"{p}: not in the sender's export record" for p in sorted(extra)]
    for relative in sorted(present & set(record.files)):
        if custody.sha256_of(sender / "data" / relative) != record.files[relative]:
            failures.append(f"{relative}: differs from the sender's export record")
    listed = {p for p in record.files if p.startswith("custody/")}
    failures += [f"{p}: missing (the sender's export record lists it)" for p in listed - present]
    return failures


def _stamped(
    sender: Path,
    checkpoint: Checkpoint,
    record: ExportRecord,
    leg: _Leg,
    roots: list[x509.Certificate] | None,
) -> str | None:
    """The TSA that stamped the sender's checkpoint, verified against the receiver's roots."""
    if not record.timestamp:
        return None
    if roots is None:
        from docket.disclose.timestamps import trusted_roots
        from docket.errors import DocketError

        try:
            roots = trusted_roots()
        except DocketError as exc:
            leg.failures.append(f"{leg.path}: {exc}")
            return None
    return custody.check_timestamp(sender, checkpoint, record, roots, leg)
