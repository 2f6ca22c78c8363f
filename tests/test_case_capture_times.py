"""Each case membership carries its item's capture time and whether it has a position
(case_items.capture_time and has_position, migration 0018): the capture time of the item's
latest successful metadata result, and whether its latest metadata result of any status gives
a position, in every case that holds it, as arrivals and results are recorded and as the
migration fills them from older catalogues. The timeline and the grid's date and GPS filters
read them (tests/test_timeline_pages.py, tests/test_web_scale.py); `verify` compares them with
the results (tests/test_tamper.py)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from conftest import photo, take
from sqlalchemy import Connection, select, update
from test_migrate import downgrade

from docket import scope
from docket.catalogue import migrate, prebuilt, records, schema
from docket.catalogue.records import record_result
from docket.locker import Locker
from docket.verify import verify
from docket.web import case_routes, grid_pages

PHOTO_TIME = "2024-03-01T12:34:56+03:00"  # conftest.FACTS, normalised


def _listed(conn: Connection, what: str = "capture_time") -> dict[tuple[str, str], Any]:
    """(case, item) of every membership, with its capture time (or `what` else it carries)."""
    members, cases = schema.case_items.c, schema.cases.c
    rows = conn.execute(
        select(cases.name, members.item_sha256, members[what]).join(
            schema.cases, cases.id == members.case_id
        )
    )
    return {(case, item): value for case, item, value in rows}


def _metadata(conn: Connection, item: str, error: str | None = None, **normalised: Any) -> None:
    record_result(conn, "analyser", item, "metadata", "9", {"normalised": normalised}, error)


def test_every_case_holding_an_item_follows_its_latest_metadata(
    locker: Locker, tmp_path: Path
) -> None:
    shot = photo(tmp_path / "in")
    sha = str(take(locker, shot, case="North").outcomes[0].sha256)
    with locker.engine.connect() as conn:
        assert _listed(conn) == {("North", sha): PHOTO_TIME}
    # Into a second case once analysed: the new membership carries the time already known.
    take(locker, shot, case="South", defer_analysis=True)
    with locker.engine.connect() as conn:
        assert _listed(conn) == {("North", sha): PHOTO_TIME, ("South", sha): PHOTO_TIME}
        assert _listed(conn, "has_position") == {("North", sha): True, ("South", sha): True}
    steps: list[tuple[dict[str, Any], str | None, bool]] = [
        # A failure keeps the time that stands, and has no position (as the filter has it).
        ({"error": "zq6 exiftool timed out", "capture_time": "1999-01-01"}, PHOTO_TIME, False),
        ({"error": "zq6 timed out", "gps_latitude": 0.0}, PHOTO_TIME, True),  # 0 is a position
        ({"capture_time": "2023-05-06T07:08:09"}, "2023-05-06T07:08:09", False),  # it moves
        ({"capture_time": 20230506, "gps_latitude": "north"}, None, True),  # not text: no time
        ({"capture_time": "2023-05-06T07:08:09." + "9" * 60}, None, False),  # too long to index
        ({"capture_time": "2023-05-06\u00e9"}, "2023-05-06\u00e9", False),  # text, as filtered
        ({"gps_latitude": None}, None, False),  # a re-read that gives neither
    ]
    for facts, expected, placed in steps:
        with locker.engine.begin() as conn:
            _metadata(conn, sha, **facts)
        with locker.engine.connect() as conn:
            assert _listed(conn) == {("North", sha): expected, ("South", sha): expected}, facts
            assert _listed(conn, "has_position") == {("North", sha): placed, ("South", sha): placed}
            assert records.latest_capture_time(conn, sha) == expected
            assert records.latest_has_position(conn, sha) == placed
        assert verify(locker, quick=True).ok


def test_the_migration_fills_the_times_from_the_results_as_records_keep_them(
    locker: Locker, tmp_path: Path
) -> None:
    """A catalogue from before 0018, its items' metadata in every form the records meet (none,
    a failure after success, text, a number, too long, re-read without a time), upgraded."""
    made = [
        take(locker, photo(tmp_path / f"in{n}", seed=n), case="North", defer_analysis=True)
        for n in range(7)
    ]
    shas = [str(summary.outcomes[0].sha256) for summary in made]
    for sha in shas:  # each photo's metadata was read on the way in: a first time for all
        with locker.engine.connect() as conn:
            assert records.latest_capture_time(conn, sha) == PHOTO_TIME
    later: list[dict[str, Any]] = [
        {"capture_time": "2023-05-06T07:08:09"},
        {"capture_time": 20230506, "gps_latitude": 0},
        {"capture_time": "2023-05-06T07:08:09." + "9" * 60},
        {},
        {"capture_time": "2023-05-06\u00e9", "gps_latitude": "north"},
        {"error": "zq6 exiftool timed out", "capture_time": "1999-01-01"},
    ]
    with locker.engine.begin() as conn:
        for sha, facts in zip(shas[1:], later, strict=True):
            _metadata(conn, sha, **facts)
    with locker.engine.connect() as conn:
        kept, kept_placed = _listed(conn), _listed(conn, "has_position")
    times = [PHOTO_TIME, "2023-05-06T07:08:09", None, None, None, "2023-05-06\u00e9", PHOTO_TIME]
    assert kept == {("North", sha): time for sha, time in zip(shas, times, strict=True)}
    placed = [True, False, True, False, False, True, False]
    assert kept_placed == {("North", sha): p for sha, p in zip(shas, placed, strict=True)}
    with locker.engine.connect() as conn, conn.begin():
        downgrade(conn, "0017")
        assert "capture_time" not in {
            column["name"] for column in conn.dialect.get_columns(conn, "case_items")
        }
    path = locker.path
    locker.close()
    with Locker.open(path) as reopened:
        with reopened.engine.connect() as conn:
            assert migrate.current(conn) == migrate.head()
            assert _listed(conn) == kept and _listed(conn, "has_position") == kept_placed
        assert verify(reopened, quick=True).ok
        for forged in ({"capture_time": None}, {"has_position": False}):  # verify finds them
            with reopened.engine.begin() as conn:
                conn.execute(update(schema.case_items).values(**forged))
            assert not verify(reopened, quick=True).ok
            with reopened.engine.begin() as conn:
                for (_, sha), time in kept.items():
                    members = schema.case_items.c
                    conn.execute(
                        update(schema.case_items)
                        .where(members.item_sha256 == sha)
                        .values(capture_time=time, has_position=kept_placed[("North", sha)])
                    )
            assert verify(reopened, quick=True).ok


def test_an_exif_time_with_a_long_fraction_is_no_capture_time() -> None:
    """Fractions of a second to the nanosecond, no finer: a capture time fits its index."""
    from docket.analyse.metadata import parse_exif_time

    assert parse_exif_time("2024:03:01 12:34:56.123456789") == (
        "2024-03-01T12:34:56.123456789",
        False,
    )
    assert parse_exif_time("2024:03:01 12:34:56." + "1" * 10) is None
    assert parse_exif_time("\u0662\u0660\u0662\u0664:03:01 12:34:56") is None  # not ASCII digits


def test_a_case_reads_its_own_placed_items_in_its_order_whatever_another_case_holds(
    locker: Locker, tmp_path: Path
) -> None:
    """The grid's GPS filter reads the case's own items with a position, in the grid's order
    (migration 0022): another case's many cost its page nothing (they once made it walk the
    whole case for its few), and an item whose position was read away is left out."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
    from _catalogue import content_of, generate
    from test_web_scale import work_of

    few = generate(locker, 50, "Few placed")
    many = generate(locker, 300, "Many placed", start=50)
    sha = [hashlib.sha256(content_of(n)).hexdigest() for n in range(350)]

    def placed_page(case_id: int, name: str) -> tuple[list[str], int]:
        with locker.engine.connect() as conn, work_of(locker) as work:
            view = scope.Scope(case_id, name, True)
            narrowing = case_routes.Filters(gps=True).narrowing(conn, view)
            cut = grid_pages.Cut(case_routes.PAGE_SIZE)
            parameters = prebuilt.view(case_id, view.cases)
            return grid_pages.filtered_page(conn, case_id, narrowing, parameters, cut), work[0]

    with locker.engine.begin() as conn:
        for n in (7, 21):
            _metadata(conn, sha[n], gps_latitude=48.85)
        _metadata(conn, sha[21], gps_latitude=None)  # re-read: no position now
    alone = placed_page(few, "Few placed")
    assert alone[0] == [sha[7]]
    with locker.engine.begin() as conn:
        for n in range(50, 350):
            _metadata(conn, sha[n], gps_latitude=-33.9)
    assert placed_page(few, "Few placed") == alone
    assert placed_page(many, "Many placed")[0] == sha[50:150]
    assert verify(locker, quick=True).ok
