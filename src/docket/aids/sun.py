"""Where the sun stood at the item's place and time (astral's NOAA-based solar position).

For a person to hold against the picture: shadows' direction and length, daylight or night.
Astral computes the position with the NOAA solar calculator's equations (after Meeus,
"Astronomical Algorithms"); tests check it against those equations worked by hand.
"""

from __future__ import annotations

import math
from datetime import datetime

from astral import Observer
from astral.sun import azimuth, elevation

from docket.aids._time import Position
from docket.aids.signals import Signal

NAME = "sun-position"

EXPLANATION = (
    "The sun's direction (azimuth, degrees clockwise from true north) and height above the "
    "horizon at the item's stated place and time. Compare them with the light and shadows in "
    "the picture: a shadow points away from the sun, and is as long as its object divided by "
    "the tangent of the elevation. It rests on the stated time and place; if they are wrong, "
    "so is this."
)


def position_of_sun(where: Position, when_utc: datetime) -> tuple[float, float]:
    """(azimuth, elevation) in degrees, elevation corrected for refraction."""
    observer = Observer(latitude=where.latitude, longitude=where.longitude)
    return azimuth(observer, when_utc), elevation(observer, when_utc, with_refraction=True)


def _daylight(height: float) -> str:
    if height > 0:
        return "daylight"
    if height > -6:
        return "civil twilight"
    if height > -18:
        return "twilight"
    return "night"


def signal(where: Position | None, when_utc: datetime | None) -> Signal:
    if where is None or when_utc is None:
        return Signal(
            NAME, "not checked", "needs a GPS position and a time with a known offset", EXPLANATION
        )
    direction, height = position_of_sun(where, when_utc)
    details = {
        "azimuth": round(direction, 2),
        "elevation": round(height, 2),
        "utc": when_utc.isoformat(),
        "latitude": where.latitude,
        "longitude": where.longitude,
    }
    if height > 1:
        details["shadow_length_per_metre"] = round(1 / math.tan(math.radians(height)), 2)
    summary = f"sun at azimuth {direction:.1f}°, elevation {height:.1f}° ({_daylight(height)})"
    return Signal(NAME, "for review", summary, EXPLANATION, details)
