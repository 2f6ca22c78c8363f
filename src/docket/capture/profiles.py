"""Named browser profiles, kept inside the locker: <locker>/profiles/NAME, mode 0700.

A capture uses a fresh, empty profile in its scratch folder unless it names one of these
(`docket capture --profile NAME`): then Chromium keeps that profile's cookies and storage from
one capture to the next, so a site signed in to once stays signed in. A profile is only ever
a name under the locker's own profiles/ folder, never a path, so no capture can be pointed at
the investigator's everyday browser profile; the folder and each profile are made and kept
readable by their owner only, and a profile that is a symbolic link is refused. A profile
serves one capture at a time (`held`); another that asks for it meanwhile is refused.

The web app's capture form offers the profiles kept here (`kept`), to the same people who may
capture into the case, and takes only one of them (`existing`): it never makes a profile, so a
name typed into a request cannot create a folder. The profile chosen is named in the capture's
custody event, with the person who chose it, as the CLI's is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path

from docket.errors import DocketError

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


def profile_folder(locker_path: Path, name: str) -> Path:
    """The folder of profile `name` in the locker at `locker_path`, made (mode 0700) if new."""
    if not _NAME.fullmatch(name):
        raise ProfileError(
            f"{name[:80]!r}: a browser profile is named by up to 64 letters, digits, '.', '_' "
            "or '-' (not a path); it is kept in the locker's profiles/ folder"
        )
    _private_folder(locker_path / FOLDER)
    folder = locker_path / FOLDER / name
    _private_folder(folder)
    return folder


def kept(locker_path: Path) -> list[str]:
    """The names of the profiles kept in the locker, sorted: plain-named folders under
    profiles/, never a symbolic link."""
    folder = locker_path / FOLDER
    if not folder.is_dir() or folder.is_symlink():
        return []
    return sorted(
        path.name
        for path in folder.iterdir()
        if _NAME.fullmatch(path.name) and path.is_dir() and not path.is_symlink()
    )


def existing(locker_path: Path, name: str) -> str:
    """`name` when it is a profile already kept in the locker; else ProfileError. The web app
    chooses among these only: a form never makes a profile nor names a folder."""
    if name not in kept(locker_path):
        raise ProfileError(
            f"{name[:80]!r}: no such browser profile in the locker (profiles are made with "
            "`docket capture --profile NAME`)"
        )
    return name


@contextlib.contextmanager
def held(folder: Path | None) -> Iterator[None]:
    """Profile `folder` for one capture at a time (None: a fresh profile, nothing to hold):
    Chromium runs one browser per profile and a second would fail on it, so a capture that
    finds the profile held (an flock on profiles/.NAME.lock) is refused in one line."""
    if folder is None:
        yield
        return
    fd = os.open(folder.parent / f".{folder.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProfileError(
                f"{folder.name}: the browser profile is in use by another capture; try again "
                "once it has finished"
            ) from None
        yield
    finally:
        os.close(fd)
