"""Where a copy of a locker goes: the interface a destination offers, and a folder.

A destination holds blobs by name, a catalogue, and a few small files (checkpoints.log,
keys, docket.json, replica.json). `replicate` needs only what `Destination` declares, so
another kind of destination (an S3 bucket) is one more class of the same shape.

`Folder` is a copy on another disk: a locker folder of its own. It is accepted as a
destination only when it is new or empty, already a copy of the same locker, or an
interrupted first copy (nothing in it but the names a copy uses); anything else is refused
and left untouched. A vault's copy is a vault (prepared with the vault's key, which its
catalogue is read and installed with); a vault and a plain locker's copy are never mixed:
a plain copy of a locker since made a vault is refused, and the reverse.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from docket.copies import snapshot, transfer
from docket.custody import witness
from docket.errors import CopyError
from docket.locker import CONFIG_NAME
from docket.store import scratch
from docket.vault.keys import VaultKey

REPLICA_NAME = "replica.json"
CATALOGUE_NAME = "catalogue.sqlite"
_LAYOUT = {
    "objects",
    "tmp",
    "keys",
    CATALOGUE_NAME,
    f"{CATALOGUE_NAME}-wal",
    f"{CATALOGUE_NAME}-shm",
    witness.FILE_NAME,
    REPLICA_NAME,
    CONFIG_NAME,
}


class Destination(Protocol):
    """What `replicate` writes a copy through."""

    def describe(self) -> str: ...

    def prepare(self, locker_id: str, key: VaultKey | None = None) -> None:
        """Make ready to hold a copy of `locker_id` (a vault's, with its `key`); refuse a copy
        of another locker, or a plain copy for a vault and the reverse."""

    def blob_names(self) -> set[str]: ...

    def put_blobs(
        self, names: list[str], opener: transfer.Opener, check: transfer.Check | None = None
    ) -> tuple[int, int]:
        """Store the blobs named, read through `opener`, each proven to hash to its name (or
        by `check`), and durable once this returns; returns how many and how many bytes."""

    def scratch_file(self, purpose: str) -> Path:
        """A local path for a file being prepared (removed unless put in place)."""

    def held_log(self) -> list[bytes] | None:
        """The leaf hashes of the copy's current catalogue's log; None when it has none."""

    def put_catalogue(self, prepared: Path) -> None: ...

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes, mode: int = 0o644) -> None: ...


class Folder:
    """A copy in a folder (another disk): a locker folder, written as transfer.py says."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        self.key: VaultKey | None = None  # a vault's copy: its catalogue's key

    def describe(self) -> str:
        return str(self.root)

    def prepare(self, locker_id: str, key: VaultKey | None = None) -> None:
        config = self.root / CONFIG_NAME
        if config.exists():
            try:
                found = json.loads(config.read_bytes())
                held, vault = found.get("locker_id"), "vault" in found
            except (OSError, ValueError, AttributeError, TypeError) as exc:
                raise CopyError(f"{config}: cannot be read ({exc}); not written to") from exc
            if held != locker_id:
                raise CopyError(f"{self.root}: a copy of another locker ({held}); not written to")
            if vault != (key is not None):
                raise CopyError(f"{self.describe()}: {mixed(vault)}; not written to")
        elif self.root.exists() and not self.root.is_dir():
            raise CopyError(f"{self.root}: is a file, not a folder; not written to")
        elif self.root.exists():
            strange = sorted(set(os.listdir(self.root)) - _LAYOUT)
            if strange:
                raise CopyError(
                    f"{self.root}: holds files that are not a copy of this locker "
                    f"({', '.join(strange[:3])}); choose an empty or new folder"
                )
        if not self.root.parent.is_dir():
            raise CopyError(f"{self.root.parent}: no such folder (is the disk mounted?)")
        try:
            for folder in (self.root, self.objects, self.tmp):
                folder.mkdir(exist_ok=True)
            (self.root / "keys").mkdir(mode=0o700, exist_ok=True)
            transfer.fsync_dir(self.root)
        except OSError as exc:
            raise CopyError(f"{self.root}: cannot be written ({exc.strerror})") from exc
        scratch.clean(self.tmp)  # a killed replicate's partial files
        self.key = key

    def blob_names(self) -> set[str]:
        return transfer.blob_names(self.objects)

    def put_blobs(
        self, names: list[str], opener: transfer.Opener, check: transfer.Check | None = None
    ) -> tuple[int, int]:
        return transfer.put_blobs(names, opener, self.objects, self.tmp, check)

    def scratch_file(self, purpose: str) -> Path:
        return self.tmp / f"{scratch.name(purpose)}.part"

    def held_log(self) -> list[bytes] | None:
        file = self.root / CATALOGUE_NAME
        if not file.is_file():
            return None
        try:
            with snapshot.opened(file, self.key) as conn:
                return snapshot.leaves(conn)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise CopyError(
                f"{file}: cannot be read ({reason}); not replaced (move it aside to replace it)"
            ) from exc

    def put_catalogue(self, prepared: Path) -> None:
        snapshot.install(prepared, self.root / CATALOGUE_NAME, self.key)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes, mode: int = 0o644) -> None:
        transfer.write_file(self.root / name, data, self.tmp, mode)


def mixed(copy_is_vault: bool) -> str:
    """Why a copy is not used: one of a vault and a plain locker's copy."""
    if copy_is_vault:
        return "a copy of this locker as a vault, and this locker is not one; never mixed"
    return "a plain copy of this locker, which is now a vault (its copies are vaults); never mixed"


def config_of_copy(config: dict[str, Any]) -> bytes:
    """docket.json of a copy: the source's identity, with its own SQLite catalogue and its
    blobs in its own folder (whatever store the source uses)."""
    own = {key: value for key, value in config.items() if key != "store"}
    own["database"] = f"sqlite:///{CATALOGUE_NAME}"
    return json.dumps(own, indent=2).encode() + b"\n"
