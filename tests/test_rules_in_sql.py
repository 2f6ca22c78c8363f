"""The case dashboard's counts and the grid's filters are made by the database (a case of a
million items is never read into memory): they must be exactly what the per-item rules give
(review.statuses_of, flags.current_flags, the item page's metadata, similarity.provenance),
whatever other cases, admins' records of no case, classifiers and failed analyses did."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import take
from sqlalchemy import Connection, select

from docket import review, similarity
from docket.catalogue import prebuilt, queries, schema
from docket.catalogue.records import record_result
from docket.custody.events import event_from_row
from docket.item_filters import FilterError, ItemFilter
from docket.locker import Locker
from docket.protect import flags
from docket.scope import Scope, visible_events
from docket.web import case_routes, grid_pages, workflow_routes


def _items(locker: Locker, folder: Path, case: str, count: int, first: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(first, first + count):
        (folder / f"note-{n}.txt").write_text(f"zq6 note {n}\n")
    done = take(locker, *[folder / f"note-{n}.txt" for n in range(first, first + count)], case=case)
    return [str(o.sha256) for o in done.outcomes]


def _case_id(conn: Connection, name: str) -> int:
    return int(conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == name)).one()[0])


@dataclass(frozen=True)
class _Worked:
    north: list[str]  # North's items in the grid's order; north[0] is in South too
    north_id: int


def _worked_on(locker: Locker, tmp_path: Path) -> _Worked:
    """Two cases sharing an item, worked on so that every rule has a case to get wrong."""
    north = _items(locker, tmp_path / "n", "North", 8)
    south_only = _items(locker, tmp_path / "s", "South", 2, first=20)
    shared = north[0]
    take(locker, tmp_path / "n" / "note-0.txt", case="South")  # North's first item, in South too
    with locker.engine.connect() as conn, conn.begin():
        n_id, s_id = _case_id(conn, "North"), _case_id(conn, "South")
        in_north, in_south, uncased = Scope(n_id, "North"), Scope(s_id, "South"), Scope(None, None)
        # statuses: changed twice (the latest counts), set back to new, other cases' own
        review.set_status(conn, "a", north[1], in_north, "in review")
        review.set_status(conn, "a", north[1], in_north, "verified")
        review.set_status(conn, "a", north[2], in_north, "disputed")
        review.set_status(conn, "a", north[2], in_north, "new")
        review.set_status(conn, "a", shared, in_north, "disputed")
        review.set_status(conn, "a", shared, in_south, "excluded")  # later, and South's own
        review.set_status(conn, "a", south_only[0], in_south, "excluded")
        # flags: by hand (the latest wins), in another case, of no case (admins see it)
        flags.flag(conn, "a", north[1], "graphic", in_north)
        flags.flag(conn, "a", north[1], "clear", in_north)
        flags.flag(conn, "a", shared, "sensitive", in_south)
        flags.flag(conn, "a", north[3], "graphic", uncased)
        # a classifier: proposed, failed after a proposal, overruled by hand, no flag at all
        record_result(conn, "c", north[4], "classify", "1", {"flag": "graphic"})
        record_result(conn, "c", north[5], "classify", "1", {"flag": "graphic"})
        record_result(conn, "c", north[5], "classify", "1", None, error="zq6 model failed")
        record_result(conn, "c", north[1], "classify", "1", {"flag": "sensitive"})
        record_result(conn, "c", north[6], "classify", "1", {"note": "nothing to say"})
        record_result(conn, "c", north[7], "classify", "1", {"flag": "clear"}, error="zq6 half")
        record_result(conn, "c", north[3], "classify", "1", {"flag": "sensitive"})
        record_result(conn, "c", south_only[1], "classify", "1", {"flag": "graphic"})
    return _Worked(north, n_id)


@pytest.mark.parametrize("admin", [False, True])
def test_counts_are_the_per_item_rules_counted(
    locker: Locker, tmp_path: Path, admin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    worked = _worked_on(locker, tmp_path)
    north, n_id = worked.north, worked.north_id
    view = Scope(n_id, "North", admin)
    with locker.engine.connect() as conn:
        members = list(
            conn.execute(
                select(schema.case_items.c.item_sha256).where(schema.case_items.c.case_id == n_id)
            ).scalars()
        )
        assert sorted(members) == sorted(north)
        by_item = Counter(s.status for s in review.statuses_of(conn, members, view).values())
        counted = review.status_counts(conn, n_id, len(members))
        flagged = Counter(flags.current_flags(conn, members, view).values())
        flag_counts = flags.flag_counts(conn, view, len(members))
        for by_rows in (False, True):  # driven by the flags and classifications, or the items
            monkeypatch.setattr(flags, "_fewer", lambda *_, by_rows=by_rows: by_rows)
            assert flags.flag_counts(conn, view, len(members)) == flag_counts
    assert counted == {s: by_item.get(s, 0) for s in review.STATUSES}
    assert counted == {"new": 6, "in review": 0, "verified": 1, "disputed": 1, "excluded": 0}
    assert flag_counts == dict(flagged)
    # north[3]: flagged graphic by an admin outside any case; only an admin's view shows it
    expected = {"clear": 1, "graphic": 2 if admin else 1, "unreviewed": 5}
    if not admin:
        expected["sensitive"] = 1  # the classifier's proposal stands for north[3]
    assert flag_counts == expected
    assert list(flag_counts.values()) == sorted(flag_counts.values(), reverse=True)


@pytest.mark.parametrize(("admin", "batch_most"), [(False, 2), (True, 2), (False, 500)])
def test_activity_read_from_the_case_rows_is_what_the_whole_log_gives(
    locker: Locker,
    tmp_path: Path,
    admin: bool,
    batch_most: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A case's activity is read from its own rows of events (queries.case_events), in
    batches (of 2, or growing from 12): exactly what walking the whole log gives, other
    cases' work on shared bytes left out."""
    north = _items(locker, tmp_path / "n", "North", 4)
    take(locker, tmp_path / "n" / "note-0.txt", case="South")  # shared
    south_only = _items(locker, tmp_path / "s", "South", 2, first=20)
    with locker.engine.connect() as conn, conn.begin():
        n_id, s_id = _case_id(conn, "North"), _case_id(conn, "South")
        in_north, in_south = Scope(n_id, "North"), Scope(s_id, "South")
        for round_ in range(4):  # North's and South's work interleaved in the log
            review.set_status(conn, "zq6-north", north[round_], in_north, "in review")
            review.set_status(conn, "zq6-south", north[0], in_south, "disputed")
            review.set_status(conn, "zq6-south", south_only[round_ % 2], in_south, "excluded")
    monkeypatch.setattr(workflow_routes, "ACTIVITY", 6)
    monkeypatch.setattr(workflow_routes, "ACTIVITY_BATCH", batch_most)
    view = Scope(n_id, "North", admin)
    with locker.engine.connect() as conn:
        found = workflow_routes._activity(conn, view, n_id)
        every = conn.execute(select(schema.events).order_by(schema.events.c.seq.desc()))
        of_north = [e for e in map(event_from_row, every.mappings()) if e.item in north]
        expected = [e.seq for e in visible_events(conn, view, of_north)][:6]
    assert [a["seq"] for a in found] == expected
    assert len(found) == 6
    assert {a["actor"] for a in found if a["action"] == "item.status_set"} == {"zq6-north"}
    assert all(a["item"] in north for a in found)


