"""Errors a user can cause. Each carries a message meant for people, not a traceback."""


class DocketError(Exception):
    """Base of every error Docket raises on purpose; the CLI prints it on one line."""


class LockerExistsError(DocketError):
    """`init` was asked to create a locker where one (or other files) already is."""


class LockerNotFoundError(DocketError):
    """A command needs a locker and none is at the given path."""


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
