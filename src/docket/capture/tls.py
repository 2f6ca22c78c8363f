"""What Chromium says of each HTTPS connection: whether it trusted the certificate, and the
chain the server sent (subject, issuer, validity, SHA-256 fingerprint of each certificate).

Captures accept any certificate so that a site with a broken or self-signed one can still be
kept as evidence; the record then says the browser did not trust it (its security state was
not "secure"). The facts come from the DevTools protocol (Network.responseReceived and
Network.getCertificate), read while the page is open; Playwright's own security details lack
the chain and the verdict.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from playwright.sync_api import CDPSession
from playwright.sync_api import Error as PlaywrightError

MAX_CHAIN = 10


def _certificate(der: bytes) -> dict[str, Any]:
    facts: dict[str, Any] = {"sha256": hashlib.sha256(der).hexdigest()}
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return facts | {"unreadable": True}
    return facts | {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "serial": format(cert.serial_number, "x"),
    }


class Observer:
    """Listens to one page's DevTools session; `describe` answers for a response's URL."""

    def __init__(self, session: CDPSession) -> None:
        self.session = session
        self.states: dict[str, str] = {}
        self.chains: dict[str, list[dict[str, Any]]] = {}
        session.send("Network.enable")
        session.on("Network.responseReceived", self.on_response)

    def on_response(self, event: dict[str, Any]) -> None:
        response = event.get("response") or {}
        if "url" in response and "securityState" in response:
            self.states[str(response["url"])] = str(response["securityState"])

    def _chain(self, url: str) -> list[dict[str, Any]]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self.chains:
            try:
                found = self.session.send("Network.getCertificate", {"origin": origin})
                names = found.get("tableNames") or []
            except PlaywrightError:
                names = []
            self.chains[origin] = [_certificate(base64.b64decode(n)) for n in names[:MAX_CHAIN]]
        return self.chains[origin]

    def describe(self, url: str, details: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Playwright's security details of an HTTPS response, with the browser's verdict
        (`trusted`) and the certificate chain; None for plain HTTP."""
        if not url.startswith("https://"):
            return None
        state = self.states.get(url)
        return dict(details or {}) | {
            "security_state": state,
            "trusted": None if state is None else state == "secure",
            "chain": self._chain(url),
        }
