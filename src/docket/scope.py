"""What of an item a person sees, and in which case: the scope rule, decided here for every
page, API route, CLI command, search, export and report.

Facts of the bytes are shared by every case that holds an item: its hashes, size and media type,
ExifTool metadata, previews, perceptual hashes, keyframes, and the custody events of analysis
and derivatives. Everything a person records belongs to the case it was recorded in:
acquisitions (source, collector, path, note, arrival time), flags, tags, annotations, statuses,
incident links, reveals, and the custody events that record them.

An item is always looked at through one case (a `Scope`), and shows only that case's records:
its first name, arrival count and first arrival are that case's too. A person in case A never
learns that case B exists or holds the same bytes: an item or case they may not see is "not
found", adding bytes B holds looks like adding new bytes, and nothing of B is searched,
listed, exported or counted. Records that belong to no case (an arrival without a case; a flag,
tag, annotation or reveal from before they carried a case whose item several cases held) are
shown to admins only. Admins see every case, one case at a time, and records of no case.

Access (who may do what in a case) is docket.access's; this module says what a case shows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select

from docket import access
from docket.accounts import User
from docket.catalogue import schema
from docket.catalogue.queries import in_chunks
from docket.custody import log
from docket.custody.events import Event
from docket.errors import DocketError, NotFoundError

# Actions whose events record a person's work on an item; their details name the case
# ("case"), arrivals inside "acquisition". Every other event of an item is a fact of its bytes.
PERSONAL = (
    "item.acquired",
    "item.flagged",
    "item.tagged",
    "item.annotated",
    "item.status_set",
    "item.revealed",
    "derivative.approved",
    "derivative.approval_revoked",
    "shadow-places.recorded",  # a person's reading of a shadow, and the moment they claim
    "redact.recorded",  # the regions a person chose to cover, and the copy made
    "redact.failed",
    "strip.recorded",
    "strip.failed",
)


# Copies made before their events named a case were facts of the bytes, shown to every case that
# knows the person who made them (and approved there): they stay so, so no approval in force is
# lost; copies made since are work of the case they were made in.
_FACTS_UNTIL_NAMED = ("redact.recorded", "redact.failed", "strip.recorded", "strip.failed")


class ChooseCaseError(DocketError):
    """The item is in more than one of the person's cases; they must say which."""


@dataclass(frozen=True)
class Scope:
    """One case's view of things: `case_id` None is the view of records of no case (admins)."""

    case_id: int | None
    case: str | None
    admin: bool = False

    @property
    def cases(self) -> Collection[int | None]:
        """The case ids whose rows this view shows (None: rows of no case, admins only)."""
        return {self.case_id, None} if self.admin else {self.case_id}

    def shows(self, case_id: int | None) -> bool:
        return case_id in self.cases

    def shows_name(self, case: str | None) -> bool:
        return case == self.case or (case is None and self.admin)


# Built once: every request for an item asks these.
_CASE_NAME = select(schema.cases.c.name).where(schema.cases.c.id == bindparam("case_id"))
_HOLDING_CASES = (
    select(schema.cases.c.id, schema.cases.c.name)
    .join(schema.case_items, schema.case_items.c.case_id == schema.cases.c.id)
    .where(schema.case_items.c.item_sha256 == bindparam("sha256"))
    .order_by(schema.cases.c.name)
)
_MEMBER_NAMES = (
    select(schema.users.c.name)
    .join(schema.memberships, schema.memberships.c.user_id == schema.users.c.id)
    .where(schema.memberships.c.case_id == bindparam("case_id"))
)


def _case_name(conn: Connection, case_id: int) -> str:
    found = conn.execute(_CASE_NAME, {"case_id": case_id}).scalar()
    if found is None:
        raise NotFoundError(f"case {case_id}: no such case")
    return str(found)


def holding_cases(conn: Connection, sha256: str) -> list[tuple[int, str]]:
    """(id, name) of every case that holds the item: for this module and admins only."""
    rows = conn.execute(_HOLDING_CASES, {"sha256": sha256})
    return [(int(i), str(n)) for i, n in rows]


def of_case(conn: Connection, user: User, case_id: int, action: str) -> Scope:
    """A case's view for this person, once they may do `action` in it."""
    access.require_case(conn, user, case_id, action)
    return Scope(case_id, _case_name(conn, case_id), user.is_admin)


