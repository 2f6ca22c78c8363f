"""Reviewer safety: flags on items, and reveals of originals, each a custody event.

An item is shown only as its safe preview unless someone flagged it `clear`; `graphic`,
`sensitive` and unreviewed items stay blurred everywhere. Seeing the original takes an
explicit reveal, and every reveal is logged (who, when, which item, what was shown).
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from docket.catalogue import schema
from docket.catalogue.records import latest_result
from docket.custody import log
from docket.custody.events import Event
from docket.errors import DocketError

FLAGS = ("graphic", "sensitive", "clear")
UNREVIEWED = "unreviewed"


def flag(conn: Connection, actor: str, item: str, value: str, source: str = "hand") -> Event:
    if value not in FLAGS:
        raise DocketError(f"{value!r}: a flag is one of {', '.join(FLAGS)}")
    event = log.append(
        conn, actor, "item.flagged", item=item, details={"flag": value, "by": source}
    )
    conn.execute(insert(schema.flags).values(item_sha256=item, flag=value, event_seq=event.seq))
    return event


def current_flag(conn: Connection, item: str) -> str:
    """The latest flag set by hand, else the classifier's proposal, else unreviewed."""
    found = conn.execute(
        select(schema.flags.c.flag)
        .where(schema.flags.c.item_sha256 == item)
        .order_by(schema.flags.c.id.desc())
        .limit(1)
    ).scalar()
    if found is not None:
        return str(found)
    proposal = latest_result(conn, item, "classify")
    if proposal is not None and proposal["status"] == "ok" and proposal["data"].get("flag"):
        return str(proposal["data"]["flag"])
    return UNREVIEWED


def may_show_unblurred(conn: Connection, item: str) -> bool:
    return current_flag(conn, item) == "clear"


def reveal(conn: Connection, actor: str, item: str, what: str = "original") -> Event:
    """Log that `actor` is being shown `what` of `item`; call before showing it."""
    return log.append(
        conn,
        actor,
        "item.revealed",
        item=item,
        details={"shown": what, "flag": current_flag(conn, item)},
    )
