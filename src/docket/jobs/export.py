"""The export job: a package a person asked the web app to make from a case, made by a worker
(a court package copies every original and may take minutes; the request answers at once).

On PostgreSQL the web app checks who asks, the case, the items, the profile, the recipient
and the language, then queues the export (`defer_export`). The job (`export_request`) checks
again that the case exists, that the requester may still export from it and that the ticked
items are still in it, then makes the package with docket.disclose.package.export, as the
request did: the same `package.exported` event (its actor the requester), checkpoint and
reports. Without ticked items the package holds the case's items as they are when it is made.

Arguments: the case's id, the requester, the ticked items (or None for the whole case), the
profile, the recipient, the language of the reports, and a random token that makes each
request its own.

The package area: one folder per deployment, docket.json's "packages" (a path, relative to
the locker's folder unless absolute), by default <locker>/packages/, made 0700. Workers on
other machines must see the same folder (a shared mount), as the web app serves packages from
it. A package is `<digest>.zip` there (`request_digest`, over the job's arguments: the
request's id), so where it is follows from the request alone, and its export event names it:
no table records packages. It is made in a folder of the job's own under `.making/<host>/`
(<host>: the host name, boot and process-id namespace; scratch named by process id, so that a
killed worker's leftovers are removed by the next export where that id means the same process,
never by another machine's or container's), then renamed into the area and the area fsynced:
a killed worker never leaves a torn package under its name.

Idempotent: one package per request. The export event's "package" field carries the digest;
the job holds a PostgreSQL advisory lock named by it while it looks for that event and while
it exports when none is there: a retried or duplicated job makes nothing twice. A worker
killed after the event was committed and before the rename leaves no package (the job then
fails, saying to ask again: the log over-states what left, never under-states it, as for
`docket export`).

A vault never queues an export: its catalogue is SQLCipher, which has no queue, and a package
area would hold its originals in plain on disk; it exports in the request, in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, String, bindparam, literal, select, text

from docket import access, accounts
from docket.catalogue import schema
from docket.custody.events import canonical_json
from docket.disclose.package import export, file_name, items_of_case
from docket.errors import DocketError
from docket.jobs import failures, queue
from docket.jobs.queue import JobError
from docket.locker import Locker
from docket.store import scratch
from docket.store.filesystem import fsync_dir

EXPORT = "export"
MAY_EXPORT = "export"  # the access action that lets a person export from a case
AREA_KEY = "packages"  # docket.json's key naming the package area
DEFAULT_AREA = "packages"
MAKING = ".making"
FETCHED = ".fetched"  # beside a package once its requester downloaded it whole
DIGEST = re.compile(r"^[0-9a-f]{64}$")
# A package being made on another machine is left this long whatever `jobs clean` is told:
# from here it cannot be told whether its worker still runs (that machine's next export
# removes what its dead workers left).
OTHER_HOSTS_KEPT = 86400.0


def request_digest(args: Mapping[str, Any]) -> str:
    """SHA-256 of an export job's arguments, in canonical JSON: the request's id."""
    return hashlib.sha256(canonical_json(dict(args))).hexdigest()


def package_area(locker: Locker, make: bool = True) -> Path:
    """The deployment's package area (see the module docstring), made 0700 if missing unless
    `make` is false (it is only read)."""
    named = locker.config.get(AREA_KEY, DEFAULT_AREA)
    if not isinstance(named, str) or not named:
        raise DocketError(f"{locker.path}/docket.json: {AREA_KEY!r} must name a folder")
    area = locker.path / Path(named).expanduser()
    if not make:
        return area
    try:
        area.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DocketError(f"{area}: the package area cannot be made ({exc.strerror})") from exc
    return area


def package_path(locker: Locker, digest: str) -> Path:
    return package_area(locker, make=False) / f"{digest}.zip"


def fetched(package: Path) -> bool:
    return package.with_name(package.name + FETCHED).exists()


def mark_fetched(package: Path) -> None:
    """Note beside the package that its requester downloaded it whole (not a custody record:
    the export event marks the making)."""
    with contextlib.suppress(FileNotFoundError):  # removed as expired meanwhile
        package.with_name(package.name + FETCHED).touch()


def defer_export(
    conn: Connection,
    case_id: int,
    requester: str,
    items: list[str] | None,
    profile: str,
    recipient: str | None,
    lang: str,
) -> tuple[int, str] | None:
    """Queue the export in the caller's transaction: the job's id and the request's digest,
    or None on SQLite (the caller then exports itself)."""
    args = {
        "case": case_id,
        "requester": requester,
        "items": items,
        "profile": profile,
        "recipient": recipient,
        "lang": lang,
        "request": secrets.token_hex(16),
    }
    job = queue.defer(conn, EXPORT, args)
    return None if job is None else (job, request_digest(args))


@dataclass(frozen=True)
class Made:
    """The export event that recorded a request's package."""

    seq: int
    actor: str  # who asked for it
    case: str
    profile: str


