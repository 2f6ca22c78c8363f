"""What the database keeps of each case by its triggers: its rows of events (case_events,
migration 0019), every event of every item the case holds, whichever comes first, the event or
the membership; its counts of items by type (case_type_counts, 0020) and by capture day
(case_day_counts, 0023). All are filled by the migrations from older catalogues alike. The
dashboard's activity and the audit read the events (tests/test_rules_in_sql.py,
tests/test_workspace_audit.py, tests/test_web_scale.py), the dashboard the counts by type, the
timeline those by day; `verify` compares them with what they come from (here and
tests/test_tamper.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from conftest import photo, take
from sqlalchemy import Connection, delete, insert, select, update
from test_migrate import downgrade

from docket import review
from docket.catalogue import migrate, queries, schema
from docket.copies import snapshot
from docket.locker import Locker
from docket.scope import Scope
from docket.verify import verify


def _rows(conn: Connection) -> set[tuple[str, int]]:
    held, cases = schema.case_events.c, schema.cases.c
    found = conn.execute(
        select(cases.name, held.event_seq).join(schema.cases, cases.id == held.case_id)
    )
    return {(str(name), int(seq)) for name, seq in found}


def _counts(conn: Connection) -> dict[tuple[int, str], int]:
    counted = schema.case_type_counts.c
    rows = conn.execute(select(counted.case_id, counted.media_type, counted["items"]))
    return {(case_id, media_type): items for case_id, media_type, items in rows if items}


def _counted(conn: Connection) -> dict[tuple[int, str], int]:
    """What the counts should be, from the memberships, counted in Python."""
    members = conn.execute(select(schema.case_items.c.case_id, schema.case_items.c.media_type))
    return dict(Counter((case_id, media_type) for case_id, media_type in members))


def _day_counts(conn: Connection) -> dict[tuple[int, str], int]:
    counted = schema.case_day_counts.c
    rows = conn.execute(select(counted.case_id, counted.day, counted["items"]))
    return {(case_id, day): items for case_id, day, items in rows if items}


def _days_counted(conn: Connection) -> dict[tuple[int, str], int]:
    """What the counts by day should be, from the memberships' capture times, in Python."""
    members = schema.case_items.c
    dated = conn.execute(select(members.case_id, members.capture_time))
    return dict(Counter((case_id, time[:10]) for case_id, time in dated if time is not None))


def _expected(conn: Connection) -> set[tuple[str, int]]:
    """What the rows should be, from the log and the memberships, walked in Python."""
    members = conn.execute(
        select(schema.cases.c.name, schema.case_items.c.item_sha256).join(
            schema.cases, schema.cases.c.id == schema.case_items.c.case_id
        )
    ).all()
    events = conn.execute(select(schema.events.c.seq, schema.events.c.item_sha256)).all()
    return {(str(case), int(seq)) for case, item in members for seq, of in events if of == item}


def _worked(locker: Locker, folder: Path) -> tuple[str, str]:
    """North holds two photos; South later gets one of them (after its analysis and a status
    set in North), then a status of its own is set on it."""
    north = take(
        locker, photo(folder / "n", "a.jpg", 1), photo(folder / "n", "b.jpg", 2), case="North"
    )
    shared, only_north = (str(o.sha256) for o in north.outcomes)
    with locker.engine.connect() as conn, conn.begin():
        north_id = conn.execute(
            select(schema.cases.c.id).where(schema.cases.c.name == "North")
        ).scalar_one()
        review.set_status(conn, "zq8-north", shared, Scope(north_id, "North"), "in review")
    take(locker, photo(folder / "s", "a.jpg", 1), case="South")
    with locker.engine.connect() as conn, conn.begin():
        south_id = conn.execute(
            select(schema.cases.c.id).where(schema.cases.c.name == "South")
        ).scalar_one()
        review.set_status(conn, "zq8-south", shared, Scope(south_id, "South"), "disputed")
    return shared, only_north


