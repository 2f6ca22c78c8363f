"""A locker: one folder holding the catalogue, the blob store and the signing key. The blobs
may instead be in an S3 bucket with Object Lock, named by docket.json (see store/s3.py).

Opening a locker never replaces a missing or emptied catalogue with a new one when the locker
holds evidence (blobs, or a checkpoint in checkpoints.log): it refuses and says how to restore.
Opened read-only (`writable=False`, as `verify` does), it writes nothing: no migration, no
clean-up of tmp/, the catalogue opened read-only, and only the public key is needed.

A vault locker (docket.json `"vault": {"format": 1}`) keeps its blobs encrypted (store/vault.py),
its catalogue in SQLCipher (catalogue/database.py) and its signing key sealed (custody/keys.py),
all under the locker key, which `open` obtains from docket.vault.unlocking unless given. Opened
read-only without a way to get the key, a vault is *locked*: its public key and checkpoints
can be read, but its catalogue and store raise VaultLockedError (`verify` checks what it can).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, inspect, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from docket import clock
from docket import store as stores
from docket.catalogue import identity, migrate
from docket.catalogue.database import open_engine, reading
from docket.custody import keys, log, witness
from docket.custody.checkpoint import public_key_of
from docket.errors import (
    CatalogueLostError,
    DiskFullError,
    DocketError,
    LockerExistsError,
    LockerNotFoundError,
    VaultLockedError,
)
from docket.store.scratch import no_room
from docket.vault import slots, unlocking
from docket.vault.keys import VaultKey

CONFIG_NAME = "docket.json"
FORMAT = 1
PRIVATE_KEY = Path("keys/signing.key")
PUBLIC_KEY = Path("keys/signing.pub")  # hex of the raw Ed25519 public key, one line
VAULT_FORMAT = 1  # docket.json's "vault": {"format": VAULT_FORMAT}
CONVERTING = "vault-convert.json"  # the journal of a conversion to a vault (vault/convert.py)


def is_vault(config: dict[str, Any]) -> bool:
    return "vault" in config


def default_path() -> Path:
    return Path(os.environ.get("DOCKET_LOCKER", "locker"))


def read_config(path: Path) -> dict[str, Any]:
    """docket.json, checked enough that a damaged one is one line, not a traceback."""
    config_path = path / CONFIG_NAME
    if not config_path.is_file():
        raise LockerNotFoundError(
            f"{path}: no locker here (run `docket init {path}` or set DOCKET_LOCKER)"
        )
    try:
        config = json.loads(config_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise DocketError(
            f"{config_path}: cannot be read as a locker's configuration ({exc})"
        ) from exc
    if not isinstance(config, dict) or not all(
        isinstance(config.get(key), str) for key in ("locker_id", "database")
    ):
        raise DocketError(f"{config_path}: not a locker's configuration (no locker_id or database)")
    return config


def _write_public_key(path: Path, public_key: bytes) -> None:
    """keys/signing.pub, written whole or not at all: what `verify` checks signatures with."""
    tmp = path / PUBLIC_KEY.with_suffix(".pub.tmp")
    tmp.write_text(public_key.hex() + "\n")
    tmp.rename(path / PUBLIC_KEY)


def _read_only(file: Path) -> str:
    """SQLite URI options to read `file` without writing to it. On a folder we cannot write
    (a copy on read-only media) with no WAL left to replay, nothing can be writing to it, so it
    is read as immutable (SQLite could not make its -shm file there); else mode=ro, which still
    shares the -wal and -shm files with any live writer."""
    wal = file.with_name(file.name + "-wal")
    frozen = not os.access(file.parent, os.W_OK) and not (wal.exists() and wal.stat().st_size)
    return f"{file}?mode=ro{'&immutable=1' if frozen else ''}&uri=true"


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


class Locker:
    def __init__(
        self,
        path: Path,
        config: dict[str, Any],
        key: Ed25519PrivateKey | None = None,
        writable: bool = True,
        database_url: str | None = None,
        vault_key: VaultKey | None = None,
    ) -> None:
        """`database_url`: the catalogue's full URL when docket.json withholds its password
        (as `create` has it); else docket.catalogue.identity chooses. A vault without
        `vault_key` is locked (see the module's docstring)."""
        self.path = path
        self.config = config
        self.writable = writable
        self.vault_key = vault_key
        self._signing_key = key
        self.scratch_removed = 0  # leftovers of dead processes removed when it was opened
        self.recovery_key: str | None = None  # a new vault's, to be shown once by `init`
        self.public_key = self._load_public_key()
        self._given_url = database_url
        self._store: stores.BlobStore | None = None
        self._engine: Engine | None = None
        if not self.locked:
            self._store = stores.open_store(path, config, vault_key)
            self._engine = open_engine(self._database_url(), vault_key)
            witness.attach(self._engine, path)

    @property
    def is_vault(self) -> bool:
        return is_vault(self.config)

    @property
    def locked(self) -> bool:
        """A vault opened without its key: only what is public can be read."""
        return self.is_vault and self.vault_key is None

    def _refuse_locked(self) -> None:
        raise VaultLockedError(
            f"{self.path}: the vault is locked; run `docket unlock` or set "
            f"{unlocking.PASSPHRASE_FILE}"
        )

    @property
    def store(self) -> stores.BlobStore:
        if self._store is None:
            self._refuse_locked()
        assert self._store is not None
        return self._store

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._refuse_locked()
        assert self._engine is not None
        return self._engine

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        """The private key, read when first needed (verifying needs only the public key)."""
        self.require_signing_key()
        assert self._signing_key is not None
        return self._signing_key

    def require_signing_key(self) -> None:
        """Refuse to record evidence without the private key (a locker restored from a copy made
        without --include-private-key): events no signed checkpoint covers could later be lost,
        and `verify` could not tell. Called before anything is stored."""
        if self._signing_key is None:
            if self.locked:
                self._refuse_locked()
            self._signing_key = keys.load(self.path / PRIVATE_KEY, self.vault_key)

    def _load_public_key(self) -> bytes:
        """keys/signing.pub when present, else derived from the private key (older lockers)."""
        try:
            text = (self.path / PUBLIC_KEY).read_text().strip()
        except FileNotFoundError:
            return public_key_of(self.signing_key)
        except OSError as exc:
            raise DocketError(f"{self.path / PUBLIC_KEY}: cannot be read ({exc.strerror})") from exc
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise DocketError(f"{self.path / PUBLIC_KEY}: not the hex of an Ed25519 public key")
        return key

    @property
    def locker_id(self) -> str:
        return str(self.config["locker_id"])

    @property
    def origin(self) -> str:
        """The checkpoint origin line: names this locker's log to outside verifiers."""
        return f"docket.locker/{self.locker_id}"

    def _database_url(self) -> str:
        url = self._given_url or identity.choose(
            str(self.config["database"]), str(self.path / CONFIG_NAME)
        )
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            url = f"sqlite:///{self.path.resolve() / url.removeprefix('sqlite:///')}"
        if url.startswith("sqlite:///") and not self.writable:
            return f"sqlite:///file:{_read_only(Path(url.removeprefix('sqlite:///')))}"
        return url

    def _sqlite_file(self) -> Path | None:
        url = make_url(self._database_url())
        if url.get_backend_name() != "sqlite" or not url.database:
            return None
        return Path(url.database.removeprefix("file:"))

    def _catalogue_lost(self) -> bool:
        """Whether the catalogue is missing or empty (no custody log in it)."""
        file = self._sqlite_file()
        if file is not None and (not file.is_file() or file.stat().st_size == 0):
            return True  # checked before connecting: connecting would create the file
        with reading(self.engine) as conn:
            return not inspect(conn).has_table("log_head")

    def _refuse_another_catalogue(self) -> None:
        """The database must hold this locker's custody log (docket.catalogue.identity)."""
        file = self._sqlite_file()
        if file is not None and (not file.is_file() or file.stat().st_size == 0):
            return  # connecting would write it: `_refuse_a_new_catalogue` speaks for it
        with reading(self.engine) as conn:
            identity.check_owner(
                conn,
                self._database_url(),
                str(self.config["database"]),
                self.locker_id,
                str(self.path / CONFIG_NAME),
            )

    def _refuse_a_new_catalogue(self) -> None:
        """A missing or emptied catalogue is never silently replaced while evidence is held."""
        if not self._catalogue_lost():
            return
        if next(self.store.digests(), None) is None and not witness.holds_any(self.path):
            return
        file = self._sqlite_file()
        where = str(file) if file is not None else "the catalogue database in docket.json"
        raise CatalogueLostError(
            f"{where}: the catalogue is missing or empty, but this locker holds evidence "
            f"(blobs in its store or checkpoints in {witness.FILE_NAME}); restore the catalogue "
            "from a copy (a backup or replica) before using the locker; no new one was made"
        )

    @classmethod
    def create(
        cls,
        path: Path,
        actor: str | None = None,
        database_url: str | None = None,
        store_url: str | None = None,
        retention_days: int | None = None,
        vault_passphrase: str | None = None,
    ) -> Locker:
        """Make a new locker; its catalogue is SQLite inside it unless `database_url` names
        another database (for a team: PostgreSQL), which must exist and be empty. Its blobs
        live in objects/ unless `store_url` names a bucket with Object Lock (s3://...), where
        each is locked for `retention_days`. With `vault_passphrase`, a vault: its key slots
        (that passphrase and a recovery key, in `recovery_key` once) are written first, then
        everything is encrypted under the new locker key."""
        database_url = database_url or os.environ.get(identity.ENV) or None
        if (path / CONFIG_NAME).exists():
            raise LockerExistsError(f"{path}: a locker already exists here; it was left unchanged")
        if path.exists() and any(path.iterdir()):
            raise LockerExistsError(f"{path}: folder is not empty; choose an empty or new folder")
        if vault_passphrase is not None and database_url is not None:
            raise DocketError(
                f"{path}: a vault keeps its catalogue encrypted inside the locker folder, and a "
                "vault with a server database is not supported (PostgreSQL keeps its data in the "
                "clear on its server's disk: encrypt that disk); unset DOCKET_DATABASE_URL"
            )
        store = stores.settings(store_url, retention_days)  # checked before anything is made
        path.mkdir(parents=True, exist_ok=True)
        (path / "keys").mkdir(mode=0o700)
        config: dict[str, Any] = {
            "format": FORMAT,
            "locker_id": str(uuid.uuid4()),
            "created": clock.now(),
            # Kind and identity of the catalogue, never its password (docket.catalogue.identity).
            "database": identity.recorded(database_url or "sqlite:///catalogue.sqlite"),
        }
        vault_key = recovery_key = None
        if vault_passphrase is not None:
            made = slots.create(
                path, config["locker_id"], vault_passphrase, actor or default_actor()
            )
            vault_key, recovery_key = made.key, made.recovery_key
            config["vault"] = {"format": VAULT_FORMAT}
        key = keys.generate(path / PRIVATE_KEY, vault_key)
        _write_public_key(path, public_key_of(key))
        (path / witness.FILE_NAME).touch(mode=0o644)
        if store is not None:
            config["store"] = store
        stores.create(path, config, vault_key)
        locker = cls(path, config, key, database_url=database_url, vault_key=vault_key)
        locker.recovery_key = recovery_key
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
                    **({"store": store} if store is not None else {}),
                    **({"vault": config["vault"]} if vault_key is not None else {}),
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
    def open(
        cls,
        path: Path,
        writable: bool = True,
        database_url: str | None = None,
        vault_key: VaultKey | None = None,
    ) -> Locker:
        """Open the locker at `path`; with `writable=False` nothing in it is written.
        `database_url` overrides identity's choice (a restored locker's own SQLite file).
        A vault's key is `vault_key`, else obtained (docket.vault.unlocking); read-only, a
        vault with no way to get its key opens locked."""
        config = read_config(path)
        if (path / CONVERTING).exists():
            raise DocketError(
                f"{path}: its conversion to a vault was interrupted; run `docket vault convert` "
                "to finish it (nothing was lost)"
            )
        if is_vault(config) and vault_key is None:
            try:
                vault_key = unlocking.obtain_key(path, str(config["locker_id"]))
            except VaultLockedError:
                if writable:
                    raise
        locker = cls(
            path, config, writable=writable, database_url=database_url, vault_key=vault_key
        )
        if locker.locked:
            return locker
        try:
            locker._refuse_another_catalogue()
            locker._refuse_a_new_catalogue()
            if writable:
                migrate.upgrade(locker.engine, default_actor())
            else:
                migrate.check_current(locker.engine)
        except migrate.DamagedResultsError as exc:
            locker.close()
            raise migrate.DamagedResultsError(f"{path}: {exc}") from exc
        except OperationalError as exc:
            locker.close()
            if no_room(path):  # SQLite then says only "disk I/O error"
                raise DiskFullError(
                    f"{path}: the locker's disk is full, so its catalogue cannot be opened "
                    f"({exc.orig}); free some space and run the command again"
                ) from exc
            raise DocketError(f"{path}: the catalogue cannot be opened ({exc.orig})") from exc
        except DBAPIError as exc:
            locker.close()
            raise DocketError(f"{path}: the catalogue cannot be read ({exc.orig})") from exc
        except BaseException:
            locker.close()
            raise
        if writable:
            # Partial writes and scratch of processes that died (a killed ingest's .part, an
            # analysis step's unblurred thumbnails); a live process's are left alone.
            locker.scratch_removed = locker.store.clean_tmp()
            if not (path / PUBLIC_KEY).exists():  # a locker made before keys/signing.pub
                with contextlib.suppress(OSError):  # derived again at the next open
                    _write_public_key(path, locker.public_key)
        return locker

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def __enter__(self) -> Locker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
