"""Incidents: what happened, when and where, which violations and which actors; items and
annotations of the case link to them. Every change is a custody event, and the catalogue rows
are what the latest events say (verify checks both ways).

Violation types come from a small vocabulary: the built-in names below, plus names an admin
added, minus names an admin retired. A retired name stays on the incidents that used it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from docket.catalogue import fulltext, schema
from docket.custody import log
from docket.errors import DocketError, NotFoundError

BUILT_IN_VIOLATIONS = (
    "arbitrary detention",
    "attack on civilians",
    "attack on medical or aid workers",
    "destruction of civilian property",
    "enforced disappearance",
    "extrajudicial killing",
    "forced displacement",
    "sexual violence",
    "torture or ill-treatment",
    "use of prohibited weapons",
)
MAX_TITLE = 300
MAX_TEXT = 10_000
MAX_ACTORS = 50
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Incident:
    """One incident as a person describes it; times are ISO 8601 dates or date-times (a
    range when the moment is not known exactly)."""

    title: str
    description: str = ""
    occurred_from: str | None = None
    occurred_to: str | None = None
    place: str = ""
    latitude: float | None = None
    longitude: float | None = None
    violations: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()

    def facts(self) -> dict[str, Any]:
        """The incident as logged in its custody event and compared by verify."""
        facts = asdict(self)
        facts["violations"] = list(self.violations)
        facts["actors"] = list(self.actors)
        return facts


def _moment(text: str | None, field: str) -> tuple[str, datetime] | None:
    """The time as stored (a plain ISO 8601 date, or date-time with seconds and the offset
    when one was given) and as compared (UTC when the offset is known)."""
    if text is None:
        return None
    try:
        if len(text) > 40:
            raise ValueError("too long")
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text)
            return day.isoformat(), datetime.combine(day, datetime.min.time())
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DocketError(f"{field} {text!r}: give a date (2024-03-01) or a date-time") from exc
    stored = moment.isoformat(timespec="seconds")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return stored, moment


def validate(conn: Connection, incident: Incident, keeping: tuple[str, ...] = ()) -> Incident:
    """The incident with its times in one ISO 8601 form, or a DocketError saying what is wrong.
    `keeping`: violation types it may keep although retired from the vocabulary since."""
    if not incident.title.strip() or len(incident.title) > MAX_TITLE:
        raise DocketError(f"an incident needs a title (at most {MAX_TITLE} characters)")
    if len(incident.description) > MAX_TEXT or len(incident.place) > MAX_TITLE:
        raise DocketError("the description or place of the incident is too long")
    start = _moment(incident.occurred_from, "from")
    end = _moment(incident.occurred_to, "to")
    if start is not None and end is not None and end[1] < start[1]:
        raise DocketError("an incident cannot end before it begins")
    lat, lon = incident.latitude, incident.longitude
    if (lat is None) != (lon is None):
        raise DocketError("give both latitude and longitude, or neither")
    if (
        lat is not None
        and lon is not None
        and not (
            math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180
        )
    ):
        raise DocketError("latitude is -90 to 90 and longitude -180 to 180 (decimal degrees)")
    known = set(vocabulary(conn)) | set(keeping)
    unknown = [v for v in incident.violations if v not in known]
    if unknown:
        raise DocketError(f"{unknown[0]!r}: not a violation type in the vocabulary")
    if len(incident.actors) > MAX_ACTORS or any(
        not a.strip() or len(a) > MAX_TITLE for a in incident.actors
    ):
        raise DocketError(f"at most {MAX_ACTORS} actors, each 1 to {MAX_TITLE} characters")
    return replace(
        incident,
        occurred_from=None if start is None else start[0],
        occurred_to=None if end is None else end[0],
    )


def _row_values(incident: Incident) -> dict[str, Any]:
    values = incident.facts()
    values["violations"] = json.dumps(values["violations"], ensure_ascii=False)
    values["actors"] = json.dumps(values["actors"], ensure_ascii=False)
    return values


def record(conn: Connection, actor: str, case_id: int, incident: Incident) -> int:
    incident = validate(conn, incident)
    key = conn.execute(
        insert(schema.incidents).values(case_id=case_id, event_seq=-1, **_row_values(incident))
    ).inserted_primary_key
    assert key is not None
    incident_id = int(key[0])
    event = log.append(
        conn,
        actor,
        "incident.recorded",
        details={"incident": incident_id, "case": case_id, **incident.facts()},
    )
    conn.execute(
        update(schema.incidents)
        .where(schema.incidents.c.id == incident_id)
        .values(event_seq=event.seq)
    )
    _index(conn, incident_id, case_id, incident)
    return incident_id


def revise(conn: Connection, actor: str, incident_id: int, incident: Incident) -> None:
    case_id = case_of(conn, incident_id)
    incident = validate(conn, incident, keeping=tuple(get(conn, incident_id)["violations"]))
    event = log.append(
        conn,
        actor,
        "incident.updated",
        details={"incident": incident_id, "case": case_id, **incident.facts()},
    )
    conn.execute(
        update(schema.incidents)
        .where(schema.incidents.c.id == incident_id)
        .values(event_seq=event.seq, **_row_values(incident))
    )
    _index(conn, incident_id, case_id, incident)


def _index(conn: Connection, incident_id: int, case_id: int, incident: Incident) -> None:
    texts = (incident.title, incident.description, incident.place, *incident.actors)
    texts += incident.violations
    fulltext.put(conn, "incident", incident_id, case_id, None, texts)


def case_of(conn: Connection, incident_id: int) -> int:
    found = conn.execute(
        select(schema.incidents.c.case_id).where(schema.incidents.c.id == incident_id)
    ).scalar()
    if found is None:
        raise NotFoundError(f"incident {incident_id}: no such incident")
    return int(found)


def link(
    conn: Connection, actor: str, incident_id: int, item: str, annotation: int | None = None
) -> int:
    """Link an item of the incident's case (or one annotation of it) to the incident."""
    log.lock(conn)  # decide "already linked?" under the log's lock, so two links cannot race
    case_id = case_of(conn, incident_id)
    in_case = conn.execute(
        select(schema.case_items.c.item_sha256).where(
            schema.case_items.c.case_id == case_id, schema.case_items.c.item_sha256 == item
        )
    ).first()
    if in_case is None:
        raise DocketError(f"item {item[:12]} is not in the incident's case")
    if annotation is not None:
        owner = conn.execute(
            select(schema.annotations.c.item_sha256, schema.annotations.c.case_id).where(
                schema.annotations.c.id == annotation
            )
        ).first()
        if owner is None or tuple(owner) != (item, case_id):  # the same words for another case's
            raise DocketError(f"annotation {annotation} is not an annotation of item {item[:12]}")
    links = schema.incident_links
    existing = conn.execute(
        select(links.c.id, links.c.annotation_id).where(
            links.c.incident_id == incident_id, links.c.item_sha256 == item
        )
    ).all()
    if any(found == annotation for _, found in existing):
        raise DocketError(f"already linked to incident {incident_id}")
    event = log.append(
        conn,
        actor,
        "incident.linked",
        item=item,
        details={"incident": incident_id, "annotation": annotation},
    )
    key = conn.execute(
        insert(links).values(
            incident_id=incident_id, item_sha256=item, annotation_id=annotation, event_seq=event.seq
        )
    ).inserted_primary_key
    assert key is not None
    return int(key[0])


