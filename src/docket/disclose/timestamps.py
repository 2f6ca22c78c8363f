"""RFC 3161 timestamps over checkpoints, from a timestamp authority (TSA), so that a
checkpoint's time rests on a third party's signature, not on ours.

The timestamped message is the checkpoint's signed-note body, byte for byte; the token
travels with an exported package, and its receiver checks it against roots it trusts itself.
Imports only what the offline checker may import (no storage, no database).
"""

from __future__ import annotations

import contextlib
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import rfc3161_client as tsp
from cryptography import x509

from docket.errors import DocketError

TIMEOUT = 30.0


class TimestampError(DocketError):
    """The TSA could not be reached, refused, or answered with a token that does not verify."""


def request_token(url: str, message: bytes) -> bytes:
    query = tsp.TimestampRequestBuilder(data=message, nonce=True, cert_req=True).build()
    request = urllib.request.Request(
        url, data=query.as_bytes(), headers={"Content-Type": "application/timestamp-query"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            body: bytes = answer.read()
    except (urllib.error.URLError, OSError) as exc:
        raise TimestampError(f"{url}: timestamp authority not reachable ({exc})") from exc
    try:
        response = tsp.decode_timestamp_response(body)
    except ValueError as exc:
        raise TimestampError(f"{url}: the answer is not an RFC 3161 response ({exc})") from exc
    if response.status != 0:
        raise TimestampError(f"{url}: the timestamp authority refused ({response.status_string})")
    return response.as_bytes()


@dataclass(frozen=True)
class TokenFacts:
    time: datetime
    serial: int
    tsa: str  # the subject of the certificate that signed the token

    def describe(self) -> str:
        return f"{self.tsa}, serial {self.serial}, time {self.time.isoformat()}"


def trusted_roots(pem: Path | None = None) -> list[x509.Certificate]:
    """The root certificates a token must chain to: those of `pem`, or else the system's
    trust store (OpenSSL's default CA file, then certifi's). Never a package's own."""
    if pem is None:
        candidates = [ssl.get_default_verify_paths().cafile, "/etc/ssl/certs/ca-certificates.crt"]
        with contextlib.suppress(ImportError):
            import certifi

            candidates.append(certifi.where())
        found = [Path(c) for c in candidates if c and Path(c).is_file()]
        if not found:
            raise TimestampError("no system trust store found; give the TSA's root certificate")
        pem = found[0]
    try:
        roots = x509.load_pem_x509_certificates(pem.read_bytes())
    except (OSError, ValueError) as exc:
        raise TimestampError(f"{pem}: not a readable PEM file of certificates ({exc})") from exc
    return roots


def _signer(response: tsp.TimeStampResponse) -> str:
    names = []
    for der in response.signed_data.certificates:
        certificate = x509.load_der_x509_certificate(der)
        try:
            usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if x509.oid.ExtendedKeyUsageOID.TIME_STAMPING in usage:
            names.append(certificate.subject.rfc4514_string())
    return names[0] if names else "a TSA whose certificate the token does not carry"


def verify_token(token: bytes, message: bytes, roots: Sequence[x509.Certificate]) -> TokenFacts:
    """Check `token` is a TSA's signature over exactly `message`, chaining to one of `roots`."""
    try:
        response = tsp.decode_timestamp_response(token)
        builder = tsp.VerifierBuilder()
        for root in roots:
            builder = builder.add_root_certificate(root)
        builder.build().verify_message(response, message)
        info = response.tst_info
        return TokenFacts(info.gen_time, int(info.serial_number), _signer(response))
    except (ValueError, tsp.VerificationError) as exc:
        raise TimestampError(
            f"timestamp token does not verify against the trusted roots ({exc})"
        ) from exc
