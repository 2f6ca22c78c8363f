"""Each edit an insider or intruder could make is found by `verify` and named precisely."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import LAYERS, Layer, layer_facts, photo, take
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, update

from docket.catalogue import records, schema
from docket.custody import merkle
from docket.custody.checkpoint import sign
from docket.custody.ledger import checkpoints
from docket.locker import Locker
from docket.verify import verify
from docket.verify_report import VerifyReport


def build_filled(locker: Locker, folder: Path, _base: dict[str, Any]) -> dict[str, Any]:
    take(locker, photo(folder / "a", "one.jpg", 1), photo(folder / "a", "two.jpg", 2))
    take(locker, photo(folder / "b", "three.jpg", 3))
    assert verify(locker).ok
    return {}


LAYERS["filled"] = Layer(build_filled, base="empty")


@pytest.fixture
def filled(request: pytest.FixtureRequest, locker: Locker) -> Locker:
    """Three photos in two ingests, verified; in a copy of a locker built once with them (see
    conftest's `locker`) unless the test builds its own."""
    layer_facts(request, "filled", {})
    return locker


def items(locker: Locker) -> list[str]:
    with locker.engine.connect() as conn, conn.begin():
        return list(
            conn.execute(select(schema.items.c.sha256).order_by(schema.items.c.sha256)).scalars()
        )


def problems(report: VerifyReport) -> list[str]:
    assert not report.ok
    return [str(p) for p in report.problems]


def writable(path: Path) -> Path:
    os.chmod(path, 0o644)
    return path


def test_flipped_byte_in_a_blob(filled: Locker) -> None:
    target = items(filled)[0]
    blob = writable(filled.store.path(target))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    os.chmod(blob, 0o444)  # the mode put back: only the content tells
    found = problems(verify(filled))
    assert found == [
        f"item {target[:16]}: blob content changed (its SHA-256 is now "
        f"{merkle_free_sha256(bytes(data))})"
    ]
    quick = verify(filled, quick=True)
    assert quick.ok is True and any(c.passed is None for c in quick.checks)


def merkle_free_sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_deleted_blob(filled: Locker) -> None:
    target = items(filled)[1]
    filled.store.path(target).unlink()
    assert problems(verify(filled, quick=True)) == [
        f"item {target[:16]}: blob is missing from the store"
    ]


def test_edited_item_row(filled: Locker) -> None:
    target = items(filled)[0]
    with filled.engine.begin() as conn:
        conn.execute(
            update(schema.items)
            .where(schema.items.c.sha256 == target)
            .values(media_type="image/png")
        )
    assert problems(verify(filled, quick=True)) == [
        f"item {target[:16]}: catalogue row differs from event {event_of_item(filled, target)}"
    ]


def event_of_item(locker: Locker, sha256: str) -> int:
    with locker.engine.connect() as conn, conn.begin():
        return int(
            conn.execute(
                select(schema.items.c.event_seq).where(schema.items.c.sha256 == sha256)
            ).scalar_one()
        )


def test_deleted_item_row(filled: Locker) -> None:
    target = items(filled)[2]
    seq = event_of_item(filled, target)
    with filled.engine.begin() as conn:
        conn.execute(delete(schema.results).where(schema.results.c.item_sha256 == target))
        conn.execute(delete(schema.derivatives).where(schema.derivatives.c.item_sha256 == target))
        conn.execute(
            delete(schema.perceptual_hashes).where(schema.perceptual_hashes.c.item_sha256 == target)
        )
        conn.execute(delete(schema.acquisitions).where(schema.acquisitions.c.item_sha256 == target))
        conn.execute(delete(schema.case_items).where(schema.case_items.c.item_sha256 == target))
        conn.execute(delete(schema.items).where(schema.items.c.sha256 == target))
    found = problems(verify(filled, quick=True))
    assert f"item {target[:16]}: missing from the catalogue (acquired in event {seq})" in found
    assert f"event {seq}: its acquisition is missing from the catalogue" in found


def test_edited_event(filled: Locker) -> None:
    with filled.engine.begin() as conn:
        conn.execute(
            update(schema.events).where(schema.events.c.seq == 1).values(actor="someone else")
        )
    found = problems(verify(filled, quick=True))
    assert "event 1: item.acquired was changed after it was logged" in found


def test_edited_event_with_its_leaf_hash_rewritten(filled: Locker) -> None:
    """An intruder who also rewrites the stored leaf hash is caught by the signed roots."""
    with filled.engine.begin() as conn:
        row = conn.execute(select(schema.events).where(schema.events.c.seq == 2)).mappings().one()
    from docket.custody.events import Event, event_from_row

    original = event_from_row(row)
    forged = Event(
        original.seq,
        original.time,
        "someone else",
        original.action,
        original.item,
        original.details,
    )
    with filled.engine.begin() as conn:
        conn.execute(
            update(schema.events)
            .where(schema.events.c.seq == 2)
            .values(actor=forged.actor, leaf_hash=forged.leaf_hash().hex())
        )
    found = problems(verify(filled, quick=True))
    assert any(p.startswith("checkpoint 1 (size") and "root does not match" in p for p in found)


def test_deleted_event(filled: Locker) -> None:
    with filled.engine.begin() as conn:
        conn.execute(delete(schema.events).where(schema.events.c.seq == 4))
    found = problems(verify(filled, quick=True))
    assert "event 4: missing from the log (deleted)" in found


def test_reordered_events(filled: Locker) -> None:
    with filled.engine.begin() as conn:
        rows = {
            r["seq"]: dict(r)
            for r in conn.execute(
                select(schema.events).where(schema.events.c.seq.in_([3, 4]))
            ).mappings()
        }
        for seq, other in ((3, 4), (4, 3)):
            values = {k: v for k, v in rows[other].items() if k != "seq"}
            conn.execute(update(schema.events).where(schema.events.c.seq == seq).values(**values))
    found = problems(verify(filled, quick=True))
    assert "event 3: out of order: it was logged as event 4" in found
    assert "event 4: out of order: it was logged as event 3" in found


def test_forged_checkpoint_signature(filled: Locker) -> None:
    with filled.engine.begin() as conn:
        conn.execute(
            update(schema.checkpoints)
            .where(schema.checkpoints.c.id == 1)
            .values(signature=base64.b64encode(bytes(64)).decode())
        )
    found = problems(verify(filled, quick=True))
    assert any(p.startswith("checkpoint 1 ") and "signature does not verify" in p for p in found)


def test_checkpoint_signed_by_another_key(filled: Locker) -> None:
    with filled.engine.connect() as conn, conn.begin():
        first = checkpoints(conn, filled.origin)[0].checkpoint
    forged = sign(
        Ed25519PrivateKey.generate(), filled.origin, first.tree_size, first.root, first.time
    )
    with filled.engine.begin() as conn:
        conn.execute(
            update(schema.checkpoints)
            .where(schema.checkpoints.c.id == 1)
            .values(signature=base64.b64encode(forged.signature).decode())
        )
    found = problems(verify(filled, quick=True))
    assert any(p.startswith("checkpoint 1 ") and "signature" in p for p in found)


def test_removed_checkpoint(filled: Locker) -> None:
    with filled.engine.begin() as conn:
        conn.execute(delete(schema.checkpoints).where(schema.checkpoints.c.id == 1))
    found = problems(verify(filled, quick=True))
    assert any(p.startswith("checkpoint 1: missing (it was logged by event") for p in found)


def test_added_checkpoint(filled: Locker) -> None:
    with filled.engine.connect() as conn, conn.begin():
        leaves = [
            bytes.fromhex(h)
            for h in conn.execute(
                select(schema.events.c.leaf_hash).order_by(schema.events.c.seq)
            ).scalars()
        ]
    extra = sign(
        filled.signing_key, filled.origin, 3, merkle.root(leaves[:3]), "2024-01-01T00:00:00Z"
    )
    with filled.engine.begin() as conn:
        conn.execute(
            insert(schema.checkpoints).values(
                id=99,
                tree_size=3,
                root_hash=extra.root.hex(),
                time=extra.time,
                note=extra.body(),
                signature=base64.b64encode(extra.signature).decode(),
            )
        )
    assert problems(verify(filled, quick=True)) == [
        "checkpoint 99: was never logged (added from outside)"
    ]


def test_truncated_log_behind_a_checkpoint(filled: Locker) -> None:
    with filled.engine.begin() as conn:
        last = (
            conn.execute(select(schema.checkpoints.c.tree_size).order_by(schema.checkpoints.c.id))
            .scalars()
            .first()
        )
        assert last is not None
        conn.execute(delete(schema.events).where(schema.events.c.seq >= last - 1))
        conn.execute(update(schema.log_head).values(size=last - 1))
    found = problems(verify(filled, quick=True))
    assert any("covers" in p and "the log holds" in p for p in found)


def test_replaced_signing_key(filled: Locker) -> None:
    key_path = filled.path / "keys" / "signing.key"
    os.chmod(key_path, 0o600)
    key_path.unlink()
    from docket.custody import keys

    new_key = keys.generate(key_path)
    # Both halves replaced (with only the private one replaced, the keys check names it).
    (filled.path / "keys" / "signing.pub").write_text(keys.public_bytes(new_key.public_key()).hex())
    reopened = Locker.open(filled.path)
    try:
        found = problems(verify(reopened, quick=True))
    finally:
        reopened.close()
    assert "keys: the signing key is not the one the locker was created with" in found
    assert any("signature does not verify" in p for p in found)


def _forge_membership(filled: Locker, media_type: str) -> str:
    """The first item put in a new case "Other" by hand, its row saying `media_type`."""
    target = items(filled)[0]
    with filled.engine.begin() as conn:
        key = conn.execute(insert(schema.cases).values(name="Other", created_at="x"))
        assert key.inserted_primary_key is not None
        conn.execute(
            insert(schema.case_items).values(
                case_id=key.inserted_primary_key[0],
                item_sha256=target,
                media_type=media_type,
                capture_time=records.latest_capture_time(conn, target),
                has_position=records.latest_has_position(conn, target),
            )
        )
    return target


def test_case_items_type_changed(filled: Locker) -> None:
    """A case is counted and filtered by the type its membership row carries: a row that
    says another type than the item's is found (here on a membership forged as well)."""
    target = _forge_membership(filled, "video/zq6")
    assert problems(verify(filled, quick=True)) == [
        f"item {target[:16]}: is listed in case 'Other' as 'video/zq6', but it is 'image/jpeg'",
        f"item {target[:16]}: is in case 'Other' but no event put it there",
    ]


def test_case_items_capture_time_changed(filled: Locker) -> None:
    """A case's timeline is read by the capture time its membership rows carry: a row moved to
    another time than its item's metadata gives is found (here on a membership forged as
    well, with its item's time at first)."""
    target = _forge_membership(filled, "image/jpeg")
    with filled.engine.begin() as conn:
        own = records.latest_capture_time(conn, target)
        conn.execute(update(schema.case_items).values(capture_time="2001-01-01T00:00:00"))
    assert own != "2001-01-01T00:00:00"
    assert problems(verify(filled, quick=True)) == [
        f"item {target[:16]}: is listed in case 'Other' as captured at '2001-01-01T00:00:00', "
        f"but its metadata says {own!r}",
        f"item {target[:16]}: is in case 'Other' but no event put it there",
    ]


def test_case_items_position_changed(filled: Locker) -> None:
    """The grid's GPS filter is driven by whether each membership row says its item has a
    position: a row that says otherwise than the item's latest metadata is found."""
    target = _forge_membership(filled, "image/jpeg")
    with filled.engine.begin() as conn:
        placed = records.latest_has_position(conn, target)
        conn.execute(update(schema.case_items).values(has_position=not placed))
    assert problems(verify(filled, quick=True)) == [
        f"item {target[:16]}: is listed in case 'Other' as "
        f"{'without' if placed else 'having'} a position, but its latest metadata says otherwise",
        f"item {target[:16]}: is in case 'Other' but no event put it there",
    ]


def test_case_membership_changed(filled: Locker) -> None:
    target = _forge_membership(filled, "image/jpeg")
    assert problems(verify(filled, quick=True)) == [
        f"item {target[:16]}: is in case 'Other' but no event put it there"
    ]


def test_tag_and_annotation_rows_are_checked(filled: Locker) -> None:
    from docket import review, scope

    target = items(filled)[0]
    with filled.engine.begin() as conn:
        view = scope.for_locker(conn, target, None)
        review.add_tag(conn, "reviewer", target, "checkpoint", view)
        note = review.Annotation("span", "shots", None, 1.5, 4)
        review.annotate(conn, "reviewer", target, note, view)
    assert verify(filled, quick=True).ok
    with filled.engine.begin() as conn:
        conn.execute(update(schema.annotations).values(text="nothing here"))
        conn.execute(delete(schema.tags))
    found = problems(verify(filled, quick=True))
    assert any(p.startswith(f"annotations row of item {target[:16]}: differs") for p in found)
    assert any(p.endswith("its tags row is missing") for p in found)


def test_case_event_rows_changed(filled: Locker, tmp_path: Path) -> None:
    """A case's activity and audit read its own rows of events (case_events, kept by the
    database's triggers): a row removed would hide an event from the case, one added would
    show it another case's, one whose action or actor differs would put it under another
    kind or person. Each is found and named."""
    take(filled, photo(tmp_path, "four.jpg", 4), case="North")
    held = schema.case_events.c
    with filled.engine.begin() as conn:
        (case_id, seq, _, _), (_, acted, _, actor), (_, by, action, _) = conn.execute(
            select(held.case_id, held.event_seq, held.action, held.actor)
            .order_by(held.event_seq)
            .limit(3)
        ).all()
        name = conn.execute(
            select(schema.cases.c.name).where(schema.cases.c.id == case_id)
        ).scalar_one()
        assert name == "North"
        key = conn.execute(insert(schema.cases).values(name="Other", created_at="x"))
        assert key.inserted_primary_key is not None
        other = key.inserted_primary_key[0]
        conn.execute(
            delete(schema.case_events).where(held.case_id == case_id, held.event_seq == seq)
        )
        conn.execute(
            insert(schema.case_events).values(
                case_id=other, event_seq=seq, action="item.acquired", actor="zq8-intruder"
            )
        )
        for changed, values in ((acted, {"action": "item.revealed"}), (by, {"actor": "zq8-x"})):
            conn.execute(
                update(schema.case_events)
                .where(held.case_id == case_id, held.event_seq == changed)
                .values(**values)
            )
    tail = "but the case does not hold its item or the event is not that"
    assert problems(verify(filled, quick=True)) == [
        f"event {seq}: is of an item case {name!r} holds, but not among its events",
        f"event {acted}: is of an item case {name!r} holds, but not among its events",
        f"event {by}: is of an item case {name!r} holds, but not among its events",
        f"event {acted}: is among case {name!r}'s events as 'item.revealed' by {actor!r}, {tail}",
        f"event {by}: is among case {name!r}'s events as {action!r} by 'zq8-x', {tail}",
        f"event {seq}: is among case 'Other''s events as 'item.acquired' by 'zq8-intruder', "
        + tail,
    ]


def test_many_case_event_rows_missing_are_named_up_to_a_bound(
    filled: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docket import verify as verifying

    monkeypatch.setattr(verifying, "CASE_EVENTS_SHOWN", 2)
    take(filled, photo(tmp_path, "four.jpg", 4), photo(tmp_path, "five.jpg", 5), case="North")
    with filled.engine.begin() as conn:
        rows = conn.execute(select(schema.case_events)).all()
        conn.execute(delete(schema.case_events))
    found = problems(verify(filled, quick=True))
    assert len(rows) > 2  # each photo's arrival and its analysis
    named = [
        p for p in found if p.endswith("is of an item case 'North' holds, but not among its events")
    ]
    assert len(named) == 2
    assert found == [*named, "case events: more rows differ likewise (the first 2 are named)"]
