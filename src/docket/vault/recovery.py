"""The text forms of a vault's high-entropy secrets: the recovery key and SLIP-39 shares.

A recovery key is 32 random bytes written as RFC 4648 base32 (A-Z, 2-7: no 0/1/8 to confuse
with letters) in 13 groups of 4, for example ABCD-EFGH-...; reading it ignores case, spaces
and dashes and takes 0, 1 and 8 for O, I and B. Shares are SLIP-39 mnemonics (Trezor's
reference implementation, shamir-mnemonic) of a random 32-byte secret; each carries its own
checksum, so a mistyped word is named before any slot is tried.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

import shamir_mnemonic

from docket.errors import WrongPassphraseError

SECRET_BYTES = 32
_KEY_CHARS = 52  # base32 of 32 bytes, without its padding
_GROUP = 4
_TYPOS = str.maketrans({"0": "O", "1": "I", "8": "B"})
_SHARE_WORDS = 20  # SLIP-39's shortest mnemonic (128-bit secret); ours have 33


def format_key(secret: bytes) -> str:
    text = base64.b32encode(secret).decode().rstrip("=")
    return "-".join(text[i : i + _GROUP] for i in range(0, len(text), _GROUP))


def _letters(text: str) -> str:
    return re.sub(r"[\s-]", "", text).upper().translate(_TYPOS)


def looks_like_key(text: str) -> bool:
    return re.fullmatch(f"[A-Z2-7]{{{_KEY_CHARS}}}", _letters(text)) is not None


def parse_key(text: str, where: Path) -> bytes:
    letters = _letters(text)
    if not looks_like_key(text):
        raise WrongPassphraseError(
            f"{where}: a recovery key is {_KEY_CHARS} letters A-Z and digits 2-7 (dashes and "
            f"spaces aside); this has {len(letters)}"
        )
    try:
        return base64.b32decode(letters + "====")
    except binascii.Error:
        raise WrongPassphraseError(f"{where}: not a recovery key") from None


def looks_like_share(line: str) -> bool:
    words = line.split()
    return len(words) >= _SHARE_WORDS and all(word.isalpha() and word.islower() for word in words)


def threshold_of(mnemonic: str, where: Path) -> int:
    """How many shares the split `mnemonic` belongs to needs (SLIP-39 writes it in each)."""
    try:
        return int(shamir_mnemonic.Share.from_mnemonic(" ".join(mnemonic.split())).member_threshold)
    except (shamir_mnemonic.MnemonicError, ValueError) as exc:
        raise WrongPassphraseError(f"{where}: not a valid share: {exc}") from None


def combine_shares(mnemonics: list[str], where: Path) -> bytes:
    """The secret the shares were split from; too few, mistyped or mixed shares are refused."""
    try:
        return bytes(shamir_mnemonic.combine_mnemonics([" ".join(m.split()) for m in mnemonics]))
    except (shamir_mnemonic.MnemonicError, ValueError) as exc:
        raise WrongPassphraseError(f"{where}: the shares do not combine: {exc}") from None
