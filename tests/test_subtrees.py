"""Inclusion proofs from cached subtree hashes (docket.custody.subtrees): the same paths as
from every leaf, the cache filled by the first proofs only, and a changed cache entry refused
rather than answered (it could never pass a verifier either) and reported by `docket verify`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update

from docket.catalogue import schema
from docket.custody import ledger, log, merkle, subtrees
from docket.errors import CustodyError
from docket.locker import Locker
from docket.verify import verify

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from _catalogue import generate

ITEMS = 1100  # four full blocks of 256 leaves and an unfinished one


def _cached(locker: Locker) -> int:
    with locker.engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(schema.subtree_hashes)).scalar_one()
        )


def test_proofs_from_the_cache_are_the_proofs_from_every_leaf(locker: Locker) -> None:
    generate(locker, ITEMS, blobs=False)
    with locker.engine.connect() as conn:
        size = log.size(conn)
        leaves = log.leaf_hashes(conn)
    checkpoint_root = merkle.root(leaves[: size - 1])  # the checkpoint's own event follows it
    for seq in (0, 1, 255, 256, 300, 767, 1024, size - 3, size - 2):
        with locker.engine.connect() as conn:
            tree = subtrees.Subtrees(conn)
            proof = ledger.prove_inclusion(conn, locker.origin, seq, tree)
        assert proof.checkpoint.checkpoint.root == checkpoint_root
        assert proof.path == merkle.inclusion_proof(seq, leaves[: size - 1]), seq
        with locker.engine.begin() as conn:
            tree.save(conn)
    # Complete subtrees of 256 leaves and more: 4 of 256, 2 of 512, 1 of 1024.
    assert _cached(locker) == 7
    with locker.engine.connect() as conn:
        again = subtrees.Subtrees(conn)
        ledger.prove_inclusion(conn, locker.origin, 600, again)
    assert again.learned == {}  # read from the cache, nothing computed anew


def test_a_changed_cache_entry_is_refused_and_reported_by_verify(locker: Locker) -> None:
    generate(locker, 600)  # with its blobs, for verify
    with locker.engine.connect() as conn:
        tree = subtrees.Subtrees(conn)
        ledger.prove_inclusion(conn, locker.origin, 10, tree)
    table = schema.subtree_hashes
    with locker.engine.begin() as conn:
        tree.save(conn)
        conn.execute(update(table).where(table.c.position == 1).values(hash="00" * 32))
        beyond = {"level": 9, "position": 5, "hash": "11" * 32}  # events 2560 to 3071: none yet
        conn.execute(insert(table).values(**beyond))
    with locker.engine.connect() as conn:
        ledger.prove_inclusion(conn, locker.origin, 300, subtrees.Subtrees(conn))  # not used
        with pytest.raises(CustodyError, match=r"event 10: its proof does not lead to"):
            ledger.prove_inclusion(conn, locker.origin, 10, subtrees.Subtrees(conn))
    report = verify(locker, quick=True)
    assert [str(p) for p in report.problems] == [
        "cached subtree of events 256 to 511: is not the root of the log's own events there: "
        "proofs that use it fail (the row may be deleted: proofs compute it again)",
        "cached subtree of events 2560 to 3071: covers events the log does not hold",
    ]
    with locker.engine.begin() as conn:  # the way out the report gives
        conn.execute(delete(table).where(table.c.position.in_([1, 5])))
    with locker.engine.connect() as conn:
        ledger.prove_inclusion(conn, locker.origin, 10, subtrees.Subtrees(conn))
    assert verify(locker, quick=True).ok
