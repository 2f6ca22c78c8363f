"""Each case membership carries its item's capture time (case_items.capture_time, migration
0018): that of the item's latest successful metadata result, in every case that holds it, as
arrivals and results are recorded and as the migration fills it from older catalogues. The
timeline reads it (tests/test_timeline_pages.py); `verify` compares it with the results
(tests/test_tamper.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import photo, take
from sqlalchemy import Connection, select, update
from test_migrate import downgrade

from docket.catalogue import migrate, records, schema
from docket.catalogue.records import record_result
from docket.locker import Locker
from docket.verify import verify

PHOTO_TIME = "2024-03-01T12:34:56+03:00"  # conftest.FACTS, normalised


def _listed(conn: Connection) -> dict[tuple[str, str], str | None]:
    """(case, item) of every membership, with its capture time."""
    members, cases = schema.case_items.c, schema.cases.c
    rows = conn.execute(
        select(cases.name, members.item_sha256, members.capture_time).join(
            schema.cases, cases.id == members.case_id
        )
    )
    return {(case, item): captured for case, item, captured in rows}


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
    steps: list[tuple[dict[str, Any], str | None]] = [
        ({"error": "zq6 exiftool timed out", "capture_time": "1999-01-01"}, PHOTO_TIME),
        ({"capture_time": "2023-05-06T07:08:09"}, "2023-05-06T07:08:09"),  # re-read: it moves
        ({"capture_time": 20230506}, None),  # not text: no capture time
        ({"capture_time": "2023-05-06T07:08:09." + "9" * 60}, None),  # longer than an index holds
        ({"capture_time": "2023-05-06\u00e9"}, "2023-05-06\u00e9"),  # text, as the filter has it
        ({}, None),  # a re-read that gives none
    ]
    for facts, expected in steps:
        with locker.engine.begin() as conn:
            _metadata(conn, sha, **facts)
        with locker.engine.connect() as conn:
            assert _listed(conn) == {("North", sha): expected, ("South", sha): expected}, facts
            assert records.latest_capture_time(conn, sha) == expected
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
        {"capture_time": 20230506},
        {"capture_time": "2023-05-06T07:08:09." + "9" * 60},
        {},
        {"capture_time": "2023-05-06\u00e9"},
        {"error": "zq6 exiftool timed out", "capture_time": "1999-01-01"},
    ]
    with locker.engine.begin() as conn:
        for sha, facts in zip(shas[1:], later, strict=True):
            _metadata(conn, sha, **facts)
    with locker.engine.connect() as conn:
        kept = _listed(conn)
    times = [PHOTO_TIME, "2023-05-06T07:08:09", None, None, None, "2023-05-06\u00e9", PHOTO_TIME]
    assert kept == {("North", sha): time for sha, time in zip(shas, times, strict=True)}
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
            assert _listed(conn) == kept
        assert verify(reopened, quick=True).ok
        with reopened.engine.begin() as conn:  # and the rows forged as verify would find them
            conn.execute(update(schema.case_items).values(capture_time=None))
        assert not verify(reopened, quick=True).ok


def test_an_exif_time_with_a_long_fraction_is_no_capture_time() -> None:
    """Fractions of a second to the nanosecond, no finer: a capture time fits its index."""
    from docket.analyse.metadata import parse_exif_time

    assert parse_exif_time("2024:03:01 12:34:56.123456789") == (
        "2024-03-01T12:34:56.123456789",
        False,
    )
    assert parse_exif_time("2024:03:01 12:34:56." + "1" * 10) is None
    assert parse_exif_time("\u0662\u0660\u0662\u0664:03:01 12:34:56") is None  # not ASCII digits
