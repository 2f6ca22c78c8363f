"""Roots of parts of the custody log's Merkle tree for inclusion proofs, with the hashes of
complete subtrees (aligned runs of 2**level leaves, level >= LEVEL) cached in subtree_hashes.

A proof names O(log n) subtree roots; without the cache each was computed from its leaves, so
every proof read the whole log. With it, a proof reads the cached subtrees it names and at most
a few blocks of BLOCK leaves (the one holding its leaf, the unfinished one at the end). A
complete subtree never changes once the log holds all its leaves, so an entry, once written,
stays right; entries are written as proofs first need them, never by log.append.

The cache is derived data and trusted by nobody who checks: a proof made from a wrong entry
does not lead to the signed checkpoint's root, which docket.custody.ledger checks before
answering and every verifier checks again; `docket verify` recomputes the tree from the
leaves and reports an entry that is not the root of the log's own leaves there.
"""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from docket.catalogue import schema
from docket.custody import merkle
from docket.errors import CustodyError

LEVEL = 8  # subtrees of 256 leaves or more are cached
BLOCK = 1 << LEVEL


class Subtrees:
    """Subtree roots over the log `conn` reads; `learned` holds the complete subtrees it had
    to compute, for `save` to store in a write transaction (the reader's may be read-only)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.learned: dict[tuple[int, int], bytes] = {}

    def root(self, start: int, end: int) -> bytes:
        """MTH of the leaves [start, end), as RFC 6962 splits a tree (a range a proof names:
        one of fewer than BLOCK leaves lies within one aligned block)."""
        size = end - start
        if size >= BLOCK and size & (size - 1) == 0 and start % size == 0:
            level = size.bit_length() - 1
            return self._complete(level, start >> level)
        if size < BLOCK:
            return merkle.root(self._leaves(start, end))
        middle = start + merkle.split(size)
        return merkle.node_hash(self.root(start, middle), self.root(middle, end))

    def _complete(self, level: int, position: int) -> bytes:
        found = self.learned.get((level, position))
        if found is not None:
            return found
        table = schema.subtree_hashes
        stored = self.conn.execute(
            select(table.c.hash).where(table.c.level == level, table.c.position == position)
        ).scalar()
        if stored is not None:
            return bytes.fromhex(stored)
        if level == LEVEL:
            made = merkle.root(self._leaves(position * BLOCK, (position + 1) * BLOCK))
        else:
            made = merkle.node_hash(
                self._complete(level - 1, 2 * position), self._complete(level - 1, 2 * position + 1)
            )
        self.learned[level, position] = made
        return made

    def _leaves(self, start: int, end: int) -> list[bytes]:
        events = schema.events
        query = (
            select(events.c.leaf_hash)
            .where(events.c.seq >= start, events.c.seq < end)
            .order_by(events.c.seq)
        )
        leaves = [bytes.fromhex(h) for (h,) in self.conn.execute(query)]
        if len(leaves) != end - start:
            raise CustodyError(
                f"custody log: {end - start - len(leaves)} of events {start} to {end - 1} are "
                "missing; run `docket verify`"
            )
        return leaves

    def save(self, conn: Connection) -> None:
        """Store the subtrees learned (another request may have stored them first)."""
        if not self.learned:
            return
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        rows = [
            {"level": level, "position": position, "hash": made.hex()}
            for (level, position), made in sorted(self.learned.items())
        ]
        conn.execute(dialect.insert(schema.subtree_hashes).on_conflict_do_nothing(), rows)
        self.learned = {}
