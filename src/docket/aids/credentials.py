"""C2PA content credentials, read and validated with the official library (c2pa-python).

The manifest store is parsed in a one-shot sandboxed worker (_credentials_worker.py), and
only for files that hold a C2PA label at all (a byte scan here), so the library's start costs
nothing on the many files without credentials. We report the claim generator, the signer (its
certificate's subject, issuer and serial, the algorithm, the signing time when a timestamp was
included), the actions, the ingredients, the hard binding (the hash of the content) and every
validation status code. Trust is checked only against anchors the locker's holder names in
DOCKET_C2PA_TRUST_ANCHORS (a PEM bundle): nothing is fetched, so OCSP is skipped and a remote
manifest is not read.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, BinaryIO

from docket.aids.signals import Signal
from docket.analyse.sandbox import run_worker

NAME = "content-credentials"
ENVIRONMENT = "DOCKET_C2PA_TRUST_ANCHORS"
TIMEOUT = 60.0
LABEL = b"c2pa"
CHUNK = 1 << 20
MAX_JPEG_HEADER = 64 << 20
UNTRUSTED = "signingCredential.untrusted"
HARD_BINDINGS = ("assertion.dataHash.", "assertion.bmffHash.", "assertion.boxesHash.")

EXPLANATION = (
    "C2PA content credentials are a signed record, made by a camera, app or editor, of how "
    "the file was made and changed. Credentials that validate show who signed that record and "
    "that the content has not changed since; they do not show that what the picture shows is "
    "true, and a signer is only as trustworthy as the trust list. Credentials that do not "
    "validate mean the file or its record changed after signing. Most files carry none, and "
    "removing them leaves no trace, so their absence shows nothing."
)


def _jpeg_header(stream: BinaryIO) -> bytes | None:
    """A JPEG's segments before its first scan (where C2PA's APP11 segments must be), or None
    when the file is not a JPEG or its segments do not parse (then the whole file is read)."""
    if stream.read(2) != b"\xff\xd8":
        return None
    header = bytearray()
    while len(header) < MAX_JPEG_HEADER:
        marker = stream.read(4)
        if len(marker) < 4 or marker[0] != 0xFF:
            return None
        if marker[1] == 0xDA:  # start of scan: no manifest beyond this point
            return bytes(header)
        length = int.from_bytes(marker[2:4], "big")
        if length < 2:  # a length counts its own two bytes: anything less does not parse
            return None
        header += stream.read(length - 2)
    return None


def has_label(path: Path) -> bool:
    """Whether the bytes hold the C2PA label (JUMBF boxes name their store 'c2pa'): in a
    JPEG's header segments, else anywhere in the file."""
    with path.open("rb") as stream:
        header = _jpeg_header(stream)
        if header is not None:
            return LABEL in header
        stream.seek(0)
        tail = b""
        while chunk := stream.read(CHUNK):
            if LABEL in tail + chunk:
                return True
            tail = chunk[-len(LABEL) :]
    return False


def trust_anchors() -> Path | None:
    configured = os.environ.get(ENVIRONMENT)
    return Path(configured) if configured else None


def read(path: Path, media_type: str, scratch: Path) -> dict[str, Any]:
    anchors = trust_anchors()
    request = {
        "path": str(path),
        "media_type": media_type,
        "trust_anchors": None if anchors is None else str(anchors),
    }
    return run_worker("docket.aids._credentials_worker", request, TIMEOUT, scratch)


def _codes(report: dict[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    """Failure entries (code, explanation), and success codes, of the active manifest."""
    results = (report.get("validation_results") or {}).get("activeManifest") or {}
    failures = [*(report.get("validation_status") or []), *(results.get("failure") or [])]
    unique = {f.get("code", "?"): str(f.get("explanation", "")) for f in failures}
    successes = [str(s.get("code")) for s in results.get("success") or []]
    return [{"code": c, "explanation": e} for c, e in unique.items()], successes


def _generator(manifest: dict[str, Any]) -> str:
    info = manifest.get("claim_generator_info") or []
    named = [" ".join(str(i.get(k, "")) for k in ("name", "version")).strip() for i in info]
    return ", ".join(n for n in named if n) or str(manifest.get("claim_generator") or "unknown")


def _actions(manifest: dict[str, Any]) -> list[str]:
    found = []
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                agent = action.get("softwareAgent")
                name = agent.get("name") if isinstance(agent, dict) else agent
                found.append(str(action.get("action")) + (f" ({name})" if name else ""))
    return found


def summarise(answer: dict[str, Any]) -> Signal:
    """The signal for a worker's answer (see _credentials_worker.handle)."""
    if not answer.get("found"):
        summary = "no content credentials in the file (most files carry none)"
        return Signal(NAME, "no signal", summary, EXPLANATION)
    report = answer["report"]
    manifest = (report.get("manifests") or {}).get(report.get("active_manifest"), {})
    signer = manifest.get("signature_info") or {}
    failures, successes = _codes(report)
    broken = [f for f in failures if f["code"] != UNTRUSTED]
    binding = [c for c in successes + [f["code"] for f in failures] if c.startswith(HARD_BINDINGS)]
    anchors = trust_anchors()
    details: dict[str, Any] = {
        "validation_state": answer.get("state"),
        "claim_generator": _generator(manifest),
        "signer": {
            k: signer.get(k) for k in ("common_name", "issuer", "cert_serial_number", "alg")
        },
        "signing_time": signer.get("time"),
        "actions": _actions(manifest),
        "ingredients": [
            {k: i.get(k) for k in ("title", "format", "relationship")}
            for i in manifest.get("ingredients") or []
        ],
        "hard_binding": binding,
        "failures": failures,
        "manifests": len(report.get("manifests") or {}),
        "trust_anchors_sha256": None
        if anchors is None
        else hashlib.sha256(anchors.read_bytes()).hexdigest(),
    }
    who = f"{signer.get('common_name') or 'an unnamed signer'} ({signer.get('issuer') or '?'})"
    if broken:
        reasons = "; ".join(f"{f['code']}: {f['explanation']}" for f in broken)
        return Signal(
            NAME, "signal", f"the credentials do not validate ({reasons})", EXPLANATION, details
        )
    if anchors is None:
        trust = f"trust not checked (no anchors named in {ENVIRONMENT})"
    else:
        trust = "a signer not in the trust list held here" if failures else "a trusted signer"
    summary = (
        f"credentials intact, signed by {who}, {trust}; made with {details['claim_generator']}"
        + (f"; actions: {', '.join(details['actions'])}" if details["actions"] else "")
    )
    return Signal(NAME, "for review", summary, EXPLANATION, details)


def signal(path: Path, media_type: str, scratch: Path) -> Signal:
    if not has_label(path):
        return summarise({"found": False})
    return summarise(read(path, media_type, scratch))
