"""`docket shadow-places`: the band where a shadow fits at the item's claimed time, printed
and recorded as the item's analysis with its custody event."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conftest import FACTS, photo, take
from sqlalchemy import select

from docket.aids._time import Position
from docket.aids.results import aid_results
from docket.aids.sun import position_of_sun
from docket.catalogue import schema
from docket.catalogue.records import data_digest
from docket.locker import Locker

STATED = Position(FACTS.latitude, FACTS.longitude)
CLAIMED = datetime(2024, 3, 1, 9, 34, 56, tzinfo=UTC)  # FACTS' 12:34:56 at +03:00


def _item(locker: Locker, path: Path) -> str:
    found = take(locker, path).outcomes[0].sha256
    assert found is not None
    return found


def _scene() -> tuple[str, str]:
    sun_azimuth, sun_elevation = position_of_sun(STATED, CLAIMED)
    ratio = 1 / math.tan(math.radians(sun_elevation))
    return f"{ratio:.4f}", f"{(sun_azimuth + 180) % 360:.2f}"


def test_the_shadow_of_the_claimed_scene_fits_the_stated_place_and_is_recorded(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    item = _item(locker, photo(tmp_path))
    ratio, pointing = _scene()
    shown = cli(
        "shadow-places", "--locker", locker.path, item[:12], "--ratio", ratio,
        "--shadow-azimuth", pointing, "--json",
    )  # fmt: skip
    assert shown.code == 0, shown.err
    found = shown.json()
    assert found["utc"] == CLAIMED.isoformat()
    assert found["stated_fits"] is True
    assert found["stated"] == [STATED.latitude, STATED.longitude]
    [strip] = [s for s in found["strips"] if s["south"] <= STATED.latitude < s["north"]]
    assert any(w <= STATED.longitude <= e for w, e in strip["longitudes"])
    assert found["places"][0]["km"] < 100  # Damascus's own towns come first
    with locker.engine.connect() as conn:
        event = conn.execute(
            select(schema.events).where(schema.events.c.seq == found["event"])
        ).one()
        stored = conn.execute(
            select(schema.results).where(schema.results.c.event_seq == found["event"])
        ).one()
    assert event.action == "shadow-places.recorded" and event.item_sha256 == item
    details = json.loads(event.details)
    assert details["data_sha256"] == data_digest(stored.data)
    data = json.loads(stored.data)
    assert data["tools"]["astral"] and data["ratio"] == float(ratio)
    rows = {south: spans for south, spans in data["rows"]}
    row = math.floor(STATED.latitude * 2) / 2
    assert any(w <= STATED.longitude <= e for w, e in rows[row])
    # Listed with the item's aids (command line, item page, court report): no signal here.
    with locker.engine.connect() as conn:
        [listed] = [a for a in aid_results(conn, item) if a.step == "shadow-places"]
    assert listed.event_seq == found["event"] and listed.tools["astral"]
    found_signals = [(s.name, s.finding) for s in listed.signals]
    assert found_signals == [("shadow and stated place", "no signal")]


def test_a_shadow_that_does_not_fit_the_stated_place_is_a_signal_in_the_court_report(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    item = _item(locker, photo(tmp_path))
    with locker.engine.connect() as conn:  # not run: not listed
        assert "shadow-places" not in [a.step for a in aid_results(conn, item)]
    ratio, _ = _scene()
    later = cli(
        "shadow-places", "--locker", locker.path, item[:12], "--ratio", ratio,
        "--at", "2024-03-01T13:30:00+00:00",
    )  # fmt: skip
    assert later.code == 0, later.err
    shown = cli("aids", "--locker", locker.path, item[:12])
    assert shown.code == 0, shown.err
    assert "shadow and stated place" in shown.out and "is not where" in shown.out
    out = tmp_path / "court"
    assert cli("export", "--locker", locker.path, "--profile", "court", "-o", out, item).code == 0
    report = (out / "data" / "report.html").read_text()
    assert "shadow and stated place" in report and "is not where a shadow" in report


def test_the_text_names_the_bands_and_a_shadow_from_another_hour_does_not_fit(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    item = _item(locker, photo(tmp_path))
    ratio, _ = _scene()
    text = cli("shadow-places", "--locker", locker.path, item[:12], "--ratio", ratio)
    assert text.code == 0, text.err
    assert f"stated position {STATED.latitude:.4f}, {STATED.longitude:.4f} fits" in text.out
    assert "\n  30°N to 35°N: " in text.out
    assert "not a verdict" in text.out and "recorded as shadow-places (event" in text.out
    later = cli(
        "shadow-places", "--locker", locker.path, item[:12], "--ratio", ratio,
        "--at", "2024-03-01T13:30:00+00:00",
    )  # fmt: skip
    assert later.code == 0, later.err
    assert "does not fit" in later.out


def test_bad_input_is_one_line_and_records_nothing(
    locker: Locker, tmp_path: Path, cli: Any
) -> None:
    item = _item(locker, photo(tmp_path))
    untimed = _item(locker, photo(tmp_path, "untimed.jpg", seed=2, facts=None))
    with locker.engine.connect() as conn:
        before = len(conn.execute(select(schema.events.c.seq)).all())
    for args, reason in [
        ((item[:12], "--ratio", "0"), "shadow ratio 0"),
        ((item[:12], "--ratio", "5000"), "shadow ratio 5000"),
        ((item[:12], "--ratio", "1", "--at", "2024-03-01T22:00:00+00:00"), "below the horizon"),
        ((item[:12], "--ratio", "1", "--at", "yesterday"), "ISO 8601"),
        ((untimed[:12], "--ratio", "1"), "give --at"),
    ]:
        refused = cli("shadow-places", "--locker", locker.path, *args)
        assert refused.code == 1, args
        assert reason in refused.err and refused.err.count("\n") == 1, refused.err
        assert "Traceback" not in refused.err
    with locker.engine.connect() as conn:
        assert len(conn.execute(select(schema.events.c.seq)).all()) == before
