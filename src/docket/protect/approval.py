"""Approval for publication: a person names the one copy of an item that may be published.

A publication export publishes exactly the copy approved in the case it exports, or nothing
of the item (docket.disclose.publication); it never picks a copy by itself. An approval is a
person's record, so it belongs to the case it was made in (the scope rule, docket.scope):
approving a copy in case B approves nothing in case A. Each approval and each revocation is
a custody event (`derivative.approved`, `derivative.approval_revoked`: the item, the copy's
SHA-256 and kind, the case, who, how many faces they acknowledged and their note) written
with its catalogue row; the latest row of an item and case is in force, and a later approval
replaces an earlier one.

Only redacted and stripped copies can be approved. What the approver acknowledges is what the
export's re-check lets through: `acknowledged_faces` faces the detector may still find in a
frame (outside the redaction boxes of a redacted copy), 0 unless they say so.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from docket.catalogue import schema
from docket.custody import log
from docket.custody.events import Event
from docket.errors import DocketError, NotFoundError
from docket.scope import Scope, visible_events

APPROVABLE = ("redacted", "stripped")
APPROVED = "derivative.approved"
REVOKED = "derivative.approval_revoked"
MAX_FACES = 1000


@dataclass(frozen=True)
class Copy:
    """A redacted or stripped copy of an item, as the step that made it recorded it."""

    sha256: str
    kind: str
    media_type: str
    event_seq: int
    stripped: bool  # metadata removed (always for `stripped`; a redaction's choice)


@dataclass(frozen=True)
class Approval:
    item: str
    derivative: str
    acknowledged_faces: int
    note: str | None
    event_seq: int


# Built once: every request for an item asks these.
_COPIES = (
    select(
        schema.derivatives.c.sha256,
        schema.derivatives.c.kind,
        schema.derivatives.c.media_type,
        schema.derivatives.c.event_seq,
        schema.results.c.data,
    )
    .join(schema.results, schema.results.c.event_seq == schema.derivatives.c.event_seq)
    .where(
        schema.derivatives.c.item_sha256 == bindparam("item"),
        schema.derivatives.c.kind.in_(APPROVABLE),
    )
    .order_by(schema.derivatives.c.id)
)
_APPROVAL_IN_FORCE = (  # its own case only, never another's, even for admins
    select(schema.approvals)
    .where(
        schema.approvals.c.item_sha256 == bindparam("item"),
        schema.approvals.c.case_id.is_not_distinct_from(bindparam("case")),
    )
    .order_by(schema.approvals.c.id.desc())
    .limit(1)
)


def copies(
    conn: Connection, item: str, view: Scope, shown: Collection[int] | None = None
) -> list[Copy]:
    """The item's redacted and stripped copies whose making the case `view` looks through
    may see, oldest first. A copy made by another case's person is not offered: its making
    event names them, and a package of this case could not prove the copy without it (the
    same bytes made again in this case are offered, with this case's event). `shown`: the
    sequence numbers of the item's events the view shows, when the caller has them."""
    rows = conn.execute(_COPIES, {"item": item}).all()
    if shown is None:
        # Who the case knows is read from all of the item's events, not the making ones alone.
        shown = {e.seq for e in visible_events(conn, view, log.events(conn, item))}
    return [
        Copy(
            str(sha),
            str(kind),
            str(media_type),
            int(seq),
            kind == "stripped" or bool(json.loads(data).get("stripped")),
        )
        for sha, kind, media_type, seq, data in rows
        if int(seq) in shown
    ]


def resolve_copy(conn: Connection, item: str, prefix: str, view: Scope) -> Copy:
    """The one redacted or stripped copy of `item` whose SHA-256 starts with `prefix`."""
    wanted = prefix.strip().lower()
    if not wanted or any(c not in "0123456789abcdef" for c in wanted):
        raise DocketError(f"{prefix!r}: give hex digits of the copy's SHA-256")
    found = {c.sha256: c for c in copies(conn, item, view) if c.sha256.startswith(wanted)}
    if not found:
        raise NotFoundError(
            f"{wanted}: no redacted or stripped copy of item {item[:12]} starts with this "
            f"(`docket show {item[:12]}` lists its copies)"
        )
    if len(found) > 1:
        raise DocketError(f"{wanted}: more than one copy of item {item[:12]} matches")
    return next(iter(found.values()))


def approve(
    conn: Connection,
    actor: str,
    item: str,
    prefix: str,
    scope: Scope,
    acknowledged_faces: int = 0,
    note: str | None = None,
) -> Event:
    """Approve one copy of `item` for publication in the case `scope` looks through."""
    if not 0 <= acknowledged_faces <= MAX_FACES:
        raise DocketError(f"--acknowledge-faces {acknowledged_faces}: give 0 to {MAX_FACES}")
    copy = resolve_copy(conn, item, prefix, scope)
    event = log.append(
        conn,
        actor,
        APPROVED,
        item=item,
        details={
            "case": scope.case,
            "derivative": copy.sha256,
            "kind": copy.kind,
            "acknowledged_faces": acknowledged_faces,
            "note": note,
        },
    )
    _record(conn, item, scope, copy.sha256, acknowledged_faces, note, event)
    return event


def revoke(conn: Connection, actor: str, item: str, scope: Scope) -> Event:
    """Withdraw the approval in force in the case; the item is then not published."""
    current = approved(conn, item, scope)
    if current is None:
        raise DocketError(f"item {item[:12]}: no copy is approved in this case")
    event = log.append(
        conn,
        actor,
        REVOKED,
        item=item,
        details={"case": scope.case, "derivative": current.derivative},
    )
    _record(conn, item, scope, None, 0, None, event)
    return event


def _record(
    conn: Connection,
    item: str,
    scope: Scope,
    derivative: str | None,
    faces: int,
    note: str | None,
    event: Event,
) -> None:
    conn.execute(
        insert(schema.approvals).values(
            item_sha256=item,
            case_id=scope.case_id,
            derivative_sha256=derivative,
            acknowledged_faces=faces,
            note=note,
            event_seq=event.seq,
        )
    )


def approved(conn: Connection, item: str, scope: Scope) -> Approval | None:
    """The approval in force for `item` in the case `scope` looks through (its own case
    only, never another's, even for admins), or None."""
    row = conn.execute(_APPROVAL_IN_FORCE, {"item": item, "case": scope.case_id}).mappings().first()
    if row is None or row["derivative_sha256"] is None:
        return None
    return Approval(
        item,
        str(row["derivative_sha256"]),
        int(row["acknowledged_faces"]),
        row["note"],
        int(row["event_seq"]),
    )


def approval_problems(conn: Connection, events: Mapping[int, Event]) -> Iterator[tuple[str, str]]:
    """For `verify`: each approvals row against the event that recorded it, both ways."""
    names = {
        int(i): str(n) for i, n in conn.execute(select(schema.cases.c.id, schema.cases.c.name))
    }
    seen = set()
    for row in conn.execute(select(schema.approvals)).mappings().all():
        seq = int(row["event_seq"])
        subject = f"approval of item {str(row['item_sha256'])[:16]}"
        event = events.get(seq)
        revoked = row["derivative_sha256"] is None
        if event is None or event.action != (REVOKED if revoked else APPROVED):
            yield subject, f"its custody event {seq} is missing or of another kind"
            continue
        seen.add(seq)
        case_id = row["case_id"]
        mine: dict[str, Any] = {"case": None if case_id is None else names.get(int(case_id))}
        if not revoked:
            mine |= {
                "derivative": row["derivative_sha256"],
                "acknowledged_faces": row["acknowledged_faces"],
                "note": row["note"],
            }
        logged = {key: event.details.get(key) for key in mine}
        if mine != logged or event.item != row["item_sha256"]:
            yield subject, f"differs from what event {seq} recorded"
    for seq, event in events.items():
        if event.action in (APPROVED, REVOKED) and seq not in seen:
            yield f"event {seq}", "the approval it recorded is missing from the catalogue"
