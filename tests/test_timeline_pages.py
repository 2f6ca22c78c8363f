"""The timeline read a page of days at a time (docket.timeline): pages followed by their key
give the full listing, each item placed by its latest metadata result and in its own case only,
incidents on their days; a page costs what its days hold, whatever the size of the case; the
web page links to the next page and refuses a malformed key."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, insert, update

from docket import accounts, incidents, timeline
from docket.catalogue import records, schema
from docket.locker import Locker
from docket.web.app import create_app

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from _catalogue import content_of, generate
from test_web_scale import STEP, work_of

PER_DAY = 10  # items captured each day


def _sha(number: int) -> str:
    return hashlib.sha256(content_of(number)).hexdigest()


def _result(number: int, captured: str | None) -> dict[str, Any]:
    normalised = {} if captured is None else {"capture_time": captured}
    return {
        "item_sha256": _sha(number),
        "step": "metadata",
        "step_version": "1",
        "status": "ok",
        "error": None,
        "data": json.dumps({"normalised": normalised}),
        "created_at": "2026-01-01T00:00:00Z",
        "event_seq": 0,
    }


def _planted(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Metadata results written straight into the table (record_result would log an event for
    each), with what record_result keeps beside each membership: its item's capture time."""
    conn.execute(insert(schema.results), rows)
    members = schema.case_items.c
    for item in {row["item_sha256"] for row in rows}:
        conn.execute(
            update(schema.case_items)
            .where(members.item_sha256 == item)
            .values(capture_time=records.latest_capture_time(conn, item))
        )


