"""How a command gets a vault's locker key, and a new passphrase.

`obtain_key` tries, in order: this locker's unlock agent (`docket unlock --for 2h`), the file
named by DOCKET_PASSPHRASE_FILE (a passphrase, a recovery key, or SLIP-39 shares one per
line; for scripts and CI), a prompt on the terminal when standard input is one (three tries;
a share typed there is followed by prompts for the others its split needs);
else the vault is locked. A key from the agent is used only if it is this vault's. A secret
file's final line end is not part of the secret; nothing else is stripped.
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from docket.errors import DocketError, VaultLockedError, WrongPassphraseError
from docket.vault import agent, recovery, slot_file, slots
from docket.vault.keys import VaultKey

PASSPHRASE_FILE = "DOCKET_PASSPHRASE_FILE"
_TRIES = 3


def _secret_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DocketError(f"{path}: cannot read the passphrase file ({reason})") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise DocketError(f"{path}: the passphrase file is empty")
    return text


def _named_file() -> Path | None:
    named = os.environ.get(PASSPHRASE_FILE)
    return Path(named) if named else None


def obtain_key(locker_path: Path, locker_id: str, *, use_agent: bool = True) -> VaultKey:
    """The locker key of the vault at `locker_path`; WrongPassphraseError for a wrong secret,
    VaultLockedError when there is no way to get one."""
    if use_agent and (held := agent.request_key(locker_id)) is not None:
        key = VaultKey(held)
        if slots.fits(locker_path, locker_id, key):
            return key
    if (named := _named_file()) is not None:
        return slots.open_with_secret(locker_path, locker_id, _secret_file(named))
    if sys.stdin.isatty():
        for attempt in range(1, _TRIES + 1):
            typed = getpass.getpass(f"Passphrase, recovery key or a share for {locker_path}: ")
            try:
                if recovery.looks_like_share(typed):
                    typed = _more_shares(typed, locker_path)
                return slots.open_with_secret(locker_path, locker_id, typed)
            except WrongPassphraseError:
                if attempt == _TRIES:
                    raise
    raise VaultLockedError(
        f"{locker_path}: the vault is locked; run `docket unlock` or set {PASSPHRASE_FILE}"
    )


def _more_shares(first: str, locker_path: Path) -> str:
    """A trustee typed a SLIP-39 share: ask for the others its split needs, one per line."""
    needed = recovery.threshold_of(first, locker_path / slot_file.NAME)
    shares = [first]
    while len(shares) < needed:
        shares.append(getpass.getpass(f"Share {len(shares) + 1} of the {needed} needed: "))
    return "\n".join(shares)


def new_passphrase(label: str, file: Path | None = None, *, from_env: bool = True) -> str:
    """A new passphrase for `label`: from `file`, else (with `from_env`) the file named by
    DOCKET_PASSPHRASE_FILE, else typed twice on the terminal; an empty one is refused.
    Commands that unlock with DOCKET_PASSPHRASE_FILE pass from_env=False."""
    named = file or (_named_file() if from_env else None)
    if named is not None:
        return _secret_file(named)
    if not sys.stdin.isatty():
        raise VaultLockedError(
            f"a new passphrase for {label} is needed: name a file with it, or run on a terminal"
        )
    first = getpass.getpass(f"New passphrase for {label}: ")
    if not first:
        raise DocketError("an empty passphrase is refused")
    if getpass.getpass("The same passphrase again: ") != first:
        raise DocketError("the two passphrases differ; nothing was changed")
    return first