def export_of(conn: Connection, case: str) -> Scope:
    """What an export of a case holds: that case's records only, whoever exports it."""
    case_id = conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == case)).scalar()
    if case_id is None:
        raise NotFoundError(f"case {case!r}: no such case")
    return Scope(int(case_id), case)


def of_item(
    conn: Connection, user: User, sha256: str, action: str, case_id: int | None = None
) -> Scope:
    """The case an item is looked at through: `case_id` when given (it must hold the item),
    else the one case of the person's that holds it. In several: they choose; in none: not
    found (an admin then sees the item's records of no case)."""
    access.require_item(conn, user, sha256, "view")
    holding = holding_cases(conn, sha256)
    mine = [(i, n) for i, n in holding if access.case_role(conn, user, i) is not None]
    if case_id is not None:
        if case_id not in {i for i, _ in mine}:
            raise NotFoundError(f"item {sha256[:12]}: no such item in case {case_id}")
        chosen = [(i, n) for i, n in mine if i == case_id]
    else:
        chosen = mine
    if len(chosen) > 1:
        names = ", ".join(f"{n} (?case={i})" for i, n in chosen)
        raise ChooseCaseError(f"item {sha256[:12]} is in more than one of your cases: {names}")
    if not chosen:
        if not user.is_admin:
            raise NotFoundError(f"item {sha256[:12]}: no such item")
        if action != "view":
            raise DocketError(f"item {sha256[:12]} is in no case; add it to one first")
        return Scope(None, None, True)
    access.require_case(conn, user, chosen[0][0], action)
    return Scope(chosen[0][0], chosen[0][1], user.is_admin)


def for_locker(conn: Connection, sha256: str, case: str | None, choose: bool = True) -> Scope:
    """The command line's view (the locker's holder sees all): the named case, which must hold
    the item, else its only case. When several hold it the case must be named to act
    (`choose`); to read, the view is then of records of no case (blurred unless cleared)."""
    holding = holding_cases(conn, sha256)
    if case is not None:
        found = [(i, n) for i, n in holding if n == case]
        if not found:
            raise NotFoundError(f"item {sha256[:12]} is not in case {case!r}")
        return Scope(found[0][0], case, True)
    if len(holding) > 1 and not choose:
        return Scope(None, None, True)
    if len(holding) > 1:
        names = ", ".join(n for _, n in holding)
        raise ChooseCaseError(f"item {sha256[:12]} is in several cases ({names}); give --case")
    return Scope(holding[0][0], holding[0][1], True) if holding else Scope(None, None, True)


def recorded_in(conn: Connection, event: Event) -> tuple[bool, str | None]:
    """Whether an event of an item records a person's work, and the case it belongs to.

    Review events from before they carried a case belong to the item's only case, or to none
    when several (or no) cases hold it."""
    if event.action.startswith("incident."):
        incident = event.details.get("incident")
        found = conn.execute(
            select(schema.cases.c.name)
            .join(schema.incidents, schema.incidents.c.case_id == schema.cases.c.id)
            .where(schema.incidents.c.id == (incident if isinstance(incident, int) else -1))
        ).scalar()
        return True, None if found is None else str(found)
    if event.action == "item.acquired":
        return True, dict(event.details.get("acquisition") or {}).get("case")
    if event.action not in PERSONAL:
        return False, None
    if event.action in _FACTS_UNTIL_NAMED and "case" not in event.details:
        return False, None
    if "case" in event.details:
        case = event.details["case"]
        return True, None if case is None else str(case)
    holding = holding_cases(conn, event.item) if event.item else []
    return True, holding[0][1] if len(holding) == 1 else None


def _members(conn: Connection, case_id: int | None) -> set[str]:
    rows = conn.execute(_MEMBER_NAMES, {"case_id": case_id})
    return {str(name) for name in rows.scalars()}