def _metadata(conn: Connection, item: str, error: str | None = None, **normalised: Any) -> None:
    data = None if error else {"normalised": normalised}
    record_result(conn, "analyser", item, "metadata", "1", data, error=error)


@pytest.mark.parametrize("admin", [False, True])
def test_grid_filters_are_the_per_item_rules(
    locker: Locker, tmp_path: Path, admin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each filter the database applies keeps exactly the items the per-item rules keep, in
    the grid's order, page after page, with and without a text search driving it."""
    worked = _worked_on(locker, tmp_path)
    north, n_id = worked.north, worked.north_id
    with locker.engine.connect() as conn, conn.begin():
        _metadata(conn, north[0], gps_latitude=51.5, capture_time="2024-03-01T23:59:59")
        _metadata(conn, north[1], gps_latitude=10.0, capture_time="2024-03-02T08:00:00")
        _metadata(conn, north[1], capture_time="2024-03-02T08:00:00")  # re-read: no position
        _metadata(conn, north[2], gps_latitude=0.0, capture_time="2024-03-03T00:00:00")
        _metadata(conn, north[2], error="zq6 exiftool timed out")  # the dates stand
        _metadata(conn, north[3], capture_time=None)
        _metadata(conn, north[4], gps_latitude=0.0, capture_time="2024-02-29")
        _metadata(conn, north[5], capture_time="2024:03:01 10:00:00")  # as EXIF writes it
        _metadata(conn, north[6], capture_time="2024-03-01T10:00:00\u00e9")  # not ASCII
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "note-form.pdf").write_bytes(b"%PDF-1.4\n%zq6\n1 0 obj\n")
    (tmp_path / "t" / "note-dot.gif").write_bytes(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    take(locker, tmp_path / "t", case="North", defer_analysis=True)
    view = Scope(n_id, "North", admin)
    with locker.engine.connect() as conn:
        order = grid_pages.page(conn, n_id, grid_pages.Cut(100))
        assert set(north) < set(order) and len(order) == len(north) + 2
        types = {sha: queries.describe_item(conn, sha)["media_type"] for sha in order}
        status_of = review.statuses_of(conn, order, view)
        flag_of = flags.current_flags(conn, order, view)
        facts = {sha: queries.describe_item(conn, sha)["metadata"] or {} for sha in order}
        captured = similarity.provenance(conn, order)

        def kept(size: int | None = None, **chosen: Any) -> list[str]:
            filters = case_routes.Filters(**chosen)
            narrowing = filters.narrowing(conn, view)
            viewed = prebuilt.view(view.case_id, view.cases)

            def cut(cut: grid_pages.Cut) -> list[str]:
                return grid_pages.filtered_page(conn, n_id, narrowing, viewed, cut)

            if size is None:
                return cut(grid_pages.Cut(None))
            pages = [cut(grid_pages.Cut(size))]
            while len(pages[-1]) == size:  # the next page by key, as the grid's link asks
                pages.append(cut(grid_pages.Cut(size, after=pages[-1][-1])))
            assert cut(grid_pages.Cut(size, size)) == (pages[1] if len(pages) > 1 else [])
            for before, page in zip(pages[1:], pages, strict=False):  # back, as "previous" asks
                if before:
                    assert cut(grid_pages.Cut(size, before=before[0])) == page
            return [sha for page in pages for sha in page]

        for driven_most, status in itertools.product((0, 10**6), review.STATUSES):
            # 0: the case is walked; else the items ever set to the status drive
            monkeypatch.setattr(case_routes, "DRIVEN_MOST", driven_most)
            wanted = [sha for sha in order if status_of[sha].status == status]
            assert kept(status=status) == wanted
            assert kept(2, status=status) == wanted
            assert kept(2, status=status, q="note") == wanted  # the search's matches drive
        has_gps = [sha for sha in order if facts[sha].get("gps_latitude") is not None]
        for driven_most in (0, 10**6):  # 0: the case is walked; else the items ever flagged
            monkeypatch.setattr(case_routes, "DRIVEN_MOST", driven_most)  # or with GPS drive
            monkeypatch.setattr(case_routes, "MEMBERSHIP_DRIVEN_MOST", driven_most)
            for flag in (*flags.FLAGS, flags.UNREVIEWED):
                assert kept(flag=flag) == [sha for sha in order if flag_of[sha] == flag]
                assert kept(2, flag=flag, status="new") == [
                    sha for sha in order if flag_of[sha] == flag and status_of[sha].status == "new"
                ]
            assert kept(gps=True) == kept(1, gps=True) == has_gps == [north[0], north[4]]
        days = {sha: (captured[sha].capture_time or "")[:10] for sha in order}
        ranges = [("2024-03-01", "2024-03-01"), ("2024-02-29", ""), ("", "2024-03-02")]
        for driven_most, (since, until) in itertools.product((0, 10**6), ranges):
            monkeypatch.setattr(case_routes, "MEMBERSHIP_DRIVEN_MOST", driven_most)
            low, high = since or "0000", until or "9999"
            wanted = [sha for sha in order if days[sha] and low <= days[sha] <= high]
            assert kept(since=since, until=until) == kept(1, since=since, until=until) == wanted
        assert kept(since="2024-03-01", until="2024-03-01") == [north[0], north[6]]
        assert kept(since="2024-03-01") == [north[0], north[1], north[2], north[5], north[6]]
        for other_digits in (
            "\u0662\u0660\u0662\u0664-\u0660\u0663-\u0660\u0661",
            "\uff12\uff10\uff12\uff14-03-01",
        ):
            # Arabic-Indic and full-width digits are digits to Python's \d, not to the database
            with pytest.raises(FilterError, match="YYYY-MM-DD"):
                kept(since=other_digits)
        assert queries.type_counts(conn, n_id) == Counter(types.values())
        for driven_most in (0, 10**6):  # 0: the case is walked; else its items of a type drive
            monkeypatch.setattr(case_routes, "DRIVEN_MOST", driven_most)
            for prefix in ("application/", "application/pdf", "image/", "image/gif", "i"):
                wanted = [sha for sha in order if types[sha].startswith(prefix)]
                assert kept(type=prefix) == kept(2, type=prefix) == wanted != []
            for wildcard in ("application%", "applicatio_/", "video/"):  # LIKE's are letters
                assert kept(type=wildcard) == []
        rows = [{"sha256": sha} for sha in order]  # the conditions themselves (`docket ls`)
        for prefix in ("application/", "image/", "application%", "applicatio_/", "IMAGE/"):
            chosen = [row["sha256"] for row in ItemFilter(prefix).apply(conn, rows, {}, None)]
            assert chosen == [sha for sha in order if types[sha].startswith(prefix)]
        assert kept(q="note", gps=True, status="disputed") == [north[0]]
        assert kept(q="no-such-word-zq6") == []


def test_items_ever_flagged_are_never_cut_short_by_an_item_proposed_twice(
    locker: Locker, tmp_path: Path
) -> None:
    """The items that may have a flag drive its filter only when they are all there: one item
    proposed the flag twice is two rows, and a limit counted in rows must not stand for
    items (the other item would be left out of the filtered grid)."""
    first, second = sorted(_items(locker, tmp_path / "n", "North", 2))
    with locker.engine.connect() as conn, conn.begin():
        n_id = _case_id(conn, "North")
        for item in (first, first, second):  # the index reads them in this order
            record_result(conn, "c", item, "classify", "1", {"flag": "graphic"})
    view = Scope(n_id, "North")
    with locker.engine.connect() as conn:
        assert flags.ever_flagged(conn, view, "graphic", 1) is None
        assert flags.ever_flagged(conn, view, "graphic", 3) == {first, second}
        assert flags.ever_flagged(conn, view, flags.UNREVIEWED, 10) is None
