"""A locker: one folder holding the catalogue, the blob store and the signing key."""

from __future__ import annotations

import getpass
import json
import os
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from docket import clock
from docket.catalogue import migrate
from docket.catalogue.database import open_engine
from docket.custody import keys, log
from docket.custody.checkpoint import public_key_of
from docket.errors import DiskFullError, LockerExistsError, LockerNotFoundError
from docket.store import FilesystemStore
from docket.store.scratch import no_room

CONFIG_NAME = "docket.json"
FORMAT = 1


def default_path() -> Path:
    return Path(os.environ.get("DOCKET_LOCKER", "locker"))


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


class Locker:
    def __init__(self, path: Path, config: dict[str, Any], key: Ed25519PrivateKey) -> None:
        self.path = path
        self.config = config
        self.signing_key = key
        self.public_key = public_key_of(key)
        self.store = FilesystemStore(path)
        self.engine: Engine = open_engine(self._database_url())

    @property
    def locker_id(self) -> str:
        return str(self.config["locker_id"])

    @property
    def origin(self) -> str:
        """The checkpoint origin line: names this locker's log to outside verifiers."""
        return f"docket.locker/{self.locker_id}"

    def _database_url(self) -> str:
        url = os.environ.get("DOCKET_DATABASE_URL") or str(self.config["database"])
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            return f"sqlite:///{self.path.resolve() / url.removeprefix('sqlite:///')}"
        return url

    @classmethod
    def create(
        cls, path: Path, actor: str | None = None, database_url: str | None = None
    ) -> Locker:
        """Make a new locker; its catalogue is SQLite inside it unless `database_url` names
        another database (for a team: PostgreSQL), which must exist and be empty."""
        if (path / CONFIG_NAME).exists():
            raise LockerExistsError(f"{path}: a locker already exists here; it was left unchanged")
        if path.exists() and any(path.iterdir()):
            raise LockerExistsError(f"{path}: folder is not empty; choose an empty or new folder")
        path.mkdir(parents=True, exist_ok=True)
        FilesystemStore.create(path)
        (path / "keys").mkdir(mode=0o700)
        key = keys.generate(path / "keys" / "signing.key")
        config: dict[str, Any] = {
            "format": FORMAT,
            "locker_id": str(uuid.uuid4()),
            "created": clock.now(),
            "database": database_url or "sqlite:///catalogue.sqlite",
        }
        locker = cls(path, config, key)
        migrate.upgrade(locker.engine, actor or default_actor())
        with locker.engine.begin() as conn:
            log.append(
                conn,
                actor or default_actor(),
                "locker.created",
                details={
                    "locker_id": locker.locker_id,
                    "public_key": locker.public_key.hex(),
                    "format": FORMAT,
                },
            )
        # The config file is written last and atomically: it is what makes the folder a locker.
        tmp = path / f"{CONFIG_NAME}.tmp"
        with tmp.open("w") as handle:
            json.dump(config, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.rename(path / CONFIG_NAME)
        return locker

    @classmethod
    def open(cls, path: Path) -> Locker:
        config_path = path / CONFIG_NAME
        if not config_path.is_file():
            raise LockerNotFoundError(
                f"{path}: no locker here (run `docket init {path}` or set DOCKET_LOCKER)"
            )
        config = json.loads(config_path.read_text())
        locker = cls(path, config, keys.load(path / "keys" / "signing.key"))
        try:
            migrate.upgrade(locker.engine, default_actor())
        except OperationalError as exc:
            locker.close()
            if no_room(path):  # SQLite then says only "disk I/O error" (no room for its WAL)
                raise DiskFullError(
                    f"{path}: the locker's disk is full, so its catalogue cannot be opened "
                    f"({exc.orig}); free some space and run the command again"
                ) from exc
            raise
        # Partial writes and scratch of processes that died (a killed ingest's .part, an
        # analysis step's unblurred thumbnails); a live process's are left alone.
        locker.store.clean_tmp()
        return locker

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Locker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
