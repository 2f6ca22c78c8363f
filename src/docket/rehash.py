"""Re-hashing many blobs at once, for `verify`: every core busy, answers in the order asked.

hashlib releases the GIL while it hashes a large buffer, so threads hash blobs side by side
(one blob per thread; the store reads 1 MiB at a time). Results come back in the order of
the names given, whatever order the threads finish in, so a report lists its problems the
same way on every run. At most a few blobs per thread are in flight: memory stays flat for
any number of blobs, and an error is raised where that blob's answer is due.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from docket.errors import is_disk_full
from docket.store import BlobDigest, BlobStore

IN_FLIGHT_PER_THREAD = 4


def _hash_if_held(store: BlobStore, name: str) -> BlobDigest | None:
    """None when the blob cannot be read whole: removed meanwhile, or unreadable (no
    permission, an I/O error of the disk), which verify reports as the blob missing. A full
    disk (a vault's memory for its decrypted copy) is no fault of the blob's, and stops."""
    try:
        return store.hash_blob(name)
    except OSError as exc:
        if is_disk_full(exc):
            raise
        return None


def digests(
    store: BlobStore, names: Iterable[str], threads: int | None = None
) -> Iterator[BlobDigest | None]:
    """The digests of each named blob, in the order of `names`; None for a blob that was
    removed after it was listed (verify reports it missing instead of stopping)."""
    workers = threads or os.cpu_count() or 1
    pending: deque[Future[BlobDigest | None]] = deque()
    with ThreadPoolExecutor(workers, thread_name_prefix="docket-rehash") as pool:
        try:
            for name in names:
                pending.append(pool.submit(_hash_if_held, store, name))
                if len(pending) >= workers * IN_FLIGHT_PER_THREAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # the caller stopped early or a blob failed
                future.cancel()
