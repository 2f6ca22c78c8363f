"""The near-duplicate index (docket.similarity.HashIndex): exactly a full scan's answers, and
kept only while the catalogue's hashes are the ones it was built from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import take
from media import jpeg, sample
from sqlalchemy import Connection, delete, func, insert, select

from docket import similarity
from docket.catalogue import schema
from docket.locker import Locker


def planted(rng: np.random.Generator, query: np.ndarray, distance: int) -> np.ndarray:
    """A copy of `query` with exactly `distance` bits flipped."""
    bits = np.zeros(256, dtype=bool)
    bits[rng.choice(256, size=distance, replace=False)] = True
    return np.asarray(query ^ np.packbits(bits), dtype=np.uint8)


def scan(stored: np.ndarray, queries: np.ndarray, threshold: int) -> set[tuple[int, int, int]]:
    """Every (query row, stored row, distance) within `threshold`, by counting bits."""
    found = set()
    for row, query in enumerate(queries):
        distances = np.unpackbits(stored ^ query, axis=1).sum(axis=1)
        found |= {(row, int(i), int(distances[i])) for i in np.flatnonzero(distances <= threshold)}
    return found


def _one_item_each(stored: np.ndarray) -> similarity.HashIndex:
    """An index of `stored`, each hash an item of its own (item0, item1, ...)."""
    count = len(stored)
    return similarity.HashIndex(
        [f"item{i}" for i in range(count)], ["full"] * count, [None] * count, stored
    )


def _listed_pairs(
    index: similarity.HashIndex, queries: np.ndarray, threshold: int
) -> list[tuple[int, int, int]]:
    """index.pairs as (query row, stored row, distance) in the order it gives them."""
    rows, labels, distances = index.pairs(queries, threshold)
    return [(int(r), int(i), int(d)) for r, i, d in zip(rows, labels, distances, strict=True)]


@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("threshold", [0, 1, 31, similarity.DEFAULT_THRESHOLD, 90])
def test_the_index_finds_what_a_full_scan_finds(
    threshold: int, shards: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(similarity, "SHARDS", shards)
    monkeypatch.setattr(similarity, "SHARD_MIN", 1000)  # 4,000 and more hashes: 3 shards
    monkeypatch.setattr(similarity, "QUERY_SLICE_MIN", 1)  # the 3 queries: 3 slices
    rng = np.random.default_rng(threshold)
    queries = rng.integers(0, 256, size=(3, 32), dtype=np.uint8)
    near = [planted(rng, q, d) for q in queries for d in range(threshold + 4)]
    stored = np.vstack([rng.integers(0, 256, size=(4000, 32), dtype=np.uint8), *near])
    stored = stored[rng.permutation(len(stored))]
    index = _one_item_each(stored)
    listed = _listed_pairs(index, queries, threshold)
    assert listed == sorted(listed)  # by query, then stored row, however many shards
    assert len(index._shards) == shards
    found = set(listed)
    assert len(found) == len(listed)
    expected = scan(stored, queries, threshold)
    assert found == expected
    # every planted distance up to the threshold is among them, and none past it
    assert {d for _, _, d in found} >= set(range(threshold + 1))
    assert max(d for _, _, d in found) <= threshold


@pytest.mark.parametrize("compared_most", [1, 1 << 16])
@pytest.mark.parametrize("threshold", [0, 31, similarity.DEFAULT_THRESHOLD, 90])
def test_close_queries_asked_as_balls_find_what_a_full_scan_finds(
    threshold: int, compared_most: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item's hashes lie close together and are asked as balls (one scan per centre at a
    widened radius): a stored hash within the threshold of a member but farther than the
    threshold from its centre is still found, at its exact distance."""
    monkeypatch.setattr(similarity, "COMPARED_MOST", compared_most)
    rng = np.random.default_rng(100 + threshold)
    base = rng.integers(0, 256, size=32, dtype=np.uint8)
    # variants of one picture at every distance from it up to the ball radius and past it,
    # and one far from it: several balls, one with a single member
    spreads = [0, 5, 20, similarity.BALL_RADIUS, similarity.BALL_RADIUS + 1, 100]
    queries = np.vstack([planted(rng, base, d) for d in spreads])
    near = [planted(rng, q, d) for q in queries for d in range(threshold + 4)]
    stored = np.vstack([rng.integers(0, 256, size=(3000, 32), dtype=np.uint8), *near])
    stored = stored[rng.permutation(len(stored))]
    balls = similarity._balls(queries, similarity.BALL_RADIUS)
    assert 1 < len(balls) < len(queries)
    assert sorted(int(m) for _, members, _ in balls for m in members) == list(range(6))
    index = _one_item_each(stored)
    listed = _listed_pairs(index, queries, threshold)
    assert listed == sorted(listed)
    assert len(set(listed)) == len(listed)
    assert set(listed) == scan(stored, queries, threshold)
    for row in range(len(queries)):  # every planted distance, from every member
        assert {d for r, _, d in listed if r == row} >= set(range(threshold + 1))


