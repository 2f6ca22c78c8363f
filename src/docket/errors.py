"""Errors a user can cause. Each carries a message meant for people, not a traceback."""

import errno

# PostgreSQL's SQLSTATE for disk_full; SQLite says "database or disk is full" (SQLITE_FULL).
_POSTGRES_DISK_FULL = "53100"


class DocketError(Exception):
    """Base of every error Docket raises on purpose; the CLI prints it on one line."""


class LockerExistsError(DocketError):
    """`init` was asked to create a locker where one (or other files) already is."""


class LockerNotFoundError(DocketError):
    """A command needs a locker and none is at the given path."""


class CatalogueLostError(DocketError):
    """The catalogue is missing or empty while the locker holds evidence: it must be restored
    from a copy, never silently replaced by a new, empty one."""


class NotFoundError(DocketError):
    """An item, event or checkpoint named by the user does not exist."""


class AmbiguousIdError(DocketError):
    """A hash prefix matches more than one item."""


class RefusedInputError(DocketError):
    """An input that cannot or must not be read (FIFO, escaping symlink, zip bomb...)."""


class MetadataError(DocketError):
    """ExifTool could not read an item, timed out, or is not installed."""


class CustodyError(DocketError):
    """A proof was asked for that the log cannot give (for example a size beyond the tree)."""


class DiskFullError(DocketError):
    """The locker's disk (or its owner's quota) filled up while writing; what was already
    acknowledged stays stored, and the command can be run again once there is space."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or the database error it wraps) says the disk or quota is full."""
    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    cause = getattr(exc, "orig", None)  # SQLAlchemy's wrapped DB-API error
    if cause is None:
        return False
    return (
        "database or disk is full" in str(cause)
        or (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None))
        == _POSTGRES_DISK_FULL
    )


def disk_full_error(exc: BaseException) -> DiskFullError:
    """A one-line DiskFullError for any error `is_disk_full` recognises."""
    if isinstance(exc, DiskFullError):
        return exc
    if isinstance(exc, OSError):
        return DiskFullError(f"locker disk full while writing {exc.filename}: {exc.strerror}")
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    return DiskFullError(f"locker disk full: the catalogue could not be written ({reason})")


class CopyError(DocketError):
    """A copy of a locker (a replica) cannot be made, trusted or used as asked: another
    locker's copy, a checkpoint that does not fit what this locker signed, a blob whose bytes
    do not match its name. What was there before is left as it was."""


class ObjectStoreError(DocketError):
    """An S3-compatible bucket cannot be used as asked: a bad URL, no Object Lock, no access,
    or a request the server refused."""


class BlobLockedError(DocketError):
    """A blob is under retention (S3 Object Lock in compliance mode) and cannot be removed."""


class BlobMismatchError(ObjectStoreError):
    """A blob's bytes in a bucket are not the bytes its name (their SHA-256) promises."""


class CollectionFieldError(DocketError):
    """A collection field given with an arrival (method, URL of origin, time collected) is not
    one Docket can record as it stands: nothing is stored until it is corrected."""


class CatalogueMismatchError(DocketError):
    """The catalogue a locker would open is not its own (another kind, another database, or
    one whose withheld password was not given): refused before anything is read or written."""


class VaultLockedError(DocketError):
    """A vault locker's key is needed and none was given (no unlocked session, no
    DOCKET_PASSPHRASE_FILE, no terminal to ask on)."""


class WrongPassphraseError(DocketError):
    """No key slot of the vault opens with the passphrase, recovery key or shares given."""


class VaultDamagedError(DocketError):
    """Encrypted data of a vault failed authentication: changed, truncated, swapped for another
    file's, or a damaged key slot. Nothing of it is used."""
