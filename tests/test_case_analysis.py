"""A case cannot tell from an item's trail that another case held the bytes first
(docket.case_analysis): the trail and analysis list of bytes a case receives second read the same
as those of bytes it received first, and the first case sees nothing of the second's arrival."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import take
from media import jpeg, sample
from sqlalchemy import select

from docket import case_analysis, scope
from docket.aids.results import aid_results
from docket.catalogue import queries, records, schema
from docket.custody.events import Event
from docket.ingest.run import IngestOptions, ingest
from docket.locker import Locker
from docket.verify import verify

LATE = "Zq7-late-case"


def _photos(folder: Path) -> tuple[Path, Path]:
    """Two photographs: one North will have first ("held"), one new to the locker ("fresh")."""
    held, fresh = folder / "held.jpg", folder / "fresh.jpg"
    held.write_bytes(jpeg(sample("astronaut")))
    fresh.write_bytes(jpeg(sample("rocket")))
    return held, fresh


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


def _repeat_missing(locker: Locker) -> int:
    with locker.engine.connect() as conn, conn.begin():
        return case_analysis.repeat_missing(conn)


def _analysis(locker: Locker, view: scope.Scope, item: str) -> list[tuple[str, str, str]]:
    with locker.engine.connect() as conn:
        shown = scope.event_seqs(conn, view, item)
        described = queries.describe_item(conn, item, view.cases, shown)
    return [(r["step"], r["version"], r["status"]) for r in described["analysis"]]


def test_bytes_a_case_receives_second_read_as_if_it_came_first(
    locker: Locker, tmp_path: Path
) -> None:
    held, fresh = _photos(tmp_path)
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
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    """A locker from before arrivals repeated the analysis: the late case shows none of it
    (it was recorded before the case had the bytes) until `docket analyse` repeats it, once."""
    held, _ = _photos(tmp_path)
    item = str(take(locker, held, case="North").outcomes[0].sha256)
    north = _view(locker, "North")
    north_before = _trail(locker, north, item)
    with monkeypatch.context() as old:
        old.setattr(records, "repeat_for_arrival", lambda *_args: [])  # as before repeats
        take(locker, held, case=LATE)
    late = _view(locker, LATE)
    assert _analysis(locker, late, item) == []
    assert [e.action for e in _trail(locker, late, item)] == ["item.acquired"]

    said = cli("analyse", "--locker", locker.path, "--pending").out
    assert "1 arrivals in a case given their own record of the analysis" in said
    assert _analysis(locker, late, item) == _analysis(locker, north, item)
    assert _shape(_trail(locker, late, item)) == _shape(north_before)
    assert _trail(locker, north, item) == north_before
    assert _repeat_missing(locker) == 0
    assert verify(locker).ok


def test_a_repeat_of_a_result_the_first_case_does_not_show_stays_unshown_there(
    locker: Locker, tmp_path: Path
) -> None:
    """North does not show a result recorded by someone it does not know; the same person
    who brought the bytes to North then brings them to the late case, whose repeat of that
    result names them: North must still not show it (it would tell of the late arrival)."""
    held, _ = _photos(tmp_path)
    item = str(take(locker, held, case="North").outcomes[0].sha256)
    with locker.engine.connect() as conn, conn.begin():  # a step run again, by someone else
        latest = records.latest_result(conn, item, "metadata-signals")
        assert latest is not None and latest["status"] == "ok"
        again = {"signals": [], "zq7": "run again"}
        version = str(latest["step_version"])
        records.record_result(conn, "zq7-unknown-runner", item, "metadata-signals", version, again)
    north = _view(locker, "North")
    north_before = _trail(locker, north, item)
    assert all(e.actor != "zq7-unknown-runner" for e in north_before)

    take(locker, held, case=LATE)
    late_trail = _trail(locker, _view(locker, LATE), item)
    repeated = [e for e in late_trail if e.action == "metadata-signals.recorded"]
    assert [e.actor for e in repeated] == ["tester"]
    assert _trail(locker, north, item) == north_before


def test_the_first_case_keeps_its_own_aids_and_the_late_case_gets_its_own(
    locker: Locker, tmp_path: Path
) -> None:
    held, _ = _photos(tmp_path)
    item = str(take(locker, held, case="North").outcomes[0].sha256)
    north = _view(locker, "North")
    with locker.engine.connect() as conn:
        before = [r.as_dict() for r in aid_results(conn, item, north)]
    ran = [r for r in before if r["status"] != "not run"]
    assert len(ran) >= 3 and all(r["event"] is not None for r in ran)
    ingest(locker, [os.fsencode(held)], IngestOptions(collector="zq7-late-collector", case=LATE))
    late = _view(locker, LATE)
    with locker.engine.connect() as conn:
        assert [r.as_dict() for r in aid_results(conn, item, north)] == before
        in_late = [r.as_dict() for r in aid_results(conn, item, late)]
        late_seqs = scope.event_seqs(conn, late, item)
    assert [(r["step"], r["status"]) for r in in_late] == [(r["step"], r["status"]) for r in before]
    first_hand = max(r["event"] for r in ran)
    late_ran = [r for r in in_late if r["status"] != "not run"]
    assert len(late_ran) == len(ran)
    assert all(r["event"] in late_seqs and r["event"] > first_hand for r in late_ran)


def test_a_step_that_failed_for_the_first_case_is_run_for_the_late_one_not_repeated(
    locker: Locker, tmp_path: Path
) -> None:
    held, fresh = _photos(tmp_path)
    item = str(take(locker, held, case="North", defer_analysis=True).outcomes[0].sha256)
    with locker.engine.connect() as conn, conn.begin():
        records.record_result(conn, "tester", item, "previews", "0", None, error="zq7 broke")
    take(locker, held, case=LATE)
    own = str(take(locker, fresh, case=LATE).outcomes[0].sha256)
    late = _view(locker, LATE)
    second = _trail(locker, late, item)
    assert "previews.failed" not in [e.action for e in second]
    assert _shape(second) == _shape(_trail(locker, late, own))
    assert _analysis(locker, late, item) == _analysis(locker, late, own)
    assert verify(locker).ok


def test_verify_names_a_result_marked_repeated_that_repeats_nothing(
    locker: Locker, tmp_path: Path
) -> None:
    held, _ = _photos(tmp_path)
    item = str(take(locker, held, case="North").outcomes[0].sha256)
    take(locker, held, case=LATE)
    assert verify(locker).ok
    with locker.engine.connect() as conn, conn.begin():
        results = schema.results.c
        first = (
            conn.execute(
                select(results.id).where(
                    results.item_sha256 == item, results.repeated_for.is_(None)
                )
            )
            .scalars()
            .first()
        )
        conn.execute(schema.results.update().where(results.id == first).values(repeated_for=1))
    report = verify(locker)
    assert not report.ok
    assert any("repeats no result run before it" in str(p) for p in report.problems)


def test_a_copy_made_before_copies_named_a_case_is_still_offered_to_a_later_case(
    locker: Locker, tmp_path: Path
) -> None:
    """An unnamed copy (a fact of the bytes, from before copies named their case) made before
    a case's first arrival stays offered there: an approval made with it must not be lost."""
    from docket.analyse.batch import run_step
    from docket.protect import approval
    from docket.protect.steps import StripStep

    held, _ = _photos(tmp_path)
    item = str(take(locker, held, case="North").outcomes[0].sha256)
    assert run_step(locker, item, "image/jpeg", StripStep(), "tester").error is None
    take(locker, held, case=LATE)
    with locker.engine.connect() as conn:
        offered = approval.copies(conn, item, _view(locker, LATE))
    assert [c.kind for c in offered] == ["stripped"]


