"""`docket-check`: verify an exported package offline, trusting only what the receiver brings.

Trust comes from outside the package: the sender's public key (`--key`: hex, a key file, or
its fingerprint, received another way) and the roots of the receiver's own trust store for
the timestamp (`--tsa-root`, by default the system's). Everything in the package is then held
to the export event, proven by the signed checkpoint: every file, every event, every proof.

Stand-alone on purpose: it imports the Merkle and checkpoint code, bagit and the RFC 3161
library, and nothing of the locker's store or catalogue, so a receiver can run it without a
locker. Every check says ok, FAILED or not checked; every failure names the file or event.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from docket.disclose import _check_custody as custody
from docket.disclose._check_bag import PackageError, check_bag, unpack
from docket.disclose._check_custody import fingerprint as fingerprint  # its public name
from docket.disclose._check_items import check_items
from docket.disclose._check_prior import check_prior
from docket.disclose._check_wacz import check_waczs
from docket.errors import DocketError
from docket.names import one_line

INTACT, FAILED, USAGE, UNCONFIRMED = 0, 1, 2, 3
EXIT_CODES = f"""exit codes:
  {INTACT}  intact, its custody proofs hold, and it is signed by the key you gave
  {FAILED}  NOT verified: a named problem was found
  {USAGE}  usage error (a bad argument, an unreadable key or trust store)
  {UNCONFIRMED}  consistent, but its signer is unconfirmed: no --key was given; compare
     the fingerprint printed with the one the sender published"""
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")


class UnreadableKey(DocketError):
    """A --key that is neither a hex key, a fingerprint, nor a readable key file."""


def verifier_sha256() -> str:
    """The SHA-256 of the stand-alone verifier every package carries (data/verify_package.py):
    a recipient with only Python runs it, so it is worth no more than the package unless its
    hash is compared with one received apart from the package, as the key's fingerprint is."""
    from docket.disclose import verify_package

    return hashlib.sha256(Path(verify_package.__file__).read_bytes()).hexdigest()


