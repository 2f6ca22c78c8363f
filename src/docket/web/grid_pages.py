"""Pages of a case's item grid read by the page, never by the case: the items in the order
they first arrived in the case, walked through the case's acquisitions by their ids (the
custody log's order), each row's name, first arrival and arrival count read for the page's
items only. A million-item case costs a page what a hundred-item one does (bench/web.py).

SQLite's planner, without statistics, answered "this item's acquisitions in this case"
through the case's index, scanning the whole case once per item (93 s for a page of 100 at
10,000 items). The case is therefore compared as an expression here (`case_id + 0`), which
no index serves, so the item's own index drives those lookups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, exists, select
from sqlalchemy.orm import aliased

from docket.catalogue import schema
from docket.catalogue.queries import in_chunks


def _in_case(case_id: int, column: Any) -> Any:
    return column + 0 == case_id


def page(
    conn: Connection, case_id: int, size: int, offset: int = 0, after: str | None = None
) -> list[str]:
    """The items of a page: `size` of them after the first `offset` (after the item `after`,
    when given: a key, so a deep page costs what the first does)."""
    mine, earlier = schema.acquisitions, aliased(schema.acquisitions)
    first_arrival = ~exists().where(
        earlier.c.item_sha256 == mine.c.item_sha256,
        _in_case(case_id, earlier.c.case_id),
        earlier.c.id < mine.c.id,
    )
    query = (
        select(mine.c.item_sha256)
        .where(mine.c.case_id == case_id, first_arrival)
        .order_by(mine.c.id)
        .limit(size)
    )
    if after is not None:
        start = select(mine.c.id).where(
            mine.c.item_sha256 == after, _in_case(case_id, mine.c.case_id)
        )
        query = query.where(mine.c.id > start.order_by(mine.c.id).limit(1).scalar_subquery())
    else:
        query = query.offset(offset)
    return [str(sha) for sha in conn.execute(query).scalars()]


def rows(conn: Connection, case_id: int, shas: Collection[str]) -> list[dict[str, Any]]:
    """The grid's row of each of `shas` (items of the case), in their first arrival's order:
    the fields docket.catalogue.queries.list_items gives, of the case's own arrivals."""
    arrivals: dict[str, list[Any]] = defaultdict(list)
    facts: dict[str, Any] = {}
    acquisitions, items = schema.acquisitions, schema.items
    for chunk in in_chunks(list(shas)):
        found = conn.execute(
            select(
                acquisitions.c.item_sha256,
                acquisitions.c.id,
                acquisitions.c.acquired_at,
                acquisitions.c.original_path,
                acquisitions.c.path_in_container,
            )
            .where(acquisitions.c.item_sha256.in_(chunk), _in_case(case_id, acquisitions.c.case_id))
            .order_by(acquisitions.c.id)
        )
        for row in found:
            arrivals[row.item_sha256].append(row)
        for fact in conn.execute(select(items).where(items.c.sha256.in_(chunk))).mappings():
            facts[fact["sha256"]] = fact
    listed = []
    for sha in sorted(arrivals, key=lambda sha: arrivals[sha][0].id):
        first, row = arrivals[sha][0], facts[sha]
        inner = f"!/{first.path_in_container}" if first.path_in_container else ""
        listed.append(
            {
                "sha256": sha,
                "size": int(row["size"]),
                "media_type": row["media_type"],
                "first_seen": min(str(a.acquired_at) for a in arrivals[sha]),
                "name": (first.original_path or "") + inner,
                "acquisitions": len(arrivals[sha]),
            }
        )
    return listed
