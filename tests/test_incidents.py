"""Incidents, their links to items and annotations, the violation vocabulary and the case
timeline: each change a custody event that verify holds the catalogue to."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import photo, take
from sqlalchemy import Connection, select, update

from docket import incidents, review, scope
from docket._samples import PhotoFacts
from docket.catalogue import schema
from docket.errors import DocketError
from docket.locker import Locker
from docket.timeline import case_timeline
from docket.verify import verify

MARKET = incidents.Incident(
    title="Shelling of the grain market",
    description="Three impacts seen from the north side.",
    occurred_from="2024-03-01T09:40",
    occurred_to="2024-03-01T10:15",
    place="Grain market, Eastbrook",
    latitude=48.51,
    longitude=35.07,
    violations=("attack on civilians",),
    actors=("Unit 7 (unconfirmed)",),
)


def case_id(conn: Connection, name: str) -> int:
    return int(
        conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == name)).scalar_one()
    )


@pytest.fixture
def market(locker: Locker, tmp_path: Path) -> tuple[int, str]:
    """An incident in case North with one photo of the case."""
    sha = take(locker, photo(tmp_path), case="North").outcomes[0].sha256
    assert sha is not None
    with locker.engine.connect() as conn, conn.begin():
        incident = incidents.record(conn, "ines", case_id(conn, "North"), MARKET)
    return incident, sha


def problems(locker: Locker) -> list[str]:
    return [str(p) for p in verify(locker, quick=True).problems]


def test_an_incident_is_recorded_revised_and_verified(
    locker: Locker, market: tuple[int, str]
) -> None:
    incident, _ = market
    with locker.engine.connect() as conn, conn.begin():
        revised = incidents.Incident(**{**MARKET.facts(), "violations": (), "actors": ()})
        incidents.revise(conn, "ines", incident, revised)
        found = incidents.get(conn, incident)
        actions = list(conn.execute(select(schema.events.c.action)).scalars())
    assert found["title"] == MARKET.title and found["violations"] == []
    assert actions.count("incident.recorded") == 1 and actions.count("incident.updated") == 1
    assert problems(locker) == []


def test_verify_names_an_incident_edited_behind_the_log(
    locker: Locker, market: tuple[int, str]
) -> None:
    incident, _ = market
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(
            update(schema.incidents)
            .where(schema.incidents.c.id == incident)
            .values(place="somewhere else")
        )
    assert any(p.startswith(f"incident {incident}: differs") for p in problems(locker))


def test_items_and_annotations_link_and_unlink(locker: Locker, market: tuple[int, str]) -> None:
    incident, sha = market
    with locker.engine.connect() as conn, conn.begin():
        view = scope.for_locker(conn, sha, None)
        note = review.annotate(
            conn, "ines", sha, review.Annotation("region", "impact crater", (10, 10, 40, 40)), view
        )
        whole = incidents.link(conn, "ines", incident, sha)
        incidents.link(conn, "ines", incident, sha, note)
        with pytest.raises(DocketError, match="already linked"):
            incidents.link(conn, "ines", incident, sha)
        assert view.case_id is not None
        linked = incidents.of_item(conn, sha, view.case_id)
        assert [link["annotation"] for link in linked] == [None, note]
        incidents.unlink(conn, "ines", incident, whole)
        assert [link["annotation"] for link in incidents.get(conn, incident)["links"]] == [note]
    assert problems(locker) == []
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(schema.incident_links.delete())
    assert any("incident link it recorded is missing" in p for p in problems(locker))


def test_only_items_of_the_incidents_case_link(
    locker: Locker, market: tuple[int, str], tmp_path: Path
) -> None:
    incident, sha = market
    other = take(locker, photo(tmp_path, "other.jpg", seed=5), case="South").outcomes[0].sha256
    assert other is not None
    with locker.engine.connect() as conn, conn.begin():
        with pytest.raises(DocketError, match="not in the incident's case"):
            incidents.link(conn, "ines", incident, other)
        view = scope.for_locker(conn, other, None)
        foreign_note = review.annotate(conn, "ines", other, review.Annotation("note", "x"), view)
        with pytest.raises(DocketError, match="is not an annotation of item"):
            incidents.link(conn, "ines", incident, sha, foreign_note)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": " "}, "needs a title"),
        ({"occurred_from": "yesterday"}, "give a date"),
        ({"occurred_from": "2024-03-02", "occurred_to": "2024-03-01"}, "end before it begins"),
        ({"latitude": 91.0}, "latitude is -90 to 90"),
        ({"longitude": None}, "both latitude and longitude"),
        ({"violations": ("jaywalking",)}, "not a violation type"),
        ({"actors": ("",)}, "actors"),
    ],
)
def test_bad_incidents_are_refused_with_a_reason(
    locker: Locker, change: dict[str, object], message: str
) -> None:
    bad = incidents.Incident(**{**MARKET.facts(), **change})
    with (
        locker.engine.connect() as conn,
        conn.begin(),
        pytest.raises(DocketError, match=message),
    ):
        incidents.validate(conn, bad)


def test_the_vocabulary_is_editable_and_logged(locker: Locker) -> None:
    with locker.engine.connect() as conn, conn.begin():
        incidents.change_vocabulary(conn, "ada", "  Hostage  Taking ", True)
        incidents.change_vocabulary(conn, "ada", "sexual violence", False)
        names = incidents.vocabulary(conn)
        with pytest.raises(DocketError, match="already"):
            incidents.change_vocabulary(conn, "ada", "hostage taking", True)
    assert "hostage taking" in names and "sexual violence" not in names
    assert problems(locker) == []
    with locker.engine.connect() as conn, conn.begin():
        conn.execute(update(schema.violation_types).values(active=True))
    assert any("violation type 'sexual violence'" in p for p in problems(locker))


def test_timeline_places_items_by_capture_time_and_incidents_by_date(
    locker: Locker, market: tuple[int, str], tmp_path: Path
) -> None:
    early = PhotoFacts("2024:02:28 08:00:00", "+00:00", 48.5, 35.0, 100.0)
    late = PhotoFacts("2024:03:01 10:00:00", "+00:00", 48.5, 35.0, 100.0)
    shots = [
        photo(tmp_path, "late.jpg", seed=7, facts=late),
        photo(tmp_path, "early.jpg", seed=8, facts=early),
        photo(tmp_path, "undated.jpg", seed=9, facts=None),
    ]
    take(locker, *shots, case="North")
    with locker.engine.connect() as conn, conn.begin():
        found = case_timeline(conn, case_id(conn, "North"))
    by_day = {day.day: day for day in found.days}
    assert list(by_day) == sorted(by_day)
    assert [i["name"].rsplit("/", 1)[-1] for i in by_day["2024-02-28"].items] == ["early.jpg"]
    march = by_day["2024-03-01"]
    assert [i["title"] for i in march.incidents] == [MARKET.title]
    assert "late.jpg" in {i["name"].rsplit("/", 1)[-1] for i in march.items}
    assert found.undated_items is not None and found.undated_items >= 1


def test_the_command_line_records_links_and_lists_incidents(cli: Any, tmp_path: Path) -> None:
    locker = tmp_path / "locker"
    assert cli("init", locker).code == 0
    assert cli("ingest", "--locker", locker, "--case", "North", photo(tmp_path / "in")).code == 0
    added = cli(
        "incident", "add", "--locker", locker, "North", MARKET.title,
        "--when", "2024-03-01T09:40", "--lat", "48.51", "--lon", "35.07",
        "--violation", "attack on civilians", "--actor", "Unit 7 (unconfirmed)",
    )  # fmt: skip
    assert added.code == 0 and "incident 1 recorded" in added.out
    sha = cli("ls", "--locker", locker, "--json").json()[0]["sha256"]
    assert cli("incident", "link", "--locker", locker, "1", sha[:12]).code == 0
    [listed] = cli("incident", "ls", "--locker", locker, "North", "--json").json()
    assert listed["violations"] == ["attack on civilians"] and listed["latitude"] == 48.51
    shown = cli("incident", "show", "--locker", locker, "1").json()
    assert [link["item"] for link in shown["links"]] == [sha]
    days = cli("incident", "timeline", "--locker", locker, "North", "--json").json()["days"]
    assert [d["day"] for d in days] == ["2024-03-01"] and days[0]["item_count"] == 1
    bad = cli("incident", "add", "--locker", locker, "North", "x", "--violation", "jaywalking")
    assert bad.code == 1 and bad.err.count("\n") == 1 and "not a violation type" in bad.err
    assert cli("verify", "--locker", locker, "--quick").code == 0


def test_verify_names_a_duplicated_link_row(locker: Locker, market: tuple[int, str]) -> None:
    incident, sha = market
    with locker.engine.connect() as conn, conn.begin():
        incidents.link(conn, "ines", incident, sha)
        row = conn.execute(select(schema.incident_links)).mappings().one()
        conn.execute(schema.incident_links.insert().values({**row, "id": row["id"] + 1}))
    assert any("a second row for the one link event" in p for p in problems(locker))


def test_a_retired_violation_type_stays_on_its_incident(
    locker: Locker, market: tuple[int, str]
) -> None:
    incident, _ = market
    with locker.engine.connect() as conn, conn.begin():
        incidents.change_vocabulary(conn, "ada", "attack on civilians", False)
        incidents.revise(conn, "ines", incident, replace(MARKET, place="Grain market, south"))
        with pytest.raises(DocketError, match="not a violation type"):
            incidents.record(conn, "ines", case_id(conn, "North"), MARKET)
    assert problems(locker) == []


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2024-03-01", "2024-03-01"),
        ("2024-03-01T09:40", "2024-03-01T09:40:00"),
        ("20240301T0940", "2024-03-01T09:40:00"),
        ("2024-03-01T09:40:00.123456+03:00", "2024-03-01T09:40:00+03:00"),
    ],
)
def test_incident_times_are_stored_in_one_form(locker: Locker, given: str, stored: str) -> None:
    with locker.engine.connect() as conn, conn.begin():
        checked = incidents.validate(conn, replace(MARKET, occurred_from=given, occurred_to=None))
    assert checked.occurred_from == stored


def test_offsets_count_when_ordering_a_time_range(locker: Locker) -> None:
    # 09:00 in Kyiv (+02:00) is 07:00 UTC, before 08:00 UTC.
    fine = replace(MARKET, occurred_from="2024-03-01T09:00+02:00", occurred_to="2024-03-01T08:00Z")
    with locker.engine.connect() as conn, conn.begin():
        incidents.validate(conn, fine)
        with pytest.raises(DocketError, match="give a date"):
            incidents.validate(
                conn, replace(MARKET, occurred_from="2024-03-01T09:40:00." + "1" * 60)
            )
