"""Verification aids speed: pictures/s of the aid steps on 12-megapixel JPEGs, against the
analysis steps every photo already has, and C2PA validations/s.

Run by hand: .venv/bin/python bench/aids.py [--photos 40]
Target (issue 14): the aids add no more than 50% to analysis time per photo. The photos are
ingested with analysis deferred; then the analysis steps run over all of them, then the same
with the ingest-time aids (picture-signals, metadata-signals, content-credentials), through
the real runner (a sandboxed picture worker and an ExifTool per thread, one thread per core;
results collected but not recorded, so the figures are the steps' own cost); then the
full-resolution picture-forensics step, which runs only when asked for.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import c2pa
from _photos import twelve_megapixel_jpeg, unique_copies
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from docket.aids import credentials
from docket.aids.steps import (
    CredentialsStep,
    MetadataSignalsStep,
    PictureForensicsStep,
    PictureSignalsStep,
)
from docket.analyse.runner import WORKERS, Analyser
from docket.analyse.steps import MetadataStep, PerceptualStep, PreviewsStep, Step
from docket.catalogue import schema
from docket.ingest.run import IngestOptions, ingest
from docket.locker import Locker

SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def timed(locker: Locker, items: list[str], steps: list[Step]) -> float:
    start = time.perf_counter()
    with Analyser(locker.store, steps) as analyser:
        futures = [analyser.submit(item, "image/jpeg", steps) for item in items]
        runs = [run for future in futures for run in future.result()]
    failed = [run.error for run in runs if run.error]
    if failed:
        raise SystemExit(f"a step failed: {failed[0]}")
    return time.perf_counter() - start


def signed_jpeg(picture: bytes) -> bytes:
    """The picture with a C2PA manifest, signed by a throwaway self-made chain."""
    now = dt.datetime.now(dt.UTC)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Root")])
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def issue(subject_key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
        usage = x509.KeyUsage(not ca, False, False, False, False, ca, ca, False, False)
        common = "Bench Root" if ca else "Bench Signer"
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)]))
            .issuer_name(root_name)
            .public_key(subject_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), False
            )
        )
        if not ca:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION]), False
            ).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
            )
        return builder.sign(root_key, hashes.SHA256())

    chain = b"".join(
        c.public_bytes(serialization.Encoding.PEM)
        for c in (issue(key, False), issue(root_key, True))
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, pem, None))
    actions = {"actions": [{"action": "c2pa.created", "digitalSourceType": SOURCE}]}
    manifest = {
        "claim_generator_info": [{"name": "bench"}],
        "assertions": [{"label": "c2pa.actions", "data": actions}],
    }
    builder = c2pa.Builder.from_json(json.dumps(manifest))
    out = io.BytesIO()
    builder.sign(signer, "image/jpeg", io.BytesIO(picture), out)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--signed", type=int, default=10, help="C2PA-signed photos validated")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, best kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        root = Path(scratch)
        base = twelve_megapixel_jpeg()
        photos = unique_copies(base, root / "photos", args.photos)
        with Locker.create(root / "locker", actor="bench") as locker:
            options = IngestOptions(collector="bench", defer_analysis=True)
            ingest(locker, [os.fsencode(root / "photos")], options)
            with locker.engine.connect() as conn:
                items = [str(s) for s in conn.execute(select(schema.items.c.sha256)).scalars()]
            analysis: list[Step] = [MetadataStep(), PreviewsStep(), PerceptualStep()]
            aids: list[Step] = [PictureSignalsStep(), MetadataSignalsStep(), CredentialsStep()]
            core, both = float("inf"), float("inf")
            for _ in range(args.rounds):  # alternated, best of each: other load evens out
                core = min(core, timed(locker, items, analysis))
                both = min(both, timed(locker, items, [*analysis, *aids]))
            forensics = timed(locker, items, [PictureForensicsStep()])
            signed = root / "signed.jpg"
            signed.write_bytes(signed_jpeg(base))
            work = root / "c2pa"
            work.mkdir()
            start = time.perf_counter()
            for _ in range(args.signed):
                credentials.signal(signed, "image/jpeg", work)
            validation = time.perf_counter() - start
    n = len(photos)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"photos: {n} x 12 MP JPEG, {len(base) / 1e6:.1f} MB each, {WORKERS} analysis threads")
    print(
        f"analysis steps (metadata, previews, perceptual): {n / core:.1f} photos/s ({core:.2f} s)"
    )
    print(
        f"the same with the ingest-time aids:              {n / both:.1f} photos/s ({both:.2f} s)"
    )
    print(f"  -> the aids add {100 * (both - core) / core:.0f}% to analysis time (target <= 50%)")
    print(
        f"picture-forensics when asked for (double compression, error levels): "
        f"{n / forensics:.2f} photos/s ({forensics:.2f} s)"
    )
    print(
        f"C2PA validation of a signed 12 MP JPEG (sandboxed one-shot worker): "
        f"{args.signed / validation:.2f} validations/s ({validation / args.signed:.2f} s each)"
    )


if __name__ == "__main__":
    main()
