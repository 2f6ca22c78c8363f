"""A kept browser profile in a vault: one sealed archive, unpacked only in memory for a capture.

In a vault, browser profile NAME (capture/profiles.py) is not a folder but one file,
profiles/<keyed name>.profile: NAME, a zero byte, then a tar of the profile folder (regular
files and folders only; Chromium's caches, folders whose name ends in "Cache", left out),
sealed whole with AES-256-GCM (envelope.py) under a key derived for this purpose alone, with
"profiles/<keyed name>" as associated data, so an archive moved into another's place does not
open. The keyed name is HMAC-SHA256 of NAME under another derived key, so the disk does not
say which accounts the investigator keeps.

`seal` writes an archive whole under tmp/ (removed by the next open of the locker if the
process dies), fsyncs it, renames it over the old one and fsyncs profiles/: a kill at any
moment leaves the old archive or the new one, never a torn one. `unpack` opens one into a
folder the caller chose (the vault's scratch, in memory); members are extracted with
tarfile's "data" filter, so none lands outside it. `seal_plain` seals a plain profile folder
and removes it (and its lock file, which bears its name) only once its archive is durable.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import shutil
import tarfile
from pathlib import Path

from docket.errors import DocketError, VaultDamagedError
from docket.store import scratch
from docket.store.filesystem import fsync_dir
from docket.vault import envelope
from docket.vault.keys import VaultKey

FOLDER = "profiles"
SUFFIX = ".profile"
SEAL = "browser-profile"  # the derived key sealing each archive (vault/keys.py)
NAMING = "browser-profile-name"  # the derived key naming each archive
MAX_BYTES = 512 * 2**20  # a profile's archive, caches left out


class SealedProfileError(DocketError):
    """A sealed browser profile that cannot be read, or a profile folder too big to seal."""


def keyed_name(key: VaultKey, name: str) -> str:
    return hmac.new(key.derive(NAMING), name.encode(), hashlib.sha256).hexdigest()


def archive(locker_path: Path, key: VaultKey, name: str) -> Path:
    """Where profile `name`'s sealed archive is (or will be)."""
    return locker_path / FOLDER / (keyed_name(key, name) + SUFFIX)


def _associated(path: Path) -> bytes:
    return f"{FOLDER}/{path.stem}".encode()


def _kept(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if not (member.isfile() or member.isdir()) or member.name.endswith("Cache"):
        return None
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def _tar(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for entry in sorted(folder.iterdir()):
            tar.add(entry, arcname=entry.name, filter=_kept)
    return buffer.getvalue()


def seal(locker_path: Path, key: VaultKey, name: str, folder: Path) -> None:
    """Profile folder `folder` sealed as profile `name`'s archive, durable when this returns
    (see the module docstring)."""
    target = archive(locker_path, key, name)
    tar = _tar(folder)
    if len(tar) > MAX_BYTES:
        raise SealedProfileError(
            f"{name}: the browser profile holds {len(tar) // 2**20} MB besides its caches, more "
            f"than the {MAX_BYTES // 2**20} MB a vault keeps; it was kept as it was before"
        )
    sealed = envelope.seal(key.derive(SEAL), name.encode() + b"\0" + tar, _associated(target))
    tmp = locker_path / "tmp" / f"{scratch.name('profile')}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, sealed)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def _open(path: Path, key: VaultKey) -> tuple[str, bytes]:
    """The name and the tar in the archive at `path`."""
    plain = envelope.unseal(key.derive(SEAL), path.read_bytes(), _associated(path), str(path))
    name, _, tar = plain.partition(b"\0")
    return name.decode(), tar


def names(locker_path: Path, key: VaultKey) -> list[str]:
    """The names of the profiles sealed in the vault, sorted (each archive is opened to read
    its name: the disk does not say it). An archive that does not open is left out, so one
    damaged profile never stops capturing with the others; `verify` names it (`damaged`)."""
    folder = locker_path / FOLDER
    if not folder.is_dir() or folder.is_symlink():
        return []
    found = []
    for path in folder.glob("*" + SUFFIX):
        if path.is_file() and not path.is_symlink():
            try:
                found.append(_open(path, key)[0])
            except (VaultDamagedError, OSError):
                continue
    return sorted(found)


def damaged(locker_path: Path, key: VaultKey) -> list[tuple[str, str]]:
    """Each sealed profile that does not open under `key`, with the reason (for `verify`)."""
    found = []
    for path in sorted((locker_path / FOLDER).glob("*" + SUFFIX)):
        try:
            _open(path, key)
        except (VaultDamagedError, OSError) as exc:
            found.append((f"{FOLDER}/{path.name}", str(exc).removeprefix(f"{path}: ")))
    return found


def unpack(locker_path: Path, key: VaultKey, name: str, into: Path) -> None:
    """Profile `name`'s archive unpacked into the empty folder `into`."""
    path = archive(locker_path, key, name)
    found, tar = _open(path, key)
    if found != name:
        raise VaultDamagedError(f"{path}: holds another profile than {name!r}")
    try:
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as members:
            members.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise SealedProfileError(f"{path}: cannot unpack the browser profile ({exc})") from exc


def seal_plain(locker_path: Path, key: VaultKey, name: str) -> None:
    """The plain profile folder profiles/`name` sealed (unless an earlier run sealed it before
    it was killed), then removed: the plain copy goes only once the sealed one is durable."""
    folder = locker_path / FOLDER / name
    if not archive(locker_path, key, name).exists():
        seal(locker_path, key, name, folder)
    shutil.rmtree(folder)
    (folder.parent / f".{name}.lock").unlink(missing_ok=True)  # its lock's name is its name
    fsync_dir(folder.parent)
