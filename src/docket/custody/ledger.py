"""Checkpoints and proofs over the stored log: the operations `checkpoint` and `prove` run."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, insert, select

from docket import clock
from docket.catalogue import schema
from docket.catalogue.database import after_commit
from docket.custody import acknowledged, log, merkle, subtrees, witness
from docket.custody.checkpoint import Checkpoint, sign
from docket.errors import CustodyError, NotFoundError


@dataclass(frozen=True)
class StoredCheckpoint:
    id: int
    checkpoint: Checkpoint


def make_checkpoint(
    conn: Connection, key: Ed25519PrivateKey, origin: str, actor: str
) -> StoredCheckpoint:
    """Sign the current tree head, store it, and log that it was made (in one transaction)."""
    log.lock(conn)
    leaves = log.leaf_hashes(conn)
    checkpoint = sign(key, origin, len(leaves), merkle.root(leaves), clock.now())
    checkpoint_id = conn.execute(
        insert(schema.checkpoints).values(
            tree_size=checkpoint.tree_size,
            root_hash=checkpoint.root.hex(),
            time=checkpoint.time,
            note=checkpoint.body(),
            signature=base64.b64encode(checkpoint.signature).decode(),
        )
    ).inserted_primary_key
    assert checkpoint_id is not None
    stored = StoredCheckpoint(int(checkpoint_id[0]), checkpoint)
    # The event says the checkpoint goes to checkpoints.log: a line of it later missing from
    # the file was cut, even from the file's beginning (verify_locker.checkpoints_file).
    facts = checkpoint_facts(stored) | {WITNESSED: witness.FILE_NAME}
    log.append(conn, actor, "checkpoint.made", details=facts)
    earlier = [  # for a process killed between its commit and its append
        _from_row(row, origin)
        for row in conn.execute(
            select(schema.checkpoints)
            .where(schema.checkpoints.c.id < stored.id)
            .order_by(schema.checkpoints.c.id.desc())
            .limit(CATCH_UP)
        ).mappings()
    ][::-1]
    witness.record(conn, stored, earlier)  # appended after the commit, never before
    acknowledged_file = witness.beside(conn, acknowledged.FILE_NAME)
    if acknowledged_file is not None:  # its lines this checkpoint covers, once it is witnessed
        after_commit(conn, lambda: acknowledged.covered(acknowledged_file, leaves))
    return stored


CATCH_UP = 8  # checkpoints before a new one whose missing lines its append adds
WITNESSED = "witnessed_in"  # in a checkpoint.made event's details (lockers before: absent)


def checkpoint_facts(stored: StoredCheckpoint) -> dict[str, Any]:
    return {
        "checkpoint": stored.id,
        "tree_size": stored.checkpoint.tree_size,
        "root": stored.checkpoint.root.hex(),
        "time": stored.checkpoint.time,
    }


def _from_row(row: Mapping[Any, Any], origin: str) -> StoredCheckpoint:
    return StoredCheckpoint(
        int(row["id"]),
        Checkpoint(
            origin=origin,
            tree_size=int(row["tree_size"]),
            root=bytes.fromhex(row["root_hash"]),
            time=str(row["time"]),
            signature=base64.b64decode(row["signature"]),
        ),
    )


def checkpoints(conn: Connection, origin: str) -> list[StoredCheckpoint]:
    rows = conn.execute(select(schema.checkpoints).order_by(schema.checkpoints.c.tree_size))
    return [_from_row(row, origin) for row in rows.mappings()]


def get_checkpoint(conn: Connection, origin: str, checkpoint_id: int) -> StoredCheckpoint:
    row = (
        conn.execute(select(schema.checkpoints).where(schema.checkpoints.c.id == checkpoint_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"checkpoint {checkpoint_id}: no such checkpoint")
    return _from_row(row, origin)


def latest_checkpoint(conn: Connection, origin: str) -> StoredCheckpoint | None:
    row = (
        conn.execute(
            select(schema.checkpoints).order_by(schema.checkpoints.c.tree_size.desc()).limit(1)
        )
        .mappings()
        .first()
    )
    return None if row is None else _from_row(row, origin)


@dataclass(frozen=True)
class InclusionProof:
    seq: int
    leaf: bytes
    checkpoint: StoredCheckpoint
    path: list[bytes]

    def as_dict(self, public_key: bytes) -> dict[str, Any]:
        return {
            "event": self.seq,
            "leaf": base64.b64encode(self.leaf).decode(),
            "leaf_hash": merkle.leaf_hash(self.leaf).hex(),
            "tree_size": self.checkpoint.checkpoint.tree_size,
            "root": self.checkpoint.checkpoint.root.hex(),
            "audit_path": [h.hex() for h in self.path],
            "checkpoint": self.checkpoint.checkpoint.signed_note(public_key),
            "public_key": public_key.hex(),
        }


def prove_inclusion(
    conn: Connection, origin: str, seq: int, tree: subtrees.Subtrees | None = None
) -> InclusionProof:
    """The event's audit path to the latest checkpoint, from the cached subtrees of `tree`
    (docket.custody.subtrees; give one to `save` what it learned), checked against the
    checkpoint's root before it is answered."""
    event = log.get(conn, seq)
    if event is None:
        raise NotFoundError(f"event {seq}: no such event")
    latest = latest_checkpoint(conn, origin)
    if latest is None or latest.checkpoint.tree_size <= seq:
        raise CustodyError(
            f"event {seq}: no checkpoint covers it yet; run `docket checkpoint` first"
        )
    size, tree = latest.checkpoint.tree_size, tree or subtrees.Subtrees(conn)
    path = merkle.inclusion_path(seq, size, tree.root)
    if not merkle.verify_inclusion(seq, size, event.leaf_hash(), path, latest.checkpoint.root):
        raise CustodyError(
            f"event {seq}: its proof does not lead to checkpoint {latest.id}'s root; the log or "
            "its cached subtree hashes were changed: run `docket verify`"
        )
    return InclusionProof(seq, event.leaf(), latest, path)


@dataclass(frozen=True)
class ConsistencyProof:
    old: StoredCheckpoint
    new: StoredCheckpoint
    path: list[bytes]

    def as_dict(self, public_key: bytes) -> dict[str, Any]:
        return {
            "old_size": self.old.checkpoint.tree_size,
            "old_root": self.old.checkpoint.root.hex(),
            "new_size": self.new.checkpoint.tree_size,
            "new_root": self.new.checkpoint.root.hex(),
            "proof": [h.hex() for h in self.path],
            "old_checkpoint": self.old.checkpoint.signed_note(public_key),
            "new_checkpoint": self.new.checkpoint.signed_note(public_key),
            "public_key": public_key.hex(),
        }


def prove_consistency(conn: Connection, origin: str, old_id: int, new_id: int) -> ConsistencyProof:
    old = get_checkpoint(conn, origin, old_id)
    new = get_checkpoint(conn, origin, new_id)
    if old.checkpoint.tree_size > new.checkpoint.tree_size:
        raise CustodyError(
            f"checkpoint {old_id} (size {old.checkpoint.tree_size}) is newer than checkpoint "
            f"{new_id} (size {new.checkpoint.tree_size}); give the older one first"
        )
    leaves = log.leaf_hashes(conn, upto=new.checkpoint.tree_size)
    if old.checkpoint.tree_size == 0:
        return ConsistencyProof(old, new, [])
    return ConsistencyProof(old, new, merkle.consistency_proof(old.checkpoint.tree_size, leaves))
