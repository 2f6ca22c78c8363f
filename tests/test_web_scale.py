"""The web app reads by the page, not by the case: on generated catalogues (bench/_catalogue.py)
the grid JSON, its deep pages by key (forward and back), its text search, its filters (one
every item passes; a status, media type, flag, GPS or capture day none has), the grid page
and the case's near-duplicate groups cost no more for a case ten times bigger; nor do the
timeline, an item's page and JSON and an event's proof (the timeline by days in capture
order, an item's near-duplicates asked of the case for those found only, a proof from cached
subtree hashes).

What a request costs is counted by the database's own work where it can be seen: SQLite's
virtual machine steps (its progress handler, which also counts rows scanned and never
returned), PostgreSQL's rows returned to the app.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select, update

from docket import accounts
from docket.catalogue import schema
from docket.locker import Locker
from docket.web import case_routes
from docket.web.app import create_app

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from _catalogue import content_of, generate

SMALL, BIG = 300, 3000
STEP = 100  # SQLite VM instructions per progress-handler call
BOUNDED = (
    "grid, page 1",
    "grid, a deep page by key",
    "grid, a text search",
    "grid page (HTML)",
    "grid, a filter every item passes",
    "grid, a page back by key, filtered",
    "grid, a status no item has",
    "grid, a media type no item has",
    "grid, a flag no item has",
    "grid, with GPS (none has)",
    "grid, a capture day no item has",
    "grid, a capture day every item had once",
    "near-duplicate groups",
)
ANALYSED = (  # on catalogues whose every item has a capture time, and every other a position
    "grid, with GPS (half have)",
    "grid, a capture day",
    "timeline",
)
WHOLE_READS = (
    "timeline",
    "item (JSON)",
    "item page with its custody trail (HTML)",
    "custody proof of an event",
)
FOUND = {
    "grid, page 1": 100,
    "grid, a deep page by key": 49,
    "grid, a text search": 1,
    "grid, a filter every item passes": 100,
    "grid, a page back by key, filtered": 100,
    "grid, a status no item has": 0,
    "grid, a media type no item has": 0,
    "grid, a flag no item has": 0,
    "grid, with GPS (none has)": 0,
    "grid, a capture day no item has": 0,
    "grid, a capture day every item had once": 0,
    "near-duplicate groups": 0,
    "grid, with GPS (half have)": 100,
}


@contextmanager
def work_of(locker: Locker) -> Iterator[list[int]]:
    """A running count of the database's work while the block runs (see the module's text)."""
    counted = [0]
    engine = locker.engine
    handled: set[Any] = set()

    def tick() -> int:
        counted[0] += STEP
        return 0  # go on

    def before(conn: Any, cursor: Any, *_args: Any) -> None:
        if engine.dialect.name == "sqlite":  # stays on while rows are fetched
            raw = conn.connection.dbapi_connection
            raw.set_progress_handler(tick, STEP)
            handled.add(raw)

    def after(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if engine.dialect.name != "sqlite" and statement.lstrip().upper().startswith("SELECT"):
            counted[0] += max(cursor.rowcount, 0)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        for raw in handled:  # pooled connections keep no handler of ours
            raw.set_progress_handler(None, STEP)


def _sha_of(number: int) -> str:
    import hashlib

    return hashlib.sha256(content_of(number)).hexdigest()


def _routes(locker: Locker, case_id: int, first: int, count: int) -> dict[str, str]:
    """The requests measured in a case of `count` items numbered from `first`."""
    near_end = _sha_of(first + count - 50)  # a deep page: the one after this item
    item = _sha_of(first + count // 2)
    with locker.engine.connect() as conn:
        seq = conn.execute(
            select(schema.events.c.seq).where(
                schema.events.c.item_sha256 == item, schema.events.c.action == "item.acquired"
            )
        ).scalar_one()
    grid = f"/api/cases/{case_id}/items"
    return {
        "grid, page 1": grid,
        "grid, a deep page by key": f"/api/cases/{case_id}/items?after={near_end}",
        "grid, a text search": f"/api/cases/{case_id}/items?q=note{first + count // 3:07}",
        "grid page (HTML)": f"/cases/{case_id}",
        "grid, a filter every item passes": f"{grid}?type=text/&status=new&flag=unreviewed",
        "grid, a page back by key, filtered": f"{grid}?type=text/&before={near_end}",
        "grid, a status no item has": f"{grid}?status=verified",
        "grid, a media type no item has": f"{grid}?type=image/",
        "grid, a flag no item has": f"{grid}?flag=graphic",
        "grid, with GPS (none has)": f"{grid}?gps=true",
        "grid, a capture day no item has": f"{grid}?since=2024-03-01&until=2024-03-01",
        "grid, a capture day every item had once": f"{grid}?since=2024-03-05&until=2024-03-05",
        "grid, with GPS (half have)": f"{grid}?gps=true",
        "grid, a capture day": f"{grid}?since=2024-03-01&until=2024-03-01",
        "near-duplicate groups": f"/api/cases/{case_id}/groups",
        "timeline": f"/api/cases/{case_id}/timeline",
        "item (JSON)": f"/api/items/{item}",
        "item page with its custody trail (HTML)": f"/items/{item}",
        "custody proof of an event": f"/api/events/{seq}/proof",
    }


def _captured_twice(locker: Locker, first: int, count: int) -> None:
    """Items first.. first + count - 1 read as captured on 2024-03-05, then re-read as
    captured on 2024-03-06 (metadata results written straight into the table, with the
    capture time records.record_result keeps beside each membership)."""
    rows = [
        {
            "item_sha256": _sha_of(n),
            "step": "metadata",
            "step_version": "1",
            "status": "ok",
            "error": None,
            "data": json.dumps({"normalised": {"capture_time": f"2024-03-0{day}T10:00:00"}}),
            "created_at": "2026-01-01T00:00:00Z",
            "event_seq": 0,
        }
        for day in (5, 6)
        for n in range(first, first + count)
    ]
    with locker.engine.begin() as conn:
        conn.execute(insert(schema.results), rows)
        conn.execute(
            update(schema.case_items)
            .where(
                schema.case_items.c.item_sha256.in_(
                    [_sha_of(n) for n in range(first, first + count)]
                )
            )
            .values(capture_time="2024-03-06T10:00:00")
        )


def _growth(locker: Locker, routes: tuple[str, ...], analysed: bool = False) -> dict[str, float]:
    """How much more work each of `routes` did in case Big (BIG items, in a locker of
    SMALL + BIG) than in case Small (measured while the locker held only its SMALL items),
    for those that did more than twice as much. With `analysed`, every item has a metadata
    result (bench/_catalogue.py: a capture time on one of its DAYS days, a position for every
    other item)."""
    with locker.engine.begin() as conn:
        admin = accounts.create_user(conn, "test", "ada", "correct horse battery", "admin")
        token = accounts.issue_token(conn, admin)
    client = TestClient(create_app(locker))
    client.headers["Authorization"] = f"Bearer {token}"
    costs: dict[str, dict[str, int]] = {}
    for name, first, count in (("Small", 0, SMALL), ("Big", SMALL, BIG)):
        case_id = generate(locker, count, name, blobs=False, start=first, analysed=analysed)
        if "grid, a capture day every item had once" in routes:
            _captured_twice(locker, first, count)
        for label, url in _routes(locker, case_id, first, count).items():
            if label not in routes:
                continue
            client.get(url).raise_for_status()  # warm: caches, compiled statements
            with work_of(locker) as work:
                answer = client.get(url)
            assert answer.status_code == 200, (label, answer.text[:200])
            if label in FOUND:  # the page holds what it should
                assert len(answer.json()) == FOUND[label], label
            costs.setdefault(label, {})[name] = work[0]
    print(costs)
    return {
        label: round(cost["Big"] / max(cost["Small"], 1), 1)
        for label, cost in costs.items()
        if cost["Big"] > 2 * cost["Small"] + 50 * STEP
    }


def test_the_grid_and_an_item_read_by_the_page(
    locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Filters are driven by the items that may pass them when those are few (DRIVEN_MOST,
    # 20,000: here every item of either case). Made 200, a filter every item passes has too
    # many to drive by, as in a million-item case, and walks the case for its page; the
    # filters no item passes are driven by empty sets. (A filter that many items passed once
    # and few pass now walks the whole case: not measured here, and slow at a million.)
    monkeypatch.setattr(case_routes, "DRIVEN_MOST", 200)
    monkeypatch.setattr(case_routes, "MEMBERSHIP_DRIVEN_MOST", 200)
    grown = _growth(locker, BOUNDED)
    assert grown == {}, f"work grew with the case ({BIG} items against {SMALL}): {grown}"


def test_the_timeline_item_page_and_proofs_read_by_the_page(locker: Locker) -> None:
    grown = _growth(locker, WHOLE_READS)
    assert grown == {}, f"work grew with the case ({BIG} items against {SMALL}): {grown}"


def test_filters_by_capture_time_and_position_read_by_the_page_when_items_have_them(
    locker: Locker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture-time and position filters, and the timeline, on cases whose every item
    has a capture time (a day holds 1 in 730 of them) and every other a position, as the
    million-item bench catalogue has. MEMBERSHIP_DRIVEN_MOST made 200 as in a million-item
    case: the placed items are then too many to drive a page, which walks the case instead
    (a filter that fewer items pass, as a month of two years, is driven by them up to
    MEMBERSHIP_DRIVEN_MOST: bounded, but growing with them up to it, so not measured here)."""
    monkeypatch.setattr(case_routes, "MEMBERSHIP_DRIVEN_MOST", 200)
    grown = _growth(locker, ANALYSED, analysed=True)
    assert grown == {}, f"work grew with the case ({BIG} items against {SMALL}): {grown}"


