"""Signed checkpoints in the C2SP tlog-checkpoint / signed-note format.

The body is `origin\\nsize\\nbase64(root)\\ntime <RFC 3339>\\n`; the signature line is
`— origin base64(key_hash[:4] || ed25519_sig)`, as transparency logs (Go's sumdb, Sigstore)
write them, so an outside verifier that knows the format and our public key can check one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
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


MAX_SIGNATURES = 100
_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)


def strict_b64(text: str) -> bytes:
    """Standard base64 (RFC 4648 section 4) in its one canonical spelling, or ValueError."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not strict base64: {text[:20]!r}") from exc
    if base64.b64encode(raw).decode() != text:
        raise ValueError(f"not canonical base64: {text[:20]!r}")
    return raw


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedNote:
    """A C2SP signed note: its exact text (final newline included) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def verify(self, name: str, public_key: bytes) -> bool:
        """Every signature by this key (name and key ID both match) verifies over the exact
        text, and there is at least one. Signatures by other keys are ignored, as the spec
        requires, wherever they stand."""
        key_id = key_hash(name, public_key)
        mine = [s for s in self.signatures if s.name == name and s.key_id == key_id]
        try:
            verifier = Ed25519PublicKey.from_public_bytes(public_key)
            for found in mine:
                verifier.verify(found.signature, self.text.encode())
        except (InvalidSignature, ValueError):
            return False
        return bool(mine)


def read_note(note: str) -> SignedNote:
    """Parse a signed note strictly (c2sp.org/signed-note); ValueError names what is wrong."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise ValueError("a control character other than newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise ValueError("no blank line between the text and its signatures")
    text, block = note[: cut + 1], note[cut + 2 : -1]
    lines = block.split("\n") if block else []
    if not lines:
        raise ValueError("no signature line")
    if len(lines) > MAX_SIGNATURES:
        raise ValueError(f"more than {MAX_SIGNATURES} signature lines")
    signatures = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != SIGNATURE_DASH:
            raise ValueError(f"malformed signature line {line[:40]!r}")
        name = parts[1]
        if not name or "+" in name or any(c.isspace() for c in name):
            raise ValueError(f"malformed key name {name[:40]!r}")
        raw = strict_b64(parts[2])
        if len(raw) < 5:
            raise ValueError("a signature shorter than its key ID")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return SignedNote(text, tuple(signatures))


def read_checkpoint(note: SignedNote) -> tuple[str, int, bytes, str]:
    """origin, tree size, root and time of a Docket checkpoint (c2sp.org/tlog-checkpoint):
    size in decimal without leading zeros or signs, the root strict base64 of 32 bytes, and
    exactly one extension line, `time <RFC 3339>`."""
    lines = note.text[:-1].split("\n")
    if len(lines) != 4:
        raise ValueError(f"a checkpoint of {len(lines)} lines, not 4")
    origin, size, root_text, time = lines
    if not origin:
        raise ValueError("empty origin line")
    if not _DECIMAL.fullmatch(size) or len(size) > 20:
        raise ValueError(f"tree size {size[:24]!r} is not a plain decimal number")
    root = strict_b64(root_text)
    if len(root) != 32:
        raise ValueError("the root hash is not 32 bytes")
    if not time.startswith("time ") or len(time) == 5:
        raise ValueError("no `time` line")
    return origin, int(size), root, time[5:]


def open_checkpoint(note: str, public_key: bytes) -> Checkpoint:
    """The checkpoint of a note signed by `public_key` under the checkpoint's origin, checked
    over the note's exact bytes; ValueError when it is malformed or the signature fails."""
    signed = read_note(note)
    origin, size, root, time = read_checkpoint(signed)
    if not signed.verify(origin, public_key):
        raise SignatureError("signature does not verify (forged or altered)")
    key_id = key_hash(origin, public_key)
    signature = next(
        s.signature for s in signed.signatures if s.name == origin and s.key_id == key_id
    )
    return Checkpoint(origin, size, root, time, signature)


class SignatureError(ValueError):
    """A well-formed note whose signature by the expected key is missing or does not verify."""