def test_a_case_holds_every_event_of_its_items_whichever_came_first(
    locker: Locker, tmp_path: Path
) -> None:
    shared, only_north = _worked(locker, tmp_path)
    with locker.engine.connect() as conn:
        rows = _rows(conn)
        assert rows == _expected(conn)
        of_shared = set(
            conn.execute(
                select(schema.events.c.seq).where(schema.events.c.item_sha256 == shared)
            ).scalars()
        )
        of_north_only = set(
            conn.execute(
                select(schema.events.c.seq).where(schema.events.c.item_sha256 == only_north)
            ).scalars()
        )
    # South joined after the shared photo's arrival, analysis and North's status: it has them.
    assert len(of_shared) >= 4
    assert {seq for case, seq in rows if case == "South"} == of_shared
    assert {seq for case, seq in rows if case == "North"} == of_shared | of_north_only
    assert verify(locker, quick=True).ok


def test_a_membership_removed_takes_its_rows_with_it(locker: Locker, tmp_path: Path) -> None:
    shared, _ = _worked(locker, tmp_path)
    with locker.engine.begin() as conn:
        members = schema.case_items.c
        conn.execute(delete(schema.case_items).where(members.item_sha256 == shared))
        assert _rows(conn) == _expected(conn)
        assert {case for case, _ in _rows(conn)} == {"North"}
        assert _counts(conn) == _counted(conn)


def test_each_case_counts_its_items_by_type_as_they_come_and_go(
    locker: Locker, tmp_path: Path
) -> None:
    _, only_north = _worked(locker, tmp_path)
    take(locker, tmp_path / "n" / "a.jpg", case="West")  # known bytes joining a third case
    (tmp_path / "note.txt").write_text("zq8 a note")
    take(locker, tmp_path / "note.txt", case="North")
    with locker.engine.connect() as conn:
        cases = dict(conn.execute(select(schema.cases.c.name, schema.cases.c.id)).all())
        assert _counts(conn) == _counted(conn)
        assert queries.type_counts(conn, cases["North"]) == {
            "image/jpeg": 2,
            "application/octet-stream": 1,
        }
        assert queries.type_counts(conn, cases["South"]) == {"image/jpeg": 1}
    with locker.engine.begin() as conn:  # a type changed by hand, a membership removed
        members = schema.case_items.c
        conn.execute(
            update(schema.case_items)
            .where(members.item_sha256 == only_north)
            .values(media_type="video/zq8")
        )
        conn.execute(delete(schema.case_items).where(members.case_id == cases["West"]))
        assert _counts(conn) == _counted(conn)
        assert queries.type_counts(conn, cases["North"]) == {
            "image/jpeg": 1,
            "video/zq8": 1,
            "application/octet-stream": 1,
        }
        assert queries.type_counts(conn, cases["West"]) == {}


def test_each_case_counts_its_items_by_capture_day_as_they_come_and_go(
    locker: Locker, tmp_path: Path
) -> None:
    shared, only_north = _worked(locker, tmp_path)
    take(locker, tmp_path / "n" / "a.jpg", case="West")  # known bytes joining a third case
    with locker.engine.connect() as conn:
        cases = dict(conn.execute(select(schema.cases.c.name, schema.cases.c.id)).all())
        before = _day_counts(conn)
        assert before == _days_counted(conn)
        (day,) = {on for case_id, on in before if case_id == cases["North"]}
        assert before[(cases["North"], day)] == 2 and before[(cases["West"], day)] == 1
    members = schema.case_items.c
    with locker.engine.begin() as conn:  # as a new metadata result moves them (records)
        conn.execute(
            update(schema.case_items)
            .where(members.item_sha256 == only_north)
            .values(capture_time="2023-12-31T23:59:59")
        )
        conn.execute(
            update(schema.case_items)
            .where(members.item_sha256 == shared, members.case_id == cases["South"])
            .values(capture_time=None)
        )
        conn.execute(delete(schema.case_items).where(members.case_id == cases["West"]))
        assert (
            _day_counts(conn)
            == _days_counted(conn)
            == {
                (cases["North"], day): 1,
                (cases["North"], "2023-12-31"): 1,
            }
        )
    found = [str(p) for p in verify(locker, quick=True).problems]  # the edits by hand, named
    assert found != [] and not [p for p in found if "is counted as" in p]


