"""The capture job: a web page a person asked the web app to capture into a case, captured by a
worker (a browser may take a minute or more; the request answers at once).

On PostgreSQL the web app checks who asks, the case, the profile's name and the URL against the
capture guard, then queues the capture (`defer_capture`). The job (`capture_request`) captures
with docket.capture.run.capture, as `docket capture` does: the same parts, acquisitions and
`capture.made` event, analysis and checkpoint. The proxy is the worker's own (PROXY_VARIABLE in
its environment), as the web app read its own when it captured in the request. Before the
browser starts the job checks again what may have changed while it waited: the case still
exists and the collector may still upload to it; else it fails with that reason
(docket.jobs.failures) and nothing is captured.

Arguments: the URL, the case's id, the collector, the note, the kept profile's name (or None),
whether private networks may be reached (never from the web app), and a random token that
makes each request its own (the same page asked twice is captured twice).

Idempotent: one capture per request. The request's digest (`request_digest`, over all its
arguments) is recorded in the capture's `capture.made` event; the job holds a PostgreSQL
advisory lock named by it while it looks for that event and while it captures when none is
there: a retried job, a duplicated one, or one taken again from a worker only thought stalled
finds the first capture and captures nothing. A killed worker's lock goes with its connection.
Jobs with the same kept profile never run at the same time (procrastinate's lock): Chromium
runs one browser per profile.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, String, bindparam, literal, select, text

from docket import access, accounts
from docket.catalogue import schema
from docket.custody.events import canonical_json
from docket.errors import DocketError
from docket.jobs import failures, queue
from docket.jobs.queue import JobError
from docket.locker import Locker

CAPTURE = "capture"
MAY_CAPTURE = "upload"  # the access action that lets a person capture into a case
PROXY_VARIABLE = "DOCKET_CAPTURE_PROXY"  # the proxy captures leave through, from the environment


def proxy() -> str | None:
    """The proxy named in this process's environment, if any."""
    return os.environ.get(PROXY_VARIABLE) or None


def request_digest(args: Mapping[str, Any]) -> str:
    """SHA-256 of a capture job's arguments, in canonical JSON."""
    return hashlib.sha256(canonical_json(dict(args))).hexdigest()


def defer_capture(
    conn: Connection,
    url: str,
    case_id: int,
    collector: str,
    note: str | None,
    profile: str | None,
) -> int | None:
    """Queue the capture in the caller's transaction; the job's id, or None on SQLite (the
    caller then captures itself). Private networks are never allowed from here."""
    args = {
        "url": url,
        "case": case_id,
        "collector": collector,
        "note": note,
        "profile": profile,
        "allow_private_network": False,
        "request": secrets.token_hex(16),
    }
    lock = None if profile is None else f"profile:{profile}"
    return queue.defer(conn, CAPTURE, args, lock=lock)


def captured_already(conn: Connection, digest: str) -> int | None:
    """The `capture.made` event that recorded the request with `digest`, if one did."""
    e = schema.events.c
    rows = conn.execute(
        select(e.seq, e.details).where(
            # inline, so that SQLite's planner takes its partial index (migration 0014)
            e.action == literal(schema.CAPTURE_MADE, literal_execute=True),
            e.details.contains(digest, autoescape=True),
        )
    ).all()
    for seq, details in rows:  # the text search narrows; the recorded field decides
        if json.loads(details).get("request") == digest:
            return int(seq)
    return None


def _case_name(conn: Connection, case_id: int, collector: str, url: str) -> str:
    """The case's name, once it exists and the collector may still capture into it."""
    name = conn.execute(select(schema.cases.c.name).where(schema.cases.c.id == case_id)).scalar()
    if name is None:
        raise JobError(f"capture of {url}: case {case_id} no longer exists; nothing was captured")
    try:  # a member removed or made a viewer, an account deleted or disabled
        user = accounts.user_named(conn, collector)
        access.require_case(conn, user, case_id, MAY_CAPTURE)
        if not accounts.is_enabled(conn, user):
            raise access.ForbiddenError(f"user {collector!r} is disabled")
    except DocketError as exc:
        raise JobError(
            f"capture of {url}: {collector!r} may no longer capture into case {name!r} ({exc}); "
            "nothing was captured"
        ) from exc
    return str(name)


def capture_request(locker: Locker, args: Mapping[str, Any]) -> int | None:
    """The job: the `capture.made` event of the capture it made, or None when the request was
    already captured."""
    digest = request_digest(args)
    try:
        url, case_id, collector = str(args["url"]), int(args["case"]), str(args["collector"])
        note, profile = args["note"], args["profile"]
        allow_private_network = args["allow_private_network"] is True
    except (KeyError, TypeError, ValueError) as exc:
        raise JobError(f"the job's arguments are not a capture request ({exc!r})") from exc
    with queue.advisory_lock_held(locker, digest):
        with locker.engine.connect() as conn, conn.begin():
            case = _case_name(conn, case_id, collector, url)
            if captured_already(conn, digest) is not None:
                return None
        # Imported here: the browser, WARC and WACZ libraries cost every `docket` command ~0.5 s.
        from docket.capture.run import CaptureOptions, capture

        options = CaptureOptions(
            collector=collector,
            case=case,
            note=None if note is None else str(note),
            proxy=proxy(),
            allow_private_network=allow_private_network,
            profile=None if profile is None else str(profile),
            request=digest,
        )
        return capture(locker, url, options).event


@dataclass(frozen=True)
class Pending:
    """A capture asked for in a case and not made yet: queued, running, or failed."""

    job: int
    url: str
    status: str  # queued, running, failed
    reason: str | None


_PENDING = text(
    "SELECT id, args->>'url', status::text FROM procrastinate_jobs WHERE task_name = :task "
    "AND args->>'case' = :case AND status IN ('todo', 'doing', 'failed') "
    "ORDER BY id DESC LIMIT :limit"
).bindparams(bindparam("case", type_=String))


def pending(conn: Connection, case_id: int, limit: int = 20) -> list[Pending]:
    """The newest captures asked for in case `case_id` and not made: for that case's pages
    only (another case's are never listed). Empty on SQLite."""
    if not queue.has_queue(conn):
        return []
    rows = conn.execute(_PENDING, {"task": CAPTURE, "case": str(case_id), "limit": limit}).all()
    reasons = failures.latest(conn, [int(row[0]) for row in rows])
    shown = {"todo": "queued", "doing": "running", "failed": "failed"}
    return [
        Pending(
            int(job), str(url), shown[status], reasons.get(int(job)) if status == "failed" else None
        )
        for job, url, status in rows
    ]
