"""Read-side queries behind `ls` and `show` (and later the web app)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    TextClause,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
)

from docket.catalogue import schema
from docket.catalogue.records import latest_result
from docket.errors import AmbiguousIdError, NotFoundError
from docket.names import display_name

MIN_PREFIX = 4


IN_CHUNK = 5000  # values per IN (...): well under SQLite's and PostgreSQL's parameter limits


def in_chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    """`values` in slices small enough for one IN (...) each (a case may hold 100,000 items)."""
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def resolve_item(conn: Connection, prefix: str) -> str:
    """The full SHA-256 of the one item whose hash starts with `prefix`."""
    prefix = prefix.strip().lower()
    if len(prefix) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in prefix):
        raise NotFoundError(f"{prefix!r}: give at least {MIN_PREFIX} hex digits of a SHA-256")
    found = (
        conn.execute(
            select(schema.items.c.sha256).where(schema.items.c.sha256.startswith(prefix)).limit(2)
        )
        .scalars()
        .all()
    )
    if not found:
        raise NotFoundError(f"{prefix}: no item has a SHA-256 starting with this")
    if len(found) > 1:
        raise AmbiguousIdError(f"{prefix}: more than one item matches; give more digits")
    return str(found[0])


def in_cases(column: ColumnElement[Any], cases: Collection[int | None]) -> ColumnElement[bool]:
    """`column` (a case id) is one of `cases`; None in `cases` stands for rows of no case."""
    known = [c for c in cases if c is not None]
    found = column.in_(known)
    return or_(found, column.is_(None)) if None in cases else found


def type_counts(conn: Connection, case_id: int) -> dict[str, int]:
    """How many of the case's items have each media type, from the case's counts (kept by the
    database, migration 0020): a row a type, however many items."""
    counted = schema.case_type_counts.c
    rows = conn.execute(
        select(counted.media_type, counted["items"]).where(
            counted.case_id == case_id, counted["items"] > 0
        )
    )
    return {str(media_type): int(items) for media_type, items in rows}


def case_types(conn: Connection, case_id: int) -> list[str]:
    """The media types the case's items have, each found by one step down the case's index
    of types (a loose index scan): a case of a million items of three types costs three steps,
    where listing them distinct would read every entry."""
    found = conn.exec_driver_sql(
        "WITH RECURSIVE found(media_type) AS ("
        " SELECT min(media_type) FROM case_items WHERE case_id = %(case)s"
        " UNION ALL SELECT (SELECT min(media_type) FROM case_items"
        "  WHERE case_id = %(case)s AND media_type > found.media_type)"
        " FROM found WHERE found.media_type IS NOT NULL)"
        " SELECT media_type FROM found WHERE media_type IS NOT NULL"
        if conn.dialect.name == "postgresql"
        else "WITH RECURSIVE found(media_type) AS ("
        " SELECT min(media_type) FROM case_items WHERE case_id = :case"
        " UNION ALL SELECT (SELECT min(media_type) FROM case_items"
        "  WHERE case_id = :case AND media_type > found.media_type)"
        " FROM found WHERE found.media_type IS NOT NULL)"
        " SELECT media_type FROM found WHERE media_type IS NOT NULL",
        {"case": case_id},
    )
    return [str(media_type) for (media_type,) in found]


def items_of_types(
    conn: Connection, case_id: int, types: Collection[str], most: int
) -> set[str] | None:
    """The case's items of the media types `types`, read from the case's own index; None
    when there are more than `most`, as the case's counts by type say without reading them
    (counting 20,000 entries of the index to find them too many cost a filtered page 3.5 ms).
    The counts decide only that: what is read is bounded by `few`, and what passes by the
    index itself, so a count that is wrong costs time, never an item."""
    if not types:
        return set()
    counts = type_counts(conn, case_id)
    if sum(counts.get(media_type, 0) for media_type in types) > most:
        return None
    members = schema.case_items.c
    found = select(members.item_sha256).where(
        members.case_id == case_id, members.media_type.in_(list(types))
    )
    return few(conn, found, most)


def few(
    conn: Connection,
    found: Select[Any] | TextClause,
    most: int,
    parameters: Mapping[str, Any] | None = None,
) -> set[str] | None:
    """What `found` gives (one column of SHA-256s; a text statement reads at most `:most`
    rows) when it gives no more than `most` rows, else None. The rows are counted by the
    database first, so a set too big to use is never read into Python: reading 20,000
    SHA-256s to find them too many cost a filtered grid page 40 ms."""
    values = dict(parameters or {})
    if more_than(conn, found, most, values):
        return None
    if isinstance(found, Select):
        found = found.limit(most + 1)
    else:
        values["most"] = most + 1
    return {str(sha) for sha in conn.execute(found, values).scalars()}


def more_than(
    conn: Connection,
    found: Select[Any] | TextClause,
    most: int,
    parameters: Mapping[str, Any] | None = None,
) -> bool:
    """Whether `found` gives more than `most` rows (a text statement reads at most `:most`
    rows), counted by the database no further than `most` + 1."""
    values = dict(parameters or {})
    counted: Select[Any] | TextClause
    if isinstance(found, Select):
        counted = select(func.count()).select_from(found.limit(most + 1).subquery())
    else:
        values["most"] = most + 1
        counted = text(f"SELECT count(*) FROM ({found.text}) AS found")
    return int(conn.execute(counted, values).scalar_one()) > most


def case_events(
    case_id: int, before: int | None = None, action: str | None = None, actor: str | None = None
) -> Select[Any]:
    """The events of the items the case holds (of one `action`, by one `actor`, when given),
    newest first (below log position `before` when given), read from the case's own rows
    (case_events, migration 0019): however much other cases did meanwhile, none of their events
    is read. A superset of the case's own work (other cases' work on shared bytes), which
    docket.scope narrows."""
    held = schema.case_events.c
    found = (
        select(schema.events)
        .join(schema.case_events, held.event_seq == schema.events.c.seq)
        .where(held.case_id == case_id)
        .order_by(held.event_seq.desc())
    )
    if action is not None:
        found = found.where(held.action == action)
    if actor is not None:
        found = found.where(held.actor == actor)
    return found if before is None else found.where(held.event_seq < before)


def case_id_of(conn: Connection, case: str) -> int:
    found = conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == case)).scalar()
    if found is None:
        raise NotFoundError(f"case {case!r}: no such case")
    return int(found)


def list_items(
    conn: Connection,
    case: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    only: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Items (of a case; of `only` when given), first seen first, each with its first name.

    For a case, the name, arrival count and first arrival are that case's own (docket.scope);
    without one, every acquisition's (the locker holder's view)."""
    items, acquisitions = schema.items, schema.acquisitions
    case_id = None if case is None else case_id_of(conn, case)
    mine = acquisitions.c.item_sha256 == items.c.sha256
    if case_id is not None:
        mine = and_(mine, acquisitions.c.case_id == case_id)
    first_name = (
        select(acquisitions.c.original_path, acquisitions.c.path_in_container)
        .where(mine)
        .order_by(acquisitions.c.id)
        .limit(1)
        .correlate(items)
    )
    count = select(func.count()).where(mine).correlate(items).scalar_subquery()
    first_seen = (
        items.c.first_seen
        if case_id is None
        else select(func.min(acquisitions.c.acquired_at))
        .where(mine)
        .correlate(items)
        .scalar_subquery()
    ).label("seen")
    query = select(
        items,
        first_seen,
        first_name.with_only_columns(acquisitions.c.original_path).scalar_subquery().label("name"),
        first_name.with_only_columns(acquisitions.c.path_in_container)
        .scalar_subquery()
        .label("inner"),
        count.label("acquisitions"),
    ).order_by(first_seen, items.c.sha256)
    if case_id is not None:
        query = query.join(schema.case_items, schema.case_items.c.item_sha256 == items.c.sha256)
        query = query.where(schema.case_items.c.case_id == case_id)
    if only is not None:
        query = query.where(items.c.sha256.in_(list(only)))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    rows = []
    for row in conn.execute(query).mappings():
        name = (row["name"] or "") + (f"!/{row['inner']}" if row["inner"] else "")
        rows.append(
            {
                "sha256": row["sha256"],
                "size": int(row["size"]),
                "media_type": row["media_type"],
                "first_seen": row["seen"] or row["first_seen"],
                "name": name,
                "acquisitions": int(row["acquisitions"]),
            }
        )
    return rows