def _dated(locker: Locker, first: int, count: int, start: date) -> None:
    """Metadata results dating items first.. first + count - 1, PER_DAY a day from `start`."""
    rows = []
    for n in range(count):
        day = start + timedelta(days=n // PER_DAY)
        rows.append(_result(first + n, f"{day}T{n % PER_DAY:02d}:30:00+03:00"))
    with locker.engine.begin() as conn:
        _planted(conn, rows)


def _pages(conn: Connection, case_id: int, count: int, per_day: int) -> list[timeline.Timeline]:
    """Every page of the case's timeline, each followed from the one before by its key."""
    pages, after = [], None
    while True:
        found = timeline.page(conn, case_id, after, count=count, per_day=per_day)
        pages.append(found)
        if found.next is None:
            return pages
        after = found.next


def _incident(conn: Connection, case_id: int, title: str, when: str | None) -> None:
    incidents.record(conn, "tester", case_id, incidents.Incident(title, occurred_from=when))


def test_pages_followed_by_key_are_the_whole_timeline(locker: Locker) -> None:
    north = generate(locker, 95, "North", blobs=False)
    south = generate(locker, 20, "South", blobs=False, start=1000)
    _dated(locker, 0, 95, date(2024, 1, 1))
    _dated(locker, 1000, 20, date(2024, 1, 1))  # the same days, another case
    with locker.engine.begin() as conn:
        # The latest metadata result is in force: item 0 loses its time, item 1 moves.
        _planted(conn, [_result(0, None), _result(1, "2023-12-31T23:00")])
        _incident(conn, north, "Market shelling", "2024-01-03T09:40")
        _incident(conn, north, "Checkpoint closure", "2024-01-20")
        _incident(conn, north, "Undated raid", None)
        _incident(conn, south, "South's own", "2024-01-02")
    with locker.engine.connect() as conn:
        whole = timeline.case_timeline(conn, north, per_day=4)
        pages = _pages(conn, north, count=3, per_day=4)
    days = [d.day for d in whole.days]
    assert days == ["2023-12-31", *(f"2024-01-{d:02d}" for d in range(1, 11)), "2024-01-20"]
    assert [asdict(d) for p in pages for d in p.days] == [asdict(d) for d in whole.days]
    assert [len(p.days) for p in pages] == [3, 3, 3, 3]
    by_day = {d.day: d for d in whole.days}
    assert [i["sha256"] for i in by_day["2023-12-31"].items] == [_sha(1)]
    first = by_day["2024-01-01"]
    assert first.item_count == PER_DAY - 2 and [i["sha256"] for i in first.items] == [
        _sha(n) for n in range(2, 6)
    ]
    assert first.items[0] == {
        "sha256": _sha(2),
        "name": "generated/note0000002.txt",
        "captured": "2024-01-01T02:30:00+03:00",
    }
    assert by_day["2024-01-10"].item_count == 5
    assert [i["title"] for i in by_day["2024-01-03"].incidents] == ["Market shelling"]
    assert by_day["2024-01-20"].items == [] and by_day["2024-01-20"].item_count == 0
    shown = {i["sha256"] for d in whole.days for i in d.items}
    assert not shown & {_sha(n) for n in range(1000, 1020)}
    assert whole.undated_items == 1  # item 0
    assert [i["title"] for p in pages for i in p.undated_incidents] == ["Undated raid"] * 4
    assert "South's own" not in json.dumps([asdict(p) for p in pages])
    # What the API and the command line write out is asdict's, field for field.
    assert [p.as_dict() for p in [*pages, whole]] == [asdict(p) for p in [*pages, whole]]


def test_a_page_costs_what_its_days_hold_not_the_case(locker: Locker) -> None:
    """A page of a small case costs the same beside a case ten times bigger, whose items are
    captured on the same days and between them (read through the results' capture times, each
    of the big case's items on those days was passed over)."""
    small = generate(locker, 300, "Small", blobs=False)
    _dated(locker, 0, 300, date(2024, 1, 1))

    def costs(case_id: int) -> list[int]:
        found = []
        for after in (None, "2024-01-16"):  # 10 full days follow in both cases
            with locker.engine.connect() as conn:
                timeline.page(conn, case_id, after, count=10)  # warm
                with work_of(locker) as work:
                    page = timeline.page(conn, case_id, after, count=10)
            assert [d.item_count for d in page.days] == [PER_DAY] * 10
            found.append(work[0])
        return found

    alone = costs(small)
    big = generate(locker, 3000, "Big", blobs=False, start=300)
    rows = []
    for n in range(3000):  # 100 a day over the small case's 30 days, at other minutes
        day = date(2024, 1, 1) + timedelta(days=n % 30)
        rows.append(_result(300 + n, f"{day}T{n // 30 % 24:02d}:{n // 720 + 40:02d}:00+03:00"))
    with locker.engine.begin() as conn:
        _planted(conn, rows)
    beside_big = costs(small)
    with locker.engine.connect() as conn:
        assert timeline.page(conn, big, None, count=1).days[0].item_count == 100
    print({"alone": alone, "beside a big case": beside_big})
    for before, after in zip(alone, beside_big, strict=True):
        assert after <= before + 10 * STEP, (alone, beside_big)


def test_the_timeline_page_links_to_the_next_and_refuses_a_malformed_key(
    locker: Locker,
) -> None:
    case_id = generate(locker, 400, "North", blobs=False)
    _dated(locker, 0, 400, date(2024, 1, 1))  # 40 days: two pages
    with locker.engine.begin() as conn:
        admin = accounts.create_user(conn, "test", "ada", "correct horse battery", "admin")
        token = accounts.issue_token(conn, admin)
    client = TestClient(create_app(locker))
    client.headers["Authorization"] = f"Bearer {token}"
    first = client.get(f"/cases/{case_id}/timeline").text
    assert f'href="/cases/{case_id}/timeline?after=2024-01-31"' in first
    assert "2024-01-31" in first and "2024-02-01" not in first
    second = client.get(f"/api/cases/{case_id}/timeline?after=2024-01-31").json()
    assert [d["day"] for d in second["days"]] == [f"2024-02-{d:02d}" for d in range(1, 10)]
    assert second["next"] is None
    assert client.get(f"/api/cases/{case_id}/timeline?after=yesterday").status_code == 422


def test_the_command_line_prints_every_day_and_counts_the_undated(locker: Locker, cli: Any) -> None:
    generate(locker, 45, "North", blobs=False)
    _dated(locker, 0, 40, date(2024, 1, 1))  # 4 days; items 40 to 44 have no capture time
    out = cli("incident", "timeline", "--locker", locker.path, "North").out.splitlines()
    assert [line for line in out if not line.startswith(" ")][:-1] == [
        f"2024-01-0{d}" for d in range(1, 5)
    ]
    assert out[1].split() == ["00:30:00+03:00", _sha(0)[:12], "generated/note0000000.txt"]
    assert out[-1] == "5 item(s) without a capture time"


def test_an_item_in_two_cases_is_named_by_each_case_s_own_arrival(
    locker: Locker, tmp_path: Path
) -> None:
    """The same bytes arrived first in South under a name South's people gave it, then in
    North: North's timeline names the item by North's arrival, and no page of it shows South's
    name, however the names are read (one read of the page's arrivals in the case)."""
    from conftest import take

    south_dir, north_dir = tmp_path / "zq6-south-informant-Rafiq", tmp_path / "north"
    south_dir.mkdir()
    north_dir.mkdir()
    (south_dir / "zq6-safehouse-photo.txt").write_bytes(b"shared bytes of two cases\n")
    (north_dir / "market.txt").write_bytes(b"shared bytes of two cases\n")
    take(locker, south_dir, case="South")
    summary = take(locker, north_dir, case="North")
    item = summary.outcomes[0].sha256
    assert item is not None
    with locker.engine.begin() as conn:
        records.record_result(
            conn, "analyser", item, "metadata", "1", {"normalised": {"capture_time": "2024-05-01"}}
        )
        north = conn.execute(schema.cases.select().where(schema.cases.c.name == "North")).one().id
    with locker.engine.connect() as conn:
        found = timeline.page(conn, north)
        whole = timeline.case_timeline(conn, north)
    assert [i["name"] for d in found.days for i in d.items] == [str(north_dir / "market.txt")]
    for shown in (found, whole):
        assert "zq6" not in json.dumps(asdict(shown))


def test_each_day_counts_every_item_it_holds_over_more_days_than_a_page(locker: Locker) -> None:
    """Days holding more items than a day shows give their counts from the database's own
    count (case_day_counts), read a page of days at a time: over 70 days, more than two
    pages' reads, by page and in the full listing, each day counts all it holds, and a day's
    items are the first by capture time."""
    case_id = generate(locker, 70 * PER_DAY, "Busy", blobs=False)
    _dated(locker, 0, 70 * PER_DAY, date(2024, 1, 1))
    with locker.engine.connect() as conn:
        listed = list(timeline.days(conn, case_id, per_day=3))
        paged = [d for page in _pages(conn, case_id, count=9, per_day=3) for d in page.days]
    assert len(listed) == 70 and [d.day for d in paged] == [d.day for d in listed]
    assert {d.item_count for d in listed} == {d.item_count for d in paged} == {PER_DAY}
    for number, day in enumerate(listed):
        assert day.day == str(date(2024, 1, 1) + timedelta(days=number))
        firsts = [_sha(number * PER_DAY + n) for n in range(3)]  # captured at 00:30, 01:30, ...
        assert [i["sha256"] for i in day.items] == firsts
        assert all(i["name"].startswith("generated/") for i in day.items)


def test_a_case_with_few_items_a_day_is_read_days_at_a_time(locker: Locker) -> None:
    """Days holding fewer items than a day shows are read several at a time: a read that
    reaches past a day keeps the days after it that it holds whole. Over 40 days of 1 to 5
    items (3 shown a day), with incidents between them, every page and the full listing give
    exactly the days, items and counts worked out from what was planted, in far fewer reads of
    the case's items than days."""
    sizes = [1, 2, 3, 4, 1, 3, 2, 5, 3, 1]  # around a day's 3, and a read's 4, both ways
    case_id = generate(locker, sum(sizes) * 4, "Sparse", blobs=False)
    planted, number, offset = [], 0, 0
    expected: dict[str, list[tuple[str, str]]] = {}
    for k in range(40):
        offset += 1 + k % 4  # gaps of 0 to 3 days
        day = str(date(2024, 1, 1) + timedelta(days=offset))
        for n in range(sizes[k % len(sizes)]):
            captured = f"{day}T{(7 * n) % 24:02d}:15:00Z"
            planted.append(_result(number, captured))
            expected.setdefault(day, []).append((captured, _sha(number)))
            number += 1
    with locker.engine.begin() as conn:
        _planted(conn, planted)
        _incident(conn, case_id, "Roadblock", "2024-01-01T10:00")  # a day with no items
        _incident(conn, case_id, "Shelling", "2024-01-04")  # a day with items
    incident_days = {"2024-01-01"}
    assert "2024-01-04" in expected and len(expected) == 40
    reads: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "= case_items.first_acquisition" in statement:  # a read of the days' items
            reads.append(statement)

    with locker.engine.connect() as conn:
        event.listen(locker.engine, "before_cursor_execute", note)
        try:
            shown_whole = list(timeline.days(conn, case_id))  # 24 a day: every item
            read_for_listing = len(reads)
            listed = list(timeline.days(conn, case_id, per_day=3))
            paged = [d for page in _pages(conn, case_id, count=7, per_day=3) for d in page.days]
        finally:
            event.remove(locker.engine, "before_cursor_execute", note)
    want = sorted({*expected, *incident_days})
    for days in (listed, paged):
        assert [d.day for d in days] == want
        for shown in days:
            held = sorted(expected.get(shown.day, []))
            assert shown.item_count == len(held), shown.day
            assert [(i["captured"], i["sha256"]) for i in shown.items] == held[:3], shown.day
        assert [i["title"] for d in days for i in d.incidents] == ["Roadblock", "Shelling"]
    assert [(d.day, [i["sha256"] for i in d.items]) for d in shown_whole] == [
        (on, [sha for _, sha in sorted(expected.get(on, []))]) for on in want
    ]
    print({"days": len(want), "reads for the listing": read_for_listing})
    assert 1 <= read_for_listing <= len(want) // 4  # up to 25 items a read: 1 to 5 a day