def read_key(given: str) -> bytes | str:
    """The raw Ed25519 key (32 bytes) of a hex key or a key file, or a fingerprint (str)."""
    text = given.strip()
    if _HEX_KEY.fullmatch(text):
        return bytes.fromhex(text)
    if text.startswith("SHA256:"):
        return text
    path = Path(given)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableKey(
            f"--key {given[:80]}: not a hex key, a fingerprint or a key file"
        ) from exc
    if b"-----BEGIN PUBLIC KEY-----" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise UnreadableKey(f"{path}: not a readable PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise UnreadableKey(f"{path}: not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    first = data.decode("utf-8", "replace").strip().split("\n", 1)[0].strip()
    if _HEX_KEY.fullmatch(first) or first.startswith("SHA256:"):
        return read_key(first)
    raise UnreadableKey(f"{path}: holds neither a hex key, a fingerprint nor a PEM public key")


@dataclass
class CheckReport:
    checks: list[tuple[str, bool | None, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    signer_confirmed: bool = False
    tsa: str | None = None

    @property
    def ok(self) -> bool:
        """Consistent: no failure, whatever the signer (see `intact` for trust too)."""
        return not self.failures and all(passed is not False for _, passed, _ in self.checks)

    @property
    def intact(self) -> bool:
        return self.ok and self.signer_confirmed

    @property
    def exit_code(self) -> int:
        return INTACT if self.intact else UNCONFIRMED if self.ok else FAILED

    def record(self, name: str, failures: list[str], detail: str = "") -> None:
        self.failures.extend(failures)
        self.checks.append((name, not failures, detail))

    def skip(self, name: str, why: str) -> None:
        self.checks.append((name, None, why))

    def as_dict(self) -> dict[str, Any]:
        verdict = "intact" if self.intact else "unconfirmed signer" if self.ok else "failed"
        return {
            "verdict": verdict,
            "exit_code": self.exit_code,
            "signer_fingerprint": self.fingerprint,
            "signer_confirmed": self.signer_confirmed,
            "tsa": self.tsa,
            "checks": [
                {"check": name, "ok": passed, "detail": detail}
                for name, passed, detail in self.checks
            ],
            "failures": self.failures,
        }


def check(
    package: Path,
    key: bytes | str | None = None,
    tsa_roots: list[x509.Certificate] | None = None,
) -> CheckReport:
    """Check a package (folder or zip). `key`: the sender's raw public key or its fingerprint,
    as the receiver knows it; `tsa_roots`: the roots the receiver trusts (the system's)."""
    report = CheckReport()
    with tempfile.TemporaryDirectory(prefix="docket-check-") as scratch:
        try:
            root = unpack(package, Path(scratch))
        except PackageError as exc:
            report.record("package readable", [str(exc)])
            return report
        check_root(root, report, key, tsa_roots)
    return report


def check_root(
    root: Path,
    report: CheckReport,
    key: bytes | str | None = None,
    tsa_roots: list[x509.Certificate] | None = None,
) -> None:
    """Check an unpacked package (its bag folder) into `report`."""
    check_bag(root, report)
    public_key = _signer(root, report, key)
    if public_key is None:
        return
    checkpoint = custody.checkpoint_of(root, public_key, report)
    if checkpoint is None:
        return
    export = custody.export_of(root, checkpoint, report)
    if export is None:
        return
    custody.check_files(root, export, report)
    custody.check_bag_info(root, checkpoint, export, report)
    events = custody.proven_events(root, checkpoint, export, report)
    check_items(root, export, events, report)
    check_waczs(root, report)
    check_prior(root, export, events, report, tsa_roots)
    custody.check_consistency(root, public_key, checkpoint, export, report)
    if (export.timestamp or custody.EXISTED in export.files) and tsa_roots is None:
        try:
            from docket.disclose.timestamps import trusted_roots

            tsa_roots = trusted_roots()
        except DocketError as exc:
            report.record("RFC 3161 timestamp of the checkpoint, by a TSA you trust", [str(exc)])
            return
    report.tsa = custody.check_timestamp(root, checkpoint, export, tsa_roots or [], report)
    custody.check_existed(root, public_key, export, events, tsa_roots or [], report)


def _signer(root: Path, report: CheckReport, key: bytes | str | None) -> bytes | None:
    """The key to check the signatures with: the one the receiver gave, else the package's."""
    name = "signer's key"
    try:
        manifest = custody.expect(custody.read_json(root, "package.json"), dict, "package.json")
        text = manifest.get("public_key")
        if not isinstance(text, str) or not _HEX_KEY.fullmatch(text):
            raise custody.Malformed("package.json: public_key is not a hex Ed25519 key")
        carried = bytes.fromhex(text)
    except custody.Malformed as exc:
        report.record(name, [str(exc)])
        return None
    report.fingerprint = fingerprint(carried)
    if key is None:
        report.skip(name, f"UNCONFIRMED: no --key given; the package's key is {report.fingerprint}")
        return carried
    matches = key == carried if isinstance(key, bytes) else key == report.fingerprint
    if not matches:
        report.record(name, ["checkpoint: signed with another key than the one you expected"])
        return key if isinstance(key, bytes) else None
    report.signer_confirmed = True
    report.record(name, [], f"the key you gave, {report.fingerprint}")
    return carried


def render(report: CheckReport) -> str:
    # A package's own words (file names, records) as one printable line each: a crafted name's
    # escape sequences must not hide or fake the verdict (names.one_line).
    lines = [
        one_line(
            f"{ {True: 'ok', False: 'FAILED', None: 'not checked'}[p]:<12} {name}"
            + (f": {detail}" if detail else "")
        )
        for name, p, detail in report.checks
    ]
    lines += [one_line(f"PROBLEM      {failure}") for failure in report.failures]
    lines.append(f"TSA:         {report.tsa or 'none (the checkpoint carries no trusted token)'}")
    if report.intact:
        lines.append(
            "VERDICT: the package is intact, its custody proofs hold, and it is signed by the "
            f"key you gave ({report.fingerprint})"
        )
    elif report.ok:
        lines.append(
            "VERDICT: the package is consistent, but its signer is UNCONFIRMED: compare "
            f"{report.fingerprint} with the fingerprint the sender published, then run again "
            "with --key"
        )
    else:
        lines.append(f"VERDICT: NOT verified ({len(report.failures)} problem(s))")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    described = argparse.ArgumentParser(
        prog="docket-check",
        description="Verify a Docket evidence package offline (a folder or a .zip).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    described.add_argument("package", type=Path, help="the package: its folder or its .zip")
    described.add_argument(
        "--key", help="the sender's public key: hex, a key file, or its SHA256: fingerprint"
    )
    described.add_argument(
        "--tsa-root",
        type=Path,
        help="PEM file of the TSA roots you trust (default: the system's trust store)",
    )
    described.add_argument("--json", action="store_true", help="print the report as JSON")
    return described


def main(args: Sequence[str] | None = None) -> int:
    try:
        options = parser().parse_args(args)
    except SystemExit as exc:
        return USAGE if exc.code else INTACT
    try:
        key = None if options.key is None else read_key(options.key)
        roots = None
        if options.tsa_root is not None:
            from docket.disclose.timestamps import trusted_roots

            roots = trusted_roots(options.tsa_root)
    except DocketError as exc:
        print(f"docket-check: {exc}", file=sys.stderr)
        return USAGE
    report = check(options.package, key, roots)
    print(json.dumps(report.as_dict(), indent=1) if options.json else render(report))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