def test_rows_of_an_item_are_all_its_hashes_and_only_them() -> None:
    rng = np.random.default_rng(5)
    names = ["a", "b", "a", "c", "a", "b"]
    index = similarity.HashIndex(
        names, ["full"] * 6, [None] * 6, rng.integers(0, 256, size=(6, 32), dtype=np.uint8)
    )
    assert index.rows_of("a") == [0, 2, 4]
    assert index.rows_of("b") == [1, 5]
    assert index.rows_of("nothing") == []


def test_the_kept_index_is_rebuilt_when_its_newest_hash_is_replaced(
    locker: Locker, tmp_path: Path
) -> None:
    """A hash row removed and another written in its place (SQLite may give it the same id,
    and the count of rows is unchanged) is not mistaken for the index already built."""
    picture = tmp_path / "one.jpg"
    picture.write_bytes(jpeg(sample("astronaut")))
    item = take(locker, picture).outcomes[0].sha256
    assert item is not None
    table = schema.perceptual_hashes
    with locker.engine.connect() as conn, conn.begin():
        first = similarity.HashIndex.current(conn)
        assert similarity.HashIndex.current(conn) is first  # nothing changed: kept
        newest = conn.execute(select(table).order_by(table.c.id.desc()).limit(1)).mappings().one()
        conn.execute(delete(table).where(table.c.id == newest["id"]))
        flipped = f"{int(newest['pdq'], 16) ^ 1:064x}"
        conn.execute(insert(table).values({**newest, "pdq": flipped}))
        rebuilt = similarity.HashIndex.current(conn)
    assert rebuilt is not first
    row = rebuilt.rows_of(item)[-1]
    assert rebuilt.digests[row].tobytes().hex() == flipped


def test_a_forked_child_scans_with_threads_of_its_own() -> None:
    """The parent's scanning threads do not exist in a forked child: it must not wait on them."""
    import multiprocessing

    rng = np.random.default_rng(9)
    stored = rng.integers(0, 256, size=(50, 32), dtype=np.uint8)
    index = similarity.HashIndex([f"i{n}" for n in range(50)], ["full"] * 50, [None] * 50, stored)
    expected = len(index.pairs(stored[:2], 0)[0])  # the parent's threads now exist
    # faiss's index cannot be pickled: the child finds it in the memory the fork copied
    with multiprocessing.get_context("fork").Pool(1, _forked, (index, stored[:2])) as pool:
        found = pool.apply_async(_pairs_in_child).get(timeout=60)
    assert found == expected == 2


_IN_CHILD: list[tuple[similarity.HashIndex, np.ndarray]] = []


def _forked(index: similarity.HashIndex, queries: np.ndarray) -> None:
    _IN_CHILD.append((index, queries))


def _pairs_in_child() -> int:
    index, queries = _IN_CHILD[0]
    return len(index.pairs(queries, 0)[0])


def _index_of(stored: np.ndarray, first: int = 0) -> similarity.HashIndex:
    names = [f"item{(first + i) % 97}" for i in range(len(stored))]  # items with many rows
    return similarity.HashIndex(names, ["full"] * len(stored), [None] * len(stored), stored)


