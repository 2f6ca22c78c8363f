"""A generated catalogue: N items in one case, written straight into a locker's catalogue in
bulk (rows only; each item's blob is a few bytes), for measuring what reads cost at a million.

Each item gets what an ingest gives it: its items row, one acquisition in the case, the case
membership, its search entry and its item.acquired custody event, then a metadata result
(metadata.recorded), when asked for (`--analysed`; the web bench asks): a capture time, one
of DAYS days, and a position for every other item, kept on its membership and searchable as
records.record_result keeps them. These are the
same facts docket.catalogue.records writes, so `docket verify` recomputes them alike, with the
log's leaf hashes stored as log.append stores them. A signed checkpoint over the whole log is
made at the end by the product's own code. What it leaves out: previews and perceptual hashes
(pictures' analysis), which the ingest and similar benches measure.

Run by hand: .venv/bin/python bench/_catalogue.py LOCKER [--items 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, insert, select, update

from docket import clock
from docket.analyse.metadata import STEP_VERSION
from docket.catalogue import fulltext, schema
from docket.catalogue.records import (
    Arrival,
    Item,
    arrival_facts,
    capture_time_of,
    has_position_of,
    item_facts,
    result_facts,
)
from docket.custody import ledger, log
from docket.custody.events import Event, canonical_json
from docket.locker import Locker
from docket.store.filesystem import FilesystemStore

BATCH = 20_000
COLLECTOR = "bench"
START = datetime(2026, 1, 1, tzinfo=UTC)
CAPTURED_FROM = datetime(2024, 1, 1, 8, 0)
DAYS = 730  # capture times spread over two years: a day holds about 1 item in 730


def content_of(number: int) -> bytes:
    return f"generated item {number}\n".encode()


def _batches(first: int, count: int) -> Iterator[range]:
    for start in range(first, first + count, BATCH):
        yield range(start, min(start + BATCH, first + count))


def _write_blob(store: FilesystemStore, sha256: str, data: bytes) -> None:
    target = store.path(sha256)
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(data)
    target.chmod(0o444)


def _case(conn: Connection, name: str) -> int:
    event = log.append(conn, COLLECTOR, "case.created", details={"name": name})
    key = conn.execute(insert(schema.cases).values(name=name, created_at=event.time))
    assert key.inserted_primary_key is not None
    return int(key.inserted_primary_key[0])


def metadata_of(number: int) -> dict[str, Any]:
    """A metadata result's data as the metadata step records it (normalised fields, a short
    raw record): a capture time with its offset, and a position for even numbers."""
    captured = CAPTURED_FROM + timedelta(days=number % DAYS, seconds=number // DAYS % 36_000)
    placed = number % 2 == 0
    return {
        "normalised": {
            "capture_time": captured.isoformat() + "+03:00",
            "capture_time_has_offset": True,
            "offset_source": "OffsetTime tag",
            "gps_latitude": 33.5 + number % 1000 / 10_000 if placed else None,
            "gps_longitude": 36.28 + number % 997 / 10_000 if placed else None,
            "gps_altitude": None,
            "make": "Generated",
            "model": f"Model {number % 7}",
            "serial": None,
            "owner_name": None,
            "lens": None,
            "lens_serial": None,
            "software": None,
            "width": None,
            "height": None,
            "duration": None,
            "file_type": "TXT",
            "warnings": [],
        },
        "raw": {"File:FileType": "TXT", "Generated:Number": number},
        "exiftool": "generated",
    }


def _metadata_rows(
    number: int, sha256: str, seq: int, moment: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The events row and results row of item `number`'s metadata result, logged at `seq`."""
    metadata = canonical_json(metadata_of(number)).decode("utf-8")
    recorded = Event(
        seq=seq,
        time=moment,
        actor=COLLECTOR,
        action="metadata.recorded",
        item=sha256,
        details=result_facts("metadata", STEP_VERSION, "ok", None, metadata),
    )
    event_row = {
        "seq": seq,
        "time": moment,
        "actor": COLLECTOR,
        "action": recorded.action,
        "item_sha256": sha256,
        "details": recorded.details_text(),
        "leaf_hash": recorded.leaf_hash().hex(),
    }
    result_row = {
        "item_sha256": sha256,
        "step": "metadata",
        "step_version": STEP_VERSION,
        "status": "ok",
        "error": None,
        "data": metadata,
        "created_at": moment,
        "event_seq": seq,
    }
    return event_row, result_row