def visible_events(
    conn: Connection,
    scope: Scope,
    events: Iterable[Event],
    trails: dict[str, list[Event]] | None = None,
) -> list[Event]:
    """The events (of items) this view shows: the work of its own case's people, and facts of
    the bytes (docket.case_analysis) recorded from the case's first arrival of the item on by
    someone the case knows (a member, or someone whose work on the item's trail it shows). A
    fact of the bytes recorded by another case's person (analysis that ran when their arrival
    came in) is left out whole: its leaf holds their name. So is one recorded before the case
    had the bytes, and the analysis repeated for another case's arrival.

    Each event is judged by its item's whole trail, whatever else `events` holds: a list of a
    case's latest events, cut anywhere, shows an event exactly when the item's trail does.
    `trails` may hold item trails already read (each whole, in order)."""
    sorted_out = [(event, *recorded_in(conn, event)) for event in events]
    if scope.admin:
        return [e for e, personal, case in sorted_out if not personal or scope.shows_name(case)]
    members = _members(conn, scope.case_id)
    items = sorted({e.item for e, personal, _ in sorted_out if e.item and not personal})
    firsts = _first_arrivals(conn, scope.case_id, items)
    repeats = _repeats_of(conn, items)
    read = {} if trails is None else trails
    actors: dict[str, set[str]] = {}  # of an item's work this view shows, read when needed

    def known(event: Event, item: str) -> bool:
        if event.actor in members:
            return True
        if item not in actors:
            if item not in read:
                read[item] = list(log.events(conn, item))
            actors[item] = {
                e.actor
                for e in read[item]
                if (found := recorded_in(conn, e))[0] and scope.shows_name(found[1])
            }
        return event.actor in actors[item]

    def fact_shown(event: Event) -> bool:
        if event.item is None:
            return event.actor in members
        if event.seq in repeats:  # the analysis repeated for a case's arrival: its alone
            return repeats[event.seq] == scope.case_id
        if event.action in _FACTS_UNTIL_NAMED:  # copies from before they named a case
            return known(event, event.item)
        first = firsts.get(event.item)
        return first is not None and event.seq > first and known(event, event.item)

    return [
        event
        for event, personal, case in sorted_out
        if (scope.shows_name(case) if personal else fact_shown(event))
    ]


def _first_arrivals(conn: Connection, case_id: int | None, items: list[str]) -> dict[str, int]:
    """The log position of the case's first arrival of each of `items` it holds."""
    members, arrivals = schema.case_items.c, schema.acquisitions.c
    found: dict[str, int] = {}
    for chunk in in_chunks(items):
        rows = conn.execute(
            select(members.item_sha256, arrivals.event_seq)
            .join(schema.acquisitions, arrivals.id == members.first_acquisition)
            .where(members.case_id == case_id, members.item_sha256.in_(chunk))
        )
        found.update((str(item), int(seq)) for item, seq in rows)
    return found


def _repeats_of(conn: Connection, items: list[str]) -> dict[int, int]:
    """The results of `items` repeated for a case's arrival: event seq -> the case's id."""
    results = schema.results.c
    found: dict[int, int] = {}
    for chunk in in_chunks(items):
        rows = conn.execute(
            select(results.event_seq, results.repeated_for).where(
                results.item_sha256.in_(chunk), results.repeated_for.is_not(None)
            )
        )
        found.update((int(seq), int(case)) for seq, case in rows)
    return found


def event_visible(conn: Connection, scope: Scope, event: Event) -> bool:
    if event.item is None:
        return scope.admin
    shown = visible_events(conn, scope, log.events(conn, event.item))
    return any(e.seq == event.seq for e in shown)


def events_of(conn: Connection, scope: Scope, sha256: str) -> list[Event]:
    """The custody trail of an item as this view shows it."""
    trail = list(log.events(conn, sha256))
    return visible_events(conn, scope, trail, {sha256: trail})


def event_seqs(conn: Connection, scope: Scope, sha256: str) -> set[int]:
    """The log positions of the item's events this view shows (what of its analysis it lists:
    docket.catalogue.queries.describe_item)."""
    return {event.seq for event in events_of(conn, scope, sha256)}


def event_scope(conn: Connection, user: User, event: Event) -> Scope:
    """A view of one of the person's cases in which they may see this event (else not found)."""
    if event.item is None:
        if user.is_admin:
            return Scope(None, None, True)
        raise NotFoundError(f"event {event.seq}: no such event")
    access.require_item(conn, user, event.item, "view")
    for case_id, name in holding_cases(conn, event.item):
        if access.case_role(conn, user, case_id) is not None:
            scope = Scope(case_id, name, user.is_admin)
            if event_visible(conn, scope, event):
                access.entered(conn, user, case_id)
                return scope
    if user.is_admin:
        return Scope(None, None, True)
    raise NotFoundError(f"event {event.seq}: no such event")
