"""Strict C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-checkpoint), as the package
checker reads them: the rules of both specifications, and the published Go sumdb/note vector."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from docket.custody.checkpoint import (
    SignatureError,
    key_hash,
    open_checkpoint,
    public_key_of,
    read_note,
    sign,
)

# golang.org/x/mod/sumdb/note's test vector: verifier key "PeterNeumann+c74f20a3+<base64>".
PETER_KEY = "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)
ORIGIN = "docket.locker/test"
ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = public_key_of(KEY)


def line(name: str, key_id: bytes, signature: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(key_id + signature).decode()}\n"


def note_of(text: str, *lines: str) -> str:
    return text + "\n" + "".join(lines)


def body(size: str) -> str:
    return f"{ORIGIN}\n{size}\n{base64.b64encode(ROOT).decode()}\ntime 2026-01-01T00:00:00Z\n"


def signed(text: str) -> str:
    return note_of(text, line(ORIGIN, key_hash(ORIGIN, PUBLIC), KEY.sign(text.encode())))


def test_published_go_note_vector_verifies() -> None:
    raw = base64.b64decode(PETER_KEY)
    assert raw[0] == 1  # Ed25519
    assert key_hash("PeterNeumann", raw[1:]).hex() == "c74f20a3"
    note = read_note(PETER_NOTE)
    assert note.verify("PeterNeumann", raw[1:])
    assert not read_note(PETER_NOTE.replace("problem is", "problem was")).verify(
        "PeterNeumann", raw[1:]
    )


def test_a_checkpoint_note_as_docket_signs_it_opens() -> None:
    made = sign(KEY, ORIGIN, 52, ROOT, "2026-01-01T00:00:00Z")
    opened = open_checkpoint(made.signed_note(PUBLIC), PUBLIC)
    assert (opened.tree_size, opened.root, opened.time) == (52, ROOT, "2026-01-01T00:00:00Z")


@pytest.mark.parametrize("size", ["052", "+52", "5_2", " 52", "-0", "\u0665\u0662", "52 ", ""])
def test_tree_size_must_be_plain_decimal(size: str) -> None:
    """Signed over its own exact bytes, the note still fails: the size is not canonical."""
    with pytest.raises(ValueError, match="not a plain decimal"):
        open_checkpoint(signed(body(size)), PUBLIC)


def test_signature_is_checked_over_the_exact_bytes() -> None:
    """A note signed as "52" but showing "052" once verified (its text was rebuilt)."""
    note = signed(body("52")).replace("\n52\n", "\n052\n", 1)
    with pytest.raises(ValueError):
        open_checkpoint(note, PUBLIC)
    tampered = signed(body("52")).replace("time 2026", "time 2027", 1)
    with pytest.raises(SignatureError):
        open_checkpoint(tampered, PUBLIC)


def test_key_id_is_checked() -> None:
    text = body("52")
    wrong_id = note_of(text, line(ORIGIN, b"\0\0\0\0", KEY.sign(text.encode())))
    with pytest.raises(SignatureError):
        open_checkpoint(wrong_id, PUBLIC)


def test_cosignatures_in_any_order_are_ignored() -> None:
    text = body("52")
    ours = line(ORIGIN, key_hash(ORIGIN, PUBLIC), KEY.sign(text.encode()))
    witness = line("witness.example/w1", b"\x01\x02\x03\x04", bytes(72))
    same_name_other_id = line(ORIGIN, b"\xff\xff\xff\xff", bytes(64))
    for order in ((witness, ours), (ours, witness), (same_name_other_id, witness, ours)):
        assert open_checkpoint(note_of(text, *order), PUBLIC).tree_size == 52


def test_a_failing_signature_by_the_known_key_rejects_the_note() -> None:
    text = body("52")
    ours = line(ORIGIN, key_hash(ORIGIN, PUBLIC), KEY.sign(text.encode()))
    bad = line(ORIGIN, key_hash(ORIGIN, PUBLIC), bytes(64))
    with pytest.raises(SignatureError):
        open_checkpoint(note_of(text, ours, bad), PUBLIC)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda n: n.replace(ROOT_B64, ROOT_B64.rstrip("=")), "base64"),  # root unpadded
        (lambda n: n[:-1], "no blank line"),  # no final newline
        (lambda n: n.replace("\n", "\r\n"), "control character"),
        (lambda n: n.split("\n\n")[0] + "\n\n", "no signature line"),
        (lambda n: n.replace(f"\u2014 {ORIGIN}", f"- {ORIGIN}"), "malformed signature line"),
        (lambda n: n.replace(f"\u2014 {ORIGIN} ", "\u2014 a+b "), "malformed key name"),
        (lambda n: n[: n.rindex("=")] + "\n", "base64"),  # signature base64 cut
        (lambda n: n.replace("time 2026-01-01T00:00:00Z\n", ""), "lines, not 4"),
    ],
)
def test_malformed_notes_are_refused(mangle: object, reason: str) -> None:
    note = signed(body("52"))
    assert callable(mangle)
    with pytest.raises(ValueError, match=reason):
        open_checkpoint(mangle(note), PUBLIC)


def test_non_canonical_base64_is_refused() -> None:
    """ "AB==" and "AA==" decode alike; only the canonical spelling is accepted."""
    text = body("52")
    stamp = base64.b64encode(key_hash(ORIGIN, PUBLIC) + KEY.sign(text.encode())).decode()
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    bumped = stamp[:-2] + last[last.index(stamp[-2]) ^ 1] + "="
    assert base64.b64decode(bumped) == base64.b64decode(stamp)
    with pytest.raises(ValueError, match="canonical"):
        open_checkpoint(note_of(text, f"\u2014 {ORIGIN} {bumped}\n"), PUBLIC)