def _write_batch(
    conn: Connection, numbers: range, first_seq: int, case: str, case_id: int, analysed: bool
) -> None:
    """Rows of items `numbers`, whose events start at `first_seq` + each x number (each: one
    event an item, or two when `analysed`)."""
    each = 2 if analysed else 1
    events: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    acquisitions: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for number in numbers:
        data = content_of(number)
        sha256 = hashlib.sha256(data).hexdigest()
        item = Item(sha256, hashlib.sha512(data).hexdigest(), len(data), "text/plain", "")
        path = f"generated/note{number:07}.txt"
        arrival = Arrival(COLLECTOR, "generated", path.encode(), case=case)
        moment = clock.format_time(START + timedelta(milliseconds=number))
        event = Event(
            seq=first_seq + each * number,
            time=moment,
            actor=COLLECTOR,
            action="item.acquired",
            item=sha256,
            details={"item": item_facts(item), "new": True, "acquisition": arrival_facts(arrival)},
        )
        events.append(
            {
                "seq": event.seq,
                "time": moment,
                "actor": COLLECTOR,
                "action": event.action,
                "item_sha256": sha256,
                "details": event.details_text(),
                "leaf_hash": event.leaf_hash().hex(),
            }
        )
        items.append({**item_facts(item), "first_seen": moment, "event_seq": event.seq})
        acquisitions.append(
            {
                "item_sha256": sha256,
                "acquired_at": moment,
                "collector": COLLECTOR,
                "source_id": None,
                "method": "generated",
                "original_path": path,
                "original_path_raw": path.encode(),
                "event_seq": event.seq,
                "case_id": case_id,
            }
        )
        if analysed:
            recorded, result = _metadata_rows(number, sha256, event.seq + 1, moment)
            events.append(recorded)
            results.append(result)
    conn.execute(insert(schema.events), events)
    conn.execute(insert(schema.items), items)
    conn.execute(insert(schema.acquisitions), acquisitions)
    logged = range(first_seq + each * numbers.start, first_seq + each * numbers.stop)
    acquired = schema.acquisitions.c
    arrived = dict(  # each item's one acquisition: its first in the case
        conn.execute(
            select(acquired.item_sha256, acquired.id).where(
                acquired.event_seq.between(logged.start, logged.stop - 1)
            )
        ).all()
    )
    members = [
        {
            "case_id": case_id,
            "item_sha256": a["item_sha256"],
            "media_type": "text/plain",
            "first_acquisition": arrived[a["item_sha256"]],
        }
        for a in acquisitions
    ]
    if analysed:
        conn.execute(insert(schema.results), results)
        for member, result in zip(members, results, strict=True):
            data = json.loads(result["data"])
            member.update(capture_time=capture_time_of(data), has_position=has_position_of(data))
    conn.execute(insert(schema.case_items), members)
    _index(conn, "acquisition", case_id, acquired.original_path, logged, lambda path: [path])
    if analysed:
        found = schema.results.c
        _index(
            conn,
            "metadata",
            None,
            found.data,
            logged,
            lambda data: fulltext.metadata_texts(json.loads(data)),
        )


def _index(
    conn: Connection,
    kind: str,
    case_id: int | None,
    text: Any,
    logged: range,
    texts_of: Callable[[Any], list[str]],
) -> None:
    """Search entries of `kind` for the rows of `text`'s table logged at `logged` (read back
    for their ids), as docket.catalogue.fulltext.put writes them."""
    table = text.table.c
    rows = conn.execute(
        select(table.id, table.item_sha256, text).where(
            table.event_seq >= logged.start, table.event_seq < logged.stop
        )
    )
    conn.execute(
        insert(schema.search_entries),
        [
            {
                "kind": kind,
                "ref": ref,
                "case_id": case_id,
                "item_sha256": sha,
                "body": fulltext.body(texts_of(value)),
            }
            for ref, sha, value in rows
        ],
    )


def generate(
    locker: Locker,
    count: int,
    case: str = "Bench",
    blobs: bool = True,
    start: int = 0,
    analysed: bool = False,
) -> int:
    """Add `count` generated items, numbered from `start` (each number its own bytes), to a
    new case `case` of `locker`, each with a metadata result when `analysed`; returns the
    case's id."""
    each = 2 if analysed else 1
    store = locker.store
    if blobs and not isinstance(store, FilesystemStore):
        raise SystemExit("generated blobs go to a file-system store only")
    with locker.engine.begin() as conn:
        log.lock(conn)
        case_id = _case(conn, case)
        first_seq = log.size(conn) - each * start
    # One transaction a batch: a million rows in one made SQLite spill its cache to the WAL
    # over and over (13 GB written). Each leaves the log whole: its head counts its events.
    for numbers in _batches(start, count):
        with locker.engine.begin() as conn:
            log.lock(conn)
            _write_batch(conn, numbers, first_seq, case, case_id, analysed)
            head = schema.log_head
            size = first_seq + each * numbers.stop
            conn.execute(update(head).where(head.c.id == 1).values(size=size))
    if blobs:
        assert isinstance(store, FilesystemStore)
        for number in range(start, start + count):
            data = content_of(number)
            _write_blob(store, hashlib.sha256(data).hexdigest(), data)
    with locker.engine.begin() as conn:
        ledger.make_checkpoint(conn, locker.signing_key, locker.origin, COLLECTOR)
    return case_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locker", type=Path, help="an initialised locker (docket init)")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--case", default="Bench")
    parser.add_argument("--no-blobs", action="store_true", help="rows only, no blob files")
    parser.add_argument("--analysed", action="store_true", help="a metadata result each")
    args = parser.parse_args()
    started = time.perf_counter()
    with Locker.open(args.locker) as locker:
        generate(locker, args.items, args.case, not args.no_blobs, analysed=args.analysed)
    print(
        f"generated {args.items} items in case {args.case!r} in "
        f"{time.perf_counter() - started:.0f} s ({os.cpu_count()} cores)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
