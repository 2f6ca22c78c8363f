"""ProofMode-shaped bundles made here: a picture and its proof signed with a test OpenPGP key
(pysequoia), zipped with the public key and an OpenTimestamps proof; valid, signed by another
key, the picture changed, not a bundle, and a proof that is not JSON (a failed analysis)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pysequoia
from aids_evidence import jpeg, scene
from conftest import take
from sqlalchemy import select

from docket.aids import proofmode
from docket.aids._proofmode_worker import OTS_MAGIC
from docket.aids.results import aid_results
from docket.aids.signals import Signal
from docket.catalogue import schema
from docket.locker import Locker


def key() -> pysequoia.Tsk:
    return pysequoia.Tsk.generate("Field Reporter <reporter@example.org>")


def bundle(
    signer: pysequoia.Tsk,
    shipped: pysequoia.Tsk | None = None,
    picture: bytes | None = None,
    proof_text: bytes | None = None,
) -> bytes:
    original = jpeg(scene(20), 90)
    digest = hashlib.sha256(original).hexdigest()
    proof = (
        proof_text
        or json.dumps(
            {
                "File Hash SHA256": digest,
                "Proof Generated": "2024-03-01T12:34:56+03:00",
                "Location.Latitude": "33.5043",
                "Location.Longitude": "36.2842",
                "Manufacturer": "Larkspur",
                "Hardware": "LK-7",
            }
        ).encode()
    )

    def sign(data: bytes) -> bytes:
        return pysequoia.sign(signer.signer(), data, mode=pysequoia.SignatureMode.DETACHED)

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("IMG_0001.jpg", picture or original)
        archive.writestr("IMG_0001.jpg.asc", sign(original))
        archive.writestr(f"{digest}.proof.json", proof)
        archive.writestr(f"{digest}.proof.json.asc", sign(proof))
        archive.writestr("IMG_0001.jpg.ots", OTS_MAGIC + b"\x01" * 40)
        archive.writestr("pubkey.asc", str((shipped or signer).extract_certificate()))
    return out.getvalue()


def check(tmp_path: Path, data: bytes) -> Signal:
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return proofmode.signal(path, scratch)


def test_a_valid_bundle_verifies_and_names_its_key(tmp_path: Path) -> None:
    signer = key()
    found = check(tmp_path, bundle(signer))
    assert found.finding == "for review"
    fingerprint = signer.extract_certificate().fingerprint
    assert fingerprint in found.summary and "not checkable offline" in found.summary
    [proof] = found.details["proofs"]
    assert proof["media"] == "IMG_0001.jpg"
    assert (proof["media_signature"], proof["proof_signature"]) == ("valid", "valid")
    assert proof["device"] == "Larkspur LK-7" and proof["latitude"] == "33.5043"
    assert proof["opentimestamps"] == [{"file": "IMG_0001.jpg.ots", "header_ok": True}]


def test_a_bundle_signed_by_another_key_is_flagged(tmp_path: Path) -> None:
    found = check(tmp_path, bundle(key(), shipped=key()))
    assert found.finding == "signal"
    assert "media signature fails" in found.summary
    assert "proof signature fails" in found.summary


def test_a_changed_picture_is_flagged(tmp_path: Path) -> None:
    found = check(tmp_path, bundle(key(), picture=jpeg(scene(21), 90)))
    assert found.finding == "signal"
    assert "no media with that hash" in found.summary


def test_a_zip_without_proofs_is_not_checked(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("holiday.jpg", jpeg(scene(22), 90))
    assert check(tmp_path, out.getvalue()).finding == "not checked"


def test_a_proof_that_is_not_json_is_a_failed_analysis_and_the_zip_held(
    locker: Locker, tmp_path: Path
) -> None:
    path = tmp_path / "bundle.zip"
    data = bundle(key(), proof_text=b"{not json")
    path.write_bytes(data)
    take(locker, path)
    sha256 = hashlib.sha256(data).hexdigest()
    with locker.engine.connect() as conn:
        found = {r.step: r for r in aid_results(conn, sha256)}["proofmode"]
        held = conn.execute(select(schema.items.c.sha256)).scalars().all()
    assert found.status == "failed"
    assert found.error is not None and "is not JSON" in found.error
    assert sha256 in held and locker.store.path(sha256).read_bytes() == data
