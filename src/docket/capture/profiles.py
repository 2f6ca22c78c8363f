"""Named browser profiles, kept inside the locker: <locker>/profiles/NAME, mode 0700.

A capture uses a fresh, empty profile in its scratch folder unless it names one of these
(`docket capture --profile NAME`): then Chromium keeps that profile's cookies and storage from
one capture to the next, so a site signed in to once stays signed in. A profile is only ever
a name under the locker's own profiles/ folder, never a path, so no capture can be pointed at
the investigator's everyday browser profile; the folder and each profile are made and kept
readable by their owner only, and a profile that is a symbolic link is refused. A profile
serves one capture at a time (`held`); another that asks for it meanwhile is refused.

A kept profile belongs to the case of the first capture into a case made in it: `bind` gives
it to that case in a `profile.bound` custody event before the browser starts, so a capture
that fails afterwards still leaves it that case's (`case_of`; in a locker from before those
events, the first `capture.made` into a case decides). It holds that case's sessions (an
account signed in to for one investigation), so a capture into another case in it is refused
wherever it is asked, and the web app's capture form offers a case only the profiles that
belong to it (`for_case`), taking only one of those: it never makes a profile, so a name typed
into a request cannot create a folder, and a profile of another case is "no such profile", as
one never made. A profile no capture into a case has used yet is the locker holder's to give,
by `docket capture --profile NAME --case CASE`. The profile chosen is named in the capture's
custody event, with the person who chose it, as the CLI's is.

In a vault, a kept profile is never a folder on disk: it is one sealed archive
(vault/profiles.py), unpacked for a capture into a private folder in memory (the vault's
scratch on /dev/shm, mode 0700) that is removed afterwards whatever happens, and sealed back
once the page has loaded and the browser has closed, so the cookies the site set are kept; a
load that fails leaves the archive as it was. A plain profile folder found in a vault (made
before it was one) is sealed by the next capture that uses it, and removed once its archive
is durable.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from docket.catalogue import schema
from docket.custody import log
from docket.custody.events import event_from_row
from docket.errors import DocketError
from docket.vault import profiles as sealed
from docket.vault.keys import VaultKey

if TYPE_CHECKING:
    from docket.locker import Locker

FOLDER = "profiles"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class ProfileError(DocketError):
    """A profile name that is not a plain name, or a profile folder that cannot be used."""


def _private_folder(path: Path) -> None:
    if path.is_symlink():
        raise ProfileError(f"{path}: a browser profile may not be a symbolic link")
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot make the browser profile ({exc.strerror})") from exc


def _plain_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ProfileError(
            f"{name[:80]!r}: a browser profile is named by up to 64 letters, digits, '.', '_' "
            "or '-' (not a path); it is kept in the locker's profiles/ folder"
        )
    return name


def profile_folder(locker_path: Path, name: str) -> Path:
    """The folder of profile `name` in the locker at `locker_path`, made (mode 0700) if new."""
    folder = locker_path / FOLDER / _plain_name(name)
    _private_folder(folder.parent)
    _private_folder(folder)
    return folder


def kept(locker_path: Path, vault_key: VaultKey | None = None) -> list[str]:
    """The names of the profiles kept in the locker, sorted: plain-named folders under
    profiles/, never a symbolic link; in a vault (`vault_key`), its sealed profiles too."""
    if vault_key is not None:
        return sorted(set(sealed.names(locker_path, vault_key)) | set(kept(locker_path)))
    folder = locker_path / FOLDER
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(
        path.name
        for path in folder.iterdir()
        if _NAME.fullmatch(path.name) and path.is_dir() and not path.is_symlink()
    )


def one_spelling(locker: Locker, name: str) -> None:
    """Refuse a name that differs only in letter case from a kept profile's: where the file
    system ignores case (macOS, Windows, and a locker copied there) the two are one folder,
    which would then be one profile bound to two cases (`bind` compares names exactly)."""
    for other in kept(locker.path, locker.vault_key):
        if other != name and other.casefold() == name.casefold():
            raise ProfileError(
                f"{name}: differs only in letter case from the kept browser profile "
                f"{other!r}; use that name, or another"
            )


def case_of(conn: Connection, name: str) -> str | None:
    """The case profile `name` belongs to: that of its first `profile.bound` event (written
    before the browser starts: `bind`), or, in a locker from before those, of the first
    capture into a case made in it (None: neither yet)."""
    if not _NAME.fullmatch(name):
        return None
    # Details are stored as RFC 8785 JSON (no spaces); "_" is LIKE's one wildcard a name holds.
    pattern = '%"profile":"' + name.replace("_", "\\_") + '"%'
    first: tuple[int, str] | None = None
    for action in (schema.PROFILE_BOUND, schema.CAPTURE_MADE):  # each read by its own index
        rows = conn.execute(
            select(schema.events)
            .where(schema.events.c.action == action)
            .where(schema.events.c.details.like(pattern, escape="\\"))
            .order_by(schema.events.c.seq)
        ).mappings()
        for row in rows:
            details = event_from_row(row).details
            if details.get("profile") == name and details.get("case") is not None:
                if first is None or int(row["seq"]) < first[0]:
                    first = (int(row["seq"]), str(details["case"]))
                break
    return None if first is None else first[1]


def for_case(conn: Connection, locker: Locker, case: str) -> list[str]:
    """The kept profiles that belong to `case`: those the web app offers it."""
    return [name for name in kept(locker.path, locker.vault_key) if case_of(conn, name) == case]


def chosen_for_case(conn: Connection, locker: Locker, case: str, name: str) -> str:
    """`name` when it is a kept profile of `case`; else ProfileError, the same whether no such
    profile is kept or it is another case's (which is that case's to know)."""
    if name not in for_case(conn, locker, case):
        raise ProfileError(
            f"{name[:80]!r}: no such browser profile for this case (a profile belongs to the "
            "case of its first capture; the locker's holder makes one with `docket capture "
            "--profile NAME --case CASE`)"
        )
    return name


def bind(conn: Connection, actor: str, name: str, case: str | None) -> None:
    """Before a capture into `case` in profile `name`: refuse it when the profile belongs to
    another case, and give the profile to `case` when it belongs to none yet, in one
    transaction under the log's lock (two first captures into two cases cannot both pass), so
    the profile is the case's before the browser writes a cookie into it, whatever then
    becomes of the capture. A capture into no case (the locker holder's) may use any profile
    and binds none."""
    log.lock(conn)
    owner = case_of(conn, name)
    if case is None or owner == case:
        return
    if owner is not None:
        raise ProfileError(
            f"{name}: this browser profile belongs to another case (its sessions are that "
            "case's); capture into this case in a profile of its own"
        )
    log.append(conn, actor, schema.PROFILE_BOUND, details={"profile": name, "case": case})


@contextlib.contextmanager
def held(folder: Path | None) -> Iterator[None]:
    """Profile `folder` for one capture at a time (None: a fresh profile, nothing to hold):
    Chromium runs one browser per profile and a second would fail on it, so a capture that
    finds the profile held (an flock on profiles/.NAME.lock) is refused in one line."""
    if folder is None:
        yield
        return
    with _lock(folder.parent / f".{folder.name}.lock", folder.name):
        yield


@contextlib.contextmanager
def _lock(path: Path, name: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProfileError(
                f"{name}: the browser profile is in use by another capture; try again "
                "once it has finished"
            ) from None
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def opened(locker: Locker, name: str | None) -> Iterator[Path | None]:
    """The folder of profile `name` for one capture, held for the length of the block (None:
    a fresh profile). In a plain locker, profiles/NAME itself (made if new); in a vault, the
    sealed profile (made empty if new) unpacked in memory and sealed back after the block
    unless it raised (see the module docstring)."""
    if name is None:
        yield None
        return
    if not locker.is_vault:
        folder = profile_folder(locker.path, name)
        with held(folder):
            yield folder
        return
    key = locker.vault_key
    if key is None:
        raise ProfileError(f"{name}: the vault is locked; its browser profiles are sealed")
    keyed = sealed.keyed_name(key, _plain_name(name))
    _private_folder(locker.path / FOLDER)
    lock = locker.path / FOLDER / f".{keyed}.lock"
    with _lock(lock, name), locker.store.scratch("profile") as work:
        plain = locker.path / FOLDER / name
        if plain.is_dir() and not plain.is_symlink():
            sealed.seal_plain(locker.path, key, name)
        if not sealed.archive(locker.path, key, name).exists():
            sealed.seal(locker.path, key, name, work)  # a new, empty profile
        sealed.unpack(locker.path, key, name, work)
        yield work
        sealed.seal(locker.path, key, name, work)
