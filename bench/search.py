"""Full-text search at scale: the time of one search, and of writing the index, against the
substring scan it replaced.

Run by hand: .venv/bin/python bench/search.py [--entries N] [--database URL]
A locker's index is filled with N entries (acquisition-like texts: a path, a note in Arabic,
Sorani or English, a pseudonym) spread over --cases cases, written through the same call ingest
uses; then each query is run through one case, by the index (docket.search) and by a LIKE scan
over the same texts (what search did before), best of 5. The database is the locker's SQLite
file, or PostgreSQL when --database is given (an empty database).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sqlalchemy import Connection, Select, func, select, text

from docket import search
from docket.catalogue import fulltext, schema
from docket.locker import Locker
from docket.scope import Scope

WORDS = {
    language: words.split()
    for language, words in {
        "english": "harbour raid convoy checkpoint market shelling bridge clinic school witness",
        "arabic": "مدرسة مستشفى قصف سوق جسر شاهد حاجز قافلة مدينة الطريق",
        "sorani": "هەڵبژاردن کوردستان ڕۆژ نوێ قوتابخانە نەخۆشخانە بازاڕ پرد شایەت ڕێگا",
    }.items()
}
QUERIES = ["harbour", "مدرسة", "نەخۆشخانە", "witness bridge", "zzz-nothing"]


def fill(conn: Connection, count: int, cases: int, rng: random.Random) -> float:
    started = time.perf_counter()
    for n in range(count):
        language = rng.choice(list(WORDS))
        note = " ".join(rng.choice(WORDS[language]) for _ in range(12))
        path = f"/evidence/{rng.choice(WORDS['english'])}/IMG_{n:06}.jpg"
        item = f"{n:064x}"
        texts = (path, None, note, f"W-{n % 500}")
        fulltext.put(conn, "acquisition", n + 1, 1 + n % cases, item, texts)
    return time.perf_counter() - started


def _rows(conn: Connection, query: Select[str]) -> list[object]:
    return list(conn.execute(query).all())


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=2)
    parser.add_argument("--database", default=None)
    args = parser.parse_args()
    rng = random.Random(7)
    with (
        tempfile.TemporaryDirectory() as folder,
        Locker.create(Path(folder) / "locker", actor="bench", database_url=args.database) as locker,
    ):
        with locker.engine.connect() as conn, conn.begin():
            seconds = fill(conn, args.entries, args.cases, rng)
        dialect = locker.engine.dialect.name
        print(
            f"{dialect}: {args.entries} entries written in {seconds:.1f} s "
            f"({seconds / args.entries * 1e6:.0f} us each, in one transaction)"
        )
        view = Scope(1, "case-1")
        entries = schema.search_entries
        with locker.engine.connect() as conn:
            items = [f"{n:064x}" for n in range(args.entries) if n % args.cases == 0]
            for query in QUERIES:
                found = search.find(conn, items, query, view)
                indexed = best_of(5, partial(search.find, conn, items, query, view))
                needle = f"%{query.split()[0].lower()}%"
                scan = select(entries.c.item_sha256).where(
                    entries.c.case_id == 1, func.lower(entries.c.body).like(needle)
                )
                scanned = best_of(5, partial(_rows, conn, scan))
                print(
                    f"  {query!r:<22} {len(found):>6} found  index {indexed * 1000:8.2f} ms"
                    f"   LIKE scan {scanned * 1000:8.2f} ms"
                )
            size = conn.execute(text("SELECT COUNT(*) FROM search_entries")).scalar()
        print(
            f"  ({size} entries, {len(items)} items in the case searched; "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
        )


if __name__ == "__main__":
    main()
