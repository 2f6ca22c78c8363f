"""Near-duplicate search: query and clustering time at scale, and a side-by-side with imagededup.

Run by hand: .venv/bin/python bench/similar.py [--stored N] [--catalogue N] [--cluster N]
[--images N]
Targets: one `similar` query against 1 million stored hashes in < 1 ms (issue 16; index
loaded); clustering 100,000 hashes in < 10 s. Then 10,000 generated images (2,000 scenes,
each with 4 edited copies) are hashed and grouped by Docket and by imagededup's PHash (a tool
investigators use today), both timed and scored against the known groups. imagededup runs in
its own virtual environment (made on first use under ~/.cache/docket-bench); its CNN modules,
which need torch, are replaced by empty modules there, as only its hashing is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance
from sqlalchemy import func, insert, select

from docket import similarity
from docket._samples import draw_scene, repost
from docket.analyse import _imaging, perceptual
from docket.catalogue import schema
from docket.locker import Locker
from docket.similarity import DEFAULT_THRESHOLD, HashIndex, group_items

VENV = Path.home() / ".cache" / "docket-bench" / "imagededup"
IMAGEDEDUP_RUN = """
import json, sys, time, types
sys.modules["imagededup.methods.cnn"] = types.SimpleNamespace(CNN=None)
sys.modules["imagededup.utils.models"] = types.SimpleNamespace(CustomModel=None)
from imagededup.methods import PHash
start = time.perf_counter()
phash = PHash(verbose=False)
encodings = phash.encode_images(image_dir=sys.argv[1])
duplicates = phash.find_duplicates(encoding_map=encodings)
print(json.dumps({"seconds": time.perf_counter() - start, "duplicates": duplicates}))
"""


FLIPS_AT_ONCE = 1 << 18  # rows whose bit flips are drawn at once (0.5 GiB of floats)


def synthetic_index(count: int, rng: np.random.Generator) -> HashIndex:
    """`count` hashes, 6 variants per item; one item in ten is a noisy copy of another one."""
    items = count // 6
    base = rng.integers(0, 256, size=(items, 32), dtype=np.uint8)
    chosen = rng.choice(items, size=items // 5, replace=False)
    half = len(chosen) // 2
    originals, copies = chosen[:half], chosen[half : 2 * half]
    flips = np.packbits(rng.random((len(copies), 256)) < 0.05, axis=1)
    base[copies] = base[originals] ^ flips
    variants = np.repeat(base, 6, axis=0)
    for first in range(0, len(variants), FLIPS_AT_ONCE):  # 2 KiB of floats per row drawn
        rows = variants[first : first + FLIPS_AT_ONCE]
        rows ^= np.packbits(rng.random((len(rows), 256)) < 0.08, axis=1)
    names = [f"item{i}" for i in range(items) for _ in range(6)]
    kinds = ["full", "c90", "c80", "c70", "trim1", "trim2"] * items
    return HashIndex(names, kinds, [None] * len(names), variants)


def time_queries(stored: int) -> None:
    """One `similar` query as similarity.similar runs it (the item's rows looked up, then every
    stored hash within the threshold of each), beside faiss's multi-index hashing index at the
    same radius on at most 100,000 of the same hashes (its answers are exact, its time is not
    better: at a radius of 56 bits in 256, every 16-bit chunk is probed with 697 keys)."""
    if stored < 6:
        print("similar: fewer than 6 stored hashes asked: no query timed")
        return
    import faiss

    rng = np.random.default_rng(1)
    start = time.perf_counter()
    index = synthetic_index(stored, rng)
    index.rows_of("item0")  # the lookup of rows by item, built once with the index
    built = time.perf_counter() - start
    picked = rng.choice(len(index) // 6, size=min(30, len(index) // 6), replace=False)
    for how, ask in (("balls of close hashes", index.pairs), ("each hash scanned", index._scan)):
        times = []
        for item in picked:
            start = time.perf_counter()
            ask(index.digests[index.rows_of(f"item{item}")], DEFAULT_THRESHOLD)
            times.append(time.perf_counter() - start)
        print(
            f"similar: one query (6 hashes of one item) against {len(index):,} stored hashes, "
            f"{how} (faiss IndexBinaryFlat, {len(index._shards)} shards on threads): median "
            f"{statistics.median(times) * 1e3:.2f} ms, max {max(times) * 1e3:.2f} ms "
            f"(index built in {built:.2f} s)"
        )
    few = min(len(index), 100_000)
    multi = faiss.IndexBinaryMultiHash(256, 16, 16)
    multi.nflip = DEFAULT_THRESHOLD // 16  # pigeonhole: one of 16 chunks is this close
    multi.add(index.digests[:few])
    times = []
    for item in picked[:5]:
        queries = index.digests[item * 6 : item * 6 + 6]
        start = time.perf_counter()
        multi.range_search(queries, DEFAULT_THRESHOLD + 1)
        times.append(time.perf_counter() - start)
    print(
        f"  peer: faiss IndexBinaryMultiHash (16 x 16 bits, {multi.nflip} flips) against "
        f"{few:,} of them: median {statistics.median(times) * 1e3:.2f} ms"
    )


def time_catalogue_queries(stored: int) -> None:
    """`similar` end to end on a SQLite catalogue of `stored` hashes (6 per item, written
    straight into its tables): the kept index checked, the item's rows found, the scan, and
    the provenance of the matches read. Beside it, the check the kept index had before (a
    count of every hash row), timed on the same catalogue."""
    if stored < 6:
        print("similar (catalogue): fewer than 6 stored hashes asked: skipped")
        return
    index = synthetic_index(stored, np.random.default_rng(3))
    names = [f"{i:064x}" for i in range(len(index) // 6)]
    with (
        tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch,
        Locker.create(Path(scratch) / "locker", actor="bench") as locker,
        locker.engine.connect() as conn,
    ):
        with conn.begin():
            conn.execute(
                insert(schema.items),
                [
                    {
                        "sha256": name,
                        "sha512": "0" * 128,
                        "size": 1,
                        "media_type": "image/jpeg",
                        "first_seen": "2026-01-01T00:00:00Z",
                        "event_seq": 0,
                    }
                    for name in names
                ],
            )
            conn.execute(
                insert(schema.perceptual_hashes),
                [
                    {
                        "item_sha256": names[row // 6],
                        "variant": index.variants[row],
                        "frame_time": None,
                        "pdq": digest.tobytes().hex(),
                        "quality": 90,
                        "event_seq": 0,
                    }
                    for row, digest in enumerate(index.digests)
                ],
            )
        start = time.perf_counter()
        similarity.similar(conn, names[0])
        built = time.perf_counter() - start
        rng = np.random.default_rng(4)
        times = []
        for item in rng.choice(len(names), size=min(30, len(names)), replace=False):
            start = time.perf_counter()
            similarity.similar(conn, names[item])
            times.append(time.perf_counter() - start)
        conn.commit()  # what the queries read (autobegun)
        with conn.begin():  # an ingest of 100 photos adds 600 hash rows
            conn.execute(
                insert(schema.perceptual_hashes),
                [
                    {
                        "item_sha256": names[row % len(names)],
                        "variant": "full",
                        "frame_time": None,
                        "pdq": digest.tobytes().hex(),
                        "quality": 90,
                        "event_seq": 0,
                    }
                    for row, digest in enumerate(rng.integers(0, 256, (600, 32), dtype=np.uint8))
                ],
            )
        start = time.perf_counter()
        similarity.similar(conn, names[1])
        caught_up = time.perf_counter() - start
        table = schema.perceptual_hashes
        counted = []
        for _ in range(5):
            start = time.perf_counter()
            conn.execute(select(func.max(table.c.id), func.count())).one()
            counted.append(time.perf_counter() - start)
    print(
        f"similar (catalogue, SQLite): one query against {len(index):,} stored hashes: median "
        f"{statistics.median(times) * 1e3:.2f} ms, max {max(times) * 1e3:.2f} ms (first query, "
        f"which builds the index from the catalogue: {built:.2f} s)"
    )
    print(
        f"  after 600 hash rows were added: the next query {caught_up * 1e3:.1f} ms (it reads "
        "only the new rows into the kept index)"
    )
    print(
        f"  before: the kept index was checked by counting every hash row: median "
        f"{statistics.median(counted) * 1e3:.2f} ms per query for that check alone"
    )


def time_clustering(count: int) -> None:
    if count < 6:
        print("clusters: fewer than 6 hashes asked: nothing grouped")
        return
    index = synthetic_index(count, np.random.default_rng(2))
    start = time.perf_counter()
    groups = group_items(index, DEFAULT_THRESHOLD)
    seconds = time.perf_counter() - start
    print(
        f"clusters: {len(index):,} hashes grouped in {seconds:.2f} s "
        f"({len(groups):,} groups of near-duplicates)"
    )


EDITS: list[Callable[[Image.Image], Image.Image]] = [
    lambda im: im.resize((im.width // 2, im.height // 2)),
    lambda im: ImageEnhance.Brightness(im).enhance(1.2),
    lambda im: repost(im, "re-posted"),
    lambda im: im.crop((im.width // 10, im.height // 10, im.width * 9 // 10, im.height * 9 // 10)),
]


def make_images(folder: Path, scenes: int) -> dict[str, int]:
    """Scene number of each generated file name."""
    truth = {}
    for scene in range(scenes):
        picture = draw_scene(10_000 + scene, (480, 360))
        for copy, image in enumerate([picture, *(edit(picture) for edit in EDITS)]):
            name = f"s{scene:05}_{copy}.jpg"
            image.save(folder / name, "JPEG", quality=random.Random(scene).choice([60, 75, 90]))
            truth[name] = scene
    return truth


def docket_hashes(path: Path) -> tuple[str, list[tuple[str, bytes, int]]]:
    picture = _imaging.open_picture(path)
    return path.name, [(h.variant, h.digest, h.quality) for h in perceptual.hashes(picture)]


def score(groups: list[set[str]], truth: dict[str, int]) -> tuple[float, float]:
    """Pairwise recall and precision of `groups` against the true scenes."""
    found = {tuple(sorted(p)) for g in groups for p in _pairs(g)}
    true: dict[int, set[str]] = {}
    for name, scene in truth.items():
        true.setdefault(scene, set()).add(name)
    wanted = {tuple(sorted(p)) for g in true.values() for p in _pairs(g)}
    hits = len(found & wanted)
    return hits / len(wanted), hits / max(len(found), 1)


def _pairs(group: set[str]) -> list[tuple[str, str]]:
    members = sorted(group)
    return [(a, b) for i, a in enumerate(members) for b in members[i + 1 :]]


def imagededup_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "pip"), "install", "-q"]
        subprocess.run([*pip, "--no-deps", "imagededup"], check=True)
        subprocess.run(
            [*pip, "numpy", "scipy", "PyWavelets", "Pillow", "tqdm", "scikit-learn", "matplotlib"],
            check=True,
        )
    return python


def side_by_side(images: int) -> None:
    if images < len(EDITS) + 1:
        print(f"\nside by side: fewer than {len(EDITS) + 1} images asked (one scene): skipped")
        return
    with tempfile.TemporaryDirectory(prefix="docket-bench-") as scratch:
        folder = Path(scratch)
        truth = make_images(folder, images // (len(EDITS) + 1))
        paths = sorted(folder.glob("*.jpg"))
        start = time.perf_counter()
        with Pool(os.cpu_count()) as pool:
            hashed = pool.map(docket_hashes, paths, chunksize=32)
        names, variants, digests = [], [], []
        for name, found in hashed:
            for variant, digest, quality in found:
                if quality >= 50:
                    names.append(name)
                    variants.append(variant)
                    digests.append(np.frombuffer(digest, dtype=np.uint8))
        index = HashIndex(names, variants, [None] * len(names), np.array(digests))
        ours = [set(g) for g in group_items(index, DEFAULT_THRESHOLD)]
        ours_seconds = time.perf_counter() - start
        ours_recall, ours_precision = score(ours, truth)

        done = subprocess.run(
            [str(imagededup_python()), "-c", IMAGEDEDUP_RUN, str(folder)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        theirs = [{name, *dups} for name, dups in result["duplicates"].items() if dups]
        their_recall, their_precision = score(theirs, truth)
        print(
            f"\n{len(paths):,} images (480x360 JPEG; {len(paths) // 5:,} scenes, each with "
            "copies resized, brightened, re-posted with a caption bar, cropped 10%):"
        )
        print(
            f"  docket (PDQ + crops + band trim, faiss) {ours_seconds:7.2f} s  "
            f"recall {ours_recall:6.1%}  precision {ours_precision:6.1%}"
        )
        print(
            f"  imagededup PHash (defaults)             {result['seconds']:7.2f} s  "
            f"recall {their_recall:6.1%}  precision {their_precision:6.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--catalogue", type=int, default=1_000_000)
    parser.add_argument("--cluster", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, threshold {DEFAULT_THRESHOLD}, load average "
        f"{os.getloadavg()[0]:.1f} at the start (the machine may be shared)"
    )
    time_queries(args.stored)
    time_catalogue_queries(args.catalogue)
    time_clustering(args.cluster)
    side_by_side(args.images)


if __name__ == "__main__":
    main()
