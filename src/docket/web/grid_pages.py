"""Pages of a case's item grid read by the page, never by the case: the items in the order
they first arrived in the case, read from the case's own index of its memberships by their
first arrival (case_items.first_acquisition, migration 0021), each row's name, first arrival
and arrival count read for the page's items only. A million-item case costs a page what a
hundred-item one does (bench/web.py).

SQLite's planner, without statistics, answered "this item's acquisitions in this case"
through the case's index, scanning the whole case once per item (93 s for a page of 100 at
10,000 items). The case is therefore compared as an expression here (`case_id + 0`), which
no index serves, where an item's own index must drive the lookup.

Every grid request runs these, so each is built once per dialect (docket.catalogue.prebuilt).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    ScalarSelect,
    Select,
    bindparam,
    select,
)

from docket.catalogue import prebuilt, schema


def _in_case(column: Any) -> Any:
    return column + 0 == bindparam("case")


@dataclass(frozen=True)
class _Statements:
    by_number: Select[Any]
    by_key: Select[Any]
    before_key: Select[Any]  # newest first: the page before, read backwards
    rows: Select[Any]


def _first_arrivals(
    mine: Any,
    in_case: ColumnElement[bool],
    backwards: bool = False,
    conditions: Sequence[ColumnElement[bool]] = (),
    sorted_after: bool = False,
) -> Select[Any]:
    """Each item of the case once (`mine`: memberships), by its first arrival in the case,
    in the custody log's order (`backwards`: the other way), that `conditions` keep; ordered
    by an expression no index serves when `sorted_after` (the conditions' own index should
    find them)."""
    first = mine.c.first_acquisition
    by = prebuilt.unindexed(first) if sorted_after else first
    order = by.desc() if backwards else by
    # Not-null tested on the same expression: the arrival index must not serve it either.
    kept = [in_case, by.is_not(None), *conditions]
    return select(mine.c.item_sha256).where(*kept).order_by(order)


def _key(name: str) -> ScalarSelect[Any]:
    """The first arrival in the case of the item bound as `name` (NULL when the case does not
    hold it: no page then)."""
    key = schema.case_items.alias()
    return (
        select(key.c.first_acquisition)
        .where(key.c.case_id == bindparam("case"), key.c.item_sha256 == bindparam(name))
        .scalar_subquery()
    )


def _build(dialect: str) -> _Statements:
    mine = schema.case_items.alias()
    in_case = mine.c.case_id == bindparam("case")
    page = _first_arrivals(mine, in_case).limit(bindparam("size"))
    page_before = _first_arrivals(mine, in_case, backwards=True).limit(bindparam("size"))
    acquisitions, items = schema.acquisitions, schema.items
    rows = (
        select(
            acquisitions.c.item_sha256,
            acquisitions.c.acquired_at,
            acquisitions.c.original_path,
            acquisitions.c.path_in_container,
            items.c.size,
            items.c.media_type,
        )
        .join(items, items.c.sha256 == acquisitions.c.item_sha256)
        .where(
            prebuilt.listed(dialect, acquisitions.c.item_sha256),
            _in_case(acquisitions.c.case_id),
        )
        .order_by(acquisitions.c.id)
    )
    first = mine.c.first_acquisition
    return _Statements(
        by_number=page.offset(bindparam("offset")),
        by_key=page.where(first > _key("after")),
        before_key=page_before.where(first < _key("before")),
        rows=rows,
    )


@dataclass(frozen=True)
class Cut:
    """Which page of a list: `size` items (None: every one) after the first `offset`; or,
    by key, so that a deep page costs what the first does, the `size` after the item `after`
    or the `size` just before the item `before`."""

    size: int | None
    offset: int = 0
    after: str | None = None
    before: str | None = None


def page(conn: Connection, case_id: int, cut: Cut) -> list[str]:
    """The items of the case's page `cut` (its size given)."""
    made = prebuilt.statements(conn, _build)
    values = {"case": case_id, "size": cut.size}
    if cut.after is not None:
        found = conn.execute(made.by_key, values | {"after": cut.after})
    elif cut.before is not None:
        backwards = conn.execute(made.before_key, values | {"before": cut.before})
        return [str(sha) for sha in backwards.scalars()][::-1]
    else:
        found = conn.execute(made.by_number, values | {"offset": cut.offset})
    return [str(sha) for sha in found.scalars()]


