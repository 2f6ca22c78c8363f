"""Reviewer safety: flags on items, and reveals of originals, each a custody event.

An item is shown only as its safe preview unless someone flagged it `clear` in the case it is
looked at through (flags are per case, docket.scope); `graphic`, `sensitive` and unreviewed
items stay blurred. Seeing the original takes an explicit reveal, and every reveal is logged
(who, when, which item, in which case, what was shown).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from docket.catalogue import prebuilt, queries, schema
from docket.custody import log
from docket.custody.events import Event
from docket.errors import DocketError
from docket.scope import Scope, holding_cases

FLAGS = ("graphic", "sensitive", "clear")
UNREVIEWED = "unreviewed"


def flag(
    conn: Connection, actor: str, item: str, value: str, scope: Scope, source: str = "hand"
) -> Event:
    """Flag an item in the case `scope` looks through."""
    if value not in FLAGS:
        raise DocketError(f"{value!r}: a flag is one of {', '.join(FLAGS)}")
    event = log.append(
        conn,
        actor,
        "item.flagged",
        item=item,
        details={"flag": value, "by": source, "case": scope.case},
    )
    conn.execute(
        insert(schema.flags).values(
            item_sha256=item, flag=value, event_seq=event.seq, case_id=scope.case_id
        )
    )
    return event


def current_flag(conn: Connection, item: str, scope: Scope) -> str:
    """The latest flag set by hand in the case, else the classifier's proposal, else
    unreviewed."""
    return current_flags(conn, [item], scope)[item]


def current_flags(conn: Connection, items: Sequence[str], scope: Scope) -> dict[str, str]:
    """current_flag of many items, in two statements (a grid page asks for 100)."""
    made = prebuilt.statements(conn, _build)
    dialect, cases = conn.dialect.name, prebuilt.view(scope.case_id, scope.cases)
    found: dict[str, str] = {}
    by_hand = conn.execute(made.by_hand, {prebuilt.LISTED: prebuilt.values(dialect, items)} | cases)
    for item, value in by_hand:
        found[item] = str(value)  # the latest wins
    proposed: dict[str, tuple[str, str]] = {}
    unflagged = [i for i in items if i not in found]
    if unflagged:
        rows = conn.execute(made.proposed, {prebuilt.LISTED: prebuilt.values(dialect, unflagged)})
        for item, status, data in rows:
            proposed[item] = (str(status), str(data))  # the latest classification wins
    for item, (status, data) in proposed.items():
        value = json.loads(data).get("flag") if status == "ok" else None
        if value:
            found[item] = str(value)
    return {item: found.get(item, UNREVIEWED) for item in items}


def flag_counts(conn: Connection, scope: Scope, items: int) -> dict[str, int]:
    """How many of the case's `items` items have each current flag (current_flags, counted
    by the database: a case of a million items is never read into memory), most first."""
    assert scope.case_id is not None
    built = prebuilt.statements(conn, _build_counts)
    given = prebuilt.view(scope.case_id, scope.cases) | {"most": items}
    by_hand = built.by_hand[_fewer(conn, built.flags_fewer, given)]
    counted = {str(flag): int(count) for flag, count in conn.execute(by_hand, given)}
    proposed = built.proposed[_fewer(conn, built.classified_fewer, given)]
    for flag, count in conn.execute(proposed, given):
        if flag:
            counted[str(flag)] = counted.get(str(flag), 0) + int(count)
    counted[UNREVIEWED] = counted.get(UNREVIEWED, 0) + items - sum(counted.values())
    shown = [(flag, count) for flag, count in counted.items() if count > 0]
    return dict(sorted(shown, key=lambda pair: -pair[1]))


@dataclass(frozen=True)
class _Counts:
    """flag_counts' statements, built once per dialect (building them cost more than the
    database's answer), the case bound as `case` and its item count as `most`."""

    flags_fewer: Select[Any]  # whether the flags are fewer than `most`
    classified_fewer: Select[Any]  # whether the classifications are
    by_hand: dict[bool, Select[Any]]  # the latest flag by hand of each item, counted by flag
    proposed: dict[bool, Select[Any]]  # items with no flag by hand, by their proposed flag


def _build_counts(dialect: str) -> _Counts:
    flags, results, members = schema.flags, schema.results, schema.case_items
    held = members.c.case_id == bindparam("case")
    later_flag = flags.alias()
    by_hand = {
        fewer: select(flags.c.flag, func.count())
        .select_from(flags)
        .where(
            _driven(fewer, held, flags.c.item_sha256),
            prebuilt.in_view(flags.c.case_id),
            ~exists().where(
                later_flag.c.item_sha256 == flags.c.item_sha256,
                prebuilt.in_view(later_flag.c.case_id),
                later_flag.c.id > flags.c.id,
            ),
        )
        .group_by(flags.c.flag)
        for fewer in (False, True)
    }
    any_flag = flags.alias()
    later_result = results.alias()
    proposal = _proposed_flag(dialect, results.c.data)
    classified = and_(results.c.step == "classify", results.c.status == "ok")
    proposed = {
        fewer: select(proposal, func.count())
        .select_from(results)
        .where(
            _driven(fewer, held, results.c.item_sha256),
            classified,
            ~exists().where(
                later_result.c.item_sha256 == results.c.item_sha256,
                later_result.c.step == "classify",
                later_result.c.id > results.c.id,
            ),
            ~exists().where(
                any_flag.c.item_sha256 == results.c.item_sha256,
                prebuilt.in_view(any_flag.c.case_id),
            ),
        )
        .group_by(proposal)
        for fewer in (False, True)
    }
    return _Counts(
        _counted_to_most(select(flags.c.id)),
        _counted_to_most(select(results.c.id).where(classified)),
        by_hand,
        proposed,
    )