@pytest.mark.parametrize("backend", ["sqlite"])  # its VM steps count rows scanned
def test_a_jobs_request_is_looked_up_among_the_events_of_its_kind(locker: Locker) -> None:
    """An export's or a capture's "made already?" reads the events of its kind (migration
    0014's partial indexes), not the whole log: here 3,000 arrivals' events."""
    from docket.jobs.capture import captured_already
    from docket.jobs.export import made_already

    generate(locker, BIG, "Big", blobs=False)

    def lookups() -> int:
        with locker.engine.connect() as conn, work_of(locker) as work:
            assert made_already(conn, "0" * 64) is None
            assert captured_already(conn, "0" * 64) is None
        return work[0]

    indexed = lookups()
    with locker.engine.begin() as conn:  # the same lookups without the indexes
        conn.exec_driver_sql("DROP INDEX ix_events_package_exported")
        conn.exec_driver_sql("DROP INDEX ix_events_capture_made")
    assert indexed < 20 * STEP < lookups()


def test_a_quiet_case_activity_and_audit_do_not_read_other_cases_events(
    locker: Locker,
) -> None:
    """A case's dashboard (its latest activity) and its audit read the case's own rows of
    events (case_events, migration 0019): measured once alone, then again after another case
    has logged ten times as many events, the work is the same. Walking the log back, the
    quiet case's page read every event the busy case logged since."""
    with locker.engine.begin() as conn:
        admin = accounts.create_user(conn, "test", "ada", "correct horse battery", "admin")
        token = accounts.issue_token(conn, admin)
    client = TestClient(create_app(locker))
    client.headers["Authorization"] = f"Bearer {token}"
    quiet = generate(locker, SMALL, "Quiet", blobs=False)
    pages = {
        "dashboard": f"/api/cases/{quiet}/dashboard",
        "audit": f"/api/cases/{quiet}/audit",
        "audit of one kind": f"/api/cases/{quiet}/audit?kind=status",
    }

    def costs() -> dict[str, tuple[int, str]]:
        found = {}
        for label, url in pages.items():
            client.get(url).raise_for_status()  # warm: caches, compiled statements
            with work_of(locker) as work:
                answer = client.get(url)
            assert answer.status_code == 200, (label, answer.text[:200])
            found[label] = (work[0], answer.text)
        return found

    alone = costs()
    generate(locker, BIG, "Busy", blobs=False, start=SMALL)
    beside = costs()
    assert len(json.loads(alone["dashboard"][1])["activity"]) > 0
    for label in pages:
        assert beside[label][1] == alone[label][1], label  # the same page
        assert beside[label][0] <= 2 * alone[label][0] + 50 * STEP, (label, alone, beside)