def test_verify_names_a_repeat_moved_to_another_case(locker: Locker, tmp_path: Path) -> None:
    """Marked for North, the late case's repeats would show North the late collector."""
    held, _ = _photos(tmp_path)
    item = str(take(locker, held, case="North").outcomes[0].sha256)
    ingest(locker, [os.fsencode(held)], IngestOptions(collector="zq7-late-collector", case=LATE))
    assert verify(locker).ok
    north = _view(locker, "North")
    with locker.engine.connect() as conn, conn.begin():
        results = schema.results.c
        conn.execute(
            schema.results.update()
            .where(results.item_sha256 == item, results.repeated_for.is_not(None))
            .values(repeated_for=north.case_id)
        )
    report = verify(locker)
    assert any("follows no arrival of that case's by its actor" in str(p) for p in report.problems)


def test_a_step_whose_latest_run_failed_is_not_repeated_and_the_first_case_keeps_it(
    locker: Locker, tmp_path: Path
) -> None:
    """North's metadata read again at the same version and failed: a repeat of the older
    success would become the item's latest metadata and flip North's page to it."""
    held, _ = _photos(tmp_path)
    item = str(take(locker, held, case="North").outcomes[0].sha256)
    with locker.engine.connect() as conn, conn.begin():
        ok = records.latest_result(conn, item, "metadata")
        assert ok is not None
        version = str(ok["step_version"])
        records.record_result(conn, "tester", item, "metadata", version, None, error="zq7 stalled")
    north = _view(locker, "North")
    with locker.engine.connect() as conn:
        before = queries.describe_item(conn, item, north.cases)["metadata"]
    take(locker, held, case=LATE)
    with locker.engine.connect() as conn:
        assert queries.describe_item(conn, item, north.cases)["metadata"] == before
        latest = records.latest_result(conn, item, "metadata")
    assert latest is not None and latest["status"] == "failed"
    assert verify(locker).ok