def test_an_extended_index_finds_what_a_full_scan_finds_and_leaves_the_old_one_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows added in small and large steps: the small ones go to a tail shard, a large one
    cuts every row evenly again; each index answers as a full scan of its own rows does."""
    monkeypatch.setattr(similarity, "SHARDS", 2)
    monkeypatch.setattr(similarity, "SHARD_MIN", 500)
    rng = np.random.default_rng(11)
    queries = rng.integers(0, 256, size=(3, 32), dtype=np.uint8)
    stored = rng.integers(0, 256, size=(2000, 32), dtype=np.uint8)
    index = _index_of(stored)
    index.rows_of("item3")  # the lookup is built, so it is carried over
    shapes = []
    for size in (5, 40, 1, 600, 3):
        near = [planted(rng, q, d) for q in queries for d in (0, 20, 56)]
        added = np.vstack([rng.integers(0, 256, size=(size, 32), dtype=np.uint8), *near])
        before = index.pairs(queries, 56)
        grown = index.extended(*_columns_of(added, len(stored)))
        assert all(
            np.array_equal(a, b) for a, b in zip(index.pairs(queries, 56), before, strict=True)
        )
        assert len(index) == len(stored)  # the old index still holds only its own rows
        stored = np.vstack([stored, added])
        rows, labels, distances = grown.pairs(queries, 56)
        found = {(int(r), int(i), int(d)) for r, i, d in zip(rows, labels, distances, strict=True)}
        assert found == scan(stored, queries, 56)
        fresh = _index_of(stored)
        for name in ("item3", "item50", f"item{(len(stored) - 1) % 97}"):
            assert grown.rows_of(name) == fresh.rows_of(name)
        shapes.append([begin for begin, _ in grown._shards])
        index = grown
    # 2,000 rows in 2 even shards, the rows added behind them in a tail shard, until the
    # tail is more than 1/8 of all (609 more): 2,682 rows cut evenly again, then a new tail
    assert shapes == [[0, 1000, 2000]] * 3 + [[0, 1341], [0, 1341, 2682]]


def _columns_of(
    added: np.ndarray, first: int
) -> tuple[list[str], list[str], list[float | None], np.ndarray]:
    names = [f"item{(first + i) % 97}" for i in range(len(added))]
    return names, ["full"] * len(added), [None] * len(added), added


def _store_hashes(conn: Connection, digests: np.ndarray, item: str) -> None:
    conn.execute(
        insert(schema.perceptual_hashes),
        [
            {
                "item_sha256": item,
                "variant": "full",
                "frame_time": None,
                "pdq": digest.tobytes().hex(),
                "quality": 90,
                "event_seq": 0,
            }
            for digest in digests
        ],
    )


def test_the_kept_index_reads_only_the_rows_added_since_and_answers_as_a_new_one(
    locker: Locker, tmp_path: Path
) -> None:
    picture = tmp_path / "one.jpg"
    picture.write_bytes(jpeg(sample("astronaut")))
    item = take(locker, picture).outcomes[0].sha256
    assert item is not None
    rng = np.random.default_rng(12)
    with locker.engine.connect() as conn, conn.begin():
        # enough rows that three more go to a tail shard (TAIL_SHARE) rather than a new cut
        _store_hashes(conn, rng.integers(0, 256, size=(100, 32), dtype=np.uint8), item)
        first = similarity.HashIndex.current(conn)
        own = first.digests[first.rows_of(item)]
        copies = np.vstack([planted(rng, own[0], d) for d in (3, 30, 56)])
        _store_hashes(conn, copies, item)
        grown = similarity.HashIndex.current(conn)
        assert grown is not first and grown._shards[0][1] is first._shards[0][1]  # extended
        built = similarity.HashIndex.build(conn)
        assert grown.items == built.items and np.array_equal(grown.digests, built.digests)
        queries = built.digests[built.rows_of(item)]
        assert all(
            np.array_equal(a, b)
            for a, b in zip(grown.pairs(queries, 56), built.pairs(queries, 56), strict=True)
        )


def test_a_catalogue_put_back_from_an_older_copy_is_read_again_whole(
    locker: Locker, tmp_path: Path
) -> None:
    """Yesterday's catalogue put back, then more hashes added to it, so its newest row is
    past the one the kept index knows: the kept rows are not its rows, and it is built again."""
    picture = tmp_path / "one.jpg"
    picture.write_bytes(jpeg(sample("astronaut")))
    item = take(locker, picture).outcomes[0].sha256
    assert item is not None
    rng = np.random.default_rng(13)
    table = schema.perceptual_hashes
    with locker.engine.connect() as conn, conn.begin():
        _store_hashes(conn, rng.integers(0, 256, size=(4, 32), dtype=np.uint8), item)
        kept = similarity.HashIndex.current(conn)
        newest = conn.execute(select(func.max(table.c.id))).scalar_one()
        conn.execute(delete(table).where(table.c.id > newest - 4))  # as yesterday's copy was
        _store_hashes(conn, rng.integers(0, 256, size=(9, 32), dtype=np.uint8), item)
        again = similarity.HashIndex.current(conn)
        built = similarity.HashIndex.build(conn)
    assert again._shards[0][1] is not kept._shards[0][1]
    assert again.items == built.items and np.array_equal(again.digests, built.digests)
