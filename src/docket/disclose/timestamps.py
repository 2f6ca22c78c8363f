"""RFC 3161 timestamps over checkpoints, from a timestamp authority (TSA), so that a
checkpoint's time rests on a third party's signature, not on ours.

The timestamped message is the checkpoint's signed-note body, byte for byte; the token, and
the TSA's root certificate the sender trusts, travel with an exported package. Imports only
what the offline checker may import (no storage, no database).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime

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


def verify_token(token: bytes, message: bytes, root_pem: bytes) -> TokenFacts:
    """Check `token` is a TSA's signature over exactly `message`, chaining to `root_pem`."""
    try:
        response = tsp.decode_timestamp_response(token)
        root = x509.load_pem_x509_certificate(root_pem)
        verifier = tsp.VerifierBuilder().add_root_certificate(root).build()
        verifier.verify_message(response, message)
    except (ValueError, tsp.VerificationError) as exc:
        raise TimestampError(f"timestamp token does not verify ({exc})") from exc
    info = response.tst_info
    return TokenFacts(info.gen_time, int(info.serial_number))