# Built once: every request for an item asks these (building cost more than running them).
_ITEM_ROW = select(schema.items).where(schema.items.c.sha256 == bindparam("sha256"))
_STEP_RESULTS = (
    select(
        schema.results.c.step,
        schema.results.c.step_version,
        schema.results.c.status,
        schema.results.c.error,
        schema.results.c.event_seq,
    )
    .where(schema.results.c.item_sha256 == bindparam("sha256"))
    .order_by(schema.results.c.id)
)
# The keyframes of the item's latest keyframes result: an item analysed again, or whose
# analysis a later case's arrival repeated (docket.case_analysis), has earlier ones too.
_LATEST_KEYFRAMES_RESULT = (
    select(func.max(schema.results.c.event_seq))
    .where(
        schema.results.c.item_sha256 == bindparam("sha256"),
        schema.results.c.step == "keyframes",
        schema.results.c.status == "ok",
    )
    .scalar_subquery()
)
_KEYFRAMES = (
    select(schema.derivatives.c.frame_time, schema.derivatives.c.sha256)
    .where(
        schema.derivatives.c.item_sha256 == bindparam("sha256"),
        schema.derivatives.c.kind == "keyframe",
        schema.derivatives.c.event_seq == _LATEST_KEYFRAMES_RESULT,
    )
    .order_by(schema.derivatives.c.frame_time)
)


