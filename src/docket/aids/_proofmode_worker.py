"""One-shot sandboxed worker: checks a ProofMode-shaped bundle (a zip) with Sequoia.

Started by proofmode.check through sandbox.run_worker (memory limit, deadline, scratch
TMPDIR): the zip and the OpenPGP packets are parsed here, never in the locker's process.
Prints one JSON line: for each proof (`*.proof.json`), the media it names by SHA-256, whether
each detached signature (`<file>.asc`) verifies against the bundle's public key
(`pubkey.asc`), the proof's recorded time, place and device, and its OpenTimestamps proofs;
when asked (`out`), each proof's media copied there, for ExifTool to read its own metadata.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

MAX_MEMBERS = 10_000
MAX_MEMBER_BYTES = 512 << 20  # a member read for its hash and signature
MAX_PROOF_BYTES = 1 << 20
OTS_MAGIC = b"\x00OpenTimestamps\x00\x00Proof\x00\xbf\x89\xe2\xe8\x84\xe8\x92\x94"
SIDE_FILES = (".proof.json", ".proof.csv", ".asc", ".ots", ".gst")


class Malformed(Exception):
    """The bundle cannot be read as ProofMode (the step fails with this reason)."""


def _read(bundle: zipfile.ZipFile, name: str, limit: int) -> bytes:
    info = bundle.getinfo(name)
    if info.file_size > limit:
        raise Malformed(f"{name} is larger than {limit} bytes")
    with bundle.open(info) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise Malformed(f"{name} expands beyond {limit} bytes")
    return data


def _field(proof: dict[str, Any], *words: str) -> Any:
    """The first value whose key holds all `words` (ProofMode's keys vary by version)."""
    for key, value in proof.items():
        if all(w in key.lower() for w in words) and value not in (None, ""):
            return value
    return None


def _verify(data: bytes, signature: bytes | None, certs: list[Any]) -> str:
    import pysequoia

    if signature is None:
        return "missing"
    if not certs:
        return "no public key in the bundle"
    try:
        found = pysequoia.verify(
            bytes=data, store=lambda _ids: certs, signature=pysequoia.Sig.from_bytes(signature)
        )
    except (RuntimeError, ValueError) as exc:
        return "fails: " + str(exc).splitlines()[0]
    return "valid" if found.valid_sigs else "fails: no valid signature"


def check(path: str, out: str | None = None) -> dict[str, Any]:
    import pysequoia

    with zipfile.ZipFile(path) as bundle:
        names = bundle.namelist()
        if len(names) > MAX_MEMBERS:
            raise Malformed(f"more than {MAX_MEMBERS} members")
        proofs = [n for n in names if n.endswith(".proof.json")]
        if not proofs:
            return {"bundle": False}
        certs, keys = [], []
        if "pubkey.asc" in names:
            try:
                cert = pysequoia.Cert.from_bytes(_read(bundle, "pubkey.asc", MAX_PROOF_BYTES))
            except (RuntimeError, ValueError) as exc:
                raise Malformed(f"pubkey.asc is not an OpenPGP key ({exc})") from exc
            certs.append(cert)
            keys.append(cert.fingerprint)
        media = {}
        for name in names:
            if not name.endswith(SIDE_FILES) and not name.endswith("/"):
                media[hashlib.sha256(_read(bundle, name, MAX_MEMBER_BYTES)).hexdigest()] = name

        def signature_of(name: str) -> bytes | None:
            asc = name + ".asc"
            return _read(bundle, asc, MAX_PROOF_BYTES) if asc in names else None

        checked = []
        for proof_name in proofs:
            raw = _read(bundle, proof_name, MAX_PROOF_BYTES)
            try:
                proof = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise Malformed(f"{proof_name} is not JSON ({exc})") from exc
            if not isinstance(proof, dict):
                raise Malformed(f"{proof_name} is not a JSON object")
            recorded = str(_field(proof, "hash", "sha256") or "").lower()
            if not recorded:
                recorded = proof_name.rsplit("/", 1)[-1].split(".", 1)[0].lower()
            media_name = media.get(recorded)
            ots = [
                n
                for n in names
                if n.endswith(".ots")
                and (recorded in n or (media_name and n.startswith(media_name)))
            ]
            entry: dict[str, Any] = {
                "proof": proof_name,
                "recorded_sha256": recorded,
                "media": media_name,
                "proof_signature": _verify(raw, signature_of(proof_name), certs),
                "media_signature": "no media with that hash"
                if media_name is None
                else _verify(
                    _read(bundle, media_name, MAX_MEMBER_BYTES), signature_of(media_name), certs
                ),
                "time": _field(proof, "proof", "generated") or _field(proof, "modified"),
                "latitude": _field(proof, "latitude"),
                "longitude": _field(proof, "longitude"),
                "device": " ".join(
                    str(v) for v in (_field(proof, "manufacturer"), _field(proof, "hardware")) if v
                )
                or None,
                "opentimestamps": [
                    {
                        "file": n,
                        "header_ok": _read(bundle, n, MAX_PROOF_BYTES).startswith(OTS_MAGIC),
                    }
                    for n in ots
                ],
            }
            if out is not None and media_name is not None:  # for ExifTool, outside the zip
                copy = Path(out) / f"{recorded}.media"
                copy.write_bytes(_read(bundle, media_name, MAX_MEMBER_BYTES))
                entry["extracted"] = str(copy)
            checked.append(entry)
    return {"bundle": True, "keys": keys, "proofs": checked}


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        answer = {"ok": True, **check(str(request["path"]), request.get("out"))}
    except Malformed as exc:
        answer = {"ok": False, "error": f"not a readable ProofMode bundle ({exc})"}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        answer = {"ok": False, "error": f"the zip cannot be read ({exc})"}
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