def unlink(conn: Connection, actor: str, incident_id: int, link_id: int) -> None:
    links = schema.incident_links
    row = (
        conn.execute(select(links).where(links.c.id == link_id, links.c.incident_id == incident_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"incident {incident_id} has no link {link_id}")
    log.append(
        conn,
        actor,
        "incident.unlinked",
        item=row["item_sha256"],
        details={
            "incident": incident_id,
            "annotation": row["annotation_id"],
            "linked_in": int(row["event_seq"]),
        },
    )
    conn.execute(delete(links).where(links.c.id == link_id))


def _as_dict(row: Any) -> dict[str, Any]:
    found = dict(row)
    found["violations"] = json.loads(found["violations"])
    found["actors"] = json.loads(found["actors"])
    return found


def of_case(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """The case's incidents, earliest first (undated ones last)."""
    rows = conn.execute(
        select(schema.incidents).where(schema.incidents.c.case_id == case_id)
    ).mappings()
    found = [_as_dict(row) for row in rows]
    return sorted(
        found, key=lambda i: (i["occurred_from"] is None, i["occurred_from"] or "", i["id"])
    )


def get(conn: Connection, incident_id: int) -> dict[str, Any]:
    row = (
        conn.execute(select(schema.incidents).where(schema.incidents.c.id == incident_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"incident {incident_id}: no such incident")
    found = _as_dict(row)
    links = schema.incident_links
    found["links"] = [
        {"id": int(i), "item": str(sha), "annotation": a}
        for i, sha, a in conn.execute(
            select(links.c.id, links.c.item_sha256, links.c.annotation_id)
            .where(links.c.incident_id == incident_id)
            .order_by(links.c.id)
        ).all()
    ]
    return found


_LINKS = schema.incident_links
_INCIDENTS_OF_ITEM = (  # built once: every request for an item asks it
    select(_LINKS.c.id, _LINKS.c.incident_id, _LINKS.c.annotation_id, schema.incidents.c.title)
    .join(schema.incidents, schema.incidents.c.id == _LINKS.c.incident_id)
    .where(
        _LINKS.c.item_sha256 == bindparam("item"),
        schema.incidents.c.case_id == bindparam("case_id"),
    )
    .order_by(_LINKS.c.id)
)


def of_item(conn: Connection, item: str, case_id: int) -> list[dict[str, Any]]:
    """The incidents of a case an item (or one of its annotations) is linked to."""
    rows = conn.execute(_INCIDENTS_OF_ITEM, {"item": item, "case_id": case_id}).all()
    return [
        {"link": int(i), "incident": int(n), "annotation": a, "title": str(t)}
        for i, n, a, t in rows
    ]


def vocabulary(conn: Connection) -> list[str]:
    """The violation types a new incident may use."""
    changed = dict(
        conn.execute(select(schema.violation_types.c.name, schema.violation_types.c.active)).all()
    )
    names = set(BUILT_IN_VIOLATIONS) | {n for n, active in changed.items() if active}
    return sorted(n for n in names if changed.get(n, True))


def change_vocabulary(conn: Connection, actor: str, name: str, active: bool) -> None:
    """Add (active=True) or retire (active=False) a violation type."""
    name = " ".join(name.split()).lower()
    if not name or len(name) > 120:
        raise DocketError("a violation type is 1 to 120 characters")
    if (name in vocabulary(conn)) == active:
        raise DocketError(f"{name!r} is {'already' if active else 'not'} in the vocabulary")
    event = log.append(
        conn, actor, "vocabulary.changed", details={"violation": name, "active": active}
    )
    table = schema.violation_types
    conn.execute(delete(table).where(table.c.name == name))
    conn.execute(insert(table).values(name=name, active=active, event_seq=event.seq))
