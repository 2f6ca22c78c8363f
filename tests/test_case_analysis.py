"""A case cannot tell from an item's trail that another case held the bytes first
(docket.case_analysis): the trail and analysis list of bytes a case receives second read the same
as those of bytes it received first, and the first case sees nothing of the second's arrival."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import take
from media import jpeg, sample
from sqlalchemy import select

from docket import scope
from docket.analyse.batch import analyse
from docket.catalogue import queries, records, schema
from docket.custody.events import Event
from docket.locker import Locker
from docket.verify import verify

LATE = "Zq7-late-case"


def _view(locker: Locker, case: str) -> scope.Scope:
    with locker.engine.connect() as conn:
        found = conn.execute(select(schema.cases.c.id).where(schema.cases.c.name == case)).one()
    return scope.Scope(int(found[0]), case)


def _trail(locker: Locker, view: scope.Scope, item: str) -> list[Event]:
    with locker.engine.connect() as conn:
        return scope.events_of(conn, view, item)


def _shape(trail: list[Event]) -> list[tuple[str, str, str]]:
    """What a careful member could compare: each event's action, whether its actor is the
    person whose arrival began the trail, and its details apart from the arrival's own."""
    first = trail[0].actor
    return [
        (
            e.action,
            "arriving person" if e.actor == first else e.actor,
            "" if e.action == "item.acquired" else str(sorted(e.details)),
        )
        for e in trail
    ]


def _analysis(locker: Locker, view: scope.Scope, item: str) -> list[tuple[str, str, str]]:
    with locker.engine.connect() as conn:
        shown = scope.event_seqs(conn, view, item)
        described = queries.describe_item(conn, item, view.cases, shown)
    return [(r["step"], r["version"], r["status"]) for r in described["analysis"]]


def test_bytes_a_case_receives_second_read_as_if_it_came_first(
    locker: Locker, tmp_path: Path
) -> None:
    held = tmp_path / "held.jpg"
    held.write_bytes(jpeg(sample("astronaut")))
    fresh = tmp_path / "fresh.jpg"
    fresh.write_bytes(jpeg(sample("rocket")))
    north_arrival = take(locker, held, case="North").outcomes[0]
    item = str(north_arrival.sha256)
    north = _view(locker, "North")
    north_before = _trail(locker, north, item)
    assert north_before[0].action == "item.acquired"
    assert len(north_before) > 1, "the analysis is on North's trail"

    take(locker, held, case=LATE)
    own = str(take(locker, fresh, case=LATE).outcomes[0].sha256)
    late = _view(locker, LATE)
    second, first_hand = _trail(locker, late, item), _trail(locker, late, own)
    assert _shape(second) == _shape(first_hand)
    assert min(e.seq for e in second) > max(e.seq for e in north_before)
    assert _analysis(locker, late, item) == _analysis(locker, late, own)
    assert _trail(locker, north, item) == north_before, "North sees nothing of the late arrival"
    assert verify(locker).ok


def test_docket_analyse_gives_arrivals_from_before_their_own_analysis(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A locker from before arrivals repeated the analysis: the late case shows none of it
    (it was recorded before the case had the bytes) until `docket analyse` repeats it, once."""
    held = tmp_path / "held.jpg"
    held.write_bytes(jpeg(sample("astronaut")))
    item = str(take(locker, held, case="North").outcomes[0].sha256)
    north = _view(locker, "North")
    north_before = _trail(locker, north, item)
    with monkeypatch.context() as old:
        old.setattr(records, "repeat_for_arrival", lambda *_args: [])
        take(locker, held, case=LATE)
    late = _view(locker, LATE)
    assert _analysis(locker, late, item) == []
    assert [e.action for e in _trail(locker, late, item)] == ["item.acquired"]

    assert analyse(locker, None, "holder").repeated == 1
    assert _analysis(locker, late, item) == _analysis(locker, north, item)
    assert _shape(_trail(locker, late, item)) == _shape(north_before)
    assert _trail(locker, north, item) == north_before
    assert analyse(locker, None, "holder").repeated == 0
    assert verify(locker).ok
