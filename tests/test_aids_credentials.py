"""C2PA content credentials: pictures signed in the test with c2pa-python's Builder and a
certificate chain made here with `cryptography` (valid, trusted when its root is named,
tampered after signing, signed by an expired certificate, unsigned, with a broken manifest)."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from pathlib import Path
from typing import Any

import c2pa
import pytest
from aids_evidence import jpeg, scene
from conftest import take
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

from docket.aids import credentials
from docket.aids.results import aid_results
from docket.catalogue import schema
from docket.locker import Locker

NOW = dt.datetime.now(dt.UTC)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fieldcraft Test Lab"),
        ]
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class Chain:
    """A test root and a signing certificate it issued (ES256)."""

    def __init__(self, valid_for: dt.timedelta = dt.timedelta(days=30)) -> None:
        root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = (
            x509.CertificateBuilder()
            .subject_name(_name("Fieldcraft Test Root"))
            .issuer_name(_name("Fieldcraft Test Root"))
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=400))
            .not_valid_after(NOW + dt.timedelta(days=400))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        self.key = ec.generate_private_key(ec.SECP256R1())
        ends = dt.datetime.now(dt.UTC) + valid_for
        self.leaf = (
            x509.CertificateBuilder()
            .subject_name(_name("Field Camera Signer"))
            .issuer_name(self.root.subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=100))
            .not_valid_after(ends)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )

    def sign(self, picture: bytes, actions: list[dict[str, Any]]) -> bytes:
        key = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        info = c2pa.C2paSignerInfo(
            c2pa.C2paSigningAlg.ES256, _pem(self.leaf) + _pem(self.root), key, None
        )
        manifest = {
            "claim_generator_info": [{"name": "Larkspur Camera App", "version": "3.2"}],
            "title": "scene.jpg",
            "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
        }
        builder = c2pa.Builder.from_json(json.dumps(manifest))
        out = io.BytesIO()
        builder.sign(c2pa.Signer.from_info(info), "image/jpeg", io.BytesIO(picture), out)
        return out.getvalue()


CREATED = [
    {
        "action": "c2pa.created",
        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
    }
]


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain()


def check(tmp_path: Path, data: bytes) -> Any:
    path = tmp_path / "credentials.jpg"
    path.write_bytes(data)
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    return credentials.signal(path, "image/jpeg", scratch)


def test_valid_credentials_are_reported_with_signer_and_actions(
    chain: Chain, tmp_path: Path
) -> None:
    found = check(tmp_path, chain.sign(jpeg(scene(1), 90), CREATED))
    assert found.finding == "for review"
    assert "trust not checked" in found.summary
    assert found.details["signer"]["common_name"] == "Field Camera Signer"
    assert found.details["signer"]["issuer"] == "Fieldcraft Test Lab"
    assert found.details["claim_generator"] == "Larkspur Camera App 3.2"
    assert found.details["actions"] == ["c2pa.created"]
    assert "assertion.dataHash.match" in found.details["hard_binding"]
    assert found.details["failures"] == []


def test_a_signer_outside_the_named_roots_is_untrusted(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchors = tmp_path / "other-root.pem"
    anchors.write_bytes(_pem(Chain().root))
    monkeypatch.setenv(credentials.ENVIRONMENT, str(anchors))
    found = check(tmp_path, chain.sign(jpeg(scene(1), 90), CREATED))
    assert found.finding == "for review"
    assert "not in the trust list" in found.summary
    assert [f["code"] for f in found.details["failures"]] == ["signingCredential.untrusted"]


def test_a_named_root_makes_the_signer_trusted(
    chain: Chain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(_pem(chain.root))
    monkeypatch.setenv(credentials.ENVIRONMENT, str(anchors))
    found = check(tmp_path, chain.sign(jpeg(scene(1), 90), CREATED))
    assert found.details["validation_state"] == "Trusted"
    assert "a trusted signer" in found.summary
    assert found.details["trust_anchors_sha256"]


def test_a_picture_changed_after_signing_is_flagged_with_the_reason(
    chain: Chain, tmp_path: Path
) -> None:
    signed = bytearray(chain.sign(jpeg(scene(2), 90), CREATED))
    signed[-300] ^= 0x55  # one byte of the picture data, after the manifest
    found = check(tmp_path, bytes(signed))
    assert found.finding == "signal"
    assert "assertion.dataHash.mismatch" in found.summary
    assert found.details["validation_state"] == "Invalid"


def test_an_expired_signing_certificate_is_flagged(tmp_path: Path) -> None:
    # c2pa refuses to sign with an expired certificate, so it expires two seconds after
    # signing; with no timestamp in the manifest it is checked at reading time.
    chain = Chain(valid_for=dt.timedelta(seconds=2))
    signed = chain.sign(jpeg(scene(3), 90), CREATED)
    while dt.datetime.now(dt.UTC) <= chain.leaf.not_valid_after_utc + dt.timedelta(seconds=1):
        time.sleep(0.2)
    found = check(tmp_path, signed)
    assert found.finding == "signal"
    assert "signingCredential" in found.summary or "claimSignature" in found.summary


def test_an_unsigned_picture_gives_no_signal(tmp_path: Path) -> None:
    found = check(tmp_path, jpeg(scene(4), 90))
    assert found.finding == "no signal"
    assert "most files carry none" in found.summary


def test_a_broken_manifest_is_a_failed_analysis_with_its_reason_and_the_file_held(
    chain: Chain, locker: Locker, tmp_path: Path
) -> None:
    signed = bytearray(chain.sign(jpeg(scene(5), 90), CREATED))
    start = signed.index(b"jumb")
    signed[start + 40 : start + 400] = bytes(360)  # the manifest store's boxes, zeroed
    path = tmp_path / "broken-manifest.jpg"
    path.write_bytes(bytes(signed))
    take(locker, path)
    with locker.engine.connect() as conn:
        sha256 = str(conn.execute(select(schema.items.c.sha256)).scalar_one())
        found = {r.step: r for r in aid_results(conn, sha256)}["content-credentials"]
        actions = set(conn.execute(select(schema.events.c.action)).scalars())
    assert found.status == "failed", found
    assert found.error is not None and "C2PA manifest cannot be read" in found.error
    assert "content-credentials.failed" in actions
    assert locker.store.path(sha256).read_bytes() == bytes(signed)


def test_the_label_scan_reads_a_jpeg_header_and_any_other_file_whole(
    chain: Chain, tmp_path: Path
) -> None:
    signed = tmp_path / "signed.jpg"
    signed.write_bytes(chain.sign(jpeg(scene(6), 90), CREATED))
    after_scan = tmp_path / "after-scan.jpg"  # the label in the picture data, not a segment
    after_scan.write_bytes(jpeg(scene(6), 90)[:-2] + b"c2pa\xff\xd9")
    other = tmp_path / "other.bin"  # not a JPEG: read whole, the label across a chunk edge
    other.write_bytes(bytes(credentials.CHUNK - 2) + b"c2pa" + bytes(3 << 20))
    plain = tmp_path / "plain.bin"
    plain.write_bytes(bytes(3 << 20))
    assert credentials.has_label(signed)
    assert not credentials.has_label(after_scan)
    assert credentials.has_label(other)
    assert not credentials.has_label(plain)


@pytest.mark.parametrize("length", [0, 1])
def test_a_jpeg_segment_length_below_two_is_read_whole_not_a_crash(
    tmp_path: Path, length: int
) -> None:
    """A segment's length counts its own two bytes; 0 or 1 does not parse, so the file is
    scanned whole (it was a ValueError that stopped ingest's analysis)."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + length.to_bytes(2, "big") + bytes(300))
    assert not credentials.has_label(broken)
    broken.write_bytes(b"\xff\xd8\xff\xe0" + length.to_bytes(2, "big") + b"c2pa" + bytes(300))
    assert credentials.has_label(broken)
