"""ProofMode bundles: a zip holding media with their `.proof.json` records, detached OpenPGP
signatures (`.asc`), OpenTimestamps proofs (`.ots`) and the signer's public key.

Checked in a one-shot sandboxed worker (_proofmode_worker.py) with Sequoia (pysequoia): each
proof names its media by SHA-256; the media and the proof must each carry a signature that
verifies against the bundle's key. The key's fingerprint is reported: whose key it is must be
established another way (a key shipped in the bundle proves only that the bundle is
consistent). Each proof's recorded time, place and device are compared with its media's own
metadata (proof_vs_media.py). OpenTimestamps proofs are kept with the zip and their header
read, and reported as "not checkable offline": checking them needs Bitcoin block headers,
which Docket does not hold.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from docket.aids import proof_vs_media
from docket.aids.signals import Signal
from docket.analyse.sandbox import run_worker

NAME = "proofmode"
TIMEOUT = 120.0

EXPLANATION = (
    "ProofMode signs a picture or video and a record of when, where and on which device it "
    "was made, at the moment of capture. Signatures that verify show the files are as the "
    "holder of that key signed them; they do not show whose key it is (check its fingerprint "
    "with the source another way) or that the recorded time and place are true. A failed "
    "signature or a missing file means something changed after signing. OpenTimestamps "
    "proofs cannot be checked offline."
)


def summarise(answer: dict[str, Any]) -> Signal:
    if not answer.get("bundle"):
        return Signal(NAME, "not checked", "not a ProofMode bundle (no .proof.json)", EXPLANATION)
    proofs = answer["proofs"]
    problems = []
    for proof in proofs:
        for part in ("media_signature", "proof_signature"):
            if proof[part] != "valid":
                subject = proof["media"] or proof["recorded_sha256"][:12]
                problems.append(f"{subject}: {part.replace('_', ' ')} {proof[part]}")
    timestamps = sum(len(p["opentimestamps"]) for p in proofs)
    details = {**answer, "opentimestamps": "not checkable offline (no Bitcoin block headers)"}
    if problems:
        return Signal(NAME, "signal", "; ".join(problems), EXPLANATION, details)
    keys = ", ".join(answer["keys"])
    summary = (
        f"{len(proofs)} proof(s): media and proof signatures verify with key {keys} (whose key "
        f"it is must be known another way); {timestamps} OpenTimestamps proof(s) kept, not "
        "checkable offline"
    )
    return Signal(NAME, "for review", summary, EXPLANATION, details)


def _names_proofs(path: Path) -> bool:
    """Whether the zip's directory lists a proof (read as ingest reads zips; the members are
    opened only in the worker). A zip that cannot be read goes to the worker for its reason."""
    try:
        with zipfile.ZipFile(path) as bundle:
            return any(name.endswith(".proof.json") for name in bundle.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return True


def signals(path: Path, scratch: Path, read: Callable[[Path], Mapping[str, Any]]) -> list[Signal]:
    """The bundle's signal, and for a bundle, its proofs against their media's own metadata
    (`read`: ExifTool's record of a file, read outside the worker)."""
    if not _names_proofs(path):
        return [summarise({"bundle": False})]
    media = scratch / "proofmode-media"
    media.mkdir(exist_ok=True)
    request = {"path": str(path), "out": str(media)}
    answer = run_worker("docket.aids._proofmode_worker", request, TIMEOUT, scratch)
    if not answer.get("bundle"):
        return [summarise(answer)]
    comparisons = {
        str(proof["media"]): proof_vs_media.compare(proof, read(Path(proof.pop("extracted"))))
        for proof in answer["proofs"]
        if proof.get("extracted")
    }
    return [summarise(answer), proof_vs_media.signal(comparisons)]
