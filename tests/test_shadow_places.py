"""Places where a shadow fits at a moment (docket.aids.shadow_places): a scene made from the
sun at a chosen place and time is fed back, and the band must hold that place and leave out
places where the sun stood elsewhere; astral, one place at a time, is the reference."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from astral import Observer
from astral.sun import azimuth, elevation

from docket.aids import shadow, shadow_places
from docket.aids._time import Position
from docket.aids.shadow import ShadowError
from docket.aids.sun import position_of_sun

PLACE = Position(33.5043, 36.2842)
MOMENT = datetime(2024, 3, 1, 9, 15, tzinfo=UTC)  # late morning there
FAR = Position(19.4326, -99.1332)  # 12,000 km away, night there


def scene(where: Position, when: datetime) -> tuple[float, float]:
    """The shadow ratio and shadow direction an upright object there and then would show."""
    sun_azimuth, sun_elevation = position_of_sun(where, when)
    return 1 / math.tan(math.radians(sun_elevation)), (sun_azimuth + 180) % 360


def cell_of(where: Position) -> tuple[int, int]:
    step = shadow_places.GRID_STEP
    return int((where.latitude + 90) // step), int((where.longitude + 180) // step)


def test_the_grid_agrees_with_astral_place_by_place() -> None:
    chance = random.Random(14)
    for _ in range(300):
        lat, lon = chance.uniform(-89, 89), chance.uniform(-180, 180)
        when = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=chance.randrange(10**8))
        found_azimuth, found_elevation = shadow_places.sun_over(
            np.array([lat]), np.array([lon]), when
        )
        observer = Observer(lat, lon)
        assert found_elevation[0] == pytest.approx(elevation(observer, when), abs=0.01)
        if elevation(observer, when) > -5:  # astral's azimuth is coarse near the poles' night
            turn = (found_azimuth[0] - azimuth(observer, when) + 180) % 360 - 180
            assert abs(turn) < 0.1


def test_the_band_holds_the_true_place_and_not_a_far_one() -> None:
    ratio, _ = scene(PLACE, MOMENT)
    far_elevation = position_of_sun(FAR, MOMENT)[1]
    assert abs(far_elevation - shadow_places.implied_elevation(ratio)) > 10  # truly elsewhere
    found = shadow_places.fit(ratio, MOMENT, stated=PLACE)
    assert found.cells[cell_of(PLACE)]
    assert not found.cells[cell_of(FAR)]
    assert found.stated_fits is True
    band = [s for s in found.strips if s.south <= PLACE.latitude < s.north]
    assert band and any(w <= PLACE.longitude <= e for w, e in band[0].spans)
    assert not any(
        s.south <= FAR.latitude < s.north and any(w <= FAR.longitude <= e for w, e in s.spans)
        for s in found.strips
    )
    assert found.places and all(
        abs(p.elevation - found.elevation) <= found.tolerance for p in found.places
    )
    distances = [p.km or 0.0 for p in found.places]
    assert all(p.km is not None for p in found.places)
    assert distances == sorted(distances)  # the nearest to the stated place first
    assert found.as_dict()["stated_fits"] is True
    assert "not a verdict" in str(found.as_dict()["uncertainty"])


def test_the_band_holds_the_true_place_for_scenes_all_over_the_world() -> None:
    chance = random.Random(6962)
    tried = 0
    while tried < 40:
        where = Position(chance.uniform(-70, 70), chance.uniform(-180, 180))
        when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=chance.randrange(525_600))
        if position_of_sun(where, when)[1] < 3:
            continue  # night there, or a shadow too long to measure
        tried += 1
        ratio, shadow_azimuth = scene(where, when)
        found = shadow_places.fit(ratio, when, shadow_azimuth, stated=where)
        assert found.cells[cell_of(where)], (where, when)
        assert found.stated_fits is True


def test_the_shadow_direction_narrows_the_band_to_the_right_side() -> None:
    ratio, shadow_azimuth = scene(PLACE, MOMENT)
    ring = shadow_places.fit(ratio, MOMENT)
    narrowed = shadow_places.fit(ratio, MOMENT, shadow_azimuth)
    assert narrowed.cells[cell_of(PLACE)]
    assert 0 < narrowed.cells.sum() < ring.cells.sum() / 4
    assert not (narrowed.cells & ~ring.cells).any()
    sun_azimuth = (shadow_azimuth + 180) % 360
    other_side = [p for p in ring.places if abs((p.azimuth - sun_azimuth + 180) % 360 - 180) > 45]
    assert other_side  # towns on the ring where the sun stood as high, elsewhere in the sky
    kept = {(p.name, p.country) for p in narrowed.places}
    assert not kept & {(p.name, p.country) for p in other_side}


@pytest.mark.parametrize("ratio", [0.0, -1.0, math.nan, math.inf, 1000.0])
def test_a_ratio_no_sun_shadow_can_have_is_refused_in_one_line(ratio: float) -> None:
    with pytest.raises(ShadowError) as refused:
        shadow_places.fit(ratio, MOMENT)
    assert "shadow ratio" in str(refused.value) and "\n" not in str(refused.value)


def test_a_sun_below_the_horizon_at_the_stated_place_is_refused_in_one_line() -> None:
    night = datetime(2024, 3, 1, 22, 0, tzinfo=UTC)  # 1 a.m. there
    with pytest.raises(ShadowError, match="below the horizon at the stated place") as refused:
        shadow_places.fit(1.0, night, stated=PLACE)
    assert "\n" not in str(refused.value)


def test_a_time_without_offset_or_a_tolerance_off_the_grid_is_refused() -> None:
    with pytest.raises(ShadowError, match="UTC offset"):
        shadow_places.fit(1.0, datetime(2024, 3, 1, 9, 15))
    for far_off in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1850-06-01T12:00Z"):
        with pytest.raises(ShadowError, match="NOAA's solar equations hold from 1901 to 2099"):
            shadow_places.fit(1.0, datetime.fromisoformat(far_off))
    with pytest.raises(ShadowError, match="NOAA's solar equations hold from 1901 to 2099"):
        shadow.times_at(PLACE, date(1, 1, 1), 40)  # not "the sun never stands that high"
    with pytest.raises(ShadowError, match="tolerance"):
        shadow_places.fit(1.0, MOMENT, tolerance=0.1)
    with pytest.raises(ShadowError, match="shadow azimuth"):
        shadow_places.fit(1.0, MOMENT, shadow_azimuth=400)


def test_the_ratio_range_is_what_the_tolerance_allows() -> None:
    found = shadow_places.fit(1.0, MOMENT, tolerance=2.0)
    short, long = found.ratio_range
    assert found.elevation == pytest.approx(45)
    assert short == pytest.approx(1 / math.tan(math.radians(47)))
    assert long == pytest.approx(1 / math.tan(math.radians(43)))
