"""Writing arrivals and results into the catalogue, each with its custody event.

The `*_facts` functions are the single definition of what an event says about a row: the
ingest writes them into the log and `verify` recomputes them from the rows to compare.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from docket.case_analysis import repeat_for_arrival
from docket.catalogue import fulltext, schema
from docket.catalogue.schema import CAPTURE_TIME_MOST
from docket.custody import acknowledged, log
from docket.custody.events import Event, canonical_json
from docket.names import display_name
from docket.store import BlobDigest


@dataclass(frozen=True)
class Item:
    sha256: str
    sha512: str
    size: int
    media_type: str
    first_seen: str


@dataclass(frozen=True)
class Arrival:
    """How one copy of a file reached the locker (becomes an acquisition row)."""

    collector: str
    method: str
    original_path_raw: bytes
    source: str | None = None
    container_sha256: str | None = None
    path_in_container_raw: bytes | None = None
    file_mtime: str | None = None
    note: str | None = None
    case: str | None = None
    package: Mapping[str, Any] | None = None
    url_of_origin: str | None = None
    collected_at: str | None = None  # ISO 8601 with the collector's offset


def item_facts(item: Item) -> dict[str, Any]:
    return {
        "sha256": item.sha256,
        "sha512": item.sha512,
        "size": item.size,
        "media_type": item.media_type,
    }


def arrival_facts(arrival: Arrival) -> dict[str, Any]:
    inner = arrival.path_in_container_raw
    return {
        "collector": arrival.collector,
        "method": arrival.method,
        "source": arrival.source,
        "original_path": display_name(arrival.original_path_raw),
        "original_path_b64": base64.b64encode(arrival.original_path_raw).decode(),
        "container": arrival.container_sha256,
        "path_in_container_b64": None if inner is None else base64.b64encode(inner).decode(),
        "file_mtime": arrival.file_mtime,
        "note": arrival.note,
        "case": arrival.case,
        "package": None if arrival.package is None else dict(arrival.package),
        # Only when given: events logged before these fields existed must still match.
        **_given(url_of_origin=arrival.url_of_origin, collected_at=arrival.collected_at),
    }


def _given(**fields: str | None) -> dict[str, str]:
    return {name: value for name, value in fields.items() if value is not None}


def item_from_row(row: Mapping[Any, Any]) -> Item:
    return Item(
        row["sha256"], row["sha512"], int(row["size"]), row["media_type"], row["first_seen"]
    )


def _source_id(conn: Connection, pseudonym: str) -> int:
    table = schema.sources
    found = conn.execute(select(table.c.id).where(table.c.pseudonym == pseudonym)).scalar()
    if found is not None:
        return int(found)
    key = conn.execute(insert(table).values(pseudonym=pseudonym)).inserted_primary_key
    assert key is not None
    return int(key[0])


def _case_id(conn: Connection, name: str, actor: str) -> int:
    table = schema.cases
    found = conn.execute(select(table.c.id).where(table.c.name == name)).scalar()
    if found is not None:
        return int(found)
    event = log.append(conn, actor, "case.created", details={"name": name})
    key = conn.execute(insert(table).values(name=name, created_at=event.time)).inserted_primary_key
    assert key is not None
    return int(key[0])


def record_arrival(
    conn: Connection, digest: BlobDigest, media_type: str, arrival: Arrival
) -> tuple[bool, Event]:
    """Record one arrival of stored bytes; returns whether the bytes are new to the arrival's
    case (to the locker when it names no case), and the event, which says the same ("new").
    Whether another case holds the bytes is not the arriving person's to know (docket.scope):
    their own arrival event must not tell them either. The items row says which arrival
    brought the bytes first.

    It takes the log's lock before looking, so that a concurrent ingest of the same bytes
    waits and then finds the item instead of creating it twice.
    """
    log.lock(conn)
    existing = (
        conn.execute(select(schema.items).where(schema.items.c.sha256 == digest.sha256))
        .mappings()
        .first()
    )
    in_case = arrival.case is not None and (
        conn.execute(
            select(schema.case_items.c.item_sha256)
            .join(schema.cases, schema.cases.c.id == schema.case_items.c.case_id)
            .where(
                schema.cases.c.name == arrival.case,
                schema.case_items.c.item_sha256 == digest.sha256,
            )
        ).first()
        is not None
    )
    new = existing is None if arrival.case is None else not in_case
    item = (
        Item(digest.sha256, digest.sha512, digest.size, media_type, "")
        if existing is None
        else item_from_row(existing)
    )
    event = log.append(
        conn,
        arrival.collector,
        "item.acquired",
        item=digest.sha256,
        details={"item": item_facts(item), "new": new, "acquisition": arrival_facts(arrival)},
    )
    acknowledged.record(conn, event)  # noted outside the catalogue before it is reported
    if existing is None:
        conn.execute(
            insert(schema.items).values(
                **item_facts(item), first_seen=event.time, event_seq=event.seq
            )
        )
    inner = arrival.path_in_container_raw
    case_id = None if arrival.case is None else _case_id(conn, arrival.case, arrival.collector)
    original_path = display_name(arrival.original_path_raw)
    path_in_container = None if inner is None else display_name(inner)
    key = conn.execute(
        insert(schema.acquisitions).values(
            item_sha256=digest.sha256,
            acquired_at=event.time,
            collector=arrival.collector,
            source_id=None if arrival.source is None else _source_id(conn, arrival.source),
            method=arrival.method,
            original_path=original_path,
            original_path_raw=arrival.original_path_raw,
            container_sha256=arrival.container_sha256,
            path_in_container=path_in_container,
            path_in_container_raw=inner,
            file_mtime=arrival.file_mtime,
            note=arrival.note,
            url_of_origin=arrival.url_of_origin,
            collected_at=arrival.collected_at,
            package=None
            if arrival.package is None
            else canonical_json(dict(arrival.package)).decode(),
            event_seq=event.seq,
            case_id=case_id,
        )
    ).inserted_primary_key
    assert key is not None
    texts = (original_path, path_in_container, arrival.note, arrival.source, arrival.url_of_origin)
    fulltext.put(conn, "acquisition", int(key[0]), case_id, digest.sha256, texts)
    if case_id is not None and not in_case:
        conn.execute(
            insert(schema.case_items).values(
                case_id=case_id,
                item_sha256=digest.sha256,
                media_type=item.media_type,
                first_acquisition=int(key[0]),
                capture_time=None if existing is None else latest_capture_time(conn, digest.sha256),
                has_position=existing is not None and latest_has_position(conn, digest.sha256),
            )
        )
        if existing is not None:
            repeat_for_arrival(conn, digest.sha256, arrival.collector, case_id)
    return new, event


def _normalised(data: Mapping[str, Any]) -> Mapping[str, Any]:
    found = data.get("normalised")
    return found if isinstance(found, Mapping) else {}


def has_position_of(data: Mapping[str, Any]) -> bool:
    """Whether a metadata result (of any status) gives its item a position in every case that
    holds it (case_items.has_position, migration 0018), as the grid's GPS filter asks."""
    return _normalised(data).get("gps_latitude") is not None


