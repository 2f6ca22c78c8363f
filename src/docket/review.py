"""Review work on items, each piece a custody event of one case: tags, notes and annotations (a
region of a picture, or a span of a video), each indexed for search (docket.search) as the
case's own; and the workflow, each item's status in the case (new until someone sets one), its
assignee (a member of the case) and the comment on each change, one item.status_set event per
item changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    exists,
    func,
    insert,
    select,
)

from docket.catalogue import fulltext, prebuilt, queries, schema
from docket.custody import log
from docket.errors import DocketError
from docket.scope import Scope

MAX_TEXT = 10_000
STATUSES = ("new", "in review", "verified", "disputed", "excluded")


@dataclass(frozen=True)
class Status:
    """An item's workflow in one case: its status, assignee (None: nobody) and last comment."""

    status: str = "new"
    assignee: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Annotation:
    kind: str
    text: str
    region: tuple[int, int, int, int] | None = None
    start: float | None = None
    end: float | None = None

    def validate(self) -> None:
        if self.kind not in ("note", "region", "span"):
            raise DocketError(f"{self.kind!r}: an annotation is a note, a region or a span")
        if not self.text.strip() or len(self.text) > MAX_TEXT:
            raise DocketError(f"an annotation needs text (at most {MAX_TEXT} characters)")
        if self.kind == "region" and (
            self.region is None or min(self.region[2:]) <= 0 or min(self.region[:2]) < 0
        ):
            raise DocketError("a region needs x,y >= 0 and a positive width and height")
        if self.kind == "span" and (
            self.start is None or self.end is None or not 0 <= self.start <= self.end
        ):
            raise DocketError("a span needs 0 <= start <= end, in seconds")


def add_tag(conn: Connection, actor: str, item: str, tag: str, scope: Scope) -> None:
    tag = tag.strip()
    if not tag or len(tag) > 120:
        raise DocketError("a tag is 1 to 120 characters")
    event = log.append(
        conn, actor, "item.tagged", item=item, details={"tag": tag, "case": scope.case}
    )
    key = conn.execute(
        insert(schema.tags).values(
            item_sha256=item, tag=tag, event_seq=event.seq, case_id=scope.case_id
        )
    ).inserted_primary_key
    assert key is not None
    fulltext.put(conn, "tag", int(key[0]), scope.case_id, item, [tag])


def annotate(conn: Connection, actor: str, item: str, note: Annotation, scope: Scope) -> int:
    note.validate()
    region = None if note.region is None else ",".join(str(v) for v in note.region)
    event = log.append(
        conn,
        actor,
        "item.annotated",
        item=item,
        details={
            "kind": note.kind,
            "text": note.text,
            "region": region,
            "start": note.start,
            "end": note.end,
            "case": scope.case,
        },
    )
    key = conn.execute(
        insert(schema.annotations).values(
            item_sha256=item,
            kind=note.kind,
            region=region,
            start=note.start,
            end=note.end,
            text=note.text,
            author=actor,
            event_seq=event.seq,
            case_id=scope.case_id,
        )
    ).inserted_primary_key
    assert key is not None
    fulltext.put(conn, "annotation", int(key[0]), scope.case_id, item, [note.text])
    return int(key[0])


# Built once: every request for an item asks these; `prebuilt.view` binds the scope.
_TAGS_OF = (
    select(schema.tags.c.tag)
    .where(schema.tags.c.item_sha256 == bindparam("item"), prebuilt.in_view(schema.tags.c.case_id))
    .order_by(schema.tags.c.id)
)
_ANNOTATIONS_OF = (
    select(schema.annotations)
    .where(
        schema.annotations.c.item_sha256 == bindparam("item"),
        prebuilt.in_view(schema.annotations.c.case_id),
    )
    .order_by(schema.annotations.c.id)
)
_STATUS_HISTORY = (
    select(schema.statuses)
    .where(
        schema.statuses.c.item_sha256 == bindparam("item"),
        schema.statuses.c.case_id.is_not_distinct_from(bindparam("case")),
    )
    .order_by(schema.statuses.c.id)
)


def tags_of(conn: Connection, item: str, scope: Scope) -> list[str]:
    viewed = {"item": item, **prebuilt.view(scope.case_id, scope.cases)}
    return sorted(set(conn.execute(_TAGS_OF, viewed).scalars()))


def annotations_of(conn: Connection, item: str, scope: Scope) -> list[dict[str, Any]]:
    viewed = {"item": item, **prebuilt.view(scope.case_id, scope.cases)}
    rows = conn.execute(_ANNOTATIONS_OF, viewed).mappings()
    return [
        {k: row[k] for k in ("id", "kind", "region", "start", "end", "text", "author", "event_seq")}
        for row in rows
    ]