def _driven(
    fewer: bool, held: ColumnElement[bool], item: ColumnElement[str]
) -> ColumnElement[bool]:
    """The condition that `item` (a column of a table of rows) is of the case (`held`),
    written so that SQLite is driven by the rows when they are `fewer` than the case's items:
    a case of a million items beside few flags or classifications is counted through those
    (it walked the million items, 100 ms each way, to find none); a small case beside many,
    through its items."""
    members = schema.case_items.c
    if fewer:
        return exists().where(held, members.item_sha256 == item)
    return and_(held, members.item_sha256 == item)


def _counted_to_most(rows: Select[Any]) -> Select[Any]:
    """How many `rows` there are, counted no further than the bound `most`."""
    return select(func.count()).select_from(rows.limit(bindparam("most")).subquery())


def _fewer(conn: Connection, counted: Select[Any], given: dict[str, Any]) -> bool:
    """Whether the rows `counted` (_counted_to_most) are fewer than the bound `most`."""
    return int(conn.execute(counted, given).scalar_one()) < int(given["most"])


def flag_is(dialect: str, item: ColumnElement[str], flag: str) -> ColumnElement[bool]:
    """The current flag of `item` (a column) in the view bound as prebuilt.in_view's
    parameters is `flag`: current_flags as a condition, so a list filtered by flag is cut into
    pages by the database. The latest flag set by hand in the view, else what the latest
    classification proposes when it succeeded, else unreviewed."""
    flags, results = schema.flags.c, schema.results.c
    by_hand = (
        select(flags.flag)
        .where(flags.item_sha256 == item, prebuilt.in_view(flags.case_id))
        .order_by(flags.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    proposal = case((results.status == "ok", _proposed_flag(dialect, results.data)))
    proposed = (
        select(proposal)
        .where(results.item_sha256 == item, results.step == "classify")
        .order_by(results.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(by_hand, func.nullif(proposed, ""), UNREVIEWED) == flag


# Successful classifications proposing a flag, written as migration 0016's
# ix_results_proposed_flag indexes them so that each database answers from that index.
_EVER_PROPOSED = {
    "sqlite": "SELECT item_sha256 FROM results WHERE step = 'classify' AND status = 'ok'"
    " AND json_extract(data, '$.flag') = :flag LIMIT :most",
    "postgresql": "SELECT item_sha256 FROM results WHERE step = 'classify' AND status = 'ok'"
    " AND (jsonb_extract_path_text(data::jsonb, 'flag')) = :flag LIMIT :most",
}


def ever_flagged(conn: Connection, scope: Scope, flag: str, most: int) -> set[str] | None:
    """The items ever flagged `flag` by hand in the view, or proposed it by a classification
    that succeeded: those that have it now (flag_is) are among them. None when there are
    more than `most` (or the flag is `unreviewed`, which needs no record)."""
    if flag == UNREVIEWED:
        return None
    flags = schema.flags.c
    in_view = flags.case_id == scope.case_id
    if None in scope.cases:
        in_view = or_(in_view, flags.case_id.is_(None))
    by_hand = select(flags.item_sha256).where(flags.flag == flag, in_view).distinct()
    items = queries.few(conn, by_hand, most)
    # Counted in rows (an item proposed twice is two): a cut list of rows could leave some
    # items out.
    proposed = queries.few(conn, text(_EVER_PROPOSED[conn.dialect.name]), most, {"flag": flag})
    if items is None or proposed is None or len(items | proposed) > most:
        return None
    return items | proposed


def _proposed_flag(dialect: str, data: Any) -> Any:
    """The flag a classifier's result (JSON text) proposes, read by the database."""
    if dialect == "postgresql":
        return cast(func.jsonb_extract_path_text(cast(data, JSONB), "flag"), String)
    return cast(func.json_extract(data, "$.flag"), String)


@dataclass(frozen=True)
class _Statements:
    by_hand: Select[Any]  # flags set by hand in the view's cases, oldest first
    proposed: Select[Any]  # the classifier's results, oldest first


def _build(dialect: str) -> _Statements:
    flags, results = schema.flags.c, schema.results.c
    return _Statements(
        by_hand=select(flags.item_sha256, flags.flag)
        .where(prebuilt.listed(dialect, flags.item_sha256), prebuilt.in_view(flags.case_id))
        .order_by(flags.id),
        proposed=select(results.item_sha256, results.status, results.data)
        .where(prebuilt.listed(dialect, results.item_sha256), results.step == "classify")
        .order_by(results.id),
    )


def may_show_unblurred(conn: Connection, item: str, scope: Scope) -> bool:
    return current_flag(conn, item, scope) == "clear"


def reveal(
    conn: Connection, actor: str, item: str, what: str = "original", scope: Scope | None = None
) -> Event:
    """Log that `actor` is being shown `what` of `item` in the case `scope` looks through;
    call before showing it. Without a scope, the reveal belongs to the item's only case, or to
    no case (admins only) when several hold it."""
    if scope is None:
        holding = holding_cases(conn, item)
        scope = Scope(*holding[0]) if len(holding) == 1 else Scope(None, None)
    return log.append(
        conn,
        actor,
        "item.revealed",
        item=item,
        details={"shown": what, "flag": current_flag(conn, item, scope), "case": scope.case},
    )
