"""An item's verification aids as recorded: the latest result of each aid step, read back.

One reader for the command line, the item page and the court report, so all three show the
same signals, with the step's version, its tools and versions, and the custody event that
recorded it. A failed run is shown with its reason; a step never run says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select

from docket import scope
from docket.aids.signals import Signal, from_dict
from docket.aids.steps import ERROR_LEVELS, verification_steps
from docket.catalogue import schema
from docket.catalogue.records import latest_result
from docket.custody import log
from docket.custody.events import Event
from docket.scope import Scope


@dataclass(frozen=True)
class AidResult:
    step: str
    version: str | None  # None: never run on this item
    status: str  # ok | failed | not run
    error: str | None = None
    event_seq: int | None = None
    tools: dict[str, str] = field(default_factory=dict)
    signals: tuple[Signal, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "event": self.event_seq,
            "tools": self.tools,
            "signals": [s.as_dict() for s in self.signals],
        }


# Built once: every request for an item asks these.
_MEDIA_TYPE = select(schema.items.c.media_type).where(schema.items.c.sha256 == bindparam("sha256"))
_RESULTS_NEWEST_FIRST = (
    select(schema.results)
    .where(
        schema.results.c.item_sha256 == bindparam("sha256"),
        schema.results.c.step == bindparam("step"),
    )
    .order_by(schema.results.c.id.desc())
)


def item_media_type(conn: Connection, sha256: str) -> str:
    return str(conn.execute(_MEDIA_TYPE, {"sha256": sha256}).scalar_one())


def pending(conn: Connection, sha256: str) -> list[str]:
    """Names of aid steps that apply to the item and have no ok result at their version."""
    media_type = item_media_type(conn, sha256)
    names = []
    for step in verification_steps():
        found = latest_result(conn, sha256, step.name)
        if step.applies_to(media_type) and (
            found is None or found["status"] != "ok" or found["step_version"] != step.version
        ):
            names.append(step.name)
    return names


# Aids a person runs on an item with inputs of their own (not analysis steps): listed once run.
ON_REQUEST = ("shadow-places",)


def _first_arrival(conn: Connection, sha256: str, view: Scope) -> int:
    """The log position of the view's case's first arrival of the item (0: none to cut by)."""
    if view.admin or view.case_id is None:
        return 0
    members, arrivals = schema.case_items.c, schema.acquisitions.c
    found = conn.execute(
        select(arrivals.event_seq)
        .join(schema.case_items, members.first_acquisition == arrivals.id)
        .where(members.case_id == view.case_id, members.item_sha256 == sha256)
    ).scalar()
    return 0 if found is None else int(found)


def _latest_in_view(
    conn: Connection, sha256: str, step: str, view: Scope, since: int
) -> dict[str, Any] | None:
    """The newest result of `step` that `view` shows: never one recorded before the case's
    first arrival of the item (`since`; its own repeat of the analysis stands for that), nor
    one repeated for another case's arrival (docket.case_analysis: the case that had the
    result first must not learn of that arrival), and of an aid run on request (a person's
    work, docket.scope) only one run in the view's own case."""
    rows = conn.execute(_RESULTS_NEWEST_FIRST, {"sha256": sha256, "step": step}).mappings()
    for row in rows:
        if int(row["event_seq"]) < since:
            break  # newest first: every row after this one is older still
        if row["repeated_for"] is not None and row["repeated_for"] != view.case_id:
            continue
        if step in ON_REQUEST:
            event = log.get(conn, int(row["event_seq"]))
            if event is None or not view.shows_name(scope.recorded_in(conn, event)[1]):
                continue
        return {**row, "data": json.loads(row["data"])}
    return None


def aid_results(conn: Connection, sha256: str, view: Scope | None = None) -> list[AidResult]:
    """The item's aids as `view` shows them (None: the locker's holder, who sees every
    case's): of each, the newest result the view may be shown (`_latest_in_view`)."""
    media_type = item_media_type(conn, sha256)
    results = []
    names = [s.name for s in verification_steps() if s.applies_to(media_type)]
    since = 0 if view is None else _first_arrival(conn, sha256, view)
    for name in [*names, *ON_REQUEST]:
        if view is not None:
            found = _latest_in_view(conn, sha256, name, view, since)
        else:
            found = latest_result(conn, sha256, name)
        if found is None:
            if name not in ON_REQUEST:
                results.append(AidResult(name, None, "not run"))
            continue
        data = found["data"] or {}
        results.append(
            AidResult(
                name,
                str(found["step_version"]),
                str(found["status"]),
                found["error"],
                int(found["event_seq"]),
                {str(k): str(v) for k, v in (data.get("tools") or {}).items()},
                tuple(from_dict(s) for s in data.get("signals") or []),
            )
        )
    return results


def error_levels_blob(conn: Connection, sha256: str) -> str | None:
    """The store name of the item's latest error-level picture, if one was made."""
    found = conn.execute(
        select(schema.derivatives.c.sha256)
        .where(
            schema.derivatives.c.item_sha256 == sha256,
            schema.derivatives.c.kind == ERROR_LEVELS,
        )
        .order_by(schema.derivatives.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else str(found)


def from_events(events: Iterable[Event], data_of: Callable[[Event], str | None]) -> list[AidResult]:
    """An item's latest aid results as logged by `events` (an export's, which carry each
    result's data, proven by the digest in the event): what a package can show of them."""
    names = {step.name for step in verification_steps()} | set(ON_REQUEST)
    latest: dict[str, Event] = {}
    for event in events:
        step, _, outcome = event.action.rpartition(".")
        if step in names and outcome in ("recorded", "failed"):
            latest[step] = event
    results = []
    for step, event in latest.items():
        text = data_of(event)
        data = json.loads(text) if text else {}
        results.append(
            AidResult(
                step,
                str(event.details.get("version")),
                str(event.details.get("status")),
                event.details.get("error"),
                event.seq,
                {str(k): str(v) for k, v in (data.get("tools") or {}).items()},
                tuple(from_dict(s) for s in data.get("signals") or []),
            )
        )
    return results