def describe_item(
    conn: Connection,
    sha256: str,
    cases_shown: Collection[int | None] | None = None,
    events_shown: Collection[int] | None = None,
) -> dict[str, Any]:
    """An item's facts and acquisitions: of the cases `cases_shown` (a docket.scope view's
    `cases`; its first arrival is theirs), or of every case when None. Its analysis (the steps
    run, their versions, statuses and errors) lists only results whose events are among
    `events_shown` (the events the view shows), when given: a step another case's person ran
    is that case's to know. The metadata is a fact of the bytes, shown to every case."""
    row = conn.execute(_ITEM_ROW, {"sha256": sha256}).mappings().one()
    query = (
        select(schema.acquisitions, schema.sources.c.pseudonym)
        .outerjoin(schema.sources, schema.acquisitions.c.source_id == schema.sources.c.id)
        .where(schema.acquisitions.c.item_sha256 == sha256)
        .order_by(schema.acquisitions.c.id)
    )
    cases_query = (
        select(schema.cases.c.name)
        .join(schema.case_items, schema.case_items.c.case_id == schema.cases.c.id)
        .where(schema.case_items.c.item_sha256 == sha256)
        .order_by(schema.cases.c.name)
    )
    if cases_shown is not None:
        query = query.where(in_cases(schema.acquisitions.c.case_id, cases_shown))
        cases_query = cases_query.where(in_cases(schema.cases.c.id, cases_shown))
    acquisitions = list(conn.execute(query).mappings())
    cases = conn.execute(cases_query).scalars()
    first_seen = row["first_seen"]
    if cases_shown is not None and acquisitions:
        first_seen = min(str(acq["acquired_at"]) for acq in acquisitions)
    metadata = latest_result(conn, sha256, "metadata")
    steps = conn.execute(_STEP_RESULTS, {"sha256": sha256}).all()
    latest = {
        step: (version, status, error)
        for step, version, status, error, seq in steps
        if events_shown is None or seq in events_shown
    }
    return {
        "sha256": row["sha256"],
        "sha512": row["sha512"],
        "size": int(row["size"]),
        "media_type": row["media_type"],
        "first_seen": first_seen,
        "cases": list(cases),
        "acquisitions": [
            {
                "acquired_at": acq["acquired_at"],
                "collector": acq["collector"],
                "source": acq["pseudonym"],
                "method": acq["method"],
                # Shown from the bytes the log proves, never the display columns beside them.
                "original_path": display_name(bytes(acq["original_path_raw"])),
                "container": acq["container_sha256"],
                "path_in_container": None
                if acq["path_in_container_raw"] is None
                else display_name(bytes(acq["path_in_container_raw"])),
                "file_mtime": acq["file_mtime"],
                "note": acq["note"],
                "url_of_origin": acq["url_of_origin"],
                "collected_at": acq["collected_at"],
                "event": int(acq["event_seq"]),
            }
            for acq in acquisitions
        ],
        "analysis": [
            {"step": step, "version": version, "status": status, "error": error}
            for step, (version, status, error) in latest.items()
        ],
        "incomplete": any(status != "ok" for _, status, _ in latest.values()),
        "metadata": None
        if metadata is None
        else {
            "status": metadata["status"],
            "error": metadata["error"],
            **metadata["data"].get("normalised", {}),
        },
    }


def raw_metadata(conn: Connection, sha256: str) -> str | None:
    found = latest_result(conn, sha256, "metadata")
    if found is None or found["status"] != "ok":
        return None
    return json.dumps(found["data"].get("raw"), indent=2, ensure_ascii=False)


def derivative_paths(conn: Connection, sha256: str) -> dict[str, str]:
    """Store blob names of an item's previews, by kind (the latest of each kind)."""
    rows = conn.execute(
        select(schema.derivatives.c.kind, schema.derivatives.c.sha256)
        .where(
            schema.derivatives.c.item_sha256 == sha256,
            schema.derivatives.c.kind.in_(["thumbnail", "safe_preview"]),
        )
        .order_by(schema.derivatives.c.id)
    )
    return {kind: blob for kind, blob in rows}


def keyframes(conn: Connection, sha256: str) -> list[tuple[float | None, str]]:
    rows = conn.execute(_KEYFRAMES, {"sha256": sha256})
    return [(time, blob) for time, blob in rows]
