"""Near-duplicates: which items show the same picture, and which copy came first.

The index is a cache built from the catalogue's perceptual hashes on demand (faiss's exact
binary index: a brute-force Hamming scan with hardware popcount); the catalogue stays the
only source of truth. The scan is exact: multi-index hashing (faiss's IndexBinaryMultiHash)
was measured slower than it by far at this radius (56 of 256 bits probes 697 keys in each
16-bit chunk: bench/similar.py). A large index is cut into one shard per core, each scanned
on a thread of our own with OpenMP off (faiss releases the GIL): OpenMP's waiting threads
made a query several times slower on a busy machine. Hashes PDQ marks as low quality (flat,
near-blank pictures) are left out, so they never match everything.

An item's own hashes (a picture's whole and trimmed variants, a video's similar frames) lie
close together, so they are asked as balls: one scan for the ball's centre, at the threshold
widened by the ball's radius, finds every stored hash that any of them is within the
threshold of (the triangle inequality), and only those few are then compared with each.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Select, String, cast, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB

from docket.catalogue import schema
from docket.catalogue.queries import in_chunks
from docket.errors import DocketError

if TYPE_CHECKING:
    import numpy as np  # imported where an index is built: most commands never need it

MIN_QUALITY = 50
# Tuned on scikit-image's sample photographs (tests/test_similarity.py prints the figures):
# the worst edit measured (resize, JPEG q40, 10% crop, +20% brightness, caption bar, grey,
# screenshot border) lay at 46, the closest pair of distinct photographs at 100.
DEFAULT_THRESHOLD = 56
QUERY_VARIANTS = ("full", "trim1", "trim2")


# By catalogue URL: the newest hash row when the index was brought up to date, and the index.
_CACHE: dict[str, tuple[tuple[int, str, str] | None, HashIndex]] = {}
_CACHE_LOCK = threading.Lock()
_SCANNERS: ThreadPoolExecutor | None = None
SHARDS = os.cpu_count() or 1
SHARD_MIN = 1 << 16  # fewer hashes than this per shard are scanned as one
QUERY_SLICE_MIN = 256  # fewer queries than this per slice are asked as one
TAIL_SHARE = 8  # rows added to a kept index are one shard until they are 1/8 of all
BALL_RADIUS = 48  # query hashes this close to a ball's centre are asked with it (bits)
BALLS_MOST_QUERIES = 1024  # more queries than this (clustering) are each scanned alone
COMPARED_MOST = 1 << 16  # query x candidate pairs compared at once after a ball's scan


class NoUsableHashError(DocketError):
    """The item has no perceptual hash good enough to compare."""


class HashIndex:
    """Hashes with their owners, and faiss's exact binary index over them: the rows cut
    evenly into one shard per core, and the rows added since the last cut (extended) as one
    more shard."""

    def __init__(
        self,
        items: list[str],
        variants: list[str],
        frame_times: list[float | None],
        digests: np.ndarray,
        shards: list[tuple[int, Any]] | None = None,
        cut: int | None = None,
    ) -> None:
        self.items = items
        self.variants = variants
        self.frame_times = frame_times
        import numpy as np

        self.digests = np.ascontiguousarray(digests, dtype=np.uint8).reshape(-1, 32)
        count = len(self.digests)
        # The rows [0, cut) are in the even shards; any after them in one tail shard.
        self._cut = count if cut is None else cut
        self._shards = _shards_of(self.digests, SHARDS) if shards is None else shards

    @classmethod
    def build(cls, conn: Connection, case_id: int | None = None) -> HashIndex:
        """The index of the locker's hashes, or of the items the case `case_id` holds (chosen
        by the database: a case of a million items is never read into memory)."""
        query = _usable_hashes()
        if case_id is not None:
            members, hashes = schema.case_items.c, schema.perceptual_hashes.c
            query = query.where(
                exists().where(
                    members.case_id == case_id, members.item_sha256 == hashes.item_sha256
                )
            )
        return cls(*_columns(conn.execute(query).all()))

    @classmethod
    def current(cls, conn: Connection) -> HashIndex:
        """The whole locker's index, kept between calls in this process (the web app asks
        for it on every item page), brought up to date with the hash rows added since.

        Hash rows are only ever added, so the newest row (its id, item and hash, read through
        the primary key) tells whether the index is current; a catalogue put back from an
        older copy ends in another row. When the kept index's newest row is still there as it
        was, only the rows after it are read; otherwise the index is built again from every
        row. Counting the rows instead cost 0.2 s at a million, and building again from every
        row costs seconds.
        """
        table = schema.perceptual_hashes
        newest = _row_stamp(
            conn.execute(
                select(table.c.id, table.c.item_sha256, table.c.pdq)
                .order_by(table.c.id.desc())
                .limit(1)
            ).one_or_none()
        )
        url = str(conn.engine.url)
        with _CACHE_LOCK:
            kept = _CACHE.get(url)
        if kept is not None and kept[0] == newest:
            return kept[1]
        index = None
        if kept is not None and kept[0] is not None and newest is not None:
            then = kept[0]
            still = conn.execute(
                select(table.c.id, table.c.item_sha256, table.c.pdq).where(table.c.id == then[0])
            ).one_or_none()
            if _row_stamp(still) == then:
                added = conn.execute(_usable_hashes().where(table.c.id > then[0])).all()
                index = kept[1].extended(*_columns(added))
        if index is None:
            index = cls.build(conn)
        with _CACHE_LOCK:
            _CACHE.clear()  # one locker per process in practice; keep only the newest
            _CACHE[url] = (newest, index)
        return index

    def extended(
        self,
        items: list[str],
        variants: list[str],
        frame_times: list[float | None],
        digests: np.ndarray,
    ) -> HashIndex:
        """A new index of this one's rows and these after them. This one may be in use on
        other threads, so nothing of it changes: its even shards are shared, and the rows
        after its cut go into a new tail shard, until they are more than one in TAIL_SHARE
        of all, when every row is cut evenly again (from memory, not the catalogue)."""
        import numpy as np

        if not items:
            return self
        joined = np.concatenate([self.digests, np.asarray(digests, np.uint8).reshape(-1, 32)])
        index = HashIndex(
            self.items + items,
            self.variants + variants,
            self.frame_times + frame_times,
            joined,
            *self._tail_cut(joined),
        )
        if "_rows_by_item" in self.__dict__:  # carried over, not looked through again
            rows = dict(self._rows_by_item)
            for row, item in enumerate(items, start=len(self.items)):
                rows[item] = [*rows.get(item, []), row]
            index.__dict__["_rows_by_item"] = rows
        return index

    def _tail_cut(self, joined: np.ndarray) -> tuple[list[tuple[int, Any]] | None, int | None]:
        """The shards and cut of an index of `joined`, which begins with this one's rows."""
        tail = len(joined) - self._cut
        if tail * TAIL_SHARE > len(joined):
            return None, None
        even = [(begin, shard) for begin, shard in self._shards if begin < self._cut]
        return even + _shards_of(joined[self._cut :], 1, self._cut), self._cut

    def __len__(self) -> int:
        return len(self.items)

    @cached_property
    def _rows_by_item(self) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = defaultdict(list)
        for row, item in enumerate(self.items):
            rows[item].append(row)
        return dict(rows)

    def rows_of(self, item: str) -> list[int]:
        """The rows holding `item`'s hashes (a lookup built once per index: looking through
        a million names on every query cost far more than the search itself)."""
        return self._rows_by_item.get(item, [])

    def pairs(
        self, queries: np.ndarray, threshold: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, index row, distance) of every pair within `threshold` bits, by query
        row, then index row."""
        import numpy as np

        if len(self) == 0 or len(queries) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        queries = np.ascontiguousarray(queries, dtype=np.uint8).reshape(-1, 32)
        if len(queries) > BALLS_MOST_QUERIES:
            return self._scan(queries, threshold)
        balls = _balls(queries, BALL_RADIUS)
        if len(balls) == len(queries):  # nothing close together: each is its own centre
            return self._scan(queries, threshold)
        widest = max(spread for _, _, spread in balls)
        centres = queries[[centre for centre, _, _ in balls]]
        found_by, found, _ = self._scan(centres, threshold + widest)
        rows, labels, distances = [], [], []
        for ball, (_, members, _) in enumerate(balls):
            near = found[found_by == ball]
            # members x near x 32 bytes at a time: at most COMPARED_MOST of them
            step = max(1, COMPARED_MOST // max(1, len(near)))
            for first in range(0, len(members), step):
                asked = members[first : first + step]
                apart = np.bitwise_count(queries[asked][:, None, :] ^ self.digests[near][None])
                apart = apart.sum(axis=2, dtype=np.int64)
                row, column = np.nonzero(apart <= threshold)
                rows.append(asked[row])
                labels.append(near[column])
                distances.append(apart[row, column])
        row, label, distance = (np.concatenate(part) for part in (rows, labels, distances))
        order = np.lexsort((label, row))
        return row[order], label[order], distance[order]

    def _scan(
        self, queries: np.ndarray, threshold: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`pairs`, each query scanned over every stored hash."""
        import numpy as np

        # Many queries (clustering) are cut into slices too, so every core has work.
        parts = max(1, min(SHARDS, len(queries) // QUERY_SLICE_MIN))
        count = len(queries)
        slices = [(count * k // parts, count * (k + 1) // parts) for k in range(parts)]

        def scan(
            unit: tuple[tuple[int, Any], tuple[int, int]],
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            (begin, index), (first, last) = unit
            # faiss returns distances strictly below its radius.
            limits, distances, labels = index.range_search(queries[first:last], threshold + 1)
            rows = np.repeat(np.arange(first, last), np.diff(limits).astype(np.int64))
            return rows, labels + begin, distances

        units = [(shard, part) for shard in self._shards for part in slices]
        found = list(_scanners().map(scan, units))
        rows, labels, distances = (np.concatenate(part) for part in zip(*found, strict=True))
        order = np.lexsort((labels, rows))  # by query, then by stored row, whatever the shards
        return rows[order], labels[order], distances[order]


def _balls(queries: np.ndarray, radius: int) -> list[tuple[int, np.ndarray, int]]:
    """The queries cut into balls, greedily, in their order: (centre, every member's row,
    the farthest member's distance from the centre), no member farther than `radius`."""
    import numpy as np

    left = np.arange(len(queries))
    balls = []
    while len(left):
        apart = np.bitwise_count(queries[left] ^ queries[left[0]]).sum(axis=1, dtype=np.int64)
        close = apart <= radius
        balls.append((int(left[0]), left[close], int(apart[close].max())))
        left = left[~close]
    return balls


def _usable_hashes() -> Select[Any]:
    """The hash rows an index holds (PDQ's quality high enough), in the order they came."""
    table = schema.perceptual_hashes
    query = select(table.c.item_sha256, table.c.variant, table.c.frame_time, table.c.pdq)
    return query.where(table.c.quality >= MIN_QUALITY).order_by(table.c.id)


def _columns(
    rows: Sequence[Any],
) -> tuple[list[str], list[str], list[float | None], np.ndarray]:
    import numpy as np

    digests = np.frombuffer(b"".join(bytes.fromhex(row[3]) for row in rows), dtype=np.uint8)
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], digests


def _row_stamp(row: Any) -> tuple[int, str, str] | None:
    """A hash row's (id, item, hash), or None for no row."""
    return None if row is None else (int(row[0]), str(row[1]), str(row[2]))


def _shards_of(digests: np.ndarray, most: int, offset: int = 0) -> list[tuple[int, Any]]:
    """`digests` cut into at most `most` faiss indexes (fewer when small), each with the
    row where it begins (+ `offset`)."""
    import faiss  # a quarter-second import: only when an index is really built

    count = len(digests)
    parts = max(1, min(most, count // SHARD_MIN))
    shards = []
    for k in range(parts):
        begin, end = count * k // parts, count * (k + 1) // parts
        shard = faiss.IndexBinaryFlat(256)
        shard.add(digests[begin:end])
        shards.append((begin + offset, shard))
    return shards


def _forget_scanners() -> None:
    global _SCANNERS
    _SCANNERS = None  # a forked child has none of its parent's threads: it makes its own


os.register_at_fork(after_in_child=_forget_scanners)


def _scanners() -> ThreadPoolExecutor:
    """The threads that scan shards, made once per process, each with OpenMP off."""
    global _SCANNERS
    with _CACHE_LOCK:
        if _SCANNERS is None:
            import faiss

            _SCANNERS = ThreadPoolExecutor(
                os.cpu_count() or 1,
                thread_name_prefix="docket-similar",
                initializer=faiss.omp_set_num_threads,
                initargs=(1,),
            )
        return _SCANNERS


@dataclass(frozen=True)
class Provenance:
    first_seen: str
    capture_time: str | None
    collected_at: str | None = None  # the earliest time a collector says they got it

    def sort_key(self) -> tuple[int, str, int, str, str]:
        """Earliest capture time first (as UTC when its offset is known), then the earliest
        collection time a collector gave (as UTC), then first arrival."""
        return (
            self.capture_time is None,
            "" if self.capture_time is None else _as_utc(self.capture_time),
            self.collected_at is None,
            "" if self.collected_at is None else _as_utc(self.collected_at),
            self.first_seen,
        )

    def decided_by(self, runner_up: Provenance) -> str:
        """Which rule put this copy before `runner_up` (the rule `sort_key` applies first)."""
        mine, theirs = self.sort_key(), runner_up.sort_key()
        for rule, fields in (
            ("capture time", slice(0, 2)),
            ("collection time", slice(2, 4)),
            ("first seen", slice(4, 5)),
        ):
            if mine[fields] != theirs[fields]:
                return rule
        return "hash (nothing else told them apart)"


def _as_utc(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        return moment.isoformat()
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat()


def normalised(dialect: str, name: str) -> ColumnElement[str | None]:
    """A normalised field inside a metadata result (`capture_time`, `duration`), as text, read
    by the database (parsing whole ExifTool records in Python made a 10,000-item timeline
    slow)."""
    data = schema.results.c.data
    if dialect == "postgresql":
        found = func.jsonb_extract_path_text(cast(data, JSONB), "normalised", name)
    else:
        found = func.json_extract(data, f"$.normalised.{name}")
    return cast(found, String)


def provenance(
    conn: Connection, items: list[str], case_id: int | None = None
) -> dict[str, Provenance]:
    """Capture time (a fact of the bytes) and first arrival: in the case when given (another
    case's arrivals are not its people's to know, docket.scope), else in the locker."""
    first_seen: dict[str, str] = {}
    capture: dict[str, str | None] = {}
    collected: dict[str, str] = {}
    for chunk in in_chunks(items):
        rows = conn.execute(
            select(schema.items.c.sha256, schema.items.c.first_seen).where(
                schema.items.c.sha256.in_(chunk)
            )
        )
        first_seen.update((str(sha), str(seen)) for sha, seen in rows)
        if case_id is not None:
            acquisitions = schema.acquisitions
            rows = conn.execute(
                select(acquisitions.c.item_sha256, func.min(acquisitions.c.acquired_at))
                .where(acquisitions.c.item_sha256.in_(chunk), acquisitions.c.case_id == case_id)
                .group_by(acquisitions.c.item_sha256)
            )
            first_seen.update((str(sha), str(seen)) for sha, seen in rows)
        results = conn.execute(
            select(schema.results.c.item_sha256, normalised(conn.dialect.name, "capture_time"))
            .where(
                schema.results.c.item_sha256.in_(chunk),
                schema.results.c.step == "metadata",
                schema.results.c.status == "ok",
            )
            .order_by(schema.results.c.id)
        )
        for sha256, captured in results:
            capture[sha256] = captured  # the latest metadata result wins
        acquisitions = schema.acquisitions
        stated = select(acquisitions.c.item_sha256, acquisitions.c.collected_at).where(
            acquisitions.c.item_sha256.in_(chunk), acquisitions.c.collected_at.is_not(None)
        )
        if case_id is not None:
            stated = stated.where(acquisitions.c.case_id == case_id)
        for sha256, moment in conn.execute(stated):
            if sha256 not in collected or _as_utc(moment) < _as_utc(collected[sha256]):
                collected[sha256] = moment
    return {sha: Provenance(first_seen[sha], capture.get(sha), collected.get(sha)) for sha in items}


@dataclass(frozen=True)
class Match:
    item: str
    distance: int
    frame_time: float | None
    query_frame_time: float | None
    first_seen: str
    capture_time: str | None


def similar(
    conn: Connection, item: str, threshold: int = DEFAULT_THRESHOLD, *, case: str | None = None
) -> list[Match]:
    """Every other item (of the case, when given) with a picture or keyframe within
    `threshold` bits of this one's. The case is asked only about the items found, so a query
    costs the same in a case of ten items as in one of a million."""
    case_id = None if case is None else _case_id(conn, case)
    index = HashIndex.current(conn)
    own = index.rows_of(item)
    if not own:
        raise NoUsableHashError(
            f"item {item[:12]}: no perceptual hash of usable quality (not a picture or video, "
            "not analysed yet, or a flat, near-blank picture)"
        )
    rows, labels, distances = index.pairs(index.digests[own], threshold)
    best: dict[str, tuple[int, float | None, float | None]] = {}
    for row, label, distance in zip(rows, labels, distances, strict=True):
        other = index.items[label]
        if other == item:
            continue
        found = (int(distance), index.frame_times[label], index.frame_times[own[row]])
        if other not in best or found[0] < best[other][0]:
            best[other] = found
    if case_id is not None:
        held = _held(conn, case_id, list(best))
        best = {other: found for other, found in best.items() if other in held}
    origins = provenance(conn, list(best), case_id)
    matches = [
        Match(other, d, t, qt, origins[other].first_seen, origins[other].capture_time)
        for other, (d, t, qt) in best.items()
    ]
    return sorted(matches, key=lambda m: (m.distance, origins[m.item].sort_key()))


def _case_id(conn: Connection, case: str) -> int:
    case_id = conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == case)).scalar()
    if case_id is None:
        raise DocketError(f"case {case!r}: no such case")
    return int(case_id)


def _held(conn: Connection, case_id: int, items: list[str]) -> set[str]:
    """Those of `items` the case holds (asked by item: case_items is indexed by it)."""
    held: set[str] = set()
    members = schema.case_items.c
    for chunk in in_chunks(items):
        found = select(members.item_sha256).where(
            members.case_id == case_id, members.item_sha256.in_(chunk)
        )
        held.update(conn.execute(found).scalars())
    return held


@dataclass
class Cluster:
    """A group of near-duplicates, numbered from 1 in the order of their earliest copies (so
    every command that lists the same items with the same threshold numbers them alike)."""

    number: int
    items: list[str]
    earliest: str
    origins: dict[str, Provenance] = field(repr=False)

    @property
    def decided_by(self) -> str:
        """The rule that made `earliest` the earliest (docket.similarity.Provenance)."""
        return self.origins[self.earliest].decided_by(self.origins[self.items[1]])


def clusters(
    conn: Connection, case: str | None = None, threshold: int = DEFAULT_THRESHOLD
) -> list[Cluster]:
    """Groups of near-duplicates (connected by any close pair), earliest known copy first (in
    the case, when given: its own arrivals)."""
    case_id = None if case is None else int(_case_id(conn, case))
    found = group_items(HashIndex.build(conn, case_id), threshold)
    origins = provenance(conn, [sha for members in found for sha in members], case_id)
    ordered = []
    for members in found:
        members.sort(key=lambda sha: (origins[sha].sort_key(), sha))
        ordered.append(members)
    ordered.sort(key=lambda members: (origins[members[0]].sort_key(), members[0]))
    return [
        Cluster(n, members, members[0], {m: origins[m] for m in members})
        for n, members in enumerate(ordered, start=1)
    ]


def group_items(index: HashIndex, threshold: int) -> list[list[str]]:
    """Items joined by any close pair of hashes (union-find), in groups of two or more.

    Only whole-picture hashes are queries; crops are found as targets, and as closeness is
    symmetric, every pair is still seen from one side.
    """
    queries = [i for i, variant in enumerate(index.variants) if variant in QUERY_VARIANTS]
    rows, labels, _ = index.pairs(index.digests[queries], threshold)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for row, label in zip(rows, labels, strict=True):
        a, b = index.items[queries[row]], index.items[label]
        if a != b:
            parent[find(a)] = find(b)
    groups: dict[str, list[str]] = defaultdict(list)
    for member in parent:
        groups[find(member)].append(member)
    return [sorted(members) for members in groups.values() if len(members) > 1]
