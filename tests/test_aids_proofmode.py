"""ProofMode-shaped bundles made here: a picture and its proof signed with a test OpenPGP key
(pysequoia), zipped with the public key and an OpenTimestamps proof; valid, signed by another
key, the picture changed, not a bundle, and a proof that is not JSON (a failed analysis)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pysequoia
from aids_evidence import jpeg, scene
from conftest import take
from sqlalchemy import select

from docket.aids import proofmode
from docket.aids._proofmode_worker import OTS_MAGIC
from docket.aids.results import aid_results
from docket.aids.signals import Signal
from docket.analyse.exiftool import ExifTool
from docket.catalogue import schema
from docket.locker import Locker


def key() -> pysequoia.Tsk:
    return pysequoia.Tsk.generate("Field Reporter <reporter@example.org>")


def bundle(
    signer: pysequoia.Tsk,
    shipped: pysequoia.Tsk | None = None,
    picture: bytes | None = None,
    proof_text: bytes | None = None,
    original: bytes | None = None,
) -> bytes:
    original = original or jpeg(scene(20), 90)
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


def checked(tmp_path: Path, data: bytes) -> list[Signal]:
    """The bundle's signals, with ExifTool reading each proof's media (as the step does)."""
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    exiftool = ExifTool(scratch)
    try:
        return proofmode.signals(path, scratch, exiftool.read)
    finally:
        exiftool.close()


def check(tmp_path: Path, data: bytes) -> Signal:
    return checked(tmp_path, data)[0]


def photographed(tmp_path: Path, *tags: str) -> bytes:
    """A picture with the camera's own tags, written by ExifTool."""
    path = tmp_path / "camera.jpg"
    path.write_bytes(jpeg(scene(23), 90))
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", *(f"-{t}" for t in tags), str(path)],
        check=True,
        timeout=60,
    )
    return path.read_bytes()


CAMERA = (
    "Make=Larkspur",
    "Model=LK-7",
    "DateTimeOriginal=2024:03:01 12:34:50",
    "OffsetTimeOriginal=+03:00",
    "GPSLatitude=33.5043",
    "GPSLatitudeRef=N",
    "GPSLongitude=36.2842",
    "GPSLongitudeRef=E",
)


def test_a_proof_that_agrees_with_its_pictures_metadata_says_which_match(
    tmp_path: Path,
) -> None:
    [bundled, compared] = checked(tmp_path, bundle(key(), original=photographed(tmp_path, *CAMERA)))
    assert bundled.finding == "for review"
    assert compared.name == "proof-vs-media" and compared.finding == "no signal"
    assert compared.summary == "IMG_0001.jpg: time match, place match, device match"
    said = compared.details["comparisons"]["IMG_0001.jpg"]
    assert said["time"]["seconds"] == -6 and said["place"]["km"] < 0.01
    assert "extracted" not in str(bundled.details)  # no scratch path is recorded


def test_a_proof_for_another_time_place_and_device_says_which_differ(tmp_path: Path) -> None:
    elsewhere = [t for t in CAMERA if not t.startswith(("Model", "DateTime", "GPSLatitude="))]
    elsewhere += ["Model=Other 3", "DateTimeOriginal=2024:03:01 15:34:56", "GPSLatitude=34.5"]
    media = photographed(tmp_path, *elsewhere)
    [_, compared] = checked(tmp_path, bundle(key(), original=media))
    assert compared.finding == "signal"
    said = compared.details["comparisons"]["IMG_0001.jpg"]
    assert {part: f["outcome"] for part, f in said.items()} == {
        "time": "differs",
        "place": "differs",
        "device": "differs",
    }
    assert "time differs (proof 2024-03-01T09:34:56+00:00, media 2024-03-01T12:34:56+00:00" in (
        compared.summary
    )
    assert 100 < said["place"]["km"] < 120  # one degree of latitude
    assert "device differs (proof Larkspur LK-7, media Larkspur Other 3)" in compared.summary


def test_a_picture_without_metadata_is_not_compared(tmp_path: Path) -> None:
    [_, compared] = checked(tmp_path, bundle(key()))
    assert compared.finding == "not checked"
    assert compared.summary == (
        "IMG_0001.jpg: time not compared, place not compared, device not compared"
    )


def test_a_changed_picture_has_no_media_to_compare(tmp_path: Path) -> None:
    [_, compared] = checked(tmp_path, bundle(key(), picture=jpeg(scene(21), 90)))
    assert compared.finding == "not checked"
    assert compared.summary == "no proof's media was found to compare with"


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


def test_ingest_records_the_comparison_and_show_prints_it(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    path = tmp_path / "bundle.zip"
    data = bundle(key(), original=photographed(tmp_path, *CAMERA))
    path.write_bytes(data)
    take(locker, path)
    sha256 = hashlib.sha256(data).hexdigest()
    with locker.engine.connect() as conn:
        found = {r.step: r for r in aid_results(conn, sha256)}["proofmode"]
    assert (found.status, found.version) == ("ok", "2")
    assert found.tools["exiftool"] and found.tools["pysequoia"]
    shown = cli("show", "--locker", locker.path, sha256[:12]).out
    assert (
        "aid          proofmode: no signal, proof-vs-media: IMG_0001.jpg: time match, "
        "place match, device match"
    ) in shown
