"""Signed checkpoints in the C2SP tlog-checkpoint / signed-note format.

The body is `origin\\nsize\\nbase64(root)\\ntime <RFC 3339>\\n`; the signature line is
`— origin base64(key_hash[:4] || ed25519_sig)`, as transparency logs (Go's sumdb, Sigstore)
write them, so an outside verifier that knows the format and our public key can check one.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from docket.custody.keys import public_bytes

ED25519_ALGORITHM = b"\x01"
SIGNATURE_DASH = "\u2014"


def key_hash(origin: str, public_key: bytes) -> bytes:
    return hashlib.sha256(origin.encode() + b"\n" + ED25519_ALGORITHM + public_key).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root: bytes
    time: str
    signature: bytes

    def body(self) -> str:
        return body_text(self.origin, self.tree_size, self.root, self.time)

    def signed_note(self, public_key: bytes) -> str:
        stamp = base64.b64encode(key_hash(self.origin, public_key) + self.signature).decode()
        return f"{self.body()}\n{SIGNATURE_DASH} {self.origin} {stamp}\n"

    def verify(self, public_key: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                self.signature, self.body().encode()
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def body_text(origin: str, tree_size: int, root: bytes, time: str) -> str:
    return f"{origin}\n{tree_size}\n{base64.b64encode(root).decode()}\ntime {time}\n"


def sign(key: Ed25519PrivateKey, origin: str, tree_size: int, root: bytes, time: str) -> Checkpoint:
    signature = key.sign(body_text(origin, tree_size, root, time).encode())
    return Checkpoint(origin, tree_size, root, time, signature)


def public_key_of(key: Ed25519PrivateKey) -> bytes:
    return public_bytes(key.public_key())


def parse_signed_note(note: str) -> Checkpoint:
    """Read a signed note back into a Checkpoint (ValueError when it is malformed)."""
    body, separator, signatures = note.partition("\n\n")
    lines = body.split("\n")
    if not separator or len(lines) != 4 or not lines[3].startswith("time "):
        raise ValueError("not a Docket signed checkpoint note")
    origin, size, root, time = lines[0], int(lines[1]), base64.b64decode(lines[2]), lines[3][5:]
    for line in signatures.strip().split("\n"):
        dash, name, stamp = line.split(" ")
        if dash == SIGNATURE_DASH and name == origin:
            signature = base64.b64decode(stamp)[4:]
            return Checkpoint(origin, size, root, time, signature)
    raise ValueError("no signature by the log's own origin")
