"""`docket gc`: housekeeping of the store. Lists stray blobs (in objects/ but referenced by no
item or derivative) and removes partial writes and scratch of dead processes (store.clean_tmp,
as every writable open does, and a bucket's multipart uploads left unfinished).

Strays are removed only when asked (`delete=True`), and never while the catalogue has lost its
tail (the newest checkpoint in checkpoints.log is not in its log): then the strays may be the
very evidence whose records were lost, and they are kept for a restore. A blob written or
received again within `MIN_AGE` is not a stray yet: an ingest or analysis may be about to
record it (the store touches a blob that arrives again, see filesystem.py). The removal is a
custody event (`store.collected`, the blobs and their sizes), committed before any file goes,
under the log's write lock. A stray still under retention in a bucket (S3 Object Lock) cannot
be removed by anyone: then nothing is removed or logged, and the message says until when.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select

from docket.catalogue import schema
from docket.custody import ledger, log
from docket.disclose import prior
from docket.errors import BlobLockedError, DocketError
from docket.locker import Locker
from docket.store import scratch
from docket.verify_locker import acknowledged_file, checkpoints_file

MIN_AGE = 3600.0  # seconds


@dataclass(frozen=True)
class Stray:
    sha256: str
    size: int


@dataclass
class Collection:
    strays: list[Stray] = field(default_factory=list)
    deleted: bool = False
    scratch_removed: int = 0
    scratch_foreign: int = 0  # entries of another PID namespace's processes (scratch.foreign)
    uploads_aborted: int = 0  # a bucket's multipart uploads left by dead writers
    event: int | None = None


def collect(locker: Locker, actor: str, delete: bool = False) -> Collection:
    """Find stray blobs (and remove them with `delete`); returns what was found and done."""
    found = Collection(
        scratch_removed=locker.scratch_removed + locker.store.clean_tmp(),
        uploads_aborted=locker.store.abort_unfinished(),
        scratch_foreign=len(scratch.foreign(locker.store.tmp)),
    )
    with locker.engine.connect() as conn, conn.begin():
        log.lock(conn)
        known = set(conn.execute(select(schema.items.c.sha256)).scalars())
        known |= set(conn.execute(select(schema.derivatives.c.sha256)).scalars())
        known |= set(prior.blobs(conn))
        settled = time.time() - MIN_AGE
        for name in locker.store.digests():
            if name not in known and locker.store.modified(name) < settled:
                found.strays.append(Stray(name, locker.store.size(name)))
        if not delete or not found.strays:
            return found
        _refuse_locked(locker, found.strays)
        leaves = log.leaf_hashes(conn)
        tail = checkpoints_file(locker, leaves, ledger.checkpoints(conn, locker.origin))
        acknowledged = acknowledged_file(locker, leaves)
        if tail.tail_lost or tail.passed is False or acknowledged.tail_lost:
            raise DocketError(
                f"{locker.path}: not removing {len(found.strays)} stray blob(s): the catalogue "
                "does not hold every checkpoint in checkpoints.log or every arrival in "
                "acknowledged.log, so they may be evidence "
                "whose records were lost; run `docket verify` and restore the catalogue"
            )
        event = log.append(
            conn,
            actor,
            "store.collected",
            details={"blobs": [{"sha256": s.sha256, "size": s.size} for s in found.strays]},
        )
        found.event = event.seq
        ledger.make_checkpoint(conn, locker.signing_key, locker.origin, actor)
    for stray in found.strays:
        locker.store.remove_stray(stray.sha256)
    found.deleted = True
    return found


def _refuse_locked(locker: Locker, strays: list[Stray]) -> None:
    """Nothing is removed (nor logged as removed) while any stray is under retention."""
    for stray in strays:
        until = locker.store.retained_until(stray.sha256)
        if until is not None:
            raise BlobLockedError(
                f"{locker.path}: not removing {len(strays)} stray blob(s): blob "
                f"{stray.sha256[:16]} is locked in the bucket (S3 Object Lock, compliance "
                f"mode) until {until:%Y-%m-%d %H:%M} UTC and cannot be removed before then; "
                "nothing was removed"
            )