def test_an_aid_run_before_a_case_had_the_bytes_is_not_shown_to_it(
    locker: Locker, tmp_path: Path
) -> None:
    from docket.aids.steps import verification_steps
    from docket.analyse.batch import run_step

    held, fresh = _photos(tmp_path)
    item = str(take(locker, held, case="North").outcomes[0].sha256)
    forensics = next(s for s in verification_steps() if s.name == "picture-forensics")
    assert run_step(locker, item, "image/jpeg", forensics, "holder").error is None
    take(locker, held, case=LATE)
    own = str(take(locker, fresh, case=LATE).outcomes[0].sha256)
    late, north = _view(locker, LATE), _view(locker, "North")
    with locker.engine.connect() as conn:

        def status(sha: str, view: scope.Scope) -> str:
            found = [r for r in aid_results(conn, sha, view) if r.step == "picture-forensics"]
            return found[0].status

        assert status(item, late) == status(own, late) == "not run"
        assert status(item, north) == "ok"


def test_a_step_that_always_fails_is_listed_failed_for_the_late_case_too(
    locker: Locker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a failure already recorded for the key was not recorded again, so the
    late case's held bytes listed no such step where its new bytes listed it failed."""
    from docket.aids import steps as aid_steps
    from docket.analyse.sandbox import AnalysisError

    def fails(*_args: object) -> None:
        raise AnalysisError("zq7 always fails")

    monkeypatch.setattr(aid_steps.MetadataSignalsStep, "run", fails)
    held, fresh = _photos(tmp_path)
    item = str(take(locker, held, case="North").outcomes[0].sha256)
    late_person = IngestOptions(collector="zq7-late-collector", case=LATE)
    ingest(locker, [os.fsencode(held)], late_person)
    own = str(ingest(locker, [os.fsencode(fresh)], late_person).outcomes[0].sha256)
    late = _view(locker, LATE)
    failed = ("metadata-signals", "failed")
    assert failed in [(step, status) for step, _, status in _analysis(locker, late, own)]
    # (in another order: the steps repeated come first, the step run for the arrival after)
    assert sorted(_analysis(locker, late, item)) == sorted(_analysis(locker, late, own))
