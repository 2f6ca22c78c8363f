"""Reviewer safety: flags on items, and reveals of originals, each a custody event.

An item is shown only as its safe preview unless someone flagged it `clear` in the case it is
looked at through (flags are per case, docket.scope); `graphic`, `sensitive` and unreviewed
items stay blurred. Seeing the original takes an explicit reveal, and every reveal is logged
(who, when, which item, in which case, what was shown).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection, insert, select

from docket.catalogue import schema
from docket.catalogue.queries import in_cases, in_chunks
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


def current_flags(conn: Connection, items: list[str], scope: Scope) -> dict[str, str]:
    """current_flag of many items, two queries per few thousand (a grid page asks for 100)."""
    found: dict[str, str] = {}
    for chunk in in_chunks(items):
        found.update(_current_flags(conn, chunk, scope))
    return found


def _current_flags(conn: Connection, items: Sequence[str], scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    by_hand = conn.execute(
        select(schema.flags.c.item_sha256, schema.flags.c.flag)
        .where(
            schema.flags.c.item_sha256.in_(items),
            in_cases(schema.flags.c.case_id, scope.cases),
        )
        .order_by(schema.flags.c.id)
    )
    for item, value in by_hand:
        found[item] = str(value)  # the latest wins
    proposed: dict[str, tuple[str, str]] = {}
    rows = conn.execute(
        select(schema.results.c.item_sha256, schema.results.c.status, schema.results.c.data)
        .where(
            schema.results.c.item_sha256.in_([i for i in items if i not in found]),
            schema.results.c.step == "classify",
        )
        .order_by(schema.results.c.id)
    )
    for item, status, data in rows:
        proposed[item] = (str(status), str(data))  # the latest classification wins
    for item, (status, data) in proposed.items():
        value = json.loads(data).get("flag") if status == "ok" else None
        if value:
            found[item] = str(value)
    return {item: found.get(item, UNREVIEWED) for item in items}


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
