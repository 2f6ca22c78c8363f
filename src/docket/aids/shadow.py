"""The shadow tool: from an upright object and its shadow marked on a picture, the sun's
implied elevation and direction, and the times of a day when the sun stood that high there.

Marks are picture pixels (x right, y down): the object's base, its top, its shadow's tip.
The elevation is atan(object height / shadow length), both measured in the picture, so it
holds only when they are seen at the same scale: a picture taken from overhead (a satellite
or drone picture), or an object and shadow both square to the camera on flat ground. For a
photo taken at an angle it is a rough estimate: say so beside it. The direction needs the
compass bearing of the picture's up (0 for a north-up overhead picture); without it only the
times are given. The times come from astral's NOAA-based solar equations (sun.py), at the
place and on the day given, normally the item's stated ones: the sun stands at one elevation
twice a day (morning and afternoon), or never, which is itself a finding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from astral import Observer, SunDirection
from astral.sun import azimuth, time_at_elevation

from docket.aids._time import Position, zone_at
from docket.errors import DocketError

Point = tuple[float, float]
YEARS = (1901, 2099)  # NOAA's stated range for its solar calculator's equations


class ShadowError(DocketError):
    """The marks cannot give an elevation (an object or a shadow of no length)."""


@dataclass(frozen=True)
class Implied:
    elevation: float  # degrees above the horizon
    shadow_angle: float  # the shadow's direction in the picture, degrees clockwise from up
    azimuth: float | None  # the sun's, degrees clockwise from true north, when up is known


@dataclass(frozen=True)
class SunTime:
    when: datetime  # in the place's time zone (UTC at sea)
    azimuth: float
    part: str  # morning | afternoon


def implied(base: Point, top: Point, tip: Point, up_bearing: float | None = None) -> Implied:
    height = math.dist(base, top)
    length = math.dist(base, tip)
    if height < 1 or length < 1:
        raise ShadowError("mark an object and a shadow at least a pixel long")
    angle = math.degrees(math.atan2(tip[0] - base[0], base[1] - tip[1])) % 360
    sun = None if up_bearing is None else (up_bearing + angle + 180) % 360
    return Implied(math.degrees(math.atan2(height, length)), angle, sun)


def times_at(where: Position, day: date, elevation: float) -> list[SunTime]:
    """When the sun stands at `elevation` at `where` on `day` (local), morning then afternoon;
    none when it never does."""
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise ShadowError(f"{day}: NOAA's solar equations hold from {YEARS[0]} to {YEARS[1]}")
    observer = Observer(latitude=where.latitude, longitude=where.longitude)
    zone = zone_at(where) or ZoneInfo("UTC")
    found = []
    for direction, part in ((SunDirection.RISING, "morning"), (SunDirection.SETTING, "afternoon")):
        try:
            when = time_at_elevation(observer, elevation, day, direction, tzinfo=zone)
        except ValueError:  # the sun never reaches that height there on that day
            continue
        found.append(SunTime(when, azimuth(observer, when), part))
    return found


def nearest(times: list[SunTime], sun_azimuth: float | None) -> SunTime | None:
    """Of the times, the one whose sun direction is nearest the implied one."""
    if sun_azimuth is None or not times:
        return None
    return min(times, key=lambda t: abs((t.azimuth - sun_azimuth + 180) % 360 - 180))