def made_already(conn: Connection, digest: str) -> Made | None:
    """The `package.exported` event of the request with `digest`, if one was logged."""
    e = schema.events.c
    rows = conn.execute(
        select(e.seq, e.actor, e.details).where(
            # inline, so that SQLite's planner takes its partial index (migration 0014)
            e.action == literal(schema.PACKAGE_EXPORTED, literal_execute=True),
            e.details.contains(digest, autoescape=True),
        )
    ).all()
    for seq, actor, details in rows:  # the text search narrows; the recorded name decides
        facts = json.loads(details)
        if facts.get("package") == f"{digest}.zip":
            return Made(int(seq), str(actor), str(facts.get("case")), str(facts.get("profile")))
    return None


def _case_name(conn: Connection, case_id: int, requester: str) -> str:
    """The case's name, once it exists and the requester may still export from it."""
    name = conn.execute(select(schema.cases.c.name).where(schema.cases.c.id == case_id)).scalar()
    if name is None:
        raise JobError(f"export from case {case_id}: the case no longer exists; nothing was made")
    try:  # a member removed or made a viewer, an account deleted or disabled
        user = accounts.user_named(conn, requester)
        access.require_case(conn, user, case_id, MAY_EXPORT)
        if not accounts.is_enabled(conn, user):
            raise access.ForbiddenError(f"user {requester!r} is disabled")
    except DocketError as exc:
        raise JobError(
            f"export from case {name!r}: {requester!r} may no longer export from it ({exc}); "
            "nothing was made"
        ) from exc
    return str(name)


def _items(conn: Connection, case: str, ticked: list[str] | None) -> list[str]:
    """The ticked items, each still in the case; or the case's items now."""
    held = items_of_case(conn, case)
    if ticked is None:
        return held
    gone = sorted(set(ticked) - set(held))
    if gone:
        raise JobError(f"item {gone[0][:12]}: no longer in case {case!r}; nothing was made")
    return ticked


def _making(area: Path) -> Path:
    """A new folder of this job's own to make its package in, under this machine's folder of
    packages being made (see the module docstring), whose dead workers' leftovers (partial
    copies of originals) it removes first."""
    folder = area / MAKING / scratch.machine()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch.clean(folder)
    return scratch.make_folder(folder, "export")


def _move_in(made: Path, final: Path) -> None:
    """The made package renamed to its name in the area, the rename made durable."""
    made.rename(final)
    fsync_dir(final.parent)


def export_request(locker: Locker, args: Mapping[str, Any]) -> Path | None:
    """The job: the package it made, or None when the request was already made."""
    digest = request_digest(args)
    try:
        case_id, requester = int(args["case"]), str(args["requester"])
        ticked = None if args["items"] is None else [str(item) for item in args["items"]]
        profile, lang = str(args["profile"]), str(args["lang"])
        recipient = None if args["recipient"] is None else str(args["recipient"])
    except (KeyError, TypeError, ValueError) as exc:
        raise JobError(f"the job's arguments are not an export request ({exc!r})") from exc
    area = package_area(locker)
    with queue.advisory_lock_held(locker, digest):
        with locker.engine.connect() as conn, conn.begin():
            case = _case_name(conn, case_id, requester)
            made = made_already(conn, digest)
            items = _items(conn, case, ticked) if made is None else []
        if made is not None:
            if not (area / f"{digest}.zip").exists():
                raise JobError(
                    f"export {digest[:12]}: logged as made (event {made.seq}) but its package "
                    f"is not in {area} (a worker stopped while writing it, or it expired); "
                    "ask for the export again"
                )
            return None
        folder = _making(area)
        try:
            made_package = folder / f"{digest}.zip"
            export(
                locker,
                items,
                profile,
                made_package,
                requester,
                recipient,
                case,
                lang=lang,
                folder=file_name(case, profile).removesuffix(".zip"),
            )
            _move_in(made_package, area / f"{digest}.zip")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return area / f"{digest}.zip"