def set_status(
    conn: Connection,
    actor: str,
    item: str,
    scope: Scope,
    status: str | None = None,
    assignee: str | None = None,
    comment: str | None = None,
) -> Status:
    """Change an item's workflow in the case `scope` looks through: `status` and `assignee`
    None keep what is in force, an assignee "" leaves it to nobody; returns what is now."""
    if scope.case_id is None:
        raise DocketError(f"item {item[:12]} is in no case; a status belongs to a case")
    if status is not None and status not in STATUSES:
        raise DocketError(f"{status!r}: a status is one of {', '.join(STATUSES)}")
    if comment is not None and (not comment.strip() or len(comment) > MAX_TEXT):
        raise DocketError(f"a comment needs text (at most {MAX_TEXT} characters)")
    if assignee and not _is_member(conn, scope.case_id, assignee):
        raise DocketError(f"{assignee!r} is not a member of case {scope.case}")
    now = statuses_of(conn, [item], scope)[item]
    new = Status(
        now.status if status is None else status,
        now.assignee if assignee is None else assignee or None,
        comment,
    )
    event = log.append(
        conn,
        actor,
        "item.status_set",
        item=item,
        details={
            "status": new.status,
            "assignee": new.assignee,
            "comment": new.comment,
            "case": scope.case,
        },
    )
    conn.execute(
        insert(schema.statuses).values(
            item_sha256=item,
            case_id=scope.case_id,
            status=new.status,
            assignee=new.assignee,
            comment=new.comment,
            author=actor,
            event_seq=event.seq,
        )
    )
    return new


def _is_member(conn: Connection, case_id: int, name: str) -> bool:
    return name in assignable(conn, case_id)


def assignable(conn: Connection, case_id: int) -> list[str]:
    """The names an item of the case may be assigned to: its members."""
    rows = conn.execute(
        select(schema.users.c.name)
        .join(schema.memberships, schema.memberships.c.user_id == schema.users.c.id)
        .where(schema.memberships.c.case_id == case_id)
        .order_by(schema.users.c.name)
    )
    return [str(name) for name in rows.scalars()]


def statuses_of(conn: Connection, items: Sequence[str], scope: Scope) -> dict[str, Status]:
    """The workflow in force for each item in the case (Status() for items nobody changed)."""
    found: dict[str, Status] = {}
    parameters = {"case": scope.case_id, prebuilt.LISTED: prebuilt.values(conn.dialect.name, items)}
    for item, status, assignee, comment in conn.execute(
        prebuilt.statements(conn, _build_statuses), parameters
    ):
        found[item] = Status(str(status), assignee, comment)  # the latest wins
    unchanged = Status()
    return {item: found.get(item, unchanged) for item in items}


def _build_statuses(dialect: str) -> Select[Any]:
    statuses = schema.statuses.c
    return (
        select(statuses.item_sha256, statuses.status, statuses.assignee, statuses.comment)
        .where(
            prebuilt.listed(dialect, statuses.item_sha256),
            prebuilt.unindexed(statuses.case_id).is_not_distinct_from(bindparam("case")),
        )
        .order_by(statuses.id)
    )


def status_is(item: ColumnElement[str], case_id: int, status: str) -> ColumnElement[bool]:
    """The workflow status in force for `item` (a column) in the case is `status`: statuses_of
    as a condition, so a list filtered by status is cut into pages by the database."""
    statuses = schema.statuses.c
    latest = (
        select(statuses.status)
        .where(statuses.item_sha256 == item, prebuilt.unindexed(statuses.case_id) == case_id)
        .order_by(statuses.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(latest, Status().status) == status


def ever_set_to(conn: Connection, case_id: int, status: str, most: int) -> set[str] | None:
    """The items of the case whose status was ever set to `status` (a status other than
    new's: those that have it now are among them), or None when there are more than `most`.
    Read through the case's own status rows, so a filter for a status few items have is
    driven by them rather than by walking the whole case."""
    statuses = schema.statuses.c
    found = (
        select(statuses.item_sha256)
        .where(statuses.case_id == case_id, statuses.status == status)
        .distinct()
    )
    return queries.few(conn, found, most)


def status_counts(conn: Connection, case_id: int, items: int) -> dict[str, int]:
    """How many of the case's `items` items have each status (statuses_of, counted by the
    database: a case of a million items is never read into memory)."""
    latest = prebuilt.statements(conn, _build_status_counts)
    counted = {str(status): int(count) for status, count in conn.execute(latest, {"case": case_id})}
    unchanged = Status().status
    counted[unchanged] = counted.get(unchanged, 0) + items - sum(counted.values())
    return {status: counted.get(status, 0) for status in STATUSES}


def _build_status_counts(_dialect: str) -> Select[Any]:
    """status_counts' statement, the case bound as `case` (built once: building it cost more
    than the database's answer)."""
    statuses, members = schema.statuses, schema.case_items
    case_id: ColumnElement[int] = bindparam("case")
    later = statuses.alias()
    return (
        select(statuses.c.status, func.count())
        .join(
            members,
            and_(members.c.item_sha256 == statuses.c.item_sha256, members.c.case_id == case_id),
        )
        .where(
            statuses.c.case_id == case_id,
            ~exists().where(
                later.c.item_sha256 == statuses.c.item_sha256,
                later.c.case_id == case_id,
                later.c.id > statuses.c.id,
            ),
        )
        .group_by(statuses.c.status)
    )


def status_history(conn: Connection, item: str, scope: Scope) -> list[dict[str, Any]]:
    """Every workflow change of the item in the case, oldest first (its comments)."""
    rows = conn.execute(_STATUS_HISTORY, {"item": item, "case": scope.case_id}).mappings()
    return [
        {k: row[k] for k in ("status", "assignee", "comment", "author", "event_seq")}
        for row in rows
    ]