def test_verify_names_a_day_count_that_differs(locker: Locker, tmp_path: Path) -> None:
    _worked(locker, tmp_path)
    with locker.engine.begin() as conn:
        counted = schema.case_day_counts.c
        (day,) = set(conn.execute(select(counted.day)).scalars())
        conn.execute(update(schema.case_day_counts).values(items=counted["items"] + 5))
        conn.execute(  # a day no membership was captured on
            insert(schema.case_day_counts).values(case_id=1, day="1999-01-01", items=1)
        )
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert found == [
        "case 'North': is counted as holding 1 item(s) captured on '1999-01-01', but holds 0",
        f"case 'North': is counted as holding 7 item(s) captured on '{day}', but holds 2",
        f"case 'South': is counted as holding 6 item(s) captured on '{day}', but holds 1",
    ]


def test_verify_names_a_count_that_differs(locker: Locker, tmp_path: Path) -> None:
    _worked(locker, tmp_path)
    assert verify(locker, quick=True).ok
    with locker.engine.begin() as conn:
        counted = schema.case_type_counts.c
        conn.execute(
            update(schema.case_type_counts)
            .where(counted.media_type == "image/jpeg")
            .values(items=counted["items"] + 5)
        )
    found = [str(p) for p in verify(locker, quick=True).problems]
    assert found == [
        "case 'North': is counted as holding 7 item(s) of type 'image/jpeg', but holds 2",
        "case 'South': is counted as holding 6 item(s) of type 'image/jpeg', but holds 1",
    ]


def test_the_migration_fills_the_rows_of_an_older_catalogue(locker: Locker, tmp_path: Path) -> None:
    _worked(locker, tmp_path)
    with locker.engine.connect() as conn:
        kept, counts, days = _rows(conn), _counts(conn), _day_counts(conn)
        assert days != {}
    with locker.engine.connect() as conn, conn.begin():
        downgrade(conn, "0018")
        assert not conn.dialect.has_table(conn, "case_events")
        assert not conn.dialect.has_table(conn, "case_type_counts")
        assert not conn.dialect.has_table(conn, "case_day_counts")
    path = locker.path
    locker.close()
    with Locker.open(path) as reopened:
        with reopened.engine.connect() as conn:
            assert migrate.current(conn) == migrate.head()
            assert _rows(conn) == kept and _counts(conn) == counts
            assert _day_counts(conn) == days
        take(reopened, photo(tmp_path / "w", "c.jpg", 3), case="West")  # triggers are back
        with reopened.engine.connect() as conn:
            assert _rows(conn) == _expected(conn) and _counts(conn) == _counted(conn)
            assert _day_counts(conn) == _days_counted(conn)
            assert any(case_id != 1 for case_id, _ in _day_counts(conn))
            assert any(case == "West" for case, _ in _rows(conn))
        assert verify(reopened, quick=True).ok


def test_a_copy_of_the_catalogue_has_the_same_rows(locker: Locker, tmp_path: Path) -> None:
    """A copy made row by row (a server catalogue's, docket.copies.snapshot) leaves these rows
    to the copy's triggers: they come out the same, not twice."""
    if locker.engine.dialect.name != "postgresql":
        pytest.skip("a SQLite catalogue is copied whole by SQLite's backup")
    _worked(locker, tmp_path)
    copy = tmp_path / "copy.sqlite"
    snapshot._copy_tables(locker.engine, copy)
    with locker.engine.connect() as conn:
        kept, counts, days = _rows(conn), _counts(conn), _day_counts(conn)
    with snapshot.opened(copy) as conn:
        assert _rows(conn) == kept and _counts(conn) == counts and _day_counts(conn) == days