@dataclass(frozen=True)
class Narrowing:
    """What a filter asks of each item: `conditions` on its membership row (a
    schema.case_items alias), the items it must be among (`only`: None for any), and whether
    the conditions keep few of the case's items by what the membership carries (its capture
    time), to be read by that index and `sorted_after`."""

    conditions: Callable[[Any], list[ColumnElement[bool]]]
    only: Collection[str] | None = None
    sorted_after: bool = False


def filtered_page(
    conn: Connection,
    case_id: int,
    narrowing: Narrowing,
    parameters: Mapping[str, Any],
    cut: Cut,
) -> list[str]:
    """The items of a filtered page, cut as `page` cuts them: those for which the conditions
    `narrowing.conditions(item)` hold (their values bound by `parameters`), and that are
    among `narrowing.only` when it names some.

    Without `only` the case is walked in its order until a page is found, so a filter most
    items pass costs what a page does; a condition an index in that order serves (a
    position) drives the walk; when the filter keeps few by what the membership carries
    (`sorted_after`), the order is an expression no index serves, and the planner reads the
    few from the case's index of capture times, then sorts them. With `only`
    (a text search's matches, a group) the listed items drive, each looked up by its own
    index, and then the matches are sorted."""
    mine = schema.case_items.alias()
    backwards = cut.before is not None
    conditions = narrowing.conditions(mine)
    if narrowing.only is None:
        in_case = mine.c.case_id == bindparam("case")
        statement = _first_arrivals(mine, in_case, backwards, conditions, narrowing.sorted_after)
    else:  # each listed item looked up by its own index, never the case's walked
        listed = prebuilt.listed(conn.dialect.name, mine.c.item_sha256, "only")
        conditions = [listed, *conditions]
        statement = _first_arrivals(mine, _in_case(mine.c.case_id), backwards, conditions)
    first = mine.c.first_acquisition
    values: dict[str, Any] = {**parameters, "case": case_id}
    if narrowing.only is not None:
        values["only"] = prebuilt.values(conn.dialect.name, narrowing.only)
    if cut.after is not None:
        statement = statement.where(first > _key("after"))
        values["after"] = cut.after
    elif cut.before is not None:
        statement = statement.where(first < _key("before"))
        values["before"] = cut.before
    if cut.size is not None:
        statement = statement.limit(cut.size).offset(cut.offset)
    found = [str(sha) for sha in conn.execute(statement, values).scalars()]
    return found[::-1] if backwards else found


def rows(conn: Connection, case_id: int, shas: Collection[str]) -> list[dict[str, Any]]:
    """The grid's row of each of `shas` (items of the case), in their first arrival's order:
    the fields docket.catalogue.queries.list_items gives, of the case's own arrivals."""
    listed: dict[str, dict[str, Any]] = {}
    if not shas:
        return []
    parameters = {"case": case_id, prebuilt.LISTED: prebuilt.values(conn.dialect.name, shas)}
    for sha, acquired_at, original_path, inner, size, media_type in conn.execute(
        prebuilt.statements(conn, _build).rows, parameters
    ):
        row = listed.get(sha)
        acquired = str(acquired_at)
        if row is None:  # its first arrival in the case: the name the grid shows
            name = (original_path or "") + (f"!/{inner}" if inner else "")
            listed[sha] = {
                "sha256": sha,
                "size": int(size),
                "media_type": media_type,
                "first_seen": acquired,
                "name": name,
                "acquisitions": 1,
            }
        else:
            row["first_seen"] = min(row["first_seen"], acquired)
            row["acquisitions"] += 1
    return list(listed.values())