@dataclass(frozen=True)
class Requested:
    """An export a person asked for in a case: queued, running, failed, or ready to fetch."""

    job: int
    request: str  # the digest: the package's name in the area
    profile: str
    status: str  # queued, running, failed, ready
    reason: str | None


_REQUESTED = text(
    "SELECT id, args, status::text FROM procrastinate_jobs WHERE task_name = :task "
    "AND args->>'case' = :case AND args->>'requester' = :requester "
    "AND status IN ('todo', 'doing', 'failed', 'succeeded') AND id < :before "
    "ORDER BY id DESC LIMIT :batch"
).bindparams(bindparam("case", type_=String))
# How far back a person's exports are read for their newest unfetched ones: batches of five
# times the list's length (a person who fetched hundreds sees no older ones past that).
READ_BACK_BATCHES = 20
_STATUS_SHOWN = {"todo": "queued", "doing": "running", "failed": "failed", "succeeded": "ready"}


def requested(
    locker: Locker, conn: Connection, case_id: int, requester: str, limit: int = 20
) -> list[Requested]:
    """The newest `limit` exports `requester` asked for in case `case_id` and has not
    fetched: never another person's. Read back in batches until that many are found, so
    exports already fetched or expired never push older ready ones off the list. Empty on
    SQLite."""
    if not queue.has_queue(conn):
        return []
    area = package_area(locker, make=False)
    found: list[Requested] = []
    seen: set[str] = set()
    batch, before = limit * 5, 2**63 - 1
    asked = {"task": EXPORT, "case": str(case_id), "requester": requester, "batch": batch}
    for _ in range(READ_BACK_BATCHES):
        if len(found) >= limit:
            break
        rows = conn.execute(_REQUESTED, asked | {"before": before}).all()
        reasons = failures.latest(conn, [int(row[0]) for row in rows])
        for job, args, status in rows:
            digest = request_digest(args)
            if digest in seen:  # a duplicated job: one request
                continue
            seen.add(digest)
            package = area / f"{digest}.zip"
            if status == "succeeded" and (not package.exists() or fetched(package)):
                continue
            reason = reasons.get(int(job)) if status == "failed" else None
            profile = str(args.get("profile"))
            found.append(Requested(int(job), digest, profile, _STATUS_SHOWN[status], reason))
        if len(rows) < batch:
            break
        before = int(rows[-1][0])
    return found[:limit]


def remove_expired(locker: Locker, older_than_days: float) -> list[tuple[str, float]]:
    """Remove the packages, and what dead workers left being made, last changed more than
    `older_than_days` days ago: (name, modified) of each removed. Nothing is logged: packages
    are copies, and their export events stay."""
    area = package_area(locker)
    cutoff = time.time() - older_than_days * 86400
    removed = []
    for package in sorted(area.glob("*.zip")):
        modified = package.stat().st_mtime
        if DIGEST.match(package.stem) and modified <= cutoff:
            package.unlink(missing_ok=True)
            package.with_name(package.name + FETCHED).unlink(missing_ok=True)
            removed.append((package.name, modified))
    here = scratch.machine()
    for left in sorted((area / MAKING).glob("*/*")):
        modified = left.stat().st_mtime
        if modified > cutoff:
            continue
        if left.parent.name == here:  # a job of this machine's: never one still running
            if scratch.owner_alive(left):
                continue
        elif modified > time.time() - OTHER_HOSTS_KEPT:  # whether it runs cannot be told here
            continue
        shutil.rmtree(left, ignore_errors=True)
        removed.append((str(left.relative_to(area)), modified))
    return removed
