"""The redaction job: a redacted copy a person asked for in the browser, made by a worker.

On PostgreSQL a saved redaction is queued (`defer_redaction`) once the web has checked who
asks, in which case, and that every box lies inside the picture; the request answers at once.
The job (`redact_item`) makes the copy with docket.protect.copying.redact, as the request
would have made it in-process: one `redact.recorded` event naming the case, the same copy.

Arguments: the item, the plan (`plan_of`: regions, faces, method, from, to, keep_metadata),
the actor's name and the case's id. Before anything runs the job checks again what may have
changed while it waited: the case still holds the item, and the actor may still redact in it;
else it fails with that reason (docket.jobs.failures) and nothing is made.

Idempotent: one copy per item, case and plan. The job holds a PostgreSQL advisory lock named
by the three while it looks for a `redact` result of this item, made in this case, with these
exact parameters, and while it makes the copy when none is there: a retried job, a duplicated
one, or one taken again from a worker only thought stalled finds the first copy and makes none.
A killed worker's lock goes with its connection.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, String, bindparam, exists, select, text

from docket import access, accounts
from docket.catalogue import schema
from docket.custody.events import canonical_json
from docket.errors import DocketError
from docket.jobs import failures, queue
from docket.jobs.queue import JobError
from docket.locker import Locker
from docket.protect import copying
from docket.protect.steps import RedactStep

REDACT = "redact"
MAY_REDACT = "annotate"  # the access action that lets a person make a redacted copy


def plan_of(step: RedactStep) -> dict[str, Any]:
    """The plan a job carries: what `step_of` makes the same step from."""
    return {
        "regions": [list(box) for box in step.regions],
        "faces": step.faces,
        "method": step.method,
        "from": step.start,
        "to": step.end,
        "keep_metadata": not step.strip,
    }


def step_of(plan: Mapping[str, Any]) -> RedactStep:
    """The step a job's plan asks for (the plan is the queue's, written by `plan_of`)."""
    try:
        regions = [tuple(int(v) for v in box) for box in plan["regions"]]
        return RedactStep(
            faces=plan["faces"] is True,
            regions=[(x, y, w, h) for x, y, w, h in regions],
            start=None if plan["from"] is None else float(plan["from"]),
            end=None if plan["to"] is None else float(plan["to"]),
            method=str(plan["method"]),
            strip=plan["keep_metadata"] is not True,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise JobError(f"the job's plan is not a redaction plan ({exc!r})") from exc


def plan_digest(item: str, case_id: int, plan: Mapping[str, Any]) -> str:
    """SHA-256 of the item, the case and the plan, in canonical JSON."""
    return hashlib.sha256(canonical_json([item, case_id, dict(plan)])).hexdigest()


def defer_redaction(
    conn: Connection, item: str, step: RedactStep, actor: str, case_id: int
) -> int | None:
    """Queue the redaction in the caller's transaction; the job's id, or None on SQLite (the
    caller then makes the copy itself). It takes no procrastinate lock: the same plan's jobs
    wait for each other on the job's own lock (see the module docstring), other plans need not."""
    args = {"item": item, "plan": plan_of(step), "actor": actor, "case": case_id}
    return queue.defer(conn, REDACT, args)


def _parameters(step: RedactStep) -> dict[str, Any]:
    """What a redact result records of its plan, as canonical JSON reads back."""
    recorded = {**step.parameters(), "stripped": step.strip}
    found: dict[str, Any] = json.loads(canonical_json(recorded))
    return found


def made_already(conn: Connection, item: str, case: str, step: RedactStep) -> str | None:
    """The copy of `item` made in `case` with `step`'s exact parameters, if one was."""
    r, e, d = schema.results.c, schema.events.c, schema.derivatives.c
    rows = conn.execute(
        select(r.data, e.details, d.sha256)
        .join(schema.events, e.seq == r.event_seq)
        .join(schema.derivatives, d.event_seq == r.event_seq)
        .where(r.item_sha256 == item, r.step == step.name, r.status == "ok")
        .order_by(r.id)
    ).all()
    wanted = _parameters(step)
    for data, details, copy in rows:
        recorded = json.loads(data)
        if json.loads(details).get("case") == case and all(
            recorded.get(key) == value for key, value in wanted.items()
        ):
            return str(copy)
    return None


def _checked(conn: Connection, item: str, actor: str, case_id: int) -> tuple[str, str]:
    """The item's media type and the case's name, once the case holds the item and the actor
    may still redact there."""
    name = conn.execute(select(schema.cases.c.name).where(schema.cases.c.id == case_id)).scalar()
    if name is None:
        raise JobError(f"item {item[:12]}: case {case_id} no longer exists")
    held = exists().where(
        schema.case_items.c.case_id == case_id, schema.case_items.c.item_sha256 == item
    )
    if not conn.execute(select(held)).scalar():
        raise JobError(f"item {item[:12]}: no longer in case {name!r}; nothing was redacted")
    try:  # a member removed or made a viewer, an account deleted or disabled
        user = accounts.user_named(conn, actor)
        access.require_case(conn, user, case_id, MAY_REDACT)
        if not accounts.is_enabled(conn, user):
            raise access.ForbiddenError(f"user {actor!r} is disabled")
    except DocketError as exc:
        raise JobError(
            f"item {item[:12]}: {actor!r} may no longer redact in case {name!r} ({exc}); "
            "nothing was redacted"
        ) from exc
    media_type = conn.execute(
        select(schema.items.c.media_type).where(schema.items.c.sha256 == item)
    ).scalar_one()
    return str(media_type), str(name)


def redact_item(
    locker: Locker, item: str, plan: Mapping[str, Any], actor: str, case_id: int
) -> str | None:
    """The job: the copy it made, or None when this plan's copy was already made in the case."""
    step = step_of(plan)
    with queue.advisory_lock_held(locker, plan_digest(item, case_id, plan)):
        with locker.engine.connect() as conn, conn.begin():
            media_type, case = _checked(conn, item, actor, case_id)
            if made_already(conn, item, case, step) is not None:
                return None
        return copying.redact(locker, item, media_type, step, actor, case).copy.sha256


@dataclass(frozen=True)
class Pending:
    """A redaction of an item not made yet: queued, running, or failed with its reason."""

    job: int
    status: str  # queued, running, failed
    reason: str | None


_PENDING = text(
    "SELECT id, status::text FROM procrastinate_jobs WHERE task_name = :task "
    "AND args->>'item' = :item AND args->>'case' = :case "
    "AND status IN ('todo', 'doing', 'failed') ORDER BY id DESC LIMIT :limit"
).bindparams(bindparam("item", type_=String), bindparam("case", type_=String))


def pending(conn: Connection, item: str, case_id: int | None, limit: int = 20) -> list[Pending]:
    """The newest redactions of `item` asked for in case `case_id` and not made: for that
    case's item page only (another case's are never listed). Empty on SQLite."""
    if case_id is None or not queue.has_queue(conn):
        return []
    rows = conn.execute(
        _PENDING, {"task": REDACT, "item": item, "case": str(case_id), "limit": limit}
    ).all()
    reasons = failures.latest(conn, [int(row[0]) for row in rows])
    shown = {"todo": "queued", "doing": "running", "failed": "failed"}
    return [
        Pending(int(job), shown[status], reasons.get(int(job)) if status == "failed" else None)
        for job, status in rows
    ]