def capture_time_of(data: Mapping[str, Any]) -> str | None:
    """The capture time a successful metadata result gives its item in every case that holds
    it (case_items.capture_time, migration 0018): its normalised one, when that is text of at
    most CAPTURE_TIME_MOST characters."""
    found = _normalised(data).get("capture_time")
    return found if isinstance(found, str) and len(found) <= CAPTURE_TIME_MOST else None


_LATEST_METADATA = (
    select(schema.results.c.data)
    .where(
        schema.results.c.item_sha256 == bindparam("item"),
        schema.results.c.step == "metadata",
        schema.results.c.status == "ok",
    )
    .order_by(schema.results.c.id.desc())
    .limit(1)
)


def latest_capture_time(conn: Connection, item: str) -> str | None:
    """The capture time of the item's latest successful metadata result (capture_time_of)."""
    data = conn.execute(_LATEST_METADATA, {"item": item}).scalar()
    return None if data is None else capture_time_of(json.loads(data))


def latest_has_position(conn: Connection, item: str) -> bool:
    """Whether the item's latest metadata result, of any status, gives a position."""
    found = latest_result(conn, item, "metadata")
    return found is not None and has_position_of(found["data"])


def data_digest(data_text: str) -> str:
    return hashlib.sha256(data_text.encode("utf-8")).hexdigest()


def result_facts(
    step: str, version: str, status: str, error: str | None, data_text: str
) -> dict[str, Any]:
    return {
        "step": step,
        "version": version,
        "status": status,
        "error": error,
        "data_sha256": data_digest(data_text),
    }


def record_result(
    conn: Connection,
    actor: str,
    item: str,
    step: str,
    version: str,
    data: Mapping[str, Any] | None,
    error: str | None = None,
    case: str | None = None,
) -> Event:
    """Store a step's result (or its failure, with the reason) and log it. `case` names the
    case a person's own aid was run in (docket.scope.PERSONAL); analysis, a fact of the
    bytes, has none."""
    status = "failed" if error is not None else "ok"
    data_text = canonical_json(dict(data or {})).decode("utf-8")
    event = log.append(
        conn,
        actor,
        f"{step}.{'failed' if error is not None else 'recorded'}",
        item=item,
        details=result_facts(step, version, status, error, data_text)
        | ({} if case is None else {"case": case}),
    )
    key = conn.execute(
        insert(schema.results).values(
            item_sha256=item,
            step=step,
            step_version=version,
            status=status,
            error=error,
            data=data_text,
            created_at=event.time,
            event_seq=event.seq,
        )
    ).inserted_primary_key
    assert key is not None
    if step != "metadata":
        return event
    kept: dict[str, Any] = {"has_position": has_position_of(data or {})}
    if error is None:
        fulltext.put_metadata(conn, int(key[0]), item, data_text)  # searched (docket.search)
        kept["capture_time"] = capture_time_of(data or {})
    members = schema.case_items.c
    conn.execute(update(schema.case_items).where(members.item_sha256 == item).values(**kept))
    return event


_LATEST_RESULT = (  # built once: an item's page asks it for each of its steps
    select(schema.results)
    .where(
        schema.results.c.item_sha256 == bindparam("item"),
        schema.results.c.step == bindparam("step"),
    )
    .order_by(schema.results.c.id.desc())
    .limit(1)
)


def latest_result(conn: Connection, item: str, step: str) -> dict[str, Any] | None:
    row = conn.execute(_LATEST_RESULT, {"item": item, "step": step}).mappings().first()
    if row is None:
        return None
    found = dict(row)
    found["data"] = json.loads(row["data"])
    return found


def step_versions(conn: Connection, item: str) -> dict[str, str]:
    """For each step that has succeeded on `item`, the latest version that did."""
    rows = conn.execute(
        select(schema.results.c.step, schema.results.c.step_version)
        .where(schema.results.c.item_sha256 == item, schema.results.c.status == "ok")
        .order_by(schema.results.c.id)
    )
    return {step: version for step, version in rows}
